//! The fake MX the delivery tests use, tested on its own with a plain TCP (and TLS) client:
//! pipelined transactions, the magic local parts, STARTTLS, AUTH, greetings, the script of
//! misbehaviour, and shutdown.

mod common;
use common::fake_mx::*;
use common::*;
use std::net::TcpStream;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

fn connect(mx: &FakeMx) -> Client {
    Client::new(TcpStream::connect(mx.addr).unwrap())
}

#[test]
fn pipelined_transaction_is_recorded() {
    let mx = FakeMx::start(Options::new());
    let mut c = connect(&mx);
    let ehlo = c.hello();
    assert!(ehlo.starts_with("250-mx.fake.test"), "{ehlo}");
    assert!(ehlo.contains("PIPELINING"), "{ehlo}");
    assert!(ehlo.contains("SIZE 10485760"), "{ehlo}");
    assert!(!ehlo.contains("DSN") && !ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"));
    assert!(ehlo.ends_with("250 ENHANCEDSTATUSCODES"), "{ehlo}");

    c.send(
        "MAIL FROM:<a@x.test> SIZE=20\r\nRCPT TO:<b@x.test> NOTIFY=NEVER\r\n\
         RCPT TO:<PermFail@x.test>\r\nRCPT TO:<policy@x.test>\r\nDATA\r\n",
    );
    assert_eq!(c.reply(), "250 2.1.0 Ok");
    assert_eq!(c.reply(), "250 2.1.5 Ok");
    assert!(c.reply().starts_with("550 5.1.1"));
    assert!(c.reply().starts_with("550 5.7.1"));
    assert!(c.reply().starts_with("354"));
    c.send("Subject: hi\r\n\r\n..dot\r\nline\r\n.\r\nQUIT\r\n");
    assert_eq!(c.reply(), "250 2.0.0 Ok: queued as fake-1");
    assert!(c.reply().starts_with("221"));
    assert!(c.closed());

    let d = mx.wait_deliveries(1, T);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].session, 0);
    assert_eq!(d[0].mail_from, "<a@x.test> SIZE=20");
    assert_eq!(d[0].sender_addr(), "a@x.test");
    assert_eq!(d[0].rcpts, vec!["<b@x.test> NOTIFY=NEVER".to_string()]);
    assert_eq!(d[0].rcpt_addrs(), vec!["b@x.test".to_string()]);
    assert_eq!(d[0].text(), "Subject: hi\r\n\r\n.dot\r\nline\r\n");
    assert!(!d[0].tls && d[0].auth_user.is_none());

    assert!(mx.wait_sessions_ended(1, T));
    let s = &mx.sessions()[0];
    assert_eq!(s.ehlo.as_deref(), Some("client.qksmtp.test"));
    assert_eq!(s.lines.len(), 7, "{:?}", s.lines);
    assert_eq!(s.reads[0], vec!["EHLO client.qksmtp.test".to_string()]);
    assert_eq!(
        s.reads[1].len(),
        5,
        "MAIL+RCPTs+DATA in one read: {:?}",
        s.reads
    );
    assert_eq!(s.reads[1][4], "DATA");
    assert_eq!(s.reads[2], vec!["QUIT".to_string()]);
    assert_eq!(mx.current_sessions(), 0);
}

