//! Client conversations without TLS against the scripted fake server over real sockets:
//! pipelined and one-at-a-time delivery (timing), all recipients refused, timeouts, a refused
//! connection and drops. The protocol-only cases are in `memory`.

use super::*;
use crate::client::{Client, FailureKind, OutgoingMessage};
use std::time::Instant;

const CONTENT: &[u8] = b"Subject: hi\r\n\r\nhello\r\n";

#[test]
fn pipelined_delivery_sends_mail_rcpt_data_in_one_go() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&["PIPELINING", "SIZE 1000000", "8BITMIME"]);
        // No reply before all four commands are here: a client that waits for the MAIL
        // reply before sending RCPT would time out.
        let lines = [p.line(), p.line(), p.line(), p.line()];
        p.send("250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go\r\n");
        let data = p.data();
        p.send("250 2.0.0 queued as X1\r\n");
        p.bye();
        (lines, data)
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
    assert!(client.extensions().pipelining);
    let result = send_to(&mut client, &["b@y.test", "c@y.test"], CONTENT, &mut record).unwrap();
    client.quit(&mut record);
    let (lines, data) = server.join().unwrap();
    assert_eq!(
        lines,
        [
            "MAIL FROM:<a@x.test> SIZE=22".to_string(),
            "RCPT TO:<b@y.test>".into(),
            "RCPT TO:<c@y.test>".into(),
            "DATA".into()
        ]
    );
    assert_eq!(data, b"Subject: hi\r\n\r\nhello\r\n.\r\n");
    assert_eq!(result.recipients.len(), 2);
    assert!(result.recipients.iter().all(|r| r.code == 250));
    assert_eq!(result.data.unwrap().lines, vec!["queued as X1"]);
    use StepKind::*;
    assert_eq!(
        kinds(&record),
        [
            Connect, Greeting, Ehlo, StartTls, Mail, Rcpt, Rcpt, Data, DataDone, Quit
        ]
    );
    assert!(record.steps.iter().all(|s| s.ok), "{}", record.render());
    assert!(record.steps[4].detail.contains("[pipelined, 4 commands]"));
}

#[test]
fn without_pipelining_one_command_at_a_time() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&["SIZE", "8BITMIME"]);
        p.expect("MAIL FROM:<a@x.test> SIZE=22 BODY=8BITMIME");
        assert!(p.silent_for(200), "RCPT sent before the MAIL reply");
        p.send("250 ok\r\n");
        p.expect("RCPT TO:<b@y.test>");
        assert!(p.silent_for(200), "DATA sent before the RCPT reply");
        p.send("250 ok\r\n");
        p.expect("DATA");
        assert!(p.silent_for(200), "data sent before 354");
        p.send("354 go\r\n");
        p.data();
        p.send("250 queued\r\n");
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
    let mut p = params();
    p.body = crate::smtp::Body::EightBitMime;
    let msg = OutgoingMessage {
        sender: &sender(),
        params: &p,
        recipients: &rcpts,
        content: CONTENT,
    };
    let result = client.send(&msg, &mut record).unwrap();
    assert_eq!(result.data.unwrap().code, 250);
    client.quit(&mut record);
    server.join().unwrap();
}

#[test]
fn all_recipients_refused_pipelined_sends_rset_not_data() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&["PIPELINING"]);
        for _ in 0..3 {
            p.line();
        }
        p.send("250 ok\r\n550 5.1.1 no\r\n554 5.5.1 no valid recipients\r\n");
        p.expect("RSET");
        p.send("250 ok\r\n");
        p.bye();
        p.received
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
    let result = send_to(&mut client, &["nobody@y.test"], CONTENT, &mut record).unwrap();
    assert_eq!(result.recipients[0].code, 550);
    assert_eq!(result.data, None);
    assert!(client.is_usable());
    client.quit(&mut record);
    let received = server.join().unwrap();
    assert_eq!(received.last().unwrap(), "QUIT");
}

#[test]
fn all_recipients_refused_one_at_a_time_never_sends_data() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&[]);
        p.expect("MAIL");
        p.send("250 ok\r\n");
        p.expect("RCPT");
        p.send("550 5.1.1 no\r\n");
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
    let result = send_to(&mut client, &["nobody@y.test"], CONTENT, &mut record).unwrap();
    assert_eq!((result.recipients[0].code, result.data), (550, None));
    client.quit(&mut record);
    server.join().unwrap();
}

#[test]
fn silent_server_times_out_at_the_greeting() {
    let (addr, server) = fake(|l| {
        let _p = accept(l);
        thread::sleep(Duration::from_millis(1500));
    });
    let mut record = Record::new();
    let mut s = settings(TlsPolicy::Opportunistic);
    s.timeouts.greeting = Duration::from_millis(300);
    let start = Instant::now();
    let failure = Client::connect(&Network, addr, "", &s, &mut record)
        .err()
        .unwrap();
    assert!(start.elapsed() < Duration::from_millis(1200));
    assert_eq!(
        (failure.step, failure.kind),
        (StepKind::Greeting, FailureKind::Timeout)
    );
    assert_eq!(record.last_failed().unwrap().detail, "greeting: timed out");
    server.join().unwrap();
}

#[test]
fn refused_connection() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut record = Record::new();
    let failure = Client::connect(
        &Network,
        addr,
        "",
        &settings(TlsPolicy::Opportunistic),
        &mut record,
    )
    .err()
    .unwrap();
    assert_eq!(
        (failure.step, failure.kind),
        (StepKind::Connect, FailureKind::ConnectRefused)
    );
}

#[test]
fn disconnect_in_data() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&["PIPELINING"]);
        for _ in 0..3 {
            p.line();
        }
        p.send("250 ok\r\n250 ok\r\n354 go\r\n");
        p.data();
        // Gone without a final reply.
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
    let failure = send_to(&mut client, &["b@y.test"], CONTENT, &mut record).unwrap_err();
    assert_eq!(
        (failure.step, failure.kind),
        (StepKind::DataDone, FailureKind::Closed)
    );
    assert!(!client.is_usable());
    server.join().unwrap();
}
