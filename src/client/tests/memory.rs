//! Client conversations that test the protocol, not the I/O: each is a dialogue script played
//! by an in-memory server (`client::script`), which checks every byte the client writes and
//! counts its writes. PIPELINING in one write, recipient and DATA refusals, dot-stuffing, SIZE
//! and SMTPUTF8 refused locally, the 421 greeting, the HELO fallback, STARTTLS injection.

use super::*;
use crate::client::script::{Script, Scripted};
use crate::client::{Client, FailureKind};
use crate::smtp::reply::Enhanced;

const CONTENT: &[u8] = b"Subject: hi\r\n\r\nhello\r\n";

/// One message, one recipient, one command at a time, up to the DATA command.
const ENVELOPE: &[&str] = &[
    "C: MAIL FROM:<a@x.test>",
    "S: 250 ok",
    "C: RCPT TO:<b@y.test>",
    "S: 250 ok",
    "C: DATA",
];
const BYE: &[&str] = &["C: QUIT", "S: 221 2.0.0 bye"];

/// Greeting and EHLO offering `extensions` (as `Peer::greet`), then the `parts` in turn.
fn dialogue(extensions: &[&str], parts: &[&[&str]]) -> Script {
    let mut lines = vec![
        "S: 220 mx.test ESMTP fake".to_string(),
        "C: EHLO client.test".into(),
        "S: 250-mx.test hello".into(),
    ];
    lines.extend(extensions.iter().map(|e| format!("S: 250-{e}")));
    lines.push("S: 250 ENHANCEDSTATUSCODES".into());
    lines.extend(parts.concat().iter().map(|l| l.to_string()));
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    Script::new(&lines)
}

/// Connects to `script` as an MX host with opportunistic TLS.
fn connect(script: &Script, record: &mut Record) -> Result<Client, crate::client::Failure> {
    let addr = "127.0.0.1:25".parse().unwrap();
    let settings = settings(TlsPolicy::Opportunistic);
    Client::connect(&Scripted::one(script), addr, "mx.test", &settings, record)
}

#[test]
fn pipelining_sends_mail_rcpts_and_data_in_one_write() {
    let script = dialogue(
        &["PIPELINING", "SIZE 1000000", "8BITMIME"],
        &[
            &[
                "C: MAIL FROM:<a@x.test> SIZE=22",
                "C: RCPT TO:<b@y.test>",
                "C: RCPT TO:<c@y.test>",
                "C: DATA",
                "S: 250 2.1.0 ok",
                "S: 250 2.1.5 ok",
                "S: 250 2.1.5 ok",
                "S: 354 go",
                "C: Subject: hi",
                "C: ",
                "C: hello",
                "C: .",
                "S: 250 2.0.0 queued as X1",
            ],
            BYE,
        ],
    );
    let mut record = Record::new();
    let mut client = connect(&script, &mut record).unwrap();
    let result = send_to(&mut client, &["b@y.test", "c@y.test"], CONTENT, &mut record).unwrap();
    client.quit(&mut record);
    script.assert_done();
    let envelope = "MAIL FROM:<a@x.test> SIZE=22\r\nRCPT TO:<b@y.test>\r\n\
                    RCPT TO:<c@y.test>\r\nDATA\r\n";
    assert!(
        script.writes().iter().any(|w| w == envelope),
        "{:?}",
        script.writes()
    );
    assert!(result.recipients.iter().all(|r| r.code == 250));
    assert_eq!(result.data.unwrap().lines, vec!["queued as X1"]);
    assert!(record.steps[4].detail.contains("[pipelined, 4 commands]"));
}

#[test]
fn mixed_recipient_results() {
    let script = dialogue(
        &["PIPELINING"],
        &[
            &[
                "C: MAIL FROM:<a@x.test>",
                "C: RCPT TO:<b@y.test>",
                "C: RCPT TO:<nobody@y.test>",
                "C: DATA",
                "S: 250 ok",
                "S: 250 2.1.5 ok",
                "S: 550 5.1.1 no such user",
                "S: 354 go",
                "C: Subject: hi",
                "C: ",
                "C: hello",
                "C: .",
                "S: 250 2.0.0 queued",
            ],
            BYE,
        ],
    );
    let mut record = Record::new();
    let mut client = connect(&script, &mut record).unwrap();
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
    script.assert_done();
}

#[test]
fn data_refused_is_a_failure_at_data() {
    let script = dialogue(
        &[],
        &[
            ENVELOPE,
            &["S: 451 4.3.0 try later", "C: RSET", "S: 250 ok"],
            BYE,
        ],
    );
    let mut record = Record::new();
    let mut client = connect(&script, &mut record).unwrap();
    let failure = send_to(&mut client, &["b@y.test"], CONTENT, &mut record).unwrap_err();
    assert_eq!(
        (failure.step, failure.reply().unwrap().code),
        (StepKind::Data, 451)
    );
    assert!(client.is_usable());
    client.quit(&mut record);
    script.assert_done();
}

