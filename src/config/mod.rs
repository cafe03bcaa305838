//! The validated settings of qksmtp.ini as typed values, with the built-in defaults.
//! `load` turns INI text into a `Config` (or every error, each naming its line);
//! `render` prints the effective settings; `value` parses single values.

pub(crate) mod keys;
pub mod live;
pub mod load;
pub mod pattern;
pub mod render;
pub mod value;

pub use live::Live;

use crate::access::{AccessRule, Cidr};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// The default INI, fully commented: written on first start when none exists.
pub const DEFAULT_INI: &str = include_str!("../../qksmtp.ini");

/// A `host:port` as written in the INI (host may be a name, an IPv4 or a bracketed IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareNewline {
    Normalize,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFamily {
    Any,
    Ipv4,
    Ipv6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayTls {
    StartTls,
    Tls,
    None,
}

/// `tls_policy`: what TLS a server must offer (Postfix's levels, and the recipient domain's
/// published policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsLevel {
    /// DANE when the MX host has usable TLSA records, else the domain's MTA-STS policy, else
    /// opportunistic. For a relay: its `tls` and `tls_verify` settings.
    Auto,
    /// STARTTLS when offered, any certificate, plain text after a failed handshake.
    Opportunistic,
    /// The domain's MTA-STS policy only (opportunistic when it has none).
    MtaSts,
    /// DANE only (opportunistic when the MX host has no usable TLSA records).
    Dane,
    /// STARTTLS required, the certificate verified by a CA for the server's name.
    Verify,
    /// STARTTLS required, any certificate.
    Encrypt,
    /// Never TLS.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayAuth {
    None,
    Plain,
    Login,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Plain SMTP listeners (STARTTLS offered when a certificate is set). Default
    /// 127.0.0.1:25, 127.0.0.1:2525.
    pub listen: Vec<SocketAddr>,
    /// Implicit-TLS listeners (e.g. 127.0.0.1:465). Default none.
    pub listen_tls: Vec<SocketAddr>,
    /// Name in the greeting, EHLO reply and Received headers. Default: the system host name.
    pub hostname: String,
    /// Status page address; `None` when set to empty (off). Default 127.0.0.1:8025.
    pub status_listen: Option<SocketAddr>,
    /// Who may open the status page. Default loopback (127.0.0.0/8, ::1).
    pub status_allow: Vec<Cidr>,
    /// When set, the status page and API need this password (HTTP Basic) or the token of
    /// `spool/.status`: a hash made by `qksmtp passwd`, or plain text. Default none.
    pub status_password: Option<String>,
    /// Absolute (resolved against the INI folder). Default `spool`.
    pub spool_dir: PathBuf,
    /// Delivery log; absolute. Default `qksmtp.log`; `None` when set to empty.
    pub log_file: Option<PathBuf>,
    /// `error|warn|info|debug|trace`, default `info`.
    pub log_level: log::LevelFilter,
    /// Days finished messages stay in the history journal (`spool/history/`); 0 = no
    /// journal. Default 30.
    pub history_days: u32,
    /// Most finished messages kept in the history journal; 0 = no journal. Default 100000.
    pub history_max: usize,
    /// Most bytes of finished messages' bodies kept with their records (the journal
    /// segments' body files, `spool/history/N.bodies`); the oldest go first. 0 = keep no
    /// bodies. Default 0 (keeping them still costs some 4 % CPU per delivered message:
    /// docs/benchmarks.md, section `bodies`).
    pub history_max_size: u64,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub require_tls: bool,
    pub bare_newline: BareNewline,
    /// Bytes. Default 25M (25 * 1024 * 1024).
    pub max_message_size: u64,
    /// Default 1000.
    pub max_recipients: usize,
    /// Default 100.
    pub max_sessions: usize,
    /// Default 20.
    pub max_sessions_per_ip: usize,
    /// Protocol errors before 421 and close. Default 10.
    pub max_errors: u32,
    /// Default 300 s.
    pub idle_timeout: Duration,
    /// Most `Received:` headers a message may carry before it is refused as a mail loop
    /// (RFC 5321 §6.3). Default 50, at least 25.
    pub max_hops: usize,
    /// Failed logins from one IP address (each within `auth_fail_window` of the one before)
    /// after which it is refused for `auth_fail_window`; 0 = never refused. Default 5.
    pub auth_fail_limit: u32,
    /// Default 10 min.
    pub auth_fail_window: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccessConfig {
    /// `allow`/`deny` lines in file order, first match wins. Default (no lines): loopback only.
    pub rules: Vec<AccessRule>,
    /// Default 127.0.0.0/8, ::1/128.
    pub relay_from: Vec<Cidr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// As written: a hash made by `qksmtp passwd`, or (with a warning) plain text.
    pub password: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryConfig {
    /// Default 8.
    pub workers: usize,
    /// `None` = the system resolver.
    pub dns_server: Option<SocketAddr>,
    /// Default: `server.hostname`.
    pub helo_name: String,
    /// The address the Internet sees this machine as (behind NAT), for `qksmtp doctor`;
    /// `None`: learnt from what an MX says, else unknown.
    pub public_address: Option<IpAddr>,
    pub ip_family: IpFamily,
    pub timeouts: Timeouts,
    /// How long one DNS lookup may take, the resolver's retries included. Default 10 s.
    pub timeout_dns: Duration,
    /// Default 5d.
    pub max_queue_lifetime: Duration,
    /// Default 2d.
    pub bounce_lifetime: Duration,
    /// Default 4h; zero = off.
    pub delay_warning: Duration,
    /// PEM certificates trusted besides the system's, for verified TLS to MX hosts and relays
    /// and for MTA-STS policy fetches. Default: none.
    pub tls_ca_file: Option<PathBuf>,
    /// DANE: look up TLSA records with DNSSEC validation. Default false.
    pub dnssec: bool,
    /// DNSKEY records trusted as DNSSEC anchors (for private or test zones); `None`: the
    /// root zone's keys.
    pub dnssec_trust_anchor: Option<PathBuf>,
}

/// One timeout per step of an outgoing SMTP conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// 30 s
    pub connect: Duration,
    /// 300 s
    pub greeting: Duration,
    /// EHLO, STARTTLS, AUTH, MAIL, RCPT, RSET, QUIT: 300 s
    pub command: Duration,
    /// Reply to DATA: 120 s
    pub data_init: Duration,
    /// Each block of message data written: 180 s
    pub data_block: Duration,
    /// Reply after the final dot: 600 s
    pub data_done: Duration,
}

/// The QK per-domain delivery rule.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainRule {
    /// Default 8.
    pub direct_attempts: u32,
    /// Default 0 (never through a relay).
    pub relay_attempts: u32,
    /// Default 2.
    pub max_connections: u32,
    /// Default 60 s.
    pub retry_delay: Duration,
    /// Multiplier after each failure. Default 2.0.
    pub retry_backoff: f64,
    /// Default 1h.
    pub max_retry_delay: Duration,
    /// Default 5 (QK).
    pub max_continuous: u32,
    /// Default 1 s.
    pub continuous_delay: Duration,
    /// Most recipients in one transaction (RFC 5321 §4.5.3.1.8). Default 100.
    pub max_rcpt_per_transaction: u32,
    /// Replies that say the destination throttles us. Default: the built-in list.
    pub throttle_on: Vec<pattern::Pattern>,
    /// The pause between messages to a throttled destination, doubling while it lasts (at
    /// most an hour). Default 5 minutes.
    pub throttle_delay: Duration,
    /// Most messages per hour or minute. Default none.
    pub max_rate: Option<value::Rate>,
    /// Fixed servers replacing the MX lookup (port default 25). Empty = use DNS.
    pub mx: Vec<HostPort>,
    pub ip_family: IpFamily,
    /// Default `Auto`.
    pub tls_policy: TlsLevel,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RelayConfig {
    /// The NAME of `[relay:NAME]`.
    pub name: String,
    pub host: String,
    /// Default 587 for starttls, 465 for tls, 25 for none.
    pub port: u16,
    /// Default starttls.
    pub tls: RelayTls,
    /// Default true.
    pub tls_verify: bool,
    /// Default `Auto` (then `tls` and `tls_verify` decide); `MtaSts` and `Dane` are refused.
    pub tls_policy: TlsLevel,
    /// Default none; plain/login need username and password.
    pub auth: RelayAuth,
    pub username: String,
    pub password: String,
    /// Default 2.
    pub max_connections: u32,
    /// Default 60 s.
    pub retry_delay: Duration,
    /// Default 5.
    pub max_continuous: u32,
    /// Default 1 s.
    pub continuous_delay: Duration,
    /// Most recipients in one transaction. Default 100.
    pub max_rcpt_per_transaction: u32,
    /// As for a domain: replies that throttle, the pause, the rate.
    pub throttle_on: Vec<pattern::Pattern>,
    pub throttle_delay: Duration,
    pub max_rate: Option<value::Rate>,
}

/// Everything qksmtp.ini says, validated, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The INI file this came from (absolute); paths in it are relative to its folder.
    pub path: PathBuf,
    pub server: ServerConfig,
    pub access: AccessConfig,
    pub users: Vec<User>,
    pub delivery: DeliveryConfig,
    /// `[domain:*]` over the built-in defaults.
    pub default_rule: DomainRule,
    /// `[domain:NAME]` sections in file order (names lower-cased); keys not given are
    /// taken from `[domain:*]`.
    pub domains: Vec<(String, DomainRule)>,
    /// `[relay:NAME]` sections in file order = the order they are tried.
    pub relays: Vec<RelayConfig>,
    /// `[dkim:DOMAIN]`, `[dkim:DOMAIN:SELECTOR]` and `[dkim:*]` sections in file order.
    pub dkim: Vec<DkimConfig>,
}

