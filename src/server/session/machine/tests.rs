//! Dialogue scripts for the session machine, no sockets: each step is an event (mostly a
//! command line) and the actions expected, replies written as the start of their one-line form.

use super::*;
use std::path::Path;

mod chunking;

const REMOTE: &str = "192.0.2.7:1025";
const LOCAL: &str = "127.0.0.1:1025";
const QUEUE_ID: &str = "0123456789ABCDEF";

fn config(ini: &str) -> Arc<Config> {
    let (config, _) = crate::config::load::parse(ini, Path::new("/q/qksmtp.ini"), "host.test")
        .unwrap_or_else(|e| panic!("{e:?}"));
    Arc::new(config)
}

/// A session from `peer` (plain text), without a certificate.
fn session(ini: &str, peer: &str) -> Session {
    Session::new(config(ini), peer.parse().unwrap(), false, false)
}

/// An event as a script holds it (owned, so that scripts can be tables).
#[derive(Debug, Clone)]
enum Input {
    Line(&'static str),
    TooLong,
    Pipelined(usize),
    TlsStarted,
    TlsFailed,
    Body {
        too_big: bool,
        bare_newline: bool,
    },
    /// A BDAT chunk read; the message so far.
    Chunk {
        last: bool,
        too_big: bool,
        bare_newline: bool,
    },
    Stored,
    StoreFailed,
    Looped,
    DataOver {
        stopping: bool,
    },
    Closed {
        stopping: bool,
    },
    TimedOut,
}

impl Input {
    fn event(&self) -> Event<'static> {
        match self {
            Input::Line(text) => Event::Line(text.as_bytes()),
            Input::TooLong => Event::LineTooLong,
            Input::Pipelined(n) => Event::Pipelined(*n),
            Input::TlsStarted => Event::TlsStarted(Some(USED)),
            Input::TlsFailed => Event::TlsFailed("handshake failed".into()),
            Input::Body {
                too_big,
                bare_newline,
            } => Event::Body(DataResult {
                too_big: *too_big,
                bare_newline: *bare_newline,
                size: 100,
            }),
            &Input::Chunk {
                last,
                too_big,
                bare_newline,
            } => Event::Chunk {
                last,
                result: DataResult {
                    too_big,
                    bare_newline,
                    size: 100,
                },
            },
            Input::Stored => Event::Committed(Ok(MessageId::parse(QUEUE_ID).unwrap())),
            Input::StoreFailed => {
                Event::Committed(Err(IntakeError::Store(std::io::Error::other("disk full"))))
            }
            Input::Looped => Event::Committed(Err(IntakeError::TooManyHops(
                crate::intake::message::TooManyHops { hops: 51, max: 50 },
            ))),
            Input::DataOver { stopping } => Event::DataOver {
                stopping: *stopping,
            },
            Input::Closed { stopping } => Event::ReadEnded {
                end: ReadEnd::Closed,
                stopping: *stopping,
            },
            Input::TimedOut => Event::ReadEnded {
                end: ReadEnd::TimedOut,
                stopping: false,
            },
        }
    }
}

