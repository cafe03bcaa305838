//! Inbound TLS end to end: STARTTLS, implicit TLS (`listen_tls`), the defence against commands
//! pipelined after STARTTLS, the session reset after the handshake, failed handshakes, and
//! `require_tls`. The certificate is made by the openssl CLI in each test.

mod common;
use common::*;
use std::io::Write;

const MSG: &str = "Subject: over tls\r\n\r\nsecret.\r\n.\r\n";
const TLS: &str = "tls_cert = cert.pem\ntls_key = key.pem";

#[test]
fn starttls_then_a_message_is_queued_with_esmtps() {
    let server = Server::start_tls("starttls", &base_ini(TLS, ""));
    let mut c = server.connect();
    let ehlo = c.hello();
    assert!(ehlo.lines().any(|l| &l[4..] == "STARTTLS"), "{ehlo}");
    assert!(!ehlo.contains("AUTH"), "no users, no AUTH: {ehlo}");
    let mut t = c.starttls();
    let ehlo = t.ehlo();
    assert!(!ehlo.contains("STARTTLS"), "not offered inside TLS: {ehlo}");
    assert!(t.cmd("STARTTLS").starts_with("503 5.5.1"));
    let id = queued_id(&t.send_mail("a@example.test", &["b@example.test"], MSG));
    assert_eq!(t.cmd("QUIT"), "221 2.0.0 Bye");
    let msg = std::fs::read_to_string(&server.spool_files("msg")[0]).unwrap();
    assert!(msg.contains(&format!("with ESMTPS id {id}")), "{msg}");
    assert!(msg.ends_with("\r\nsecret.\r\n"), "{msg}");
}

/// Python's smtplib (over OpenSSL, as Python's ssl is) sends three messages: after STARTTLS
/// with TLS 1.3, after STARTTLS held to TLS 1.2, and on the implicit-TLS port. Each stored
/// message's Received header names the version and cipher that client saw, as Postfix's does.
#[test]
fn received_names_the_tls_version_and_cipher_the_client_saw() {
    let ini = base_ini(&format!("{TLS}\nlisten_tls = 127.0.0.1:0"), "");
    let server = Server::start_tls("received-tls", &ini);
    let script = format!(
        r#"
import smtplib, ssl
def context(highest):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    if highest:
        c.maximum_version = highest
    return c
def send(s):
    s.ehlo("client.test")
    s.mail("a@example.test")
    s.rcpt("b@example.test")
    code, said = s.data(b"Subject: tls\r\n\r\nhi\r\n")
    assert code == 250, (code, said)
    print(said.decode().split()[-1], s.sock.version(), s.sock.cipher()[0])
    s.quit()
for highest in (None, ssl.TLSVersion.TLSv1_2):
    s = smtplib.SMTP("127.0.0.1", {plain})
    s.starttls(context=context(highest))
    send(s)
send(smtplib.SMTP_SSL("127.0.0.1", {implicit}, context=context(None)))
"#,
        plain = server.addr.port(),
        implicit = server.tls_addr.unwrap().port(),
    );
    let said = python(&script);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines.len(), 3, "{said}");
    let mut versions = Vec::new();
    for line in lines {
        let [id, version, cipher] = line.split(' ').collect::<Vec<_>>()[..] else {
            panic!("{said}");
        };
        let msg = std::fs::read_to_string(server.spool().join(format!("{id}.msg"))).unwrap();
        let want = format!(
            "Received: from client.test ([127.0.0.1])\r\n\t(using {version} with cipher {cipher})\r\n\tby "
        );
        assert!(msg.starts_with(&want), "{want:?} in\n{msg}");
        versions.push(version.to_string());
    }
    assert_eq!(versions, ["TLSv1.3", "TLSv1.2", "TLSv1.3"]);
}