/// One DKIM signing key (`[dkim:DOMAIN]`): which mail it signs and how.
#[derive(Debug, Clone, PartialEq)]
pub struct DkimConfig {
    /// The From: domain it signs (with its subdomains), lower case; `*` for all other mail.
    pub domain: String,
    /// `s=`: the DNS name of the public key is `SELECTOR._domainkey.DOMAIN`.
    pub selector: String,
    /// The private key (PEM), resolved against the INI's folder.
    pub key: PathBuf,
    /// When given, the key must be of this kind.
    pub algorithm: Option<crate::dkim::Algorithm>,
    /// The header fields signed when present.
    pub headers: Vec<String>,
    /// Header and body canonicalization. Default relaxed/relaxed.
    pub canonicalization: (crate::dkim::Canon, crate::dkim::Canon),
    /// `x=` this long after `t=`; `None`: signatures do not expire.
    pub expire: Option<Duration>,
    /// The line of `key` (for errors found when the key file is read).
    pub line: Option<usize>,
}

impl DkimConfig {
    pub fn defaults(domain: &str, selector: &str) -> DkimConfig {
        DkimConfig {
            domain: domain.to_string(),
            selector: selector.to_string(),
            key: PathBuf::new(),
            algorithm: None,
            headers: crate::dkim::DEFAULT_HEADERS
                .iter()
                .map(|h| h.to_string())
                .collect(),
            canonicalization: (crate::dkim::Canon::Relaxed, crate::dkim::Canon::Relaxed),
            expire: None,
            line: None,
        }
    }
}

