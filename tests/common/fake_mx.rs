//! A scripted fake SMTP server for delivery tests: listens on 127.0.0.1:0, answers by the
//! recipient's local part, and records every session and every accepted message.
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

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a session waits for the client before giving up.
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
    /// Advertise "AUTH PLAIN LOGIN", require AUTH before MAIL and check these credentials.
    pub auth: Option<(String, String)>,
    /// A replacement greeting, e.g. "421 4.3.2 busy" (sent, then the connection is closed) or
    /// "554 5.7.1 go away" (sent, then everything but QUIT gets 503).
    pub greeting: Option<String>,
    /// Every RCPT gets 451 4.3.0 (until `FakeMx::set_tempfail_all(false)`).
    pub tempfail_all: bool,
    /// The name in the greeting and the EHLO reply ("mx.fake.test" when empty).
    pub name: String,
}

impl Options {
    pub fn new() -> Options {
        Options {
            pipelining: true,
            name: "mx.fake.test".to_string(),
            ..Options::default()
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
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake MX");
        let addr = listener.local_addr().unwrap();
        let state: Shared = Arc::new((
            Mutex::new(State {
                deliveries: Vec::new(),
                sessions: Vec::new(),
                streams: Vec::new(),
                current: 0,
                max_concurrent: 0,
                tempfail_seen: HashSet::new(),
                queued: 0,
                tempfail_all: None,
            }),
            Condvar::new(),
        ));
        let acceptor = opts.tls.as_ref().map(|id| {
            Arc::new(native_tls::TlsAcceptor::new(id.clone()).expect("fake MX TLS acceptor"))
        });
        let opts = Arc::new(opts);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = state.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let id = {
                        let mut st = lock(&state);
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
                        state.1.notify_all();
                        st.sessions.len() - 1
                    };
                    let session = Session {
                        id,
                        shared: state.clone(),
                        opts: opts.clone(),
                        acceptor: acceptor.clone(),
                        conn: Conn::Plain(stream),
                        buf: Vec::new(),
                        new_read: true,
                        data_scan: 0,
                        mode: Mode::Command,
                        helo: false,
                        tls: false,
                        auth_user: None,
                        mail_from: None,
                        rcpts: Vec::new(),
                        disconnect_in_data: false,
                    };
                    std::thread::spawn(move || {
                        let _guard = EndGuard {
                            shared: session.shared.clone(),
                            id,
                        };
                        let mut session = session;
                        let _ = session.run();
                    });
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

/// Marks the session ended however its thread finishes.
struct EndGuard {
    shared: Shared,
    id: usize,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        end_session(&self.shared, self.id);
        if let Some(s) = lock(&self.shared).streams.get_mut(self.id) {
            *s = None;
        }
    }
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

enum Conn {
    Plain(TcpStream),
    Tls(Box<native_tls::TlsStream<TcpStream>>),
    Gone,
}

impl Conn {
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Conn::Plain(s) => Some(s),
            Conn::Tls(s) => Some(s.get_ref()),
            Conn::Gone => None,
        }
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection gone")
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
            Conn::Gone => Err(gone()),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
            Conn::Gone => Err(gone()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
            Conn::Gone => Err(gone()),
        }
    }
}

enum Mode {
    Command,
    /// 503 to everything but QUIT (after a 5xx greeting).
    Refusing,
    AuthPlain,
    AuthLoginUser,
    AuthLoginPass(String),
    Data,
}

enum Flow {
    Go,
    Close,
    StartTls,
}

struct Session {
    id: usize,
    shared: Shared,
    opts: Arc<Options>,
    acceptor: Option<Arc<native_tls::TlsAcceptor>>,
    conn: Conn,
    buf: Vec<u8>,
    /// The next recorded line starts a new group in `reads`.
    new_read: bool,
    /// In data mode: where to resume looking for the terminator.
    data_scan: usize,
    mode: Mode,
    helo: bool,
    tls: bool,
    auth_user: Option<String>,
    mail_from: Option<String>,
    rcpts: Vec<String>,
    disconnect_in_data: bool,
}

impl Session {
    fn name(&self) -> &str {
        if self.opts.name.is_empty() {
            "mx.fake.test"
        } else {
            &self.opts.name
        }
    }

