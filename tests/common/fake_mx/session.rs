//! One connection to the fake MX: the SMTP dialogue (EHLO, MAIL, RCPT with the magic local
//! parts, DATA, STARTTLS, AUTH), with the script consulted at every step.

use super::script::{Act, Counts, Step};
use super::{IDLE, MAX_SIZE, Options, Shared, end_session, lock, path_addr};
use crate::common::base64::b64_decode;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Duration;

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

#[derive(PartialEq)]
enum Flow {
    Go,
    Close,
    StartTls,
}

pub(super) struct Session {
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
    /// Steps seen so far, for the script.
    counts: Counts,
}

impl Session {
    pub(super) fn new(
        id: usize,
        shared: &Shared,
        opts: &Arc<Options>,
        acceptor: Option<Arc<native_tls::TlsAcceptor>>,
        stream: TcpStream,
    ) -> Session {
        Session {
            id,
            shared: shared.clone(),
            opts: opts.clone(),
            acceptor,
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
            counts: Counts::default(),
        }
    }

    /// Runs the dialogue to its end (on the calling thread); the session is then ended.
    pub(super) fn serve(mut self) {
        let _guard = EndGuard {
            shared: self.shared.clone(),
            id: self.id,
        };
        let _ = self.run();
    }

    fn name(&self) -> &str {
        if self.opts.name.is_empty() {
            "mx.fake.test"
        } else {
            &self.opts.name
        }
    }

    /// Writes to the client, one byte per packet with `split_replies`.
    fn write(&mut self, raw: &[u8]) -> io::Result<()> {
        if !self.opts.split_replies {
            self.conn.write_all(raw)?;
            return self.conn.flush();
        }
        if let Some(tcp) = self.conn.tcp() {
            tcp.set_nodelay(true)?;
        }
        for b in raw {
            self.conn.write_all(&[*b])?;
            self.conn.flush()?;
            // The misbehaviour itself: lets each byte leave as its own segment.
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    fn reply(&mut self, text: &str) -> io::Result<()> {
        self.write(format!("{text}\r\n").as_bytes())
    }

    /// What the script says about one more `step` (after any `Act::Delay`); None: behave.
    fn scripted(&mut self, step: Step) -> Option<Act> {
        match self.counts.next(&self.opts.script, self.id, step)? {
            Act::Delay(pause) => {
                std::thread::sleep(pause);
                None
            }
            act => Some(act),
        }
    }

    /// Carries out a scripted act.
    fn perform(&mut self, act: Act) -> io::Result<Flow> {
        match act {
            Act::Reply(text) => self.reply(&text).map(|_| Flow::Go),
            Act::Delay(_) => Ok(Flow::Go),
            Act::ReplyClose(text) => self.reply(&text).map(|_| Flow::Close),
            Act::Silent => {
                let mut sink = [0u8; 4096];
                while self.conn.read(&mut sink)? > 0 {}
                Ok(Flow::Close)
            }
            Act::Close => {
                self.abort();
                Ok(Flow::Close)
            }
        }
    }

    fn run(&mut self) -> io::Result<()> {
        let idle = self.opts.idle.unwrap_or(IDLE);
        if let Some(tcp) = self.conn.tcp() {
            tcp.set_read_timeout(Some(idle))?;
            tcp.set_write_timeout(Some(IDLE))?;
        }
        if self.opts.implicit_tls {
            self.start_tls()?;
        }
        if self.greet()? == Flow::Close {
            return Ok(());
        }
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if self.take_buffered()? == Flow::Close {
                return Ok(());
            }
            let n = match self.conn.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if is_timeout(&e) => {
                    let Some(act) = self.scripted(Step::Idle) else {
                        return Ok(());
                    };
                    match self.perform(act)? {
                        Flow::Go => continue,
                        _ => return Ok(()),
                    }
                }
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(());
            }
            self.buf.extend_from_slice(&chunk[..n]);
            self.new_read = true;
        }
    }