impl Config {
    /// The rule for a recipient domain: exact `[domain:NAME]` (case-insensitive), then a
    /// `[domain:*.parent]` wildcard for subdomains, then `[domain:*]`.
    pub fn rule_for(&self, domain: &str) -> &DomainRule {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        if let Some((_, rule)) = self.domains.iter().find(|(name, _)| *name == domain) {
            return rule;
        }
        let wildcard = self.domains.iter().find(|(name, _)| {
            name.strip_prefix("*.").is_some_and(|parent| {
                domain.len() > parent.len() + 1
                    && domain.ends_with(parent)
                    && domain.as_bytes()[domain.len() - parent.len() - 1] == b'.'
            })
        });
        match wildcard {
            Some((_, rule)) => rule,
            None => &self.default_rule,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(30),
            greeting: Duration::from_secs(300),
            command: Duration::from_secs(300),
            data_init: Duration::from_secs(120),
            data_block: Duration::from_secs(180),
            data_done: Duration::from_secs(600),
        }
    }
}

impl Default for DomainRule {
    fn default() -> DomainRule {
        DomainRule {
            direct_attempts: 8,
            relay_attempts: 0,
            max_connections: 2,
            retry_delay: Duration::from_secs(60),
            retry_backoff: 2.0,
            max_retry_delay: Duration::from_secs(3600),
            max_continuous: 5,
            continuous_delay: Duration::from_secs(1),
            max_rcpt_per_transaction: 100,
            throttle_on: pattern::builtin(),
            throttle_delay: Duration::from_secs(300),
            max_rate: None,
            mx: Vec::new(),
            ip_family: IpFamily::Any,
            tls_policy: TlsLevel::Auto,
        }
    }
}

