//! The intake's seal step with real keys: what is stored is signed on top of the headers the
//! intake added, and a verifier nobody here wrote (dkimpy) accepts the stored bytes.

use super::*;
use crate::dkim::tests::dkimpy::dkimpy;
use crate::dkim::tests::{ed25519, record, rsa};

/// The seal step: a submission through `Intake::accept` is stored with our signatures on top
/// of the Received, Message-ID and Date the intake added, and dkimpy verifies the stored bytes
/// (what leaves); a message from a domain without a key is stored unsigned.
#[test]
fn intake_stores_a_message_that_dkimpy_verifies() {
    use crate::smtp::{Address, MailParams, ReversePath};
    use crate::spool::{Spool, envelope::Recipient};
    let dir = std::env::temp_dir().join(format!("qksmtp-dkim-intake-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let spool = std::sync::Arc::new(Spool::open(&dir).unwrap());
    let (config, _) =
        crate::config::load::parse("", &dir.join("qksmtp.ini"), "mx.example.test").unwrap();
    let signers = vec![
        Signer::new("example.test", "rsa", rsa()).unwrap(),
        Signer::new("example.test", "ed", ed25519()).unwrap(),
    ];
    let records: String = signers.iter().map(record).collect();
    let intake =
        Intake::new(spool.clone(), crate::config::Live::new(config), None).with_signers(signers);
    let submit = |from: &str, content: &[u8]| {
        let sub = Submission {
            sender: ReversePath::Mailbox(Address::new("alice", from)),
            params: MailParams::default(),
            recipients: vec![Recipient::new(Address::new("bob", "b.test"), None, None)],
            helo: "laptop.test".into(),
            client_ip: "127.0.0.1".parse().unwrap(),
            auth_user: None,
            local_user: None,
            protocol: "ESMTP".into(),
            tls: None,
            kind: crate::spool::envelope::MessageKind::Mail,
        };
        let env = intake.accept(sub, content, Timestamp::now()).unwrap();
        (spool.read_message(&env.id).unwrap(), env)
    };
    let (stored, env) = submit("mail.example.test", b"From: Alice <alice@mail.example.test>\r\nTo: bob@b.test\r\nSubject: through intake\r\n\r\nHello.\r\n");
    assert_eq!(
        env.subject.as_deref(),
        Some("through intake"),
        "kept beside it"
    );
    let text = String::from_utf8_lossy(&stored).into_owned();
    let heads: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(['\t', ' ']))
        .take(5)
        .collect();
    assert!(
        heads[0].starts_with("DKIM-Signature: v=1; a=rsa-sha256;"),
        "{text}"
    );
    assert!(
        heads[1].starts_with("DKIM-Signature: v=1; a=ed25519-sha256;"),
        "{text}"
    );
    assert!(heads[2].starts_with("Received: from laptop.test"), "{text}");
    assert!(
        text.contains("h=From:From:To:Subject:Date:Message-ID;"),
        "{text}"
    );
    assert_eq!(env.size, stored.len() as u64);
    if let Some(verdicts) = dkimpy(&stored, &records) {
        assert_eq!(verdicts, [true, true], "{text}");
    }
    let (unsigned, _) = submit("elsewhere.test", b"From: x@elsewhere.test\r\n\r\nHi.\r\n");
    assert!(
        unsigned.starts_with(b"Received: "),
        "{}",
        String::from_utf8_lossy(&unsigned)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The stored bytes without the DKIM-Signature fields, with `id` written as `ID`; and the
/// `bh=` values of those fields, in order.
fn unsigned_and_body_hashes(stored: &[u8], id: &str) -> (String, Vec<String>) {
    let text = String::from_utf8_lossy(stored);
    let mut rest = String::new();
    let mut hashes = Vec::new();
    let mut in_signature = false;
    let mut in_header = true;
    for line in text.split_inclusive("\r\n") {
        if in_header && line == "\r\n" {
            in_header = false;
        }
        let continued = line.starts_with([' ', '\t']);
        if in_header && (line.starts_with("DKIM-Signature:") || (in_signature && continued)) {
            in_signature = true;
            if let Some(at) = line.find("bh=") {
                let value = &line[at + 3..];
                hashes.push(value[..value.find(';').unwrap()].to_string());
            }
            continue;
        }
        in_signature = false;
        rest.push_str(&line.replace(id, "ID"));
    }
    (rest, hashes)
}

/// A message received into a file is stored as the same message received in memory: the same
/// Received, Message-ID and Date, the same empty line added or not, the same body hash for both
/// canonicalizations, the same hop limit; and dkimpy verifies it. Each content is written to
/// the file in pieces of several sizes.
#[test]
fn a_message_in_a_file_is_stored_as_the_same_message_in_memory() {
    use crate::dkim::Canon;
    use crate::smtp::{Address, MailParams, ReversePath};
    use crate::spool::{Spool, envelope::Recipient};
    let dir = std::env::temp_dir().join(format!("qksmtp-intake-spill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let spool = std::sync::Arc::new(Spool::open(&dir).unwrap());
    let (config, _) =
        crate::config::load::parse("", &dir.join("qksmtp.ini"), "mx.example.test").unwrap();
    let mut simple = Signer::new("example.test", "ed", ed25519()).unwrap();
    simple.canonicalization = (Canon::Simple, Canon::Simple);
    let signers = vec![Signer::new("example.test", "rsa", rsa()).unwrap(), simple];
    let records: String = signers.iter().map(record).collect();
    let intake = Intake::new(
        spool.clone(),
        crate::config::Live::new(config.clone()),
        None,
    )
    .with_signers(signers.clone());
    let sub = Submission {
        sender: ReversePath::Mailbox(Address::new("alice", "example.test")),
        params: MailParams::default(),
        recipients: vec![Recipient::new(Address::new("bob", "b.test"), None, None)],
        helo: "laptop.test".into(),
        client_ip: "127.0.0.1".parse().unwrap(),
        auth_user: None,
        local_user: None,
        protocol: "ESMTP".into(),
        tls: None,
        kind: crate::spool::envelope::MessageKind::Mail,
    };
    let big_body: String = (0..20_000)
        .map(|n| {
            format!(
                "line {n}  with  spaces \t\r\n{}",
                if n % 7 == 0 { "\r\n" } else { "" }
            )
        })
        .collect();
    let from = "From: Alice <alice@example.test>\r\nSubject: s\r\n";
    let contents: Vec<Vec<u8>> = vec![
        format!("{from}\r\n{big_body}\r\n\r\n").into_bytes(),
        format!("{from}Date: x\r\nMessage-ID: <m@x>\r\n\r\nHi.\r\n").into_bytes(),
        format!("{from}not a header line\r\n{big_body}").into_bytes(),
        from.as_bytes().to_vec(),
        format!("{from}\r\n").into_bytes(),
        b"just a body, no From\r\n".to_vec(),
        b"".to_vec(),
    ];
    let now = Timestamp::from_secs(1_796_000_000);
    for content in &contents {
        let shown = String::from_utf8_lossy(&content[..content.len().min(60)]).into_owned();
        let env = intake.accept(sub.clone(), content, now).unwrap();
        let subject = content.starts_with(b"From").then(|| "s".to_string());
        assert_eq!(env.subject, Some(subject.unwrap_or_default()), "{shown}");
        let want = unsigned_and_body_hashes(&spool.read_message(&env.id).unwrap(), env.id.as_str());
        for piece in [1usize, 7, 4096, 1 << 20] {
            if piece == 1 && content.len() > 1000 {
                continue;
            }
            let mut spill = spool.spill().unwrap();
            for p in content.chunks(piece) {
                spill.write(p).unwrap();
            }
            let (spilled, _) = intake
                .commit_spilled(&config, &signers, &sub, &spill, now)
                .unwrap();
            let stored = spool.read_message(&spilled.id).unwrap();
            assert_eq!(spilled.size, stored.len() as u64, "{shown}");
            assert_eq!(spilled.subject, env.subject, "{shown}");
            let got = unsigned_and_body_hashes(&stored, spilled.id.as_str());
            assert_eq!(got, want, "{shown} pieces of {piece}");
            if piece == 4096
                && content.starts_with(b"From")
                && let Some(verdicts) = dkimpy(&stored, &records)
            {
                assert_eq!(verdicts, [true, true], "{shown}");
            }
        }
    }
    // The hop limit holds the same.
    let looped = "Received: from a.test by b.test; x\r\n".repeat(51) + "\r\nbody\r\n";
    let mut spill = spool.spill().unwrap();
    spill.write(looped.as_bytes()).unwrap();
    let refused = intake.commit_spilled(&config, &signers, &sub, &spill, now);
    assert!(matches!(refused, Err(IntakeError::TooManyHops(_))));
    let _ = std::fs::remove_dir_all(&dir);
}
