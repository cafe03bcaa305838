//! How an attempt's connection travelled: encrypted (and whether the certificate was verified,
//! for which name) or in plain text, and why. The client decides it; the delivery log, the
//! step record and `qksmtp show` say it in these words.
//!
//! No protocol version: native-tls does not tell it on any platform (on Linux its OpenSSL
//! stream is private), so the words say "TLS" alone.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsState {
    /// Encrypted; `verified` when the certificate was checked against the server's name (not
    /// for opportunistic TLS to an MX host, nor with `tls_verify = no`).
    Tls { verified: bool },
    /// The server does not offer STARTTLS.
    NotOffered,
    /// The server answered STARTTLS with a refusal.
    Refused,
    /// The handshake failed on an earlier connection; this one is the plain-text retry.
    AfterFailedHandshake,
    /// TLS is off for this server (a relay with `tls = none`).
    Off,
}

impl fmt::Display for TlsState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsState::Tls { verified: true } => f.write_str("TLS, certificate verified"),
            TlsState::Tls { verified: false } => f.write_str("TLS, certificate not verified"),
            TlsState::NotOffered => f.write_str("plain text: the server offers no STARTTLS"),
            TlsState::Refused => f.write_str("plain text: the server refused STARTTLS"),
            TlsState::AfterFailedHandshake => f.write_str("plain text after a failed handshake"),
            TlsState::Off => f.write_str("plain text: TLS is off for this server"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_in_words() {
        let cases = [
            (
                TlsState::Tls { verified: true },
                "TLS, certificate verified",
            ),
            (
                TlsState::Tls { verified: false },
                "TLS, certificate not verified",
            ),
            (
                TlsState::NotOffered,
                "plain text: the server offers no STARTTLS",
            ),
            (TlsState::Refused, "plain text: the server refused STARTTLS"),
            (
                TlsState::AfterFailedHandshake,
                "plain text after a failed handshake",
            ),
            (TlsState::Off, "plain text: TLS is off for this server"),
        ];
        for (state, words) in cases {
            assert_eq!(state.to_string(), words);
        }
    }
}
