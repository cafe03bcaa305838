//! `qksmtp send`: options, line ends, -t, Bcc, From.

use super::*;

fn args(a: &[&str]) -> Result<SendOptions, String> {
    parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

#[test]
fn options_as_sendmail_takes_them() {
    let o = args(&[
        "-t",
        "-oi",
        "-fme@x.test",
        "-F",
        "Me Too",
        "-odi",
        "b@y.test",
    ])
    .unwrap();
    assert!(o.extract && o.ignore_dots);
    assert_eq!(o.from.as_deref(), Some("me@x.test"));
    assert_eq!(o.full_name.as_deref(), Some("Me Too"));
    assert_eq!(o.recipients, ["b@y.test"]);
    assert_eq!(args(&["-r", "<>"]).unwrap().from.as_deref(), Some("<>"));
    assert!(args(&["-f"]).is_err());
    assert!(args(&["-Q"]).is_err());
    assert_eq!(
        args(&["--", "-odd@x.test"]).unwrap().recipients,
        ["-odd@x.test"]
    );
}

#[test]
fn line_ends_become_crlf_and_a_dot_ends_unless_i() {
    assert_eq!(normalize(b"a\nb\r\n.\nc\n", false), b"a\r\nb\r\n");
    assert_eq!(normalize(b"a\nb\r\n.\nc", true), b"a\r\nb\r\n.\r\nc\r\n");
    assert_eq!(normalize(b"", false), b"");
}

#[test]
fn t_takes_recipients_from_headers_and_removes_bcc() {
    let input = b"From: Alice <alice@x.test>\nTo: \"B, b\" <b@y.test>, c@y.test (Carl)\nCc: undisclosed: d@z.test;\nBcc: e@z.test,\n  f@z.test\nSubject: hi\n\nbody\n";
    let o = SendOptions {
        extract: true,
        recipients: vec!["g@z.test".into()],
        ..Default::default()
    };
    let p = prepare(input, &o, "root@h.test").unwrap();
    let rcpts: Vec<String> = p.recipients.iter().map(|a| a.to_string()).collect();
    assert_eq!(
        rcpts,
        [
            "g@z.test", "b@y.test", "c@y.test", "d@z.test", "e@z.test", "f@z.test"
        ]
    );
    assert_eq!(p.sender.unwrap().to_string(), "alice@x.test");
    let text = String::from_utf8(p.content).unwrap();
    assert!(
        !text.contains("Bcc") && !text.contains("f@z.test"),
        "{text}"
    );
    assert!(text.contains("Subject: hi\r\n\r\nbody\r\n"), "{text:?}");
}

#[test]
fn a_from_header_is_added_when_missing() {
    let o = SendOptions {
        from: Some("me@x.test".into()),
        full_name: Some("Me \"Q\"".into()),
        recipients: vec!["b@y.test".into()],
        ..Default::default()
    };
    let p = prepare(b"Subject: s\n\nhello\n", &o, "root@h.test").unwrap();
    assert_eq!(
        String::from_utf8(p.content).unwrap(),
        "From: \"Me Q\" <me@x.test>\r\nSubject: s\r\n\r\nhello\r\n"
    );
    let bare = prepare(
        b"just a body\n",
        &SendOptions {
            recipients: vec!["b@y.test".into()],
            ..Default::default()
        },
        "root@h.test",
    )
    .unwrap();
    assert_eq!(bare.sender.unwrap().to_string(), "root@h.test");
    assert_eq!(
        String::from_utf8(bare.content).unwrap(),
        "From: root@h.test\r\n\r\njust a body\r\n"
    );
}

#[test]
fn refusals_carry_sysexits_codes() {
    assert_eq!(
        prepare(b"Subject: x\n\n", &SendOptions::default(), "r@h.test")
            .unwrap_err()
            .0,
        EX_USAGE
    );
    let bad = SendOptions {
        recipients: vec!["not an address".into()],
        ..Default::default()
    };
    assert_eq!(prepare(b"\n", &bad, "r@h.test").unwrap_err().0, EX_DATAERR);
    let null = SendOptions {
        from: Some("<>".into()),
        recipients: vec!["b@y.test".into()],
        ..Default::default()
    };
    assert_eq!(prepare(b"x\n", &null, "r@h.test").unwrap().sender, None);
}
