//! The edge of `qksmtp doctor`: the DNS questions and the connections (port 25 to the
//! recipients' MX hosts, each relay up to its login) whose answers become `Facts`. Nothing is
//! judged here, and no mail is sent.

use super::facts::{DkimFacts, Facts, MxProbes, Probe, ProbeOutcome, RelayFacts};
use super::{judge, spf};
use crate::client::{Client, ClientSettings, Credentials, Dialer, Secure, TlsPolicy};
use crate::config::{Config, IpFamily, RelayConfig, Timeouts};
use crate::dns::{DnsError, Lookup, MxAnswer};
use crate::transcript::{Failure, FailureKind, Record, StepKind};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// What the user asked about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ask {
    /// The domain mail is sent from; default: the first `[dkim:DOMAIN]`, else `helo_name`'s.
    pub sender: Option<String>,
    /// Recipient domains whose MX hosts are tried; default: the `[domain:NAME]` sections'.
    pub to: Vec<String>,
}

/// How long a probe waits for a connection and for the greeting: short, since a blocked
/// port 25 shows as silence.
const PROBE: Duration = Duration::from_secs(6);
/// At most this many MX hosts per domain, and addresses per host, are tried.
const HOSTS: usize = 3;
const ADDRESSES: usize = 2;
/// At most this many recipient domains from the INI.
const DOMAINS: usize = 3;

/// Asks everything `judge` needs.
pub fn gather(config: &Config, dns: &dyn Lookup, dialer: &dyn Dialer, ask: &Ask) -> Facts {
    let helo_name = config.delivery.helo_name.clone();
    let mut facts = Facts {
        sender: sender(config, ask),
        helo_name: helo_name.clone(),
        port25: recipient_domains(config, ask)
            .iter()
            .map(|d| probe_domain(config, dns, dialer, d))
            .collect(),
        configured_address: config.delivery.public_address,
        ptr: None,
        ptr_forward: Vec::new(),
        helo_addresses: dns.addresses(&helo_name, IpFamily::Any),
        spf: None,
        dkim: config.dkim.iter().map(|d| dkim(config, dns, d)).collect(),
        dmarc: None,
        relays: config
            .relays
            .iter()
            .map(|r| relay(config, dns, dialer, r))
            .collect(),
    };
    let address = judge::address(&facts);
    if let Some(ip) = address {
        let ptr = dns.ptr(ip);
        if let Ok(names) = &ptr {
            facts.ptr_forward = names
                .iter()
                .take(ADDRESSES)
                .map(|n| (n.clone(), dns.addresses(n, IpFamily::Any)))
                .collect();
        }
        facts.ptr = Some(ptr);
    }
    if let Some(sender) = facts.sender.clone() {
        facts.spf = Some(spf::evaluate(dns, address, &sender));
        facts.dmarc = Some(dmarc(dns, &sender));
    }
    facts
}

fn sender(config: &Config, ask: &Ask) -> Option<String> {
    let lower = |d: &str| d.trim_end_matches('.').to_ascii_lowercase();
    if let Some(s) = &ask.sender {
        return Some(lower(s));
    }
    if let Some(d) = config.dkim.iter().find(|d| d.domain != "*") {
        return Some(lower(&d.domain));
    }
    let helo = &config.delivery.helo_name;
    let is_name = helo.contains('.') && helo.parse::<IpAddr>().is_err();
    is_name.then(|| lower(judge::organizational(helo)))
}

fn recipient_domains(config: &Config, ask: &Ask) -> Vec<String> {
    if !ask.to.is_empty() {
        return ask.to.clone();
    }
    config
        .domains
        .iter()
        .map(|(name, _)| name.clone())
        .filter(|name| name != "*" && !name.starts_with('*'))
        .take(DOMAINS)
        .collect()
}

