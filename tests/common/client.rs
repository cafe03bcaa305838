//! The tests' SMTP client: raw writes and reply reads on plain TCP or TLS (`Smtp`), whole
//! transactions, `submit` for one message in one session, and a byte-a-second trickler.

use super::{Server, WAIT, tls_connector};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::thread::JoinHandle;
use std::time::Duration;

/// The dialogue, the same on any stream.
pub trait Smtp {
    /// The buffered read side.
    fn reader(&mut self) -> &mut dyn BufRead;

    fn send_bytes(&mut self, raw: &[u8]);

    fn send(&mut self, raw: &str) {
        self.send_bytes(raw.as_bytes());
    }

    /// Reads one (possibly multi-line) reply; returns its lines joined with '\n'.
    /// An empty string means the server closed the connection.
    fn reply(&mut self) -> String {
        read_reply(self.reader())
    }

    /// Sends one command line and returns the reply.
    fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n"));
        self.reply()
    }

    /// True when the server has closed the connection (reads EOF).
    fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader().read(&mut buf), Ok(0) | Err(_))
    }

    /// EHLO (no greeting read: see `Client::hello`); returns the reply.
    fn ehlo(&mut self) -> String {
        let ehlo = self.cmd("EHLO client.qksmtp.test");
        assert!(ehlo.starts_with("250"), "{ehlo}");
        ehlo
    }

    /// A whole transaction; returns the final reply to the data. An address in angle
    /// brackets goes as it stands, with any parameters after it ("<a@x.test> RET=HDRS",
    /// "<>"); a bare one gets the brackets.
    fn send_mail(&mut self, from: &str, to: &[&str], data: &str) -> String {
        let r = self.cmd(&format!("MAIL FROM:{}", path(from)));
        assert!(r.starts_with("250"), "MAIL {from}: {r}");
        for rcpt in to {
            let r = self.cmd(&format!("RCPT TO:{}", path(rcpt)));
            assert!(r.starts_with("250"), "RCPT {rcpt}: {r}");
        }
        let r = self.cmd("DATA");
        assert!(r.starts_with("354"), "DATA: {r}");
        self.send(data);
        self.reply()
    }
}

fn path(addr: &str) -> String {
    match addr.starts_with('<') {
        true => addr.to_string(),
        false => format!("<{addr}>"),
    }
}

/// Reads one (possibly multi-line) reply; "" when the connection is closed.
fn read_reply(reader: &mut dyn BufRead) -> String {
    let mut all = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return all.join("\n");
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        let last = line.as_bytes().get(3) != Some(&b'-');
        all.push(line);
        if last {
            return all.join("\n");
        }
    }
}

/// A test client on plain TCP.
pub struct Client {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Smtp for Client {
    fn reader(&mut self) -> &mut dyn BufRead {
        &mut self.reader
    }

    fn send_bytes(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).unwrap();
    }
}

impl Client {
    pub fn new(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Client { stream, reader }
    }

    /// Greeting + EHLO; returns the EHLO reply.
    pub fn hello(&mut self) -> String {
        let greeting = self.reply();
        assert!(greeting.starts_with("220 "), "{greeting}");
        self.ehlo()
    }

    /// STARTTLS (must get 220 2.0.0), then the TLS handshake (any certificate accepted).
    pub fn starttls(mut self) -> TlsClient {
        let r = self.cmd("STARTTLS");
        assert!(r.starts_with("220 2.0.0"), "{r}");
        assert!(self.reader.buffer().is_empty(), "bytes after the 220");
        TlsClient::handshake(self.stream)
    }
}

/// The test client after STARTTLS or on an implicit-TLS port.
pub struct TlsClient {
    reader: BufReader<native_tls::TlsStream<TcpStream>>,
}

impl Smtp for TlsClient {
    fn reader(&mut self) -> &mut dyn BufRead {
        &mut self.reader
    }

    fn send_bytes(&mut self, raw: &[u8]) {
        self.reader.get_mut().write_all(raw).unwrap();
    }
}

impl TlsClient {
    /// The certificate the server showed, as DER.
    pub fn peer_certificate(&self) -> Vec<u8> {
        let cert = self.reader.get_ref().peer_certificate().unwrap();
        cert.expect("a server certificate").to_der().unwrap()
    }

    /// The client side of the TLS handshake on `tcp` (any certificate accepted).
    pub fn handshake(tcp: TcpStream) -> TlsClient {
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let tls = tls_connector().connect("localhost", tcp).unwrap();
        TlsClient {
            reader: BufReader::new(tls),
        }
    }
}

/// One session with `server`: greeting, EHLO, one transaction (see `Smtp::send_mail` for
/// the addresses), QUIT. Returns the queue ID; panics unless the message was queued.
pub fn submit(server: &Server, from: &str, to: &[&str], data: &str) -> String {
    let mut c = server.connect();
    c.hello();
    let id = queued_id(&c.send_mail(from, to, data));
    c.cmd("QUIT");
    id
}

/// The queue ID from a `250 2.0.0 Ok: queued as ID` reply.
pub fn queued_id(reply: &str) -> String {
    assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{reply}");
    reply.rsplit(' ').next().unwrap().to_string()
}

/// Writes `bytes` one a second on `stream` (on a thread), until done or refused; the
/// thread returns how many went out.
pub fn trickle(mut stream: TcpStream, bytes: Vec<u8>) -> JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut sent = 0;
        for b in bytes {
            if stream.write_all(&[b]).is_err() {
                break;
            }
            sent += 1;
            std::thread::sleep(Duration::from_secs(1));
        }
        sent
    })
}
