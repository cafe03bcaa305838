//! MTA-STS policies for delivery (RFC 8461 §3.3, §5): the `_mta-sts` TXT record's id, and
//! each domain's policy cached in memory and on disk in the spool folder (`mta-sts/DOMAIN`,
//! so it survives restarts), fetched again when the id changes or `max_age` passes, and kept
//! while unexpired when a fetch or the DNS fails (a blocked fetch must not downgrade).
//! `plan` is the pure choice; `Store::policy` does the I/O around it.

use super::fetch;
use super::sts::{self, Policy};
use crate::config::Config;
use crate::dns::{DnsError, Lookup};
use crate::time::Timestamp;
use crate::transcript::{Record, StepKind};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// A policy as fetched: the TXT id it was fetched for, when, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    pub id: String,
    /// Seconds since the Unix epoch.
    pub fetched: u64,
    pub policy: Policy,
    pub text: String,
}

impl Cached {
    fn fresh(&self, now: u64) -> bool {
        now < self.fetched.saturating_add(self.policy.max_age.as_secs())
    }
}

/// What the `_mta-sts` TXT lookup said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Txt {
    /// One well-formed `v=STSv1` record with this id.
    Id(String),
    /// No such record (or none well formed): the domain has no policy.
    Absent,
    /// The lookup failed (SERVFAIL, timeout): nothing is known.
    Failed(String),
}

/// What to do for a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    NoPolicy,
    UseCached,
    /// Fetch the policy; if that fails, use the cached one while it is fresh.
    Fetch,
}

/// The choice: a fresh cached policy for the same id is used as it is; a new id or an
/// expired policy is fetched; without an answer from the DNS (or with no record any more) a
/// fresh cached policy is still used (RFC 8461 §5.1).
pub fn plan(txt: &Txt, cached: Option<&Cached>, now: u64) -> Plan {
    let fresh = cached.filter(|c| c.fresh(now));
    match (txt, fresh) {
        (Txt::Id(id), Some(c)) if c.id == *id => Plan::UseCached,
        (Txt::Id(_), _) => Plan::Fetch,
        (Txt::Absent | Txt::Failed(_), Some(_)) => Plan::UseCached,
        (Txt::Absent | Txt::Failed(_), None) => Plan::NoPolicy,
    }
}

/// Fetches a domain's policy text.
pub type Fetcher = dyn Fn(&str, &dyn Lookup, &Config) -> Result<String, String> + Send + Sync;

/// The policies known, in memory and in `dir`.
pub struct Store {
    dir: PathBuf,
    known: Mutex<HashMap<String, Cached>>,
    fetch: Box<Fetcher>,
}

impl Store {
    /// The store in `spool_dir/mta-sts`, fetching over HTTPS.
    pub fn new(spool_dir: &Path) -> Store {
        let fetch = |domain: &str, resolver: &dyn Lookup, config: &Config| {
            let d = &config.delivery;
            fetch::fetch(domain, resolver, d.ip_family, d.tls_ca_file.as_deref())
        };
        Store::with_fetcher(spool_dir, Box::new(fetch))
    }

    pub fn with_fetcher(spool_dir: &Path, fetch: Box<Fetcher>) -> Store {
        Store {
            dir: spool_dir.join("mta-sts"),
            known: Mutex::default(),
            fetch,
        }
    }

