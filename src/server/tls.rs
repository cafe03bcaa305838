//! TLS for the server side: the session's stream (plain, or TLS after STARTTLS / on a
//! `listen_tls` port, or a local pipe for `sendmail -bs`) and the handshake, bounded as a whole by `idle_timeout`. The acceptor
//! itself is built once from `tls_cert` + `tls_key` by `crate::identity`.

use super::bounded::Bounded;
use super::connection::Connection;
use crate::config::Config;
use crate::identity::{AcceptError, Acceptor, TlsStream, TlsUsed, tls_used};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// `require_tls = yes`: MAIL is refused (530 5.7.0) until STARTTLS, except from this computer.
pub fn mail_needs_tls(config: &Config, conn: &Connection) -> bool {
    config.server.require_tls && !conn.tls && !conn.peer.ip().to_canonical().is_loopback()
}

/// A session's connection. `Closed` is what is left after a failed handshake consumed the
/// socket: reads see end-of-file, writes fail.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<Bounded>>),
    /// A local session (`sendmail -bs`: standard input and output); no timeouts, no TLS.
    Pipe(Box<Pipe>),
    Closed,
}

/// The two ends of a local session.
pub struct Pipe {
    pub input: Box<dyn Read + Send>,
    pub output: Box<dyn Write + Send>,
}

impl Stream {
    /// The underlying socket (none once closed).
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Plain(s) => Some(s),
            Stream::Tls(s) => Some(s.get_ref().tcp()),
            Stream::Pipe(_) | Stream::Closed => None,
        }
    }

    /// Bounds each following read of the socket (a TLS read may make several).
    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.tcp()
            .map_or(Ok(()), |s| s.set_read_timeout(Some(timeout)))
    }

    /// Bounds each following write of the socket.
    pub fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.tcp()
            .map_or(Ok(()), |s| s.set_write_timeout(Some(timeout)))
    }

    /// Turns a plain stream into TLS (the server's side of the handshake), which must be
    /// over within `limit`; the socket's read and write timeouts also bound each step. Any
    /// failure leaves the stream `Closed`. Says the version and cipher agreed, where known.
    pub fn start_tls(
        &mut self,
        acceptor: &Acceptor,
        limit: Duration,
    ) -> Result<Option<TlsUsed>, String> {
        match std::mem::replace(self, Stream::Closed) {
            Stream::Plain(tcp) => {
                let tls = handshake(acceptor, tcp, limit)?;
                let used = tls_used(&tls);
                *self = Stream::Tls(Box::new(tls));
                Ok(used)
            }
            Stream::Tls(tls) => {
                *self = Stream::Tls(tls);
                Err("already in TLS".into())
            }
            Stream::Pipe(pipe) => {
                *self = Stream::Pipe(pipe);
                Err("no TLS on a local session".into())
            }
            Stream::Closed => Err("the connection is closed".into()),
        }
    }
}

/// The server's side of a handshake, over within `limit` as a whole.
fn handshake(
    acceptor: &Acceptor,
    tcp: TcpStream,
    limit: Duration,
) -> Result<TlsStream<Bounded>, String> {
    let deadline = Instant::now() + limit;
    match acceptor.accept(Bounded::new(tcp, deadline)) {
        Ok(mut tls) => {
            tls.get_mut().lift();
            Ok(tls)
        }
        // A blocking socket returns WouldBlock only when its timeout expired.
        Err(AcceptError::WouldBlock) => Err("TLS handshake timed out".into()),
        Err(AcceptError::Failed(_)) if Instant::now() >= deadline => Err(format!(
            "TLS handshake timed out (not over within {}s)",
            limit.as_secs()
        )),
        Err(AcceptError::Failed(e)) => Err(format!("TLS handshake failed: {e}")),
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Pipe(p) => p.input.read(buf),
            Stream::Closed => Ok(0),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Pipe(p) => p.output.write(buf),
            Stream::Closed => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Pipe(p) => p.output.flush(),
            Stream::Closed => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_tls_applies_to_remote_plain_text_clients_only() {
        let mut config =
            crate::config::load::defaults(std::path::Path::new("/x/qksmtp.ini"), "h.test");
        let conn = |peer: &str, tls: bool| Connection {
            peer: peer.parse().unwrap(),
            helo: None,
            esmtp: true,
            relay_allowed: false,
            auth_user: None,
            local_user: None,
            tls,
            tls_used: None,
            errors: 0,
        };
        assert!(!mail_needs_tls(&config, &conn("192.0.2.7:1025", false)));
        config.server.require_tls = true;
        assert!(mail_needs_tls(&config, &conn("192.0.2.7:1025", false)));
        assert!(mail_needs_tls(
            &config,
            &conn("[::ffff:192.0.2.7]:1025", false)
        ));
        assert!(!mail_needs_tls(&config, &conn("192.0.2.7:1025", true)));
        assert!(!mail_needs_tls(&config, &conn("127.0.0.1:1025", false)));
        assert!(!mail_needs_tls(&config, &conn("[::1]:1025", false)));
    }
}
