//! Test-only DNS in memory: a table of MX, TXT and address answers (or failures) that
//! answers through the `Lookup` trait like the real resolver, and remembers what was asked.
//! Names not in the table do not exist (NXDOMAIN).

use super::{DnsError, Lookup, MxAnswer, literal_answer, strip_dot};
use crate::config::IpFamily;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// A failure the table can give instead of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    NxDomain,
    /// SERVFAIL.
    ServerFailure,
    Timeout,
}

impl Fail {
    fn error(self, name: &str) -> DnsError {
        let name = name.to_string();
        match self {
            Fail::NxDomain => DnsError::NxDomain { name },
            Fail::ServerFailure => DnsError::Temporary {
                name,
                detail: "server failure (SERVFAIL)".into(),
            },
            Fail::Timeout => DnsError::Temporary {
                name,
                detail: "no answer within 20s".into(),
            },
        }
    }
}

/// Domain -> MX answer or failure; host -> addresses or failure.
#[derive(Default)]
pub struct Zone {
    mx: HashMap<String, Result<MxAnswer, Fail>>,
    hosts: HashMap<String, Result<Vec<IpAddr>, Fail>>,
    txt: HashMap<String, Result<Vec<String>, Fail>>,
    /// `_PORT._tcp.HOST` -> its signed TLSA records.
    tlsa: HashMap<String, Result<Vec<super::Tlsa>, Fail>>,
    /// Domains whose MX answer, and hosts whose addresses, are DNSSEC-signed.
    signed: Vec<String>,
    /// Hosts whose addresses fail DNSSEC validation.
    bogus: Vec<String>,
    ptr: HashMap<IpAddr, Vec<String>>,
    asked: Mutex<Vec<String>>,
}

fn key(name: &str) -> String {
    strip_dot(name).to_ascii_lowercase()
}

impl Zone {
    pub fn new() -> Zone {
        Zone::default()
    }

    /// MX records as (preference, exchange); `[]` is NODATA, `[(0, ".")]` a null MX.
    pub fn mx(mut self, domain: &str, records: &[(u16, &str)]) -> Zone {
        let records = records.iter().map(|(p, h)| (*p, h.to_string())).collect();
        self.mx
            .insert(key(domain), Ok(MxAnswer::from_records(records)));
        self
    }

    pub fn mx_fails(mut self, domain: &str, fail: Fail) -> Zone {
        self.mx.insert(key(domain), Err(fail));
        self
    }

    /// The A and AAAA records of `host`.
    pub fn host(mut self, host: &str, ips: &[&str]) -> Zone {
        let ips = ips.iter().map(|ip| ip.parse().expect("an IP")).collect();
        self.hosts.insert(key(host), Ok(ips));
        self
    }

    pub fn host_fails(mut self, host: &str, fail: Fail) -> Zone {
        self.hosts.insert(key(host), Err(fail));
        self
    }

    /// One more TXT record of `name`.
    pub fn txt(mut self, name: &str, record: &str) -> Zone {
        let entry = self.txt.entry(key(name)).or_insert_with(|| Ok(Vec::new()));
        if let Ok(records) = entry {
            records.push(record.to_string());
        }
        self
    }

    /// `domain`'s MX records (or a host's addresses) are DNSSEC-signed.
    pub fn signed(mut self, domain: &str) -> Zone {
        self.signed.push(key(domain));
        self
    }

    /// `host`'s addresses fail DNSSEC validation (bogus).
    pub fn bogus(mut self, host: &str) -> Zone {
        self.bogus.push(key(host));
        self
    }

    /// The signed TLSA records of `name` (`_25._tcp.mx.a.test`), or a failure.
    pub fn tlsa(mut self, name: &str, records: Result<Vec<super::Tlsa>, Fail>) -> Zone {
        self.tlsa.insert(key(name), records);
        self
    }

