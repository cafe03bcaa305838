//! The one table of INI keys: for each section kind, every key with its one-line doc, how its
//! value is parsed into `Config`, how it is shown by `qksmtp check`, and whether it may
//! repeat. The loader (`load::sections`), the renderer (`render`) and the test that the
//! default qksmtp.ini documents exactly these keys all read it. A new key is one row here,
//! one field (with its built-in default) in `Config`, and one commented line in qksmtp.ini.

use super::value::{format_duration, format_size};
use super::{
    AccessConfig, DeliveryConfig, DkimConfig, DomainRule, RelayConfig, ServerConfig, pattern, value,
};
use crate::access::{AccessRule, Action};
use crate::dkim::{Algorithm, Canon};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The kinds of section; `[domain:NAME]` and `[relay:NAME]` share their kind's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SectionKind {
    Server,
    Access,
    /// `NAME = password-hash`: any key is a user name, so it has no rows.
    Users,
    Delivery,
    Domain,
    Relay,
    Dkim,
}

/// Reads one value into the section's settings; `base` is the INI file's folder (for paths).
/// `Err` says what was expected; the loader adds the key, the value and the line.
type Parse<T> = fn(&mut T, &str, &Path) -> Result<(), String>;

/// One row of the table: a key of the sections of one kind, whose settings are a `T`.
pub(crate) struct Key<T: 'static> {
    pub name: &'static str,
    /// What the key means, in one line (the full text is in qksmtp.ini).
    pub doc: &'static str,
    pub parse: Parse<T>,
    /// The effective value as INI text; `None` for repeated keys, whose lines the section's
    /// renderer writes itself (in file order across keys: `allow`/`deny`).
    pub show: Option<fn(&T) -> String>,
    /// May appear several times in one section (each line adds to a list).
    pub repeats: bool,
    /// For a value read in a loose spelling: what it was read as (a warning, not an error).
    pub note: Option<fn(&str) -> Option<String>>,
}

impl<T> Key<T> {
    /// The row, with `note` saying how a loosely spelt value was read.
    const fn noted(self, note: fn(&str) -> Option<String>) -> Key<T> {
        Key {
            note: Some(note),
            ..self
        }
    }
}

const fn key<T>(
    name: &'static str,
    doc: &'static str,
    parse: Parse<T>,
    show: fn(&T) -> String,
) -> Key<T> {
    Key {
        name,
        doc,
        parse,
        show: Some(show),
        repeats: false,
        note: None,
    }
}

const fn repeated<T>(name: &'static str, doc: &'static str, parse: Parse<T>) -> Key<T> {
    Key {
        name,
        doc,
        parse,
        show: None,
        repeats: true,
        note: None,
    }
}

