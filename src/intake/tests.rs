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
            kind: crate::spool::envelope::MessageKind::Mail,
        };
        let env = intake.accept(sub, content, Timestamp::now()).unwrap();
        (spool.read_message(&env.id).unwrap(), env)
    };
    let (stored, env) = submit("mail.example.test", b"From: Alice <alice@mail.example.test>\r\nTo: bob@b.test\r\nSubject: through intake\r\n\r\nHello.\r\n");
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
