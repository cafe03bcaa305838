//! SPF (RFC 7208): whether a domain's record authorizes an address. `check_host` walks the
//! record (`ip4`, `ip6`, `a`, `mx`, `include`, `exists`, `ptr`, `all`, the four qualifiers,
//! `redirect`), asking the DNS through `Lookup`, within the limits of §4.6.4: ten terms that
//! query the DNS, ten MX names per `mx`, two void lookups. Pure but for the lookups, which a
//! test answers from a `Zone`.

use crate::config::IpFamily;
use crate::dns::{DnsError, Lookup, MxAnswer};
use std::net::IpAddr;

/// The results of §2.6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpfResult {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    /// No SPF record.
    None,
    /// The record is broken (why).
    PermError(String),
    /// The DNS failed for now (why).
    TempError(String),
}

impl SpfResult {
    pub fn name(&self) -> &'static str {
        match self {
            SpfResult::Pass => "pass",
            SpfResult::Fail => "fail",
            SpfResult::SoftFail => "softfail",
            SpfResult::Neutral => "neutral",
            SpfResult::None => "none",
            SpfResult::PermError(_) => "permerror",
            SpfResult::TempError(_) => "temperror",
        }
    }
}

/// What `evaluate` found: the domain's own record (if any), the result for the address (none
/// when the address is unknown: then only the record's syntax is checked), and the term that
/// decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub record: Option<String>,
    pub result: Option<SpfResult>,
    pub matched: Option<String>,
}

/// The most terms that query the DNS, and the most void answers, in one check (§4.6.4).
const MAX_LOOKUPS: u32 = 10;
const MAX_VOID: u32 = 2;

/// The record of `domain` and, when `ip` is known, the result of `check_host(ip, domain)`.
pub fn evaluate(dns: &dyn Lookup, ip: Option<IpAddr>, domain: &str) -> Evaluation {
    let record = match fetch(dns, domain) {
        Ok(record) => record,
        Err(result) => {
            return Evaluation {
                record: None,
                result: Some(result),
                matched: None,
            };
        }
    };
    let Some(ip) = ip else {
        let result = record
            .as_deref()
            .and_then(|r| parse(r).err())
            .map(SpfResult::PermError);
        return Evaluation {
            record,
            result,
            matched: None,
        };
    };
    let mut check = Check {
        dns,
        ip,
        lookups: 0,
        void: 0,
        matched: None,
    };
    let result = check.host(domain, record.clone());
    Evaluation {
        record,
        result: Some(result),
        matched: check.matched,
    }
}

/// The one `v=spf1` TXT record of `domain`: `Ok(None)` when there is none (or no such
/// domain); two are a PermError, a DNS failure a TempError.
fn fetch(dns: &dyn Lookup, domain: &str) -> Result<Option<String>, SpfResult> {
    let records = match dns.txt(domain) {
        Ok(records) => records,
        Err(DnsError::NxDomain { .. }) => return Ok(None),
        Err(e) => return Err(SpfResult::TempError(e.to_string())),
    };
    let spf: Vec<String> = records.into_iter().filter(|r| is_spf(r)).collect();
    match spf.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        _ => Err(SpfResult::PermError(format!(
            "{domain} has {} SPF records; there must be one",
            spf.len()
        ))),
    }
}