#[test]
fn empty_message_and_state_errors() {
    let mx = FakeMx::start(Options::new());
    let mut c = connect(&mx);
    assert!(c.reply().starts_with("220 mx.fake.test ESMTP fake"));
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("503"));
    assert!(c.cmd("HELO client.qksmtp.test").starts_with("250"));
    assert!(c.cmd("RCPT TO:<b@x.test>").starts_with("503"));
    assert!(c.cmd("DATA").starts_with("503"));
    assert!(c.cmd("MAIL FROM:<>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("554 5.5.1"));
    assert!(c.cmd("RCPT TO:<b@x.test>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    assert_eq!(c.cmd("."), "250 2.0.0 Ok: queued as fake-1");
    assert!(c.cmd("NOOP").starts_with("250"));
    assert!(c.cmd("RSET").starts_with("250"));
    assert!(c.cmd("VRFY x").starts_with("500"));
    let d = mx.wait_deliveries(1, T);
    assert_eq!(d[0].mail_from, "<>");
    assert!(d[0].data.is_empty());
}

#[test]
fn tempfail_once_then_ok() {
    let mx = FakeMx::start(Options::new());
    let mut c = connect(&mx);
    c.hello();
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<tempfail@x.test>").starts_with("451 4.7.1"));
    assert!(c.cmd("RCPT TO:<tempfail@x.test>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<tempfail@y.test>").starts_with("451 4.7.1"));
    drop(c);

    let mut c = connect(&mx);
    c.hello();
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<tempfail@y.test>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    assert!(c.cmd("hello\r\n.").starts_with("250"));
    let d = mx.wait_deliveries(1, T);
    assert_eq!(d[0].session, 1);
    assert_eq!(d[0].rcpts, vec!["<tempfail@y.test>".to_string()]);

    let all = FakeMx::start(Options {
        tempfail_all: true,
        ..Options::new()
    });
    let mut c = connect(&all);
    c.hello();
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<b@x.test>").starts_with("451 4.3.0"));
}

#[test]
fn starttls_and_auth_plain() {
    let dir = TempDir::new("fake-mx-tls");
    let mx = FakeMx::start(Options {
        tls: Some(make_cert(dir.path())),
        auth: Some(("user".into(), "secret".into())),
        dsn: true,
        ..Options::new()
    });
    let mut c = connect(&mx);
    let ehlo = c.hello();
    assert!(ehlo.contains("STARTTLS") && ehlo.contains("AUTH PLAIN LOGIN"));
    assert!(ehlo.contains("DSN"));
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("530 5.7.0"));
    // Pipelined junk after STARTTLS must be dropped.
    c.send("STARTTLS\r\nNOOP\r\n");
    assert!(c.reply().starts_with("220"));

    let mut s = TlsClient::handshake(c.stream.try_clone().unwrap());
    let ehlo = s.cmd("EHLO client.qksmtp.test");
    assert!(
        !ehlo.contains("STARTTLS") && ehlo.contains("AUTH PLAIN LOGIN"),
        "{ehlo}"
    );
    let bad = b64(b"\0user\0wrong");
    assert!(s.cmd(&format!("AUTH PLAIN {bad}")).starts_with("535 5.7.8"));
    let good = b64(b"\0user\0secret");
    assert!(s.cmd("AUTH PLAIN").starts_with("334"));
    assert!(s.cmd(&good).starts_with("235 2.7.0"));
    assert!(s.cmd("MAIL FROM:<a@x.test> RET=HDRS").starts_with("250"));
    assert!(s.cmd("RCPT TO:<b@x.test>").starts_with("250"));
    assert!(s.cmd("DATA").starts_with("354"));
    assert!(s.cmd("secret stuff\r\n.").starts_with("250"));
    assert!(s.cmd("QUIT").starts_with("221"));

    let d = mx.wait_deliveries(1, T);
    assert!(d[0].tls);
    assert_eq!(d[0].auth_user.as_deref(), Some("user"));
    assert_eq!(d[0].text(), "secret stuff\r\n");
    assert!(mx.wait_sessions_ended(1, T));
    let log = &mx.sessions()[0];
    assert!(log.tls);
    assert!(log.lines.contains(&good), "{:?}", log.lines);
    assert!(!log.lines.iter().any(|l| l == "NOOP"), "{:?}", log.lines);
}

#[test]
fn auth_login() {
    let mx = FakeMx::start(Options {
        auth: Some(("user".into(), "secret".into())),
        ..Options::new()
    });
    let mut c = connect(&mx);
    c.hello();
    assert_eq!(c.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6");
    assert_eq!(c.cmd(&b64(b"user")), "334 UGFzc3dvcmQ6");
    assert!(c.cmd(&b64(b"nope")).starts_with("535 5.7.8"));
    assert_eq!(
        c.cmd(&format!("AUTH LOGIN {}", b64(b"user"))),
        "334 UGFzc3dvcmQ6"
    );
    assert!(c.cmd(&b64(b"secret")).starts_with("235"));
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("250"));
    assert_eq!(b64_decode("dXNlcg==").unwrap(), b"user");
    assert_eq!(b64_decode("dXNlcg").unwrap(), b"user");
}

#[test]
fn refusing_greetings() {
    let mx = FakeMx::start(Options {
        greeting: Some("421 4.3.2 busy".into()),
        ..Options::new()
    });
    let mut c = connect(&mx);
    assert_eq!(c.reply(), "421 4.3.2 busy");
    assert!(c.closed());

    let mx = FakeMx::start(Options {
        greeting: Some("554 5.7.1 go away".into()),
        ..Options::new()
    });
    let mut c = connect(&mx);
    assert_eq!(c.reply(), "554 5.7.1 go away");
    assert!(c.cmd("EHLO client.qksmtp.test").starts_with("503"));
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("503"));
    assert!(c.cmd("QUIT").starts_with("221"));
    assert!(c.closed());
}

#[test]
fn disconnect_in_data_and_client_disconnects() {
    let mx = FakeMx::start(Options::new());
    let mut c = connect(&mx);
    c.hello();
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("250"));
    assert!(
        c.cmd("RCPT TO:<Disconnect-In-Data@x.test>")
            .starts_with("250")
    );
    assert!(c.cmd("DATA").starts_with("354"));
    c.send("Subject: x\r\n\r\nbody\r\n.\r\n");
    assert_eq!(c.reply(), "");

    // Clients vanishing mid-command, mid-data, and mid-AUTH.
    let mut c = connect(&mx);
    c.hello();
    c.send("MAIL FROM:<a@x");
    drop(c);
    let mut c = connect(&mx);
    c.hello();
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<b@x.test>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    c.send("half a message\r\n");
    drop(c);

    assert!(mx.wait_sessions_ended(3, T), "{}", mx.transcript());
    assert!(mx.deliveries().is_empty());
    assert_eq!(mx.current_sessions(), 0);
}

