//! Resource bounds against the real binary: many idle sessions (limits enforced, memory
//! reported), a message with 1,000 recipients, the size limit, a 10 MB line, and clients that
//! trickle one byte at a time (the per-command and DATA deadlines end them).

mod common;

use common::fake_mx::{FakeMx, Options};
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Runs the server with room for a few thousand sockets (two per session).
const ULIMIT: [&str; 3] = [
    "sh",
    "-c",
    "ulimit -n 4096 || ulimit -n $(ulimit -Hn); exec \"$0\" \"$@\"",
];
const MSG: &str = "Subject: limits\r\n\r\nHello.\r\n.\r\n";

/// `Server::start` on `base_ini(server_extra, rest)`, with room for many sockets (`ULIMIT`).
fn start_roomy(name: &str, server_extra: &str, rest: &str) -> Server {
    Server::start_wrapped(
        TempDir::with_ini(name, &base_ini(server_extra, rest)),
        &ULIMIT,
    )
}

/// Connects without the test client's extra handle (one descriptor per connection) and
/// returns the stream with the first reply line read.
fn raw_connect(server: &Server) -> (TcpStream, String) {
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let line = read_line(&mut s);
    (s, line)
}

/// One reply line, byte by byte (so nothing after it is consumed); "" at end of file.
fn read_line(s: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while s.read(&mut byte).unwrap_or(0) == 1 {
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    String::from_utf8_lossy(&line).trim_end().to_string()
}

fn is_closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(0) | Err(_))
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

#[test]
fn a_thousand_idle_sessions_stay_small_and_the_limit_is_enforced() {
    let have = raise_nofile(4096);
    assert!(
        have >= 2200,
        "need ~2,200 open files for this test, have {have}"
    );
    let server = start_roomy(
        "sessions",
        "max_sessions = 1001\nmax_sessions_per_ip = 5000\n",
        "",
    );
    let before = server.proc_status("VmRSS");
    let mut idle = Vec::new();
    for i in 0..1000 {
        let (s, greeting) = raw_connect(&server);
        assert!(greeting.starts_with("220 "), "session {i}: {greeting:?}");
        idle.push(s);
    }
    let rss = server.proc_status("VmRSS");
    let threads = server.proc_status("Threads");
    // The 1,001st session is still served and can queue a message.
    let mut fresh = server.connect();
    fresh.hello();
    queued_id(&fresh.send_mail("a@sender.test", &["b@x.test"], MSG));
    // The 1,002nd is one too many.
    let (mut extra, refusal) = raw_connect(&server);
    assert!(refusal.starts_with("421 4.7.0 "), "{refusal}");
    assert!(is_closed(&mut extra));
    let hwm = server.proc_status("VmHWM");
    println!(
        "1,000 idle sessions: VmRSS {:.1} MiB (at start {:.1} MiB, peak {:.1} MiB), {threads} threads",
        mib(rss),
        mib(before),
        mib(hwm)
    );
    assert!(threads > 1000, "one thread per session: {threads}");
    assert!(mib(hwm) < 200.0, "VmHWM {:.1} MiB", mib(hwm));
    // The idle sessions are still alive and answer.
    for s in idle.iter_mut().step_by(97) {
        s.write_all(b"NOOP\r\n").unwrap();
        assert!(read_line(s).starts_with("250 "));
    }
    drop(idle);
    // Once they are gone, their places are free again.
    assert_eq!(fresh.cmd("QUIT").get(..3), Some("221"));
    let mut admitted = 0;
    wait_for(WAIT, || {
        let (_s, line) = raw_connect(&server);
        if line.starts_with("220 ") {
            admitted += 1;
        }
        (admitted == 3).then_some(()).ok_or(line)
    });
}

#[test]
fn sessions_per_ip_and_in_total_are_limited_with_421() {
    let server = start_roomy("per-ip", "max_sessions = 5\nmax_sessions_per_ip = 3\n", "");
    let mut from_one: Vec<Client> = (0..3).map(|_| server.connect()).collect();
    for c in &mut from_one {
        assert!(c.reply().starts_with("220 "));
    }
    let mut fourth = server.connect();
    let r = fourth.reply();
    assert!(r.starts_with("421 4.7.0 "), "{r}");
    assert!(fourth.closed());
    // Another address still gets in, up to the total.
    let mut from_two: Vec<Client> = (0..2).map(|_| server.connect_from("127.0.0.2")).collect();
    for c in &mut from_two {
        assert!(c.reply().starts_with("220 "));
    }
    let mut sixth = server.connect_from("127.0.0.3");
    let r = sixth.reply();
    assert!(r.starts_with("421 4.7.0 "), "{r}");
    assert!(sixth.closed());
    // The sessions in place are unaffected.
    let c = &mut from_one[0];
    c.cmd("EHLO client.qksmtp.test");
    queued_id(&c.send_mail("a@sender.test", &["b@x.test"], MSG));
}

