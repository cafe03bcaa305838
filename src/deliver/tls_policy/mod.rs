//! What TLS delivery to one server must have: the decision from the configured `tls_policy`,
//! the domain's MTA-STS policy and the server's DNSSEC-signed TLSA records (DANE wins over
//! MTA-STS, both over opportunistic TLS), for MX hosts, fixed routes and relays. Pure, with
//! table tests; `sts` parses and matches MTA-STS policies, `store` finds them (DNS, HTTPS,
//! the on-disk cache).

pub mod fetch;
pub mod store;
pub mod sts;

use crate::client::dane;
use crate::client::{Check, Secure, TlsPolicy};
use crate::config::TlsLevel;
use crate::dns::Tlsa;
use crate::transcript::tls::Demand;
use std::sync::Arc;
use sts::{Mode, Policy};

/// Where a server comes from, which says what the recipient domain's policies can say of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An MX host from the domain's DNS answer: its MTA-STS policy applies, and DANE when the
    /// MX answer is DNSSEC-signed (RFC 7672 §2.2.1).
    Mx,
    /// A server the configuration names (`mx =`, as Postfix's `[host]` nexthop): DANE with
    /// the TLSA records of `_PORT._tcp.HOST` when the host's addresses are DNSSEC-signed
    /// (RFC 7672 §2.2.2); never MTA-STS, whose policy names the domain's MX hosts (RFC 8461
    /// §4.1) and the MX lookup is not done.
    Fixed,
    /// A relay: as `Fixed`, over the relay's own `tls` and `tls_verify` settings.
    Relay,
}

/// What to look up for one server before deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asks {
    /// The domain's MTA-STS policy.
    pub sts: bool,
    /// The server's TLSA records (when the MX answer, or the host's addresses, validate).
    pub dane: bool,
}

/// What `level` asks to look up for a server of `origin`; DANE only with `dnssec = yes`.
pub fn asks(level: TlsLevel, origin: Origin, dnssec: bool) -> Asks {
    Asks {
        sts: origin == Origin::Mx && matches!(level, TlsLevel::Auto | TlsLevel::MtaSts),
        dane: dnssec && matches!(level, TlsLevel::Auto | TlsLevel::Dane),
    }
}

/// A relay's TLS: `base` from its `tls`, `tls_verify` and `tls_policy` settings, made DANE
/// when the relay has usable signed TLSA records (a relay with TLS off stays off: that is the
/// configuration's word). Signed records none of which is usable leave `base` as it is: it
/// already requires TLS, which is all RFC 7672 §2.2 asks then.
pub fn for_relay(base: Secure, tlsa: Option<&[Tlsa]>, port: u16) -> Secure {
    let usable = tlsa.filter(|records| dane::usable(records));
    match (base.mode, usable) {
        (TlsPolicy::Never | TlsPolicy::PlainRetry, _) | (_, None) => base,
        (mode, Some(records)) => Secure {
            mode: match mode {
                TlsPolicy::Implicit => TlsPolicy::Implicit,
                _ => TlsPolicy::Required,
            },
            check: Check::Dane {
                records: Arc::from(records.to_vec()),
                port,
            },
            enforce: true,
            demand: Demand::Dane,
            ca_file: base.ca_file,
        },
    }
}

/// How to treat one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Connect with these settings.
    Use(Secure),
    /// Connect, and note what enforcing the domain's policy would have refused (MTA-STS
    /// mode `testing`).
    Noting(Secure, String),
    /// Do not connect: whose requirement says so, and the reason in the step's words
    /// ("MTA-STS: mx2.example.test does not match the policy").
    Refuse(Demand, String),
}

/// The decision for server `host`:`port` of a domain whose rule says `level`; `policy` is
/// its MTA-STS policy (cached or fresh; always `None` for a fixed route) and `tlsa` the
/// server's DNSSEC-validated TLSA records (`None` when there are none, or they are not
/// signed).
pub fn decide(
    level: TlsLevel,
    policy: Option<&Policy>,
    tlsa: Option<&[Tlsa]>,
    (host, port): (&str, u16),
) -> Decision {
    let tlsa = tlsa.filter(|records| !records.is_empty());
    match level {
        TlsLevel::None => Decision::Use(plain(TlsPolicy::Never)),
        TlsLevel::Opportunistic => Decision::Use(plain(TlsPolicy::Opportunistic)),
        TlsLevel::Encrypt => Decision::Use(required(Check::Nothing, Demand::Encrypt)),
        TlsLevel::Verify => Decision::Use(required(Check::Pkix, Demand::Verify)),
        TlsLevel::Dane => {
            by_dane(tlsa, port).unwrap_or(Decision::Use(plain(TlsPolicy::Opportunistic)))
        }
        TlsLevel::MtaSts => by_sts(policy, host),
        TlsLevel::Auto => by_dane(tlsa, port).unwrap_or_else(|| by_sts(policy, host)),
    }
}

/// DANE with signed TLSA records: the usable ones must match; a set with none usable still
/// makes TLS mandatory, unauthenticated (RFC 7672 §2.2).
fn by_dane(tlsa: Option<&[Tlsa]>, port: u16) -> Option<Decision> {
    let records = tlsa?;
    if !dane::usable(records) {
        return Some(Decision::Use(required(Check::Nothing, Demand::Dane)));
    }
    let check = Check::Dane {
        records: Arc::from(records.to_vec()),
        port,
    };
    Some(Decision::Use(required(check, Demand::Dane)))
}

fn by_sts(policy: Option<&Policy>, host: &str) -> Decision {
    let Some(policy) = policy else {
        return Decision::Use(plain(TlsPolicy::Opportunistic));
    };
    let unmatched = || {
        format!(
            "MTA-STS: {} does not match the policy",
            host.trim_end_matches('.')
        )
    };
    match policy.mode {
        Mode::None => Decision::Use(plain(TlsPolicy::Opportunistic)),
        Mode::Enforce if !policy.allows(host) => {
            Decision::Refuse(Demand::MtaSts { enforce: true }, unmatched())
        }
        Mode::Enforce => Decision::Use(required(Check::Pkix, Demand::MtaSts { enforce: true })),
        Mode::Testing => {
            let secure = Secure {
                check: Check::Pkix,
                enforce: false,
                demand: Demand::MtaSts { enforce: false },
                ..plain(TlsPolicy::Opportunistic)
            };
            match policy.allows(host) {
                true => Decision::Use(secure),
                false => Decision::Noting(secure, unmatched()),
            }
        }
    }
}

fn plain(mode: TlsPolicy) -> Secure {
    Secure::opportunistic().with_mode(mode)
}

fn required(check: Check, demand: Demand) -> Secure {
    Secure {
        mode: TlsPolicy::Required,
        check,
        enforce: true,
        demand,
        ca_file: None,
    }
}

#[cfg(test)]
mod tests;