#[test]
fn concurrency_is_counted_and_drop_stops() {
    let mx = FakeMx::start(Options::new());
    let addr = mx.addr;
    let threads: Vec<_> = (0..3)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Client::new(TcpStream::connect(addr).unwrap());
                c.hello();
                c.send_mail(
                    "a@x.test",
                    &["slow@x.test"],
                    &format!("Subject: {i}\r\n\r\nx\r\n.\r\n"),
                )
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap().starts_with("250"));
    }
    assert_eq!(mx.wait_deliveries(3, T).len(), 3);
    assert!(mx.max_concurrent() >= 2, "{}", mx.max_concurrent());
    assert!(!mx.wait_until(Duration::from_millis(50), |d, _| d.len() > 3));

    // An open session is cut when the FakeMx goes away, and nothing listens any more.
    let mut idle = connect(&mx);
    idle.hello();
    drop(mx);
    assert!(idle.closed());
    assert!(TcpStream::connect(addr).is_err());
}

/// The script, step by step: (rules, what a client does, the replies it gets in order; ""
/// is the connection closed).
#[test]
fn the_script_takes_over_where_it_says() {
    let close = |t: &str| Act::ReplyClose(t.to_string());
    let reply = |t: &str| Act::Reply(t.to_string());
    let mail_rcpts = "EHLO client.qksmtp.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nRCPT TO:<d@x.test>\r\n";
    #[rustfmt::skip]
    let cases: Vec<(Vec<Rule>, &str, Vec<&str>)> = vec![
        (vec![Rule::new(Step::Greeting, close("421 4.7.0 throttled")).sessions(0..1)],
         "", vec!["421 4.7.0 throttled", ""]),
        (vec![Rule::new(Step::Rcpt, reply("452 4.5.3 Too many recipients")).from(3)],
         mail_rcpts, vec!["220", "250-", "250 2.1.0", "250 2.1.5", "250 2.1.5", "452 4.5.3"]),
        (vec![Rule::new(Step::Mail, reply("451 4.7.1 slow down"))],
         mail_rcpts, vec!["220", "250-", "451 4.7.1", "503 5.5.1"]),
        (vec![Rule::new(Step::Data, Act::Close)],
         "EHLO client.qksmtp.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n", vec!["220", "250-", "250", "250", ""]),
    ];
    for (script, send, want) in cases {
        let mx = FakeMx::start(Options::scripted(script.clone()));
        let mut c = connect(&mx);
        c.send(send);
        for w in &want {
            let got = c.reply();
            assert!(got.starts_with(w), "{script:?}: want {w:?}, got {got:?}");
        }
    }
    // `sessions(0..1)`: only the first connection is throttled.
    let mx = FakeMx::start(Options::scripted(vec![
        Rule::new(Step::Greeting, close("421 4.7.0 throttled")).sessions(0..1),
    ]));
    assert!(connect(&mx).reply().starts_with("421"));
    assert!(connect(&mx).reply().starts_with("220"));
}

#[test]
fn an_idle_connection_gets_the_scripted_421_and_a_delay_stalls_the_greeting() {
    let mx = FakeMx::start(Options {
        idle: Some(Duration::from_millis(300)),
        script: vec![
            Rule::new(Step::Greeting, Act::Delay(Duration::from_millis(300))),
            Rule::new(Step::Idle, Act::ReplyClose("421 4.4.2 Idle timeout".into())),
        ],
        ..Options::new()
    });
    let started = Instant::now();
    let mut c = connect(&mx);
    c.hello();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the greeting waited"
    );
    assert!(c.cmd("NOOP").starts_with("250"));
    assert_eq!(c.reply(), "421 4.4.2 Idle timeout");
    assert!(c.closed());
}
