//! What `gather` learns and `judge` reads: plain values, no I/O.

use super::spf::Evaluation;
use crate::dns::DnsError;
use crate::transcript::Failure;
use std::net::{IpAddr, SocketAddr};

/// Everything the verdicts are made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The domain mail is sent from (From: and MAIL FROM), when known.
    pub sender: Option<String>,
    pub helo_name: String,
    /// The port 25 probes, one entry per recipient domain tried.
    pub port25: Vec<MxProbes>,
    /// `[delivery] public_address`.
    pub configured_address: Option<IpAddr>,
    /// The PTR names of the public address (none when the address is unknown).
    pub ptr: Option<Result<Vec<String>, DnsError>>,
    /// The addresses of each PTR name (forward confirmation).
    pub ptr_forward: Vec<(String, Result<Vec<IpAddr>, DnsError>)>,
    /// The addresses `helo_name` resolves to.
    pub helo_addresses: Result<Vec<IpAddr>, DnsError>,
    /// SPF of the sender domain for the public address.
    pub spf: Option<Evaluation>,
    /// One per `[dkim:...]` section.
    pub dkim: Vec<DkimFacts>,
    /// The `_dmarc` TXT records: of the sender domain, else of its parent (organizational)
    /// domain: (the name asked, the answer).
    pub dmarc: Option<(String, Result<Vec<String>, DnsError>)>,
    /// One per `[relay:NAME]`.
    pub relays: Vec<RelayFacts>,
}

/// The probes of one recipient domain's MX hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxProbes {
    pub domain: String,
    /// The hosts tried, or why none could be found.
    pub hosts: Result<Vec<Probe>, DnsError>,
}

/// One MX address tried on port 25.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub host: String,
    pub addr: SocketAddr,
    pub outcome: ProbeOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// It greeted us and answered EHLO; `saw` is our address when its replies said it.
    Answered {
        greeting: String,
        saw: Option<IpAddr>,
    },
    /// The connection was refused (closed port, or a firewall that answers).
    Refused(String),
    /// No connection or no greeting within the probe's time (a firewall that drops).
    Silent(String),
    /// It answered, but not well (a 4xx/5xx greeting, another network error).
    Other(String),
}

/// One DKIM key: what should be published and what is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimFacts {
    /// The section's domain (`*` for `[dkim:*]`, which signs as `signs_as`).
    pub section: String,
    pub signs_as: String,
    pub selector: String,
    /// The record that should be published (`v=DKIM1; k=...; p=...`), or why the key cannot
    /// be read.
    pub expected: Result<String, String>,
    /// The TXT records at `SELECTOR._domainkey.DOMAIN`.
    pub published: Result<Vec<String>, DnsError>,
}

/// One relay: did it answer, encrypt and accept the login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayFacts {
    pub name: String,
    /// `host:port`.
    pub server: String,
    /// Whether it logs in (`auth` is not none).
    pub login: bool,
    /// `Ok(tls)` when everything its settings ask for worked (tls: the connection is
    /// encrypted), else the failed step.
    pub result: Result<bool, Failure>,
}
