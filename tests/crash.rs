//! The crash test: a stream of messages to a fake MX while the server is killed with SIGKILL
//! at chosen moments (in the middle of DATA, right after a `250`, while deliveries are in
//! flight, at a random point of the load) and restarted, several times. Afterwards every
//! message whose `250` a client read has reached the fake MX at least once, complete; a
//! message cut off before its `250` never arrives half-written; a message that arrived twice
//! was being delivered when a kill came. Prints the figures (docs/reliability.md).

mod common;

use common::fake_mx::{Delivery, FakeMx, Options, SessionLog};
use common::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const KILLS: usize = 12;
const BODY_LINES: usize = 40;
/// Longer than the harness's `WAIT`: kill and restart rounds under load.
const WAIT: Duration = Duration::from_secs(30);

/// Message `n`: `Subject: crash-n`, then numbered lines and an end line, so that a delivery
/// can be checked for completeness. Every third one goes to `slow@` (the fake MX waits 300 ms
/// before its RCPT reply), so deliveries are in flight at kill time.
fn message(n: usize) -> (String, String) {
    let rcpt = if n.is_multiple_of(3) { "slow" } else { "r" };
    let mut text = format!("Subject: crash-{n}\r\nFrom: a@sender.test\r\n\r\n");
    for i in 0..BODY_LINES {
        text.push_str(&format!(
            "crash-{n} line {i} ..........................\r\n"
        ));
    }
    text.push_str(&format!("crash-{n} end\r\n"));
    (format!("{rcpt}@crash.test"), text)
}

/// The message number a delivery carries, if it is complete; panics on a partial one.
fn complete(d: &Delivery) -> usize {
    let text = d.text();
    let subject = text.lines().find_map(|l| l.strip_prefix("Subject: crash-"));
    let n: usize = subject.expect("a crash-N subject").parse().unwrap();
    let (_, want) = message(n);
    assert!(
        text.ends_with(&want),
        "message {n} arrived incomplete or altered:\n{text}"
    );
    n
}

/// A raw SMTP conversation that gives up quietly when the server dies.
struct Conn {
    out: TcpStream,
    inp: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: SocketAddr) -> Option<Conn> {
        let out = TcpStream::connect(addr).ok()?;
        out.set_read_timeout(Some(WAIT)).ok()?;
        let inp = BufReader::new(out.try_clone().ok()?);
        let mut c = Conn { out, inp };
        c.reply().filter(|r| r.starts_with("220"))?;
        c.cmd("EHLO load.qksmtp.test")?;
        Some(c)
    }

    fn reply(&mut self) -> Option<String> {
        loop {
            let mut line = String::new();
            if self.inp.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some(line.trim_end().to_string());
            }
        }
    }

    fn cmd(&mut self, line: &str) -> Option<String> {
        self.out.write_all(format!("{line}\r\n").as_bytes()).ok()?;
        self.reply()
    }

    /// MAIL, RCPT, DATA and the first `part` bytes of message `n` (all of it, with the end
    /// marker, when `part` is None); returns the final reply in that case.
    fn send(&mut self, n: usize, part: Option<usize>) -> Option<String> {
        let (rcpt, text) = message(n);
        self.cmd("MAIL FROM:<a@sender.test>")?;
        self.cmd(&format!("RCPT TO:<{rcpt}>"))?;
        self.cmd("DATA").filter(|r| r.starts_with("354"))?;
        match part {
            Some(len) => {
                self.out.write_all(&text.as_bytes()[..len]).ok()?;
                Some(String::new())
            }
            None => {
                self.out.write_all(format!("{text}.\r\n").as_bytes()).ok()?;
                self.reply()
            }
        }
    }
}

/// Every message a client sent: number -> whether it read the `250`.
type Sent = HashMap<usize, bool>;

