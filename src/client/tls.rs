//! TLS for the client: the TLS modes (opportunistic STARTTLS to MX hosts, required or implicit
//! TLS to relays, off for the plain-text retry), the native-tls connector, and the server name
//! used for SNI and certificate checks.

use crate::config::RelayTls;
use native_tls::TlsConnector;
use std::net::SocketAddr;

/// How the client uses TLS on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPolicy {
    /// For MX hosts: STARTTLS whenever offered, certificate not verified. If the handshake
    /// fails the attempt fails with step `StartTls`; the caller then retries the same host with
    /// `PlainRetry`.
    Opportunistic,
    /// No TLS even when offered (relays with `tls = none`).
    Never,
    /// No TLS even when offered: the retry of an MX host in plain text after the
    /// `Opportunistic` handshake failed.
    PlainRetry,
    /// STARTTLS must be offered and must succeed (relays with `tls = starttls`).
    Required { verify: bool },
    /// TLS from the first byte, e.g. port 465 (relays with `tls = tls`).
    Implicit { verify: bool },
}

impl TlsPolicy {
    /// The policy for a relay from its `tls` and `tls_verify` settings.
    pub fn for_relay(tls: RelayTls, verify: bool) -> TlsPolicy {
        match tls {
            RelayTls::StartTls => TlsPolicy::Required { verify },
            RelayTls::Tls => TlsPolicy::Implicit { verify },
            RelayTls::None => TlsPolicy::Never,
        }
    }
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

/// A connector that verifies the certificate and host name, or accepts anything (opportunistic
/// TLS: encryption against passive listeners, as MX hosts rarely have verifiable names).
pub fn connector(verify: bool) -> Result<TlsConnector, String> {
    TlsConnector::builder()
        .danger_accept_invalid_certs(!verify)
        .danger_accept_invalid_hostnames(!verify)
        .build()
        .map_err(|e| e.to_string())
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
        assert_eq!(
            TlsPolicy::for_relay(RelayTls::StartTls, true),
            TlsPolicy::Required { verify: true }
        );
        assert_eq!(
            TlsPolicy::for_relay(RelayTls::Tls, false),
            TlsPolicy::Implicit { verify: false }
        );
        assert_eq!(TlsPolicy::for_relay(RelayTls::None, true), TlsPolicy::Never);
    }
}
