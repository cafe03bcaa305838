//! How an attempt's connection travelled: encrypted (what TLS was required, and what verified
//! the certificate: MTA-STS, DANE-EE, DANE-TA, a CA, or nothing) or in plain text, and why.
//! The client decides it; the delivery log, the step record and `qksmtp show` say it in these
//! words.
//!
//! The protocol version is said where the handshake tells it (OpenSSL, on Linux and the BSDs:
//! "TLS 1.3, verified by DANE-EE"); native-tls does not on every platform, and there the words
//! say "TLS" alone.

use std::fmt;

/// What TLS the sender asked of this server (`tls_policy`, or the recipient domain's
/// MTA-STS or DANE policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Demand {
    /// STARTTLS when offered, any certificate, plain text after a failed handshake.
    Opportunistic,
    /// `tls_policy = encrypt`: STARTTLS required, any certificate.
    Encrypt,
    /// `tls_policy = verify`: STARTTLS required, a certificate a CA vouches for, for the name.
    Verify,
    /// The domain's MTA-STS policy; `enforce` false is mode `testing` (only noted).
    MtaSts { enforce: bool },
    /// The server's DNSSEC-signed TLSA records.
    Dane,
    /// A relay, by its `tls` and `tls_verify` settings (`verify`: its certificate must be
    /// one a CA vouches for).
    Relay { verify: bool },
}

/// What vouched for the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifiedBy {
    /// A CA for the MX name, as the domain's MTA-STS policy asks.
    MtaSts,
    /// A TLSA record of usage 3 matched the server's own certificate or key.
    DaneEe,
    /// A TLSA record of usage 2 matched a CA of the chain, and the chain holds for the name.
    DaneTa,
    /// A trusted CA (the system's or `tls_ca_file`) for the server's name.
    Ca,
}

impl fmt::Display for VerifiedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VerifiedBy::MtaSts => "MTA-STS",
            VerifiedBy::DaneEe => "DANE-EE",
            VerifiedBy::DaneTa => "DANE-TA",
            VerifiedBy::Ca => "CA",
        })
    }
}

/// The TLS protocol version a handshake settled on. Known only where the client's handshake is
/// OpenSSL's own (not native-tls on Windows and macOS, whose words then say "TLS" alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(any(windows, target_vendor = "apple"), allow(dead_code))]
pub enum TlsVersion {
    V1_0,
    V1_1,
    V1_2,
    V1_3,
}

impl TlsVersion {
    /// From OpenSSL's name for it (`SSL_get_version`: "TLSv1.3"); `None` for anything else
    /// (SSLv3, DTLS, "unknown"), which the words then leave out.
    #[cfg_attr(any(windows, target_vendor = "apple"), allow(dead_code))]
    pub fn from_openssl(name: &str) -> Option<TlsVersion> {
        match name {
            "TLSv1" => Some(TlsVersion::V1_0),
            "TLSv1.1" => Some(TlsVersion::V1_1),
            "TLSv1.2" => Some(TlsVersion::V1_2),
            "TLSv1.3" => Some(TlsVersion::V1_3),
            _ => None,
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsVersion::V1_0 => "TLS 1.0",
            TlsVersion::V1_1 => "TLS 1.1",
            TlsVersion::V1_2 => "TLS 1.2",
            TlsVersion::V1_3 => "TLS 1.3",
        })
    }
}

/// "TLS 1.3", or "TLS" where the version is not known.
struct Protocol(Option<TlsVersion>);

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(version) => version.fmt(f),
            None => f.write_str("TLS"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsState {
    /// Encrypted, as `demand` asked; `by` says what verified the certificate (`None`: not
    /// verified); `version` is `None` where the platform's TLS does not tell it.
    Tls {
        demand: Demand,
        by: Option<VerifiedBy>,
        version: Option<TlsVersion>,
    },
    /// The server does not offer STARTTLS.
    NotOffered,
    /// The server answered STARTTLS with a refusal.
    Refused,
    /// The handshake failed on an earlier connection; this one is the plain-text retry.
    AfterFailedHandshake,
    /// TLS is off for this server (a relay with `tls = none`, `tls_policy = none`).
    Off,
    /// `demand` required TLS (or a verified certificate) and the server did not give it, so
    /// nothing was sent; the outcome's detail says why.
    Unmet { demand: Demand },
}

/// What `/metrics` counts deliveries by: what verified the certificate, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsKind {
    Dane,
    MtaSts,
    /// A CA vouched for the name (`tls_policy = verify`, a relay with `tls_verify`).
    Verified,
    Unverified,
    Plain,
}

