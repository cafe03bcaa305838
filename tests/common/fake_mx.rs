//! The one fake SMTP server of the tests: listens on 127.0.0.1:0, answers by the recipient's
//! local part and by its `Options` (with a `script` of misbehaviour), and records every
//! session and every accepted message.
//!
//! Magic local parts (case-insensitive, the part before the last '@'):
//! - `tempfail`: 451 4.7.1 the first time this address is seen by this FakeMx, 250 afterwards;
//! - `permfail`: 550 5.1.1 no such user;
//! - `later-permfail`: 451 4.3.0 the first time this address is seen, 550 5.1.1 afterwards;
//! - `policy`: 550 5.7.1 client host blocked;
//! - `disconnect-in-data`: RCPT ok, but after DATA's 354 the server reads some data and then
//!   drops the connection without a reply;
//! - `slow`: sleeps 300 ms before answering RCPT (250), to make sessions overlap;
//! - anything else: 250 2.1.5.
//!
//! Misbehaviour at a chosen step (see `script.rs`): e.g. `Rule::new(Step::Mail,
//! Act::ReplyClose("421 4.3.2 shutting down".into()))`, `Rule::new(Step::Greeting,
//! Act::Silent)`, `Rule::new(Step::Rcpt, Act::Reply("452 4.5.3 Too many".into())).from(4)`,
//! `Rule::new(Step::Idle, Act::ReplyClose(..))` with `idle` set, `.sessions(0..2)` for a
//! server that throttles its first connections; `split_replies` for one byte per packet;
//! `implicit_tls` for a server that speaks TLS from the first byte.

mod script;
mod session;

pub use script::{Act, Rule, Step};

use std::collections::HashSet;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a session waits for the client before giving up (unless `Options::idle`).
const IDLE: Duration = Duration::from_secs(60);
const MAX_SIZE: u64 = 10_485_760;

#[derive(Clone, Default)]
pub struct Options {
    /// Advertise PIPELINING (true with `Options::new()`).
    pub pipelining: bool,
    /// Advertise DSN.
    pub dsn: bool,
    /// Advertise STARTTLS and do the server-side handshake with this identity.
    pub tls: Option<native_tls::Identity>,
    /// With `tls`: the handshake comes first, before the greeting (implicit TLS, port 465
    /// style, as a relay with `tls = tls` expects); STARTTLS is then not offered.
    pub implicit_tls: bool,
    /// Advertise "AUTH PLAIN LOGIN", require AUTH before MAIL and check these credentials.
    pub auth: Option<(String, String)>,
    /// A replacement greeting, e.g. "421 4.3.2 busy" (sent, then the connection is closed) or
    /// "554 5.7.1 go away" (sent, then everything but QUIT gets 503).
    pub greeting: Option<String>,
    /// Every RCPT gets 451 4.3.0 (until `FakeMx::set_tempfail_all(false)`).
    pub tempfail_all: bool,
    /// The name in the greeting and the EHLO reply ("mx.fake.test" when empty).
    pub name: String,
    /// More EHLO keywords, offered whether or not the fake can do them (e.g. "STARTTLS"
    /// without `tls`, for a script that breaks the handshake).
    pub extensions: Vec<String>,
    /// Misbehaviour at chosen steps; the first rule that applies wins.
    pub script: Vec<Rule>,
    /// Every reply goes out one byte per packet.
    pub split_replies: bool,
    /// How long the client may send nothing before `Step::Idle` (60 s when None; without an
    /// `Idle` rule the session then ends quietly).
    pub idle: Option<Duration>,
    /// Listen here instead of 127.0.0.1 on a free port (e.g. port 25 of an address from
    /// `loopback`, as an MX found through DNS; needs root).
    pub bind: Option<SocketAddr>,
    /// The EHLO reply says the client is at this address, as Gmail's does ("NAME at your
    /// service, [IP]"): the public address of a client behind NAT.
    pub sees_client_as: Option<std::net::IpAddr>,
}

impl Options {
    pub fn new() -> Options {
        Options {
            pipelining: true,
            name: "mx.fake.test".to_string(),
            ..Options::default()
        }
    }

    /// `Options::new()` with this script.
    pub fn scripted(script: Vec<Rule>) -> Options {
        Options {
            script,
            ..Options::new()
        }
    }
}

/// One accepted message.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// Index into `sessions()`.
    pub session: usize,
    /// The raw MAIL path and its parameters, e.g. "<a@x.test> SIZE=123".
    pub mail_from: String,
    /// Accepted recipients, raw, e.g. "<b@x.test> NOTIFY=SUCCESS,FAILURE".
    pub rcpts: Vec<String>,
    /// The message as received, dot-unstuffed, without the final ".\r\n".
    pub data: Vec<u8>,
    pub tls: bool,
    pub auth_user: Option<String>,
}

impl Delivery {
    /// The data as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// The bare recipient addresses (between the angle brackets).
    pub fn rcpt_addrs(&self) -> Vec<String> {
        self.rcpts.iter().map(|r| path_addr(r)).collect()
    }

    /// The bare sender address (between the angle brackets; "" for the null path).
    pub fn sender_addr(&self) -> String {
        path_addr(&self.mail_from)
    }
}

/// One connection.
#[derive(Clone, Debug)]
pub struct SessionLog {
    pub started: Instant,
    pub ended: Option<Instant>,
    /// Every command line received, in order, without the CRLF (AUTH payload lines verbatim).
    pub lines: Vec<String>,
    /// The same lines grouped by the socket read that completed them.
    pub reads: Vec<Vec<String>>,
    /// Whether STARTTLS completed.
    pub tls: bool,
    /// The argument of the latest EHLO (or HELO).
    pub ehlo: Option<String>,
}