#[test]
fn a_thousand_recipients_are_accepted_and_delivered_in_one_transaction() {
    let mx = FakeMx::start(Options::new());
    // The default max_recipients (1000); all of them in one outgoing transaction too.
    let one = "max_rcpt_per_transaction = 1000";
    let server = start_roomy("rcpts", "", &route("r.test", &mx, one));
    let mut c = server.connect();
    c.hello();
    assert!(c.cmd("MAIL FROM:<a@sender.test>").starts_with("250"));
    // Pipelined in groups, as a real client would.
    let rcpts: Vec<String> = (0..1000)
        .map(|i| match i {
            500 => "permfail@r.test".to_string(),
            _ => format!("user{i}@r.test"),
        })
        .collect();
    for group in rcpts.chunks(100) {
        let lines: String = group.iter().map(|r| format!("RCPT TO:<{r}>\r\n")).collect();
        c.send(&lines);
        for r in group {
            let reply = c.reply();
            assert!(reply.starts_with("250 2.1.5"), "{r}: {reply}");
        }
    }
    let r = c.cmd("RCPT TO:<one-too-many@r.test>");
    assert!(r.starts_with("452 4.5.3 "), "{r}");
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(MSG);
    let id = queued_id(&c.reply());
    let d = mx.wait_deliveries(1, WAIT);
    assert_eq!(d.len(), 1, "one transaction for the destination");
    let mut want = rcpts.clone();
    want.remove(500);
    assert_eq!(d[0].rcpt_addrs(), want);
    // Each recipient's outcome is in the delivery log: 999 delivered, one refused for good.
    let log_path = server.dir.path().join("delivery.log");
    wait_for(WAIT, || {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let ours: Vec<&str> = log.lines().filter(|l| l.contains(&id)).collect();
        let delivered = ours
            .iter()
            .filter(|l| l.contains("result=\"delivered\""))
            .count();
        let failed: Vec<&&str> = ours
            .iter()
            .filter(|l| l.contains("permfail@r.test"))
            .collect();
        if delivered == 999 && failed.len() == 1 {
            assert!(failed[0].contains("550 5.1.1"), "{}", failed[0]);
            assert!(!failed[0].contains("result=\"delivered\""), "{}", failed[0]);
            return Ok(());
        }
        Err(format!(
            "{delivered} delivered, {} permfail lines",
            failed.len()
        ))
    });
}

#[test]
fn max_recipients_from_the_ini_is_enforced() {
    let server = start_roomy("rcpt-limit", "max_recipients = 3\n", "");
    let mut c = server.connect();
    c.hello();
    assert!(c.cmd("MAIL FROM:<a@sender.test>").starts_with("250"));
    for i in 0..3 {
        assert!(c.cmd(&format!("RCPT TO:<u{i}@x.test>")).starts_with("250"));
    }
    let r = c.cmd("RCPT TO:<u3@x.test>");
    assert!(r.starts_with("452 4.5.3 "), "{r}");
    // 452 is not an error of the session: the transaction goes on with its three.
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(MSG);
    queued_id(&c.reply());
}

/// A message body of exactly `content_len` bytes (what the server counts), sent with
/// dot-stuffing so that the wire carries more than that.
fn message_of(content_len: usize) -> (String, String) {
    let head = "Subject: size\r\n\r\n";
    let mut content = head.to_string();
    let mut line = 0;
    while content.len() < content_len {
        let room = content_len - content.len();
        let text = if line % 3 == 0 {
            ".dotted line"
        } else {
            "plain line of text"
        };
        let next = format!("{text}\r\n");
        if next.len() <= room && room - next.len() != 1 {
            content.push_str(&next);
        } else {
            // The tail: one line of exactly the room left (at least 2 bytes: "x\n" is not
            // allowed, so a 1-byte remainder was avoided above).
            content.push_str(&"x".repeat(room - 2));
            content.push_str("\r\n");
        }
        line += 1;
    }
    assert_eq!(content.len(), content_len);
    let wire = content.replace("\r\n.", "\r\n..") + ".\r\n";
    (content, wire)
}

