//! CHUNKING (RFC 3030) end to end: raw BDAT over a socket to the real binary, pipelined in
//! single writes; and a client nobody here wrote that speaks BDAT: Perl's Net::SMTP (libnet
//! 3.x `bdat`/`bdatlast`; Python's smtplib has no BDAT, Postfix's smtp client sends none).

mod common;
use common::*;
use std::process::Command;

/// MAIL and RCPT for one transaction, as one pipelined piece.
fn envelope(from: &str, to: &str) -> String {
    format!("MAIL FROM:<{from}>\r\nRCPT TO:<{to}>\r\n")
}

/// A BDAT command with its chunk.
fn bdat(chunk: &[u8], last: bool) -> Vec<u8> {
    let mut out = format!(
        "BDAT {}{}\r\n",
        chunk.len(),
        if last { " LAST" } else { "" }
    )
    .into_bytes();
    out.extend_from_slice(chunk);
    out
}

/// The stored message of the queue ID in `reply` ("250 ... queued as ID").
fn stored(server: &Server, reply: &str) -> Vec<u8> {
    let id = queued_id(reply);
    let path = server
        .spool_files("msg")
        .into_iter()
        .find(|p| p.to_string_lossy().contains(&id))
        .unwrap_or_else(|| panic!("no message file for {id}"));
    std::fs::read(path).unwrap()
}

#[test]
fn chunks_in_one_write_are_stored_as_sent_and_data_follows_in_the_same_session() {
    let server = Server::start("bdat", &base_ini("", ""));
    let mut c = server.connect();
    let ehlo = c.hello();
    assert!(ehlo.lines().any(|l| &l[4..] == "CHUNKING"), "{ehlo}");
    // What DATA would treat as an end marker or dot-stuffing is plain content in BDAT; so
    // are NUL and 8-bit bytes, and command lines. The CRLF of the first chunk's last line
    // is split across the two chunks.
    let first: &[u8] = b"Subject: chunks\r\n\r\n.\r\n..two dots\r\nQUIT\r";
    let second: &[u8] = b"\n\0\xff\xe9t\xe9\r\n.";
    let mut wire = envelope("a@example.test", "b@example.test").into_bytes();
    wire.extend(bdat(first, false));
    wire.extend(bdat(second, false));
    wire.extend(bdat(b"", true));
    // A second transaction, by DATA, in the same write.
    wire.extend(envelope("a@example.test", "c@example.test").as_bytes());
    wire.extend(b"DATA\r\n");
    c.send_bytes(&wire);
    assert_eq!(c.reply(), "250 2.1.0 Ok");
    assert_eq!(c.reply(), "250 2.1.5 Ok");
    let n = first.len();
    assert_eq!(c.reply(), format!("250 2.0.0 Ok: {n} octets received"));
    let n = n + second.len();
    assert_eq!(c.reply(), format!("250 2.0.0 Ok: {n} octets received"));
    let queued = c.reply();
    assert!(queued.starts_with("250 2.0.0 Ok: queued as "), "{queued}");
    // 250 comes only after the commit: the message is on disk when the reply is read.
    let message = stored(&server, &queued);
    let mut sent = first.to_vec();
    // Byte for byte, even without a last CRLF (the client side adds it when relaying).
    sent.extend_from_slice(second);
    assert!(message.starts_with(b"Received: "));
    assert!(
        message.ends_with(&sent),
        "{}",
        String::from_utf8_lossy(&message)
    );
    assert_eq!(c.reply(), "250 2.1.0 Ok");
    assert_eq!(c.reply(), "250 2.1.5 Ok");
    assert!(c.reply().starts_with("354 "));
    let r = c.cmd("Subject: by data\r\n\r\nhi\r\n.");
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{r}");
    assert_eq!(c.cmd("QUIT"), "221 2.0.0 Bye");
    assert_eq!(server.spool_files("msg").len(), 2);
}

#[test]
fn a_chunk_over_the_size_limit_fails_the_transaction_and_pipelined_chunks_are_dropped() {
    let server = Server::start("bdat-size", &base_ini("max_message_size = 1K", ""));
    let mut c = server.connect();
    c.hello();
    // The chunks hold command lines: had their data not been skipped, they would be run.
    let chunk = "RSET\r\nMAIL FROM:<x@example.test>\r\n".repeat(20);
    assert!(chunk.len() > 600);
    let mut wire = envelope("a@example.test", "b@example.test").into_bytes();
    wire.extend(bdat(chunk.as_bytes(), false));
    wire.extend(bdat(chunk.as_bytes(), false));
    wire.extend(bdat(chunk.as_bytes(), true));
    wire.extend(b"DATA\r\n");
    c.send_bytes(&wire);
    assert_eq!(c.reply(), "250 2.1.0 Ok");
    assert_eq!(c.reply(), "250 2.1.5 Ok");
    assert!(c.reply().starts_with("250 2.0.0 Ok: "));
    assert_eq!(c.reply(), "552 5.3.4 Message size exceeds fixed limit");
    // The transaction is gone: the rest is out of place, and read as data, not commands.
    assert!(c.reply().starts_with("503 5.5.1 "));
    assert!(c.reply().starts_with("503 5.5.1 "));
    assert_eq!(c.cmd("NOOP"), "250 2.0.0 Ok");
    assert!(server.spool_files("msg").is_empty());
    // The session goes on: a message within the limit is taken.
    let mut wire = envelope("a@example.test", "b@example.test").into_bytes();
    wire.extend(bdat(b"Subject: small\r\n\r\nok\r\n", true));
    c.send_bytes(&wire);
    assert_eq!(c.reply(), "250 2.1.0 Ok");
    assert_eq!(c.reply(), "250 2.1.5 Ok");
    assert!(c.reply().starts_with("250 2.0.0 Ok: queued as "));
}

