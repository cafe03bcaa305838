//! Routing: where a destination's mail goes and in which order the servers are tried: the
//! relay, fixed `mx` servers, an address literal, or the DNS MX hosts (RFC 5321 §5.1, implicit
//! MX, null MX), and each server's addresses. Every lookup is written to the step record.

use super::tls_policy::{self, Decision, Origin, store::Store, sts::Policy};
use crate::client::{ClientSettings, Credentials, Secure};
use crate::config::{Config, IpFamily, TlsLevel};
use crate::dns::{DnsError, Lookup, MxAnswer, literal, order_mx};
use crate::outcome::Outcome;
use crate::queue::policy::Dest;
use crate::time::Timestamp;
use crate::transcript::tls::Demand;
use crate::transcript::{Record, StepKind};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// One server to try: its name (for TLS and the record), port, and how to talk to it.
pub struct Target {
    pub host: String,
    pub port: u16,
    /// `relay NAME` for relays, empty for MX hosts.
    pub label: String,
    pub settings: ClientSettings,
    /// Which address families to connect to.
    pub family: IpFamily,
    /// Not to be used, and why (an MX host the domain's enforced MTA-STS policy does not
    /// name).
    pub refused: Option<String>,
    /// What enforcing the domain's policy would have refused (MTA-STS `testing`), for the
    /// record.
    pub doubt: Option<String>,
}

/// What tells that a server is this one (RFC 5321 §6.3: mail sent there would loop): our
/// listening addresses and our `hostname`.
pub struct Myself {
    /// The destination, for the words: "mail for example.test loops back to myself".
    pub domain: String,
    /// `[server] hostname`, lower-cased, without a trailing dot.
    pub hostname: String,
    pub listen: Vec<SocketAddr>,
}

impl Myself {
    pub fn of(config: &Config, dest: &Dest) -> Myself {
        let s = &config.server;
        let domain = match dest {
            Dest::Direct(domain) => domain.clone(),
            Dest::Relay(i) => config.relays[*i].host.clone(),
        };
        Myself {
            domain,
            hostname: s.hostname.trim_end_matches('.').to_ascii_lowercase(),
            listen: s.listen.iter().chain(&s.listen_tls).copied().collect(),
        }
    }

    /// `addr` is one we listen on; a wildcard listener (0.0.0.0, ::) counts for loopback.
    pub fn listens_on(&self, addr: SocketAddr) -> bool {
        self.listen.iter().any(|l| {
            l.port() == addr.port()
                && (l.ip() == addr.ip() || (l.ip().is_unspecified() && addr.ip().is_loopback()))
        })
    }

    /// One of the names a server gave itself (lower-cased) is our `hostname`.
    pub fn is_named(&self, names: &[String]) -> bool {
        !self.hostname.is_empty() && names.contains(&self.hostname)
    }
}

/// The servers for a destination, in the order to try them.
/// `sts` finds the domain's MTA-STS policy (`None`: none is looked for).
pub fn targets(
    dest: &Dest,
    config: &Config,
    resolver: &dyn Lookup,
    sts: Option<&Store>,
    record: &mut Record,
) -> Result<Vec<Target>, Outcome> {
    let d = &config.delivery;
    match dest {
        Dest::Relay(i) => Ok(vec![relay_target(config, *i, resolver, record)]),
        Dest::Direct(domain) => {
            let rule = config.rule_for(domain);
            let family = match rule.ip_family {
                IpFamily::Any => d.ip_family,
                specific => specific,
            };
            // Fixed servers (`mx =`, also from `[domain:*]`) win even over an address literal:
            // "send everything through X" means everything.
            let fixed = !rule.mx.is_empty() || literal(domain).is_some();
            let hosts: Vec<(String, u16)> = if !rule.mx.is_empty() {
                rule.mx
                    .iter()
                    .map(|hp| (hp.host.clone(), hp.port))
                    .collect()
            } else if let Some(ip) = literal(domain) {
                // An address literal (`user@[192.0.2.1]`) names the server itself.
                vec![(ip.to_string(), 25)]
            } else {
                mx_hosts(domain, resolver, record)?
                    .into_iter()
                    .map(|h| (h, 25))
                    .collect()
            };
            Ok(secured(
                domain, hosts, fixed, family, config, resolver, sts, record,
            ))
        }
    }
}

