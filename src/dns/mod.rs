//! DNS for direct delivery: a synchronous facade over hickory-resolver (MX, A, AAAA) that
//! delivery worker threads share; the tokio runtime hickory needs stays private in here.
//!
//! Blocking calls: each method runs the query with `Runtime::block_on` on the calling thread
//! (the runtime's single worker drives the sockets), so any number of worker threads may query
//! at once without serialising on a lock. Names are always queried fully qualified (trailing
//! dot): no search-list expansion. Answers are cached by hickory (TTL-bound) for the life of
//! the `Resolver`. hickory answers RFC 6761 special names itself, without a query:
//! `localhost` (and `*.localhost`) is 127.0.0.1 / ::1, `*.invalid` is NXDOMAIN.
//!
//! Delivery asks through the `Lookup` trait, so its tests use the in-memory `Zone` instead.

#[cfg(test)]
mod fake;
mod plan;
#[cfg(test)]
mod tests;
mod tlsa;
#[cfg(test)]
mod zone;

pub use plan::{MxAnswer, literal, order_mx, strip_dot};
pub use tlsa::Tlsa;
#[cfg(test)]
pub use zone::{Fail, Zone};

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::lookup::Lookup as Answer;
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use std::sync::Arc;

use crate::config::IpFamily;

/// Why a lookup gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// NXDOMAIN: the name does not exist. Permanent.
    NxDomain { name: String },
    /// SERVFAIL, REFUSED, timeout, network error...: try again later.
    Temporary { name: String, detail: String },
    /// The name exists but has no A/AAAA record of the wanted family (NODATA). Permanent.
    NoAddresses { name: String },
    /// The string is not a valid DNS name (bad label, too long). Permanent.
    InvalidName { name: String, detail: String },
    /// The resolver could not be set up (unreadable /etc/resolv.conf, no runtime).
    Setup { detail: String },
}

impl DnsError {
    #[cfg(test)]
    /// True when retrying cannot help: NXDOMAIN, no address (NODATA for A/AAAA) and an invalid
    /// name. For the recipient's domain itself (implicit MX) that means bounce. For one MX host
    /// among several it only means "skip this host"; the caller decides from all hosts together
    /// (RFC 5321 §5.1: the domain fails for good only when no host can be used).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            DnsError::NxDomain { .. } | DnsError::NoAddresses { .. } | DnsError::InvalidName { .. }
        )
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::NxDomain { name } => write!(f, "{name}: no such domain (NXDOMAIN)"),
            DnsError::Temporary { name, detail } => {
                write!(f, "{name}: temporary DNS failure ({detail})")
            }
            DnsError::NoAddresses { name } => write!(f, "{name}: no address record (A/AAAA)"),
            DnsError::InvalidName { name, detail } => {
                write!(f, "{name}: not a valid domain name ({detail})")
            }
            DnsError::Setup { detail } => write!(f, "DNS resolver set-up failed: {detail}"),
        }
    }
}

impl std::error::Error for DnsError {}

/// What delivery asks of the DNS: the real [`Resolver`], or a [`Zone`] table in tests.
pub trait Lookup: Send + Sync {
    /// The MX records of `domain` (trailing dot optional). NODATA is `Ok(MxAnswer::NoRecords)`
    /// (use the implicit MX); a lone `.` exchange is `Ok(MxAnswer::NullMx)`.
    fn mx(&self, domain: &str) -> Result<MxAnswer, DnsError>;

    /// The addresses of `host` of the wanted family, IPv4 first for `IpFamily::Any`. An IP
    /// literal (see [`literal`]) is returned without a lookup.
    fn addresses(&self, host: &str, family: IpFamily) -> Result<Vec<IpAddr>, DnsError>;

    /// The TXT records of `name`, each one's strings joined (RFC 7208 §3.3); NODATA is an
    /// empty list, NXDOMAIN an error.
    fn txt(&self, name: &str) -> Result<Vec<String>, DnsError>;

    /// The PTR names of `ip` (without the trailing dot); NODATA is an empty list.
    fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, DnsError>;