#[rustfmt::skip]
pub(crate) static SERVER: &[Key<ServerConfig>] = &[
    key("listen", "plain SMTP listeners (IP:port, comma-separated)",
        |s, v, _| set(&mut s.listen, value::socket_addrs(v)),
        |s| list(&s.listen)),
    key("listen_tls", "implicit-TLS listeners",
        |s, v, _| set(&mut s.listen_tls, value::socket_addrs(v)),
        |s| list(&s.listen_tls)),
    key("hostname", "name in the greeting, EHLO reply and Received:",
        |s, v, _| set(&mut s.hostname, value::hostname(v)),
        |s| s.hostname.clone()),
    key("status_listen", "status page address; empty = off",
        |s, v, _| set(&mut s.status_listen, value::optional_socket_addr(v)),
        |s| opt_addr(&s.status_listen)),
    key("status_allow", "who may open the status page",
        |s, v, _| set(&mut s.status_allow, value::cidrs(v).and_then(non_empty)),
        |s| list(&s.status_allow)),
    key("status_password", "password of the status page (a `qksmtp passwd` hash); empty = none",
        |s, v, _| set(&mut s.status_password, status_password(v)),
        |s| s.status_password.as_deref().map_or(String::new(), |p| match p.starts_with('$') {
            true => "(hash)".into(),
            false => "(plain text!)".into(),
        })),
    key("spool_dir", "folder of the queue",
        |s, v, base| set(&mut s.spool_dir, path(base, v).ok_or("expected a folder".to_string())),
        |s| s.spool_dir.display().to_string()),
    key("log_file", "delivery log; empty = none",
        |s, v, base| set(&mut s.log_file, Ok(path(base, v))),
        |s| opt_path(&s.log_file)),
    key("log_level", "console diagnostics: error, warn, info, debug, trace or off",
        |s, v, _| set(&mut s.log_level, value::log_level(v)),
        |s| value::word(value::LOG_LEVELS, s.log_level).to_string()),
    key("history_days", "days finished messages stay in the history; 0 = keep none",
        |s, v, _| set(&mut s.history_days, small(v, 0, 3650)),
        |s| s.history_days.to_string()),
    key("history_max", "most finished messages kept in the history; 0 = keep none",
        |s, v, _| set(&mut s.history_max, count(v, 0, 10_000_000)),
        |s| s.history_max.to_string()),
    key("history_max_size", "most bytes of finished messages' bodies kept; 0 (default) = keep no bodies",
        |s: &mut ServerConfig, v, _| set(&mut s.history_max_size, value::size(v)),
        |s| format_size(s.history_max_size)).noted(value::size_note),
    key("tls_cert", "PEM certificate (chain) for STARTTLS and listen_tls",
        |s, v, base| set(&mut s.tls_cert, Ok(path(base, v))),
        |s| opt_path(&s.tls_cert)),
    key("tls_key", "PKCS#8 PEM private key of tls_cert",
        |s, v, base| set(&mut s.tls_key, Ok(path(base, v))),
        |s| opt_path(&s.tls_key)),
    key("require_tls", "refuse mail from other computers before TLS",
        |s, v, _| set(&mut s.require_tls, value::boolean(v)),
        |s| yes_no(s.require_tls)),
    key("bare_newline", "a lone LF or CR in a message: normalize or reject",
        |s, v, _| set(&mut s.bare_newline, value::bare_newline(v)),
        |s| value::word(value::BARE_NEWLINES, s.bare_newline).to_string()),
    key("max_message_size", "largest message accepted",
        |s: &mut ServerConfig, v, _| set(&mut s.max_message_size, message_size(v)),
        |s| format_size(s.max_message_size)).noted(value::size_note),
    key("max_recipients", "most recipients in one message",
        |s, v, _| set(&mut s.max_recipients, count(v, 1, 100_000)),
        |s| s.max_recipients.to_string()),
    key("max_sessions", "most client connections in total",
        |s, v, _| set(&mut s.max_sessions, count(v, 1, 100_000)),
        |s| s.max_sessions.to_string()),
    key("max_sessions_per_ip", "most client connections from one IP address",
        |s, v, _| set(&mut s.max_sessions_per_ip, count(v, 1, 100_000)),
        |s| s.max_sessions_per_ip.to_string()),
    key("max_errors", "protocol errors before hanging up",
        |s, v, _| set(&mut s.max_errors, small(v, 1, 1000)),
        |s| s.max_errors.to_string()),
    key("idle_timeout", "silence (and slowness) allowed from a client",
        |s, v, _| set(&mut s.idle_timeout, positive(v)),
        |s| format_duration(s.idle_timeout)),
    key("max_hops", "Received: fields before a message is refused as a mail loop",
        |s, v, _| set(&mut s.max_hops, count(v, 25, 1000)),
        |s| s.max_hops.to_string()),
    key("auth_fail_limit", "failed logins from one IP address before it is refused; 0 = never",
        |s, v, _| set(&mut s.auth_fail_limit, small(v, 0, 1000)),
        |s| s.auth_fail_limit.to_string()),
    key("auth_fail_window", "how long failed logins are remembered, and a refusal lasts",
        |s, v, _| set(&mut s.auth_fail_window, positive(v)),
        |s| format_duration(s.auth_fail_window)),
];

#[rustfmt::skip]
pub(crate) static ACCESS: &[Key<AccessConfig>] = &[
    repeated("allow", "who may connect (first matching allow/deny line wins)",
        |a, v, _| rules(a, Action::Allow, v)),
    repeated("deny", "who may not connect (first matching allow/deny line wins)",
        |a, v, _| rules(a, Action::Deny, v)),
    key("relay_from", "clients that may send to any domain without logging in",
        |a, v, _| set(&mut a.relay_from, value::cidrs(v)),
        |a| list(&a.relay_from)),
];