/// A relay, with the TLS of its settings, or DANE when its TLSA records (of its own port)
/// are signed and usable.
fn relay_target(config: &Config, i: usize, resolver: &dyn Lookup, record: &mut Record) -> Target {
    let d = &config.delivery;
    let relay = &config.relays[i];
    let base = Secure::for_relay(
        relay.tls,
        relay.tls_verify,
        relay.tls_policy,
        d.tls_ca_file.as_deref(),
    );
    let asks = tls_policy::asks(relay.tls_policy, Origin::Relay, d.dnssec);
    let off = base.mode == crate::client::TlsPolicy::Never;
    let signed = match asks.dane && !off {
        true => signed_host(&relay.host, resolver, record),
        false => Ok(false),
    };
    let (tls, refused) = match signed {
        Ok(false) => (base, None),
        Err(why) => (
            Secure {
                demand: Demand::Dane,
                ..base
            },
            Some(why),
        ),
        Ok(true) => match tlsa(&relay.host, relay.port, resolver, record) {
            Ok(found) => (
                tls_policy::for_relay(base, found.as_deref(), relay.port),
                None,
            ),
            Err(why) => (
                Secure {
                    demand: Demand::Dane,
                    ..base
                },
                Some(why),
            ),
        },
    };
    Target {
        host: relay.host.clone(),
        port: relay.port,
        label: format!("relay {}", relay.name),
        settings: ClientSettings {
            helo_name: d.helo_name.clone(),
            timeouts: d.timeouts,
            tls,
            auth: Credentials::for_relay(relay),
        },
        family: d.ip_family,
        refused,
        doubt: None,
    }
}

/// The hosts of a direct destination, each with the TLS decided for it: the domain's MTA-STS
/// policy applies only to MX hosts from DNS; DANE to hosts whose addresses are signed (RFC 7672
/// §2.2.2) that are MX hosts of a signed MX answer or fixed servers (`fixed`), with the TLSA
/// records of their port. A host whose addresses are bogus is not used.
#[allow(clippy::too_many_arguments)]
fn secured(
    domain: &str,
    hosts: Vec<(String, u16)>,
    fixed: bool,
    family: IpFamily,
    config: &Config,
    resolver: &dyn Lookup,
    sts: Option<&Store>,
    record: &mut Record,
) -> Vec<Target> {
    let level = config.rule_for(domain).tls_policy;
    let origin = match fixed {
        true => Origin::Fixed,
        false => Origin::Mx,
    };
    let asks = tls_policy::asks(level, origin, config.delivery.dnssec);
    if fixed && sts.is_some() && matches!(level, TlsLevel::Auto) {
        let detail = format!(
            "fixed route for {domain}: its MTA-STS policy is not looked up (it names the \
             domain's MX hosts, and the configuration names the server)"
        );
        record.push_ok(StepKind::Dns, Timestamp::now(), Duration::ZERO, &detail);
    }
    let policy: Option<Policy> = match (asks.sts, sts) {
        (true, Some(store)) => store.policy(domain, resolver, config, record),
        _ => None,
    };
    let signed_mx = asks.dane && !fixed && signed_mx(domain, resolver, record);
    hosts
        .into_iter()
        .map(|(host, port)| {
            let candidate = match fixed {
                true => asks.dane,
                false => signed_mx,
            };
            let dane = match candidate && literal(&host).is_none() {
                true => signed_host(&host, resolver, record),
                false => Ok(false),
            };
            let tlsa = match dane {
                Ok(true) => tlsa(&host, port, resolver, record),
                Ok(false) => Ok(None),
                Err(why) => Err(why),
            };
            let decision = match tlsa {
                Ok(tlsa) => {
                    tls_policy::decide(level, policy.as_ref(), tlsa.as_deref(), (&host, port))
                }
                Err(why) => Decision::Refuse(Demand::Dane, why),
            };
            mx_target(host, port, family, config, decision)
        })
        .collect()
}

/// Whether a server's addresses are DNSSEC-signed (DANE applies to it only then, RFC 7672
/// §2.2.2: an MX host of a signed MX answer, a fixed server, a relay), as a step; `Err` (the
/// server is not used: a temporary failure) when they fail validation.
fn signed_host(host: &str, resolver: &dyn Lookup, record: &mut Record) -> Result<bool, String> {
    let (at, t) = (Timestamp::now(), Instant::now());
    let shown = host.trim_end_matches('.');
    let signed = match resolver.addresses_signed(host) {
        Ok(signed) => signed,
        Err(e) => {
            let why = format!("DANE: addresses of {shown}: {e}");
            record.push_failed(StepKind::Dns, at, t.elapsed(), &why);
            return Err(why);
        }
    };
    let words = match signed {
        true => "addresses signed (DNSSEC): DANE applies",
        false => "addresses not DNSSEC-signed: no DANE",
    };
    record.push_ok(StepKind::Dns, at, t.elapsed(), &format!("{shown}: {words}"));
    Ok(signed)
}

/// Whether the domain's MX answer is DNSSEC-signed (DANE applies only then), as a step.
fn signed_mx(domain: &str, resolver: &dyn Lookup, record: &mut Record) -> bool {
    let (at, t) = (Timestamp::now(), Instant::now());
    let signed = resolver.mx_signed(domain);
    let words = match signed {
        true => "signed (DNSSEC): DANE applies",
        false => "not DNSSEC-signed: no DANE",
    };
    record.push_ok(
        StepKind::Dns,
        at,
        t.elapsed(),
        &format!("MX {domain}: {words}"),
    );
    signed
}

