//! The client's socket edges: opening a connection and the TLS handshake over it. The worker
//! is given a `Dialer`; the real one (`Network`) uses TCP and OpenSSL (native-tls on Windows
//! and macOS), tests give one that hands out scripted in-memory streams (`script`).

use super::tls::{Peer, TlsRequest};
use super::wire::Transport;
use crate::transcript::FailureKind;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// `Transport` for a TLS stream over any transport (OpenSSL's or native-tls's, one per
/// platform): the timeouts are the underlying stream's; encrypted bytes (a 421, a
/// close_notify) or EOF underneath are input.
macro_rules! tls_transport {
    ($stream:ty) => {
        impl Transport for $stream {
            fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                self.get_ref().set_read_timeout(timeout)
            }

            fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                self.get_ref().set_write_timeout(timeout)
            }

            fn has_input(&self) -> io::Result<bool> {
                self.get_ref().has_input()
            }
        }
    };
}
use tls_transport;

/// Opens streams to servers and encrypts them.
pub trait Dialer: Send + Sync {
    /// A connection to `addr`, within `timeout`.
    fn connect(&self, addr: SocketAddr, timeout: Duration) -> io::Result<Box<dyn Transport>>;

    /// The TLS handshake over `plain` (its timeouts already set), and what it showed of the
    /// server's certificate; the verdict on it is the caller's (`verify::judge`).
    fn start_tls(
        &self,
        plain: Box<dyn Transport>,
        request: &TlsRequest,
    ) -> Result<(Box<dyn Transport>, Peer), FailureKind>;

    /// Whether chain certificate `anchor`, taken as the only trusted CA, vouches for the
    /// server's certificate (`chain[0]`) and `name` (DANE-TA).
    fn vouches(&self, chain: &[Vec<u8>], anchor: usize, name: &str) -> Result<(), String> {
        let _ = (chain, anchor, name);
        Err("DANE-TA is not checked on this platform".into())
    }

    /// A watch on a new connection, for a server that stops (`halt::Halting`).
    fn watch(&self, stream: &dyn Transport) -> Option<super::halt::Watch> {
        let _ = stream;
        None
    }
}

/// TCP (no Nagle delay) and TLS: OpenSSL directly where native-tls would use it (the chain
/// and its verification are then both at hand), native-tls elsewhere.
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
        request: &TlsRequest,
    ) -> Result<(Box<dyn Transport>, Peer), FailureKind> {
        imp::start_tls(plain, request)
    }

    fn vouches(&self, chain: &[Vec<u8>], anchor: usize, name: &str) -> Result<(), String> {
        imp::vouches(chain, anchor, name)
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

    fn socket(&self) -> Option<TcpStream> {
        self.try_clone().ok()
    }
}

#[cfg(any(windows, target_vendor = "apple"))]
use native_client as imp;
#[cfg(not(any(windows, target_vendor = "apple")))]
use openssl_client as imp;

