//! The meaning of each INI section and key: which exist, which may repeat, how each value is
//! parsed into `Config`; the checks across keys (impossible combinations) are in `combinations`.

use super::scan::{RawEntry, RawSection};
use super::{ConfigError, Warning};
use crate::access::{self, AccessRule, Action};
use crate::config::{
    Config, DomainRule, RelayAuth, RelayConfig, RelayTls, ServerConfig, User, value,
};
use crate::password::Stored;
use std::collections::HashMap;
use std::path::Path;

mod combinations;
use combinations::{check_attempts, check_relay_attempts, check_server};

pub(crate) const SERVER_KEYS: &[&str] = &[
    "listen",
    "listen_tls",
    "hostname",
    "status_listen",
    "status_allow",
    "spool_dir",
    "log_file",
    "log_level",
    "tls_cert",
    "tls_key",
    "require_tls",
    "bare_newline",
    "max_message_size",
    "max_recipients",
    "max_sessions",
    "max_sessions_per_ip",
    "max_errors",
    "idle_timeout",
    "max_hops",
];
pub(crate) const ACCESS_KEYS: &[&str] = &["allow", "deny", "relay_from"];
pub(crate) const DELIVERY_KEYS: &[&str] = &[
    "workers",
    "dns_server",
    "helo_name",
    "ip_family",
    "timeout_connect",
    "timeout_greeting",
    "timeout_command",
    "timeout_data_init",
    "timeout_data_block",
    "timeout_data_done",
    "timeout_dns",
    "max_queue_lifetime",
    "bounce_lifetime",
    "delay_warning",
];
pub(crate) const DOMAIN_KEYS: &[&str] = &[
    "direct_attempts",
    "relay_attempts",
    "max_connections",
    "retry_delay",
    "retry_backoff",
    "max_retry_delay",
    "max_continuous",
    "continuous_delay",
    "max_rcpt_per_transaction",
    "mx",
    "ip_family",
];
pub(crate) const RELAY_KEYS: &[&str] = &[
    "host",
    "port",
    "tls",
    "tls_verify",
    "auth",
    "username",
    "password",
    "max_connections",
    "retry_delay",
    "max_continuous",
    "continuous_delay",
    "max_rcpt_per_transaction",
];

/// What a section header names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Kind {
    Server,
    Access,
    Users,
    Delivery,
    Domain(String),
    Relay(String),
}

/// Errors and warnings collected while applying the sections.
struct Ctx<'a> {
    errors: &'a mut Vec<ConfigError>,
    warnings: &'a mut Vec<Warning>,
}

impl Ctx<'_> {
    fn error(&mut self, line: Option<usize>, message: impl Into<String>) {
        self.errors.push(ConfigError::new(line, message));
    }

    /// The parsed value, or `None` after recording `key = "value": expected ...`.
    fn value<T>(&mut self, e: &RawEntry, parsed: Result<T, String>) -> Option<T> {
        parsed
            .map_err(|msg| self.error(e.line, format!("{} = \"{}\": {msg}", e.key, e.value)))
            .ok()
    }

    fn put<T>(&mut self, e: &RawEntry, parsed: Result<T, String>, slot: &mut T) {
        if let Some(v) = self.value(e, parsed) {
            *slot = v;
        }
    }
}

