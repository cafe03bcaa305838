//! Client conversations with TLS and AUTH against the scripted fake server: opportunistic
//! STARTTLS with a self-signed certificate, required and implicit TLS,
//! the plain-text retry, AUTH PLAIN and LOGIN (exact payloads, nothing secret in the record).

use super::*;
use crate::client::{AuthMechanism, Client, Credentials, FailureKind, OutgoingMessage};
use crate::client::{Check, Secure};
use crate::transcript::tls::{Demand, TlsState, TlsVersion};

/// What the handshake with the test's native-tls acceptor settles on, as the client tells it:
/// TLS 1.2 (native-tls's OpenSSL acceptor turns 1.3 off) where the client's TLS is OpenSSL;
/// native-tls elsewhere does not tell.
const VERSION: Option<TlsVersion> = if cfg!(any(windows, target_vendor = "apple")) {
    None
} else {
    Some(TlsVersion::V1_2)
};

/// "TLS 1.2" or "TLS", as `VERSION`.
fn protocol() -> &'static str {
    match VERSION {
        Some(_) => "TLS 1.2",
        None => "TLS",
    }
}

const CONTENT: &[u8] = b"Subject: tls\r\n\r\nsecret\r\n";

/// MAIL, RCPT, DATA and the data, one at a time, then QUIT.
fn serve_one_message(p: &mut Peer) {
    for reply in ["250 ok\r\n", "250 ok\r\n", "354 go\r\n"] {
        p.line();
        p.send(reply);
    }
    p.data();
    p.send("250 2.0.0 queued\r\n");
    p.bye();
}

fn deliver(client: &mut Client, record: &mut Record) {
    let rcpts = recipients(&["b@y.test"]);
    let msg = OutgoingMessage {
        sender: &sender(),
        params: &params(),
        recipients: &rcpts,
        content: CONTENT,
    };
    let result = client.send(&msg, record).unwrap();
    assert_eq!(result.data.unwrap().code, 250);
}

#[test]
fn opportunistic_starttls_with_a_self_signed_certificate() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&["STARTTLS", "PIPELINING"]);
        p.expect("STARTTLS");
        p.send("220 2.0.0 go ahead\r\n");
        p.start_tls().unwrap();
        p.ehlo(&["AUTH PLAIN"]);
        serve_one_message(&mut p);
    });
    let mut record = Record::new();
    let mut client = Client::connect(
        &Network,
        addr,
        "localhost.",
        &settings(TlsPolicy::Opportunistic),
        &mut record,
    )
    .unwrap();
    assert!(client.tls_active());
    let client_tls = client.tls_state();
    // The second EHLO's extensions count: no PIPELINING any more.
    assert!(!client.extensions().pipelining && client.extensions().auth == ["PLAIN"]);
    deliver(&mut client, &mut record);
    client.quit(&mut record);
    server.join().unwrap();
    use StepKind::*;
    assert_eq!(
        kinds(&record)[..6],
        [Connect, Greeting, Ehlo, StartTls, StartTls, Ehlo]
    );
    assert_eq!(
        record.steps[4].detail,
        format!(
            "STARTTLS: {}, certificate not verified (opportunistic)",
            protocol()
        )
    );
    let demand = Demand::Opportunistic;
    let version = VERSION;
    assert_eq!(
        client_tls,
        Some(TlsState::Tls {
            demand,
            by: None,
            version
        })
    );
}

#[test]
fn failed_handshake_then_plain_text_retry() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&["STARTTLS"]);
        p.expect("STARTTLS");
        p.send("220 go ahead\r\n");
        thread::sleep(Duration::from_millis(50));
        p.send("this is not TLS at all\r\n");
        drop(p);
        let mut p = accept(l);
        p.greet(&["STARTTLS"]);
        serve_one_message(&mut p);
    });
    let mut record = Record::new();
    let failure = Client::connect(
        &Network,
        addr,
        "mx.test",
        &settings(TlsPolicy::Opportunistic),
        &mut record,
    )
    .err()
    .unwrap();
    assert_eq!(failure.step, StepKind::StartTls);
    assert!(
        matches!(failure.kind, FailureKind::Tls(_) | FailureKind::Closed),
        "{failure}"
    );
    let mut record = Record::new();
    let mut client = Client::connect(
        &Network,
        addr,
        "mx.test",
        &settings(TlsPolicy::PlainRetry),
        &mut record,
    )
    .unwrap();
    assert!(!client.tls_active());
    assert_eq!(client.tls_state(), Some(TlsState::AfterFailedHandshake));
    let note = record
        .steps
        .iter()
        .find(|s| s.kind == StepKind::StartTls)
        .unwrap();
    assert!(
        note.ok && note.detail == "plain text after a failed handshake",
        "{}",
        note.detail
    );
    deliver(&mut client, &mut record);
    client.quit(&mut record);
    server.join().unwrap();
}