#[test]
fn dot_stuffing_on_the_wire() {
    // The script checks the data byte for byte.
    let script = dialogue(
        &[],
        &[
            ENVELOPE,
            &[
                "S: 354 go",
                "C: ..starts with a dot",
                "C: middle",
                "C: ..",
                "C: ...two",
                "C: no final line end",
                "C: .",
                "S: 250 ok",
            ],
            BYE,
        ],
    );
    let mut record = Record::new();
    let mut client = connect(&script, &mut record).unwrap();
    let content = b".starts with a dot\r\nmiddle\r\n.\r\n..two\r\nno final line end";
    send_to(&mut client, &["b@y.test"], content, &mut record).unwrap();
    client.quit(&mut record);
    script.assert_done();
    let data = "..starts with a dot\r\nmiddle\r\n..\r\n...two\r\nno final line end\r\n.\r\n";
    assert!(script.writes().iter().any(|w| w == data));
}

#[test]
fn too_big_for_the_servers_size_is_refused_before_sending() {
    // Nothing between EHLO and QUIT: the script would refuse a MAIL.
    let script = dialogue(&["SIZE 10"], &[BYE]);
    let mut record = Record::new();
    let mut client = connect(&script, &mut record).unwrap();
    let failure = send_to(&mut client, &["b@y.test"], CONTENT, &mut record).unwrap_err();
    assert_eq!(failure.step, StepKind::Mail);
    let reply = failure.reply().unwrap();
    assert_eq!(
        (reply.code, reply.enhanced),
        (552, Some(Enhanced::new(5, 3, 4)))
    );
    assert!(client.is_usable());
    client.quit(&mut record);
    script.assert_done();
}

#[test]
fn needs_smtputf8_but_not_offered() {
    let script = dialogue(&["8BITMIME"], &[BYE]);
    let mut record = Record::new();
    let mut client = connect(&script, &mut record).unwrap();
    let failure = send_to(&mut client, &["jörg@y.test"], CONTENT, &mut record).unwrap_err();
    let reply = failure.reply().unwrap();
    assert_eq!(
        (reply.code, reply.enhanced),
        (553, Some(Enhanced::new(5, 6, 7)))
    );
    client.quit(&mut record);
    script.assert_done();
}

#[test]
fn greeting_421_is_a_failure_at_the_greeting() {
    let script = Script::new(&["S: 421 4.3.2 too busy"]);
    let mut record = Record::new();
    let failure = connect(&script, &mut record).err().unwrap();
    assert_eq!(failure.step, StepKind::Greeting);
    assert_eq!(failure.reply().unwrap().one_line(), "421 4.3.2 too busy");
    assert!(!record.steps[1].ok);
    // A polite QUIT, not waited for.
    assert_eq!(script.left(), (vec![], "QUIT\r\n".to_string()));
}

#[test]
fn a_reply_longer_than_one_read_is_read_whole() {
    // An EHLO reply of about 7 KB (three times the read room) whose last line matters.
    let long = format!("X-LONG {}", "a".repeat(3000));
    let many: Vec<String> = (0..60)
        .map(|i| format!("X-EXTENSION-{i:02} words"))
        .collect();
    let mut extensions: Vec<&str> = vec![&long, &long];
    extensions.extend(many.iter().map(String::as_str));
    extensions.push("PIPELINING");
    let script = dialogue(
        &extensions,
        &[
            &[
                "C: MAIL FROM:<a@x.test>",
                "C: RCPT TO:<b@y.test>",
                "C: DATA",
                "S: 250 2.1.0 ok",
                "S: 250 2.1.5 ok",
                "S: 354 go",
                "C: Subject: hi",
                "C: ",
                "C: hello",
                "C: .",
                "S: 250 2.0.0 queued as X1",
            ],
            BYE,
        ],
    );
    let reply: usize = extensions.iter().map(|e| "250-\r\n".len() + e.len()).sum();
    assert!(reply > 2 * crate::client::wire::READ_ROOM, "{reply} bytes");
    let mut record = Record::new();
    let mut client = connect(&script, &mut record).unwrap();
    assert!(
        client.extensions().pipelining,
        "the reply's last line was read"
    );
    let result = send_to(&mut client, &["b@y.test"], CONTENT, &mut record).unwrap();
    client.quit(&mut record);
    script.assert_done();
    assert_eq!(result.data.unwrap().lines, vec!["queued as X1"]);
}

#[test]
fn ehlo_refused_falls_back_to_helo() {
    let script = Script::new(&[
        "S: 220 old.test SMTP",
        "C: EHLO client.test",
        "S: 502 5.5.1 command not implemented",
        "C: HELO client.test",
        "S: 250 old.test",
        "C: MAIL FROM:<a@x.test>",
        "S: 250 ok",
    ]);
    let mut record = Record::new();
    let mut client = connect(&script, &mut record).unwrap();
    assert_eq!(client.extensions(), &crate::client::Extensions::default());
    use StepKind::*;
    assert_eq!(kinds(&record), [Connect, Greeting, Ehlo, Helo, StartTls]);
    // The script stops after MAIL: the client sees the drop at RCPT.
    let failure = send_to(&mut client, &["b@y.test"], CONTENT, &mut record).unwrap_err();
    assert_eq!(failure.step, StepKind::Rcpt);
    assert_eq!(failure.kind, FailureKind::Closed);
    assert_eq!(
        script.left(),
        (vec![], "RCPT TO:<b@y.test>\r\n".to_string())
    );
}

