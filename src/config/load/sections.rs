//! The INI sections applied to `Config`: which sections exist, each entry checked against the
//! key table (`config::keys`: unknown and repeated keys are errors) and parsed by its row;
//! the checks across keys (impossible combinations) are in `combinations`.

use super::reader::{RawEntry, RawSection};
use super::{ConfigError, Warning};
use crate::access;
use crate::config::keys::{self, Key, SectionKind};
use crate::config::{Config, DkimConfig, RelayAuth, RelayConfig, RelayTls, User, value};
use crate::password::Stored;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod combinations;
use combinations::{check_attempts, check_relay_attempts, check_server, check_tls_policies};

/// What a section header names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Kind {
    Server,
    Access,
    Users,
    Delivery,
    Domain(String),
    Relay(String),
    /// `[dkim:DOMAIN]` or `[dkim:DOMAIN:SELECTOR]` (`*` for all other mail).
    Dkim(String, Option<String>),
}

impl Kind {
    fn keys(&self) -> SectionKind {
        match self {
            Kind::Server => SectionKind::Server,
            Kind::Access => SectionKind::Access,
            Kind::Users => SectionKind::Users,
            Kind::Delivery => SectionKind::Delivery,
            Kind::Domain(_) => SectionKind::Domain,
            Kind::Relay(_) => SectionKind::Relay,
            Kind::Dkim(..) => SectionKind::Dkim,
        }
    }
}

/// Errors and warnings collected while applying the sections.
struct Ctx<'a> {
    errors: &'a mut Vec<ConfigError>,
    warnings: &'a mut Vec<Warning>,
    /// The INI file's folder: relative paths are resolved against it.
    base: PathBuf,
}

