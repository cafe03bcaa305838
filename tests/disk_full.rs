//! Disk full: the spool on a small tmpfs the test mounts (as root; skipped otherwise), filled
//! up with a filler file. Clients get `452 4.3.1` at the end of DATA and the session goes on,
//! nothing half-written stays in the spool, mail accepted before still goes out, a failed
//! envelope rewrite or notice leaves the message as it was on disk, and acceptance resumes
//! by itself once the filler is deleted.

mod common;

use common::fake_mx::{Delivery, FakeMx, Options};
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn msg(subject: &str) -> String {
    format!("Subject: {subject}\r\nFrom: s@disk.test\r\n\r\nSome text.\r\n.\r\n")
}

/// Fills the filesystem of `dir` with `dir/filler` until the write fails with ENOSPC.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![b'x'; 4096];
    loop {
        if let Err(e) = f.write_all(&chunk) {
            assert_eq!(e.raw_os_error(), Some(28), "expected ENOSPC, got {e}");
            return path;
        }
    }
}

/// The spool's entries other than the lock and status files, sorted.
fn entries(spool: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(spool)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != ".lock" && n != ".status")
        .collect();
    v.sort();
    v
}

/// The spool's entries of message `id`.
fn files_of(spool: &Path, id: &str) -> Vec<String> {
    let prefix = format!("{id}.");
    let mut v = entries(spool);
    v.retain(|n| n.starts_with(&prefix));
    v
}

fn submit(server: &Server, from: &str, to: &[&str], subject: &str) -> String {
    let mut c = server.connect();
    c.hello();
    let r = c.send_mail(from, to, &msg(subject));
    c.cmd("QUIT");
    r
}

fn has(deliveries: &[Delivery], subject: &str, rcpt: &str) -> bool {
    deliveries.iter().any(|d| {
        d.text().contains(&format!("Subject: {subject}\r\n"))
            && d.rcpt_addrs().iter().any(|r| r == rcpt)
    })
}

fn flush(dir: &Path) {
    let (code, out, err) = run_cli(dir, &["flush"]);
    assert_eq!(code, 0, "flush: {out}{err}");
}

fn retry(dir: &Path, id: &str) {
    let (code, out, err) = run_cli(dir, &["retry", id]);
    assert_eq!(code, 0, "retry: {out}{err}");
}

#[test]
fn a_full_disk_refuses_with_452_keeps_the_queue_and_recovers() {
    let Some(fs) = Tmpfs::mount("disk-full-fs", "256k") else {
        eprintln!("disk_full: skipped, mounting a tmpfs needs root");
        return;
    };
    let mx = FakeMx::start(Options::new());
    let soft = FakeMx::start(Options {
        tempfail_all: true,
        ..Options::new()
    });
    let spool = fs.path().join("spool");
    let rest = format!(
        "[domain:disk.test]\nmx = 127.0.0.1:{}\nretry_delay = 1h\n\
         [domain:soft.test]\nmx = 127.0.0.1:{}\nretry_delay = 1h\n",
        mx.port(),
        soft.port()
    );
    let ini = status_ini(&rest).replace(
        "spool_dir = spool\n",
        &format!("spool_dir = {}\n", spool.display()),
    );
    let server = Server::start("disk-full", &ini);
    let dir = server.dir.path().to_path_buf();

    // Before the disk fills: A is delivered to a@, 451 for tempfail@; P gets 451 (550 on
    // its next try); G gets 451 every time. All three wait in the spool.
    let a = queued_id(&submit(
        &server,
        "s@disk.test",
        &["a@disk.test", "tempfail@disk.test"],
        "A",
    ));
    let p = queued_id(&submit(
        &server,
        "s@disk.test",
        &["later-permfail@disk.test"],
        "P",
    ));
    let g = queued_id(&submit(&server, "s@disk.test", &["g@soft.test"], "G"));
    // Each first attempt is over once its envelope was rewritten with it.
    for id in [&a, &p, &g] {
        wait_until(|| tried(&read_env(&spool, id)), "the first attempts");
    }
    let g_env = read_env(&spool, &g);
    assert!(mx.wait_until(WAIT, |d, _| has(d, "A", "a@disk.test")));

    let filler = fill(fs.path());
    let mut c = server.connect();
    c.hello();
    for n in 0..3 {
        let r = c.send_mail("s@disk.test", &["b@disk.test"], &msg(&format!("B{n}")));
        assert!(r.starts_with("452 4.3.1"), "{r}");
    }
    assert!(c.cmd("NOOP").starts_with("250"), "the session goes on");
    let after_452 = entries(&spool);
    assert!(
        after_452
            .iter()
            .all(|n| [&a, &p, &g].iter().any(|id| n.starts_with(id.as_str()))),
        "nothing half-written: {after_452:?}"
    );

    // On the full disk, one at a time (a removal frees space): P's 550 notice cannot be
    // written, so P stays on disk as it was; G's rewrite fails and its old envelope stays;
    // A's last recipient goes out and A is removed.
    retry(&dir, &p);
    server.wait_stderr(&format!("{p}: cannot store the notice"));
    retry(&dir, &g);
    server.wait_stderr(&format!("{g} from=<s@disk.test> to=<g@soft.test>"));
    server.wait_stderr("spool update failed");
    assert_eq!(read_env(&spool, &g), g_env);
    retry(&dir, &a);
    assert!(mx.wait_until(WAIT, |d, _| has(d, "A", "tempfail@disk.test")));
    wait_until(|| files_of(&spool, &a).is_empty(), "A removed");
    let stray: Vec<_> = entries(&spool)
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");

    // Space returns: the next message is accepted in the same session and delivered.
    std::fs::remove_file(filler).unwrap();
    let r = c.send_mail("s@disk.test", &["c@disk.test"], &msg("C"));
    assert!(r.starts_with("250 "), "{r}");
    assert!(mx.wait_until(WAIT, |d, _| has(d, "C", "c@disk.test")));

    assert!(
        files_of(&spool, &p).contains(&format!("{p}.msg")),
        "P was removed though its sender was never told"
    );

    // A restart finds P as it was: its 550 comes again, and this time the sender is told.
    let (_, dir) = server.terminate();
    let server = Server::start_in(dir);
    flush(server.dir.path());
    assert!(
        mx.wait_until(WAIT, |d, _| d.iter().any(|d| d.sender_addr().is_empty()
            && d.rcpt_addrs() == ["s@disk.test"]
            && d.text().contains("later-permfail@disk.test")))
    );
    assert!(
        mx.deliveries()
            .iter()
            .all(|d| !d.text().contains("Subject: B")),
        "a refused message was delivered"
    );
    drop(server);
    drop(fs);
}

fn read_env(spool: &Path, id: &str) -> Vec<u8> {
    std::fs::read(spool.join(format!("{id}.env"))).unwrap_or_default()
}

/// Whether every recipient of this envelope text was tried at least once.
fn tried(env: &[u8]) -> bool {
    let text = String::from_utf8_lossy(env);
    text.contains("\nrcpt ") && !text.contains(" tries=0/")
}

fn wait_until(cond: impl Fn() -> bool, what: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