    fn reply(&mut self, text: &str) -> io::Result<()> {
        self.conn.write_all(format!("{text}\r\n").as_bytes())?;
        self.conn.flush()
    }

    fn run(&mut self) -> io::Result<()> {
        if let Some(tcp) = self.conn.tcp() {
            tcp.set_read_timeout(Some(IDLE))?;
            tcp.set_write_timeout(Some(IDLE))?;
        }
        match self.opts.greeting.clone() {
            Some(g) if g.starts_with("421") => {
                self.reply(&g)?;
                return Ok(());
            }
            Some(g) if g.starts_with('2') => self.reply(&g)?,
            Some(g) => {
                self.reply(&g)?;
                self.mode = Mode::Refusing;
            }
            None => {
                let g = format!("220 {} ESMTP fake", self.name());
                self.reply(&g)?;
            }
        }
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            // Everything complete in the buffer first.
            loop {
                if let Mode::Data = self.mode {
                    if self.disconnect_in_data {
                        if self.buf.is_empty() {
                            break;
                        }
                        self.abort();
                        return Ok(());
                    }
                    match self.take_data() {
                        Some(data) => self.end_data(data)?,
                        None => break,
                    }
                } else {
                    let Some(line) = take_line(&mut self.buf) else {
                        break;
                    };
                    self.record_line(&line);
                    match self.handle(&line)? {
                        Flow::Go => {}
                        Flow::Close => return Ok(()),
                        Flow::StartTls => {
                            // Anything pipelined after STARTTLS is discarded.
                            self.buf.clear();
                            self.start_tls()?;
                        }
                    }
                }
            }
            let n = self.conn.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            self.buf.extend_from_slice(&chunk[..n]);
            self.new_read = true;
        }
    }

    fn record_line(&mut self, line: &str) {
        let mut st = lock(&self.shared);
        let s = &mut st.sessions[self.id];
        s.lines.push(line.to_string());
        if self.new_read || s.reads.is_empty() {
            s.reads.push(vec![line.to_string()]);
        } else {
            s.reads.last_mut().unwrap().push(line.to_string());
        }
        self.new_read = false;
        self.shared.1.notify_all();
    }

