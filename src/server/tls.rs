//! TLS for the server side: the session's stream (plain, or TLS after STARTTLS / on a
//! `listen_tls` port), the acceptor built once from `tls_cert` + `tls_key`, and the handshake.

use super::bounded::Bounded;
use super::connection::Connection;
use crate::config::Config;
use native_tls::{HandshakeError, Identity, TlsAcceptor, TlsConnector, TlsStream};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
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
    Closed,
}

impl Stream {
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// The underlying socket (none once closed).
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Plain(s) => Some(s),
            Stream::Tls(s) => Some(s.get_ref().tcp()),
            Stream::Closed => None,
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
    /// failure leaves the stream `Closed`.
    pub fn start_tls(&mut self, acceptor: &TlsAcceptor, limit: Duration) -> Result<(), String> {
        match std::mem::replace(self, Stream::Closed) {
            Stream::Plain(tcp) => {
                let tls = handshake(acceptor, tcp, limit)?;
                *self = Stream::Tls(Box::new(tls));
                Ok(())
            }
            Stream::Tls(tls) => {
                *self = Stream::Tls(tls);
                Err("already in TLS".into())
            }
            Stream::Closed => Err("the connection is closed".into()),
        }
    }
}

/// The server's side of a handshake, over within `limit` as a whole.
fn handshake(
    acceptor: &TlsAcceptor,
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
        Err(HandshakeError::WouldBlock(_)) => Err("TLS handshake timed out".into()),
        Err(HandshakeError::Failure(_)) if Instant::now() >= deadline => Err(format!(
            "TLS handshake timed out (not over within {}s)",
            limit.as_secs()
        )),
        Err(HandshakeError::Failure(e)) => Err(format!("TLS handshake failed: {e}")),
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Closed => Ok(0),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Closed => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Closed => Ok(()),
        }
    }
}

/// Builds the acceptor from a PEM certificate chain (leaf first) and a PKCS#8 PEM key, and
/// proves that they go together with a handshake over loopback. The error explains.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    let cert_pem = std::fs::read(cert).map_err(|e| format!("{}: {e}", cert.display()))?;
    let key_pem = std::fs::read(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let identity = Identity::from_pkcs8(&cert_pem, &key_pem)
        .map_err(|e| format!("the certificate or the key cannot be used: {e}"))?;
    let acceptor = TlsAcceptor::new(identity)
        .map_err(|e| format!("the certificate and key are not usable for TLS: {e}"))?;
    // OpenSSL accepts a key that belongs to another certificate here and fails only at the
    // first handshake: try one now.
    self_handshake(&acceptor).map_err(|e| {
        format!("the key does not go with the certificate (a test handshake failed: {e})")
    })?;
    Ok(acceptor)
}

/// A TLS handshake with ourselves over a loopback socket (certificate not verified).
fn self_handshake(acceptor: &TlsAcceptor) -> Result<(), String> {
    let limit = Duration::from_secs(10);
    let timeout = Some(limit);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server_side = acceptor.clone();
    let server = std::thread::spawn(move || -> Result<(), String> {
        let (tcp, _) = listener.accept().map_err(|e| e.to_string())?;
        let _ = tcp.set_read_timeout(timeout);
        let _ = tcp.set_write_timeout(timeout);
        let mut tls = handshake(&server_side, tcp, limit)?;
        let _ = tls.shutdown();
        Ok(())
    });
    let client = (|| -> Result<(), String> {
        let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        let _ = tcp.set_read_timeout(timeout);
        let _ = tcp.set_write_timeout(timeout);
        let connector = TlsConnector::builder()
            .danger_accept_invalid_certs(true)
            .danger_accept_invalid_hostnames(true)
            .build()
            .map_err(|e| e.to_string())?;
        connector
            .connect("localhost", tcp)
            .map(drop)
            .map_err(|e| e.to_string())
    })();
    let served = server
        .join()
        .unwrap_or_else(|_| Err("the test handshake panicked".into()));
    served.and(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A self-signed pair made by the openssl CLI in `dir` (named NAME-cert.pem, NAME-key.pem).
    fn pair(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let (cert, key) = (
            dir.join(format!("{name}-cert.pem")),
            dir.join(format!("{name}-key.pem")),
        );
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("the openssl CLI is needed for this test");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (cert, key)
    }

    #[test]
    fn require_tls_applies_to_remote_plain_text_clients_only() {
        let mut config = crate::config::load::defaults(Path::new("/x/qksmtp.ini"), "h.test");
        let conn = |peer: &str, tls: bool| Connection {
            peer: peer.parse().unwrap(),
            helo: None,
            esmtp: true,
            relay_allowed: false,
            auth_user: None,
            tls,
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

    #[test]
    fn a_matching_pair_loads_and_a_foreign_key_is_refused() {
        let dir = std::env::temp_dir().join(format!("qksmtp-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert_a, key_a) = pair(&dir, "a");
        let (_, key_b) = pair(&dir, "b");
        assert!(acceptor(&cert_a, &key_a).is_ok());
        let err = acceptor(&cert_a, &key_b).err().expect("mismatch refused");
        assert!(err.contains("does not go with the certificate"), "{err}");
        let err = acceptor(&cert_a, &dir.join("missing.pem")).err().unwrap();
        assert!(err.contains("missing.pem"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