type Step = (Input, &'static str);

fn cmd(line: &'static str, expect: &'static str) -> Step {
    (Input::Line(line), expect)
}

fn ev(input: Input, expect: &'static str) -> Step {
    (input, expect)
}

/// From the greeting to a message being read.
fn up_to_data() -> [Step; 4] {
    [
        cmd("EHLO c.test", "250"),
        cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
        cmd("RCPT TO:<x@y.test>", "250 2.1.5"),
        cmd("DATA", "354 End data with <CR><LF>.<CR><LF> | read data"),
    ]
}

/// A message read to its end: over the size limit, with bare newlines.
fn body(too_big: bool, bare_newline: bool) -> Input {
    Input::Body {
        too_big,
        bare_newline,
    }
}

/// Actions as text: each reply by its one-line form, the other actions by name.
fn render(actions: &[Action]) -> Vec<String> {
    let name = |a: &Action| match a {
        Action::Reply(r) => r.one_line(),
        Action::ReadData => "read data".into(),
        Action::ReadChunk { size, last: false } => format!("read chunk {size}"),
        Action::ReadChunk { size, last: true } => format!("read chunk {size} last"),
        Action::SkipChunk(size) => format!("skip {size}"),
        Action::CheckPipelining => "check pipelining".into(),
        Action::StartTls => "start tls".into(),
        Action::Commit(_) => "commit".into(),
        Action::EndData => "end data".into(),
        Action::Close => "close".into(),
    };
    actions.iter().map(name).collect()
}

/// Whether `got` is what `expect` says: actions separated by ` | `, each given by its start
/// up to a word's end (`550 5.7.1` matches `550 5.7.1 Relaying denied`); `""` is no action.
fn matches(got: &[String], expect: &str) -> bool {
    let want: Vec<&str> = expect.split(" | ").filter(|w| !w.is_empty()).collect();
    got.len() == want.len()
        && got.iter().zip(&want).all(|(g, w)| {
            g.strip_prefix(w)
                .is_some_and(|rest| !rest.starts_with(char::is_alphanumeric))
        })
}

/// Plays a script and returns the actions of its last step.
fn play(session: &mut Session, script: &[Step]) -> Vec<Action> {
    let mut last = Vec::new();
    for (i, (input, expect)) in script.iter().enumerate() {
        last = session.handle(input.event());
        let got = render(&last);
        assert!(
            matches(&got, expect),
            "step {i} {input:?}: expected {expect:?}, got {got:?}"
        );
    }
    last
}

/// What a scripted handshake agreed on.
const USED: TlsUsed = TlsUsed {
    version: "TLSv1.3",
    cipher: "TLS_AES_256_GCM_SHA384",
};

/// The submission of a `Commit` among `actions`.
fn committed(actions: Vec<Action>) -> Submission {
    let found = actions.into_iter().find_map(|a| match a {
        Action::Commit(sub) => Some(*sub),
        _ => None,
    });
    found.expect("a Commit action")
}

fn ehlo_keywords(session: &mut Session) -> Vec<String> {
    match session.handle(Event::Line(b"EHLO c.test")).as_slice() {
        [Action::Reply(reply)] => reply.lines[1..].to_vec(),
        other => panic!("EHLO answered {:?}", render(other)),
    }
}

#[test]
fn greets_and_answers_helo_and_ehlo() {
    let mut s = session("", REMOTE);
    assert_eq!(s.greeting().one_line(), "220 host.test ESMTP qksmtp");
    play(
        &mut s,
        &[
            cmd("HELO c.test", "250 host.test"),
            cmd("EHLO c.test", "250 host.test greets c.test PIPELINING"),
            cmd("helo c.test", "250 host.test"),
        ],
    );
}

#[test]
fn ehlo_offers_what_the_config_and_the_connection_allow() {
    const USERS: &str = "[server]\nmax_message_size = 1K\n[users]\nalice = s3cret\n";
    // (ini, peer, over TLS, a certificate, keywords offered, keywords not offered)
    type Row = (&'static str, &'static str, bool, bool, Keywords, Keywords);
    type Keywords = &'static [&'static str];
    let table: &[Row] = &[
        (
            "",
            REMOTE,
            false,
            false,
            &["PIPELINING", "SIZE 26214400", "8BITMIME", "SMTPUTF8"],
            &["STARTTLS", "AUTH PLAIN LOGIN"],
        ),
        (
            "",
            REMOTE,
            false,
            false,
            &["ENHANCEDSTATUSCODES", "DSN", "CHUNKING", "HELP"],
            &[],
        ),
        (
            USERS,
            REMOTE,
            false,
            true,
            &["SIZE 1024", "STARTTLS"],
            &["AUTH PLAIN LOGIN"],
        ),
        (
            USERS,
            LOCAL,
            false,
            false,
            &["AUTH PLAIN LOGIN"],
            &["STARTTLS"],
        ),
        (
            USERS,
            "[::1]:1025",
            false,
            true,
            &["AUTH PLAIN LOGIN", "STARTTLS"],
            &[],
        ),
        (
            USERS,
            REMOTE,
            true,
            true,
            &["AUTH PLAIN LOGIN"],
            &["STARTTLS"],
        ),
        (
            "",
            LOCAL,
            true,
            true,
            &["SIZE 26214400"],
            &["STARTTLS", "AUTH PLAIN LOGIN"],
        ),
    ];
    for (i, &(ini, peer, tls, cert, offered, not_offered)) in table.iter().enumerate() {
        let mut s = Session::new(config(ini), peer.parse().unwrap(), tls, cert);
        let keywords = ehlo_keywords(&mut s);
        for k in offered {
            assert!(
                keywords.iter().any(|w| w == k),
                "row {i}: {k} missing: {keywords:?}"
            );
        }
        for k in not_offered {
            assert!(
                !keywords.iter().any(|w| w == k),
                "row {i}: {k} offered: {keywords:?}"
            );
        }
        // HELP names STARTTLS and AUTH exactly when EHLO offers them.
        let help = match s.handle(Event::Line(b"HELP")).as_slice() {
            [Action::Reply(reply)] => reply.lines[0].clone(),
            other => panic!("HELP answered {:?}", render(other)),
        };
        let listed = |word: &str| help.split(' ').any(|w| w == word);
        let starttls = keywords.iter().any(|w| w == "STARTTLS");
        let auth = keywords.iter().any(|w| w.starts_with("AUTH "));
        assert_eq!(listed("STARTTLS"), starttls, "row {i}: {help}");
        assert_eq!(listed("AUTH"), auth, "row {i}: {help}");
    }
}