fn is_spf(record: &str) -> bool {
    let lower = record.to_ascii_lowercase();
    lower == "v=spf1" || lower.starts_with("v=spf1 ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qualifier {
    Pass,
    Fail,
    SoftFail,
    Neutral,
}

impl Qualifier {
    fn result(self) -> SpfResult {
        match self {
            Qualifier::Pass => SpfResult::Pass,
            Qualifier::Fail => SpfResult::Fail,
            Qualifier::SoftFail => SpfResult::SoftFail,
            Qualifier::Neutral => SpfResult::Neutral,
        }
    }
}

/// A mechanism with its target: a domain (none = the current one) and CIDR lengths.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mechanism {
    All,
    Include(String),
    A(Option<String>, u8, u8),
    Mx(Option<String>, u8, u8),
    Ptr(Option<String>),
    Ip(IpAddr, u8),
    Exists(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    terms: Vec<(Qualifier, Mechanism, String)>,
    redirect: Option<String>,
}

/// Parses a `v=spf1` record; the error says what is wrong.
fn parse(record: &str) -> Result<Record, String> {
    let mut terms = Vec::new();
    let mut redirect = None;
    for term in record.split_ascii_whitespace().skip(1) {
        let lower = term.to_ascii_lowercase();
        if let Some((name, value)) = lower.split_once('=')
            && !name.contains(':')
            && !name.contains('/')
        {
            match name {
                "redirect" if redirect.is_some() => return Err("two redirect= modifiers".into()),
                "redirect" => redirect = Some(domain_spec(value)?),
                // exp= and unknown modifiers do not change the result (§6).
                _ => {}
            }
            continue;
        }
        let (qualifier, rest) = match lower.as_bytes()[0] {
            b'+' => (Qualifier::Pass, &lower[1..]),
            b'-' => (Qualifier::Fail, &lower[1..]),
            b'~' => (Qualifier::SoftFail, &lower[1..]),
            b'?' => (Qualifier::Neutral, &lower[1..]),
            _ => (Qualifier::Pass, &lower[..]),
        };
        terms.push((qualifier, mechanism(rest)?, term.to_string()));
    }
    Ok(Record { terms, redirect })
}

fn mechanism(term: &str) -> Result<Mechanism, String> {
    let (name, arg) = match term.find([':', '/']) {
        Some(at) => (&term[..at], Some(&term[at..])),
        None => (term, None),
    };
    let bad = || format!("\"{term}\" is not an SPF mechanism");
    let target = |arg: Option<&str>| -> Result<String, String> {
        domain_spec(arg.and_then(|a| a.strip_prefix(':')).ok_or_else(bad)?)
    };
    Ok(match name {
        "all" if arg.is_none() => Mechanism::All,
        "include" => Mechanism::Include(target(arg)?),
        "exists" => Mechanism::Exists(target(arg)?),
        "a" | "mx" => {
            let (domain, v4, v6) = with_cidr(arg.unwrap_or(""))?;
            if name == "a" {
                Mechanism::A(domain, v4, v6)
            } else {
                Mechanism::Mx(domain, v4, v6)
            }
        }
        "ptr" => Mechanism::Ptr(arg.map(|a| target(Some(a))).transpose()?),
        "ip4" | "ip6" => {
            let arg = arg.and_then(|a| a.strip_prefix(':')).ok_or_else(bad)?;
            let (addr, len) = arg.split_once('/').unwrap_or((arg, ""));
            let ip: IpAddr = addr.parse().map_err(|_| bad())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if (name == "ip4") != ip.is_ipv4() {
                return Err(bad());
            }
            let len = match len {
                "" => max,
                n => n.parse().ok().filter(|n| *n <= max).ok_or_else(bad)?,
            };
            Mechanism::Ip(ip, len)
        }
        _ => return Err(bad()),
    })
}

/// `[:domain][/n][//m]` of `a` and `mx`.
fn with_cidr(arg: &str) -> Result<(Option<String>, u8, u8), String> {
    let (domain, cidr) = match arg.find('/') {
        Some(at) => (&arg[..at], &arg[at..]),
        None => (arg, ""),
    };
    let domain = match domain.strip_prefix(':') {
        Some(d) => Some(domain_spec(d)?),
        None if domain.is_empty() => None,
        None => return Err(format!("\"{arg}\" is not a domain and prefix length")),
    };
    let bad = || format!("\"{cidr}\" is not a prefix length");
    let (v4, v6) = match cidr.split_once("//") {
        Some((v4, v6)) => (v4, Some(v6)),
        None => (cidr, None),
    };
    let len = |s: &str, max: u8| -> Result<u8, String> {
        s.parse().ok().filter(|n| *n <= max).ok_or_else(bad)
    };
    let v4 = match v4.strip_prefix('/') {
        Some(n) => len(n, 32)?,
        None if v4.is_empty() => 32,
        None => return Err(bad()),
    };
    let v6 = v6.map(|n| len(n, 128)).transpose()?.unwrap_or(128);
    Ok((domain, v4, v6))
}

/// A target domain; macros (`%{...}`) are not expanded by this check, so a record using them
/// is reported as one it cannot judge.
fn domain_spec(s: &str) -> Result<String, String> {
    if s.contains('%') {
        return Err(format!(
            "\"{s}\" uses SPF macros, which qksmtp doctor does not evaluate"
        ));
    }
    if s.is_empty() || !s.contains('.') {
        return Err(format!("\"{s}\" is not a domain"));
    }
    Ok(s.trim_end_matches('.').to_string())
}

/// One `check_host` with its counters shared by every include and redirect.
struct Check<'a> {
    dns: &'a dyn Lookup,
    ip: IpAddr,
    lookups: u32,
    void: u32,
    /// The term that decided the top-level result.
    matched: Option<String>,
}

/// A mechanism's answer: matched, did not, or the check ends with this result.
enum Hit {
    Yes,
    No,
    End(SpfResult),
}

