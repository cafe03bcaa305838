//! `qksmtp dkim-keygen` as a user runs it: the key file (mode 0600, never overwritten), the
//! INI section and the DNS TXT record it prints; the printed record's public key verifies a
//! signature made with the written key, by our own loader and by dkimpy.

mod common;
use common::dkimpy::dkimpy;
use common::*;
use qksmtp::dkim::{Signer, key};
use qksmtp::time::Timestamp;
use std::process::Command;

fn keygen(args: &[&str], out: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("dkim-keygen")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// The record text of the printed zone line: its quoted strings joined.
fn printed_record(text: &str, name: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name} IN TXT ")))
        .unwrap_or_else(|| panic!("no TXT line for {name} in:\n{text}"));
    let strings = &line[line.find('"').unwrap()..];
    assert!(
        strings
            .split("\" \"")
            .all(|s| s.trim_matches('"').len() <= 255),
        "{line}"
    );
    strings.trim_matches('"').split("\" \"").collect()
}

#[test]
fn keygen_writes_a_private_key_and_prints_what_to_publish() {
    let dir = TempDir::new("dkim-keygen");
    let cases = [
        (vec!["example.test"], "qksmtp", "k=rsa"),
        (
            vec!["Example.TEST", "--algorithm", "ed25519"],
            "qksmtp-ed25519",
            "k=ed25519",
        ),
        (
            vec!["example.test", "--selector", "big", "--bits", "3072"],
            "big",
            "k=rsa",
        ),
    ];
    for (args, selector, k) in cases {
        let (ok, text, err) = keygen(&args, dir.path());
        assert!(ok, "{args:?}: {text}{err}");
        let path = dir.path().join(format!("example.test.{selector}.key"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
        let section = format!(
            "[dkim:example.test:{selector}]\nselector = {selector}\nkey = {}\n",
            path.display()
        );
        assert!(text.contains(&section), "{section} in:\n{text}");
        let name = format!("{selector}._domainkey.example.test.");
        let record = printed_record(&text, &name);
        assert!(record.starts_with(&format!("v=DKIM1; {k}; p=")), "{record}");

        let written = key::load(&path).unwrap();
        assert_eq!(written.dns_record().unwrap(), record);
        let signer = Signer::new("example.test", selector, written).unwrap();
        let message = b"From: a@example.test\r\nTo: b@b.test\r\nSubject: keygen\r\n\r\nHi.\r\n";
        let signed = [
            &signer.sign(message, Timestamp::now()).unwrap()[..],
            message,
        ]
        .concat();
        let records = format!("{name}\t{record}\n");
        if let Some(verdicts) = dkimpy(&signed, &records) {
            assert_eq!(verdicts, [true], "{}", String::from_utf8_lossy(&signed));
        }

        let before = std::fs::read(&path).unwrap();
        let (ok, again, err) = keygen(&args, dir.path());
        assert!(
            !ok && err.contains("exists already; not overwritten"),
            "{again}{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
    let refused: &[&[&str]] = &[
        &["bad;name.test"],
        &["example.test", "--bits", "512"],
        &["example.test", "--selector", "a b"],
    ];
    for args in refused {
        let (ok, text, err) = keygen(args, dir.path());
        assert!(!ok && !err.is_empty(), "{args:?}: {text}{err}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}

/// The INI section `dkim-keygen` prints, as written (its `key =` path absolute).
fn printed_section(text: &str) -> String {
    let start = text.find("[dkim:").expect("a [dkim:...] section");
    text[start..]
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_server_signs_what_it_delivers_with_the_keys_of_the_ini() {
    use common::fake_mx::{FakeMx, Options};
    let keys = TempDir::new("dkim-server-keys");
    let (mut sections, mut records) = (String::new(), String::new());
    for args in [
        vec!["sender.test"],
        vec!["sender.test", "--algorithm", "ed25519"],
    ] {
        let (ok, text, err) = keygen(&args, keys.path());
        assert!(ok, "{text}{err}");
        sections.push_str(&printed_section(&text));
        sections.push('\n');
        let selector = if args.len() == 1 {
            "qksmtp"
        } else {
            "qksmtp-ed25519"
        };
        let name = format!("{selector}._domainkey.sender.test.");
        records.push_str(&format!("{name}\t{}\n", printed_record(&text, &name)));
    }
    let mx = FakeMx::start(Options::new());
    let ini = status_ini(&format!("{}{sections}", route("a.test", &mx, "")));
    let server = Server::start("dkim-server", &ini);
    let mut c = server.connect();
    c.hello();
    let body =
        "From: Me <me@sub.sender.test>\r\nTo: you@a.test\r\nSubject: signed\r\n\r\nHello.\r\n.\r\n";
    let signed_id = queued_id(&c.send_mail("me@sub.sender.test", &["you@a.test"], body));
    let other = "From: x@other.test\r\nTo: you@a.test\r\nSubject: not signed\r\n\r\nHi.\r\n.\r\n";
    let unsigned = queued_id(&c.send_mail("x@other.test", &["you@a.test"], other));
    let delivered = mx.wait_deliveries(2, WAIT);
    let signed = delivered
        .iter()
        .find(|d| d.text().contains("Subject: signed"))
        .expect("the signed message");
    let text = signed.text();
    assert_eq!(text.matches("DKIM-Signature:").count(), 2, "{text}");
    assert!(text.starts_with("DKIM-Signature:"), "{text}");
    if let Some(verdicts) = dkimpy(text.as_bytes(), &records) {
        assert_eq!(verdicts, [true, true], "{text}");
        let altered = text.replace("Hello.", "Hello!");
        assert_eq!(
            dkimpy(altered.as_bytes(), &records).unwrap(),
            [false, false]
        );
    }
    let plain = delivered
        .iter()
        .find(|d| d.text().contains("not signed"))
        .unwrap();
    assert!(!plain.text().contains("DKIM-Signature"), "{}", plain.text());
    server.wait_stderr(&format!(
        "{unsigned}: not signed: no DKIM key for other.test"
    ));
    // Why it went unsigned is in its step record: the API, the page and `qksmtp show`.
    let page = server.status_addr.unwrap();
    let note = "not signed: no DKIM key for other.test";
    let api = wait_http(page, &format!("/api/messages/{unsigned}"), &["DKIM"]);
    assert!(
        api.contains("\"label\":\"intake\",\"steps\":[{\"at\":")
            && api.contains(&format!(
                "\"ok\":false,\"step\":\"DKIM\",\"text\":\"{note}\""
            )),
        "{api}"
    );
    let (code, html) = http(page, "GET", &format!("/message/{unsigned}"), &[]);
    assert!(code == 200 && html.contains(note), "{code} {html}");
    let (code, detail) = http(page, "GET", &format!("/api/messages/{signed_id}"), &[]);
    assert!(
        code == 200 && !detail.contains("\"step\":\"DKIM\""),
        "{detail}"
    );
}

/// A message of several megabytes (past what a session keeps in memory: it goes through a
/// spool file) sent once with DATA and once with BDAT: each arrives at the MX byte for byte as
/// sent (dot-unstuffed) under our header lines, and dkimpy verifies both signatures, relaxed
/// (RSA) and simple (Ed25519) body canonicalization, whose body hashes were computed reading
/// the file in pieces. Nothing is left in the spool but the message files.
#[test]
fn a_large_message_is_streamed_to_disk_and_arrives_whole_and_signed() {
    use common::fake_mx::{FakeMx, Options};
    let keys = TempDir::new("dkim-large-keys");
    let (mut sections, mut records) = (String::new(), String::new());
    for (args, selector, canon) in [
        (vec!["big.test"], "qksmtp", "relaxed/relaxed"),
        (
            vec!["big.test", "--algorithm", "ed25519"],
            "qksmtp-ed25519",
            "simple/simple",
        ),
    ] {
        let (ok, text, err) = keygen(&args, keys.path());
        assert!(ok, "{text}{err}");
        sections.push_str(&printed_section(&text));
        sections.push_str(&format!("\ncanonicalization = {canon}\n"));
        let name = format!("{selector}._domainkey.big.test.");
        records.push_str(&format!("{name}\t{}\n", printed_record(&text, &name)));
    }
    // Lines of all kinds: long ones, runs of spaces and tabs, trailing white space, lines
    // that start with a dot, 8-bit bytes; empty lines at the end (dropped by both bodies).
    let mut content =
        b"From: Big <me@big.test>\r\nTo: you@a.test\r\nSubject: large\r\n\r\n".to_vec();
    let mut n = 0usize;
    while content.len() < 6 << 20 {
        let line = match n % 5 {
            0 => format!(".line {n} starts with a dot  \t\r\n"),
            1 => format!("{}\r\n", "x".repeat(997)),
            2 => format!("  spaced \t out {n}   \r\n"),
            3 => "\r\n".to_string(),
            _ => format!("caf\u{e9} {n} .. ok\r\n"),
        };
        content.extend_from_slice(line.as_bytes());
        n += 1;
    }
    content.extend_from_slice(b"last line\r\n\r\n\r\n");
    let mx = FakeMx::start(Options::new());
    let ini = base_ini(
        "max_message_size = 20M",
        &format!("{}{sections}", route("a.test", &mx, "")),
    );
    let server = Server::start("dkim-large", &ini);
    let mut c = server.connect();
    c.hello();
    let mut wire = Vec::new();
    for line in content.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            wire.push(b'.');
        }
        wire.extend_from_slice(line);
    }
    wire.extend_from_slice(b".\r\n");
    for r in [
        c.cmd("MAIL FROM:<me@big.test>"),
        c.cmd("RCPT TO:<you@a.test>"),
    ] {
        assert!(r.starts_with("250"), "{r}");
    }
    assert!(c.cmd("DATA").starts_with("354"));
    // Half the message sent, it is in a file of the spool, not in memory.
    let (half, rest) = wire.split_at(wire.len() / 2);
    c.send_bytes(half);
    let receiving = || {
        let files = std::fs::read_dir(server.spool()).unwrap();
        let name = |e: std::io::Result<std::fs::DirEntry>| e.unwrap().file_name();
        files
            .map(name)
            .any(|n| n.to_string_lossy().ends_with(".part.tmp"))
    };
    wait_until(receiving, "the message being received in a spool file");
    c.send_bytes(rest);
    queued_id(&c.reply());
    for r in [
        c.cmd("MAIL FROM:<me@big.test>"),
        c.cmd("RCPT TO:<you@a.test>"),
    ] {
        assert!(r.starts_with("250"), "{r}");
    }
    let (first, second) = content.split_at(content.len() / 3);
    c.send_bytes(format!("BDAT {}\r\n", first.len()).as_bytes());
    c.send_bytes(first);
    assert!(c.reply().starts_with("250"));
    c.send_bytes(format!("BDAT {} LAST\r\n", second.len()).as_bytes());
    c.send_bytes(second);
    queued_id(&c.reply());
    let delivered = mx.wait_deliveries(2, WAIT);
    for d in &delivered {
        let data = &d.data;
        assert!(data.starts_with(b"DKIM-Signature:"));
        let at = data
            .windows(content.len().min(64))
            .position(|w| w == &content[..64])
            .expect("the client's content");
        assert_eq!(data.len() - at, content.len(), "nothing lost or added");
        assert!(data[at..] == content[..], "byte-identical content");
        let ours = String::from_utf8_lossy(&data[..at]);
        assert_eq!(ours.matches("DKIM-Signature:").count(), 2, "{ours}");
        if let Some(verdicts) = dkimpy(data, &records) {
            assert_eq!(verdicts, [true, true], "{ours}");
            let mut altered = data.clone();
            let last = altered.len() - 12;
            altered[last] = b'X';
            assert_eq!(dkimpy(&altered, &records).unwrap(), [false, false]);
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(server.spool())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