#[test]
fn commands_out_of_sequence_are_refused() {
    let mut s = session(
        "[server]\nmax_errors = 100\n[users]\nalice = s3cret\n",
        LOCAL,
    );
    play(
        &mut s,
        &[
            cmd(
                "MAIL FROM:<a@c.test>",
                "503 5.5.1 Bad sequence of commands: send HELO/EHLO first",
            ),
            cmd(
                "RCPT TO:<x@y.test>",
                "503 5.5.1 Bad sequence of commands: need MAIL before RCPT",
            ),
            cmd(
                "DATA",
                "503 5.5.1 Bad sequence of commands: need RCPT before DATA",
            ),
            cmd(
                "AUTH PLAIN",
                "503 5.5.1 Bad sequence of commands: send EHLO first",
            ),
            cmd("EHLO c.test", "250"),
            cmd("RCPT TO:<x@y.test>", "503 5.5.1"),
            cmd("DATA", "503 5.5.1"),
            cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
            cmd("DATA", "554 5.5.1 No valid recipients"),
            cmd(
                "MAIL FROM:<b@c.test>",
                "503 5.5.1 Bad sequence of commands: nested MAIL",
            ),
            cmd(
                "AUTH PLAIN",
                "503 5.5.1 Bad sequence of commands: AUTH not allowed",
            ),
            cmd("RCPT TO:<x@y.test>", "250 2.1.5"),
            cmd("DATA", "354 | read data"),
        ],
    );
}

#[test]
fn syntax_errors_are_refused_and_the_state_stays() {
    let mut s = session("", LOCAL);
    play(
        &mut s,
        &[
            cmd("EHLO c.test", "250"),
            cmd("FROB", "500 5.5.2 Command not recognized"),
            cmd("MAIL FROM:a@c.test", "501"),
            cmd(
                "MAIL FROM:<a@c.test> FROB=1",
                "555 5.5.4 Unsupported parameter",
            ),
            cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
            cmd("RCPT TO:<x@>", "501"),
            cmd(
                "RCPT TO:<postmaster>",
                "550 5.1.3 Recipient address needs a domain",
            ),
            cmd("RCPT TO:<jörg@y.test>", "553 5.6.7"),
            cmd("RCPT TO:<x@y.test>", "250 2.1.5"),
        ],
    );
}

