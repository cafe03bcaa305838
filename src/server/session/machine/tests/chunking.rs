//! Dialogue scripts for BDAT (RFC 3030): chunks acknowledged, the message committed after
//! LAST, refused BDATs whose data is still read and dropped, no mixing with DATA.

use super::*;

/// From the greeting to a transaction ready for its message.
fn up_to_rcpt() -> [Step; 3] {
    [
        cmd("EHLO c.test", "250"),
        cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
        cmd("RCPT TO:<x@y.test>", "250 2.1.5"),
    ]
}

/// A chunk read: the last one or not, over the size limit, with bare newlines.
fn chunk(last: bool, too_big: bool, bare_newline: bool) -> Input {
    Input::Chunk {
        last,
        too_big,
        bare_newline,
    }
}

/// A chunk read, well formed.
fn fine(last: bool) -> Input {
    chunk(last, false, false)
}

#[test]
fn chunks_are_acknowledged_and_the_message_committed_after_last() {
    let mut s = session("", LOCAL);
    play(&mut s, &up_to_rcpt());
    play(
        &mut s,
        &[
            cmd("BDAT 10", "read chunk 10"),
            ev(fine(false), "250 2.0.0 Ok: 10 octets received"),
            cmd("NOOP", "250 2.0.0"),
            cmd("bdat 5", "read chunk 5"),
            ev(fine(false), "250 2.0.0 Ok: 15 octets received"),
            cmd("BDAT 7 LAST", "read chunk 7 last"),
        ],
    );
    let sub = committed(play(&mut s, &[ev(fine(true), "commit")]));
    assert_eq!(sub.sender.to_string(), "<a@c.test>");
    assert_eq!(sub.protocol, "ESMTP");
    play(
        &mut s,
        &[
            // 250 only once the intake has stored the message.
            ev(
                Input::Stored,
                "250 2.0.0 Ok: queued as 0123456789ABCDEF | end data",
            ),
            ev(Input::DataOver { stopping: false }, ""),
            // The transaction is over; after LAST a BDAT is out of place (its data dropped).
            cmd("BDAT 3 LAST", "503 5.5.1 | skip 3"),
            // DATA and BDAT may be used in one session, one per transaction.
            cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
            cmd("RCPT TO:<x@y.test>", "250 2.1.5"),
            cmd("DATA", "354 | read data"),
        ],
    );
}

#[test]
fn bdat_0_last_ends_the_message_and_may_be_the_only_chunk() {
    let mut s = session("", LOCAL);
    play(&mut s, &up_to_rcpt());
    play(
        &mut s,
        &[
            cmd("BDAT 0 LAST", "read chunk 0 last"),
            ev(fine(true), "commit"),
            ev(Input::StoreFailed, "452 4.3.1 | end data"),
            ev(
                Input::DataOver { stopping: true },
                "421 4.3.2 Service shutting down | close",
            ),
        ],
    );
    let mut s = session("", LOCAL);
    play(&mut s, &up_to_rcpt());
    play(
        &mut s,
        &[
            cmd("BDAT 100", "read chunk 100"),
            ev(fine(false), "250 2.0.0 Ok: 100 octets received"),
            cmd("BDAT 0 LAST", "read chunk 0 last"),
            ev(fine(true), "commit"),
        ],
    );
}

#[test]
fn a_refused_bdat_still_has_its_data_read_and_fails_the_transaction() {
    // (ini, script after EHLO): each refusal skips the chunk's octets.
    let table: &[(&str, &[Step])] = &[
        ("", &[cmd("BDAT 10", "503 5.5.1 | skip 10")]),
        (
            "",
            &[
                cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
                cmd("BDAT 4 LAST", "554 5.5.1 No valid recipients | skip 4"),
                // The transaction failed: RCPT needs a new MAIL.
                cmd("RCPT TO:<x@y.test>", "503 5.5.1"),
            ],
        ),
        (
            // Syntax errors: no size to skip, the next bytes are read as commands.
            "",
            &[
                cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
                cmd("RCPT TO:<x@y.test>", "250 2.1.5"),
                cmd("BDAT ten", "501 5.5.4"),
                cmd("BDAT 10 NOW", "501 5.5.4"),
                cmd("BDAT 1 LAST", "read chunk 1 last"),
            ],
        ),
        (
            "[server]\nmax_message_size = 1K\n",
            &[
                cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
                cmd("RCPT TO:<x@y.test>", "250 2.1.5"),
                cmd("BDAT 1025 LAST", "552 5.3.4 | skip 1025"),
                cmd("BDAT 1 LAST", "503 5.5.1 | skip 1"),
            ],
        ),
        (
            "[server]\nmax_message_size = 1K\n",
            &[
                cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
                cmd("RCPT TO:<x@y.test>", "250 2.1.5"),
                cmd("BDAT 1000", "read chunk 1000"),
                ev(fine(false), "250 2.0.0 Ok: 1000 octets received"),
                // Pipelined chunks after the one that passes the limit: all dropped.
                cmd("BDAT 25", "552 5.3.4 | skip 25 | end data"),
                ev(Input::DataOver { stopping: false }, ""),
                cmd("BDAT 0 LAST", "503 5.5.1 | skip 0"),
                cmd("RSET", "250 2.0.0"),
                cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
            ],
        ),
        (
            // Stored content can pass the limit where the announced octets did not (bare
            // LFs stored as CRLF).
            "",
            &[
                cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
                cmd("RCPT TO:<x@y.test>", "250 2.1.5"),
                cmd("BDAT 10", "read chunk 10"),
                ev(chunk(false, true, true), "552 5.3.4 | end data"),
                ev(Input::DataOver { stopping: false }, ""),
                cmd("BDAT 10 LAST", "503 5.5.1 | skip 10"),
            ],
        ),
    ];
    for (i, (ini, script)) in table.iter().enumerate() {
        let mut s = session(ini, LOCAL);
        play(&mut s, &[cmd("EHLO c.test", "250")]);
        for (j, (input, expect)) in script.iter().enumerate() {
            let got = render(&s.handle(input.event()));
            assert!(
                matches(&got, expect),
                "row {i} step {j} {input:?}: expected {expect:?}, got {got:?}"
            );
        }
    }
}

