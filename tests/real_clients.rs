//! Clients nobody here wrote: Python's smtplib (always), swaks (when installed, as in CI).

mod common;
use common::*;
use std::process::Command;

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
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3 is needed for this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok 250");
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
    if Command::new("swaks").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "CI installs swaks; it is missing"
        );
        eprintln!("swaks not installed: skipped (CI runs it)");
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