    fn abort(&mut self) {
        if let Some(tcp) = self.conn.tcp() {
            let _ = tcp.shutdown(Shutdown::Both);
        }
        self.conn = Conn::Gone;
    }

    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.rcpts.clear();
        self.disconnect_in_data = false;
    }

    fn handle(&mut self, line: &str) -> io::Result<Flow> {
        match std::mem::replace(&mut self.mode, Mode::Command) {
            Mode::Refusing => {
                self.mode = Mode::Refusing;
                if verb(line) == "QUIT" {
                    self.reply("221 2.0.0 Bye")?;
                    return Ok(Flow::Close);
                }
                self.reply("503 5.5.1 No service")?;
                return Ok(Flow::Go);
            }
            Mode::AuthPlain => {
                self.auth_plain(line)?;
                return Ok(Flow::Go);
            }
            Mode::AuthLoginUser => {
                if line == "*" {
                    self.reply("501 5.0.0 Authentication cancelled")?;
                    return Ok(Flow::Go);
                }
                match b64_text(line) {
                    Some(user) => {
                        self.mode = Mode::AuthLoginPass(user);
                        self.reply("334 UGFzc3dvcmQ6")?;
                    }
                    None => self.reply("501 5.5.2 Cannot decode response")?,
                }
                return Ok(Flow::Go);
            }
            Mode::AuthLoginPass(user) => {
                if line == "*" {
                    self.reply("501 5.0.0 Authentication cancelled")?;
                    return Ok(Flow::Go);
                }
                match b64_text(line) {
                    Some(pass) => self.check_auth(&user, &pass)?,
                    None => self.reply("501 5.5.2 Cannot decode response")?,
                }
                return Ok(Flow::Go);
            }
            Mode::Command | Mode::Data => {}
        }
        let verb = verb(line);
        let arg = line.get(verb.len()..).unwrap_or("").trim();
        match verb.as_str() {
            "EHLO" => {
                self.helo = true;
                self.reset_transaction();
                self.set_ehlo(arg);
                let mut lines = vec![self.name().to_string()];
                if self.opts.pipelining {
                    lines.push("PIPELINING".into());
                }
                lines.push(format!("SIZE {MAX_SIZE}"));
                lines.push("8BITMIME".into());
                if self.opts.dsn {
                    lines.push("DSN".into());
                }
                if self.acceptor.is_some() && !self.tls {
                    lines.push("STARTTLS".into());
                }
                if self.opts.auth.is_some() {
                    lines.push("AUTH PLAIN LOGIN".into());
                }
                lines.push("ENHANCEDSTATUSCODES".into());
                let last = lines.len() - 1;
                let text: String = lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }))
                    .collect();
                self.conn.write_all(text.as_bytes())?;
                self.conn.flush()?;
            }
            "HELO" => {
                self.helo = true;
                self.reset_transaction();
                self.set_ehlo(arg);
                let r = format!("250 {}", self.name());
                self.reply(&r)?;
            }
            "MAIL" => self.mail(arg)?,
            "RCPT" => self.rcpt(arg)?,
            "DATA" => {
                if self.mail_from.is_none() {
                    self.reply("503 5.5.1 Need MAIL first")?;
                } else if self.rcpts.is_empty() {
                    self.reply("554 5.5.1 No valid recipients")?;
                } else {
                    self.mode = Mode::Data;
                    self.data_scan = 0;
                    self.reply("354 End data with <CR><LF>.<CR><LF>")?;
                }
            }
            "RSET" => {
                self.reset_transaction();
                self.reply("250 2.0.0 Ok")?;
            }
            "NOOP" => self.reply("250 2.0.0 Ok")?,
            "QUIT" => {
                end_session(&self.shared, self.id);
                self.reply("221 2.0.0 Bye")?;
                return Ok(Flow::Close);
            }
            "STARTTLS" => {
                if self.acceptor.is_none() {
                    self.reply("502 5.5.1 STARTTLS not offered")?;
                } else if self.tls {
                    self.reply("503 5.5.1 Already in TLS")?;
                } else {
                    self.reply("220 2.0.0 Ready to start TLS")?;
                    return Ok(Flow::StartTls);
                }
            }
            "AUTH" => self.auth(arg)?,
            _ => self.reply("500 5.5.2 Command not recognized")?,
        }
        Ok(Flow::Go)
    }

    fn set_ehlo(&mut self, arg: &str) {
        let mut st = lock(&self.shared);
        st.sessions[self.id].ehlo = Some(arg.to_string());
        self.shared.1.notify_all();
    }

    fn mail(&mut self, arg: &str) -> io::Result<()> {
        let Some(path) = strip_prefix_ci(arg, "FROM:") else {
            return self.reply("501 5.5.4 Syntax: MAIL FROM:<address>");
        };
        let path = path.trim().to_string();
        if !self.helo {
            return self.reply("503 5.5.1 Send EHLO/HELO first");
        }
        if self.opts.auth.is_some() && self.auth_user.is_none() {
            return self.reply("530 5.7.0 Authentication required");
        }
        if self.mail_from.is_some() {
            return self.reply("503 5.5.1 Nested MAIL command");
        }
        if !path.starts_with('<') || !path.contains('>') {
            return self.reply("501 5.1.7 Bad sender address syntax");
        }
        let size = path
            .split_whitespace()
            .skip(1)
            .find_map(|p| strip_prefix_ci(p, "SIZE=").and_then(|v| v.parse::<u64>().ok()));
        if size.is_some_and(|s| s > MAX_SIZE) {
            return self.reply("552 5.3.4 Message size exceeds fixed limit");
        }
        self.mail_from = Some(path);
        self.reply("250 2.1.0 Ok")
    }

    fn rcpt(&mut self, arg: &str) -> io::Result<()> {
        let Some(path) = strip_prefix_ci(arg, "TO:") else {
            return self.reply("501 5.5.4 Syntax: RCPT TO:<address>");
        };
        let path = path.trim().to_string();
        if self.mail_from.is_none() {
            return self.reply("503 5.5.1 Need MAIL first");
        }
        if !path.starts_with('<') || !path.contains('>') {
            return self.reply("501 5.1.3 Bad recipient address syntax");
        }
        let tempfail_all = lock(&self.shared).tempfail_all;
        if tempfail_all.unwrap_or(self.opts.tempfail_all) {
            return self.reply("451 4.3.0 Temporary failure, try again later");
        }
        let addr = path_addr(&path);
        let local = addr
            .rsplit_once('@')
            .map(|(l, _)| l)
            .unwrap_or(&addr)
            .to_ascii_lowercase();
        match local.as_str() {
            "tempfail" => {
                let first = lock(&self.shared)
                    .tempfail_seen
                    .insert(addr.to_ascii_lowercase());
                if first {
                    return self.reply("451 4.7.1 Greylisted, try again later");
                }
            }
            "permfail" => return self.reply("550 5.1.1 No such user"),
            "later-permfail" => {
                let first = lock(&self.shared)
                    .tempfail_seen
                    .insert(addr.to_ascii_lowercase());
                return match first {
                    true => self.reply("451 4.3.0 Try again later"),
                    false => self.reply("550 5.1.1 No such user"),
                };
            }
            "policy" => return self.reply("550 5.7.1 Client host blocked"),
            "disconnect-in-data" => self.disconnect_in_data = true,
            "slow" => std::thread::sleep(Duration::from_millis(300)),
            _ => {}
        }
        self.rcpts.push(path);
        self.reply("250 2.1.5 Ok")
    }

    fn auth(&mut self, arg: &str) -> io::Result<()> {
        if self.opts.auth.is_none() {
            return self.reply("502 5.5.1 AUTH not offered");
        }
        if !self.helo {
            return self.reply("503 5.5.1 Send EHLO first");
        }
        if self.auth_user.is_some() {
            return self.reply("503 5.5.1 Already authenticated");
        }
        if self.mail_from.is_some() {
            return self.reply("503 5.5.1 AUTH not allowed during a transaction");
        }
        let mut parts = arg.split_whitespace();
        let mech = parts.next().unwrap_or("").to_ascii_uppercase();
        let initial = parts.next();
        match (mech.as_str(), initial) {
            ("PLAIN", Some(resp)) => self.auth_plain(resp),
            ("PLAIN", None) => {
                self.mode = Mode::AuthPlain;
                self.reply("334 ")
            }
            ("LOGIN", Some(resp)) => match b64_text(resp) {
                Some(user) => {
                    self.mode = Mode::AuthLoginPass(user);
                    self.reply("334 UGFzc3dvcmQ6")
                }
                None => self.reply("501 5.5.2 Cannot decode response"),
            },
            ("LOGIN", None) => {
                self.mode = Mode::AuthLoginUser;
                self.reply("334 VXNlcm5hbWU6")
            }
            _ => self.reply("504 5.5.4 Unrecognized authentication type"),
        }
    }

    fn auth_plain(&mut self, resp: &str) -> io::Result<()> {
        if resp == "*" {
            return self.reply("501 5.0.0 Authentication cancelled");
        }
        let Some(raw) = b64_decode(resp) else {
            return self.reply("501 5.5.2 Cannot decode response");
        };
        let parts: Vec<&[u8]> = raw.split(|&b| b == 0).collect();
        if parts.len() != 3 {
            return self.reply("501 5.5.2 Bad PLAIN response");
        }
        let user = String::from_utf8_lossy(parts[1]).into_owned();
        let pass = String::from_utf8_lossy(parts[2]).into_owned();
        self.check_auth(&user, &pass)
    }

    fn check_auth(&mut self, user: &str, pass: &str) -> io::Result<()> {
        let ok = self
            .opts
            .auth
            .as_ref()
            .is_some_and(|(u, p)| u == user && p == pass);
        if ok {
            self.auth_user = Some(user.to_string());
            self.reply("235 2.7.0 Authentication successful")
        } else {
            self.reply("535 5.7.8 Authentication credentials invalid")
        }
    }

    fn start_tls(&mut self) -> io::Result<()> {
        let acceptor = self.acceptor.clone().ok_or_else(gone)?;
        let Conn::Plain(tcp) = std::mem::replace(&mut self.conn, Conn::Gone) else {
            return Err(gone());
        };
        let tls = acceptor
            .accept(tcp)
            .map_err(|e| io::Error::other(format!("TLS handshake: {e}")))?;
        self.conn = Conn::Tls(Box::new(tls));
        self.tls = true;
        self.helo = false;
        self.auth_user = None;
        self.reset_transaction();
        let mut st = lock(&self.shared);
        st.sessions[self.id].tls = true;
        self.shared.1.notify_all();
        Ok(())
    }

    /// In data mode: takes the message (up to, not including, the final ".\r\n") out of the
    /// buffer once the terminator has arrived.
    fn take_data(&mut self) -> Option<Vec<u8>> {
        if self.buf.starts_with(b".\r\n") {
            self.buf.drain(..3);
            return Some(Vec::new());
        }
        let from = self.data_scan.saturating_sub(4);
        match find(&self.buf[from..], b"\r\n.\r\n") {
            Some(pos) => {
                let end = from + pos;
                let raw: Vec<u8> = self.buf.drain(..end + 5).collect();
                Some(raw[..end + 2].to_vec())
            }
            None => {
                self.data_scan = self.buf.len();
                None
            }
        }
    }

    fn end_data(&mut self, raw: Vec<u8>) -> io::Result<()> {
        self.mode = Mode::Command;
        self.data_scan = 0;
        let data = unstuff(&raw);
        let id = {
            let mut st = lock(&self.shared);
            st.queued += 1;
            let id = st.queued;
            st.deliveries.push(Delivery {
                session: self.id,
                mail_from: self.mail_from.clone().unwrap_or_default(),
                rcpts: self.rcpts.clone(),
                data,
                tls: self.tls,
                auth_user: self.auth_user.clone(),
            });
            self.shared.1.notify_all();
            id
        };
        self.reset_transaction();
        self.reply(&format!("250 2.0.0 Ok: queued as fake-{id}"))
    }
}