#[test]
fn required_tls_with_verification_refuses_a_self_signed_certificate() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&["STARTTLS"]);
        p.expect("STARTTLS");
        p.send("220 go ahead\r\n");
        // The handshake completes; the client then judges the certificate and hangs up.
        let _ = p.start_tls();
    });
    let mut record = Record::new();
    let secure = Secure {
        check: Check::Pkix,
        ..Secure::opportunistic().with_mode(TlsPolicy::Required)
    };
    let settings = settings_secure(secure);
    let failure = Client::connect(&Network, addr, "localhost", &settings, &mut record)
        .err()
        .unwrap();
    assert_eq!(failure.step, StepKind::StartTls);
    let why = "certificate not valid for localhost: self-signed certificate";
    assert_eq!(failure.kind, FailureKind::Tls(why.into()));
    let last = record.steps.last().unwrap();
    assert!(!last.ok);
    assert_eq!(last.detail, format!("STARTTLS: {why}"));
    server.join().unwrap();
}

#[test]
fn required_tls_not_offered() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&["PIPELINING"]);
    });
    let mut record = Record::new();
    let policy = TlsPolicy::Required;
    let failure = Client::connect(&Network, addr, "relay.test", &settings(policy), &mut record)
        .err()
        .unwrap();
    assert_eq!(failure.step, StepKind::StartTls);
    assert!(matches!(failure.kind, FailureKind::Protocol(_)));
    server.join().unwrap();
}

#[test]
fn implicit_tls_from_the_first_byte() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.start_tls().unwrap();
        p.greet(&["AUTH LOGIN PLAIN"]);
        serve_one_message(&mut p);
    });
    let mut record = Record::new();
    let policy = TlsPolicy::Implicit;
    let mut client =
        Client::connect(&Network, addr, "relay.test", &settings(policy), &mut record).unwrap();
    assert!(client.tls_active());
    assert_eq!(
        record.steps[1].detail,
        format!(
            "implicit TLS: {}, certificate not verified (opportunistic)",
            protocol()
        )
    );
    deliver(&mut client, &mut record);
    client.quit(&mut record);
    server.join().unwrap();
}

fn with_auth(mechanism: Option<AuthMechanism>) -> ClientSettings {
    let mut s = settings(TlsPolicy::Opportunistic);
    s.auth = Some(Credentials {
        username: "user".into(),
        password: "pass".into(),
        mechanism,
    });
    s
}

fn assert_no_secrets(record: &Record) {
    let text = format!("{record:?}");
    for secret in ["pass\"", "AHVzZXIAcGFzcw", "cGFzcw", "dXNlcg"] {
        assert!(!text.contains(secret), "{secret} in the record: {text}");
    }
}

#[test]
fn auth_plain_sends_the_exact_payload() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&["AUTH LOGIN PLAIN"]);
        let line = p.line();
        p.send("235 2.7.0 authenticated\r\n");
        serve_one_message(&mut p);
        line
    });
    let mut record = Record::new();
    let mut client =
        Client::connect(&Network, addr, "relay.test", &with_auth(None), &mut record).unwrap();
    deliver(&mut client, &mut record);
    client.quit(&mut record);
    assert_eq!(server.join().unwrap(), "AUTH PLAIN AHVzZXIAcGFzcw==");
    let auth = record
        .steps
        .iter()
        .find(|s| s.kind == StepKind::Auth)
        .unwrap();
    assert_eq!((auth.detail.as_str(), auth.ok), ("AUTH PLAIN ****", true));
    assert_no_secrets(&record);
    assert!(!format!("{:?}", with_auth(None)).contains("pass\""));
}

#[test]
fn auth_login_answers_both_challenges() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&["AUTH=LOGIN"]);
        let mut lines = vec![p.line()];
        p.send("334 VXNlcm5hbWU6\r\n");
        lines.push(p.line());
        p.send("334 UGFzc3dvcmQ6\r\n");
        lines.push(p.line());
        p.send("235 2.7.0 ok\r\n");
        serve_one_message(&mut p);
        lines
    });
    let mut record = Record::new();
    let mut client =
        Client::connect(&Network, addr, "relay.test", &with_auth(None), &mut record).unwrap();
    deliver(&mut client, &mut record);
    client.quit(&mut record);
    assert_eq!(
        server.join().unwrap(),
        ["AUTH LOGIN", "dXNlcg==", "cGFzcw=="]
    );
    assert_no_secrets(&record);
}

#[test]
fn auth_refused_or_not_offered() {
    let (addr, server) = fake(|l| {
        let mut p = accept(l);
        p.greet(&["AUTH PLAIN LOGIN"]);
        p.expect("AUTH LOGIN");
        p.send("535 5.7.8 authentication failed\r\n");
        p.expect("QUIT");
        let mut p = accept(l);
        p.greet(&["AUTH CRAM-MD5"]);
    });
    let mut record = Record::new();
    let settings = with_auth(Some(AuthMechanism::Login));
    let failure = Client::connect(&Network, addr, "relay.test", &settings, &mut record)
        .err()
        .unwrap();
    assert_eq!(
        (failure.step, failure.reply().unwrap().code),
        (StepKind::Auth, 535)
    );
    let failure = Client::connect(&Network, addr, "relay.test", &settings, &mut record)
        .err()
        .unwrap();
    assert_eq!(failure.step, StepKind::Auth);
    assert!(matches!(failure.kind, FailureKind::Protocol(ref why) if why.contains("CRAM-MD5")));
    server.join().unwrap();
}
