//! The client's connection over any byte stream (`Transport`: a TCP socket, TLS over it, or a
//! scripted stream in tests): the reply parser, reads and writes bounded by a deadline, and
//! the mapping of I/O errors to `FailureKind`. Opening the stream and the TLS handshake are
//! the `Dialer`'s (see `dial`).

use super::dial::Dialer;
use super::tls::{Peer, TlsRequest};
use crate::smtp::reply::Reply;
use crate::smtp::reply_parser::ReplyParser;
use crate::transcript::FailureKind;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// A blocking byte stream to a server. The timeouts bound one blocking read or write; a
/// stream that cannot block (in memory) ignores them.
pub trait Transport: Read + Write + Send {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Whether the server has sent something or closed the stream, without waiting: what
    /// an idle connection finds when the server hung up on it (EOF, or `421` then EOF).
    fn has_input(&self) -> io::Result<bool>;
    /// A second handle on the TCP socket underneath, to close it from another thread
    /// (`halt`); `None` for a stream that has none.
    fn socket(&self) -> Option<std::net::TcpStream> {
        None
    }
}

/// One SMTP connection as the client sees it.
pub struct Conn {
    /// `None` only while a TLS handshake owns the stream, or after it failed.
    stream: Option<Box<dyn Transport>>,
    tls: bool,
    parser: ReplyParser,
    /// Room for reads, cleared once per connection.
    buf: Vec<u8>,
    /// The stream's read and write timeouts as last set (saves a system call per read or
    /// write when they have not changed).
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
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

/// Room offered to one read: replies are short (a pipelined group's few dozen bytes a
/// command, an EHLO reply a few hundred), and a longer one is read in turns. Each parked
/// connection keeps it: 8 KiB before, 160 KB of the throughput phase's 1.45 MB heap peak with
/// its 20 connections (issue 20).
pub(crate) const READ_ROOM: usize = 2 * 1024;

/// The socket timeout to set before a blocking read or write that may wait `wait`, or `None`
/// to keep the one set (`set`). It never exceeds `wait` (a socket timeout that fires early
/// only means another turn of the loop, which checks the deadline), and it is rounded down
/// to whole seconds so that the next steps, whose waits are alike, keep it: a connection
/// sets it about once instead of once per read.
pub(crate) fn socket_timeout(set: Option<Duration>, wait: Duration) -> Option<Duration> {
    const SECOND: Duration = Duration::from_secs(1);
    if let Some(t) = set
        && t <= wait
        && (t >= wait / 2 || t >= 10 * SECOND)
    {
        return None;
    }
    if wait <= 2 * SECOND {
        return Some(wait);
    }
    Some(Duration::from_secs(wait.as_secs() - 1))
}

/// An interrupted call, or a socket timeout that may have fired before the deadline.
fn retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
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
    pub fn new(stream: Box<dyn Transport>) -> Conn {
        Conn {
            stream: Some(stream),
            tls: false,
            parser: ReplyParser::new(),
            buf: vec![0; READ_ROOM],
            read_timeout: None,
            write_timeout: None,
        }
    }

    fn stream(&mut self) -> Result<&mut Box<dyn Transport>, FailureKind> {
        self.stream
            .as_mut()
            .ok_or_else(|| FailureKind::Io("the connection is gone".into()))
    }

    #[cfg(test)]
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// True when bytes from the server are waiting that no reply was asked for yet.
    pub fn has_buffered(&self) -> bool {
        self.parser.has_pending()
    }

    /// True when the server spoke or hung up while nobody asked (a parked connection that
    /// the server closed); an error looking counts as closed.
    pub fn server_spoke(&self) -> bool {
        self.parser.has_pending()
            || self
                .stream
                .as_ref()
                .is_none_or(|s| s.has_input().unwrap_or(true))
    }

    /// The next reply, waiting at most `timeout` in total.
    pub fn read_reply(&mut self, timeout: Duration) -> Result<Reply, FailureKind> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.parser.next_reply() {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(e) => return Err(FailureKind::Protocol(e.to_string())),
            }
            let wait = left(deadline)?;
            if let Some(t) = socket_timeout(self.read_timeout, wait) {
                let stream = self.stream()?;
                stream
                    .set_read_timeout(Some(t))
                    .map_err(|e| io_failure(&e))?;
                self.read_timeout = Some(t);
            }
            let Conn { stream, buf, .. } = self;
            let stream = stream
                .as_mut()
                .ok_or_else(|| FailureKind::Io("the connection is gone".into()))?;
            match stream.read(buf) {
                Ok(0) => return Err(FailureKind::Closed),
                Ok(n) => self.parser.feed(&self.buf[..n]),
                Err(e) if retry(&e) => {}
                Err(e) => return Err(io_failure(&e)),
            }
        }
    }

    /// Writes all of `data`, taking at most `timeout` in total.
    pub fn write_all(&mut self, data: &[u8], timeout: Duration) -> Result<(), FailureKind> {
        let deadline = Instant::now() + timeout;
        let mut done = 0;
        while done < data.len() {
            let wait = left(deadline)?;
            if let Some(t) = socket_timeout(self.write_timeout, wait) {
                let stream = self.stream()?;
                stream
                    .set_write_timeout(Some(t))
                    .map_err(|e| io_failure(&e))?;
                self.write_timeout = Some(t);
            }
            match self.stream()?.write(&data[done..]) {
                Ok(0) => return Err(FailureKind::Closed),
                Ok(n) => done += n,
                Err(e) if retry(&e) => {}
                Err(e) => return Err(io_failure(&e)),
            }
        }
        self.stream()?.flush().map_err(|e| io_failure(&e))
    }

    /// Runs the TLS handshake (through `dialer`) over the current plain stream, and tells what
    /// it showed of the server. Each read and write of the handshake waits at most `timeout`.
    /// On failure the connection is unusable.
    pub fn start_tls(
        &mut self,
        dialer: &dyn Dialer,
        request: &TlsRequest,
        timeout: Duration,
    ) -> Result<Peer, FailureKind> {
        if self.tls {
            return Err(FailureKind::Protocol("TLS is already active".into()));
        }
        let plain = self
            .stream
            .take()
            .ok_or_else(|| FailureKind::Io("the connection is gone".into()))?;
        plain
            .set_read_timeout(Some(timeout))
            .and_then(|()| plain.set_write_timeout(Some(timeout)))
            .map_err(|e| io_failure(&e))?;
        (self.read_timeout, self.write_timeout) = (Some(timeout), Some(timeout));
        let (stream, peer) = dialer.start_tls(plain, request)?;
        self.stream = Some(stream);
        self.tls = true;
        Ok(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_timeouts_are_kept_while_they_fit() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let cases = [
            // (set, wait, new setting)
            (None, s(300), Some(s(299))),
            (Some(s(299)), s(300), None),
            (Some(s(299)), ms(299_500), None),
            (Some(s(299)), s(120), Some(s(119))),
            (Some(s(119)), s(600), None),
            (Some(s(119)), ms(118_200), Some(s(117))),
            (Some(s(1)), s(300), Some(s(299))),
            (None, ms(1500), Some(ms(1500))),
            (Some(ms(1500)), ms(1400), Some(ms(1400))),
            (Some(ms(1400)), ms(2000), None),
            (None, ms(2500), Some(s(1))),
            (Some(ms(5)), s(3), Some(s(2))),
        ];
        for (set, wait, want) in cases {
            assert_eq!(socket_timeout(set, wait), want, "{set:?} {wait:?}");
        }
    }

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