impl Ctx<'_> {
    fn error(&mut self, line: Option<usize>, message: impl Into<String>) {
        self.errors.push(ConfigError::new(line, message));
    }

    /// Each entry parsed into `target` by its row of `table`; a bad value is recorded as
    /// `key = "value": expected ...` and leaves the setting as it was.
    fn apply<T>(&mut self, table: &[Key<T>], target: &mut T, entries: &[RawEntry]) {
        for e in entries {
            match keys::apply(table, &e.key, target, &e.value, &self.base) {
                Err(msg) => {
                    let value = value::shown(&e.value);
                    self.error(e.line, format!("{} = \"{value}\": {msg}", e.key));
                }
                Ok(()) => {
                    if let Some(read) = keys::note(table, &e.key, &e.value) {
                        let value = value::shown(&e.value);
                        let message = format!("{} = \"{value}\" is read as {read}", e.key);
                        self.warnings.push(Warning::new(e.line, message));
                    }
                }
            }
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
    let base = config
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut ctx = Ctx {
        errors,
        warnings,
        base,
    };
    let sections = classify(raw, &mut ctx);
    let mut helo_set = false;
    for (kind, section) in &sections {
        let entries = &section.entries;
        match kind {
            Kind::Server => ctx.apply(keys::SERVER, &mut config.server, entries),
            Kind::Access => ctx.apply(keys::ACCESS, &mut config.access, entries),
            Kind::Users => users_section(&mut ctx, config, entries),
            Kind::Delivery => {
                helo_set |= entries.iter().any(|e| e.key == "helo_name");
                ctx.apply(keys::DELIVERY, &mut config.delivery, entries);
            }
            Kind::Domain(_) | Kind::Relay(_) | Kind::Dkim(..) => {}
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
    for (kind, section) in &sections {
        if let Kind::Dkim(domain, selector) = kind
            && let Some(dkim) = dkim_section(&mut ctx, domain, selector.as_deref(), section)
        {
            config.dkim.push(dkim);
        }
    }
    check_server(&mut ctx, &config.server, &sections);
    check_relay_attempts(&mut ctx, config, &sections);
    check_tls_policies(&mut ctx, config, &sections);
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
            Some(("dkim", rest)) => dkim_kind(rest)?,
            _ => {
                let lower = name.to_ascii_lowercase();
                let hint = if lower != name && section_kind(&lower).is_ok() {
                    format!("; section names are lower-case: [{lower}]")
                } else {
                    "; the sections are [server], [access], [users], [delivery], [domain:*], \
                     [domain:NAME], [relay:NAME] and [dkim:DOMAIN]"
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
    let rows = keys::rows(kind.keys());
    let valid: Vec<&str> = rows.iter().map(|row| row.name).collect();
    let repeatable: Vec<&str> = rows.iter().filter(|r| r.repeats).map(|r| r.name).collect();
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
                format!(
                    "unknown key \"{}\" in [{name}]; {hint}",
                    value::shown(&e.key)
                ),
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

/// `[domain:*]` over the built-in rule, then each `[domain:NAME]` over that; a rule with no
/// attempts at all is an error at its attempt key (or its header).
fn domain_sections(ctx: &mut Ctx, config: &mut Config, sections: &[(Kind, RawSection)]) {
    let star = sections
        .iter()
        .find(|(kind, _)| *kind == Kind::Domain("*".into()));
    if let Some((_, section)) = star {
        ctx.apply(keys::DOMAIN, &mut config.default_rule, &section.entries);
        check_attempts(ctx, &config.default_rule, section);
    }
    let default_ok = config.default_rule.direct_attempts + config.default_rule.relay_attempts > 0;
    for (kind, section) in sections {
        let Kind::Domain(name) = kind else { continue };
        if name == "*" {
            continue;
        }
        let mut rule = config.default_rule.clone();
        ctx.apply(keys::DOMAIN, &mut rule, &section.entries);
        // When [domain:*] itself has no attempts, that was reported once, at [domain:*].
        if default_ok || section.entries.iter().any(|e| e.key.ends_with("_attempts")) {
            check_attempts(ctx, &rule, section);
        }
        config.domains.push((name.clone(), rule));
    }
}

fn relay_section(ctx: &mut Ctx, name: &str, section: &RawSection) -> RelayConfig {
    let mut r = RelayConfig::defaults(name);
    ctx.apply(keys::RELAY, &mut r, &section.entries);
    if !section.entries.iter().any(|e| e.key == "port") {
        r.port = match r.tls {
            RelayTls::StartTls => 587,
            RelayTls::Tls => 465,
            RelayTls::None => 25,
        };
    }
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

/// `[dkim:DOMAIN]`, `[dkim:DOMAIN:SELECTOR]` or `[dkim:*]`.
fn dkim_kind(rest: &str) -> Result<Kind, String> {
    let (domain, selector) = match rest.split_once(':') {
        Some((d, s)) => (d.trim(), Some(s.trim())),
        None => (rest.trim(), None),
    };
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    if domain != "*" && !crate::dkim::valid_name(&domain) {
        return Err(format!(
            "[dkim:{rest}]: expected a domain, like [dkim:example.test] or [dkim:example.test:s1]"
        ));
    }
    if let Some(s) = selector.filter(|s| !crate::dkim::valid_name(s)) {
        return Err(format!("[dkim:{rest}]: \"{s}\" cannot be a DKIM selector"));
    }
    Ok(Kind::Dkim(domain, selector.map(str::to_string)))
}

/// A `[dkim:...]` section; `None` (with the error recorded) when it lacks its key or selector.
fn dkim_section(
    ctx: &mut Ctx,
    domain: &str,
    from_name: Option<&str>,
    section: &RawSection,
) -> Option<DkimConfig> {
    let mut d = DkimConfig::defaults(domain, from_name.unwrap_or(""));
    ctx.apply(keys::DKIM, &mut d, &section.entries);
    let key_line = section
        .entries
        .iter()
        .find(|e| e.key == "key")
        .and_then(|e| e.line);
    d.line = key_line.or(section.line);
    let name = match from_name {
        Some(s) => format!("{domain}:{s}"),
        None => domain.to_string(),
    };
    if let Some(s) = from_name.filter(|s| *s != d.selector) {
        let line = section
            .entries
            .iter()
            .find(|e| e.key == "selector")
            .and_then(|e| e.line);
        ctx.error(
            line,
            format!(
                "[dkim:{name}]: selector = {} differs from the {s} in the section name",
                d.selector
            ),
        );
        return None;
    }
    if d.selector.is_empty() {
        ctx.error(
            section.line,
            format!("[dkim:{name}] has no selector (add a line like selector = s1)"),
        );
        return None;
    }
    if d.key.as_os_str().is_empty() {
        ctx.error(section.line, format!("[dkim:{name}] has no key (add a line like key = {domain}.{}.key; qksmtp dkim-keygen makes one)", d.selector));
        return None;
    }
    Some(d)
}
