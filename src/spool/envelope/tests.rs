//! Envelope file round trips and the errors that name their line.

use super::*;

fn sample() -> Envelope {
    let mut r2 = Recipient::new(
        Address::new("\"odd user\"", "exämple.test"),
        Some(Notify::On {
            success: true,
            failure: true,
            delay: false,
        }),
        Some(Orcpt {
            addr_type: "rfc822".into(),
            address: "odd user@exämple.test".into(),
        }),
    );
    r2.state = RecipientState::Failed;
    r2.direct_tries = 3;
    r2.next_try = Some(Timestamp(1_764_000_060_000_000));
    r2.last_attempt = Some(Timestamp(1_764_000_030_000_000));
    r2.last_result = Some("550 5.1.1 no such user % 100".into());
    r2.last_status = Some(Enhanced::new(5, 1, 1));
    r2.gave_up = Some(GiveUp::AttemptsUsedUp);
    r2.warned = true;
    r2.owed = Some(Action::Failed);
    Envelope {
        id: MessageId::from_parts(1_764_000_000_123_456, 1),
        arrival: Timestamp(1_764_000_000_123_456),
        sender: ReversePath::Mailbox(Address::new("alice", "example.test")),
        client_ip: "::1".parse().unwrap(),
        helo: "laptop with space".into(),
        auth_user: Some("alice".into()),
        local_user: None,
        size: 2048,
        params: MailParams {
            size: Some(2000),
            body: Body::EightBitMime,
            smtputf8: true,
            ret: Some(Ret::Full),
            envid: Some("env 1%".into()),
            auth: None,
        },
        recipients: vec![
            Recipient::new(
                Address::new("bob", "example.test"),
                Some(Notify::Never),
                None,
            ),
            r2,
            Recipient::new(Address::new("postmaster", ""), None, None),
        ],
        held: false,
        kind: MessageKind::Mail,
        subject: Some("Grüße: 100% sure\ttab".into()),
    }
}

#[test]
fn round_trips() {
    let env = sample();
    let text = render(&env);
    assert_eq!(parse(&text), Ok(env.clone()));
    let null = Envelope {
        sender: ReversePath::Null,
        ..env.clone()
    };
    assert_eq!(parse(&render(&null)), Ok(null.clone()));
    let held = Envelope {
        held: true,
        ..null.clone()
    };
    assert!(render(&held).contains("\nheld 1\n"));
    assert_eq!(parse(&render(&held)), Ok(held));
    let bounce = Envelope {
        kind: MessageKind::Bounce,
        ..null
    };
    assert!(render(&bounce).contains("\nkind bounce\n"));
    assert_eq!(parse(&render(&bounce)), Ok(bounce.clone()));
    // A local user: with a name (encoded), without one, and none.
    let named = Envelope {
        local_user: Some(LocalUser {
            uid: 1000,
            name: Some("al ice".into()),
        }),
        ..env
    };
    assert!(render(&named).contains("\nauth alice\nuser 1000 al%20ice\n"));
    assert_eq!(parse(&render(&named)), Ok(named));
    let nameless = Envelope {
        local_user: Some(LocalUser {
            uid: 65534,
            name: None,
        }),
        ..bounce.clone()
    };
    assert!(render(&nameless).contains("\nuser 65534\n"));
    assert_eq!(parse(&render(&nameless)), Ok(nameless));
    assert!(!render(&bounce).contains("\nuser "));
    assert!(parse(&render(&bounce).replace("\nsize ", "\nuser x\nsize ")).is_err());
    // The subject: kept encoded on one line; empty (none); absent (an older envelope).
    assert!(render(&sample()).contains("\nsubject Grüße:%20100%25%20sure%09tab\n"));
    for subject in [Some(String::new()), None] {
        let other = Envelope {
            subject: subject.clone(),
            ..sample()
        };
        let text = render(&other);
        assert_eq!(text.contains("\nsubject"), subject.is_some(), "{text}");
        assert_eq!(parse(&text), Ok(other));
    }
}

/// `text` with the recipient field `old` (`key=value`) given another value, read.
fn with_field(text: &str, old: &str, value: &str) -> Result<Envelope, EnvelopeError> {
    let key = old.split('=').next().unwrap();
    parse(&text.replace(old, &format!("{key}={value}")))
}

#[test]
fn an_owed_notice_is_kept_and_only_a_final_action_reads() {
    let text = render(&sample());
    assert!(text.contains(" warned=1 owed=failed\n"), "{text}");
    for (value, ok) in [
        ("failed", true),
        ("delivered", true),
        ("relayed", true),
        ("delayed", false),
        ("", false),
    ] {
        assert_eq!(
            with_field(&text, "owed=failed", value).is_ok(),
            ok,
            "{value:?}"
        );
    }
}

#[test]
fn why_a_recipient_was_given_up_and_its_status_are_kept() {
    let text = render(&sample());
    assert!(
        text.contains(" status=5.1.1 ended=attempts warned=1"),
        "{text}"
    );
    for (value, want) in [
        ("permanent", Some(GiveUp::Permanent)),
        ("attempts", Some(GiveUp::AttemptsUsedUp)),
        ("expired", Some(GiveUp::Expired)),
        ("later", None),
        ("", None),
    ] {
        let got = with_field(&text, "ended=attempts", value)
            .ok()
            .map(|e| e.recipients[1].gave_up);
        assert_eq!(got, want.map(Some), "{value:?}");
    }
    for (value, ok) in [
        ("4.4.7", true),
        ("2.0.0", true),
        ("9.1.1", false),
        ("5.1", false),
    ] {
        assert_eq!(
            with_field(&text, "status=5.1.1", value).is_ok(),
            ok,
            "{value:?}"
        );
    }
}

