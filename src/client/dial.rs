//! The client's socket edges: opening a connection and the TLS handshake over it. The worker
//! is given a `Dialer`; the real one (`Network`) uses TCP and native-tls, tests give one that
//! hands out scripted in-memory streams (`script`).

use super::tls;
use super::wire::{Transport, io_failure};
use crate::transcript::FailureKind;
use native_tls::{HandshakeError, TlsStream};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Opens streams to servers and encrypts them.
pub trait Dialer: Send + Sync {
    /// A connection to `addr`, within `timeout`.
    fn connect(&self, addr: SocketAddr, timeout: Duration) -> io::Result<Box<dyn Transport>>;

    /// The TLS handshake over `plain` (its timeouts already set); `name` is the SNI and
    /// certificate name, checked only with `verify`.
    fn start_tls(
        &self,
        plain: Box<dyn Transport>,
        name: &str,
        verify: bool,
    ) -> Result<Box<dyn Transport>, FailureKind>;
}

/// TCP (no Nagle delay) and native-tls.
pub struct Network;

impl Dialer for Network {
    fn connect(&self, addr: SocketAddr, timeout: Duration) -> io::Result<Box<dyn Transport>> {
        let tcp = TcpStream::connect_timeout(&addr, timeout)?;
        tcp.set_nodelay(true)?;
        Ok(Box::new(tcp))
    }

    fn start_tls(
        &self,
        plain: Box<dyn Transport>,
        name: &str,
        verify: bool,
    ) -> Result<Box<dyn Transport>, FailureKind> {
        let connector = tls::connector(verify).map_err(FailureKind::Tls)?;
        match connector.connect(name, plain) {
            Ok(tls) => Ok(Box::new(tls)),
            Err(HandshakeError::WouldBlock(_)) => Err(FailureKind::Timeout),
            Err(HandshakeError::Failure(e)) => Err(tls_failure(&e)),
        }
    }
}

impl Transport for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }

    /// A non-blocking peek: data or EOF waiting is `true`.
    fn has_input(&self) -> io::Result<bool> {
        self.set_nonblocking(true)?;
        let peeked = self.peek(&mut [0u8; 1]);
        self.set_nonblocking(false)?;
        match peeked {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// TLS over any transport: the timeouts are the underlying stream's.
impl Transport for TlsStream<Box<dyn Transport>> {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.get_ref().set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.get_ref().set_write_timeout(timeout)
    }

    /// Encrypted bytes (a 421, a close_notify) or EOF underneath.
    fn has_input(&self) -> io::Result<bool> {
        self.get_ref().has_input()
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