/// The host's signed TLSA records, as a step; `Err` (the host is not used: a temporary
/// failure) when the lookup fails or does not validate.
fn tlsa(
    host: &str,
    port: u16,
    resolver: &dyn Lookup,
    record: &mut Record,
) -> Result<Option<Vec<crate::dns::Tlsa>>, String> {
    let (at, t) = (Timestamp::now(), Instant::now());
    let name = format!("_{port}._tcp.{}", host.trim_end_matches('.'));
    match resolver.tlsa(host, port) {
        Ok(found) => {
            let words = match &found {
                Some(records) => {
                    let list: Vec<String> = records.iter().map(|r| r.to_string()).collect();
                    format!("{} (DNSSEC-signed)", list.join("; "))
                }
                None => "none signed".to_string(),
            };
            record.push_ok(
                StepKind::Dns,
                at,
                t.elapsed(),
                &format!("TLSA {name}: {words}"),
            );
            Ok(found)
        }
        Err(e) => {
            let why = format!("DANE: TLSA {name}: {e}");
            record.push_failed(StepKind::Dns, at, t.elapsed(), &why);
            Err(why)
        }
    }
}

/// An MX host (or fixed server) with the TLS decided for it.
fn mx_target(
    host: String,
    port: u16,
    family: IpFamily,
    config: &Config,
    decision: Decision,
) -> Target {
    let d = &config.delivery;
    let (mut tls, refused, doubt) = match decision {
        Decision::Use(secure) => (secure, None, None),
        Decision::Noting(secure, why) => (secure, None, Some(why)),
        // The demand says whose requirement refused the host (the page and bounce say it).
        Decision::Refuse(demand, why) => (
            Secure {
                demand,
                ..Secure::opportunistic()
            },
            Some(why),
            None,
        ),
    };
    tls.ca_file = d.tls_ca_file.clone();
    Target {
        host,
        port,
        label: String::new(),
        settings: ClientSettings {
            helo_name: d.helo_name.clone(),
            timeouts: d.timeouts,
            tls,
            auth: None,
        },
        family,
        refused,
        doubt,
    }
}

/// MX lookup and RFC 5321 ordering (implicit MX when there is none; null MX is permanent).
fn mx_hosts(
    domain: &str,
    resolver: &dyn Lookup,
    record: &mut Record,
) -> Result<Vec<String>, Outcome> {
    let (at, t) = (Timestamp::now(), Instant::now());
    let answer = match resolver.mx(domain) {
        Ok(a) => a,
        Err(e) => {
            record.push_failed(
                StepKind::Dns,
                at,
                t.elapsed(),
                &format!("MX {domain}: {}", dns_words(&e)),
            );
            return Err(Outcome::from_dns(domain, &e));
        }
    };
    let seed = at.as_micros() ^ u64::from(std::process::id());
    match order_mx(&answer, domain, seed) {
        Ok(hosts) => {
            let detail = match &answer {
                MxAnswer::NoRecords => {
                    format!("MX {domain}: none, using the domain itself (implicit MX)")
                }
                _ => format!("MX {domain}: {}", hosts.join(", ")),
            };
            record.push_ok(StepKind::Dns, at, t.elapsed(), &detail);
            Ok(hosts)
        }
        Err(_) => {
            record.push_failed(
                StepKind::Dns,
                at,
                t.elapsed(),
                &format!("MX {domain}: null MX, the domain accepts no mail"),
            );
            Err(Outcome::null_mx(domain))
        }
    }
}

fn dns_words(e: &DnsError) -> String {
    format!("{e}")
}

pub fn addresses(
    target: &Target,
    resolver: &dyn Lookup,
    record: &mut Record,
) -> Result<Vec<IpAddr>, Outcome> {
    if let Some(ip) = literal(&target.host) {
        return Ok(vec![ip]);
    }
    let (at, t) = (Timestamp::now(), Instant::now());
    match resolver.addresses(&target.host, target.family) {
        Ok(ips) => {
            let list: Vec<String> = ips.iter().map(|ip| ip.to_string()).collect();
            record.push_ok(
                StepKind::Dns,
                at,
                t.elapsed(),
                &format!("{}: {}", target.host, list.join(", ")),
            );
            Ok(ips)
        }
        Err(e) => {
            record.push_failed(
                StepKind::Dns,
                at,
                t.elapsed(),
                &format!("{}: {}", target.host, dns_words(&e)),
            );
            Err(Outcome::from_host_dns(&target.host, &e))
        }
    }
}

/// `mx1.example.test [192.0.2.1]:25`, or `relay isp (smtp.isp.test [192.0.2.9]:587)`.
pub fn route_name(target: &Target, addr: SocketAddr) -> String {
    let base = format!("{} [{}]:{}", target.host, addr.ip(), addr.port());
    if target.label.is_empty() {
        base
    } else {
        format!("{} ({base})", target.label)
    }
}

#[cfg(test)]
mod tests;