impl TlsKind {
    pub const ALL: [TlsKind; 5] = [
        TlsKind::Dane,
        TlsKind::MtaSts,
        TlsKind::Verified,
        TlsKind::Unverified,
        TlsKind::Plain,
    ];

    /// The `tls` label of `qksmtp_delivered_by_tls_total`.
    pub fn label(self) -> &'static str {
        match self {
            TlsKind::Dane => "dane",
            TlsKind::MtaSts => "mta-sts",
            TlsKind::Verified => "verified",
            TlsKind::Unverified => "unverified",
            TlsKind::Plain => "plain",
        }
    }
}

impl TlsState {
    /// How a delivery over this connection counts; `None` for a refused one (nothing sent).
    pub fn kind(&self) -> Option<TlsKind> {
        Some(match self {
            TlsState::Tls { by, .. } => match by {
                Some(VerifiedBy::DaneEe | VerifiedBy::DaneTa) => TlsKind::Dane,
                Some(VerifiedBy::MtaSts) => TlsKind::MtaSts,
                Some(VerifiedBy::Ca) => TlsKind::Verified,
                None => TlsKind::Unverified,
            },
            TlsState::NotOffered
            | TlsState::Refused
            | TlsState::AfterFailedHandshake
            | TlsState::Off => TlsKind::Plain,
            TlsState::Unmet { .. } => return None,
        })
    }
}

impl Demand {
    /// What this demand requires, in plain words: "a verified encrypted connection
    /// (MTA-STS policy, enforce)".
    pub fn requires(self) -> &'static str {
        match self {
            Demand::Opportunistic => "encryption when the server offers it",
            Demand::Encrypt => "an encrypted connection (tls_policy = encrypt)",
            Demand::Verify => "a verified encrypted connection (tls_policy = verify)",
            Demand::MtaSts { enforce: true } => {
                "a verified encrypted connection (MTA-STS policy, enforce)"
            }
            Demand::MtaSts { enforce: false } => {
                "a verified encrypted connection (MTA-STS policy, testing)"
            }
            Demand::Dane => "a verified encrypted connection (DANE)",
            Demand::Relay { verify: false } => "an encrypted connection (the relay's tls settings)",
            Demand::Relay { verify: true } => {
                "a verified encrypted connection (the relay's tls and tls_verify settings)"
            }
        }
    }
}

impl Demand {
    /// The words after the verification: ` (opportunistic)`, ` (MTA-STS testing)`...
    fn suffix(self, verified: bool) -> &'static str {
        match (self, verified) {
            (Demand::Opportunistic, _) => " (opportunistic)",
            (Demand::Encrypt, _) => " (tls_policy = encrypt)",
            (Demand::Verify, _) => " (tls_policy = verify)",
            (Demand::MtaSts { enforce: true }, true) => " (enforce)",
            (Demand::MtaSts { enforce: false }, true) => " (testing)",
            (Demand::MtaSts { enforce: true }, false) => " (MTA-STS enforce)",
            (Demand::MtaSts { enforce: false }, false) => " (MTA-STS testing)",
            (Demand::Dane, _) | (Demand::Relay { .. }, _) => "",
        }
    }
}