    /// DANE's questions, asked only with DNSSEC validation on (`dnssec = yes`): the TLSA
    /// records of `_PORT._tcp.HOST` when they are DNSSEC-signed (`Ok(None)`: none, or not
    /// signed, so DANE does not apply); `Err` when the answer cannot be had or fails
    /// validation (bogus).
    fn tlsa(&self, host: &str, port: u16) -> Result<Option<Vec<Tlsa>>, DnsError> {
        let _ = (host, port);
        Ok(None)
    }

    /// Whether `domain`'s MX records are DNSSEC-signed: DANE applies only to MX hosts learnt
    /// from a signed answer (RFC 7672 §2.2.1).
    fn mx_signed(&self, domain: &str) -> bool {
        let _ = domain;
        false
    }

    /// Whether `host`'s address records are DNSSEC-signed: DANE applies to a server that is
    /// not an MX host (a fixed route, a relay) only then (RFC 7672 §2.2.2). `Err` when they
    /// fail validation (bogus): the server is then not used, as for a bogus MX answer.
    fn addresses_signed(&self, host: &str) -> Result<bool, DnsError> {
        let _ = host;
        Ok(false)
    }
}

impl Lookup for Resolver {
    fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        Resolver::txt(self, name)
    }

    fn tlsa(&self, host: &str, port: u16) -> Result<Option<Vec<Tlsa>>, DnsError> {
        Resolver::tlsa(self, host, port)
    }

    fn mx_signed(&self, domain: &str) -> bool {
        Resolver::mx_signed(self, domain)
    }

    fn addresses_signed(&self, host: &str) -> Result<bool, DnsError> {
        Resolver::addresses_signed(self, host)
    }

    fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, DnsError> {
        Resolver::ptr(self, ip)
    }

    fn mx(&self, domain: &str) -> Result<MxAnswer, DnsError> {
        Resolver::mx(self, domain)
    }

    fn addresses(&self, host: &str, family: IpFamily) -> Result<Vec<IpAddr>, DnsError> {
        Resolver::addresses(self, host, family)
    }
}

/// An IP literal `host` as the answer to an address query: itself when of the wanted family.
fn literal_answer(host: &str, family: IpFamily) -> Option<Result<Vec<IpAddr>, DnsError>> {
    let ip = literal(host)?;
    Some(match (family, ip) {
        (IpFamily::Ipv4, IpAddr::V6(_)) | (IpFamily::Ipv6, IpAddr::V4(_)) => {
            Err(DnsError::NoAddresses { name: host.into() })
        }
        _ => Ok(vec![ip]),
    })
}

/// A hickory failure reduced to what delivery cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    NxDomain,
    NoData,
    /// The server answered, but not usefully (SERVFAIL, REFUSED...).
    Temporary(String),
    /// No answer came: a timeout, a network error.
    Silent(String),
}

/// Reads hickory's error kinds (never its message text).
fn classify(err: &NetError) -> Failure {
    if err.is_nx_domain() {
        Failure::NxDomain
    } else if err.is_no_records_found() {
        Failure::NoData
    } else if matches!(
        err,
        NetError::Timeout | NetError::Io(_) | NetError::NoConnections | NetError::Busy
    ) {
        Failure::Silent(err.to_string())
    } else {
        Failure::Temporary(err.to_string())
    }
}

/// A synchronous resolver, `Send + Sync`: share it between worker threads with an `Arc`.
pub struct Resolver {
    // Declared before `runtime` so it is dropped first.
    inner: TokioResolver,
    /// The same servers with DNSSEC validation, for DANE (`dnssec = yes`).
    secure: Option<TokioResolver>,
    runtime: tokio::runtime::Runtime,
    /// Hard bound on one call (`timeout_dns`), on top of hickory's own per-query timeout.
    deadline: Duration,
    /// `dns_server`, to name it when it does not answer.
    server: Option<SocketAddr>,
    /// The zones validation starts from: the root, or those of `dnssec_trust_anchor`. Names
    /// outside them are not bogus but indeterminate, treated as unsigned (as unbound does).
    anchored: Vec<Name>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("options", self.inner.options())
            .finish()
    }
}

impl Resolver {
    /// `server = Some(addr)` asks only that server (UDP, TCP when the answer is truncated) and
    /// ignores /etc/hosts; `None` reads the system configuration: /etc/resolv.conf, and
    /// /etc/hosts first for addresses.
    /// `timeout` (`timeout_dns`) bounds a whole lookup, the tries of every server within it.
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<Resolver, DnsError> {
        Resolver::build(server, timeout, None)
    }