/// The MX hosts of `domain` (or the domain itself without MX), each address tried on port 25
/// at the same time.
fn probe_domain(config: &Config, dns: &dyn Lookup, dialer: &dyn Dialer, domain: &str) -> MxProbes {
    let hosts = match dns.mx(domain) {
        Ok(MxAnswer::Records(mut records)) => {
            records.sort_by_key(|(pref, _)| *pref);
            records.into_iter().map(|(_, h)| h).take(HOSTS).collect()
        }
        Ok(MxAnswer::NoRecords) => vec![domain.to_string()],
        Ok(MxAnswer::NullMx) => Vec::new(),
        Err(e) => {
            return MxProbes {
                domain: domain.into(),
                hosts: Err(e),
            };
        }
    };
    let mut targets = Vec::new();
    let mut last_error = None;
    for host in hosts {
        match dns.addresses(&host, config.delivery.ip_family) {
            Ok(ips) => targets.extend(ips.into_iter().take(ADDRESSES).map(|ip| (host.clone(), ip))),
            Err(e) => last_error = Some(e),
        }
    }
    if targets.is_empty()
        && let Some(e) = last_error
    {
        return MxProbes {
            domain: domain.into(),
            hosts: Err(e),
        };
    }
    let settings = ClientSettings {
        helo_name: config.delivery.helo_name.clone(),
        timeouts: probe_timeouts(config),
        tls: Secure::opportunistic().with_mode(TlsPolicy::Never),
        auth: None,
    };
    let settings = &settings;
    let probes = std::thread::scope(|s| {
        let running: Vec<_> = targets
            .into_iter()
            .map(|(host, ip)| {
                s.spawn(move || {
                    let addr = SocketAddr::new(ip, 25);
                    let outcome = probe(dialer, addr, &host, settings);
                    Probe {
                        host,
                        addr,
                        outcome,
                    }
                })
            })
            .collect();
        running.into_iter().filter_map(|t| t.join().ok()).collect()
    });
    MxProbes {
        domain: domain.into(),
        hosts: Ok(probes),
    }
}

fn probe_timeouts(config: &Config) -> Timeouts {
    let short = |d: Duration| d.min(PROBE);
    let t = config.delivery.timeouts;
    Timeouts {
        connect: short(t.connect),
        greeting: short(t.greeting),
        command: short(t.command),
        ..t
    }
}

/// Greeting and EHLO, then QUIT.
fn probe(
    dialer: &dyn Dialer,
    addr: SocketAddr,
    host: &str,
    settings: &ClientSettings,
) -> ProbeOutcome {
    let mut record = Record::new();
    match Client::connect(dialer, addr, host, settings, &mut record) {
        Ok(client) => {
            client.quit(&mut record);
            let replies: Vec<String> = record
                .steps
                .iter()
                .filter(|s| matches!(s.kind, StepKind::Greeting | StepKind::Ehlo | StepKind::Helo))
                .filter_map(|s| s.reply.as_ref().map(|r| r.one_line()))
                .collect();
            ProbeOutcome::Answered {
                greeting: replies.first().cloned().unwrap_or_default(),
                saw: replies.iter().find_map(|r| address_in(r)),
            }
        }
        Err(Failure { step, kind }) => match (step, kind) {
            (_, FailureKind::ConnectRefused) => ProbeOutcome::Refused("connection refused".into()),
            (StepKind::Connect, FailureKind::Io(e)) => ProbeOutcome::Refused(e),
            (StepKind::Connect | StepKind::Greeting, FailureKind::Timeout) => {
                ProbeOutcome::Silent(format!("no {} within {PROBE:?}", step_word(step)))
            }
            (step, kind) => ProbeOutcome::Other(Failure::new(step, kind).to_string()),
        },
    }
}

fn step_word(step: StepKind) -> &'static str {
    match step {
        StepKind::Connect => "connection",
        _ => "greeting",
    }
}

/// The first bracketed IP address in a reply (`... at your service, [203.0.113.5]`,
/// `Hello name [203.0.113.5]`): what the server saw as our address.
pub fn address_in(reply: &str) -> Option<IpAddr> {
    reply.split('[').skip(1).find_map(|rest| {
        let inside = rest.split(']').next()?;
        let inside = inside.strip_prefix("IPv6:").unwrap_or(inside);
        inside.parse().ok()
    })
}

fn dkim(config: &Config, dns: &dyn Lookup, d: &crate::config::DkimConfig) -> DkimFacts {
    let signs_as = match d.domain.as_str() {
        "*" => config.server.hostname.clone(),
        domain => domain.to_string(),
    };
    let expected = crate::dkim::key::load(&d.key)
        .and_then(|k| k.dns_record())
        .map_err(|e| e.to_string());
    let published = dns.txt(&format!("{}._domainkey.{signs_as}", d.selector));
    DkimFacts {
        section: d.domain.clone(),
        signs_as,
        selector: d.selector.clone(),
        expected,
        published,
    }
}