#[test]
fn data_after_bdat_is_refused_and_rset_drops_the_chunks() {
    let server = Server::start("bdat-mix", &base_ini("", ""));
    let mut c = server.connect();
    c.hello();
    let mut wire = envelope("a@example.test", "b@example.test").into_bytes();
    wire.extend(bdat(b"Subject: half\r\n", false));
    wire.extend(b"DATA\r\nRSET\r\n");
    c.send_bytes(&wire);
    assert_eq!(c.reply(), "250 2.1.0 Ok");
    assert_eq!(c.reply(), "250 2.1.5 Ok");
    assert!(c.reply().starts_with("250 2.0.0 Ok: 15 octets"));
    assert!(c.reply().starts_with("503 5.5.1 "));
    assert_eq!(c.reply(), "250 2.0.0 Ok");
    let mut wire = bdat(b"x", true);
    wire.extend(b"NOOP\r\n");
    c.send_bytes(&wire);
    assert!(c.reply().starts_with("503 5.5.1 "));
    assert_eq!(c.reply(), "250 2.0.0 Ok");
    assert!(server.spool_files("msg").is_empty());
}

#[test]
fn bare_newlines_in_chunks_are_normalised_or_refused_as_for_data() {
    let content: &[u8] = b"Subject: bare\n\na\rb\n.\nc\r\n";
    let want: &[u8] = b"Subject: bare\r\n\r\na\r\nb\r\n.\r\nc\r\n";
    for setting in ["normalize", "reject"] {
        let ini = base_ini(&format!("bare_newline = {setting}"), "");
        let server = Server::start("bdat-bare", &ini);
        let mut c = server.connect();
        c.hello();
        let mut wire = envelope("a@example.test", "b@example.test").into_bytes();
        wire.extend(bdat(content, true));
        c.send_bytes(&wire);
        c.reply();
        c.reply();
        let reply = c.reply();
        if setting == "normalize" {
            assert!(stored(&server, &reply).ends_with(want));
        } else {
            assert!(reply.starts_with("554 5.6.0 "), "{reply}");
            assert!(server.spool_files("msg").is_empty());
        }
    }
}

#[test]
fn a_chunk_that_never_comes_whole_times_out_like_data() {
    let server = Server::start("bdat-slow", &base_ini("idle_timeout = 1s", ""));
    let mut c = server.connect();
    c.hello();
    c.send(&envelope("a@example.test", "b@example.test"));
    c.reply();
    c.reply();
    c.send("BDAT 100 LAST\r\nonly a part");
    assert_eq!(c.reply(), "421 4.4.2 Timeout, closing connection");
    assert!(c.closed());
    assert!(server.spool_files("msg").is_empty());
}

#[test]
fn perl_net_smtp_sends_a_message_in_chunks() {
    let server = Server::start("bdat-perl", &base_ini("", ""));
    let script = r#"
use strict;
use Net::SMTP;
my $s = Net::SMTP->new("127.0.0.1", Port => $ARGV[0], Hello => "perl.test", Timeout => 30)
    or die "connect: $@";
defined $s->supports("CHUNKING") or die "no CHUNKING in EHLO";
$s->mail("perl\@example.test") or die "MAIL: " . $s->message;
# Net::SMTP turns its BDAT on only with BODY=BINARYMIME, which qksmtp does not offer: set
# the flag its `mail` would set, to use its BDAT writer for a plain message.
${*$s}{"net_smtp_chunking"} = 1;
$s->to("bob\@example.test") or die "RCPT: " . $s->message;
$s->bdat("Subject: from perl\r\n\r\n.\r\n") or die "BDAT: " . $s->message;
$s->bdat("..two dots\r\n") or die "BDAT: " . $s->message;
$s->bdatlast("last line\r\n") or die "BDAT LAST: " . $s->message;
print $s->code, " ", $s->message;
$s->quit;
"#;
    let out = Command::new("perl")
        .args(["-e", script, &server.addr.port().to_string()])
        .output()
        .expect("perl is needed for this test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let message = stored(&server, stdout.trim());
    let want: &[u8] = b"Subject: from perl\r\n\r\n.\r\n..two dots\r\nlast line\r\n";
    assert!(
        message.ends_with(want),
        "{}",
        String::from_utf8_lossy(&message)
    );
    server.wait_stderr("mail -> chunks");
}