    /// `new`, and a second resolver that validates DNSSEC from `anchor` (a file of DNSKEY
    /// records; `None`: the root zone's keys) for DANE.
    pub fn with_dnssec(
        server: Option<SocketAddr>,
        timeout: Duration,
        anchor: Option<&std::path::Path>,
    ) -> Result<Resolver, DnsError> {
        let (anchors, anchored) = match anchor {
            Some(path) => {
                let bad = |e: String| DnsError::Setup {
                    detail: format!("dnssec_trust_anchor {}: {e}", path.display()),
                };
                let anchors = TrustAnchors::from_file(path).map_err(|e| bad(e.to_string()))?;
                let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
                (anchors, anchor_zones(&text))
            }
            None => (TrustAnchors::default(), vec![Name::root()]),
        };
        let mut resolver = Resolver::build(server, timeout, Some(Arc::new(anchors)))?;
        resolver.anchored = anchored;
        Ok(resolver)
    }

    fn build(
        server: Option<SocketAddr>,
        timeout: Duration,
        anchors: Option<Arc<TrustAnchors>>,
    ) -> Result<Resolver, DnsError> {
        let setup = |detail: String| DnsError::Setup { detail };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("qksmtp-dns")
            .enable_all()
            .build()
            .map_err(|e| setup(format!("tokio runtime: {e}")))?;
        // hickory spawns its connection tasks on the ambient runtime.
        let _guard = runtime.enter();
        let inner = builder(server, timeout, None)?;
        let secure = match anchors {
            Some(anchors) => Some(builder(server, timeout, Some(anchors))?),
            None => None,
        };
        drop(_guard);
        // hickory's timeouts are per request, not per call: never let a call run longer.
        Ok(Resolver {
            inner,
            secure,
            runtime,
            deadline: timeout,
            server,
            anchored: vec![Name::root()],
        })
    }

