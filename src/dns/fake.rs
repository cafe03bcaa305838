//! Test-only DNS responder on 127.0.0.1 (UDP, and TCP on the same port): hand-built RFC 1035
//! wire format, answers decided by a closure. std only, so it can be copied into tests/.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

pub const TYPE_A: u16 = 1;
pub const TYPE_MX: u16 = 15;
pub const TYPE_AAAA: u16 = 28;
pub const NXDOMAIN: u8 = 3;
pub const SERVFAIL: u8 = 2;
pub const REFUSED: u8 = 5;

/// One answer record; its owner is the question name.
#[derive(Debug, Clone)]
pub enum Rr {
    Mx(u16, String),
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
}

/// What the responder does with one question.
#[derive(Debug, Clone)]
pub enum Reply {
    /// NOERROR with these answers; an empty list is NODATA.
    Answer(Vec<Rr>),
    /// An error response code with no answers (NXDOMAIN=3, SERVFAIL=2, REFUSED=5).
    Rcode(u8),
    /// Never answers (timeout tests).
    Silent,
    /// Answers after a pause, from its own thread (concurrency tests).
    Delayed(Duration, Box<Reply>),
    /// Over UDP: an empty answer with the TC bit; over TCP: the inner reply.
    TruncatedUdp(Box<Reply>),
}

type Zone = dyn Fn(&str, u16) -> Reply + Send + Sync;

/// A running responder; stops when dropped.
pub struct FakeDns {
    pub addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl FakeDns {
    /// `zone(name, qtype)` gets the question name lower-cased, without trailing dot.
    pub fn start(zone: impl Fn(&str, u16) -> Reply + Send + Sync + 'static) -> FakeDns {
        let (udp, tcp) = bind_pair();
        let addr = udp.local_addr().unwrap();
        let zone: Arc<Zone> = Arc::new(zone);
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let ctx = Ctx {
            zone,
            queries: queries.clone(),
            stop: stop.clone(),
        };
        let ctx2 = ctx.clone();
        let threads = vec![
            thread::spawn(move || serve_udp(udp, ctx)),
            thread::spawn(move || serve_tcp(tcp, ctx2)),
        ];
        FakeDns {
            addr,
            queries,
            stop,
            threads,
        }
    }

    /// Questions received so far (UDP and TCP).
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[derive(Clone)]
struct Ctx {
    zone: Arc<Zone>,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// A UDP socket and a TCP listener on the same loopback port.
fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()) {
            return (udp, tcp);
        }
    }
    panic!("no free UDP+TCP port pair on 127.0.0.1");
}

fn serve_udp(sock: UdpSocket, ctx: Ctx) {
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = [0u8; 1500];
    while !ctx.stop.load(Ordering::SeqCst) {
        let Ok((n, peer)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let Some(q) = Question::parse(&buf[..n]) else {
            continue;
        };
        ctx.queries.fetch_add(1, Ordering::SeqCst);
        let reply = (ctx.zone)(&q.name, q.qtype);
        let sock = sock.try_clone().unwrap();
        let send = move |reply: &Reply| {
            if let Some(bytes) = q.respond(reply, false) {
                let _ = sock.send_to(&bytes, peer);
            }
        };
        match reply {
            Reply::Delayed(pause, inner) => {
                thread::spawn(move || {
                    thread::sleep(pause);
                    send(&inner);
                });
            }
            other => send(&other),
        }
    }
}

fn serve_tcp(listener: TcpListener, ctx: Ctx) {
    listener.set_nonblocking(true).unwrap();
    while !ctx.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let ctx = ctx.clone();
                thread::spawn(move || serve_tcp_conn(stream, ctx));
            }
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Length-prefixed messages (RFC 1035 §4.2.2) until the client closes or the responder stops.
fn serve_tcp_conn(mut stream: TcpStream, ctx: Ctx) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut len = [0u8; 2];
    while !ctx.stop.load(Ordering::SeqCst) {
        match stream.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(_) => return,
        }
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        if stream.read_exact(&mut msg).is_err() {
            return;
        }
        let Some(q) = Question::parse(&msg) else {
            return;
        };
        ctx.queries.fetch_add(1, Ordering::SeqCst);
        let mut reply = (ctx.zone)(&q.name, q.qtype);
        if let Reply::Delayed(pause, inner) = reply {
            thread::sleep(pause);
            reply = *inner;
        }
        if let Some(bytes) = q.respond(&reply, true) {
            let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
            framed.extend(bytes);
            if stream.write_all(&framed).is_err() {
                return;
            }
        }
    }
}