/// Submits messages one after the other until the server dies or `stop` is set.
fn load(
    addr: SocketAddr,
    next: Arc<AtomicUsize>,
    acked: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Sent {
    let mut sent = Sent::new();
    let Some(mut c) = Conn::open(addr) else {
        return sent;
    };
    while !stop.load(Ordering::SeqCst) {
        let n = next.fetch_add(1, Ordering::SeqCst);
        let ok = c.send(n, None).is_some_and(|r| r.starts_with("250"));
        sent.insert(n, ok);
        if !ok {
            return sent;
        }
        acked.fetch_add(1, Ordering::SeqCst);
    }
    c.cmd("QUIT");
    sent
}

/// Waits until `n` more messages were acknowledged to the load.
fn wait_acked(acked: &AtomicUsize, n: usize) {
    let target = acked.load(Ordering::SeqCst) + n;
    wait_for(WAIT, || {
        let now = acked.load(Ordering::SeqCst);
        (now >= target)
            .then_some(())
            .ok_or_else(|| format!("the load does not progress: {now} of {target} acknowledged"))
    });
}

/// Brings the server to the kill moment of this round; returns what the main thread sent,
/// and the connection that must stay open until the kill.
fn kill_moment(
    round: usize,
    server: &Server,
    mx: &FakeMx,
    next: &AtomicUsize,
) -> (Sent, Option<Conn>) {
    let mut sent = Sent::new();
    let mut open = None;
    match round % 4 {
        // In the middle of DATA: half a message is in, no end marker, the connection open.
        0 => {
            let mut c = Conn::open(server.addr).expect("connect");
            let n = next.fetch_add(1, Ordering::SeqCst);
            let half = message(n).1.len() / 2;
            c.send(n, Some(half)).expect("half a message");
            sent.insert(n, false);
            open = Some(c);
        }
        // Right after a 250.
        1 => {
            let mut c = Conn::open(server.addr).expect("connect");
            let n = next.fetch_add(1, Ordering::SeqCst);
            let reply = c.send(n, None).unwrap_or_default();
            sent.insert(n, reply.starts_with("250"));
        }
        // While a delivery is in flight: the fake MX is holding a RCPT reply.
        2 => {
            let holding = |s: &SessionLog| {
                s.ended.is_none() && s.lines.last().is_some_and(|l| l.contains("<slow@"))
            };
            let seen = mx.wait_until(WAIT, |_, s| s.iter().any(holding));
            assert!(seen, "no delivery in flight:\n{}", mx.transcript());
        }
        // Anywhere in the load: up to 50 ms later, by the clock's nanoseconds.
        _ => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos();
            std::thread::sleep(Duration::from_millis(u64::from(nanos % 50)));
        }
    }
    (sent, open)
}