impl fmt::Display for TlsState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsState::Tls {
                demand,
                by: Some(by),
                version,
            } => write!(
                f,
                "{}, verified by {by}{}",
                Protocol(*version),
                demand.suffix(true)
            ),
            TlsState::Tls {
                demand,
                by: None,
                version,
            } => write!(
                f,
                "{}, certificate not verified{}",
                Protocol(*version),
                demand.suffix(false)
            ),
            TlsState::NotOffered => f.write_str("plain text: the server offers no STARTTLS"),
            TlsState::Refused => f.write_str("plain text: the server refused STARTTLS"),
            TlsState::AfterFailedHandshake => f.write_str("plain text after a failed handshake"),
            TlsState::Off => f.write_str("plain text: TLS is off for this server"),
            TlsState::Unmet { demand } => {
                write!(f, "not sent: required {}", demand.requires())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_in_words() {
        let tls = |demand, by| TlsState::Tls {
            demand,
            by,
            version: None,
        };
        let sts = |enforce| Demand::MtaSts { enforce };
        let cases = [
            (
                tls(Demand::Relay { verify: true }, Some(VerifiedBy::Ca)),
                "TLS, verified by CA",
            ),
            (
                tls(Demand::Relay { verify: false }, None),
                "TLS, certificate not verified",
            ),
            (
                tls(Demand::Opportunistic, None),
                "TLS, certificate not verified (opportunistic)",
            ),
            (
                tls(Demand::Encrypt, None),
                "TLS, certificate not verified (tls_policy = encrypt)",
            ),
            (
                tls(Demand::Verify, Some(VerifiedBy::Ca)),
                "TLS, verified by CA (tls_policy = verify)",
            ),
            (
                tls(sts(true), Some(VerifiedBy::MtaSts)),
                "TLS, verified by MTA-STS (enforce)",
            ),
            (
                tls(sts(false), Some(VerifiedBy::MtaSts)),
                "TLS, verified by MTA-STS (testing)",
            ),
            (
                tls(sts(false), None),
                "TLS, certificate not verified (MTA-STS testing)",
            ),
            (
                tls(Demand::Dane, Some(VerifiedBy::DaneEe)),
                "TLS, verified by DANE-EE",
            ),
            (
                tls(Demand::Dane, Some(VerifiedBy::DaneTa)),
                "TLS, verified by DANE-TA",
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
            (
                TlsState::Unmet { demand: sts(true) },
                "not sent: required a verified encrypted connection (MTA-STS policy, enforce)",
            ),
            (
                TlsState::Unmet {
                    demand: Demand::Encrypt,
                },
                "not sent: required an encrypted connection (tls_policy = encrypt)",
            ),
            (
                TlsState::Unmet {
                    demand: Demand::Relay { verify: true },
                },
                "not sent: required a verified encrypted connection (the relay's tls and tls_verify settings)",
            ),
            (
                TlsState::Unmet {
                    demand: Demand::Relay { verify: false },
                },
                "not sent: required an encrypted connection (the relay's tls settings)",
            ),
        ];
        for (state, words) in cases {
            assert_eq!(state.to_string(), words);
        }
    }

    #[test]
    fn the_version_leads_the_words_when_known() {
        let tls = |demand, by, version| TlsState::Tls {
            demand,
            by,
            version,
        };
        let cases = [
            (
                tls(
                    Demand::Dane,
                    Some(VerifiedBy::DaneEe),
                    Some(TlsVersion::V1_3),
                ),
                "TLS 1.3, verified by DANE-EE",
            ),
            (
                tls(
                    Demand::MtaSts { enforce: true },
                    Some(VerifiedBy::MtaSts),
                    Some(TlsVersion::V1_2),
                ),
                "TLS 1.2, verified by MTA-STS (enforce)",
            ),
            (
                tls(Demand::Opportunistic, None, Some(TlsVersion::V1_1)),
                "TLS 1.1, certificate not verified (opportunistic)",
            ),
            (
                tls(Demand::Encrypt, None, Some(TlsVersion::V1_0)),
                "TLS 1.0, certificate not verified (tls_policy = encrypt)",
            ),
            (
                tls(Demand::Dane, Some(VerifiedBy::DaneTa), None),
                "TLS, verified by DANE-TA",
            ),
        ];
        for (state, words) in cases {
            assert_eq!(state.to_string(), words);
        }
    }

    #[test]
    fn openssl_version_names() {
        let cases = [
            ("TLSv1", Some(TlsVersion::V1_0)),
            ("TLSv1.1", Some(TlsVersion::V1_1)),
            ("TLSv1.2", Some(TlsVersion::V1_2)),
            ("TLSv1.3", Some(TlsVersion::V1_3)),
            ("SSLv3", None),
            ("DTLSv1.2", None),
            ("unknown", None),
        ];
        for (name, version) in cases {
            assert_eq!(TlsVersion::from_openssl(name), version, "{name}");
        }
    }

    #[test]
    fn each_state_counts_as_one_kind() {
        let tls = |by| TlsState::Tls {
            demand: Demand::Relay { verify: false },
            by,
            version: Some(TlsVersion::V1_3),
        };
        let cases = [
            (tls(Some(VerifiedBy::DaneEe)), Some(TlsKind::Dane)),
            (tls(Some(VerifiedBy::DaneTa)), Some(TlsKind::Dane)),
            (tls(Some(VerifiedBy::MtaSts)), Some(TlsKind::MtaSts)),
            (tls(Some(VerifiedBy::Ca)), Some(TlsKind::Verified)),
            (tls(None), Some(TlsKind::Unverified)),
            (TlsState::NotOffered, Some(TlsKind::Plain)),
            (TlsState::Refused, Some(TlsKind::Plain)),
            (TlsState::AfterFailedHandshake, Some(TlsKind::Plain)),
            (TlsState::Off, Some(TlsKind::Plain)),
            (
                TlsState::Unmet {
                    demand: Demand::Dane,
                },
                None,
            ),
        ];
        for (state, kind) in cases {
            assert_eq!(state.kind(), kind, "{state}");
        }
    }
}