/// The parts of a query we echo back.
struct Question {
    id: [u8; 2],
    flags: u16,
    /// The question section exactly as received.
    raw: Vec<u8>,
    name: String,
    qtype: u16,
}

impl Question {
    fn parse(msg: &[u8]) -> Option<Question> {
        if msg.len() < 12 || u16::from_be_bytes([msg[4], msg[5]]) != 1 {
            return None;
        }
        let mut labels = Vec::new();
        let mut i = 12;
        loop {
            let len = *msg.get(i)? as usize;
            if len == 0 {
                i += 1;
                break;
            }
            if len & 0xC0 != 0 {
                return None;
            }
            labels.push(String::from_utf8_lossy(msg.get(i + 1..i + 1 + len)?).to_lowercase());
            i += 1 + len;
        }
        let qtype = u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?]);
        let end = i + 4;
        Some(Question {
            id: [msg[0], msg[1]],
            flags: u16::from_be_bytes([msg[2], msg[3]]),
            raw: msg.get(12..end)?.to_vec(),
            name: labels.join("."),
            qtype,
        })
    }

    /// The response message, or None to stay silent.
    fn respond(&self, reply: &Reply, tcp: bool) -> Option<Vec<u8>> {
        let (rcode, answers, tc): (u8, &[Rr], bool) = match reply {
            Reply::Answer(rrs) => (0, rrs, false),
            Reply::Rcode(code) => (*code, &[], false),
            Reply::Silent => return None,
            Reply::Delayed(_, inner) => return self.respond(inner, tcp),
            Reply::TruncatedUdp(inner) if tcp => return self.respond(inner, tcp),
            Reply::TruncatedUdp(_) => (0, &[], true),
        };
        // QR, opcode and RD echoed, AA, RA, TC when asked, rcode.
        let mut flags = 0x8000 | (self.flags & 0x7900) | 0x0400 | 0x0080 | u16::from(rcode);
        if tc {
            flags |= 0x0200;
        }
        let mut out = self.id.to_vec();
        out.extend(flags.to_be_bytes());
        for count in [1, answers.len() as u16, 0, 0] {
            out.extend(count.to_be_bytes());
        }
        out.extend(&self.raw);
        for rr in answers {
            encode_rr(&mut out, rr);
        }
        Some(out)
    }
}

/// An answer record whose owner is the question name (compression pointer to offset 12).
fn encode_rr(out: &mut Vec<u8>, rr: &Rr) {
    let (rtype, rdata) = match rr {
        Rr::A(ip) => (TYPE_A, ip.octets().to_vec()),
        Rr::Aaaa(ip) => (TYPE_AAAA, ip.octets().to_vec()),
        Rr::Mx(pref, host) => {
            let mut data = pref.to_be_bytes().to_vec();
            encode_name(&mut data, host);
            (TYPE_MX, data)
        }
    };
    out.extend([0xC0, 0x0C]);
    out.extend(rtype.to_be_bytes());
    out.extend(1u16.to_be_bytes()); // class IN
    out.extend(300u32.to_be_bytes()); // TTL
    out.extend((rdata.len() as u16).to_be_bytes());
    out.extend(rdata);
}

/// Uncompressed labels; "." (or "") is the root.
fn encode_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend(label.as_bytes());
    }
    out.push(0);
}
