//! Transactions over one kept connection and their parameters: two messages on one
//! connection, RSET after a refused MAIL, DSN parameters only when DSN is offered.

use super::*;
use crate::client::{Client, OutgoingMessage};
use crate::smtp::reply::Enhanced;
use crate::smtp::{Notify, Orcpt, Ret};

const CONTENT: &[u8] = b"Subject: hi\r\n\r\nhello\r\n";

#[test]
fn one_connection_for_two_messages_and_rset_after_a_refusal() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&["PIPELINING"]);
        for round in 0..2 {
            for _ in 0..3 {
                p.line();
            }
            p.send("250 ok\r\n250 ok\r\n354 go\r\n");
            p.data();
            p.send(&format!("250 queued {round}\r\n"));
        }
        for _ in 0..3 {
            p.line();
        }
        p.send("550 5.7.1 sender blocked\r\n503 5.5.1 no sender\r\n503 5.5.1 no sender\r\n");
        p.expect("RSET");
        p.send("250 ok\r\n");
        p.bye();
    });
    let mut record = Record::new();
    let mut client = Client::connect(
        &Network,
        addr,
        "mx.test",
        &settings(TlsPolicy::Opportunistic),
        &mut record,
    )
    .unwrap();
    let rcpts = recipients(&["b@y.test"]);
    let msg = OutgoingMessage {
        sender: &sender(),
        params: &params(),
        recipients: &rcpts,
        content: CONTENT,
    };
    for round in 0..2 {
        let result = client.send(&msg, &mut record).unwrap();
        assert_eq!(result.data.unwrap().lines, vec![format!("queued {round}")]);
    }
    let failure = client.send(&msg, &mut record).unwrap_err();
    assert_eq!(failure.step, StepKind::Mail);
    assert_eq!(
        failure.reply().unwrap().enhanced,
        Some(Enhanced::new(5, 7, 1))
    );
    assert!(client.is_usable());
    client.quit(&mut record);
    server.join().unwrap();
}

/// Runs one delivery against a server offering `extensions`; returns MAIL and RCPT lines.
fn envelope_lines(extensions: &'static [&'static str]) -> (String, String) {
    let (addr, server) = fake(move |l| {
        let mut p = accept(l);
        p.greet(extensions);
        let mail = p.line();
        p.send("250 ok\r\n");
        let rcpt = p.line();
        p.send("250 ok\r\n");
        p.expect("DATA");
        p.send("354 go\r\n");
        p.data();
        p.send("250 ok\r\n");
        p.bye();
        (mail, rcpt)
    });
    let mut record = Record::new();
    let mut client = Client::connect(
        &Network,
        addr,
        "mx.test",
        &settings(TlsPolicy::Opportunistic),
        &mut record,
    )
    .unwrap();
    let mut rcpts = recipients(&["b@y.test"]);
    rcpts[0].notify = Some(Notify::On {
        success: true,
        failure: true,
        delay: false,
    });
    rcpts[0].orcpt = Some(Orcpt {
        addr_type: "rfc822".into(),
        address: "b+1@y.test".into(),
    });
    let p = MailParams {
        ret: Some(Ret::Headers),
        envid: Some("Q1=x".into()),
        ..params()
    };
    let msg = OutgoingMessage {
        sender: &sender(),
        params: &p,
        recipients: &rcpts,
        content: CONTENT,
    };
    client.send(&msg, &mut record).unwrap();
    client.quit(&mut record);
    server.join().unwrap()
}

#[test]
fn dsn_parameters_only_when_offered() {
    assert_eq!(
        envelope_lines(&["DSN"]),
        (
            "MAIL FROM:<a@x.test> RET=HDRS ENVID=Q1+3Dx".to_string(),
            "RCPT TO:<b@y.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2B1@y.test".to_string()
        )
    );
    assert_eq!(
        envelope_lines(&["8BITMIME"]),
        (
            "MAIL FROM:<a@x.test>".to_string(),
            "RCPT TO:<b@y.test>".to_string()
        )
    );
}