#[test]
fn implicit_tls_listener_speaks_tls_from_the_first_byte() {
    let ini = base_ini(&format!("{TLS}\nlisten_tls = 127.0.0.1:0"), "");
    let server = Server::start_tls("smtps", &ini);
    assert!(
        server.startup.iter().any(|l| l.ends_with("(smtps)")),
        "{:?}",
        server.startup
    );
    let mut t = server.connect_tls();
    assert!(t.reply().starts_with("220 mx.qksmtp.test"));
    let ehlo = t.ehlo();
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    queued_id(&t.send_mail("a@example.test", &["b@example.test"], MSG));
    // The plain listener still offers STARTTLS.
    let mut c = server.connect();
    assert!(c.hello().contains("STARTTLS"));
}

#[test]
fn commands_pipelined_after_starttls_are_refused_and_the_session_closed() {
    let server = Server::start_tls("inject", &base_ini(TLS, ""));
    let mut c = server.connect();
    c.hello();
    c.send("STARTTLS\r\nRSET\r\n");
    let r = c.reply();
    assert!(r.starts_with("554 5.5.1"), "{r}");
    assert!(c.closed());
    // Other sessions are unaffected.
    let mut d = server.connect();
    d.hello();
    d.starttls().ehlo();
}

#[test]
fn after_starttls_the_session_starts_over() {
    let ini = base_ini(
        TLS,
        "[access]\nrelay_from = 127.0.0.1/32\n[users]\nalice = s3cret\n",
    );
    let server = Server::start_tls("reset", &ini);
    let mut c = server.connect_from("127.0.0.2");
    c.hello();
    let auth = format!("AUTH PLAIN {}", b64(b"\0alice\0s3cret"));
    assert!(c.cmd(&auth).starts_with("235 2.7.0"));
    let mut t = c.starttls();
    let r = t.cmd("MAIL FROM:<a@example.test>");
    assert!(r.starts_with("503 5.5.1"), "HELO forgotten: {r}");
    t.ehlo();
    assert!(t.cmd("MAIL FROM:<a@example.test>").starts_with("250"));
    let r = t.cmd("RCPT TO:<b@elsewhere.test>");
    assert!(r.starts_with("550 5.7.1"), "AUTH forgotten: {r}");
    assert!(t.cmd("RSET").starts_with("250"));
    assert!(t.cmd(&auth).starts_with("235 2.7.0"));
    queued_id(&t.send_mail("a@example.test", &["b@elsewhere.test"], MSG));
    let msg = std::fs::read_to_string(&server.spool_files("msg")[0]).unwrap();
    assert!(msg.contains("with ESMTPSA id"), "{msg}");
}