    pub fn txt_fails(mut self, name: &str, fail: Fail) -> Zone {
        self.txt.insert(key(name), Err(fail));
        self
    }

    /// One more PTR name of `ip`.
    pub fn ptr(mut self, ip: &str, name: &str) -> Zone {
        let ip = ip.parse().expect("an IP");
        self.ptr.entry(ip).or_default().push(name.to_string());
        self
    }

    /// The questions so far: `MX a.test`, `A/AAAA mx.a.test`, `A mx.a.test`...
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }

    fn ask(&self, question: String) {
        self.asked.lock().unwrap().push(question);
    }
}

impl Lookup for Zone {
    fn tlsa(&self, host: &str, port: u16) -> Result<Option<Vec<super::Tlsa>>, DnsError> {
        let name = format!("_{port}._tcp.{}", strip_dot(host));
        self.ask(format!("TLSA {name}"));
        match self.tlsa.get(&key(&name)) {
            Some(Ok(records)) => Ok(Some(records.clone())),
            Some(Err(fail)) => Err(fail.error(&name)),
            None => Ok(None),
        }
    }

    fn mx_signed(&self, domain: &str) -> bool {
        self.signed.contains(&key(domain))
    }

    fn addresses_signed(&self, host: &str) -> Result<bool, DnsError> {
        match self.bogus.contains(&key(host)) {
            true => Err(Fail::ServerFailure.error(strip_dot(host))),
            false => Ok(self.signed.contains(&key(host))),
        }
    }

    fn mx(&self, domain: &str) -> Result<MxAnswer, DnsError> {
        self.ask(format!("MX {}", strip_dot(domain)));
        match self.mx.get(&key(domain)) {
            Some(Ok(answer)) => Ok(answer.clone()),
            Some(Err(fail)) => Err(fail.error(strip_dot(domain))),
            None => Err(Fail::NxDomain.error(strip_dot(domain))),
        }
    }

    fn addresses(&self, host: &str, family: IpFamily) -> Result<Vec<IpAddr>, DnsError> {
        if let Some(answer) = literal_answer(host, family) {
            return answer;
        }
        let shown = strip_dot(host);
        let rtype = match family {
            IpFamily::Any => "A/AAAA",
            IpFamily::Ipv4 => "A",
            IpFamily::Ipv6 => "AAAA",
        };
        self.ask(format!("{rtype} {shown}"));
        let ips = match self.hosts.get(&key(host)) {
            Some(Ok(ips)) => ips,
            Some(Err(fail)) => return Err(fail.error(shown)),
            None => return Err(Fail::NxDomain.error(shown)),
        };
        let v4 = ips.iter().filter(|ip| ip.is_ipv4());
        let v6 = ips.iter().filter(|ip| ip.is_ipv6());
        let wanted: Vec<IpAddr> = match family {
            IpFamily::Any => v4.chain(v6).copied().collect(),
            IpFamily::Ipv4 => v4.copied().collect(),
            IpFamily::Ipv6 => v6.copied().collect(),
        };
        if wanted.is_empty() {
            return Err(DnsError::NoAddresses { name: shown.into() });
        }
        Ok(wanted)
    }

    /// A name with addresses or MX records but no TXT record has none (NODATA).
    fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let shown = strip_dot(name);
        self.ask(format!("TXT {shown}"));
        match self.txt.get(&key(name)) {
            Some(Ok(records)) => Ok(records.clone()),
            Some(Err(fail)) => Err(fail.error(shown)),
            None if self.hosts.contains_key(&key(name)) || self.mx.contains_key(&key(name)) => {
                Ok(Vec::new())
            }
            None => Err(Fail::NxDomain.error(shown)),
        }
    }

    fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, DnsError> {
        self.ask(format!("PTR {ip}"));
        match self.ptr.get(&ip) {
            Some(names) => Ok(names.clone()),
            None => Err(Fail::NxDomain.error(&ip.to_string())),
        }
    }
}
