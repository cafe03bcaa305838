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
