//! Test support for the client: a scripted fake SMTP server on 127.0.0.1 port 0 (plain or TLS,
//! one thread per test), a self-signed certificate made with the `openssl` command, and
//! message builders. The tests themselves are in `plain`, `envelope` and `secure` (over real
//! sockets: timing, drops, TLS) and `memory` (the protocol, over in-memory dialogue scripts).

mod envelope;
mod memory;
mod plain;
mod secure;

use super::{ClientSettings, Network, RecipientOut, Record, Secure, StepKind, TlsPolicy};
use crate::config::Timeouts;
use crate::smtp::{Address, MailParams, ReversePath};
use native_tls::{Identity, TlsAcceptor, TlsStream};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};
use std::time::Duration;

enum PeerStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// The server's end of one connection, driven by a test script.
pub struct Peer {
    stream: Option<PeerStream>,
    buf: Vec<u8>,
    /// Every line the client sent, without CRLF (message data excluded).
    pub received: Vec<String>,
}

/// Starts the fake server: `script` runs on its own thread with the listener.
pub fn fake<R: Send + 'static>(
    script: impl FnOnce(&TcpListener) -> R + Send + 'static,
) -> (SocketAddr, JoinHandle<R>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, thread::spawn(move || script(&listener)))
}

/// Accepts the next connection.
pub fn accept(listener: &TcpListener) -> Peer {
    let (tcp, _) = listener.accept().unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    Peer {
        stream: Some(PeerStream::Plain(tcp)),
        buf: Vec::new(),
        received: Vec::new(),
    }
}

impl Peer {
    fn read_more(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = match self.stream.as_mut().unwrap() {
            PeerStream::Plain(s) => s.read(&mut chunk)?,
            PeerStream::Tls(s) => s.read(&mut chunk)?,
        };
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Writes `text` in one write.
    pub fn send(&mut self, text: &str) {
        match self.stream.as_mut().unwrap() {
            PeerStream::Plain(s) => s.write_all(text.as_bytes()).unwrap(),
            PeerStream::Tls(s) => s.write_all(text.as_bytes()).unwrap(),
        }
    }

    /// The next line from the client (without CRLF); panics when the client closes.
    pub fn line(&mut self) -> String {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..pos + 2).collect();
                let line = String::from_utf8(line[..pos].to_vec()).unwrap();
                self.received.push(line.clone());
                return line;
            }
            assert!(self.read_more().unwrap() > 0, "client closed early");
        }
    }

    /// The next line, which must start with `prefix`.
    pub fn expect(&mut self, prefix: &str) -> String {
        let line = self.line();
        assert!(
            line.starts_with(prefix),
            "expected {prefix:?}, got {line:?}"
        );
        line
    }

    /// Reads the message data up to and including CRLF.CRLF, as it came (still stuffed).
    pub fn data(&mut self) -> Vec<u8> {
        loop {
            if let Some(pos) = self.buf.windows(5).position(|w| w == b"\r\n.\r\n") {
                return self.buf.drain(..pos + 5).collect();
            }
            if self.buf == b".\r\n" {
                return self.buf.drain(..).collect();
            }
            assert!(self.read_more().unwrap() > 0, "client closed in data");
        }
    }

    /// True when the client sends nothing more within `ms` (or closes).
    pub fn silent_for(&mut self, ms: u64) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let tcp = self.tcp().try_clone().unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(ms)))
            .unwrap();
        let result = self.read_more();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        matches!(result, Ok(0)) || result.is_err_and(|e| e.kind() == io::ErrorKind::WouldBlock)
    }

    fn tcp(&self) -> &TcpStream {
        match self.stream.as_ref().unwrap() {
            PeerStream::Plain(s) => s,
            PeerStream::Tls(s) => s.get_ref(),
        }
    }

    /// The server side of the TLS handshake with the test certificate.
    pub fn start_tls(&mut self) -> Result<(), String> {
        assert!(self.buf.is_empty(), "client sent data before the handshake");
        let Some(PeerStream::Plain(tcp)) = self.stream.take() else {
            panic!("TLS already active");
        };
        let tls = acceptor().accept(tcp).map_err(|e| e.to_string())?;
        self.stream = Some(PeerStream::Tls(Box::new(tls)));
        Ok(())
    }

    /// Greeting plus an EHLO exchange offering `extensions`.
    pub fn greet(&mut self, extensions: &[&str]) {
        self.send("220 mx.test ESMTP fake\r\n");
        self.ehlo(extensions);
    }

    /// Reads EHLO and answers with `extensions`.
    pub fn ehlo(&mut self, extensions: &[&str]) {
        self.expect("EHLO client.test");
        let mut reply = String::from("250-mx.test hello\r\n");
        for ext in extensions {
            reply.push_str(&format!("250-{ext}\r\n"));
        }
        reply.push_str("250 ENHANCEDSTATUSCODES\r\n");
        self.send(&reply);
    }

    /// Reads QUIT and says goodbye.
    pub fn bye(&mut self) {
        self.expect("QUIT");
        self.send("221 2.0.0 bye\r\n");
    }
}

/// Test certificate and key (PEM), made once per test run with the openssl command.
fn test_identity() -> &'static (Vec<u8>, Vec<u8>) {
    static IDENTITY: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    IDENTITY.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("qksmtp-client-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
            .args(["-keyout", "k.pem", "-out", "c.pem", "-days", "1"])
            .args(["-subj", "/CN=localhost"])
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("the openssl command is needed for the TLS tests");
        assert!(status.success());
        let cert = std::fs::read(dir.join("c.pem")).unwrap();
        let key = std::fs::read(dir.join("k.pem")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        (cert, key)
    })
}

fn acceptor() -> TlsAcceptor {
    let (cert, key) = test_identity();
    TlsAcceptor::new(Identity::from_pkcs8(cert, key).unwrap()).unwrap()
}

/// Settings with short timeouts so a broken test fails instead of hanging.
/// Opportunistic TLS settings with `tls` as the mode.
pub fn settings(tls: TlsPolicy) -> ClientSettings {
    settings_secure(Secure::opportunistic().with_mode(tls))
}

/// Settings with these TLS demands.
pub fn settings_secure(tls: Secure) -> ClientSettings {
    let t = Duration::from_secs(5);
    ClientSettings {
        helo_name: "client.test".into(),
        timeouts: Timeouts {
            connect: t,
            greeting: t,
            command: t,
            data_init: t,
            data_block: t,
            data_done: t,
        },
        tls,
        auth: None,
    }
}

pub fn sender() -> ReversePath {
    ReversePath::Mailbox(Address::new("a", "x.test"))
}

pub fn recipients(addrs: &[&str]) -> Vec<RecipientOut> {
    addrs
        .iter()
        .map(|a| {
            let (local, domain) = a.split_once('@').unwrap();
            RecipientOut {
                address: Address::new(local, domain),
                notify: None,
                orcpt: None,
            }
        })
        .collect()
}

pub fn params() -> MailParams {
    MailParams::default()
}

/// Sends `content` from `sender()` with default parameters to `addrs` over `client`.
pub fn send_to(
    client: &mut super::Client,
    addrs: &[&str],
    content: &[u8],
    record: &mut Record,
) -> Result<super::TransactionResult, super::Failure> {
    let rcpts = recipients(addrs);
    let msg = super::OutgoingMessage {
        sender: &sender(),
        params: &params(),
        recipients: &rcpts,
        content,
    };
    client.send(&msg, record)
}

pub fn kinds(record: &Record) -> Vec<StepKind> {
    record.steps.iter().map(|s| s.kind).collect()
}
