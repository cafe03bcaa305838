//! TLS for the client: the TLS modes (opportunistic STARTTLS to MX hosts, required or implicit
//! TLS, off for the plain-text retry), what the certificate must then prove (`Secure`), what
//! a handshake tells of the server (`Peer`), and the server name used for SNI and checks.

use crate::config::{RelayTls, TlsLevel};
use crate::dns::Tlsa;
use crate::transcript::tls::{Demand, TlsVersion};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How the client uses TLS on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPolicy {
    /// For MX hosts: STARTTLS whenever offered. If the handshake fails the attempt fails with
    /// step `StartTls`; the caller then retries the same host with `PlainRetry`.
    Opportunistic,
    /// No TLS even when offered (relays with `tls = none`, `tls_policy = none`).
    Never,
    /// No TLS even when offered: the retry of an MX host in plain text after the
    /// `Opportunistic` handshake failed.
    PlainRetry,
    /// STARTTLS must be offered and must succeed.
    Required,
    /// TLS from the first byte, e.g. port 465 (relays with `tls = tls`).
    Implicit,
}

/// What the server's certificate must prove once the connection is encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Check {
    /// Nothing: encryption against passive listeners only.
    #[default]
    Nothing,
    /// A chain to a trusted CA (the system's, or `tls_ca_file`) for the server's name.
    Pkix,
    /// One of the server's usable TLSA records (those of `_PORT._tcp.HOST`) matches (RFC
    /// 7672).
    Dane { records: Arc<[Tlsa]>, port: u16 },
}

/// The TLS asked of one server: the mode, what the certificate must prove, whether a failed
/// proof stops the attempt, and how the record words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secure {
    pub mode: TlsPolicy,
    pub check: Check,
    /// False: a failed check is only noted (MTA-STS mode `testing`) and the mail goes on.
    pub enforce: bool,
    pub demand: Demand,
    /// `[delivery] tls_ca_file`.
    pub ca_file: Option<PathBuf>,
}

impl Secure {
    /// Opportunistic STARTTLS, nothing checked: what MX hosts get without a policy.
    pub fn opportunistic() -> Secure {
        Secure {
            mode: TlsPolicy::Opportunistic,
            check: Check::Nothing,
            enforce: true,
            demand: Demand::Opportunistic,
            ca_file: None,
        }
    }

    /// The same, with another mode (the plain-text retry).
    pub fn with_mode(&self, mode: TlsPolicy) -> Secure {
        Secure {
            mode,
            ..self.clone()
        }
    }

    /// For a relay: `tls_policy` when set, else its `tls` and `tls_verify` settings.
    pub fn for_relay(
        tls: RelayTls,
        verify: bool,
        level: TlsLevel,
        ca_file: Option<&Path>,
    ) -> Secure {
        let implicit = tls == RelayTls::Tls;
        let required = if implicit {
            TlsPolicy::Implicit
        } else {
            TlsPolicy::Required
        };
        let (mode, check, demand) = match level {
            TlsLevel::Auto | TlsLevel::MtaSts | TlsLevel::Dane => match (tls, verify) {
                (RelayTls::None, _) => (TlsPolicy::Never, Check::Nothing, Demand::Relay { verify }),
                (_, true) => (required, Check::Pkix, Demand::Relay { verify }),
                (_, false) => (required, Check::Nothing, Demand::Relay { verify }),
            },
            TlsLevel::Opportunistic if implicit => {
                (required, Check::Nothing, Demand::Opportunistic)
            }
            TlsLevel::Opportunistic => (
                TlsPolicy::Opportunistic,
                Check::Nothing,
                Demand::Opportunistic,
            ),
            TlsLevel::Verify => (required, Check::Pkix, Demand::Verify),
            TlsLevel::Encrypt => (required, Check::Nothing, Demand::Encrypt),
            TlsLevel::None => (TlsPolicy::Never, Check::Nothing, Demand::Relay { verify }),
        };
        Secure {
            mode,
            check,
            enforce: true,
            demand,
            ca_file: ca_file.map(Path::to_path_buf),
        }
    }
}

/// What a handshake asks of the `Dialer`.
#[derive(Debug, Clone, Copy)]
pub struct TlsRequest<'a> {
    /// SNI and the name the certificate is checked for.
    pub name: &'a str,
    /// `tls_ca_file`.
    pub ca_file: Option<&'a Path>,
    /// Where the platform cannot verify after accepting (native-tls), verify in the
    /// handshake itself: a bad certificate then fails it. (OpenSSL always verifies after.)
    #[cfg_attr(not(any(windows, target_vendor = "apple")), allow(dead_code))]
    pub strict: bool,
}

/// What the handshake showed of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The certificates as sent (DER), the server's own first.
    pub chain: Vec<Vec<u8>>,
    /// Whether the chain leads to a trusted CA and names the server: `Err` says why not.
    pub pkix: Result<(), String>,
    /// The protocol version agreed, where the platform's TLS tells it.
    pub version: Option<TlsVersion>,
}

/// The name to present (SNI) and to check the certificate against: the host name without a
/// trailing dot, or the IP address when there is no name.
pub fn server_name(host_name: &str, addr: SocketAddr) -> String {
    let name = host_name.trim_end_matches('.');
    let name = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    if name.is_empty() {
        addr.ip().to_string()
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        let addr: SocketAddr = "127.0.0.1:25".parse().unwrap();
        let cases = [
            ("mx.example.test.", "mx.example.test"),
            ("mx.example.test", "mx.example.test"),
            ("", "127.0.0.1"),
            (".", "127.0.0.1"),
            ("[127.0.0.2]", "127.0.0.2"),
        ];
        for (input, want) in cases {
            assert_eq!(server_name(input, addr), want, "{input}");
        }
    }

    #[test]
    fn relay_policies() {
        use TlsLevel as L;
        let cases = [
            // (tls, tls_verify, tls_policy) -> (mode, check, demand)
            (
                RelayTls::StartTls,
                true,
                L::Auto,
                TlsPolicy::Required,
                Check::Pkix,
                Demand::Relay { verify: true },
            ),
            (
                RelayTls::Tls,
                false,
                L::Auto,
                TlsPolicy::Implicit,
                Check::Nothing,
                Demand::Relay { verify: false },
            ),
            (
                RelayTls::None,
                true,
                L::Auto,
                TlsPolicy::Never,
                Check::Nothing,
                Demand::Relay { verify: true },
            ),
            (
                RelayTls::StartTls,
                true,
                L::Encrypt,
                TlsPolicy::Required,
                Check::Nothing,
                Demand::Encrypt,
            ),
            (
                RelayTls::StartTls,
                false,
                L::Verify,
                TlsPolicy::Required,
                Check::Pkix,
                Demand::Verify,
            ),
            (
                RelayTls::Tls,
                false,
                L::Verify,
                TlsPolicy::Implicit,
                Check::Pkix,
                Demand::Verify,
            ),
            (
                RelayTls::StartTls,
                true,
                L::Opportunistic,
                TlsPolicy::Opportunistic,
                Check::Nothing,
                Demand::Opportunistic,
            ),
            (
                RelayTls::StartTls,
                true,
                L::None,
                TlsPolicy::Never,
                Check::Nothing,
                Demand::Relay { verify: true },
            ),
        ];
        for (tls, verify, level, mode, check, demand) in cases {
            let s = Secure::for_relay(tls, verify, level, None);
            assert_eq!(
                (s.mode, s.check, s.demand),
                (mode, check, demand),
                "{tls:?} {verify} {level:?}"
            );
            assert!(s.enforce);
        }
    }
}
