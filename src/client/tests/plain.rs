//! Client conversations without TLS against the scripted fake server: pipelined and
//! one-at-a-time delivery, recipient refusals, dot-stuffing, SIZE, greeting failures,
//! timeouts, drops and the HELO fallback.

use super::*;
use crate::client::{Client, FailureKind, OutgoingMessage};
use crate::smtp::reply::Enhanced;
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
fn mixed_recipient_results() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&["PIPELINING"]);
        for _ in 0..4 {
            p.line();
        }
        p.send("250 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n354 go\r\n");
        p.data();
        p.send("250 2.0.0 queued\r\n");
        p.bye();
    });
    let mut record = Record::new();
    let mut client = Client::connect(
        addr,
        "mx.test",
        &settings(TlsPolicy::Opportunistic),
        &mut record,
    )
    .unwrap();
    let result = send_to(
        &mut client,
        &["b@y.test", "nobody@y.test"],
        CONTENT,
        &mut record,
    )
    .unwrap();
    assert_eq!(result.recipients[0].code, 250);
    assert_eq!(result.recipients[1].code, 550);
    assert_eq!(result.recipients[1].enhanced, Some(Enhanced::new(5, 1, 1)));
    assert_eq!(result.recipients[1].lines, vec!["no such user"]);
    assert_eq!(result.data.unwrap().code, 250);
    let refused = record.last_failed().unwrap();
    assert_eq!(
        (refused.kind, refused.detail.as_str()),
        (StepKind::Rcpt, "RCPT TO:<nobody@y.test>")
    );
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
fn dot_stuffing_on_the_wire() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&[]);
        for reply in ["250 ok\r\n", "250 ok\r\n", "354 go\r\n"] {
            p.line();
            p.send(reply);
        }
        let data = p.data();
        p.send("250 ok\r\n");
        p.bye();
        data
    });
    let mut record = Record::new();
    let mut client = Client::connect(
        addr,
        "mx.test",
        &settings(TlsPolicy::Opportunistic),
        &mut record,
    )
    .unwrap();
    let rcpts = recipients(&["b@y.test"]);
    let content = b".starts with a dot\r\nmiddle\r\n.\r\n..two\r\nno final line end";
    let msg = OutgoingMessage {
        sender: &sender(),
        params: &params(),
        recipients: &rcpts,
        content,
    };
    client.send(&msg, &mut record).unwrap();
    client.quit(&mut record);
    assert_eq!(
        String::from_utf8(server.join().unwrap()).unwrap(),
        "..starts with a dot\r\nmiddle\r\n..\r\n...two\r\nno final line end\r\n.\r\n"
    );
}

#[test]
fn too_big_for_the_servers_size_is_refused_before_sending() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&["SIZE 10"]);
        p.bye();
    });
    let mut record = Record::new();
    let mut client = Client::connect(
        addr,
        "mx.test",
        &settings(TlsPolicy::Opportunistic),
        &mut record,
    )
    .unwrap();
    let failure = send_to(&mut client, &["b@y.test"], CONTENT, &mut record).unwrap_err();
    assert_eq!(failure.step, StepKind::Mail);
    let reply = failure.reply().unwrap();
    assert_eq!(
        (reply.code, reply.enhanced),
        (552, Some(Enhanced::new(5, 3, 4)))
    );
    assert!(client.is_usable());
    client.quit(&mut record);
    server.join().unwrap();
}

#[test]
fn needs_smtputf8_but_not_offered() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&["8BITMIME"]);
        p.bye();
    });
    let mut record = Record::new();
    let mut client = Client::connect(
        addr,
        "mx.test",
        &settings(TlsPolicy::Opportunistic),
        &mut record,
    )
    .unwrap();
    let failure = send_to(&mut client, &["jörg@y.test"], CONTENT, &mut record).unwrap_err();
    let reply = failure.reply().unwrap();
    assert_eq!(
        (reply.code, reply.enhanced),
        (553, Some(Enhanced::new(5, 6, 7)))
    );
    client.quit(&mut record);
    server.join().unwrap();
}

#[test]
fn greeting_421_is_a_failure_at_the_greeting() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.send("421 4.3.2 too busy\r\n");
    });
    let mut record = Record::new();
    let failure = Client::connect(addr, "", &settings(TlsPolicy::Opportunistic), &mut record)
        .err()
        .unwrap();
    assert_eq!(failure.step, StepKind::Greeting);
    assert_eq!(failure.reply().unwrap().one_line(), "421 4.3.2 too busy");
    assert!(!record.steps[1].ok);
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
    let failure = Client::connect(addr, "", &s, &mut record).err().unwrap();
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
    let failure = Client::connect(addr, "", &settings(TlsPolicy::Opportunistic), &mut record)
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

#[test]
fn ehlo_refused_falls_back_to_helo() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.send("220 old.test SMTP\r\n");
        p.expect("EHLO client.test");
        p.send("502 5.5.1 command not implemented\r\n");
        p.expect("HELO client.test");
        p.send("250 old.test\r\n");
        p.expect("MAIL FROM:<a@x.test>");
        p.send("250 ok\r\n");
        p.received
    });
    let mut record = Record::new();
    let mut client = Client::connect(
        addr,
        "old.test",
        &settings(TlsPolicy::Opportunistic),
        &mut record,
    )
    .unwrap();
    assert_eq!(client.extensions(), &crate::client::Extensions::default());
    use StepKind::*;
    assert_eq!(kinds(&record), [Connect, Greeting, Ehlo, Helo, StartTls]);
    let rcpts = recipients(&["b@y.test"]);
    let msg = OutgoingMessage {
        sender: &sender(),
        params: &params(),
        recipients: &rcpts,
        content: CONTENT,
    };
    // The fake server stops after MAIL: the client sees the drop at RCPT.
    let failure = client.send(&msg, &mut record).unwrap_err();
    assert_eq!(failure.step, StepKind::Rcpt);
    let received = server.join().unwrap();
    assert_eq!(received.last().unwrap(), "MAIL FROM:<a@x.test>");
}

/// Found by the network fault tests: a 421 to a pipelined MAIL was reported as "the server
/// closed the connection" at RCPT (or a timeout), not as the 421 the server gave.
#[test]
fn a_421_in_a_pipelined_group_is_the_failure_and_ends_the_client() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&["PIPELINING"]);
        let _ = [p.line(), p.line(), p.line()];
        p.send("421 4.3.2 shutting down\r\n");
    });
    let mut record = Record::new();
    let settings = settings(TlsPolicy::Opportunistic);
    let mut client = Client::connect(addr, "mx.test", &settings, &mut record).unwrap();
    let failure = send_to(&mut client, &["b@y.test"], CONTENT, &mut record).unwrap_err();
    assert_eq!(failure.step, StepKind::Mail);
    assert_eq!(
        failure.reply().unwrap().one_line(),
        "421 4.3.2 shutting down"
    );
    assert!(!client.is_usable());
    server.join().unwrap();
}