/// `_dmarc.SENDER`, else `_dmarc` of its organizational domain (RFC 7489 §6.6.3).
fn dmarc(dns: &dyn Lookup, sender: &str) -> (String, Result<Vec<String>, DnsError>) {
    let name = format!("_dmarc.{sender}");
    let answer = dns.txt(&name);
    let found = answer.as_ref().is_ok_and(|records| {
        records
            .iter()
            .any(|r| r.to_ascii_lowercase().starts_with("v=dmarc1"))
    });
    let org = judge::organizational(sender);
    if found || org == sender {
        return (name, answer);
    }
    let parent = format!("_dmarc.{org}");
    match dns.txt(&parent) {
        Ok(records) if !records.is_empty() => (parent, Ok(records)),
        _ => (name, answer),
    }
}

/// Connects as delivery would, up to the login; no mail is sent.
fn relay(config: &Config, dns: &dyn Lookup, dialer: &dyn Dialer, r: &RelayConfig) -> RelayFacts {
    let server = format!("{}:{}", r.host, r.port);
    let settings = ClientSettings {
        helo_name: config.delivery.helo_name.clone(),
        timeouts: probe_timeouts(config),
        tls: Secure::for_relay(
            r.tls,
            r.tls_verify,
            r.tls_policy,
            config.delivery.tls_ca_file.as_deref(),
        ),
        auth: Credentials::for_relay(r),
    };
    let result = match dns.addresses(&r.host, config.delivery.ip_family) {
        Err(e) => Err(Failure::new(StepKind::Dns, FailureKind::Io(e.to_string()))),
        Ok(ips) => {
            let ip = ips.first().copied().unwrap_or(IpAddr::from([0, 0, 0, 0]));
            let addr = SocketAddr::new(ip, r.port);
            let mut record = Record::new();
            Client::connect(dialer, addr, &r.host, &settings, &mut record).map(|client| {
                client.quit(&mut record);
                settings.tls.mode != TlsPolicy::Never
            })
        }
    };
    RelayFacts {
        name: r.name.clone(),
        server,
        login: settings.auth.is_some(),
        result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Network;
    use crate::dns::Zone;

    /// The DNS side, from a zone: PTR and its forward check, the HELO name, SPF, and DMARC
    /// found at the parent domain. No recipient domain and no relay: nothing is dialled.
    #[test]
    fn asks_the_dns_what_the_verdicts_need() {
        let ini = "[delivery]\nhelo_name = mail.a.test\npublic_address = 192.0.2.7\n";
        let (config, _) =
            crate::config::load::parse(ini, std::path::Path::new("/q/q.ini"), "h.test")
                .unwrap_or_else(|e| panic!("{e:?}"));
        let zone = Zone::new()
            .ptr("192.0.2.7", "mail.a.test")
            .host("mail.a.test", &["192.0.2.7"])
            .txt("sub.a.test", "v=spf1 ip4:192.0.2.0/24 -all")
            .txt("_dmarc.a.test", "v=DMARC1; p=quarantine");
        let ask = Ask {
            sender: Some("Sub.A.test".into()),
            to: Vec::new(),
        };
        let facts = gather(&config, &zone, &Network, &ask);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(facts.sender.as_deref(), Some("sub.a.test"));
        assert_eq!(facts.ptr, Some(Ok(vec!["mail.a.test".to_string()])));
        assert_eq!(
            facts.ptr_forward,
            [("mail.a.test".to_string(), Ok(vec![ip]))]
        );
        assert_eq!(facts.helo_addresses, Ok(vec![ip]));
        let spf = facts.spf.as_ref().unwrap();
        assert_eq!(spf.result, Some(spf::SpfResult::Pass));
        assert_eq!(
            facts.dmarc,
            Some((
                "_dmarc.a.test".to_string(),
                Ok(vec!["v=DMARC1; p=quarantine".to_string()])
            ))
        );
        assert!(facts.port25.is_empty() && facts.relays.is_empty() && facts.dkim.is_empty());
        assert!(
            !zone.asked().iter().any(|q| q.starts_with("MX")),
            "{:?}",
            zone.asked()
        );
    }

    #[test]
    fn the_address_a_server_says_it_saw() {
        let cases = [
            (
                "250 mx.google.test at your service, [203.0.113.5]",
                Some("203.0.113.5"),
            ),
            (
                "250-mx.exim.test Hello me [198.51.100.2]",
                Some("198.51.100.2"),
            ),
            ("250 mx.test Hello [IPv6:2001:db8::5]", Some("2001:db8::5")),
            ("220 mx.test ESMTP [not an address] Postfix", None),
            ("220 mx.test ESMTP 203.0.113.5", None),
        ];
        for (reply, want) in cases {
            assert_eq!(
                address_in(reply),
                want.map(|w| w.parse().unwrap()),
                "{reply}"
            );
        }
    }
}
