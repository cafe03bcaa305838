//! Any local user can send: `qksmtp send` run as `nobody` (who cannot write the spool) goes
//! through the server's `submit.sock`, and the server records who sent it; with the server
//! stopped it says so in one line and exits 75 (EX_TEMPFAIL) for cron and PHP to retry.
//! Needs root (as CI runs) to switch to `nobody` with setpriv.
#![cfg(target_os = "linux")]

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// `qksmtp send ARGS --config DIR/qksmtp.ini` as the user nobody; (exit code, stderr).
fn send_as_nobody(dir: &Path, args: &[&str], stdin: &str) -> (i32, String) {
    let ini = dir.join("qksmtp.ini");
    let mut all = vec!["send"];
    all.extend(args);
    all.extend(["--config", ini.to_str().unwrap()]);
    let out = as_nobody(dir, "qksmtp-for-nobody", &all, stdin);
    let code = out.status.code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The program, copied to `DIR/NAME` (so that it answers to that name), run as nobody.
fn as_nobody(dir: &Path, name: &str, args: &[&str], stdin: &str) -> std::process::Output {
    // The build folder may be where nobody cannot go (a checkout under /root): run a copy
    // from the temporary folder, as an installed program would be.
    let bin = dir.join(name);
    if !bin.exists() {
        std::fs::copy(BIN, &bin).unwrap();
    }
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(&bin)
        .args(args);
    run_with_stdin(&mut command, stdin)
}

/// `sendmail -bs` run by nobody, who cannot write the spool: the session goes through the
/// server's socket, which queues the message and records who sent it.
#[test]
fn sendmail_bs_by_nobody_goes_through_the_server() {
    if !is_root() {
        eprintln!("skipped: switching to nobody needs root");
        return;
    }
    let server = Server::start("local-bs", &base_ini("", ""));
    let ini = server.dir.path().join("qksmtp.ini");
    let script = "EHLO script.test\r\nMAIL FROM:<cron@example.test>\r\nRCPT TO:<bob@example.test>\r\n\
                  DATA\r\nSubject: from cron\r\n\r\nhi\r\n.\r\nQUIT\r\n";
    let args = ["-bs", "-C", ini.to_str().unwrap()];
    let out = as_nobody(server.dir.path(), "sendmail", &args, script);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("250 2.0.0 Ok: queued as "), "{said}");
    assert!(said.contains("221 "), "{said}");
    let envs = server.spool_files("env");
    assert_eq!(envs.len(), 1);
    let env = std::fs::read_to_string(&envs[0]).unwrap();
    assert!(env.contains("\nuser 65534 nobody\n"), "{env}");
    // Stopped: one clear line and EX_TEMPFAIL.
    let (_, dir) = server.terminate();
    let out = as_nobody(dir.path(), "sendmail", &args, script);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(err.contains("no qksmtp server answers"), "{err}");
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

#[test]
fn nobody_sends_through_the_server_which_records_who_it_was() {
    if !is_root() {
        eprintln!("skipped: switching to nobody needs root");
        return;
    }
    let server = Server::start("local-user", &base_ini("", ""));
    let socket = server.spool().join("submit.sock");
    assert!(socket.exists(), "no {}", socket.display());
    let args = ["-v", "-f", "script@example.test", "bob@example.test"];
    let (code, err) = send_as_nobody(server.dir.path(), &args, "Subject: from nobody\n\nhi\n");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("queued as "), "{err}");
    let envs = server.spool_files("env");
    assert_eq!(envs.len(), 1);
    let env = std::fs::read_to_string(&envs[0]).unwrap();
    assert!(env.contains("\nuser 65534 nobody\n"), "{env}");
    let msg = std::fs::read_to_string(&server.spool_files("msg")[0]).unwrap();
    assert!(
        msg.contains("\r\n\t(from userid 65534 nobody)\r\n"),
        "{msg}"
    );
    assert!(msg.ends_with("Subject: from nobody\r\n\r\nhi\r\n"), "{msg}");

    // Stopped: the socket is gone; one clear line, exit 75, nothing stored.
    let (status, dir) = server.terminate();
    assert!(status.success());
    assert!(!socket.exists());
    let (code, err) = send_as_nobody(dir.path(), &["bob@example.test"], "Subject: x\n\nx\n");
    assert_eq!(code, 75, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no qksmtp server answers"), "{err}");
    assert_eq!(spool_files(&dir.path().join("spool"), "msg").len(), 1);
}

/// A message larger than the server keeps in memory, piped into `send` by nobody: it goes
/// through the socket as it is read (the server spools it while the input is still open),
/// and arrives whole.
#[test]
fn nobody_streams_a_large_message_through_the_server() {
    if !is_root() {
        eprintln!("skipped: switching to nobody needs root");
        return;
    }
    let server = Server::start("local-stream", &base_ini("", ""));
    let dir = server.dir.path();
    let bin = dir.join("qksmtp-for-nobody");
    std::fs::copy(BIN, &bin).unwrap();
    let ini = dir.join("qksmtp.ini");
    let mut send = Command::new("setpriv");
    send.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(&bin)
        .args(["send", "-t", "-f", "script@example.test", "--config"])
        .arg(&ini);
    let message = big_message(10_000);
    send_streaming(&mut send, &server.spool(), &message);
    let msg = std::fs::read_to_string(&server.spool_files("msg")[0]).unwrap();
    let body = message.split_once("\n\n").unwrap().1.replace('\n', "\r\n");
    assert!(
        msg.ends_with(&format!("Subject: big\r\n\r\n{body}")),
        "the body intact"
    );
    assert!(!msg.contains("Bcc:"), "Bcc removed");
    let env = std::fs::read_to_string(&server.spool_files("env")[0]).unwrap();
    assert!(env.contains("\nuser 65534 nobody\n"), "{env}");
    assert!(env.contains("hidden@a.test"), "{env}");
}

/// Reads one reply (its last line) from a local session.
fn reply(r: &mut impl std::io::BufRead) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap() == 0 {
            return all;
        }
        all.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return all;
        }
    }
}

/// Sessions on the local socket are in the session registry: `max_sessions` counts them, and
/// a stop ends an idle one with 421 (as a network session) instead of cutting it.
#[test]
fn local_sessions_count_against_the_limits_and_a_stop_ends_them() {
    use std::io::{BufReader, Write};
    use std::os::unix::net::UnixStream;
    let server = Server::start("local-seat", &base_ini("max_sessions = 1", ""));
    let socket = server.spool().join("submit.sock");
    let first = UnixStream::connect(&socket).unwrap();
    first.set_read_timeout(Some(WAIT)).unwrap();
    let mut from_first = BufReader::new(first.try_clone().unwrap());
    assert!(reply(&mut from_first).starts_with("220 "));
    (&first).write_all(b"EHLO me.test\r\n").unwrap();
    assert!(reply(&mut from_first).contains("250 "));
    let second = UnixStream::connect(&socket).unwrap();
    second.set_read_timeout(Some(WAIT)).unwrap();
    let refused = reply(&mut BufReader::new(second));
    assert!(refused.starts_with("421 4.7.0"), "{refused}");
    let (status, _) = server.terminate();
    assert!(status.success());
    let ended = reply(&mut from_first);
    assert!(
        ended.starts_with("421 "),
        "the idle session was cut: {ended:?}"
    );
}