#[rustfmt::skip]
pub(crate) static DELIVERY: &[Key<DeliveryConfig>] = &[
    key("workers", "deliveries at the same time",
        |d, v, _| set(&mut d.workers, count(v, 1, 1000)),
        |d| d.workers.to_string()),
    key("dns_server", "DNS server (IP or IP:port); empty = the system's",
        |d, v, _| set(&mut d.dns_server, value::dns_server(v)),
        |d| opt_addr(&d.dns_server)),
    key("helo_name", "name given in HELO/EHLO; default the [server] hostname",
        |d, v, _| set(&mut d.helo_name, value::hostname(v)),
        |d| d.helo_name.clone()),
    key("public_address", "the address others see this machine as (for qksmtp doctor); empty = ask an MX",
        |d, v, _| set(&mut d.public_address, value::optional_ip(v)),
        |d| d.public_address.map(|ip| ip.to_string()).unwrap_or_default()),
    key("ip_family", "addresses to connect to: any, ipv4 or ipv6",
        |d, v, _| set(&mut d.ip_family, value::ip_family(v)),
        |d| value::word(value::IP_FAMILIES, d.ip_family).to_string()),
    key("timeout_connect", "wait for a connection",
        |d, v, _| set(&mut d.timeouts.connect, positive(v)),
        |d| format_duration(d.timeouts.connect)),
    key("timeout_greeting", "wait for the greeting",
        |d, v, _| set(&mut d.timeouts.greeting, positive(v)),
        |d| format_duration(d.timeouts.greeting)),
    key("timeout_command", "wait for the reply to a command",
        |d, v, _| set(&mut d.timeouts.command, positive(v)),
        |d| format_duration(d.timeouts.command)),
    key("timeout_data_init", "wait for the reply to DATA",
        |d, v, _| set(&mut d.timeouts.data_init, positive(v)),
        |d| format_duration(d.timeouts.data_init)),
    key("timeout_data_block", "wait to send each block of a message",
        |d, v, _| set(&mut d.timeouts.data_block, positive(v)),
        |d| format_duration(d.timeouts.data_block)),
    key("timeout_data_done", "wait for the reply after the final dot",
        |d, v, _| set(&mut d.timeouts.data_done, positive(v)),
        |d| format_duration(d.timeouts.data_done)),
    key("timeout_dns", "how long one DNS lookup may take, retries included",
        |d, v, _| set(&mut d.timeout_dns, positive(v)),
        |d| format_duration(d.timeout_dns)),
    key("max_queue_lifetime", "give a message up after this long",
        |d, v, _| set(&mut d.max_queue_lifetime, positive(v)),
        |d| format_duration(d.max_queue_lifetime)),
    key("bounce_lifetime", "give a notice to a sender up after this long",
        |d, v, _| set(&mut d.bounce_lifetime, positive(v)),
        |d| format_duration(d.bounce_lifetime)),
    key("delay_warning", "tell the sender after this long; 0 = only when asked",
        |d, v, _| set(&mut d.delay_warning, value::duration(v)),
        |d| format_duration(d.delay_warning)),
    key("tls_ca_file", "PEM certificates trusted besides the system's; empty = none",
        |d, v, base| set(&mut d.tls_ca_file, Ok(path(base, v))),
        |d| opt_path(&d.tls_ca_file)),
    key("dnssec", "DANE: look up TLSA records with DNSSEC validation",
        |d, v, _| set(&mut d.dnssec, value::boolean(v)),
        |d| yes_no(d.dnssec)),
    key("dnssec_trust_anchor", "DNSKEY records trusted for DNSSEC; empty = the root's",
        |d, v, base| set(&mut d.dnssec_trust_anchor, Ok(path(base, v))),
        |d| opt_path(&d.dnssec_trust_anchor)),
];

