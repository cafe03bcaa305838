//! Disk full: the spool on a small tmpfs the test mounts (as root; skipped otherwise), filled
//! up with a filler file. Clients get `452 4.3.1` at the end of DATA and the session goes on,
//! nothing half-written stays in the spool, mail accepted before still goes out, a failed
//! envelope rewrite leaves the message as it was on disk, acceptance resumes by itself once
//! the filler is deleted, and a bounce that could not be written stays owed (shown in
//! `queue`) and goes out by itself when space returns, while the message's other recipients
//! keep waiting for their turn.

mod common;

use common::fake_mx::{Delivery, FakeMx, Options};
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};

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

/// The spool's entries other than the server's own (lock, status, socket, history), sorted.
fn entries(spool: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(spool)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| ![".lock", ".status", "submit.sock", "history"].contains(&n.as_str()))
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

fn has(deliveries: &[Delivery], subject: &str, rcpt: &str) -> bool {
    deliveries.iter().any(|d| {
        d.text().contains(&format!("Subject: {subject}\r\n"))
            && d.rcpt_addrs().iter().any(|r| r == rcpt)
    })
}

fn retry(dir: &Path, id: &str) {
    let (code, out, err) = run_cli(dir, &["retry", id]);
    assert_eq!(code, 0, "retry: {out}{err}");
}

/// A server with its spool on `fs`; disk.test goes to `mx`, soft.test to `soft`, each
/// retried after an hour (or on `retry`).
fn start_on(fs: &Tmpfs, name: &str, mx: &FakeMx, soft: &FakeMx) -> (Server, PathBuf, PathBuf) {
    let spool = fs.path().join("spool");
    let rest = format!(
        "{}{}",
        route("disk.test", mx, "retry_delay = 1h"),
        route("soft.test", soft, "retry_delay = 1h")
    );
    let ini = status_ini(&rest).replace(
        "spool_dir = spool\n",
        &format!("spool_dir = {}\n", spool.display()),
    );
    let server = Server::start(name, &ini);
    let dir = server.dir.path().to_path_buf();
    (server, dir, spool)
}

/// A fake MX that accepts everything, and one that answers every RCPT with 451.
fn two_mx() -> (FakeMx, FakeMx) {
    let soft = FakeMx::start(Options {
        tempfail_all: true,
        ..Options::new()
    });
    (FakeMx::start(Options::new()), soft)
}

/// Whether a bounce to s@disk.test about `rcpt` arrived.
fn bounced(mx: &FakeMx, rcpt: &str) -> bool {
    mx.wait_until(WAIT, |d, _| {
        d.iter().any(|d| {
            d.sender_addr().is_empty()
                && d.rcpt_addrs() == ["s@disk.test"]
                && d.text()
                    .contains(&format!("Final-Recipient: rfc822; {rcpt}"))
        })
    })
}

#[test]
fn a_full_disk_refuses_with_452_keeps_the_queue_and_recovers() {
    let Some(fs) = Tmpfs::mount("disk-full-fs", "256k") else {
        eprintln!("disk_full: skipped, mounting a tmpfs needs root");
        return;
    };
    let (mx, soft) = two_mx();
    let (server, dir, spool) = start_on(&fs, "disk-full", &mx, &soft);

    // Before the disk fills: A is delivered to a@, 451 for tempfail@; P gets 451 (550 on
    // its next try); G gets 451 every time. All three wait in the spool.
    let a = submit(
        &server,
        "s@disk.test",
        &["a@disk.test", "tempfail@disk.test"],
        &msg("A"),
    );
    let p = submit(
        &server,
        "s@disk.test",
        &["later-permfail@disk.test"],
        &msg("P"),
    );
    let g = submit(&server, "s@disk.test", &["g@soft.test"], &msg("G"));
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
    // written, so P stays queued (owing it); G's rewrite fails and its old envelope stays;
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

    // P's bounce, owed since the disk was full, goes out by itself: no restart, no command.
    assert!(bounced(&mx, "later-permfail@disk.test"), "P's bounce");
    wait_until(
        || files_of(&spool, &p).is_empty(),
        "P removed once its sender was told",
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

#[test]
fn a_bounce_owed_on_a_full_disk_goes_out_when_space_returns_and_the_rest_is_delivered() {
    let Some(fs) = Tmpfs::mount("disk-full-owed", "256k") else {
        eprintln!("disk_full: skipped, mounting a tmpfs needs root");
        return;
    };
    let (mx, soft) = two_mx();
    let (server, dir, spool) = start_on(&fs, "disk-full-owed", &mx, &soft);
    // Q: 451 for both recipients first; later-permfail@ gets 550 on its next try, w@ 451
    // until the soft MX is told to accept.
    let q = submit(
        &server,
        "s@disk.test",
        &["later-permfail@disk.test", "w@soft.test"],
        &msg("Q"),
    );
    wait_until(|| tried(&read_env(&spool, &q)), "the first attempts");

    let filler = fill(fs.path());
    retry(&dir, &q);
    server.wait_stderr(&format!("{q}: cannot store the notice"));
    // `show` (the running server's view: the spool file cannot take the new state while the
    // disk is full, so `queue`, which reads the files, shows the last one written) shows the
    // failure with its notice pending, and w@ still waiting.
    let listing = || {
        let (code, out, err) = run_cli(&dir, &["show", &q]);
        assert_eq!(code, 0, "{out}{err}");
        out
    };
    let shown = |out: &str| {
        let listed: Vec<&str> = out.lines().skip_while(|l| !l.starts_with(&q)).collect();
        listed.iter().any(|l| {
            l.contains("later-permfail@disk.test")
                && l.contains("failed")
                && l.contains("notice to the sender pending")
        }) && listed
            .iter()
            .any(|l| l.contains("w@soft.test") && l.contains("deferred"))
    };
    wait_until(
        || shown(&listing()),
        "Q listed as failed with its notice pending",
    );
    assert!(mx.deliveries().is_empty(), "nothing could be written yet");

    // Space returns: the bounce goes out by itself, about later-permfail@ only.
    std::fs::remove_file(filler).unwrap();
    soft.set_tempfail_all(false);
    assert!(bounced(&mx, "later-permfail@disk.test"), "the owed bounce");
    let bounces: Vec<Delivery> = mx
        .deliveries()
        .into_iter()
        .filter(|d| d.sender_addr().is_empty())
        .collect();
    assert_eq!(bounces.len(), 1, "one bounce");
    assert!(
        !bounces[0].text().contains("rfc822; w@soft.test"),
        "w@ did not fail"
    );
    // The other recipient waited for its turn; it is delivered and Q leaves the spool.
    assert!(
        files_of(&spool, &q).contains(&format!("{q}.msg")),
        "Q still queued for w@"
    );
    retry(&dir, &q);
    assert!(soft.wait_until(WAIT, |d, _| has(d, "Q", "w@soft.test")));
    wait_until(|| files_of(&spool, &q).is_empty(), "Q removed");
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