#[derive(Default)]
struct State {
    deliveries: Vec<Delivery>,
    sessions: Vec<SessionLog>,
    /// Clones of the sessions' sockets, to shut them down when the FakeMx is dropped.
    streams: Vec<Option<TcpStream>>,
    current: usize,
    max_concurrent: usize,
    tempfail_seen: HashSet<String>,
    queued: usize,
    /// `Options::tempfail_all` as changed while running (`set_tempfail_all`).
    tempfail_all: Option<bool>,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.0.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct FakeMx {
    pub addr: SocketAddr,
    state: Shared,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeMx {
    pub fn start(opts: Options) -> FakeMx {
        let at = opts.bind.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
        let listener = TcpListener::bind(at).unwrap_or_else(|e| panic!("bind fake MX {at}: {e}"));
        let addr = listener.local_addr().unwrap();
        let state: Shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let acceptor = opts.tls.as_ref().map(|id| {
            Arc::new(native_tls::TlsAcceptor::new(id.clone()).expect("fake MX TLS acceptor"))
        });
        let opts = Arc::new(opts);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let id = open_session(&state, &stream);
                    let session =
                        session::Session::new(id, &state, &opts, acceptor.clone(), stream);
                    std::thread::spawn(move || session.serve());
                }
            })
        };
        FakeMx {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// A fake MX on `ip`:25 (as an MX host found through DNS; needs root) offering STARTTLS
    /// with `identity`; `ip` from `loopback::Net`, so that no other test uses it.
    pub fn tls_on_25(ip: &str, identity: native_tls::Identity) -> FakeMx {
        FakeMx::start(Options {
            tls: Some(identity),
            bind: Some(format!("{ip}:25").parse().unwrap()),
            ..Options::new()
        })
    }

    /// Turns `Options::tempfail_all` on or off for the RCPTs from now on.
    pub fn set_tempfail_all(&self, on: bool) {
        lock(&self.state).tempfail_all = Some(on);
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.state).deliveries.clone()
    }

    pub fn sessions(&self) -> Vec<SessionLog> {
        lock(&self.state).sessions.clone()
    }

    /// The largest number of sessions open at the same time so far.
    pub fn max_concurrent(&self) -> usize {
        lock(&self.state).max_concurrent
    }

    /// Sessions open right now.
    pub fn current_sessions(&self) -> usize {
        lock(&self.state).current
    }

    /// Blocks until `cond(&deliveries, &sessions)` holds or `timeout` passes; returns whether
    /// it holds. Re-checked on every state change (no polling).
    pub fn wait_until(
        &self,
        timeout: Duration,
        cond: impl Fn(&[Delivery], &[SessionLog]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.state);
        loop {
            if cond(&st.deliveries, &st.sessions) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self
                .state
                .1
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits for at least `n` deliveries and returns them all; panics with the transcript of
    /// every session when they do not arrive in time.
    pub fn wait_deliveries(&self, n: usize, timeout: Duration) -> Vec<Delivery> {
        if !self.wait_until(timeout, |d, _| d.len() >= n) {
            panic!(
                "fake MX {}: expected {n} deliveries within {timeout:?}, got {}\n{}",
                self.addr,
                self.deliveries().len(),
                self.transcript()
            );
        }
        self.deliveries()
    }

    /// Waits until `n` sessions have been opened and all of them have ended.
    pub fn wait_sessions_ended(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |_, s| {
            s.len() >= n && s.iter().all(|s| s.ended.is_some())
        })
    }

    /// Every session's command lines, for failure messages.
    pub fn transcript(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.sessions().iter().enumerate() {
            out.push_str(&format!(
                "session {i} (tls {}, {}):\n",
                s.tls,
                if s.ended.is_some() { "ended" } else { "open" }
            ));
            for line in &s.lines {
                out.push_str("  C: ");
                out.push_str(line);
                out.push('\n');
            }
        }
        if out.is_empty() {
            out.push_str("(no sessions)\n");
        }
        out
    }
}

impl Drop for FakeMx {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mut st = lock(&self.state);
        for s in st.streams.iter_mut() {
            if let Some(s) = s.take() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

/// Records a new connection; returns its session number.
fn open_session(shared: &Shared, stream: &TcpStream) -> usize {
    let mut st = lock(shared);
    st.sessions.push(SessionLog {
        started: Instant::now(),
        ended: None,
        lines: Vec::new(),
        reads: Vec::new(),
        tls: false,
        ehlo: None,
    });
    st.streams.push(stream.try_clone().ok());
    st.current += 1;
    st.max_concurrent = st.max_concurrent.max(st.current);
    shared.1.notify_all();
    st.sessions.len() - 1
}

/// Marks session `id` ended and no longer counted as open (once, whichever comes first: its
/// QUIT, before the 221 goes out, or the end of its thread). Counting a session that said QUIT
/// as open until its thread ends would see a client's next connection overlap the old one.
fn end_session(shared: &Shared, id: usize) {
    let mut st = lock(shared);
    let Some(s) = st.sessions.get_mut(id) else {
        return;
    };
    if s.ended.is_none() {
        s.ended = Some(Instant::now());
        st.current = st.current.saturating_sub(1);
        shared.1.notify_all();
    }
}

/// The address between the angle brackets of a raw path ("<a@x.test> SIZE=1" → "a@x.test").
pub fn path_addr(path: &str) -> String {
    let p = path.trim();
    match (p.find('<'), p.find('>')) {
        (Some(a), Some(b)) if a < b => p[a + 1..b].to_string(),
        _ => p.split_whitespace().next().unwrap_or("").to_string(),
    }
}