    fn greet(&mut self) -> io::Result<Flow> {
        if let Some(act) = self.scripted(Step::Greeting) {
            return self.perform(act);
        }
        match self.opts.greeting.clone() {
            Some(g) if g.starts_with("421") => {
                self.reply(&g)?;
                return Ok(Flow::Close);
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
        Ok(Flow::Go)
    }

    /// Handles everything complete in the buffer.
    fn take_buffered(&mut self) -> io::Result<Flow> {
        loop {
            if let Mode::Data = self.mode {
                if self.disconnect_in_data {
                    if self.buf.is_empty() {
                        return Ok(Flow::Go);
                    }
                    self.abort();
                    return Ok(Flow::Close);
                }
                match self.take_data() {
                    Some(data) => {
                        if self.end_data(data)? == Flow::Close {
                            return Ok(Flow::Close);
                        }
                    }
                    None => return Ok(Flow::Go),
                }
                continue;
            }
            let Some(line) = take_line(&mut self.buf) else {
                return Ok(Flow::Go);
            };
            self.record_line(&line);
            match self.handle(&line)? {
                Flow::Go => {}
                Flow::Close => return Ok(Flow::Close),
                Flow::StartTls => {
                    // Anything pipelined after STARTTLS is discarded.
                    self.buf.clear();
                    self.start_tls()?;
                }
            }
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
        self.counts.new_transaction();
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
                Ok(Flow::Go)
            }
            Mode::AuthPlain => self.auth_plain(line).map(|_| Flow::Go),
            Mode::AuthLoginUser => self.auth_login_user(line).map(|_| Flow::Go),
            Mode::AuthLoginPass(user) => self.auth_login_pass(&user, line).map(|_| Flow::Go),
            Mode::Command | Mode::Data => self.command(line),
        }
    }

    fn command(&mut self, line: &str) -> io::Result<Flow> {
        let verb = verb(line);
        let arg = line.get(verb.len()..).unwrap_or("").trim();
        if let Some(act) = Step::of_verb(&verb).and_then(|step| self.scripted(step)) {
            return self.perform(act);
        }
        match verb.as_str() {
            "EHLO" | "HELO" => self.ehlo(&verb, arg)?,
            "MAIL" => self.mail(arg)?,
            "RCPT" => self.rcpt(arg)?,
            "DATA" => self.data()?,
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

    fn ehlo(&mut self, verb: &str, arg: &str) -> io::Result<()> {
        self.helo = true;
        self.reset_transaction();
        let mut st = lock(&self.shared);
        st.sessions[self.id].ehlo = Some(arg.to_string());
        self.shared.1.notify_all();
        drop(st);
        if verb == "HELO" {
            let r = format!("250 {}", self.name());
            return self.reply(&r);
        }
        let mut lines = vec![match self.opts.sees_client_as {
            Some(ip) => format!("{} at your service, [{ip}]", self.name()),
            None => self.name().to_string(),
        }];
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
        lines.extend(self.opts.extensions.iter().cloned());
        lines.push("ENHANCEDSTATUSCODES".into());
        let last = lines.len() - 1;
        let text: String = lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }))
            .collect();
        self.write(text.as_bytes())
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
        if let Some(refusal) = self.magic_local_part(&path_addr(&path)) {
            return self.reply(refusal);
        }
        self.rcpts.push(path);
        self.reply("250 2.1.5 Ok")
    }

    /// What the magic local part of `addr` does: a refusal, or None to accept it (after a
    /// pause for `slow`, marked for `disconnect-in-data`).
    fn magic_local_part(&mut self, addr: &str) -> Option<&'static str> {
        let local = addr.rsplit_once('@').map(|(l, _)| l).unwrap_or(addr);
        let first_time = || {
            lock(&self.shared)
                .tempfail_seen
                .insert(addr.to_ascii_lowercase())
        };
        match local.to_ascii_lowercase().as_str() {
            "tempfail" if first_time() => Some("451 4.7.1 Greylisted, try again later"),
            "permfail" => Some("550 5.1.1 No such user"),
            "later-permfail" if first_time() => Some("451 4.3.0 Try again later"),
            "later-permfail" => Some("550 5.1.1 No such user"),
            "policy" => Some("550 5.7.1 Client host blocked"),
            "disconnect-in-data" => {
                self.disconnect_in_data = true;
                None
            }
            "slow" => {
                std::thread::sleep(Duration::from_millis(300));
                None
            }
            _ => None,
        }
    }

    fn data(&mut self) -> io::Result<()> {
        if self.mail_from.is_none() {
            self.reply("503 5.5.1 Need MAIL first")
        } else if self.rcpts.is_empty() {
            self.reply("554 5.5.1 No valid recipients")
        } else {
            self.mode = Mode::Data;
            self.data_scan = 0;
            self.reply("354 End data with <CR><LF>.<CR><LF>")
        }
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
        match (mech.as_str(), parts.next()) {
            ("PLAIN", Some(resp)) => self.auth_plain(resp),
            ("PLAIN", None) => {
                self.mode = Mode::AuthPlain;
                self.reply("334 ")
            }
            ("LOGIN", Some(resp)) => self.auth_login_user(resp),
            ("LOGIN", None) => {
                self.mode = Mode::AuthLoginUser;
                self.reply("334 VXNlcm5hbWU6")
            }
            _ => self.reply("504 5.5.4 Unrecognized authentication type"),
        }
    }

    fn auth_login_user(&mut self, resp: &str) -> io::Result<()> {
        if resp == "*" {
            return self.reply("501 5.0.0 Authentication cancelled");
        }
        match b64_text(resp) {
            Some(user) => {
                self.mode = Mode::AuthLoginPass(user);
                self.reply("334 UGFzc3dvcmQ6")
            }
            None => self.reply("501 5.5.2 Cannot decode response"),
        }
    }

    fn auth_login_pass(&mut self, user: &str, resp: &str) -> io::Result<()> {
        if resp == "*" {
            return self.reply("501 5.0.0 Authentication cancelled");
        }
        match b64_text(resp) {
            Some(pass) => self.check_auth(user, &pass),
            None => self.reply("501 5.5.2 Cannot decode response"),
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

    /// Records the message as delivered, then gives the final reply (or what the script says).
    fn end_data(&mut self, raw: Vec<u8>) -> io::Result<Flow> {
        self.mode = Mode::Command;
        self.data_scan = 0;
        let data = unstuff(&raw);
        let id = {
            let mut st = lock(&self.shared);
            st.queued += 1;
            let id = st.queued;
            st.deliveries.push(super::Delivery {
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
        if let Some(act) = self.scripted(Step::DataDone) {
            return self.perform(act);
        }
        self.reply(&format!("250 2.0.0 Ok: queued as fake-{id}"))
            .map(|_| Flow::Go)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
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

fn b64_text(s: &str) -> Option<String> {
    b64_decode(s).map(|v| String::from_utf8_lossy(&v).into_owned())
}