/// Applies every section to `config` (which holds the defaults), recording all problems.
pub(crate) fn apply(
    raw: &[RawSection],
    config: &mut Config,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<Warning>,
) {
    let mut ctx = Ctx { errors, warnings };
    let sections = classify(raw, &mut ctx);
    let base = config
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut helo_set = false;
    for (kind, section) in &sections {
        let entries = &section.entries;
        match kind {
            Kind::Server => entries
                .iter()
                .for_each(|e| server_key(&mut ctx, &mut config.server, &base, e)),
            Kind::Access => access_section(&mut ctx, config, entries),
            Kind::Users => users_section(&mut ctx, config, entries),
            Kind::Delivery => {
                helo_set |= entries.iter().any(|e| e.key == "helo_name");
                entries
                    .iter()
                    .for_each(|e| delivery_key(&mut ctx, config, e));
            }
            Kind::Domain(_) | Kind::Relay(_) => {}
        }
    }
    if !helo_set {
        config.delivery.helo_name = config.server.hostname.clone();
    }
    domain_sections(&mut ctx, config, &sections);
    for (kind, section) in &sections {
        if let Kind::Relay(name) = kind {
            let relay = relay_section(&mut ctx, name, section);
            config.relays.push(relay);
        }
    }
    check_server(&mut ctx, &config.server, &sections);
    check_relay_attempts(&mut ctx, config, &sections);
    if !config.access.rules.is_empty()
        && !access::allowed(&config.access.rules, [127, 0, 0, 1].into())
    {
        let line = sections
            .iter()
            .find(|(k, _)| *k == Kind::Access)
            .and_then(|(_, s)| s.line);
        let message = "no allow rule in [access] covers 127.0.0.1, so programs on this computer \
                       are refused; add `allow = 127.0.0.0/8` if that is not intended";
        ctx.warnings.push(Warning::new(line, message));
    }
}

/// Names each section, dropping (with an error) unknown and duplicate ones, keys outside
/// any section, unknown keys and repeated keys.
fn classify(raw: &[RawSection], ctx: &mut Ctx) -> Vec<(Kind, RawSection)> {
    let mut seen: HashMap<Kind, Option<usize>> = HashMap::new();
    let mut out = Vec::new();
    for section in raw {
        let Some(name) = &section.name else {
            for e in &section.entries {
                ctx.error(
                    e.line,
                    format!("\"{}\" comes before any [section] header", e.key),
                );
            }
            continue;
        };
        let kind = match section_kind(name) {
            Ok(kind) => kind,
            Err(message) => {
                ctx.error(section.line, message);
                continue;
            }
        };
        if let Some(first) = seen.get(&kind) {
            let at = first
                .map(|l| format!(" (first on line {l})"))
                .unwrap_or_default();
            ctx.error(section.line, format!("duplicate section [{name}]{at}"));
            continue;
        }
        seen.insert(kind.clone(), section.line);
        let entries = known_keys(ctx, &kind, name, &section.entries);
        out.push((
            kind,
            RawSection {
                entries,
                ..section.clone()
            },
        ));
    }
    out
}

fn section_kind(name: &str) -> Result<Kind, String> {
    let kind = match name {
        "server" => Kind::Server,
        "access" => Kind::Access,
        "users" => Kind::Users,
        "delivery" => Kind::Delivery,
        _ => match name.split_once(':') {
            Some(("domain", domain)) => Kind::Domain(value::domain_pattern(domain)?),
            Some(("relay", relay)) if !relay.trim().is_empty() => {
                Kind::Relay(relay.trim().to_string())
            }
            Some(("relay", _)) => return Err("[relay:NAME] needs a name, like [relay:isp]".into()),
            _ => {
                let lower = name.to_ascii_lowercase();
                let hint = if lower != name && section_kind(&lower).is_ok() {
                    format!("; section names are lower-case: [{lower}]")
                } else {
                    "; the sections are [server], [access], [users], [delivery], [domain:*], \
                     [domain:NAME] and [relay:NAME]"
                        .to_string()
                };
                return Err(format!("unknown section [{name}]{hint}"));
            }
        },
    };
    Ok(kind)
}