    /// The MX records of `domain` (trailing dot optional). NODATA is `Ok(MxAnswer::NoRecords)`
    /// (use the implicit MX); a lone `.` exchange is `Ok(MxAnswer::NullMx)`.
    /// With DNSSEC validation on (`dnssec = yes`), an MX answer that fails validation (bogus)
    /// is a temporary failure: RFC 7672 §2.2.1 makes it a lookup failure, never a reason to
    /// go on without DANE (whoever forged the answer would choose the hosts and their TLS).
    pub fn mx(&self, domain: &str) -> Result<MxAnswer, DnsError> {
        let (shown, name) = fqdn(domain)?;
        if self.bogus(&name, RecordType::MX) {
            let detail = "DNSSEC validation failed (bogus)".into();
            return Err(DnsError::Temporary {
                name: shown,
                detail,
            });
        }
        match self.run(self.lookup(&name, RecordType::MX)) {
            Ok(lookup) => {
                let records = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(mx) if mx.exchange.is_root() => Some((mx.preference, ".".into())),
                        RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                        _ => None,
                    })
                    .collect();
                Ok(MxAnswer::from_records(records))
            }
            Err(Failure::NoData) => Ok(MxAnswer::NoRecords),
            Err(failure) => Err(self.to_error(failure, shown)),
        }
    }

    /// The addresses of `host`. `IpFamily::Any` gives the IPv4 addresses first, then IPv6: a
    /// home computer often has no working IPv6 route, and the caller tries them in order. Both
    /// queries run at once. An IP literal (see [`literal`]) is returned without a lookup.
    pub fn addresses(&self, host: &str, family: IpFamily) -> Result<Vec<IpAddr>, DnsError> {
        if let Some(answer) = literal_answer(host, family) {
            return answer;
        }
        let (shown, name) = fqdn(host)?;
        let result = match family {
            IpFamily::Ipv4 => self.run(self.addrs(&name, RecordType::A)),
            IpFamily::Ipv6 => self.run(self.addrs(&name, RecordType::AAAA)),
            IpFamily::Any => self.runtime.block_on(async {
                let v4 = self.bounded(self.addrs(&name, RecordType::A));
                let v6 = self.bounded(self.addrs(&name, RecordType::AAAA));
                let (v4, v6) = join(v4, v6).await;
                merge_families(v4, v6)
            }),
        };
        match result {
            Ok(ips) => Ok(ips),
            Err(Failure::NoData) => Err(DnsError::NoAddresses { name: shown }),
            Err(failure) => Err(self.to_error(failure, shown)),
        }
    }

    /// The TXT records of `name`, each one's strings joined; NODATA is an empty list.
    pub fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let (shown, fq) = fqdn(name)?;
        match self.run(self.lookup(&fq, RecordType::TXT)) {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(Failure::NoData) => Ok(Vec::new()),
            Err(failure) => Err(self.to_error(failure, shown)),
        }
    }

    /// The DNSSEC-signed TLSA records of `_PORT._tcp.HOST` (see `Lookup::tlsa`).
    pub fn tlsa(&self, host: &str, port: u16) -> Result<Option<Vec<Tlsa>>, DnsError> {
        let Some(secure) = &self.secure else {
            return Ok(None);
        };
        let (shown, name) = fqdn(&format!("_{port}._tcp.{}", strip_dot(host)))?;
        let asked = async {
            secure
                .lookup(name.clone(), RecordType::TLSA)
                .await
                .map_err(|e| classify(&e))
        };
        let lookup = match self.run(asked) {
            Ok(lookup) => lookup,
            Err(Failure::NoData | Failure::NxDomain) => return Ok(None),
            Err(failure) => return Err(self.to_error(failure, shown)),
        };
        let records: Vec<_> = lookup
            .answers()
            .iter()
            .filter(|r| r.record_type() == RecordType::TLSA)
            .collect();
        if records.iter().any(|r| r.proof == Proof::Bogus) {
            let detail = "DNSSEC validation failed (bogus)".into();
            return Err(DnsError::Temporary {
                name: shown,
                detail,
            });
        }
        if records.is_empty() || records.iter().any(|r| r.proof != Proof::Secure) {
            return Ok(None);
        }
        Ok(Some(
            records
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TLSA(t) => Some(Tlsa {
                        usage: t.cert_usage.into(),
                        selector: t.selector.into(),
                        matching: t.matching.into(),
                        data: t.cert_data.clone(),
                    }),
                    _ => None,
                })
                .collect(),
        ))
    }

    /// Whether the validating resolver (if any) finds `name`'s `rtype` records bogus.
    /// Unsigned (insecure) answers and lookup failures are not: they are no proof of forgery.
    fn bogus(&self, name: &Name, rtype: RecordType) -> bool {
        let Some(secure) = &self.secure else {
            return false;
        };
        if !self.anchored.iter().any(|zone| zone.zone_of(name)) {
            return false;
        }
        let asked = async { Ok(secure.lookup(name.clone(), rtype).await) };
        match self.run(asked) {
            Ok(Err(NetError::Dns(hickory_resolver::net::DnsError::DnssecBogus))) => true,
            Ok(Ok(lookup)) => lookup.answers().iter().any(|r| r.proof == Proof::Bogus),
            Ok(Err(_)) | Err(_) => false,
        }
    }

    /// Whether the MX records of `domain` validate (see `Lookup::mx_signed`).
    pub fn mx_signed(&self, domain: &str) -> bool {
        self.signed(domain, RecordType::MX)
    }

    /// Whether the addresses of `host` validate (see `Lookup::addresses_signed`): its A
    /// records, or its AAAA records when it has no A; `Err` when either set is bogus.
    pub fn addresses_signed(&self, host: &str) -> Result<bool, DnsError> {
        let (shown, name) = fqdn(host)?;
        if self.bogus(&name, RecordType::A) || self.bogus(&name, RecordType::AAAA) {
            let detail = "DNSSEC validation failed (bogus)".into();
            return Err(DnsError::Temporary {
                name: shown,
                detail,
            });
        }
        Ok(self.signed(host, RecordType::A) || self.signed(host, RecordType::AAAA))
    }

    /// Whether `name` has records of type `rtype`, all DNSSEC-validated.
    fn signed(&self, name: &str, rtype: RecordType) -> bool {
        let Some(secure) = &self.secure else {
            return false;
        };
        let Ok((_, name)) = fqdn(name) else {
            return false;
        };
        let asked = async {
            secure
                .lookup(name.clone(), rtype)
                .await
                .map_err(|e| classify(&e))
        };
        self.run(asked).is_ok_and(|lookup| {
            let found: Vec<_> = lookup
                .answers()
                .iter()
                .filter(|r| r.record_type() == rtype)
                .collect();
            !found.is_empty() && found.iter().all(|r| r.proof == Proof::Secure)
        })
    }

    /// The PTR names of `ip` (`in-addr.arpa` / `ip6.arpa`), without the trailing dot.
    pub fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, DnsError> {
        let mut name = Name::from(ip);
        name.set_fqdn(true);
        match self.run(self.lookup(&name, RecordType::PTR)) {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::PTR(ptr) => Some(strip_dot(&ptr.0.to_ascii()).to_string()),
                    _ => None,
                })
                .collect()),
            Err(Failure::NoData) => Ok(Vec::new()),
            Err(failure) => Err(self.to_error(failure, name.to_ascii())),
        }
    }

    async fn lookup(&self, name: &Name, rtype: RecordType) -> Result<Answer, Failure> {
        self.inner
            .lookup(name.clone(), rtype)
            .await
            .map_err(|e| classify(&e))
    }

    /// The A or AAAA addresses in the answer; an answer without any (only a CNAME) is NODATA.
    async fn addrs(&self, name: &Name, rtype: RecordType) -> Result<Vec<IpAddr>, Failure> {
        let lookup = self.lookup(name, rtype).await?;
        let ips: Vec<IpAddr> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) if rtype == RecordType::A => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) if rtype == RecordType::AAAA => Some(IpAddr::V6(a.0)),
                _ => None,
            })
            .collect();
        if ips.is_empty() {
            Err(Failure::NoData)
        } else {
            Ok(ips)
        }
    }

    async fn bounded<T>(
        &self,
        fut: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.deadline, fut).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Silent(format!(
                "no answer within {:?}",
                self.deadline
            ))),
        }
    }

    /// Runs one query to completion on the calling thread.
    fn run<T>(&self, fut: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
        self.runtime.block_on(self.bounded(fut))
    }
}

