//! The checks across keys and sections: settings that each read well but cannot work
//! together (nothing to listen on, TLS without a certificate, no attempt at all, relay
//! attempts with no relay, a `tls_policy` that cannot apply to the route), each an error
//! naming the line that causes it.

use super::{Ctx, Kind};
use crate::config::load::reader::RawSection;
use crate::config::{Config, DomainRule, RelayTls, ServerConfig, TlsLevel, value};

/// A domain rule that allows no attempt at all.
pub(super) fn check_attempts(ctx: &mut Ctx, rule: &DomainRule, section: &RawSection) {
    if rule.direct_attempts == 0 && rule.relay_attempts == 0 {
        let key = section
            .entries
            .iter()
            .rev()
            .find(|e| e.key.ends_with("_attempts"));
        let line = key.and_then(|e| e.line).or(section.line);
        let name = section.name.as_deref().unwrap_or_default();
        ctx.error(line, format!("[{name}]: direct_attempts and relay_attempts are both 0, so mail could never be sent"));
    }
}

/// Listeners and TLS settings that cannot work together.
pub(super) fn check_server(ctx: &mut Ctx, s: &ServerConfig, sections: &[(Kind, RawSection)]) {
    let line = |key: &str| {
        let server = sections.iter().filter(|(kind, _)| *kind == Kind::Server);
        server
            .flat_map(|(_, sec)| sec.entries.iter())
            .find(|e| e.key == key)
            .and_then(|e| e.line)
    };
    if s.listen.is_empty() && s.listen_tls.is_empty() {
        ctx.error(
            line("listen").or(line("listen_tls")),
            "listen and listen_tls are both empty: there is nothing to listen on",
        );
    }
    if !s.listen_tls.is_empty() && s.tls_cert.is_none() {
        ctx.error(
            line("listen_tls"),
            "listen_tls needs a certificate: set tls_cert and tls_key",
        );
    }
    match (&s.tls_cert, &s.tls_key) {
        (Some(_), None) => ctx.error(
            line("tls_cert"),
            "tls_cert is set but tls_key is not; set both",
        ),
        (None, Some(_)) => ctx.error(
            line("tls_key"),
            "tls_key is set but tls_cert is not; set both",
        ),
        _ => {}
    }
    if s.require_tls && s.tls_cert.is_none() {
        ctx.error(
            line("require_tls"),
            "require_tls = yes needs a certificate: set tls_cert and tls_key",
        );
    }
}

/// `relay_attempts` above 0 with no `[relay:NAME]` to use.
pub(super) fn check_relay_attempts(
    ctx: &mut Ctx,
    config: &Config,
    sections: &[(Kind, RawSection)],
) {
    if !config.relays.is_empty() {
        return;
    }
    for (kind, section) in sections {
        if !matches!(kind, Kind::Domain(_)) {
            continue;
        }
        for e in section.entries.iter().filter(|e| e.key == "relay_attempts") {
            if value::integer(&e.value, 1, u64::MAX).is_ok() {
                let message = format!(
                    "relay_attempts = {} but there is no [relay:NAME] section to relay through",
                    e.value
                );
                ctx.error(e.line, message);
            }
        }
    }
}

/// A `tls_policy` that cannot apply where it is set: `mta-sts` on a fixed route (`mx =`: the
/// policy names the domain's MX hosts, and no MX lookup is done), `dane` without `dnssec =
/// yes` (no TLSA record is looked up), `dane` on a relay with `tls = none`. Reported in each
/// section that sets one of the keys involved, at that key.
pub(super) fn check_tls_policies(ctx: &mut Ctx, config: &Config, sections: &[(Kind, RawSection)]) {
    let dnssec = config.delivery.dnssec;
    let no_dnssec = "tls_policy = dane needs dnssec = yes in [delivery]: without it no TLSA \
                     record is looked up";
    for (kind, section) in sections {
        // The line of the first of `keys` the section sets.
        let line = |keys: &[&str]| {
            let mut found = keys
                .iter()
                .filter_map(|k| section.entries.iter().find(|e| e.key == *k));
            found.next().map(|e| e.line.or(section.line))
        };
        let name = section.name.as_deref().unwrap_or_default();
        match kind {
            Kind::Domain(domain) => {
                let rule = match domain.as_str() {
                    "*" => Some(&config.default_rule),
                    _ => config
                        .domains
                        .iter()
                        .find(|(d, _)| d == domain)
                        .map(|(_, r)| r),
                };
                let Some(rule) = rule else { continue };
                if rule.tls_policy == TlsLevel::MtaSts
                    && !rule.mx.is_empty()
                    && let Some(at) = line(&["tls_policy", "mx"])
                {
                    let message = format!(
                        "[{name}]: tls_policy = mta-sts cannot apply to a fixed route (mx =): \
                         the domain's MTA-STS policy names its MX hosts; use verify, dane or \
                         auto"
                    );
                    ctx.error(at, message);
                }
                if rule.tls_policy == TlsLevel::Dane
                    && !dnssec
                    && let Some(at) = line(&["tls_policy"])
                {
                    ctx.error(at, format!("[{name}]: {no_dnssec}"));
                }
            }
            Kind::Relay(relay) => {
                let Some(r) = config.relays.iter().find(|r| &r.name == relay) else {
                    continue;
                };
                if r.tls_policy != TlsLevel::Dane {
                    continue;
                }
                let at = line(&["tls_policy"]).flatten();
                if r.tls == RelayTls::None {
                    let message = format!(
                        "[{name}]: tls_policy = dane needs TLS, but tls = none (set tls = \
                         starttls or tls)"
                    );
                    ctx.error(at, message);
                }
                if !dnssec {
                    ctx.error(at, format!("[{name}]: {no_dnssec}"));
                }
            }
            _ => {}
        }
    }
}
