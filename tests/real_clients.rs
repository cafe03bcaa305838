//! Clients nobody here wrote: Python's smtplib (always), swaks (when installed, as in CI),
//! and `openssl s_client -starttls smtp`; in plain text, and with STARTTLS, implicit TLS and AUTH.

mod common;
use common::*;
use std::process::Command;

/// Runs `script` with python3; panics unless it succeeds; returns its output, trimmed.
fn python(script: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3 is needed for this test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.trim().to_string()
}

#[test]
fn python_smtplib_submits_a_message() {
    let server = Server::start("smtplib", &base_ini("", ""));
    let script = format!(
        r#"
import smtplib
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "script@example.test"
m["To"] = "bob@example.test, carol@example.test"
m["Subject"] = "from python"
m.set_content("héllo wörld\n")
with smtplib.SMTP("127.0.0.1", {port}) as s:
    s.ehlo("python.test")
    assert s.has_extn("pipelining") and s.has_extn("smtputf8"), s.esmtp_features
    refused = s.send_message(m)
    assert refused == {{}}, refused
    code, msg = s.noop()
    print("ok", code)
"#,
        port = server.addr.port()
    );
    assert_eq!(python(&script), "ok 250");
    let env = std::fs::read_to_string(&server.spool_files("env")[0]).unwrap();
    assert!(
        env.contains("rcpt bob@example.test") && env.contains("rcpt carol@example.test"),
        "{env}"
    );
    let msg = std::fs::read_to_string(&server.spool_files("msg")[0]).unwrap();
    assert!(msg.contains("Subject: from python"), "{msg}");
}

#[test]
fn swaks_submits_a_message_when_installed() {
    if !swaks_installed() {
        return;
    }
    let server = Server::start("swaks", &base_ini("", ""));
    let out = Command::new("swaks")
        .args([
            "--server",
            &server.addr.to_string(),
            "--from",
            "s@example.test",
            "--to",
            "t@example.test",
        ])
        .args([
            "--helo",
            "swaks.test",
            "--pipeline",
            "--header",
            "Subject: swaks",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("250 2.0.0 Ok: queued as"), "{text}");
    assert_eq!(server.spool_files("msg").len(), 1);
}

/// Users and a certificate; 127.0.0.1 is not in relay_from, so relaying needs AUTH.
fn secure_ini() -> String {
    base_ini(
        "tls_cert = cert.pem\ntls_key = key.pem\nlisten_tls = 127.0.0.1:0",
        "[access]\nrelay_from = 127.0.0.2/32\n[users]\nalice = s3cret\n",
    )
}

#[test]
fn python_smtplib_starttls_login_and_smtp_ssl() {
    let server = Server::start_tls("smtplib-tls", &secure_ini());
    let script = format!(
        r#"
import smtplib, ssl
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
msg = "Subject: py\r\n\r\nhi\r\n"
with smtplib.SMTP("127.0.0.1", {port}) as s:
    s.ehlo("python.test")
    assert s.has_extn("starttls"), s.esmtp_features
    s.starttls(context=ctx)
    s.ehlo("python.test")
    assert not s.has_extn("starttls"), s.esmtp_features
    assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"], s.esmtp_features
    try:
        s.sendmail("a@example.test", ["x@elsewhere.test"], msg)
        raise SystemExit("relayed without AUTH")
    except smtplib.SMTPRecipientsRefused as e:
        assert e.recipients["x@elsewhere.test"][0] == 550, e.recipients
    s.rset()
    try:
        s.login("alice", "wrong")
        raise SystemExit("wrong password accepted")
    except smtplib.SMTPAuthenticationError as e:
        assert e.smtp_code == 535, e
    code, _ = s.login("alice", "s3cret")
    assert code == 235, code
    assert s.sendmail("a@example.test", ["x@elsewhere.test"], msg) == {{}}
with smtplib.SMTP_SSL("127.0.0.1", {tls_port}, context=ctx) as s:
    s.ehlo("python.test")
    s.user, s.password = "alice", "s3cret"
    code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
    assert code == 235, code
    assert s.sendmail("a@example.test", ["y@elsewhere.test"], msg) == {{}}
print("ok")
"#,
        port = server.addr.port(),
        tls_port = server.tls_addr.unwrap().port()
    );
    assert_eq!(python(&script), "ok");
    let envs: Vec<String> = server
        .spool_files("env")
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(envs.len(), 2);
    assert!(
        envs.iter().all(|e| e.contains("\nauth alice\n")),
        "{envs:?}"
    );
}

fn swaks_installed() -> bool {
    if Command::new("swaks").arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI installs swaks; it is missing"
    );
    eprintln!("swaks not installed: skipped (CI runs it)");
    false
}

#[test]
fn swaks_starttls_and_implicit_tls_with_auth() {
    if !swaks_installed() {
        return;
    }
    let server = Server::start_tls("swaks-tls", &secure_ini());
    let runs = [
        (server.addr, "--tls", "PLAIN"),
        (server.tls_addr.unwrap(), "--tls-on-connect", "LOGIN"),
    ];
    for (addr, tls, mech) in runs {
        let out = Command::new("swaks")
            .args(["--server", &addr.to_string(), tls, "--auth", mech])
            .args(["--auth-user", "alice", "--auth-password", "s3cret"])
            .args(["--from", "s@example.test", "--to", "t@elsewhere.test"])
            .args(["--helo", "swaks.test", "--header", "Subject: swaks tls"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{tls} {mech}: {text}");
        assert!(text.contains("235 2.7.0"), "{text}");
        assert!(text.contains("250 2.0.0 Ok: queued as"), "{text}");
    }
    assert_eq!(server.spool_files("msg").len(), 2);
    let msg = std::fs::read_to_string(&server.spool_files("msg")[0]).unwrap();
    assert!(msg.contains("with ESMTPSA id"), "{msg}");
}

#[test]
fn openssl_s_client_starttls_smtp() {
    let server = Server::start_tls(
        "s_client",
        &base_ini("tls_cert = cert.pem\ntls_key = key.pem", ""),
    );
    let input = "EHLO sclient.test\nMAIL FROM:<a@example.test>\nRCPT TO:<b@example.test>\n\
                 DATA\nSubject: s_client\n\nhi\n.\nQUIT\n";
    let out = run_with_stdin(
        Command::new("openssl")
            .args(["s_client", "-connect", &server.addr.to_string()])
            .args(["-starttls", "smtp", "-crlf", "-quiet", "-ign_eof"]),
        input,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("250 2.0.0 Ok: queued as") && text.contains("221 2.0.0 Bye"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("STARTTLS"), "{text}");
    let msg = std::fs::read_to_string(&server.spool_files("msg")[0]).unwrap();
    assert!(msg.contains("with ESMTPS id"), "{msg}");
}
