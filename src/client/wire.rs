//! The client's connection: a blocking TCP stream (plain or TLS), the reply parser, reads and
//! writes bounded by a deadline, and the mapping of I/O errors to `FailureKind`.

use super::record::FailureKind;
use super::reply_parser::ReplyParser;
use crate::reply::Reply;
use native_tls::{HandshakeError, TlsConnector, TlsStream};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One SMTP connection as the client sees it.
pub struct Conn {
    /// `None` only while a TLS handshake owns the socket, or after it failed.
    stream: Option<Stream>,
    parser: ReplyParser,
}

/// What a network error means for the attempt.
pub fn io_failure(e: &io::Error) -> FailureKind {
    use io::ErrorKind::*;
    match e.kind() {
        WouldBlock | TimedOut => FailureKind::Timeout,
        ConnectionRefused => FailureKind::ConnectRefused,
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => FailureKind::Closed,
        _ => FailureKind::Io(e.to_string()),
    }
}

/// Time left until `deadline`; a timeout when none is left.
fn left(deadline: Instant) -> Result<Duration, FailureKind> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left < Duration::from_millis(1) {
        return Err(FailureKind::Timeout);
    }
    Ok(left)
}

impl Conn {
    pub fn new(tcp: TcpStream) -> Conn {
        Conn {
            stream: Some(Stream::Plain(tcp)),
            parser: ReplyParser::new(),
        }
    }

    fn stream(&mut self) -> Result<&mut Stream, FailureKind> {
        self.stream
            .as_mut()
            .ok_or_else(|| FailureKind::Io("the connection is gone".into()))
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Some(Stream::Tls(_)))
    }

    /// True when bytes from the server are waiting that no reply was asked for yet.
    pub fn has_buffered(&self) -> bool {
        self.parser.has_pending()
    }

    /// The next reply, waiting at most `timeout` in total.
    pub fn read_reply(&mut self, timeout: Duration) -> Result<Reply, FailureKind> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 8192];
        loop {
            match self.parser.next_reply() {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(e) => return Err(FailureKind::Protocol(e.to_string())),
            }
            let wait = left(deadline)?;
            let stream = self.stream()?;
            stream
                .tcp()
                .set_read_timeout(Some(wait))
                .map_err(|e| io_failure(&e))?;
            let n = match stream.read(&mut buf) {
                Ok(0) => return Err(FailureKind::Closed),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_failure(&e)),
            };
            self.parser.feed(&buf[..n]);
        }
    }

    /// Writes all of `data`, taking at most `timeout` in total.
    pub fn write_all(&mut self, data: &[u8], timeout: Duration) -> Result<(), FailureKind> {
        let deadline = Instant::now() + timeout;
        let mut done = 0;
        while done < data.len() {
            let wait = left(deadline)?;
            let stream = self.stream()?;
            stream
                .tcp()
                .set_write_timeout(Some(wait))
                .map_err(|e| io_failure(&e))?;
            match stream.write(&data[done..]) {
                Ok(0) => return Err(FailureKind::Closed),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_failure(&e)),
            }
        }
        self.stream()?.flush().map_err(|e| io_failure(&e))
    }

    /// Runs the TLS handshake over the current plain stream; `name` is the SNI / certificate
    /// name. Each read and write of the handshake waits at most `timeout`. On failure the
    /// connection is unusable.
    pub fn start_tls(
        &mut self,
        connector: &TlsConnector,
        name: &str,
        timeout: Duration,
    ) -> Result<(), FailureKind> {
        let tcp = match self.stream.take() {
            Some(Stream::Plain(tcp)) => tcp,
            Some(tls @ Stream::Tls(_)) => {
                self.stream = Some(tls);
                return Err(FailureKind::Protocol("TLS is already active".into()));
            }
            None => return Err(FailureKind::Io("the connection is gone".into())),
        };
        tcp.set_read_timeout(Some(timeout))
            .and_then(|()| tcp.set_write_timeout(Some(timeout)))
            .map_err(|e| io_failure(&e))?;
        match connector.connect(name, tcp) {
            Ok(tls) => {
                self.stream = Some(Stream::Tls(Box::new(tls)));
                Ok(())
            }
            Err(HandshakeError::WouldBlock(_)) => Err(FailureKind::Timeout),
            Err(HandshakeError::Failure(e)) => Err(tls_failure(&e)),
        }
    }
}

/// A handshake error: a timeout or a dropped connection underneath keeps its meaning.
fn tls_failure(e: &native_tls::Error) -> FailureKind {
    let text = e.to_string();
    let source = std::error::Error::source(e);
    if let Some(io) = source.and_then(|s| s.downcast_ref::<io::Error>()) {
        return match io_failure(io) {
            FailureKind::Io(_) => FailureKind::Tls(text),
            other => other,
        };
    }
    FailureKind::Tls(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_failures() {
        use io::ErrorKind::*;
        let cases = [
            (WouldBlock, FailureKind::Timeout),
            (TimedOut, FailureKind::Timeout),
            (ConnectionRefused, FailureKind::ConnectRefused),
            (ConnectionReset, FailureKind::Closed),
            (BrokenPipe, FailureKind::Closed),
            (UnexpectedEof, FailureKind::Closed),
        ];
        for (kind, want) in cases {
            assert_eq!(io_failure(&io::Error::from(kind)), want, "{kind:?}");
        }
        assert!(matches!(
            io_failure(&io::Error::other("boom")),
            FailureKind::Io(_)
        ));
    }
}
