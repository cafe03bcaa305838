//! This server's own TLS identity: the certificate chain and key of `tls_cert` + `tls_key`
//! read from PEM files into an acceptor, and proven to belong together by a handshake with
//! itself over loopback, so that `qksmtp check` and the start-up name a mismatch at once.

use native_tls::{Identity, TlsAcceptor, TlsConnector};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

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