    /// The policy to apply to `domain` now (`None`: none), each step written to `record`.
    pub fn policy(
        &self,
        domain: &str,
        resolver: &dyn Lookup,
        config: &Config,
        record: &mut Record,
    ) -> Option<Policy> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let (at, t) = (Timestamp::now(), Instant::now());
        let txt = txt(&domain, resolver);
        let shown = match &txt {
            Txt::Id(id) => format!("v=STSv1; id={id}"),
            Txt::Absent => "none".into(),
            Txt::Failed(why) => why.clone(),
        };
        let step = format!("MTA-STS TXT _mta-sts.{domain}: {shown}");
        record.push_ok(StepKind::Dns, at, t.elapsed(), &step);
        let cached = self.cached(&domain);
        let now = at.as_secs();
        let (at, t) = (Timestamp::now(), Instant::now());
        let words = |c: &Cached, how: &str| {
            format!(
                "MTA-STS policy of {domain}: {} ({how})",
                describe(&c.policy)
            )
        };
        match plan(&txt, cached.as_ref(), now) {
            Plan::NoPolicy => None,
            Plan::UseCached => {
                let c = cached?;
                record.push_ok(
                    StepKind::Dns,
                    at,
                    t.elapsed(),
                    &words(&c, &format!("cached, id {}", c.id)),
                );
                Some(c.policy)
            }
            Plan::Fetch => {
                let Txt::Id(id) = txt else { return None };
                match self.fetch_new(&domain, &id, resolver, config, now) {
                    Ok(c) => {
                        record.push_ok(
                            StepKind::Dns,
                            at,
                            t.elapsed(),
                            &words(&c, &format!("fetched, id {id}")),
                        );
                        Some(c.policy)
                    }
                    Err(why) => {
                        let kept = cached.filter(|c| c.fresh(now));
                        let then = match &kept {
                            Some(c) => format!(
                                "using the cached policy (id {}): {}",
                                c.id,
                                describe(&c.policy)
                            ),
                            None => "no policy applies".into(),
                        };
                        let step =
                            format!("MTA-STS policy of {domain}: fetch failed: {why}; {then}");
                        record.push_failed(StepKind::Dns, at, t.elapsed(), &step);
                        kept.map(|c| c.policy)
                    }
                }
            }
        }
    }

    /// Fetches and parses the policy, and keeps it (memory and disk).
    fn fetch_new(
        &self,
        domain: &str,
        id: &str,
        resolver: &dyn Lookup,
        config: &Config,
        now: u64,
    ) -> Result<Cached, String> {
        let text = (self.fetch)(domain, resolver, config)?;
        let policy = sts::parse(&text).map_err(|e| format!("not a valid policy: {e}"))?;
        let cached = Cached {
            id: id.to_string(),
            fetched: now,
            policy,
            text,
        };
        if let Err(e) = self.save(domain, &cached) {
            log::warn!(
                "MTA-STS: cannot keep the policy of {domain} in {}: {e}",
                self.dir.display()
            );
        }
        self.lock().insert(domain.to_string(), cached.clone());
        Ok(cached)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From memory, else from disk (after a restart).
    fn cached(&self, domain: &str) -> Option<Cached> {
        if let Some(c) = self.lock().get(domain) {
            return Some(c.clone());
        }
        let c = load(&self.file(domain))?;
        self.lock().insert(domain.to_string(), c.clone());
        Some(c)
    }

    fn file(&self, domain: &str) -> PathBuf {
        self.dir.join(domain)
    }

    /// Written to a temporary file and renamed over the old one.
    fn save(&self, domain: &str, c: &Cached) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!("{domain}.tmp"));
        std::fs::write(&tmp, render(c))?;
        std::fs::rename(&tmp, self.file(domain))
    }
}

/// The TXT answer for `_mta-sts.DOMAIN`.
fn txt(domain: &str, resolver: &dyn Lookup) -> Txt {
    match resolver.txt(&format!("_mta-sts.{domain}")) {
        Ok(records) => sts::record_id(&records).map_or(Txt::Absent, Txt::Id),
        Err(DnsError::NxDomain { .. }) => Txt::Absent,
        Err(e) => Txt::Failed(e.to_string()),
    }
}

/// `mode enforce, mx mx1.a.test *.a.test, max_age 86400s`.
fn describe(p: &Policy) -> String {
    format!(
        "mode {}, mx {}, max_age {}s",
        p.mode,
        p.mx.join(" "),
        p.max_age.as_secs()
    )
}

/// The cache file: `id:` and `fetched:` lines, a blank line, the policy as fetched.
fn render(c: &Cached) -> String {
    format!("id: {}\nfetched: {}\n\n{}", c.id, c.fetched, c.text)
}

fn load(path: &Path) -> Option<Cached> {
    let file = std::fs::read_to_string(path).ok()?;
    let (head, text) = file.split_once("\n\n")?;
    let mut id = None;
    let mut fetched = None;
    for line in head.lines() {
        match line.split_once(": ") {
            Some(("id", v)) => id = Some(v.to_string()),
            Some(("fetched", v)) => fetched = v.parse().ok(),
            _ => {}
        }
    }
    let policy = sts::parse(text).ok()?;
    Some(Cached {
        id: id?,
        fetched: fetched?,
        policy,
        text: text.to_string(),
    })
}

/// How long a policy fetched at `fetched` still holds at `now` (for the tests' words).
#[cfg(test)]
fn left(c: &Cached, now: u64) -> std::time::Duration {
    std::time::Duration::from_secs(
        c.fetched
            .saturating_add(c.policy.max_age.as_secs())
            .saturating_sub(now),
    )
}

#[cfg(test)]
mod tests;