/// One hickory resolver for `server` (or the system's), validating DNSSEC from `anchors`
/// when given. Runs inside the runtime (hickory spawns its tasks there).
fn builder(
    server: Option<SocketAddr>,
    timeout: Duration,
    anchors: Option<Arc<TrustAnchors>>,
) -> Result<TokioResolver, DnsError> {
    let setup = |detail: String| DnsError::Setup { detail };
    let provider = TokioRuntimeProvider::default();
    let mut builder = match server {
        Some(addr) => TokioResolver::builder_with_config(one_server(addr), provider),
        None => TokioResolver::builder(provider)
            .map_err(|e| setup(format!("system DNS configuration: {e}")))?,
    };
    if let Some(anchors) = anchors {
        builder = builder.with_trust_anchor(anchors);
    }
    let nservers = max_servers(server);
    let opts = builder.options_mut();
    // Each server gets its share of the time, so that all are tried within `timeout`.
    opts.timeout = (timeout / nservers).max(Duration::from_millis(100));
    // hickory counts *retries* here: 0 = one try. Within the try, UDP is re-sent every
    // 333 ms until `timeout`, so a lost packet is covered; delivery retries later anyway.
    opts.attempts = 0;
    // /etc/hosts belongs to the system configuration: `dns_server` replaces both.
    opts.use_hosts_file = match server {
        Some(_) => ResolveHosts::Never,
        None => ResolveHosts::Always,
    };
    builder.build().map_err(|e| setup(e.to_string()))
}

/// The owner names of the DNSKEY records in a trust anchor file (zone-file lines), once each.
fn anchor_zones(text: &str) -> Vec<Name> {
    let mut zones: Vec<Name> = Vec::new();
    let owners = text
        .lines()
        .filter_map(|line| line.split(';').next()?.split_whitespace().next())
        .filter(|owner| !owner.starts_with('$'));
    for owner in owners {
        if let Ok(mut zone) = Name::from_ascii(owner) {
            zone.set_fqdn(true);
            if !zones.contains(&zone) {
                zones.push(zone);
            }
        }
    }
    zones
}