#[test]
fn a_message_exactly_at_the_size_limit_is_accepted_one_byte_more_is_refused() {
    let server = start_roomy("size", "max_message_size = 10000\n", "");
    let mut c = server.connect();
    let ehlo = c.hello();
    assert!(ehlo.contains("250-SIZE 10000"), "{ehlo}");
    let (content, wire) = message_of(10_000);
    assert!(
        wire.len() > 10_000 + 3,
        "dot-stuffing adds bytes on the wire"
    );
    let id = queued_id(&c.send_mail("a@sender.test", &["b@x.test"], &wire));
    let stored = std::fs::read(server.spool().join(format!("{id}.msg"))).unwrap();
    assert!(stored.ends_with(content.as_bytes()), "stored as received");
    // The declared SIZE counts the same bytes.
    let r = c.cmd("MAIL FROM:<a@sender.test> SIZE=10000");
    assert!(r.starts_with("250"), "{r}");
    assert!(c.cmd("RSET").starts_with("250"));
    let r = c.cmd("MAIL FROM:<a@sender.test> SIZE=10001");
    assert!(r.starts_with("552 5.3.4 "), "{r}");
    // One byte over: refused after the data, and the session goes on.
    let (_, wire) = message_of(10_001);
    let r = c.send_mail("a@sender.test", &["b@x.test"], &wire);
    assert!(r.starts_with("552 5.3.4 "), "{r}");
    queued_id(&c.send_mail("a@sender.test", &["b@x.test"], MSG));
    assert_eq!(server.spool_files("msg").len(), 2);
}

/// Sends a header line of `len` bytes with no line end in it, in 64 KiB writes.
fn send_long_line(c: &mut Client, len: usize) {
    c.send("Subject: ");
    let chunk = vec![b'a'; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        c.send_bytes(&chunk[..n]);
        left -= n;
    }
    c.send("\r\n\r\nbody\r\n.\r\n");
}