/// Takes one line (LF-terminated, CR stripped) out of the buffer.
fn take_line(buf: &mut Vec<u8>) -> Option<String> {
    let pos = buf.iter().position(|&b| b == b'\n')?;
    let raw: Vec<u8> = buf.drain(..=pos).collect();
    let mut line = &raw[..raw.len() - 1];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    Some(String::from_utf8_lossy(line).into_owned())
}

fn verb(line: &str) -> String {
    line.split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The address between the angle brackets of a raw path ("<a@x.test> SIZE=1" → "a@x.test").
pub fn path_addr(path: &str) -> String {
    let p = path.trim();
    match (p.find('<'), p.find('>')) {
        (Some(a), Some(b)) if a < b => p[a + 1..b].to_string(),
        _ => p.split_whitespace().next().unwrap_or("").to_string(),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Removes the leading dot of every line that starts with one.
fn unstuff(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut line_start = true;
    for &b in raw {
        if !(line_start && b == b'.') {
            out.push(b);
        }
        line_start = b == b'\n';
    }
    out
}

/// Standard base64 (padding optional); None on any other character.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    let s = s.trim().trim_end_matches('=');
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Standard base64 with padding (for tests that build AUTH lines).
pub fn b64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_text(s: &str) -> Option<String> {
    b64_decode(s).map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// A throwaway self-signed certificate for CN=localhost, made with the `openssl` CLI in `dir`.
pub fn self_signed_identity(dir: &Path) -> native_tls::Identity {
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cert = std::fs::read(dir.join("cert.pem")).unwrap();
    let key = std::fs::read(dir.join("key.pem")).unwrap();
    native_tls::Identity::from_pkcs8(&cert, &key).expect("load self-signed identity")
}