/// The entries of a section whose keys exist there and are not repeats.
fn known_keys(ctx: &mut Ctx, kind: &Kind, name: &str, entries: &[RawEntry]) -> Vec<RawEntry> {
    let (valid, repeatable): (&[&str], &[&str]) = match kind {
        Kind::Server => (SERVER_KEYS, &[]),
        Kind::Access => (ACCESS_KEYS, &["allow", "deny"]),
        Kind::Users => (&[], &[]),
        Kind::Delivery => (DELIVERY_KEYS, &[]),
        Kind::Domain(_) => (DOMAIN_KEYS, &[]),
        Kind::Relay(_) => (RELAY_KEYS, &[]),
    };
    let mut first_line: HashMap<&str, Option<usize>> = HashMap::new();
    let mut out = Vec::new();
    for e in entries {
        if *kind != Kind::Users && !valid.contains(&e.key.as_str()) {
            let list = valid.join(", ");
            let lower = e.key.to_ascii_lowercase();
            let hint = if valid.contains(&lower.as_str()) {
                format!("key names are lower-case: {lower}")
            } else {
                format!("the keys there are: {list}")
            };
            ctx.error(
                e.line,
                format!("unknown key \"{}\" in [{name}]; {hint}", e.key),
            );
            continue;
        }
        if !repeatable.contains(&e.key.as_str()) {
            if let Some(first) = first_line.get(e.key.as_str()) {
                let at = first
                    .map(|l| format!(" (first set on line {l})"))
                    .unwrap_or_default();
                ctx.error(
                    e.line,
                    format!("\"{}\" is set twice in [{name}]{at}", e.key),
                );
                continue;
            }
            first_line.insert(&e.key, e.line);
        }
        out.push(e.clone());
    }
    out
}

fn server_key(ctx: &mut Ctx, s: &mut ServerConfig, base: &Path, e: &RawEntry) {
    let v = e.value.as_str();
    let path = |v: &str| Some(base.join(v)).filter(|_| !v.is_empty());
    match e.key.as_str() {
        "listen" => ctx.put(e, value::socket_addrs(v), &mut s.listen),
        "listen_tls" => ctx.put(e, value::socket_addrs(v), &mut s.listen_tls),
        "hostname" => ctx.put(e, value::hostname(v), &mut s.hostname),
        "status_listen" => ctx.put(e, value::optional_socket_addr(v), &mut s.status_listen),
        "status_allow" => ctx.put(e, value::cidrs(v).and_then(non_empty), &mut s.status_allow),
        "spool_dir" => ctx.put(
            e,
            path(v).ok_or_else(|| "expected a folder".to_string()),
            &mut s.spool_dir,
        ),
        "log_file" => s.log_file = path(v),
        "log_level" => ctx.put(e, value::log_level(v), &mut s.log_level),
        "tls_cert" => s.tls_cert = path(v),
        "tls_key" => s.tls_key = path(v),
        "require_tls" => ctx.put(e, value::boolean(v), &mut s.require_tls),
        "bare_newline" => ctx.put(e, value::bare_newline(v), &mut s.bare_newline),
        "max_message_size" => {
            let size = value::size(v).and_then(|n| match n {
                1024..=0x1_0000_0000 => Ok(n),
                _ => Err("expected a size from 1K to 4G, like 10M".to_string()),
            });
            ctx.put(e, size, &mut s.max_message_size)
        }
        "max_recipients" => ctx.put(e, count(v, 1, 100_000), &mut s.max_recipients),
        "max_sessions" => ctx.put(e, count(v, 1, 100_000), &mut s.max_sessions),
        "max_sessions_per_ip" => ctx.put(e, count(v, 1, 100_000), &mut s.max_sessions_per_ip),
        "max_errors" => ctx.put(
            e,
            value::integer(v, 1, 1000).map(|n| n as u32),
            &mut s.max_errors,
        ),
        "idle_timeout" => ctx.put(e, positive(v), &mut s.idle_timeout),
        "max_hops" => ctx.put(e, count(v, 25, 1000), &mut s.max_hops),
        _ => {}
    }
}

fn non_empty<T>(list: Vec<T>) -> Result<Vec<T>, String> {
    if list.is_empty() {
        Err("expected at least one IP address or range".to_string())
    } else {
        Ok(list)
    }
}

fn count(v: &str, min: u64, max: u64) -> Result<usize, String> {
    value::integer(v, min, max).map(|n| n as usize)
}

fn small(v: &str, min: u64, max: u64) -> Result<u32, String> {
    value::integer(v, min, max).map(|n| n as u32)
}

fn positive(v: &str) -> Result<std::time::Duration, String> {
    value::duration(v).and_then(|d| {
        if d.is_zero() {
            Err("expected a duration above 0, like 30s or 5m".to_string())
        } else {
            Ok(d)
        }
    })
}