#[test]
fn rset_noop_help_vrfy_expn_and_quit() {
    let mut s = session("", LOCAL);
    play(
        &mut s,
        &[
            cmd("RSET", "250 2.0.0 Ok"),
            cmd("MAIL FROM:<a@c.test>", "503 5.5.1"),
            cmd("EHLO c.test", "250"),
            cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
            cmd("RCPT TO:<x@y.test>", "250 2.1.5"),
            cmd("RSET", "250 2.0.0 Ok"),
            cmd(
                "RCPT TO:<x@y.test>",
                "503 5.5.1 Bad sequence of commands: need MAIL",
            ),
            cmd("NOOP", "250 2.0.0 Ok"),
            cmd("HELP", "214 2.0.0 qksmtp commands: EHLO"),
            cmd("VRFY alice", "252 2.0.0 Cannot VRFY user"),
            cmd("EXPN staff", "502 5.5.1 EXPN not available"),
            cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
            cmd("QUIT", "221 2.0.0 Bye | close"),
        ],
    );
}

#[test]
fn relaying_needs_a_relay_network_or_a_login() {
    // (ini, peer, over TLS, answer to RCPT)
    let table: &[(&str, &str, bool, &str)] = &[
        ("", REMOTE, false, "550 5.7.1 Relaying denied"),
        ("", REMOTE, true, "550 5.7.1"),
        ("", LOCAL, false, "250 2.1.5"),
        ("[access]\nrelay_from =\n", LOCAL, false, "550 5.7.1"),
        (
            "[access]\nrelay_from = 192.0.2.0/24\n",
            REMOTE,
            false,
            "250 2.1.5",
        ),
        (
            "[access]\nrelay_from = 198.51.100.0/24\n",
            REMOTE,
            false,
            "550 5.7.1",
        ),
    ];
    for &(ini, peer, tls, answer) in table {
        let mut s = Session::new(config(ini), peer.parse().unwrap(), tls, false);
        play(
            &mut s,
            &[
                cmd("EHLO c.test", "250"),
                cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
                cmd("RCPT TO:<x@y.test>", answer),
            ],
        );
    }
}

#[test]
fn recipients_are_limited_and_kept_once() {
    let mut s = session("[server]\nmax_recipients = 2\n", LOCAL);
    let last = play(
        &mut s,
        &[
            cmd("EHLO c.test", "250"),
            cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
            cmd("RCPT TO:<x@y.test>", "250 2.1.5"),
            cmd("RCPT TO:<x@y.test>", "250 2.1.5"),
            cmd("RCPT TO:<z@y.test>", "250 2.1.5"),
            cmd("RCPT TO:<w@y.test>", "452 4.5.3 Too many recipients"),
            cmd("DATA", "354 | read data"),
            ev(body(false, false), "commit"),
        ],
    );
    let sub = committed(last);
    let to: Vec<String> = sub
        .recipients
        .iter()
        .map(|r| r.address.to_string())
        .collect();
    assert_eq!(to, ["x@y.test", "z@y.test"]);
}

#[test]
fn mail_is_refused_over_the_size_limit_and_without_tls_when_required() {
    let mut s = session("[server]\nmax_message_size = 1K\n", REMOTE);
    play(
        &mut s,
        &[
            cmd("EHLO c.test", "250"),
            cmd("MAIL FROM:<a@c.test> SIZE=1025", "552 5.3.4"),
            cmd("MAIL FROM:<a@c.test> SIZE=1024", "250 2.1.0"),
        ],
    );
    // (peer, over TLS, answer to MAIL) with require_tls
    let table: &[(&str, bool, &str)] = &[
        (
            REMOTE,
            false,
            "530 5.7.0 Must issue a STARTTLS command first",
        ),
        (REMOTE, true, "250 2.1.0"),
        (LOCAL, false, "250 2.1.0"),
    ];
    for &(peer, tls, answer) in table {
        // (set here: the loader wants certificate files for `require_tls = yes`)
        let mut config = Arc::unwrap_or_clone(config(""));
        config.server.require_tls = true;
        let mut s = Session::new(Arc::new(config), peer.parse().unwrap(), tls, true);
        play(
            &mut s,
            &[
                cmd("EHLO c.test", "250"),
                cmd("MAIL FROM:<a@c.test>", answer),
            ],
        );
    }
}

fn users_with_a_hash() -> String {
    let hash = crate::password::hash("s3cret").unwrap();
    format!("[access]\nrelay_from =\n[users]\nalice = {hash}\n")
}