#[test]
fn a_failed_handshake_closes_only_that_session() {
    let ini = base_ini(&format!("{TLS}\nlisten_tls = 127.0.0.1:0"), "");
    let server = Server::start_tls("badhello", &ini);
    // Plain text on the TLS port.
    let mut raw = std::net::TcpStream::connect(server.tls_addr.unwrap()).unwrap();
    raw.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    raw.write_all(b"EHLO plain.test\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = std::io::Read::read_to_end(&mut raw, &mut buf);
    assert!(!buf.starts_with(b"2"), "{buf:?}");
    // Garbage instead of a ClientHello after STARTTLS.
    let mut c = server.connect();
    c.hello();
    assert!(c.cmd("STARTTLS").starts_with("220"));
    c.send("this is not TLS\r\n");
    assert!(c.closed());
    let mut t = server.connect_tls();
    assert!(t.reply().starts_with("220"));
    t.ehlo();
}

#[test]
fn handshake_times_out_with_idle_timeout() {
    let ini = base_ini(
        &format!("{TLS}\nlisten_tls = 127.0.0.1:0\nidle_timeout = 1s"),
        "",
    );
    let server = Server::start_tls("hstimeout", &ini);
    let started = std::time::Instant::now();
    let mut raw = std::net::TcpStream::connect(server.tls_addr.unwrap()).unwrap();
    raw.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut buf = Vec::new();
    let _ = std::io::Read::read_to_end(&mut raw, &mut buf);
    assert!(buf.is_empty(), "{buf:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // An idle session inside TLS gets the usual 421 over TLS.
    let mut t = server.connect_tls();
    assert!(t.reply().starts_with("220"));
    assert!(t.reply().starts_with("421 4.4.2"));
}

#[test]
fn a_handshake_trickled_a_byte_a_second_is_cut_and_normal_sessions_go_on() {
    let ini = base_ini(
        &format!("{TLS}\nlisten_tls = 127.0.0.1:0\nidle_timeout = 2s"),
        "",
    );
    let server = Server::start_tls("hstrickle", &ini);
    let mut raw = std::net::TcpStream::connect(server.tls_addr.unwrap()).unwrap();
    raw.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    // A record header announcing a 512-byte ClientHello, then its start: every byte comes
    // well within idle_timeout, but the handshake as a whole would take minutes.
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    hello.extend(1..=21u8);
    let total = hello.len();
    let writer = trickle(raw.try_clone().unwrap(), hello);
    let mut buf = Vec::new();
    let _ = std::io::Read::read_to_end(&mut raw, &mut buf);
    assert!(!buf.starts_with(b"220"), "{buf:?}");
    let sent = writer.join().unwrap();
    assert!(sent < total, "the whole prefix went out ({sent} bytes)");
    // A normal TLS session on the same listener, and one through STARTTLS.
    let mut t = server.connect_tls();
    assert!(t.reply().starts_with("220"));
    t.ehlo();
    queued_id(&t.send_mail("a@example.test", &["b@example.test"], MSG));
    let mut c = server.connect();
    c.hello();
    let mut t = c.starttls();
    t.ehlo();
    queued_id(&t.send_mail("a@example.test", &["b@example.test"], MSG));
}

#[test]
fn require_tls_spares_loopback_clients_and_keeps_starttls() {
    let ini = base_ini(&format!("{TLS}\nrequire_tls = yes"), "");
    let server = Server::start_tls("requiretls", &ini);
    // Loopback clients may send without TLS (remote ones get 530 5.7.0: see the unit tests).
    let mut c = server.connect();
    assert!(c.hello().contains("STARTTLS"));
    queued_id(&c.send_mail("a@example.test", &["b@example.test"], MSG));
    let mut t = c.starttls();
    t.ehlo();
    queued_id(&t.send_mail("a@example.test", &["b@example.test"], MSG));
}

#[test]
fn starttls_without_a_certificate_is_not_offered_nor_accepted() {
    let server = Server::start("notls", &base_ini("", ""));
    let mut c = server.connect();
    assert!(!c.hello().contains("STARTTLS"));
    assert!(c.cmd("STARTTLS").starts_with("502 5.5.1"));
    assert!(c.cmd("NOOP").starts_with("250"));
}

#[test]
fn check_reports_a_key_that_does_not_belong_to_the_certificate() {
    let dir = TempDir::new("foreignkey");
    make_cert(dir.path());
    std::fs::rename(dir.path().join("cert.pem"), dir.path().join("a.pem")).unwrap();
    make_cert(dir.path());
    let ini = base_ini("tls_cert = a.pem\ntls_key = key.pem", "");
    write_ini(dir.path(), &ini);
    let (code, _, err) = run_cli(dir.path(), &["check"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("line 9:") && err.contains("does not go with the certificate"),
        "{err}"
    );
}

#[test]
fn stopping_ends_idle_tls_sessions_too() {
    let ini = base_ini(&format!("{TLS}\nlisten_tls = 127.0.0.1:0"), "");
    let server = Server::start_tls("tlsstop", &ini);
    let mut t = server.connect_tls();
    assert!(t.reply().starts_with("220"));
    t.ehlo();
    let mut s = server.connect();
    s.hello();
    let mut s = s.starttls();
    s.ehlo();
    let (status, _dir) = server.terminate();
    assert!(status.success());
    assert!(t.reply().starts_with("421 4.3.2"));
    assert!(s.reply().starts_with("421 4.3.2"));
}