impl ServerConfig {
    /// Built-in defaults; `base` is the INI file's folder, `hostname` the system's name.
    pub fn defaults(base: &std::path::Path, hostname: &str) -> ServerConfig {
        ServerConfig {
            listen: vec![
                "127.0.0.1:25".parse().unwrap(),
                "127.0.0.1:2525".parse().unwrap(),
            ],
            listen_tls: Vec::new(),
            hostname: hostname.to_string(),
            status_listen: Some("127.0.0.1:8025".parse().unwrap()),
            status_allow: crate::access::loopback(),
            status_password: None,
            spool_dir: base.join("spool"),
            log_file: Some(base.join("qksmtp.log")),
            log_level: log::LevelFilter::Info,
            history_days: 30,
            history_max: 100_000,
            history_max_size: 0,
            tls_cert: None,
            tls_key: None,
            require_tls: false,
            bare_newline: BareNewline::Normalize,
            max_message_size: 25 * 1024 * 1024,
            max_recipients: 1000,
            max_sessions: 100,
            max_sessions_per_ip: 20,
            max_errors: 10,
            idle_timeout: Duration::from_secs(300),
            max_hops: 50,
            auth_fail_limit: 5,
            auth_fail_window: Duration::from_secs(600),
        }
    }
}

impl DeliveryConfig {
    pub fn defaults(hostname: &str) -> DeliveryConfig {
        DeliveryConfig {
            workers: 64,
            dns_server: None,
            helo_name: hostname.to_string(),
            public_address: None,
            ip_family: IpFamily::Any,
            timeouts: Timeouts::default(),
            timeout_dns: Duration::from_secs(10),
            max_queue_lifetime: Duration::from_secs(5 * 86400),
            bounce_lifetime: Duration::from_secs(2 * 86400),
            delay_warning: Duration::from_secs(4 * 3600),
            tls_ca_file: None,
            dnssec: false,
            dnssec_trust_anchor: None,
        }
    }
}

impl RelayConfig {
    /// Defaults for a `[relay:NAME]` before its keys are applied (host must be set).
    pub fn defaults(name: &str) -> RelayConfig {
        RelayConfig {
            name: name.to_string(),
            host: String::new(),
            port: 587,
            tls: RelayTls::StartTls,
            tls_verify: true,
            tls_policy: TlsLevel::Auto,
            auth: RelayAuth::None,
            username: String::new(),
            password: String::new(),
            max_connections: 2,
            retry_delay: Duration::from_secs(60),
            max_continuous: 5,
            continuous_delay: Duration::from_secs(1),
            max_rcpt_per_transaction: 100,
            throttle_on: pattern::builtin(),
            throttle_delay: Duration::from_secs(300),
            max_rate: None,
        }
    }
}

/// The machine's host name (for the greeting and HELO): /proc on Linux, the environment on
/// Windows, else `localhost`.
pub fn system_hostname() -> String {
    let from_proc = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let from_env = std::env::var("COMPUTERNAME")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok());
    from_proc
        .or(from_env)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
