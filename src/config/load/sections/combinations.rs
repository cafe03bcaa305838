//! The checks across keys and sections: settings that each read well but cannot work
//! together (nothing to listen on, TLS without a certificate, no attempt at all, relay
//! attempts with no relay), each an error naming the line that causes it.

use super::{Ctx, Kind};
use crate::config::load::reader::RawSection;
use crate::config::{Config, DomainRule, ServerConfig, value};

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
