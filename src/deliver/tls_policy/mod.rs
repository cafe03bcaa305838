//! What TLS delivery to one MX host must have: the decision from the configured
//! `tls_policy`, the domain's MTA-STS policy and the host's DNSSEC-signed TLSA records (DANE
//! wins over MTA-STS, both over opportunistic TLS). Pure, with table tests; `sts` parses and
//! matches MTA-STS policies, `store` finds them (DNS, HTTPS, the on-disk cache).

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

/// How to treat one MX host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Connect with these settings.
    Use(Secure),
    /// Connect, and note what enforcing the domain's policy would have refused (MTA-STS
    /// mode `testing`).
    Noting(Secure, String),
    /// Do not connect: the reason is the step's text ("MTA-STS: mx2.example.test does not
    /// match the policy").
    Refuse(String),
}

/// The decision for MX host `host` of a domain whose rule says `level`; `policy` is its
/// MTA-STS policy (cached or fresh) and `tlsa` the host's DNSSEC-validated TLSA records
/// (`None` when there are none, or they are not signed).
pub fn decide(
    level: TlsLevel,
    policy: Option<&Policy>,
    tlsa: Option<&[Tlsa]>,
    host: &str,
) -> Decision {
    let tlsa = tlsa.filter(|records| !records.is_empty());
    match level {
        TlsLevel::None => Decision::Use(plain(TlsPolicy::Never)),
        TlsLevel::Opportunistic => Decision::Use(plain(TlsPolicy::Opportunistic)),
        TlsLevel::Encrypt => Decision::Use(required(Check::Nothing, Demand::Encrypt)),
        TlsLevel::Verify => Decision::Use(required(Check::Pkix, Demand::Verify)),
        TlsLevel::Dane => by_dane(tlsa).unwrap_or(Decision::Use(plain(TlsPolicy::Opportunistic))),
        TlsLevel::MtaSts => by_sts(policy, host),
        TlsLevel::Auto => by_dane(tlsa).unwrap_or_else(|| by_sts(policy, host)),
    }
}

/// DANE with signed TLSA records: the usable ones must match; a set with none usable still
/// makes TLS mandatory, unauthenticated (RFC 7672 §2.2).
fn by_dane(tlsa: Option<&[Tlsa]>) -> Option<Decision> {
    let records = tlsa?;
    if !dane::usable(records) {
        return Some(Decision::Use(required(Check::Nothing, Demand::Dane)));
    }
    let check = Check::Dane(Arc::from(records.to_vec()));
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
        Mode::Enforce if !policy.allows(host) => Decision::Refuse(unmatched()),
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