#[test]
fn nothing_acknowledged_is_lost_across_kill_9() {
    let t0 = Instant::now();
    let mx = FakeMx::start(Options::new());
    let rules =
        "retry_delay = 1s\nmax_connections = 4\nmax_continuous = 1000\ncontinuous_delay = 0";
    let mut server = Server::start("crash", &base_ini("", &route("crash.test", &mx, rules)));
    let next = Arc::new(AtomicUsize::new(1));
    let acked = Arc::new(AtomicUsize::new(0));
    let mut sent = Sent::new();
    let mut kills = Vec::new();
    let mut halves = Vec::new();
    for round in 0..KILLS {
        let stop = Arc::new(AtomicBool::new(false));
        let loaders: Vec<_> = (0..2)
            .map(|_| {
                let (addr, next, acked, stop) =
                    (server.addr, next.clone(), acked.clone(), stop.clone());
                std::thread::spawn(move || load(addr, next, acked, stop))
            })
            .collect();
        wait_acked(&acked, 5 + 3 * round);
        let (mine, half_sent) = kill_moment(round, &server, &mx, &next);
        kills.push(Instant::now());
        let dir = server.kill9();
        if half_sent.is_some() {
            halves.extend(mine.keys().copied());
        }
        drop(half_sent);
        for l in loaders {
            sent.extend(l.join().unwrap());
        }
        sent.extend(mine);
        server = Server::start_in(dir);
    }
    // A last, quiet run: everything still pending goes out.
    let must: Vec<usize> = sent
        .iter()
        .filter(|(_, ok)| **ok)
        .map(|(n, _)| *n)
        .collect();
    let arrived = |d: &[Delivery]| {
        let have: std::collections::HashSet<usize> = d.iter().map(complete).collect();
        must.iter().all(|n| have.contains(n))
    };
    assert!(
        mx.wait_until(Duration::from_secs(60), |d, _| arrived(d)),
        "acknowledged messages missing after the last restart:\n{:?}",
        missing(&must, &mx.deliveries())
    );
    wait_for(WAIT, || {
        let left = server.spool_files("env");
        left.is_empty()
            .then_some(())
            .ok_or_else(|| format!("the spool does not drain: {left:?}"))
    });
    report(&sent, &mx, &kills, t0);
    let delivered: Vec<usize> = mx.deliveries().iter().map(complete).collect();
    let committed_halves: Vec<_> = halves.iter().filter(|n| delivered.contains(n)).collect();
    assert!(
        committed_halves.is_empty(),
        "messages killed in the middle of DATA were delivered: {committed_halves:?}"
    );
    let corrupt = server.spool().join("corrupt");
    let damaged: Vec<_> = std::fs::read_dir(&corrupt)
        .map(|rd| rd.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(
        damaged.is_empty(),
        "kills must not look like damage: {damaged:?}"
    );
}

fn missing(must: &[usize], deliveries: &[Delivery]) -> Vec<usize> {
    let have: Vec<usize> = deliveries.iter().map(complete).collect();
    must.iter().copied().filter(|n| !have.contains(n)).collect()
}

/// Checks duplicates and cut-off messages, and prints the figures.
fn report(sent: &Sent, mx: &FakeMx, kills: &[Instant], t0: Instant) {
    let deliveries = mx.deliveries();
    let sessions = mx.sessions();
    let mut copies: HashMap<usize, Vec<&Delivery>> = HashMap::new();
    for d in &deliveries {
        copies.entry(complete(d)).or_default().push(d);
    }
    // A copy is allowed again only when a kill came after the previous copy's session had
    // started (that delivery was in flight: its removal from the spool not yet done) and
    // before the next one's: a second copy without a kill between is a scheduler bug.
    let kill_between = |a: &Delivery, b: &Delivery| {
        let (from, to) = (sessions[a.session].started, sessions[b.session].started);
        kills.iter().any(|k| from <= *k && *k <= to)
    };
    let mut duplicates = 0;
    for (n, list) in &copies {
        for pair in list.windows(2) {
            duplicates += 1;
            assert!(
                kill_between(pair[0], pair[1]),
                "message {n} arrived again without a kill while it was in flight"
            );
        }
        assert!(sent.contains_key(n), "message {n} was never sent");
    }
    let acked = sent.values().filter(|ok| **ok).count();
    let lost = sent
        .iter()
        .filter(|(n, ok)| **ok && !copies.contains_key(n))
        .count();
    assert_eq!(lost, 0);
    let cut: Vec<usize> = sent
        .iter()
        .filter(|(_, ok)| !**ok)
        .map(|(n, _)| *n)
        .collect();
    let cut_arrived = cut.iter().filter(|n| copies.contains_key(n)).count();
    println!(
        "crash test: {} kills survived, {} messages sent, {acked} acknowledged, {lost} lost, \
         {duplicates} duplicate deliveries (all in flight at a kill), {} cut off before their 250 \
         ({cut_arrived} of them arrived anyway, complete: the kill came between commit and reply), \
         {} deliveries in {:.1}s",
        kills.len(),
        sent.len(),
        cut.len(),
        deliveries.len(),
        t0.elapsed().as_secs_f64()
    );
}