#[rustfmt::skip]
pub(crate) static DOMAIN: &[Key<DomainRule>] = &[
    key("direct_attempts", "attempts straight to the domain's servers",
        |r, v, _| set(&mut r.direct_attempts, small(v, 0, 1000)),
        |r| r.direct_attempts.to_string()),
    key("relay_attempts", "attempts through the relays after the direct ones",
        |r, v, _| set(&mut r.relay_attempts, small(v, 0, 1000)),
        |r| r.relay_attempts.to_string()),
    key("max_connections", "connections at once to one server",
        |r, v, _| set(&mut r.max_connections, small(v, 1, 1000)),
        |r| r.max_connections.to_string()),
    key("retry_delay", "wait before trying a recipient again",
        |r, v, _| set(&mut r.retry_delay, value::duration(v)),
        |r| format_duration(r.retry_delay)),
    key("retry_backoff", "multiplier of the wait after each failure",
        |r, v, _| set(&mut r.retry_backoff, value::backoff(v)),
        |r| r.retry_backoff.to_string()),
    key("max_retry_delay", "longest wait between attempts",
        |r, v, _| set(&mut r.max_retry_delay, value::duration(v)),
        |r| format_duration(r.max_retry_delay)),
    key("max_continuous", "messages in a row over one connection",
        |r, v, _| set(&mut r.max_continuous, small(v, 1, 1_000_000)),
        |r| r.max_continuous.to_string()),
    key("continuous_delay", "pause after max_continuous messages",
        |r, v, _| set(&mut r.continuous_delay, value::duration(v)),
        |r| format_duration(r.continuous_delay)),
    key("max_rcpt_per_transaction", "most recipients in one SMTP transaction",
        |r, v, _| set(&mut r.max_rcpt_per_transaction, small(v, 1, 100_000)),
        |r| r.max_rcpt_per_transaction.to_string()),
    key("throttle_on", "replies that mean the server throttles us: patterns, builtin, empty = none",
        |r, v, _| set(&mut r.throttle_on, pattern::list(v)),
        |r| pattern::show(&r.throttle_on)),
    key("throttle_delay", "pause between messages while throttled (doubles, up to 1h)",
        |r, v, _| set(&mut r.throttle_delay, positive(v)),
        |r| format_duration(r.throttle_delay)),
    key("max_rate", "most messages per hour or minute, like 100/h; empty = none",
        |r, v, _| set(&mut r.max_rate, value::rate(v)),
        |r| r.max_rate.map(|m| m.to_string()).unwrap_or_default()),
    key("mx", "fixed servers instead of the MX lookup; empty = DNS",
        |r, v, _| set(&mut r.mx, value::host_ports(v, 25)),
        |r| list(&r.mx)),
    key("ip_family", "addresses to connect to: any, ipv4 or ipv6",
        |r, v, _| set(&mut r.ip_family, value::ip_family(v)),
        |r| value::word(value::IP_FAMILIES, r.ip_family).to_string()),
    key("tls_policy", "TLS required: auto, opportunistic, mta-sts, dane, verify, encrypt or none",
        |r, v, _| set(&mut r.tls_policy, value::tls_level(v)),
        |r| value::word(value::TLS_LEVELS, r.tls_policy).to_string()),
];