fn access_section(ctx: &mut Ctx, config: &mut Config, entries: &[RawEntry]) {
    for e in entries {
        let action = match e.key.as_str() {
            "allow" => Action::Allow,
            "deny" => Action::Deny,
            _ => {
                ctx.put(e, value::cidrs(&e.value), &mut config.access.relay_from);
                continue;
            }
        };
        if let Some(cidrs) = ctx.value(e, value::cidrs(&e.value).and_then(non_empty)) {
            config
                .access
                .rules
                .extend(cidrs.into_iter().map(|cidr| AccessRule { action, cidr }));
        }
    }
}

fn users_section(ctx: &mut Ctx, config: &mut Config, entries: &[RawEntry]) {
    for e in entries {
        let name = &e.key;
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            ctx.error(e.line, format!("user name \"{name}\" has spaces in it"));
        } else if e.value.is_empty() {
            ctx.error(
                e.line,
                format!("user {name} has no password; make a hash with `qksmtp passwd`"),
            );
        } else {
            match crate::password::classify(&e.value) {
                Stored::Hash => {}
                Stored::Plain => {
                    let message = format!(
                        "user {name} has a plain-text password; make a hash with `qksmtp passwd`"
                    );
                    ctx.warnings.push(Warning::new(e.line, message));
                }
                Stored::Unknown => ctx.error(
                    e.line,
                    format!(
                        "user {name}: the password starts with $ but is not an Argon2 hash \
                        qksmtp can check; make one with `qksmtp passwd {name}`"
                    ),
                ),
            }
            config.users.push(User {
                name: name.clone(),
                password: e.value.clone(),
            });
        }
    }
}

fn delivery_key(ctx: &mut Ctx, config: &mut Config, e: &RawEntry) {
    let d = &mut config.delivery;
    let t = &mut d.timeouts;
    let v = e.value.as_str();
    match e.key.as_str() {
        "workers" => ctx.put(e, count(v, 1, 1000), &mut d.workers),
        "dns_server" => ctx.put(e, value::dns_server(v), &mut d.dns_server),
        "helo_name" => ctx.put(e, value::hostname(v), &mut d.helo_name),
        "ip_family" => ctx.put(e, value::ip_family(v), &mut d.ip_family),
        "timeout_connect" => ctx.put(e, positive(v), &mut t.connect),
        "timeout_greeting" => ctx.put(e, positive(v), &mut t.greeting),
        "timeout_command" => ctx.put(e, positive(v), &mut t.command),
        "timeout_data_init" => ctx.put(e, positive(v), &mut t.data_init),
        "timeout_data_block" => ctx.put(e, positive(v), &mut t.data_block),
        "timeout_data_done" => ctx.put(e, positive(v), &mut t.data_done),
        "timeout_dns" => ctx.put(e, positive(v), &mut d.timeout_dns),
        "max_queue_lifetime" => ctx.put(e, positive(v), &mut d.max_queue_lifetime),
        "bounce_lifetime" => ctx.put(e, positive(v), &mut d.bounce_lifetime),
        "delay_warning" => ctx.put(e, value::duration(v), &mut d.delay_warning),
        _ => {}
    }
}

fn domain_key(ctx: &mut Ctx, rule: &mut DomainRule, e: &RawEntry) {
    let v = e.value.as_str();
    match e.key.as_str() {
        "direct_attempts" => ctx.put(e, small(v, 0, 1000), &mut rule.direct_attempts),
        "relay_attempts" => ctx.put(e, small(v, 0, 1000), &mut rule.relay_attempts),
        "max_connections" => ctx.put(e, small(v, 1, 1000), &mut rule.max_connections),
        "retry_delay" => ctx.put(e, value::duration(v), &mut rule.retry_delay),
        "retry_backoff" => ctx.put(e, value::backoff(v), &mut rule.retry_backoff),
        "max_retry_delay" => ctx.put(e, value::duration(v), &mut rule.max_retry_delay),
        "max_continuous" => ctx.put(e, small(v, 1, 1_000_000), &mut rule.max_continuous),
        "continuous_delay" => ctx.put(e, value::duration(v), &mut rule.continuous_delay),
        "max_rcpt_per_transaction" => {
            ctx.put(e, small(v, 1, 100_000), &mut rule.max_rcpt_per_transaction)
        }
        "mx" => ctx.put(e, value::host_ports(v, 25), &mut rule.mx),
        "ip_family" => ctx.put(e, value::ip_family(v), &mut rule.ip_family),
        _ => {}
    }
}