#[test]
fn a_10_mb_header_line_over_the_limit_is_refused_without_buffering_it() {
    let server = start_roomy("long-line", "max_message_size = 1M\n", "");
    let mut c = server.connect();
    c.hello();
    let before = server.proc_status("VmHWM");
    assert!(c.cmd("MAIL FROM:<a@sender.test>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<b@x.test>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    send_long_line(&mut c, 10 << 20);
    let r = c.reply();
    assert!(r.starts_with("552 5.3.4 "), "{r}");
    let after = server.proc_status("VmHWM");
    println!(
        "10 MB line, 1 MB limit: VmHWM {:.1} -> {:.1} MiB",
        mib(before),
        mib(after)
    );
    assert!(mib(after) - mib(before) < 8.0, "{before} -> {after} kB");
    // The session is still usable.
    queued_id(&c.send_mail("a@sender.test", &["b@x.test"], MSG));
}

#[test]
fn a_10_mb_header_line_within_the_limit_is_kept_as_it_came() {
    let server = start_roomy("long-line-ok", "", "");
    let mut c = server.connect();
    c.hello();
    assert!(c.cmd("MAIL FROM:<a@sender.test>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<b@x.test>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    send_long_line(&mut c, 10 << 20);
    let id = queued_id(&c.reply());
    let hwm = server.proc_status("VmHWM");
    println!("10 MB line, default limit: VmHWM {:.1} MiB", mib(hwm));
    assert!(mib(hwm) < 200.0, "{hwm} kB");
    let stored = std::fs::read(server.spool().join(format!("{id}.msg"))).unwrap();
    let want_tail = format!("Subject: {}\r\n\r\nbody\r\n", "a".repeat(10 << 20));
    assert!(stored.ends_with(want_tail.as_bytes()));
    assert!(c.cmd("NOOP").starts_with("250"));
}

#[test]
fn a_command_trickled_a_byte_a_second_is_cut_by_its_deadline() {
    let server = start_roomy("trickle-cmd", "idle_timeout = 2s\n", "");
    let mut c = server.connect();
    assert!(c.reply().starts_with("220 "));
    // 25 bytes at one a second: every read comes well within idle_timeout, yet the line as
    // a whole takes far longer.
    let writer = trickle(
        c.stream.try_clone().unwrap(),
        b"EHLO client.qksmtp.test\r\n".to_vec(),
    );
    let r = c.reply();
    assert_eq!(r, "421 4.4.2 Timeout, closing connection");
    assert!(c.closed());
    let sent = writer.join().unwrap();
    assert!(sent < 25, "the whole line went out ({sent} bytes)");
}

#[test]
fn a_message_trickled_a_byte_a_second_is_cut_and_not_stored() {
    let server = start_roomy("trickle-data", "idle_timeout = 2s\n", "");
    let mut c = server.connect();
    c.hello();
    assert!(c.cmd("MAIL FROM:<a@sender.test>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<b@x.test>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    // Short lines, each well within idle_timeout: but 1 byte/s is under the minimum rate.
    let writer = trickle(
        c.stream.try_clone().unwrap(),
        b"a\r\nb\r\nc\r\nd\r\ne\r\nf\r\ng\r\nh\r\n.\r\n".to_vec(),
    );
    let r = c.reply();
    assert_eq!(r, "421 4.4.2 Timeout, closing connection");
    assert!(c.closed());
    assert!(writer.join().unwrap() < 27);
    assert!(server.spool_files("msg").is_empty());
}

#[test]
fn pauses_shorter_than_idle_timeout_do_not_end_a_session() {
    let server = start_roomy("pauses", "idle_timeout = 3s\n", "");
    let mut c = server.connect();
    let pause = || std::thread::sleep(Duration::from_secs(1));
    c.hello();
    pause();
    assert!(c.cmd("MAIL FROM:<a@sender.test>").starts_with("250"));
    pause();
    assert!(c.cmd("RCPT TO:<b@x.test>").starts_with("250"));
    pause();
    assert!(c.cmd("DATA").starts_with("354"));
    c.send("Subject: slow but fine\r\n");
    pause();
    // A line split across a pause, then a burst.
    c.send("Hello ");
    pause();
    c.send(&"world\r\n".repeat(2000));
    c.send(".\r\n");
    queued_id(&c.reply());
    pause();
    assert!(c.cmd("NOOP").starts_with("250"));
}

/// The (soft, hard) open-file limits in /proc/PID/limits ("unlimited" as u64::MAX).
fn open_file_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let value = |i: usize| {
        let field = line.split_whitespace().nth(i).unwrap();
        field.parse().unwrap_or(u64::MAX)
    };
    (value(3), value(4))
}

#[test]
fn the_server_raises_its_open_file_limit_to_what_max_sessions_needs() {
    // Started with a soft limit of 256 and the hard limit left alone: max_sessions = 1000
    // needs about 2,000 descriptors, so the server raises its soft limit itself.
    let ini = base_ini("max_sessions = 1000\nmax_sessions_per_ip = 1000\n", "");
    let dir = TempDir::with_ini("nofile", &ini);
    let low = ["sh", "-c", "ulimit -Sn 256 && exec \"$0\" \"$@\""];
    let server = Server::start_wrapped(dir, &low);
    let (soft, hard) = open_file_limits(server.child.id());
    assert!(
        soft >= 2000.min(hard),
        "soft limit {soft} (hard {hard}) left too low for 1,000 sessions"
    );
}

#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn the_server_runs_with_small_malloc_thread_caches_unless_told_otherwise() {
    // Started plainly, it starts itself again (same PID) with glibc's per-thread caches kept
    // to small blocks, and says so in its log (glibc rewrites the value in
    // /proc/PID/environ, so the server tells what it sees itself),
    let server = Server::start("tcache-small", &base_ini("", ""));
    server.wait_stderr("malloc: GLIBC_TUNABLES=glibc.malloc.tcache_max=256");
    let exe = std::fs::read_link(format!("/proc/{}/exe", server.child.id())).unwrap();
    assert!(exe.ends_with("qksmtp"), "{exe:?}");
    // and serves as before (`submit` asserts the 250 queued).
    submit(
        &server,
        "a@client.test",
        &["b@dest.test"],
        "Subject: x\r\n\r\nbody\r\n.\r\n",
    );
    drop(server);
    // The user's other tunables are kept; thread caches of their own choice win.
    for (given, want) in [
        (
            "glibc.malloc.arena_max=1",
            "glibc.malloc.arena_max=1:glibc.malloc.tcache_max=256",
        ),
        ("glibc.malloc.tcache_count=0", "glibc.malloc.tcache_count=0"),
    ] {
        let dir = TempDir::with_ini("tcache-given", &base_ini("", ""));
        let env = format!("GLIBC_TUNABLES={given}");
        let server = Server::start_wrapped(dir, &["env", &env]);
        let line = server.wait_stderr("malloc: GLIBC_TUNABLES=");
        assert!(line.ends_with(&format!("GLIBC_TUNABLES={want}")), "{line}");
    }
}
