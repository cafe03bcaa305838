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

/// A certificate authority of the test (openssl CLI): `ca.pem` in its folder is what
/// `tls_ca_file` names; `issue` makes server certificates signed by it.
pub struct TestCa {
    dir: std::path::PathBuf,
}

impl TestCa {
    /// A new CA in `dir` (`ca.pem`, `ca-key.pem`), named `name`.
    pub fn new(dir: &Path, name: &str) -> TestCa {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
            ],
            &[
                "-keyout",
                "ca-key.pem",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        TestCa {
            dir: dir.to_path_buf(),
        }
    }

    /// The path of `ca.pem`.
    pub fn pem(&self) -> std::path::PathBuf {
        self.dir.join("ca.pem")
    }

    /// A server certificate for `names` (DNS names, or IP addresses), signed by this CA,
    /// as an identity for a fake server that sends the CA's certificate after its own (as
    /// DANE-TA needs); `FILE-cert.pem` / `FILE-key.pem` are kept.
    pub fn issue(&self, file: &str, names: &[&str]) -> native_tls::Identity {
        let san: Vec<String> = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(_) => format!("IP:{n}"),
                Err(_) => format!("DNS:{n}"),
            })
            .collect();
        let (key, csr, cert) = (
            format!("{file}-key.pem"),
            format!("{file}.csr"),
            format!("{file}-cert.pem"),
        );
        openssl(
            &self.dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
            ],
            &[
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={}", names[0]),
            ],
        );
        let ext = self.dir.join(format!("{file}.ext"));
        std::fs::write(&ext, format!("subjectAltName = {}\n", san.join(", "))).unwrap();
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
            ],
            &[
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "2",
                "-extfile",
                &ext.display().to_string(),
            ],
        );
        let mut cert = std::fs::read(self.dir.join(cert)).unwrap();
        cert.extend(std::fs::read(self.pem()).unwrap());
        let key = std::fs::read(self.dir.join(key)).unwrap();
        native_tls::Identity::from_pkcs8(&cert, &key).expect("load the issued identity")
    }
}

/// Runs the openssl CLI in `dir`; its standard output.
pub fn openssl_out(dir: &Path, shell: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", shell])
        .current_dir(dir)
        .output()
        .expect("sh and the openssl CLI");
    assert!(
        out.status.success(),
        "{shell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn openssl(dir: &Path, args: &[&str], more: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .args(more)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is needed for the TLS tests");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