/// The handshake with OpenSSL: every certificate is accepted, and the first verification
/// error (chain or name) is kept for the verdict.
#[cfg(not(any(windows, target_vendor = "apple")))]
mod openssl_client {
    use super::super::tls::{Peer, TlsRequest};
    use super::super::wire::{Transport, io_failure};
    use crate::transcript::FailureKind;
    use crate::transcript::tls::TlsVersion;
    use openssl::ssl::{HandshakeError, SslConnector, SslMethod, SslStream, SslVerifyMode};
    use openssl::stack::Stack;
    use openssl::x509::store::X509StoreBuilder;
    use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
    use openssl::x509::{X509, X509StoreContext, X509StoreContextRef};
    use std::io;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    pub fn start_tls(
        plain: Box<dyn Transport>,
        request: &TlsRequest,
    ) -> Result<(Box<dyn Transport>, Peer), FailureKind> {
        let setup = |e: openssl::error::ErrorStack| FailureKind::Tls(e.to_string());
        let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(setup)?;
        if let Some(ca) = request.ca_file {
            builder
                .set_ca_file(ca)
                .map_err(|e| FailureKind::Tls(format!("tls_ca_file {}: {e}", ca.display())))?;
        }
        let first: Arc<Mutex<Option<String>>> = Arc::default();
        let seen = first.clone();
        builder.set_verify_callback(SslVerifyMode::PEER, move |ok, ctx| {
            let mut slot = seen.lock().unwrap_or_else(|e| e.into_inner());
            if !ok && slot.is_none() {
                *slot = Some(describe(ctx));
            }
            true
        });
        let connector = builder.build();
        match connector.connect(request.name, plain) {
            Ok(stream) => {
                let chain = stream
                    .ssl()
                    .peer_cert_chain()
                    .map(|s| s.iter().filter_map(|c| c.to_der().ok()).collect())
                    .unwrap_or_default();
                let pkix = match first.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    Some(why) => Err(why),
                    None => Ok(()),
                };
                let version = TlsVersion::from_openssl(stream.ssl().version_str());
                let peer = Peer {
                    chain,
                    pkix,
                    version,
                };
                Ok((Box::new(stream), peer))
            }
            Err(HandshakeError::WouldBlock(_)) => Err(FailureKind::Timeout),
            Err(HandshakeError::SetupFailure(e)) => Err(setup(e)),
            Err(HandshakeError::Failure(mid)) => Err(failure(mid.error())),
        }
    }

    /// `self-signed certificate`, `Hostname mismatch`, `certificate has expired`...
    fn describe(ctx: &X509StoreContextRef) -> String {
        ctx.error().error_string().to_string()
    }

    /// A timeout or a dropped connection underneath keeps its meaning.
    fn failure(e: &openssl::ssl::Error) -> FailureKind {
        match e.io_error() {
            Some(io) => match io_failure(io) {
                FailureKind::Io(_) => FailureKind::Tls(e.to_string()),
                other => other,
            },
            None => FailureKind::Tls(e.to_string()),
        }
    }

    pub fn vouches(chain: &[Vec<u8>], anchor: usize, name: &str) -> Result<(), String> {
        let text = |e: openssl::error::ErrorStack| e.to_string();
        let leaf = X509::from_der(chain.first().ok_or("no certificate")?).map_err(text)?;
        let ca = X509::from_der(chain.get(anchor).ok_or("no such certificate")?).map_err(text)?;
        let mut param = X509VerifyParam::new().map_err(text)?;
        param.set_host(name).map_err(text)?;
        // The anchor may be an intermediate CA (RFC 7671 §5.2.2).
        param
            .set_flags(X509VerifyFlags::PARTIAL_CHAIN)
            .map_err(text)?;
        let mut store = X509StoreBuilder::new().map_err(text)?;
        store.add_cert(ca).map_err(text)?;
        store.set_param(&param).map_err(text)?;
        let store = store.build();
        let mut rest = Stack::new().map_err(text)?;
        for der in &chain[1..] {
            rest.push(X509::from_der(der).map_err(text)?)
                .map_err(text)?;
        }
        let mut ctx = X509StoreContext::new().map_err(text)?;
        ctx.init(&store, &leaf, &rest, |c| {
            Ok(match c.verify_cert()? {
                true => Ok(()),
                false => Err(c.error().error_string().to_string()),
            })
        })
        .map_err(text)?
    }

    super::tls_transport!(SslStream<Box<dyn Transport>>);
}

/// The handshake with native-tls, which verifies inside the handshake or not at all: a
/// required verification (`strict`) makes a bad certificate fail the handshake, otherwise it
/// is not checked. Only the server's own certificate is at hand (no DANE-TA).
#[cfg(any(windows, target_vendor = "apple"))]
mod native_client {
    use super::super::tls::{Peer, TlsRequest};
    use super::super::wire::{Transport, io_failure};
    use crate::transcript::FailureKind;
    use native_tls::{Certificate, HandshakeError, TlsConnector, TlsStream};
    use std::io;
    use std::time::Duration;

    pub fn start_tls(
        plain: Box<dyn Transport>,
        request: &TlsRequest,
    ) -> Result<(Box<dyn Transport>, Peer), FailureKind> {
        let mut builder = TlsConnector::builder();
        builder
            .danger_accept_invalid_certs(!request.strict)
            .danger_accept_invalid_hostnames(!request.strict);
        if let Some(ca) = request.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| FailureKind::Tls(format!("tls_ca_file {}: {e}", ca.display())))?;
            let certs = Certificate::stack_from_pem(&pem)
                .map_err(|e| FailureKind::Tls(format!("tls_ca_file {}: {e}", ca.display())))?;
            certs.into_iter().for_each(|c| {
                builder.add_root_certificate(c);
            });
        }
        let connector = builder
            .build()
            .map_err(|e| FailureKind::Tls(e.to_string()))?;
        match connector.connect(request.name, plain) {
            Ok(tls) => {
                let chain = tls
                    .peer_certificate()
                    .ok()
                    .flatten()
                    .and_then(|c| c.to_der().ok())
                    .into_iter()
                    .collect();
                let pkix = match request.strict {
                    true => Ok(()),
                    false => Err("not checked on this platform".into()),
                };
                // native-tls does not tell the version on every platform: the words say "TLS".
                let peer = Peer {
                    chain,
                    pkix,
                    version: None,
                };
                Ok((Box::new(tls), peer))
            }
            Err(HandshakeError::WouldBlock(_)) => Err(FailureKind::Timeout),
            Err(HandshakeError::Failure(e)) => Err(failure(&e)),
        }
    }

    pub fn vouches(_: &[Vec<u8>], _: usize, _: &str) -> Result<(), String> {
        Err("DANE-TA is not checked on this platform".into())
    }

    super::tls_transport!(TlsStream<Box<dyn Transport>>);

    /// A handshake error: a timeout or a dropped connection underneath keeps its meaning.
    fn failure(e: &native_tls::Error) -> FailureKind {
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
}