#[test]
fn bare_newlines_in_chunks_follow_the_bare_newline_setting() {
    const REJECT: &str = "[server]\nbare_newline = reject\n";
    // (ini, chunk, answer)
    let table: &[(&str, Input, &str)] = &[
        ("", chunk(false, false, true), "250 2.0.0 Ok: 10 octets"),
        ("", chunk(true, false, true), "commit"),
        (REJECT, chunk(false, false, true), "554 5.6.0 | end data"),
        (REJECT, chunk(true, false, true), "554 5.6.0 | end data"),
        (REJECT, chunk(true, false, false), "commit"),
        ("", chunk(true, true, false), "552 5.3.4 | end data"),
    ];
    for (ini, input, answer) in table {
        let mut s = session(ini, LOCAL);
        play(&mut s, &up_to_rcpt());
        let last = matches!(input, Input::Chunk { last: true, .. });
        let bdat = if last { "BDAT 10 LAST" } else { "BDAT 10" };
        let read = if last {
            "read chunk 10 last"
        } else {
            "read chunk 10"
        };
        play(&mut s, &[cmd(bdat, read), ev(input.clone(), answer)]);
    }
}

#[test]
fn data_is_refused_after_bdat_and_other_commands_keep_their_place() {
    let mut s = Session::new(config(""), LOCAL.parse().unwrap(), false, true);
    play(&mut s, &up_to_rcpt());
    play(
        &mut s,
        &[
            cmd("BDAT 10", "read chunk 10"),
            ev(fine(false), "250 2.0.0"),
            cmd(
                "DATA",
                "503 5.5.1 Bad sequence of commands: DATA after BDAT",
            ),
            cmd(
                "MAIL FROM:<b@c.test>",
                "503 5.5.1 Bad sequence of commands: nested",
            ),
            cmd(
                "RCPT TO:<z@y.test>",
                "503 5.5.1 Bad sequence of commands: RCPT",
            ),
            cmd("STARTTLS", "503 5.5.1 Bad sequence of commands: STARTTLS"),
            cmd("AUTH PLAIN", "503 5.5.1"),
            cmd("HELP", "214"),
            // RSET drops the chunks received.
            cmd("RSET", "250 2.0.0 Ok | end data"),
            ev(Input::DataOver { stopping: false }, ""),
            cmd("BDAT 10", "503 5.5.1 | skip 10"),
        ],
    );
    // So do EHLO and HELO; QUIT just ends the session.
    for (line, answer) in [
        ("EHLO c.test", "250 | end data"),
        ("HELO c.test", "250 | end data"),
        ("QUIT", "221 2.0.0 | close"),
    ] {
        let mut s = session("", LOCAL);
        play(&mut s, &up_to_rcpt());
        play(
            &mut s,
            &[
                cmd("BDAT 1", "read chunk 1"),
                ev(fine(false), "250"),
                cmd(line, answer),
            ],
        );
    }
}

#[test]
fn refused_bdats_count_as_errors_and_their_data_is_not_read_once_closing() {
    let mut s = session("[server]\nmax_errors = 2\n", LOCAL);
    play(
        &mut s,
        &[
            cmd("EHLO c.test", "250"),
            cmd("BDAT 10", "503 5.5.1 | skip 10"),
            cmd("BDAT 10", "503 5.5.1 | 421 4.7.0 Too many errors | close"),
        ],
    );
}

#[test]
fn the_input_ending_inside_a_chunked_message_ends_the_session() {
    let mut s = session("", LOCAL);
    play(&mut s, &up_to_rcpt());
    play(
        &mut s,
        &[
            cmd("BDAT 10", "read chunk 10"),
            ev(Input::TimedOut, "421 4.4.2 | close"),
        ],
    );
}