/// Our own single server: UDP first, TCP for truncated answers, on the given port.
fn one_server(addr: SocketAddr) -> ResolverConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = addr.port();
    let server = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
    ResolverConfig::from_parts(None, vec![], vec![server])
}

/// How many servers a call may walk through (for the overall deadline).
fn max_servers(server: Option<SocketAddr>) -> u32 {
    match server {
        Some(_) => 1,
        // resolv.conf allows at most 3 nameservers (MAXNS).
        None => 3,
    }
}

/// `domain` as shown to people (no trailing dot) and as a fully qualified hickory name.
/// Non-ASCII names are converted to punycode.
fn fqdn(domain: &str) -> Result<(String, Name), DnsError> {
    let shown = strip_dot(domain).to_string();
    let invalid = |detail: String| DnsError::InvalidName {
        name: shown.clone(),
        detail,
    };
    if shown.is_empty() || shown.ends_with('.') {
        return Err(invalid("empty label".into()));
    }
    let mut name = Name::from_utf8(&shown).map_err(|e| invalid(e.to_string()))?;
    name.set_fqdn(true);
    Ok((shown, name))
}

impl Resolver {
    /// The error for `name`; silence names the server that kept it ("DNS server
    /// 127.0.0.1:9 did not answer (connection refused)").
    fn to_error(&self, failure: Failure, name: String) -> DnsError {
        match failure {
            Failure::NxDomain => DnsError::NxDomain { name },
            Failure::NoData => DnsError::NoAddresses { name },
            Failure::Temporary(detail) => DnsError::Temporary { name, detail },
            Failure::Silent(detail) => {
                let detail = match self.server {
                    Some(addr) => {
                        let why = probe(addr).unwrap_or(detail);
                        format!("DNS server {addr} did not answer ({why})")
                    }
                    None => format!("the DNS server did not answer ({detail})"),
                };
                DnsError::Temporary { name, detail }
            }
        }
    }
}

/// Asks `server` once more, briefly and directly, why it is silent: a closed port shows at
/// once as "connection refused" (the ICMP error hickory does not report). `None` when the
/// probe learns nothing.
fn probe(server: SocketAddr) -> Option<String> {
    let any: SocketAddr = match server {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = std::net::UdpSocket::bind(any).ok()?;
    socket.connect(server).ok()?;
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .ok()?;
    // ID, flags (recursion desired), one question: the root's NS records.
    let query = [0x71, 0x6b, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1];
    let refused = |e: &std::io::Error| e.kind() == std::io::ErrorKind::ConnectionRefused;
    match socket
        .send(&query)
        .and_then(|_| socket.recv(&mut [0u8; 512]))
    {
        Err(e) if refused(&e) => Some("connection refused".into()),
        _ => None,
    }
}

/// Combines the A and AAAA results (IPv4 first). Any address wins over a failure of the other
/// family; otherwise NXDOMAIN beats a temporary error, which beats NODATA (the failed family
/// might have had addresses).
fn merge_families(
    v4: Result<Vec<IpAddr>, Failure>,
    v6: Result<Vec<IpAddr>, Failure>,
) -> Result<Vec<IpAddr>, Failure> {
    match (v4, v6) {
        (Ok(mut a), Ok(b)) => {
            a.extend(b);
            Ok(a)
        }
        (Ok(a), Err(_)) | (Err(_), Ok(a)) => Ok(a),
        (Err(Failure::NxDomain), _) | (_, Err(Failure::NxDomain)) => Err(Failure::NxDomain),
        (Err(t @ Failure::Temporary(_)), _) | (_, Err(t @ Failure::Temporary(_))) => Err(t),
        (Err(t @ Failure::Silent(_)), _) | (_, Err(t @ Failure::Silent(_))) => Err(t),
        (Err(Failure::NoData), Err(Failure::NoData)) => Err(Failure::NoData),
    }
}

/// Polls two futures on the same task until both are done (no extra tokio features).
async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        match (ra.take(), rb.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                (ra, rb) = (x, y);
                Poll::Pending
            }
        }
    })
    .await
}