#[test]
fn auth_plain_and_login_check_the_password_and_allow_relaying() {
    let ini = users_with_a_hash();
    let mut s =
        Session::new(config(&ini), REMOTE.parse().unwrap(), true, true).with_tls_used(Some(USED));
    let last = play(
        &mut s,
        &[
            cmd("EHLO c.test", "250"),
            cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
            cmd("RCPT TO:<x@y.test>", "550 5.7.1"),
            cmd("RSET", "250 2.0.0"),
            cmd(
                "AUTH PLAIN AGFsaWNlAHdyb25n",
                "535 5.7.8 Authentication credentials invalid",
            ),
            cmd("AUTH LOGIN", "334 VXNlcm5hbWU6"),
            cmd("YWxpY2U=", "334 UGFzc3dvcmQ6"),
            cmd("czNjcmV0", "235 2.7.0 Authentication successful"),
            cmd(
                "AUTH PLAIN AGFsaWNlAHMzY3JldA==",
                "503 5.5.1 Bad sequence of commands: already",
            ),
            cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
            cmd("RCPT TO:<x@y.test>", "250 2.1.5"),
            cmd("DATA", "354 | read data"),
            ev(body(false, false), "commit"),
        ],
    );
    let sub = committed(last);
    assert_eq!(sub.auth_user.as_deref(), Some("alice"));
    assert_eq!(sub.protocol, "ESMTPSA");
    assert_eq!(sub.tls, Some(USED), "implicit TLS names its version too");

    let mut s = Session::new(config(&ini), LOCAL.parse().unwrap(), false, false);
    play(
        &mut s,
        &[
            cmd("EHLO c.test", "250"),
            cmd("AUTH PLAIN", "334"),
            cmd("AGFsaWNlAHMzY3JldA==", "235 2.7.0"),
        ],
    );
}

#[test]
fn auth_is_refused_where_it_is_not_offered_and_when_malformed() {
    let users = "[users]\nalice = s3cret\n";
    // (ini, peer, AUTH line, answer)
    let table: &[(&str, &str, &str, &str)] = &[
        ("", LOCAL, "AUTH PLAIN", "502 5.5.1 AUTH not available"),
        (
            users,
            REMOTE,
            "AUTH PLAIN",
            "538 5.7.11 Encryption required",
        ),
        (users, LOCAL, "AUTH CRAM-MD5", "504 5.5.4"),
        (users, LOCAL, "AUTH PLAIN !!!", "501 5.5.2"),
        (users, LOCAL, "AUTH LOGIN *", "501 5.7.0"),
    ];
    for &(ini, peer, line, answer) in table {
        let mut s = session(ini, peer);
        play(&mut s, &[cmd("EHLO c.test", "250"), cmd(line, answer)]);
    }
    let mut s = session(users, LOCAL);
    play(
        &mut s,
        &[
            cmd("EHLO c.test", "250"),
            cmd("AUTH LOGIN", "334 VXNlcm5hbWU6"),
            cmd("*", "501 5.7.0 Authentication cancelled"),
            cmd("AUTH PLAIN", "334"),
            cmd("%%%", "501 5.5.2"),
            cmd("NOOP", "250 2.0.0"),
        ],
    );
}

#[test]
fn lines_of_an_auth_exchange_may_be_longer() {
    let mut s = session("[users]\nalice = s3cret\n", LOCAL);
    assert_eq!(s.line_limit(b"MAIL FROM:<a@c.test>"), MAX_COMMAND_LINE);
    assert_eq!(s.line_limit(b"AUTH"), MAX_COMMAND_LINE);
    assert_eq!(s.line_limit(b"auth plain AGFs"), MAX_AUTH_LINE);
    play(
        &mut s,
        &[cmd("EHLO c.test", "250"), cmd("AUTH LOGIN", "334")],
    );
    assert_eq!(s.line_limit(b""), MAX_AUTH_LINE);
    // An over-long answer ends the exchange: the next line is a command again.
    play(
        &mut s,
        &[
            ev(Input::TooLong, "500 5.5.2 Line too long"),
            cmd("NOOP", "250 2.0.0"),
        ],
    );
    assert_eq!(s.line_limit(b""), MAX_COMMAND_LINE);
}