impl Check<'_> {
    /// `check_host(ip, domain)`, the record already fetched (`None`: there is none).
    fn host(&mut self, domain: &str, record: Option<String>) -> SpfResult {
        let Some(record) = record else {
            return SpfResult::None;
        };
        let record = match parse(&record) {
            Ok(r) => r,
            Err(e) => return SpfResult::PermError(format!("{domain}: {e}")),
        };
        for (qualifier, mechanism, text) in &record.terms {
            match self.mechanism(domain, mechanism) {
                Hit::Yes => {
                    self.matched.get_or_insert_with(|| text.clone());
                    return qualifier.result();
                }
                Hit::No => {}
                Hit::End(result) => return result,
            }
        }
        let Some(target) = record.redirect else {
            return SpfResult::Neutral;
        };
        if let Err(e) = self.count() {
            return e;
        }
        match self.fetch_counted(&target) {
            Ok(None) => SpfResult::PermError(format!("redirect to {target}, which has no SPF")),
            Ok(record) => self.host(&target, record),
            Err(e) => e,
        }
    }

    fn count(&mut self) -> Result<(), SpfResult> {
        self.lookups += 1;
        if self.lookups > MAX_LOOKUPS {
            return Err(SpfResult::PermError(format!(
                "more than {MAX_LOOKUPS} DNS lookups (RFC 7208 §4.6.4)"
            )));
        }
        Ok(())
    }

    /// Counts a void answer (no such name, or no records); too many end the check.
    fn void(&mut self) -> Result<(), SpfResult> {
        self.void += 1;
        if self.void > MAX_VOID {
            return Err(SpfResult::PermError(format!(
                "more than {MAX_VOID} lookups found nothing (RFC 7208 §4.6.4)"
            )));
        }
        Ok(())
    }

    fn fetch_counted(&mut self, domain: &str) -> Result<Option<String>, SpfResult> {
        let record = fetch(self.dns, domain)?;
        if record.is_none() {
            self.void()?;
        }
        Ok(record)
    }

    fn mechanism(&mut self, domain: &str, m: &Mechanism) -> Hit {
        let here = |d: &Option<String>| d.clone().unwrap_or_else(|| domain.to_string());
        let counted = match m {
            Mechanism::All | Mechanism::Ip(..) => Ok(()),
            _ => self.count(),
        };
        if let Err(e) = counted {
            return Hit::End(e);
        }
        let found = match m {
            Mechanism::All => Ok(true),
            Mechanism::Ip(net, len) => Ok(in_network(self.ip, *net, *len)),
            Mechanism::Include(target) => return self.include(target),
            Mechanism::A(d, v4, v6) => self.addresses_match(&here(d), *v4, *v6),
            Mechanism::Mx(d, v4, v6) => self.mx_match(&here(d), *v4, *v6),
            Mechanism::Exists(d) => self.addresses(d, IpFamily::Ipv4).map(|a| !a.is_empty()),
            // Deprecated (§5.5) and slow: counted, never matched here.
            Mechanism::Ptr(_) => Ok(false),
        };
        match found {
            Ok(true) => Hit::Yes,
            Ok(false) => Hit::No,
            Err(e) => Hit::End(e),
        }
    }

    fn include(&mut self, target: &str) -> Hit {
        let record = match self.fetch_counted(target) {
            Ok(record) => record,
            Err(e) => return Hit::End(e),
        };
        let outer = self.matched.take();
        let result = self.host(target, record);
        self.matched = outer;
        match result {
            SpfResult::Pass => Hit::Yes,
            SpfResult::Fail | SpfResult::SoftFail | SpfResult::Neutral => Hit::No,
            SpfResult::TempError(e) => Hit::End(SpfResult::TempError(e)),
            SpfResult::PermError(e) => Hit::End(SpfResult::PermError(e)),
            SpfResult::None => Hit::End(SpfResult::PermError(format!(
                "include:{target}, which has no SPF record"
            ))),
        }
    }

    /// The addresses of `host` of the checked address's family; a void answer is counted.
    fn addresses(&mut self, host: &str, family: IpFamily) -> Result<Vec<IpAddr>, SpfResult> {
        match self.dns.addresses(host, family) {
            Ok(ips) => Ok(ips),
            Err(DnsError::NxDomain { .. } | DnsError::NoAddresses { .. }) => {
                self.void()?;
                Ok(Vec::new())
            }
            Err(DnsError::InvalidName { .. }) => Ok(Vec::new()),
            Err(e) => Err(SpfResult::TempError(e.to_string())),
        }
    }

    fn family(&self) -> IpFamily {
        match self.ip {
            IpAddr::V4(_) => IpFamily::Ipv4,
            IpAddr::V6(_) => IpFamily::Ipv6,
        }
    }

    fn addresses_match(&mut self, host: &str, v4: u8, v6: u8) -> Result<bool, SpfResult> {
        let ips = self.addresses(host, self.family())?;
        let len = if self.ip.is_ipv4() { v4 } else { v6 };
        Ok(ips.into_iter().any(|net| in_network(self.ip, net, len)))
    }

    fn mx_match(&mut self, domain: &str, v4: u8, v6: u8) -> Result<bool, SpfResult> {
        let hosts = match self.dns.mx(domain) {
            Ok(MxAnswer::Records(hosts)) => hosts,
            Ok(MxAnswer::NoRecords | MxAnswer::NullMx) | Err(DnsError::NxDomain { .. }) => {
                self.void()?;
                return Ok(false);
            }
            Err(e) => return Err(SpfResult::TempError(e.to_string())),
        };
        if hosts.len() > 10 {
            return Err(SpfResult::PermError(format!(
                "mx:{domain} has more than 10 MX records (RFC 7208 §4.6.4)"
            )));
        }
        for (_, host) in hosts {
            if self.addresses_match(&host, v4, v6)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Whether `ip` is in `net/len` (of the same family).
fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