#[rustfmt::skip]
pub(crate) static RELAY: &[Key<RelayConfig>] = &[
    key("host", "the relay's host name or IP address (required)",
        |r, v, _| set(&mut r.host, value::host(v)),
        |r| r.host.clone()),
    key("port", "port; default by tls: 587, 465 or 25",
        |r, v, _| set(&mut r.port, value::port(v)),
        |r| r.port.to_string()),
    key("tls", "starttls, tls or none",
        |r, v, _| set(&mut r.tls, value::relay_tls(v)),
        |r| value::word(value::RELAY_TLS, r.tls).to_string()),
    key("tls_verify", "check the relay's certificate",
        |r, v, _| set(&mut r.tls_verify, value::boolean(v)),
        |r| yes_no(r.tls_verify)),
    key("tls_policy", "auto (DANE when signed, else by tls and tls_verify), opportunistic, dane, verify, encrypt or none",
        |r, v, _| set(&mut r.tls_policy, value::relay_tls_level(v)),
        |r| value::word(value::TLS_LEVELS, r.tls_policy).to_string()),
    key("auth", "log in: none, plain or login",
        |r, v, _| set(&mut r.auth, value::relay_auth(v)),
        |r| value::word(value::RELAY_AUTH, r.auth).to_string()),
    key("username", "user name for auth",
        |r, v, _| set(&mut r.username, Ok(v.to_string())),
        |r| r.username.clone()),
    key("password", "password for auth (shown masked)",
        |r, v, _| set(&mut r.password, Ok(v.to_string())),
        |r| masked(&r.password)),
    key("max_connections", "connections at once to the relay",
        |r, v, _| set(&mut r.max_connections, small(v, 1, 1000)),
        |r| r.max_connections.to_string()),
    key("retry_delay", "wait before trying a recipient again",
        |r, v, _| set(&mut r.retry_delay, value::duration(v)),
        |r| format_duration(r.retry_delay)),
    key("max_continuous", "messages in a row over one connection",
        |r, v, _| set(&mut r.max_continuous, small(v, 1, 1_000_000)),
        |r| r.max_continuous.to_string()),
    key("continuous_delay", "pause after max_continuous messages",
        |r, v, _| set(&mut r.continuous_delay, value::duration(v)),
        |r| format_duration(r.continuous_delay)),
    key("max_rcpt_per_transaction", "most recipients in one SMTP transaction",
        |r, v, _| set(&mut r.max_rcpt_per_transaction, small(v, 1, 100_000)),
        |r| r.max_rcpt_per_transaction.to_string()),
    key("throttle_on", "replies that mean the server throttles us: patterns, builtin, empty = none",
        |r, v, _| set(&mut r.throttle_on, pattern::list(v)),
        |r| pattern::show(&r.throttle_on)),
    key("throttle_delay", "pause between messages while throttled (doubles, up to 1h)",
        |r, v, _| set(&mut r.throttle_delay, positive(v)),
        |r| format_duration(r.throttle_delay)),
    key("max_rate", "most messages per hour or minute, like 100/h; empty = none",
        |r, v, _| set(&mut r.max_rate, value::rate(v)),
        |r| r.max_rate.map(|m| m.to_string()).unwrap_or_default()),
];

#[rustfmt::skip]
pub(crate) static DKIM: &[Key<DkimConfig>] = &[
    key("selector", "the key's DNS name is SELECTOR._domainkey.DOMAIN (required)",
        |d, v, _| set(&mut d.selector, dkim_name(v)),
        |d| d.selector.clone()),
    key("key", "the private key, a PEM file (required)",
        |d, v, base| set(&mut d.key, path(base, v).ok_or("expected a file".to_string())),
        |d| d.key.display().to_string()),
    key("algorithm", "rsa-sha256 or ed25519-sha256; default: the key's",
        |d, v, _| set(&mut d.algorithm, dkim_algorithm(v)),
        |d| d.algorithm.map_or(String::new(), |a| a.name().to_string())),
    key("headers", "header fields signed when present (From is always signed)",
        |d, v, _| set(&mut d.headers, dkim_headers(v)),
        |d| d.headers.join(", ")),
    key("canonicalization", "header/body: relaxed or simple each",
        |d, v, _| set(&mut d.canonicalization, dkim_canon(v)),
        |d| format!("{}/{}", d.canonicalization.0.name(), d.canonicalization.1.name())),
    key("expire", "signatures expire this long after signing; empty = never",
        |d, v, _| set(&mut d.expire, if v.is_empty() { Ok(None) } else { value::duration(v).map(Some) }),
        |d| d.expire.map_or(String::new(), format_duration)),
];

fn dkim_name(v: &str) -> Result<String, String> {
    match crate::dkim::valid_name(v) {
        true => Ok(v.to_string()),
        false => Err("expected letters, digits, - and _ in dot-separated labels".into()),
    }
}

fn dkim_algorithm(v: &str) -> Result<Option<Algorithm>, String> {
    match v {
        "" => Ok(None),
        "rsa-sha256" => Ok(Some(Algorithm::RsaSha256)),
        "ed25519-sha256" => Ok(Some(Algorithm::Ed25519Sha256)),
        _ => Err("expected rsa-sha256 or ed25519-sha256".into()),
    }
}

fn dkim_headers(v: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = v
        .split(',')
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .collect();
    let field = |h: &String| h.bytes().all(|b| (33..=126).contains(&b) && b != b':');
    if names.is_empty() || !names.iter().all(field) {
        return Err("expected header field names separated by commas".into());
    }
    Ok(names)
}

fn dkim_canon(v: &str) -> Result<(Canon, Canon), String> {
    let one = |s: &str| match s.trim() {
        "relaxed" => Ok(Canon::Relaxed),
        "simple" => Ok(Canon::Simple),
        _ => Err("expected relaxed/relaxed, relaxed/simple, simple/relaxed or simple/simple"),
    };
    let (h, b) = v.split_once('/').unwrap_or((v, "simple"));
    Ok((one(h)?, one(b)?))
}

