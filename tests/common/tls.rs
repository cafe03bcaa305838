//! TLS for the tests: a throwaway self-signed certificate (openssl CLI), and a client side
//! that accepts it.

use std::path::Path;
use std::process::Command;

/// Writes a self-signed `cert.pem` + PKCS#8 `key.pem` for CN=localhost into `dir` (so that
/// `tls_cert = cert.pem` / `tls_key = key.pem` work there); returns them as an identity for
/// a server in the test (the fake MX's `Options::tls`).
pub fn make_cert(dir: &Path) -> native_tls::Identity {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
        .args(["-keyout", "key.pem", "-out", "cert.pem", "-days", "2"])
        .args(["-subj", "/CN=localhost"])
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is needed for the TLS tests");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cert = std::fs::read(dir.join("cert.pem")).unwrap();
    let key = std::fs::read(dir.join("key.pem")).unwrap();
    native_tls::Identity::from_pkcs8(&cert, &key).expect("load self-signed identity")
}

/// A client that accepts any certificate (the tests' certificates are self-signed).
pub fn tls_connector() -> native_tls::TlsConnector {
    native_tls::TlsConnector::builder()
        .danger_accept_invalid_certs(true)
        .danger_accept_invalid_hostnames(true)
        .build()
        .unwrap()
}