/// Found by the network fault tests: a 421 to a pipelined MAIL was reported as "the server
/// closed the connection" at RCPT (or a timeout), not as the 421 the server gave.
#[test]
fn a_421_in_a_pipelined_group_is_the_failure_and_ends_the_client() {
    let script = dialogue(
        &["PIPELINING"],
        &[&[
            "C: MAIL FROM:<a@x.test>",
            "C: RCPT TO:<b@y.test>",
            "C: DATA",
            "S: 421 4.3.2 shutting down",
        ]],
    );
    let mut record = Record::new();
    let mut client = connect(&script, &mut record).unwrap();
    let failure = send_to(&mut client, &["b@y.test"], CONTENT, &mut record).unwrap_err();
    assert_eq!(failure.step, StepKind::Mail);
    assert_eq!(
        failure.reply().unwrap().one_line(),
        "421 4.3.2 shutting down"
    );
    assert!(!client.is_usable());
    client.quit(&mut record);
    script.assert_done();
}

#[test]
fn starttls_injection_is_refused() {
    let script = dialogue(
        &["STARTTLS"],
        &[&["C: STARTTLS", "S: 220 go ahead", "S: 250 injected"]],
    );
    let mut record = Record::new();
    let failure = connect(&script, &mut record).err().unwrap();
    assert_eq!(failure.step, StepKind::StartTls);
    assert!(matches!(failure.kind, FailureKind::Protocol(ref why) if why.contains("injection")));
    // The client went silent: no handshake, not even QUIT.
    script.assert_done();
}

/// DANE through the client: the scripted handshake shows the fixture chain of
/// `client/dane/` (a server certificate for mx.dane.test and its CA).
#[test]
fn dane_ee_match_is_verified_and_a_mismatch_fails_naming_record_and_digest() {
    use crate::client::tls::Peer;
    use crate::client::{Check, Secure};
    use crate::dns::Tlsa;
    use crate::transcript::tls::{Demand, TlsState, TlsVersion, VerifiedBy};
    let ee = include_bytes!("../dane/ee.der").to_vec();
    let hex = |s: &str| {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    // 3 1 1 of ee.der, computed by the openssl CLI (see client/dane/tests.rs).
    let good = Tlsa {
        usage: 3,
        selector: 1,
        matching: 1,
        data: hex("5ed0d4d1fd6edc3ba26da21d24a28585325b756217fb40d351a6f4d750e5d1ed"),
    };
    let wrong = Tlsa {
        data: vec![0xab; 32],
        ..good.clone()
    };
    let secure = |r: Tlsa| Secure {
        check: Check::Dane {
            records: std::sync::Arc::from(vec![r]),
            port: 25,
        },
        demand: Demand::Dane,
        ..Secure::opportunistic().with_mode(TlsPolicy::Required)
    };
    let peer = Peer {
        chain: vec![ee],
        pkix: Err("unable to get local issuer certificate".into()),
        version: Some(TlsVersion::V1_2),
    };
    let addr = "127.0.0.1:25".parse().unwrap();
    let starttls = &[
        "C: STARTTLS",
        "S: 220 go ahead",
        "C: EHLO client.test",
        "S: 250 mx.test",
    ][..];

    let script = dialogue(&["STARTTLS"], &[starttls]).tls_peer(peer.clone());
    let mut record = Record::new();
    let settings = settings_secure(secure(good));
    let client = Client::connect(
        &Scripted::one(&script),
        addr,
        "mx.dane.test",
        &settings,
        &mut record,
    )
    .unwrap();
    let by = Some(VerifiedBy::DaneEe);
    assert_eq!(
        client.tls_state(),
        Some(TlsState::Tls {
            demand: Demand::Dane,
            by,
            version: Some(TlsVersion::V1_2),
        })
    );
    assert!(
        record
            .steps
            .iter()
            .any(|s| s.detail == "STARTTLS: TLS 1.2, verified by DANE-EE for mx.dane.test")
    );

    let script = dialogue(&["STARTTLS"], &[&starttls[..2]]).tls_peer(peer);
    let mut record = Record::new();
    let settings = settings_secure(secure(wrong));
    let failure = Client::connect(
        &Scripted::one(&script),
        addr,
        "mx.dane.test",
        &settings,
        &mut record,
    )
    .err()
    .unwrap();
    let why = format!(
        "DANE: no TLSA record of _25._tcp.mx.dane.test (3 1 1 {}) matches the certificate \
         (SHA-256 ac7039893231f884c007f0bb723640bd4cdc00a897446a610e4ebbb8c63dbefc)",
        "ab".repeat(32)
    );
    assert_eq!(failure.kind, FailureKind::Tls(why));
    assert_eq!(failure.step, StepKind::StartTls);
}