#[test]
fn too_many_errors_end_the_session() {
    let mut s = session("[server]\nmax_errors = 3\n", REMOTE);
    play(
        &mut s,
        &[
            cmd("EHLO c.test", "250"),
            cmd("FROB", "500 5.5.2"),
            ev(Input::TooLong, "500 5.5.2"),
            cmd("NOOP", "250 2.0.0"),
            cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
            cmd(
                "RCPT TO:<x@y.test>",
                "550 5.7.1 | 421 4.7.0 Too many errors | close",
            ),
        ],
    );
}

#[test]
fn data_is_committed_and_answered() {
    let mut s = session("", LOCAL);
    play(&mut s, &up_to_data());
    let sub = committed(play(&mut s, &[ev(body(false, false), "commit")]));
    assert_eq!(sub.sender.to_string(), "<a@c.test>");
    assert_eq!(sub.helo, "c.test");
    assert_eq!(sub.protocol, "ESMTP");
    assert_eq!(sub.client_ip.to_string(), "127.0.0.1");
    assert_eq!(sub.auth_user, None);
    play(
        &mut s,
        &[
            ev(
                Input::Stored,
                "250 2.0.0 Ok: queued as 0123456789ABCDEF | end data",
            ),
            ev(Input::DataOver { stopping: false }, ""),
            cmd("RCPT TO:<x@y.test>", "503 5.5.1"),
        ],
    );
    play(&mut s, &up_to_data());
    play(
        &mut s,
        &[
            ev(body(false, true), "commit"),
            ev(
                Input::StoreFailed,
                "452 4.3.1 Insufficient system storage | end data",
            ),
            ev(
                Input::DataOver { stopping: true },
                "421 4.3.2 Service shutting down | close",
            ),
        ],
    );
}

#[test]
fn a_mail_loop_is_refused_at_the_end_of_data_and_the_session_goes_on() {
    let mut s = session("", LOCAL);
    play(&mut s, &up_to_data());
    play(
        &mut s,
        &[
            ev(body(false, false), "commit"),
            ev(Input::Looped, "554 5.4.6 Too many hops | end data"),
            ev(Input::DataOver { stopping: false }, ""),
        ],
    );
    play(&mut s, &up_to_data());
}

#[test]
fn data_too_big_or_with_bare_newlines_is_refused() {
    // (ini, body, answer)
    let table: &[(&str, (bool, bool), &str)] = &[
        (
            "",
            (true, false),
            "552 5.3.4 Message size exceeds fixed limit | end data",
        ),
        ("", (true, true), "552 5.3.4 | end data"),
        ("", (false, true), "commit"),
        (
            "[server]\nbare_newline = reject\n",
            (false, true),
            "554 5.6.0 Message contains bare CR or LF | end data",
        ),
        (
            "[server]\nbare_newline = reject\n",
            (false, false),
            "commit",
        ),
    ];
    for &(ini, (too_big, bare), answer) in table {
        let mut s = session(ini, LOCAL);
        play(&mut s, &up_to_data());
        play(&mut s, &[ev(body(too_big, bare), answer)]);
    }
    // After a refusal the transaction is over and the session goes on.
    let mut s = session("", LOCAL);
    play(&mut s, &up_to_data());
    play(
        &mut s,
        &[
            ev(body(true, false), "552 5.3.4 | end data"),
            ev(Input::DataOver { stopping: false }, ""),
            cmd("RCPT TO:<x@y.test>", "503 5.5.1"),
        ],
    );
}

#[test]
fn a_message_after_starttls_names_the_version_and_cipher() {
    let mut s = Session::new(config(""), LOCAL.parse().unwrap(), false, true);
    let last = play(
        &mut s,
        &[
            cmd("EHLO c.test", "250"),
            cmd("STARTTLS", "check pipelining"),
            ev(Input::Pipelined(0), "220 2.0.0 | start tls"),
            ev(Input::TlsStarted, ""),
            cmd("EHLO c.test", "250"),
            cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
            cmd("RCPT TO:<x@y.test>", "250 2.1.5"),
            cmd("DATA", "354 | read data"),
            ev(body(false, false), "commit"),
        ],
    );
    let sub = committed(last);
    assert_eq!((sub.protocol.as_str(), sub.tls), ("ESMTPS", Some(USED)));
}