/// `[domain:*]` over the built-in rule, then each `[domain:NAME]` over that; a rule with no
/// attempts at all is an error at its attempt key (or its header).
fn domain_sections(ctx: &mut Ctx, config: &mut Config, sections: &[(Kind, RawSection)]) {
    let star = sections
        .iter()
        .find(|(kind, _)| *kind == Kind::Domain("*".into()));
    if let Some((_, section)) = star {
        section
            .entries
            .iter()
            .for_each(|e| domain_key(ctx, &mut config.default_rule, e));
        check_attempts(ctx, &config.default_rule, section);
    }
    let default_ok = config.default_rule.direct_attempts + config.default_rule.relay_attempts > 0;
    for (kind, section) in sections {
        let Kind::Domain(name) = kind else { continue };
        if name == "*" {
            continue;
        }
        let mut rule = config.default_rule.clone();
        section
            .entries
            .iter()
            .for_each(|e| domain_key(ctx, &mut rule, e));
        // When [domain:*] itself has no attempts, that was reported once, at [domain:*].
        if default_ok || section.entries.iter().any(|e| e.key.ends_with("_attempts")) {
            check_attempts(ctx, &rule, section);
        }
        config.domains.push((name.clone(), rule));
    }
}

fn relay_section(ctx: &mut Ctx, name: &str, section: &RawSection) -> RelayConfig {
    let mut r = RelayConfig::defaults(name);
    let mut port = None;
    for e in &section.entries {
        let v = e.value.as_str();
        match e.key.as_str() {
            "host" => ctx.put(e, value::host(v), &mut r.host),
            "port" => port = ctx.value(e, value::port(v)),
            "tls" => ctx.put(e, value::relay_tls(v), &mut r.tls),
            "tls_verify" => ctx.put(e, value::boolean(v), &mut r.tls_verify),
            "auth" => ctx.put(e, value::relay_auth(v), &mut r.auth),
            "username" => r.username = v.to_string(),
            "password" => r.password = v.to_string(),
            "max_connections" => ctx.put(e, small(v, 1, 1000), &mut r.max_connections),
            "retry_delay" => ctx.put(e, value::duration(v), &mut r.retry_delay),
            "max_continuous" => ctx.put(e, small(v, 1, 1_000_000), &mut r.max_continuous),
            "continuous_delay" => ctx.put(e, value::duration(v), &mut r.continuous_delay),
            "max_rcpt_per_transaction" => {
                ctx.put(e, small(v, 1, 100_000), &mut r.max_rcpt_per_transaction)
            }
            _ => {}
        }
    }
    r.port = port.unwrap_or(match r.tls {
        RelayTls::StartTls => 587,
        RelayTls::Tls => 465,
        RelayTls::None => 25,
    });
    let line_of = |key: &str| {
        section
            .entries
            .iter()
            .find(|e| e.key == key)
            .and_then(|e| e.line)
    };
    if r.host.is_empty() && line_of("host").is_none() {
        ctx.error(
            section.line,
            format!("[relay:{name}] has no host (add a line like host = smtp.example.test)"),
        );
    }
    if r.auth != RelayAuth::None && (r.username.is_empty() || r.password.is_empty()) {
        let message = format!(
            "[relay:{name}]: auth = {} needs both username and password",
            value::word(value::RELAY_AUTH, r.auth)
        );
        ctx.error(line_of("auth"), message);
    }
    if r.auth == RelayAuth::None && !(r.username.is_empty() && r.password.is_empty()) {
        let line = line_of("username").or(line_of("password"));
        let message = format!(
            "[relay:{name}]: username/password are not used because auth = none (set auth = login or plain)"
        );
        ctx.warnings.push(Warning::new(line, message));
    }
    r
}
