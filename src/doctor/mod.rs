//! `qksmtp doctor`: whether direct delivery from this machine will work. `gather` collects
//! the facts at the edge (port 25 to the recipients' MX hosts, the public address and its
//! PTR, SPF, DKIM and DMARC records, each relay's answer); `judge` turns them into verdicts
//! (pure); `report` writes them in words and in JSON.

pub mod gather;
pub mod judge;
pub mod report;
pub mod spf;

pub mod facts;

pub use gather::Ask;
pub use judge::Verdict;
pub use report::Report;

use crate::client::Network;
use crate::config::Config;
use crate::dns::Resolver;
use crate::time::Timestamp;

/// Runs every check with the real network and DNS (`dns_server` when set).
pub fn run(config: &Config, ask: &Ask) -> Result<Report, String> {
    let dns = Resolver::new(config.delivery.dns_server, config.delivery.timeout_dns)
        .map_err(|e| e.to_string())?;
    let facts = gather::gather(config, &dns, &Network, ask);
    Ok(Report {
        at: Timestamp::now(),
        sender: facts.sender.clone(),
        to: facts.port25.iter().map(|p| p.domain.clone()).collect(),
        findings: judge::judge(&facts),
    })
}