#[test]
fn starttls_starts_over_and_refuses_pipelined_commands() {
    let mut s = Session::new(config(""), REMOTE.parse().unwrap(), false, true);
    play(
        &mut s,
        &[
            cmd("EHLO c.test", "250"),
            cmd("MAIL FROM:<a@c.test>", "250 2.1.0"),
            cmd(
                "STARTTLS",
                "503 5.5.1 Bad sequence of commands: STARTTLS not allowed",
            ),
            cmd("RSET", "250 2.0.0"),
            cmd("STARTTLS", "check pipelining"),
            ev(
                Input::Pipelined(0),
                "220 2.0.0 Ready to start TLS | start tls",
            ),
            ev(Input::TlsStarted, ""),
            cmd(
                "MAIL FROM:<a@c.test>",
                "503 5.5.1 Bad sequence of commands: send HELO/EHLO",
            ),
        ],
    );
    assert!(!ehlo_keywords(&mut s).iter().any(|k| k == "STARTTLS"));
    play(
        &mut s,
        &[cmd(
            "STARTTLS",
            "503 5.5.1 Bad sequence of commands: already in TLS",
        )],
    );

    let mut s = Session::new(config(""), REMOTE.parse().unwrap(), false, true);
    play(
        &mut s,
        &[
            cmd("EHLO c.test", "250"),
            cmd("STARTTLS", "check pipelining"),
            ev(
                Input::Pipelined(12),
                "554 5.5.1 Commands pipelined after STARTTLS | close",
            ),
        ],
    );
    let mut s = Session::new(config(""), REMOTE.parse().unwrap(), false, true);
    play(
        &mut s,
        &[
            cmd("STARTTLS", "check pipelining"),
            ev(Input::Pipelined(0), "220 2.0.0 | start tls"),
            ev(Input::TlsFailed, "close"),
        ],
    );
    let mut s = session("", REMOTE);
    play(
        &mut s,
        &[cmd("STARTTLS", "502 5.5.1 STARTTLS not available")],
    );
}

#[test]
fn the_end_of_the_input_ends_the_session() {
    // (where, how the input ended, last words)
    type Row = (&'static [&'static str], Input, &'static str);
    let table: &[Row] = &[
        (&[], Input::Closed { stopping: false }, "close"),
        (&[], Input::Closed { stopping: true }, "421 4.3.2 | close"),
        (
            &[],
            Input::TimedOut,
            "421 4.4.2 Timeout, closing connection | close",
        ),
        (
            &[
                "EHLO c.test",
                "MAIL FROM:<a@c.test>",
                "RCPT TO:<x@y.test>",
                "DATA",
            ],
            Input::TimedOut,
            "421 4.4.2 | close",
        ),
        (
            &[
                "EHLO c.test",
                "MAIL FROM:<a@c.test>",
                "RCPT TO:<x@y.test>",
                "DATA",
            ],
            Input::Closed { stopping: false },
            "close",
        ),
    ];
    for (lines, end, last_words) in table {
        let mut s = session("", LOCAL);
        for line in *lines {
            s.handle(Event::Line(line.as_bytes()));
        }
        play(&mut s, &[ev(end.clone(), last_words)]);
    }
}

#[test]
fn protocol_names_follow_rfc_3848_and_6531() {
    let mut conn = Connection {
        peer: "127.0.0.1:1025".parse().unwrap(),
        helo: None,
        esmtp: false,
        relay_allowed: true,
        auth_user: None,
        local_user: None,
        tls: false,
        tls_used: None,
        errors: 0,
    };
    assert_eq!(protocol_name(&conn, false), "SMTP");
    conn.esmtp = true;
    assert_eq!(protocol_name(&conn, false), "ESMTP");
    conn.tls = true;
    assert_eq!(protocol_name(&conn, false), "ESMTPS");
    conn.auth_user = Some("alice".into());
    assert_eq!(protocol_name(&conn, false), "ESMTPSA");
    assert_eq!(protocol_name(&conn, true), "UTF8SMTPSA");
    conn.tls = false;
    assert_eq!(protocol_name(&conn, false), "ESMTPA");
}
