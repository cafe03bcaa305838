//! This server's own TLS identity: the certificate chain and key of `tls_cert` + `tls_key`
//! read from PEM files into an `Acceptor`, and proven to belong together by a handshake with
//! itself over loopback, so that `qksmtp check` and the start-up name a mismatch at once. The
//! acceptor offers TLS 1.2 and 1.3: where native-tls uses OpenSSL it is built with the
//! `openssl` crate directly (native-tls's OpenSSL acceptor turns TLS 1.3 off); on Windows and
//! Apple systems it is native-tls's.

use native_tls::TlsConnector;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

#[cfg(not(any(windows, target_vendor = "apple")))]
use openssl_acceptor as imp;

#[cfg(any(windows, target_vendor = "apple"))]
use native_acceptor as imp;

/// Accepts TLS connections with our certificate.
pub type Acceptor = imp::Acceptor;
/// The server's side of a TLS connection over `S`.
pub type TlsStream<S> = imp::TlsStream<S>;

/// What a finished handshake agreed on, for the Received header: e.g. `TLSv1.3` and
/// `TLS_AES_256_GCM_SHA384` (OpenSSL's names, as Postfix writes them). Known where the
/// acceptor is OpenSSL's; the system TLS of Windows and Apple systems does not tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsUsed {
    pub version: &'static str,
    pub cipher: &'static str,
}

impl std::fmt::Display for TlsUsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} with cipher {}", self.version, self.cipher)
    }
}

/// The version and cipher of a server-side TLS connection, where the platform tells.
pub fn tls_used<S>(tls: &TlsStream<S>) -> Option<TlsUsed> {
    imp::used(tls)
}

/// Why a server-side handshake did not finish.
#[derive(Debug)]
pub enum AcceptError {
    /// The socket's timeout expired.
    WouldBlock,
    Failed(String),
}

impl std::fmt::Display for AcceptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AcceptError::WouldBlock => f.write_str("timed out"),
            AcceptError::Failed(e) => f.write_str(e),
        }
    }
}

/// Builds the acceptor from a PEM certificate chain (leaf first) and a PKCS#8 PEM key, and
/// proves that they go together with a handshake over loopback. The error explains.
pub fn acceptor(cert: &Path, key: &Path) -> Result<Acceptor, String> {
    let cert_pem = std::fs::read(cert).map_err(|e| format!("{}: {e}", cert.display()))?;
    let key_pem = std::fs::read(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let acceptor = imp::Acceptor::from_pem(&cert_pem, &key_pem)?;
    // OpenSSL may accept a key that belongs to another certificate here and fail only at the
    // first handshake: try one now.
    self_handshake(&acceptor).map_err(|e| {
        format!("the key does not go with the certificate (a test handshake failed: {e})")
    })?;
    Ok(acceptor)
}

#[cfg(not(any(windows, target_vendor = "apple")))]
mod openssl_acceptor {
    use super::AcceptError;
    use openssl::pkey::PKey;
    use openssl::ssl::{HandshakeError, SslAcceptor, SslMethod};
    use openssl::x509::X509;
    use std::io::{Read, Write};

    pub type TlsStream<S> = openssl::ssl::SslStream<S>;

    pub fn used<S>(tls: &TlsStream<S>) -> Option<super::TlsUsed> {
        let ssl = tls.ssl();
        Some(super::TlsUsed {
            version: ssl.version_str(),
            cipher: ssl.current_cipher()?.name(),
        })
    }

    /// Mozilla's "intermediate" settings, version 5: TLS 1.2 and 1.3.
    #[derive(Clone)]
    pub struct Acceptor(SslAcceptor);

    impl Acceptor {
        pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Acceptor, String> {
            let unusable = |e| format!("the certificate or the key cannot be used: {e}");
            let key = PKey::private_key_from_pem(key_pem).map_err(unusable)?;
            let mut chain = X509::stack_from_pem(cert_pem)
                .map_err(unusable)?
                .into_iter();
            let leaf = chain.next().ok_or("no certificate in the file")?;
            let not_for_tls = |e| format!("the certificate and key are not usable for TLS: {e}");
            let mut builder =
                SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).map_err(not_for_tls)?;
            builder.set_private_key(&key).map_err(not_for_tls)?;
            builder.set_certificate(&leaf).map_err(not_for_tls)?;
            for cert in chain {
                builder.add_extra_chain_cert(cert).map_err(not_for_tls)?;
            }
            Ok(Acceptor(builder.build()))
        }

        pub fn accept<S: Read + Write>(&self, stream: S) -> Result<TlsStream<S>, AcceptError> {
            self.0.accept(stream).map_err(|e| match e {
                HandshakeError::WouldBlock(_) => AcceptError::WouldBlock,
                HandshakeError::SetupFailure(e) => AcceptError::Failed(e.to_string()),
                HandshakeError::Failure(mid) => AcceptError::Failed(mid.error().to_string()),
            })
        }
    }
}

#[cfg(any(windows, target_vendor = "apple"))]
mod native_acceptor {
    use super::AcceptError;
    use native_tls::{HandshakeError, Identity, TlsAcceptor};
    use std::io::{Read, Write};

    pub type TlsStream<S> = native_tls::TlsStream<S>;

    /// native-tls does not say which version and cipher were agreed.
    pub fn used<S>(_: &TlsStream<S>) -> Option<super::TlsUsed> {
        None
    }

    /// The system's TLS (SChannel, Secure Transport) through native-tls.
    #[derive(Clone)]
    pub struct Acceptor(TlsAcceptor);

    impl Acceptor {
        pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Acceptor, String> {
            let identity = Identity::from_pkcs8(cert_pem, key_pem)
                .map_err(|e| format!("the certificate or the key cannot be used: {e}"))?;
            TlsAcceptor::new(identity)
                .map(Acceptor)
                .map_err(|e| format!("the certificate and key are not usable for TLS: {e}"))
        }

        pub fn accept<S: Read + Write>(&self, stream: S) -> Result<TlsStream<S>, AcceptError> {
            self.0.accept(stream).map_err(|e| match e {
                HandshakeError::WouldBlock(_) => AcceptError::WouldBlock,
                HandshakeError::Failure(e) => AcceptError::Failed(e.to_string()),
            })
        }
    }
}

/// A TLS handshake with ourselves over a loopback socket (certificate not verified).
fn self_handshake(acceptor: &Acceptor) -> Result<(), String> {
    let timeout = Some(Duration::from_secs(10));
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server_side = acceptor.clone();
    let server = std::thread::spawn(move || -> Result<(), String> {
        let (tcp, _) = listener.accept().map_err(|e| e.to_string())?;
        let _ = tcp.set_read_timeout(timeout);
        let _ = tcp.set_write_timeout(timeout);
        let mut tls = server_side.accept(tcp).map_err(|e| e.to_string())?;
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
