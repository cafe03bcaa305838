//! A fake MX that misbehaves at one chosen point of the dialogue (`Fault`), for the network
//! fault tests: 421 and close, silence (the client's timeouts), a failing TLS handshake,
//! replies split into one-byte packets, garbage. Otherwise it accepts mail and records it.
//! (`fake_mx.rs` is the full-featured fake; this one is small on purpose.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `421 4.3.2` in answer to MAIL FROM, then the connection is closed.
    Close421AtMail,
    /// Accepts the connection and never sends a greeting.
    NoGreeting,
    /// Takes the whole message after DATA, then never gives the final reply.
    SilentAfterData,
    /// Offers STARTTLS, says 220, then answers the client's handshake with plain text and
    /// closes. Without TLS (a plain-text retry) it behaves.
    BadTlsHandshake,
    /// Every reply (the multi-line EHLO reply too) goes out one byte per packet.
    SplitReplies,
    /// Answers EHLO (and HELO) with something that is not SMTP.
    GarbageReply,
}

#[derive(Default)]
struct State {
    sessions: usize,
    /// Messages accepted (dot-unstuffing not needed by the tests: raw data).
    deliveries: Vec<String>,
    /// Every command line received, all sessions.
    lines: Vec<String>,
    streams: Vec<TcpStream>,
}

pub struct ScriptedMx {
    pub addr: SocketAddr,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl ScriptedMx {
    pub fn start(fault: Fault) -> ScriptedMx {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let shared = shared.clone();
                {
                    let mut st = shared.0.lock().unwrap();
                    st.sessions += 1;
                    st.streams.push(stream.try_clone().unwrap());
                    shared.1.notify_all();
                }
                std::thread::spawn(move || {
                    let _ = serve(&stream, fault, &shared);
                    // Closed for real (a clone is kept for `Drop`).
                    let _ = stream.shutdown(Shutdown::Both);
                });
            }
        });
        ScriptedMx { addr, state }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Waits until `cond(sessions, deliveries, lines)` holds; false after `timeout`.
    pub fn wait_until(
        &self,
        timeout: Duration,
        cond: impl Fn(usize, &[String], &[String]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.state.0.lock().unwrap();
        while !cond(st.sessions, &st.deliveries, &st.lines) {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self.state.1.wait_timeout(st, deadline - now).unwrap().0;
        }
        true
    }

    pub fn deliveries(&self) -> Vec<String> {
        self.state.0.lock().unwrap().deliveries.clone()
    }

    pub fn sessions(&self) -> usize {
        self.state.0.lock().unwrap().sessions
    }
}

impl Drop for ScriptedMx {
    fn drop(&mut self) {
        for s in &self.state.0.lock().unwrap().streams {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn record(shared: &(Mutex<State>, Condvar), line: Option<String>, message: Option<String>) {
    let mut st = shared.0.lock().unwrap();
    st.lines.extend(line);
    st.deliveries.extend(message);
    shared.1.notify_all();
}

/// Writes a reply, one byte per packet when the fault says so.
fn say(stream: &mut TcpStream, fault: Fault, text: &str) -> std::io::Result<()> {
    let raw = format!("{text}\r\n");
    if fault != Fault::SplitReplies {
        return stream.write_all(raw.as_bytes());
    }
    stream.set_nodelay(true)?;
    for b in raw.bytes() {
        stream.write_all(&[b])?;
        // Part of the fault: lets each byte leave as its own segment.
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// Reads until the peer closes, answering nothing.
fn stay_silent(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut sink = [0u8; 4096];
    while stream.read(&mut sink)? > 0 {}
    Ok(())
}

fn serve(
    stream: &TcpStream,
    fault: Fault,
    shared: &(Mutex<State>, Condvar),
) -> std::io::Result<()> {
    let mut stream = stream.try_clone()?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    if fault == Fault::NoGreeting {
        return stay_silent(&mut stream);
    }
    let mut reader = BufReader::new(stream.try_clone()?);
    say(&mut stream, fault, "220 scripted.fault.test ESMTP")?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end().to_string();
        record(shared, Some(line.clone()), None);
        let verb = line
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" if fault == Fault::GarbageReply => {
                stream.write_all(b"HTTP/1.1 400 Bad Request\r\nServer: not-smtp\r\n\r\n")?;
            }
            "EHLO" => {
                let tls = if fault == Fault::BadTlsHandshake {
                    "250-STARTTLS\r\n"
                } else {
                    ""
                };
                let text = format!(
                    "250-scripted.fault.test\r\n250-PIPELINING\r\n{tls}250-SIZE 10000000\r\n250 8BITMIME"
                );
                say(&mut stream, fault, &text)?;
            }
            "STARTTLS" => {
                say(&mut stream, fault, "220 2.0.0 go ahead")?;
                stream.write_all(b"this is not a TLS server hello\r\n")?;
                return Ok(());
            }
            "MAIL" if fault == Fault::Close421AtMail => {
                say(&mut stream, fault, "421 4.3.2 System shutting down")?;
                return Ok(());
            }
            "DATA" => {
                say(&mut stream, fault, "354 go ahead")?;
                let message = read_data(&mut reader)?;
                record(shared, None, Some(message));
                if fault == Fault::SilentAfterData {
                    return stay_silent(&mut stream);
                }
                say(&mut stream, fault, "250 2.0.0 queued")?;
            }
            "QUIT" => {
                say(&mut stream, fault, "221 2.0.0 bye")?;
                return Ok(());
            }
            _ => say(&mut stream, fault, "250 2.0.0 ok")?,
        }
    }
}

/// The message up to (not including) the final `.` line.
fn read_data(reader: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut message = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(message);
        }
        if line == ".\r\n" {
            return Ok(message);
        }
        message.push_str(&line);
    }
}
