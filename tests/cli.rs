//! The command line: --help/--version, `check` with errors naming lines, the default INI
//! written on first start, refusing to start half-configured, and the setup commands
//! `passwd` and `gencert`.

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn help_and_version() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("qksmtp {}", env!("CARGO_PKG_VERSION"))
    );
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("qksmtp check"));
    let out = Command::new(BIN).arg("--frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

const BAD_INI: &str = "[server]\nlisten = 127.0.0.1:0\nmax_message_size = 12Q\n\n[nonsense]\n[delivery]\nworkerz = 3\n";

#[test]
fn check_reports_every_error_with_its_line() {
    let dir = TempDir::with_ini("check-bad", BAD_INI);
    let (code, _, err) = run_cli(dir.path(), &["check"]);
    assert_eq!(code, 1, "{err}");
    for (line, word) in [(3, "max_message_size"), (5, "nonsense"), (7, "workerz")] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("line {line}:")) && l.contains(word)),
            "line {line} ({word}) missing in:\n{err}"
        );
    }
}

#[test]
fn check_prints_the_effective_settings() {
    let ini = base_ini(
        "max_recipients = 7",
        "[domain:slow.test]\nmax_connections = 1\n",
    );
    let dir = TempDir::with_ini("check-good", &ini);
    let (code, out, err) = run_cli(dir.path(), &["check"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("max_recipients = 7"), "{out}");
    assert!(out.contains("[domain:slow.test]"), "{out}");
    assert!(
        out.contains("max_continuous = 5"),
        "defaults are filled in:\n{out}"
    );
}

#[test]
fn the_server_refuses_to_start_with_a_bad_ini() {
    let dir = TempDir::with_ini("run-bad", BAD_INI);
    // No command: the server itself.
    let (code, stdout, err) = run_cli(dir.path(), &[]);
    assert_eq!(code, 1);
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(err.contains("line 3:"));
}

#[test]
fn no_address_bound_is_a_fatal_error_that_says_why() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let ini = base_ini("", "").replace(
        "listen = 127.0.0.1:0",
        &format!("listen = 127.0.0.1:{port}"),
    );
    let dir = TempDir::with_ini("run-taken", &ini);
    let (code, _, err) = run_cli(dir.path(), &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}"))
            && err.contains("another program"),
        "{err}"
    );
    // Said once, not once per layer that saw it.
    let cause = format!("cannot listen on 127.0.0.1:{port}");
    assert_eq!(err.matches(&cause).count(), 1, "{err}");
}

#[test]
fn an_address_that_cannot_be_bound_beside_one_that_can_is_one_warning_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let ini = base_ini("", "").replace(
        "listen = 127.0.0.1:0",
        &format!("listen = 127.0.0.1:0, 127.0.0.1:{port}"),
    );
    let server = Server::start("run-half", &ini);
    let warning = server.wait_stderr(&format!("cannot listen on 127.0.0.1:{port}"));
    assert!(
        warning.starts_with(&format!(
            "qksmtp: warning: cannot listen on 127.0.0.1:{port}"
        )),
        "the start lines' format: {warning}"
    );
}

#[test]
fn first_start_writes_the_commented_default_ini() {
    let dir = TempDir::new("first-start");
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.contains("wrote the default configuration"), "{first}");
    let written = std::fs::read_to_string(dir.path().join("qksmtp.ini")).unwrap();
    assert_eq!(written, include_str!("../qksmtp.ini"));
    // And that file is valid as it stands.
    let (code, _, err) = run_cli(dir.path(), &["check"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn gencert_makes_a_pair_that_check_accepts_and_never_overwrites() {
    let dir = TempDir::new("gencert");
    let out = Command::new(BIN)
        .args(["gencert", "--days", "3", "--out"])
        .arg(dir.path().join("tls"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("tls_cert = ") && text.contains("tls_key = "),
        "{text}"
    );
    let key = std::fs::read_to_string(dir.path().join("tls/key.pem")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8");
    let ini = base_ini("tls_cert = tls/cert.pem\ntls_key = tls/key.pem", "");
    write_ini(dir.path(), &ini);
    let (code, _, err) = run_cli(dir.path(), &["check"]);
    assert_eq!(code, 0, "{err}");
    let again = Command::new(BIN)
        .args(["gencert", "--out"])
        .arg(dir.path().join("tls"))
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not overwritten"));
}

#[test]
fn passwd_without_a_name_prints_the_hash_and_refuses_an_empty_password() {
    let run = |input: &str| run_with_stdin(Command::new(BIN).arg("passwd"), input);
    let out = run("pw\r\n");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("$argon2id$"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[users]"));
    let out = run("\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty password"));
}

/// `qksmtp passwd` on a real terminal (a pseudo-terminal here): the password is not echoed,
/// the terminal's echo is back on afterwards, and the `[users]` line goes to stdout.
#[cfg(target_os = "linux")]
#[test]
fn passwd_on_a_terminal_does_not_echo_the_password() {
    use std::fs::File;
    use std::io::{Read, Write};
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty fills two descriptors, owned below.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: fresh descriptors from openpty, each owned once.
    let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let echo_on = |f: &File| {
        use std::os::fd::AsRawFd;
        // SAFETY: termios is plain data; the master reports the terminal's flags.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(f.as_raw_fd(), &mut t) }, 0);
        t.c_lflag & libc::ECHO != 0
    };
    assert!(echo_on(&master));
    let child = Command::new(BIN)
        .args(["passwd", "alice"])
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let mut reader = master.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // Ends with EIO once the child has closed the terminal.
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let wait_for = |what: &str, seen: &mut String| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !seen.contains(what) {
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {what:?}: {seen:?}"));
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    let mut writer = master.try_clone().unwrap();
    for prompt in ["Password: ", "Again: "] {
        wait_for(prompt, &mut seen);
        let deadline = Instant::now() + Duration::from_secs(20);
        while echo_on(&master) {
            assert!(Instant::now() < deadline, "echo never turned off: {seen:?}");
            std::thread::yield_now();
        }
        writer.write_all(b"hunter2-secret\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{seen:?}");
    while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(500)) {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!seen.contains("hunter2"), "echoed: {seen:?}");
    assert!(echo_on(&master), "echo is back on");
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(line.starts_with("alice = $argon2id$"), "{line}");
}
