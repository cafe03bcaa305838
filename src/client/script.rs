//! Test-only SMTP server in memory: a dialogue script (`S:` lines the server sends, `C:` lines
//! the client must send) played over a stream, and a dialer that hands such streams out in
//! turn. The stream checks every byte the client writes against the script, gives the server's
//! lines only once the client has sent what comes before them, and keeps each write call so a
//! test can count them (PIPELINING: one write for MAIL, the RCPTs and DATA).

use super::dial::Dialer;
use super::tls::{Peer, TlsRequest};
use super::wire::Transport;
use crate::transcript::FailureKind;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug)]
enum Turn {
    /// Bytes the server sends (consecutive `S:` lines together, as one write).
    Server(Vec<u8>),
    /// Bytes the client must send next.
    Client(Vec<u8>),
}

#[derive(Default)]
struct State {
    turns: VecDeque<Turn>,
    /// Written by the client, not yet matched against a `Client` turn.
    pending: Vec<u8>,
    /// Every write call, as written.
    writes: Vec<Vec<u8>>,
    /// What a TLS handshake on this connection gives; `None` succeeds.
    tls_failure: Option<FailureKind>,
    /// What a successful handshake shows of the server.
    peer: Peer,
}

impl Default for Peer {
    /// A certificate any CA would vouch for.
    fn default() -> Peer {
        Peer {
            chain: Vec::new(),
            pkix: Ok(()),
            version: None,
        }
    }
}

/// One scripted connection; clones share it (the test keeps one to look at afterwards).
#[derive(Clone, Default)]
pub struct Script(Arc<Mutex<State>>);

impl Script {
    /// `lines` start with `S: ` or `C: `; each gets CRLF. A line `C: <raw>` is not possible:
    /// message data is written as its lines, the final dot included.
    pub fn new(lines: &[&str]) -> Script {
        let mut turns: VecDeque<Turn> = VecDeque::new();
        for line in lines {
            let (who, text) = line.split_at(3);
            let bytes = format!("{text}\r\n").into_bytes();
            match (who, turns.back_mut()) {
                ("S: ", Some(Turn::Server(last))) => last.extend(bytes),
                ("S: ", _) => turns.push_back(Turn::Server(bytes)),
                ("C: ", _) => turns.push_back(Turn::Client(bytes)),
                _ => panic!("a script line starts with `S: ` or `C: `: {line:?}"),
            }
        }
        Script(Arc::new(Mutex::new(State {
            turns,
            ..State::default()
        })))
    }

    /// The TLS handshake on this connection fails with `why`.
    pub fn tls_fails(self, why: FailureKind) -> Script {
        self.state().tls_failure = Some(why);
        self
    }

    /// The handshake succeeds and shows this of the server.
    pub fn tls_peer(self, peer: Peer) -> Script {
        self.state().peer = peer;
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Each write call of the client, as text.
    pub fn writes(&self) -> Vec<String> {
        let state = self.state();
        let text = |w: &Vec<u8>| String::from_utf8_lossy(w).into_owned();
        state.writes.iter().map(text).collect()
    }

    /// What the script has not played yet, and what the client wrote beyond it.
    pub fn left(&self) -> (Vec<String>, String) {
        let state = self.state();
        let turns = state
            .turns
            .iter()
            .map(|t| match t {
                Turn::Server(b) => format!("S: {}", String::from_utf8_lossy(b)),
                Turn::Client(b) => format!("C: {}", String::from_utf8_lossy(b)),
            })
            .collect();
        (turns, String::from_utf8_lossy(&state.pending).into_owned())
    }

    /// Panics unless the whole script was played and the client wrote nothing more.
    pub fn assert_done(&self) {
        let (turns, extra) = self.left();
        assert!(
            turns.is_empty() && extra.is_empty(),
            "not played: {turns:?}; written beyond the script: {extra:?}"
        );
    }
}

impl State {
    /// Matches what the client wrote against the `Client` turns at the head of the script.
    fn match_written(&mut self) {
        while let Some(Turn::Client(want)) = self.turns.front() {
            if self.pending.starts_with(want) {
                self.pending.drain(..want.len());
                self.turns.pop_front();
            } else if want.starts_with(&self.pending) {
                return;
            } else {
                panic!(
                    "the client wrote {:?}, the script expects {:?}",
                    String::from_utf8_lossy(&self.pending),
                    String::from_utf8_lossy(want)
                );
            }
        }
    }
}

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut guard = self.state();
        let state = &mut *guard;
        match state.turns.front_mut() {
            // The script is over: the server closes.
            None => Ok(0),
            Some(Turn::Client(want)) => panic!(
                "the client waits for a reply, but the script expects it to send {:?} \
                 (it sent {:?})",
                String::from_utf8_lossy(want),
                String::from_utf8_lossy(&state.pending)
            ),
            Some(Turn::Server(bytes)) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                bytes.drain(..n);
                if bytes.is_empty() {
                    state.turns.pop_front();
                    state.match_written();
                }
                Ok(n)
            }
        }
    }
}

impl Write for Script {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut state = self.state();
        state.writes.push(buf.to_vec());
        state.pending.extend_from_slice(buf);
        state.match_written();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Script {
    fn set_read_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    fn set_write_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    /// The server's turn (it speaks unasked), or the end of the script (it closed).
    fn has_input(&self) -> io::Result<bool> {
        Ok(matches!(
            self.state().turns.front(),
            None | Some(Turn::Server(_))
        ))
    }
}

/// What one connection attempt gives.
pub enum Dial {
    Answer(Script),
    Fails(io::ErrorKind),
}

/// Hands out the scripted connections in order (then refuses), and notes where it dialled.
#[derive(Default)]
pub struct Scripted {
    next: Mutex<VecDeque<Dial>>,
    current: Mutex<Option<Script>>,
    dialled: Mutex<Vec<SocketAddr>>,
}

impl Scripted {
    pub fn new(dials: Vec<Dial>) -> Scripted {
        Scripted {
            next: Mutex::new(dials.into()),
            ..Scripted::default()
        }
    }

    /// One connection that plays `script`.
    pub fn one(script: &Script) -> Scripted {
        Scripted::new(vec![Dial::Answer(script.clone())])
    }

    /// The addresses connected to, in order.
    pub fn dialled(&self) -> Vec<SocketAddr> {
        self.dialled.lock().unwrap().clone()
    }
}

impl Dialer for Scripted {
    fn connect(&self, addr: SocketAddr, _: Duration) -> io::Result<Box<dyn Transport>> {
        self.dialled.lock().unwrap().push(addr);
        let next = self.next.lock().unwrap().pop_front();
        match next.unwrap_or(Dial::Fails(io::ErrorKind::ConnectionRefused)) {
            Dial::Answer(script) => {
                *self.current.lock().unwrap() = Some(script.clone());
                Ok(Box::new(script))
            }
            Dial::Fails(kind) => Err(io::Error::from(kind)),
        }
    }

    /// The handshake "succeeds" by going on with the same stream, or fails as scripted.
    fn start_tls(
        &self,
        plain: Box<dyn Transport>,
        _: &TlsRequest,
    ) -> Result<(Box<dyn Transport>, Peer), FailureKind> {
        let current = self.current.lock().unwrap().clone().expect("a connection");
        let state = current.state();
        match state.tls_failure.clone() {
            Some(why) => Err(why),
            None => Ok((plain, state.peer.clone())),
        }
    }
}