#[test]
fn files_written_before_kind_and_warned_still_read() {
    let old = "qksmtp-envelope 1\nid 019A8E2F1C3B4007\narrival 1764000000123456\nfrom a@x.test\n\
               client 127.0.0.1\nhelo h\nsize 10\nbody 7bit\nsmtputf8 0\n\
               rcpt b@y.test state=pending tries=1/0 next=1764000060000000 last=451%204.7.1\n";
    let env = parse(old).unwrap();
    assert_eq!(env.kind, MessageKind::Mail);
    assert!(!env.recipients[0].warned);
    assert_eq!(
        render(&env),
        old,
        "an unchanged old envelope renders identically"
    );
}

#[test]
fn encoding_keeps_lines_intact() {
    assert_eq!(encode("a b%c\nd"), "a%20b%25c%0Ad");
    assert_eq!(decode("a%20b%25c%0Ad").as_deref(), Some("a b%c\nd"));
    assert_eq!(encode("ü x"), "ü%20x");
    assert_eq!(decode("%4"), None);
}

/// Found by the `envelope` fuzz target: `from a@x.test@` read as local part `a@x.test`
/// with no domain, which rendered as `a@x.test` and read back as another address.
#[test]
fn an_address_that_would_not_read_back_the_same_is_damage() {
    let good = render(&sample());
    for bad in ["a@x.test@", "a@b@x.test", "@x.test", "a@", "a b@x.test"] {
        let text = good.replace("from alice@example.test", &format!("from {}", encode(bad)));
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, 4, "{bad:?} -> {e}");
    }
    let quoted = good.replace("from alice@", "from \"a@b\"@");
    let env = parse(&quoted).unwrap();
    assert_eq!(parse(&render(&env)), Ok(env));
}

#[test]
fn damage_is_reported_with_its_line() {
    let good = render(&sample());
    let cases: Vec<(String, usize)> = vec![
        (String::new(), 1),
        ("qksmtp-envelope 2\n".into(), 1),
        (good.replace("size 2048", "size lots"), 8),
        (good.replace("state=pending", "state=lost"), 15),
        (good.replace("id ", "id x"), 2),
        // Not a key any qksmtp writes: damage, not a newer version's key.
        (good.replace("\nsize ", "\n\nsize "), 8),
        (good.replace("\nsize ", "\nSize 1\nsize "), 8),
        (good.replace("state=pending", "state=pending Next=1"), 15),
        (good.lines().take(12).collect::<Vec<_>>().join("\n"), 12),
    ];
    for (text, line) in cases {
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, line, "{text:?} -> {e}");
    }
}

/// An envelope written by a newer qksmtp, with keys and recipient fields this one does not
/// know, reads as the same envelope without them (a downgrade with mail queued loses
/// nothing), and says what it skipped, once each.
#[test]
fn keys_of_a_newer_version_are_skipped_and_the_envelope_kept() {
    let good = render(&sample());
    // (the newer file, what is skipped)
    let table: &[(String, &[&str])] = &[
        (good.clone(), &[]),
        (
            good.replace("\nsize ", "\npriority high\nsize "),
            &["key \"priority\""],
        ),
        // At the end, without a value, and twice.
        (
            format!("{good}route_hint\nroute_hint mx2\n"),
            &["key \"route_hint\""],
        ),
        (
            good.replace("state=pending", "state=pending via=relay:isp"),
            &["recipient field \"via\""],
        ),
        (
            good.replace(" tries=", " x_2=1 tries=")
                .replace("\nhelo ", "\nsource_port 2525\nhelo "),
            &["key \"source_port\"", "recipient field \"x_2\""],
        ),
    ];
    for (text, skipped) in table {
        let (env, said) = read(text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        assert_eq!(env, sample(), "{text}");
        assert_eq!(said, *skipped, "{text}");
        // What this version writes back is its own format, read as before.
        assert_eq!(parse(&render(&env)), Ok(sample()));
    }
}

#[test]
fn a_key_given_twice_is_damage_not_a_value_to_take() {
    let good = render(&sample());
    let twice = |key: &str| {
        let line = good.lines().find(|l| l.starts_with(key)).unwrap();
        good.replacen(line, &format!("{line}\n{line}"), 1)
    };
    for key in ["from ", "id ", "size ", "client "] {
        let e = parse(&twice(key)).unwrap_err();
        assert!(e.message.contains("given twice"), "{key}: {e}");
    }
    let held = good.replace("\nsize ", "\nheld 1\nheld 0\nsize ");
    assert!(
        parse(&held)
            .unwrap_err()
            .message
            .contains("held given twice")
    );
    let field = good.replacen("state=pending", "state=pending state=delivered", 1);
    let e = parse(&field).unwrap_err();
    assert!(
        e.message.contains("recipient field state given twice"),
        "{e}"
    );
    // Several recipients stay allowed.
    assert_eq!(
        parse(&good).unwrap().recipients.len(),
        sample().recipients.len()
    );
}