/// One row's kind, name and doc, whatever its settings type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row {
    pub kind: SectionKind,
    pub name: &'static str,
    pub doc: &'static str,
    pub repeats: bool,
}

/// The rows of one section kind, in table order (the order `qksmtp check` shows them).
pub(crate) fn rows(kind: SectionKind) -> Vec<Row> {
    fn of<T>(kind: SectionKind, table: &[Key<T>]) -> Vec<Row> {
        let row = |k: &Key<T>| Row {
            kind,
            name: k.name,
            doc: k.doc,
            repeats: k.repeats,
        };
        table.iter().map(row).collect()
    }
    match kind {
        SectionKind::Server => of(kind, SERVER),
        SectionKind::Access => of(kind, ACCESS),
        SectionKind::Users => Vec::new(),
        SectionKind::Delivery => of(kind, DELIVERY),
        SectionKind::Domain => of(kind, DOMAIN),
        SectionKind::Relay => of(kind, RELAY),
        SectionKind::Dkim => of(kind, DKIM),
    }
}

/// Every row of the table.
#[cfg(test)]
pub(crate) fn all() -> Vec<Row> {
    use SectionKind::*;
    [Server, Access, Users, Delivery, Domain, Relay, Dkim]
        .into_iter()
        .flat_map(rows)
        .collect()
}

/// Parses value `v` of key `name` into `target` by `table`'s row (the loader checked that
/// the row exists).
pub(crate) fn apply<T>(
    table: &[Key<T>],
    name: &str,
    target: &mut T,
    v: &str,
    base: &Path,
) -> Result<(), String> {
    match table.iter().find(|k| k.name == name) {
        Some(k) => (k.parse)(target, v, base),
        None => Ok(()),
    }
}

/// How a value that `apply` took was read, when it was spelt loosely.
pub(crate) fn note<T>(table: &[Key<T>], name: &str, v: &str) -> Option<String> {
    table.iter().find(|k| k.name == name)?.note?(v)
}

fn set<T>(slot: &mut T, parsed: Result<T, String>) -> Result<(), String> {
    *slot = parsed?;
    Ok(())
}

fn rules(a: &mut AccessConfig, action: Action, v: &str) -> Result<(), String> {
    let cidrs = value::cidrs(v).and_then(non_empty)?;
    a.rules
        .extend(cidrs.into_iter().map(|cidr| AccessRule { action, cidr }));
    Ok(())
}

fn path(base: &Path, v: &str) -> Option<std::path::PathBuf> {
    Some(base.join(v)).filter(|_| !v.is_empty())
}

fn message_size(v: &str) -> Result<u64, String> {
    value::size(v).and_then(|n| match n {
        1024..=0x1_0000_0000 => Ok(n),
        _ => Err("expected a size from 1K to 4G, like 10M".to_string()),
    })
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

fn positive(v: &str) -> Result<Duration, String> {
    value::duration(v).and_then(|d| {
        if d.is_zero() {
            Err("expected a duration above 0, like 30s or 5m".to_string())
        } else {
            Ok(d)
        }
    })
}

fn list<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn opt_addr(addr: &Option<SocketAddr>) -> String {
    addr.map(|a| a.to_string()).unwrap_or_default()
}

fn opt_path(path: &Option<impl AsRef<Path>>) -> String {
    path.as_ref()
        .map(|p| p.as_ref().display().to_string())
        .unwrap_or_default()
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// `status_password`: empty for none, a hash `qksmtp passwd` made, or (not advised) the
/// password itself.
fn status_password(v: &str) -> Result<Option<String>, String> {
    match crate::password::classify(v) {
        _ if v.is_empty() => Ok(None),
        crate::password::Stored::Hash | crate::password::Stored::Plain => Ok(Some(v.to_string())),
        crate::password::Stored::Unknown => Err(
            "starts with $ but is not an Argon2 hash qksmtp can check; make one with \
             `qksmtp passwd status_password`"
                .into(),
        ),
    }
}

fn masked(secret: &str) -> String {
    if secret.is_empty() { "" } else { "********" }.to_string()
}

#[cfg(test)]
mod tests;
