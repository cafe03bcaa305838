//! Clients nobody here wrote: Python's smtplib (always), swaks (when installed, as in CI),
//! and `openssl s_client -starttls smtp`; in plain text, and with STARTTLS, implicit TLS and AUTH.

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

/// `openssl s_client -tls1_3` (STARTTLS and implicit TLS) and `-tls1_2`: both versions are
/// offered, and a message goes through over TLS 1.3.
#[test]
fn openssl_s_client_speaks_tls_1_3_and_1_2() {
    let ini = base_ini(
        "tls_cert = cert.pem\ntls_key = key.pem\nlisten_tls = 127.0.0.1:0",
        "",
    );
    let server = Server::start_tls("s_client13", &ini);
    let input = "EHLO sclient.test\nMAIL FROM:<a@example.test>\nRCPT TO:<b@example.test>\n\
                 DATA\nSubject: s_client 1.3\n\nhi\n.\nQUIT\n";
    let starttls = ["-starttls", "smtp"];
    for (addr, how, version) in [
        (server.addr, &starttls[..], "-tls1_3"),
        (server.tls_addr.unwrap(), &[][..], "-tls1_3"),
        (server.addr, &starttls[..], "-tls1_2"),
    ] {
        let out = run_with_stdin(
            Command::new("openssl")
                .args(["s_client", "-connect", &addr.to_string(), version])
                .args(how)
                .args(["-crlf", "-ign_eof", "-brief"]),
            input,
        );
        let (text, err) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        let want = if version == "-tls1_3" {
            "TLSv1.3"
        } else {
            "TLSv1.2"
        };
        assert!(
            err.contains(&format!("Protocol version: {want}")),
            "{how:?} {version}: {err}"
        );
        assert!(
            text.contains("250 2.0.0 Ok: queued as") && text.contains("221 2.0.0 Bye"),
            "{how:?} {version}: {text}\n{err}"
        );
    }
}

/// Python's `ssl` allowing only TLS 1.3, through smtplib's STARTTLS and SMTP_SSL.
#[test]
fn python_ssl_with_minimum_tls_1_3_submits() {
    let ini = base_ini(
        "tls_cert = cert.pem\ntls_key = key.pem\nlisten_tls = 127.0.0.1:0",
        "",
    );
    let server = Server::start_tls("python13", &ini);
    let script = format!(
        r#"
import smtplib, ssl
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
with smtplib.SMTP("127.0.0.1", {port}) as s:
    s.starttls(context=ctx)
    v1 = s.sock.version()
    s.sendmail("a@example.test", ["b@example.test"], "Subject: starttls 1.3\r\n\r\nhi\r\n")
with smtplib.SMTP_SSL("127.0.0.1", {tls_port}, context=ctx) as s:
    v2 = s.sock.version()
    s.sendmail("a@example.test", ["b@example.test"], "Subject: smtps 1.3\r\n\r\nhi\r\n")
print(v1, v2)
"#,
        port = server.addr.port(),
        tls_port = server.tls_addr.unwrap().port()
    );
    assert_eq!(python(&script), "TLSv1.3 TLSv1.3");
    assert_eq!(server.spool_files("msg").len(), 2);
}

/// A receiving server that speaks only TLS 1.3 (Python's `ssl`, `minimum_version =
/// TLSv1_3`) and refuses MAIL before STARTTLS: qksmtp's client delivers to it over TLS 1.3.
#[test]
fn delivery_to_a_tls_1_3_only_server() {
    let mx_dir = TempDir::new("mx13");
    make_cert(mx_dir.path());
    let mut mx = Command::new("python3")
        .args(["-c", TLS13_MX])
        .current_dir(mx_dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test");
    let (lines, said) = std::sync::mpsc::channel();
    let stdout = std::io::BufReader::new(mx.stdout.take().unwrap());
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in stdout.lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let wait = std::time::Duration::from_secs(60);
    let port = said.recv_timeout(wait).expect("the MX's port");
    let ini = base_ini("", &format!("[domain:py13.test]\nmx = 127.0.0.1:{port}\n"));
    let server = Server::start("client13", &ini);
    let mut c = server.connect();
    c.hello();
    queued_id(&c.send_mail(
        "a@example.test",
        &["x@py13.test"],
        "Subject: to 1.3\r\n\r\nhi\r\n.\r\n",
    ));
    let line = said.recv_timeout(wait).expect("the MX's report");
    let _ = mx.kill();
    let _ = mx.wait();
    assert_eq!(line, "delivered over TLSv1.3");
    server.wait_log(&["x@py13.test", "delivered"]);
}

/// One SMTP server session at a time: STARTTLS with TLS 1.3 only, MAIL refused before it;
/// prints its port, then "delivered over VERSION" after the first message, and ends.
const TLS13_MX: &str = r#"
import socket, ssl
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain("cert.pem", "key.pem")
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(5)
print(listener.getsockname()[1], flush=True)

def session(conn):
    io = {"conn": conn, "file": conn.makefile("rb"), "tls": None}
    send = lambda text: io["conn"].sendall(text.encode() + b"\r\n")
    send("220 py13.test ESMTP")
    while True:
        line = io["file"].readline()
        if not line:
            return None
        cmd = line.strip().upper()
        if cmd.startswith(b"EHLO"):
            send("250-py13.test\r\n250 STARTTLS" if io["tls"] is None else "250 py13.test")
        elif cmd == b"STARTTLS" and io["tls"] is None:
            send("220 2.0.0 go ahead")
            try:
                tls = ctx.wrap_socket(io["conn"], server_side=True)
            except (ssl.SSLError, OSError):
                return None
            io.update(conn=tls, file=tls.makefile("rb"), tls=tls.version())
        elif cmd.startswith(b"MAIL") and io["tls"] is None:
            send("530 5.7.0 Must issue a STARTTLS command first")
        elif cmd.startswith((b"MAIL", b"RCPT", b"RSET", b"NOOP")):
            send("250 2.0.0 ok")
        elif cmd == b"DATA":
            send("354 go ahead")
            while io["file"].readline() not in (b".\r\n", b""):
                pass
            send("250 2.0.0 queued")
            return io["tls"]
        elif cmd == b"QUIT":
            send("221 2.0.0 bye")
            return None
        else:
            send("502 5.5.2 not here")

while True:
    conn, _ = listener.accept()
    conn.settimeout(30)
    version = session(conn)
    if version:
        print("delivered over", version, flush=True)
        break
"#;
