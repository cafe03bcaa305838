//! The names people type: the binary run through symlinks named `sendmail`, `mailq` and
//! `newaliases` reads its command line as those programs do (`-t -i -f`, `-bs` SMTP on
//! standard input and output, `-bp`, `-q`, `-bi`; `mailq` lists the queue).
#![cfg(unix)]

mod common;

use common::fake_mx::{FakeMx, Options};
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `dir/bin/NAME`, a symlink to the binary.
fn link(dir: &Path, name: &str) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join(name);
    std::os::unix::fs::symlink(BIN, &path).unwrap();
    path
}

/// Runs `program ARGS` (from the temp dir, so that `-C` is the only way to the INI) with
/// `stdin`; returns (exit code, stdout, stderr).
fn run(program: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let out = run_with_stdin(Command::new(program).args(args), stdin);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sendmail_and_mailq_work_on_the_spool_of_a_stopped_server() {
    let dir = TempDir::with_ini("persona-stopped", &base_ini("", ""));
    let ini = dir.path().join("qksmtp.ini");
    let ini = ini.to_str().unwrap();
    let sendmail = link(dir.path(), "sendmail");
    let mailq = link(dir.path(), "mailq");
    // -t -i: recipients from the headers, a lone "." is text; -o options are ignored.
    let input = "To: bob@example.test\nSubject: persona\n\nbefore\n.\nafter\n";
    let (code, _, err) = run(&sendmail, &["-C", ini, "-t", "-i", "-oem", "-v"], input);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("queued as "), "{err}");
    let msgs = spool_files(&dir.path().join("spool"), "msg");
    assert_eq!(msgs.len(), 1);
    let stored = std::fs::read_to_string(&msgs[0]).unwrap();
    assert!(stored.ends_with("before\r\n.\r\nafter\r\n"), "{stored}");

    let (code, listed, err) = run(&mailq, &["-C", ini], "");
    assert_eq!(code, 0, "{err}");
    assert!(listed.contains("bob@example.test"), "{listed}");
    let (code, by_bp, _) = run(&sendmail, &["-bp", &format!("-C{ini}")], "");
    assert_eq!((code, by_bp), (0, listed));
    // -q flushes: with the server stopped there is nothing to tell, and it says so.
    let (code, _, _) = run(&sendmail, &["-q", "-C", ini], "");
    assert_eq!(code, run_cli(dir.path(), &["flush"]).0);

    let newaliases = link(dir.path(), "newaliases");
    for (program, args) in [(&sendmail, &["-bi"][..]), (&newaliases, &[][..])] {
        assert_eq!(run(program, args, "").0, 0);
    }
    let (code, _, err) = run(&sendmail, &["-bd"], "");
    assert_eq!(
        (code, err.trim()),
        (64, "sendmail: mode -bd is not supported")
    );
    let (code, _, _) = run(&sendmail, &["-C", ini, "-Z", "bob@example.test"], "x\n");
    assert_eq!(code, 64);
}

#[test]
fn sendmail_bs_speaks_smtp_on_standard_input_and_output() {
    let mx = FakeMx::start(Options::new());
    // Relaying is for 192.0.2.0/24 only: a local session may send anywhere all the same.
    let rest = format!(
        "{}[access]\nrelay_from = 192.0.2.0/24\n",
        route("a.test", &mx, "")
    );
    let server = Server::start("persona-bs", &base_ini("", &rest));
    let sendmail = link(server.dir.path(), "sendmail.exe");
    let ini = server.dir.path().join("qksmtp.ini");
    // A pipelined session, as a program would write it: one message by DATA, one by BDAT.
    let session = "EHLO prog.test\r\n\
        MAIL FROM:<me@sender.test>\r\nRCPT TO:<you@a.test>\r\nDATA\r\n\
        Subject: by data\r\n\r\n..dot\r\n.\r\n\
        MAIL FROM:<me@sender.test>\r\nRCPT TO:<too@a.test>\r\nBDAT 5 LAST\r\nhelloQUIT\r\n";
    let (code, out, err) = run(&sendmail, &["-bs", "-C", ini.to_str().unwrap()], session);
    assert_eq!(code, 0, "{err}");
    let replies: Vec<&str> = out
        .lines()
        .filter(|l| l.as_bytes().get(3) == Some(&b' '))
        .collect();
    let codes: Vec<&str> = replies.iter().map(|r| &r[..3]).collect();
    assert_eq!(
        codes,
        [
            "220", "250", "250", "250", "354", "250", "250", "250", "250", "221"
        ],
        "{out}"
    );
    assert!(out.contains("250-CHUNKING"), "{out}");
    assert!(replies[5].starts_with("250 2.0.0 Ok: queued as "), "{out}");
    // The running server was told, and delivers both.
    let d = mx.wait_deliveries(2, WAIT);
    let mut rcpts: Vec<String> = d.iter().flat_map(|d| d.rcpt_addrs()).collect();
    rcpts.sort();
    assert_eq!(rcpts, ["too@a.test", "you@a.test"]);
    let by_data = d.iter().find(|d| d.rcpt_addrs() == ["you@a.test"]).unwrap();
    let text = String::from_utf8_lossy(&by_data.data);
    assert!(text.contains("from prog.test ([127.0.0.1])"), "{text}");
    assert!(text.ends_with("\r\n.dot\r\n"), "{text}");
}
