//! Which messages a bulk action (`retry|hold|release|delete` with `--all`, `--domain`,
//! `--from`, `--older-than`, or the status page's search) takes: one parser for the command
//! line and the API, one matcher for the running server's queue and a stopped server's spool.
//! Pure: `now` is a parameter.

use super::find::Query;
use crate::config::value;
use crate::smtp::ReversePath;
use crate::spool::envelope::{Envelope, RecipientState};
use crate::spool::id::MessageId;
use crate::time::Timestamp;
use std::fmt;
use std::time::Duration;

/// What a bulk action does to each message it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Retry,
    Hold,
    Release,
    Delete,
}

impl Verb {
    pub const ALL: [Verb; 4] = [Verb::Retry, Verb::Hold, Verb::Release, Verb::Delete];

    pub fn name(self) -> &'static str {
        match self {
            Verb::Retry => "retry",
            Verb::Hold => "hold",
            Verb::Release => "release",
            Verb::Delete => "delete",
        }
    }

    pub fn from_name(name: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.name() == name)
    }

    /// `retried`, `held`, ... for the answers.
    pub fn done(self) -> &'static str {
        match self {
            Verb::Retry => "made due now",
            Verb::Hold => "held",
            Verb::Release => "released",
            Verb::Delete => "deleted",
        }
    }

    /// Whether the verb changes this message: hold takes the messages not held, release the
    /// held ones, retry the ones not held with a waiting recipient, delete every one. So a
    /// count before the action is the count the action changes.
    pub fn applies(self, env: &Envelope) -> bool {
        self.applies_to(env.held, env.pending().next().is_some())
    }

    /// `applies`, from whether the message is held and has a pending recipient (what the
    /// scheduler's compact record tells).
    pub fn applies_to(self, held: bool, any_pending: bool) -> bool {
        match self {
            Verb::Hold => !held,
            Verb::Release => held,
            Verb::Retry => !held && any_pending,
            Verb::Delete => true,
        }
    }
}

/// A bulk order: the verb on what the selector takes (or, on a dry run, only the count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bulk {
    pub verb: Verb,
    pub selector: Selector,
    pub dry_run: bool,
}

/// What a bulk order took: how many messages, and the first `LISTED` of their IDs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taken {
    pub count: usize,
    pub ids: Vec<MessageId>,
}

/// The most IDs a bulk answer lists (the count is always whole).
pub const LISTED: usize = 1000;

/// Who sent the message, as `--from` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum From {
    /// `<>`: bounces and other notices.
    Null,
    /// `@example.test`: any sender at that domain (lower-cased).
    Domain(String),
    /// `a@example.test` (lower-cased).
    Address(String),
}

/// The selectors given; every one given must match (they combine with "and").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// Every message (given alone, so that "all" is never a typo of something narrower).
    pub all: bool,
    /// A message with a waiting recipient at this domain (lower-cased, no final dot).
    pub domain: Option<String>,
    pub from: Option<From>,
    /// Arrived at least this long ago.
    pub older_than: Option<Duration>,
    /// Arrived by then: the moment the command was given, so that mail arriving while it is
    /// asked about or carried out is never taken.
    pub arrived_by: Option<Timestamp>,
    /// The status page's search: its text, state and destination filters.
    pub search: Option<Query>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectError {
    UnknownKey(String),
    BadValue {
        key: &'static str,
        why: String,
    },
    Twice(&'static str),
    /// No selector at all.
    Nothing,
    /// `--all` with a narrower selector.
    AllWithOthers,
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            SelectError::UnknownKey(k) => write!(f, "unknown selector {k}"),
            SelectError::BadValue { key, why } => write!(f, "{key}: {why}"),
            SelectError::Twice(key) => write!(f, "{key} given twice"),
            SelectError::Nothing => write!(
                f,
                "say which messages: --all, --domain D, --from ADDR or --older-than DURATION"
            ),
            SelectError::AllWithOthers => write!(
                f,
                "--all takes every message: leave it out when you give --domain, --from or --older-than"
            ),
        }
    }
}

/// The selector keys, as the API spells them; the command line writes `--older-than` for
/// `older_than`.
pub const KEYS: [&str; 5] = ["all", "domain", "from", "older_than", "arrived_by"];

impl Selector {
    /// Takes one selector: `key` from `KEYS` (or `older-than`), `value` as typed (`all`
    /// takes `yes`/`1`/`true`, `arrived_by` seconds since 1970, to the microsecond).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), SelectError> {
        let value = value.trim();
        let bad = |key, why: &str| SelectError::BadValue {
            key,
            why: why.to_string(),
        };
        match key {
            "all" => {
                self.all = value::boolean(value).map_err(|e| bad("all", &e))?;
                Ok(())
            }
            "domain" => {
                let d = value.trim_end_matches('.').to_ascii_lowercase();
                if d.is_empty() || d.contains(['@', ' ']) {
                    return Err(bad("domain", "expected a domain like example.test"));
                }
                once(&mut self.domain, d, "domain")
            }
            "from" => once(&mut self.from, from(value)?, "from"),
            "older_than" | "older-than" => {
                let d = value::duration(value).map_err(|e| bad("older_than", &e))?;
                once(&mut self.older_than, d, "older_than")
            }
            "arrived_by" => {
                let t = instant(value)
                    .ok_or_else(|| bad("arrived_by", "expected seconds since 1970"))?;
                once(&mut self.arrived_by, t, "arrived_by")
            }
            other => Err(SelectError::UnknownKey(other.to_string())),
        }
    }

    /// Whether the selector says which messages, and says it once.
    pub fn check(&self) -> Result<(), SelectError> {
        let narrower = self.domain.is_some()
            || self.from.is_some()
            || self.older_than.is_some()
            || self.search.is_some();
        match (self.all, narrower) {
            (true, true) => Err(SelectError::AllWithOthers),
            (false, false) => Err(SelectError::Nothing),
            _ => Ok(()),
        }
    }

    /// Whether the message is taken; `busy` marks its recipients in an attempt now (for the
    /// page's state filter).
    pub fn matches(&self, env: &Envelope, busy: &[bool], now: Timestamp) -> bool {
        if self.arrived_by.is_some_and(|t| env.arrival > t) {
            return false;
        }
        if self.older_than.is_some_and(|d| now.since(env.arrival) < d) {
            return false;
        }
        if let Some(domain) = &self.domain {
            let waiting_there = env.recipients.iter().any(|r| {
                r.state == RecipientState::Pending && r.address.domain.eq_ignore_ascii_case(domain)
            });
            if !waiting_there {
                return false;
            }
        }
        if let Some(want) = &self.from
            && !sent_by(&env.sender, want)
        {
            return false;
        }
        match &self.search {
            Some(query) => query.matches(env, busy, None),
            None => true,
        }
    }

    /// The selector as API query parameters (`domain=x.test&older_than=172800s`),
    /// percent-encoded; the search is the page's own business and is not written.
    pub fn to_query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if self.all {
            pairs.push(("all", "yes".into()));
        }
        if let Some(d) = &self.domain {
            pairs.push(("domain", d.clone()));
        }
        match &self.from {
            Some(From::Null) => pairs.push(("from", "<>".into())),
            Some(From::Domain(d)) => pairs.push(("from", format!("@{d}"))),
            Some(From::Address(a)) => pairs.push(("from", a.clone())),
            None => {}
        }
        if let Some(d) = self.older_than {
            pairs.push(("older_than", format!("{}s", d.as_secs())));
        }
        if let Some(t) = self.arrived_by {
            let micros = t.as_micros();
            pairs.push((
                "arrived_by",
                format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000),
            ));
        }
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", percent(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

fn once<T>(slot: &mut Option<T>, value: T, key: &'static str) -> Result<(), SelectError> {
    match slot.replace(value) {
        Some(_) => Err(SelectError::Twice(key)),
        None => Ok(()),
    }
}

/// Seconds since 1970, with up to six decimals (`1764000000.250000`).
fn instant(value: &str) -> Option<Timestamp> {
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if frac.len() > 6 || !all_digits(frac) || !all_digits(secs) {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    let micros: u64 = format!("{frac:0<6}").parse().ok()?;
    Some(Timestamp(secs.checked_mul(1_000_000)?.checked_add(micros)?))
}

fn from(value: &str) -> Result<From, SelectError> {
    let v = value.trim_start_matches('<').trim_end_matches('>');
    let bad = || {
        SelectError::BadValue {
        key: "from",
        why: "expected an address like a@example.test, @example.test for a whole domain, or <> for bounces".into(),
    }
    };
    if v.is_empty() {
        return match value {
            "<>" => Ok(From::Null),
            _ => Err(bad()),
        };
    }
    let v = v.to_lowercase();
    match v.split_once('@') {
        Some(("", d)) if !d.is_empty() && !d.contains('@') => {
            Ok(From::Domain(d.trim_end_matches('.').into()))
        }
        Some((l, d)) if !l.is_empty() && !d.is_empty() && !d.contains('@') => Ok(From::Address(v)),
        _ => Err(bad()),
    }
}

fn sent_by(sender: &ReversePath, want: &From) -> bool {
    match (sender, want) {
        (ReversePath::Null, From::Null) => true,
        (ReversePath::Mailbox(a), From::Domain(d)) => a.domain.eq_ignore_ascii_case(d),
        (ReversePath::Mailbox(a), From::Address(want)) => a.to_string().to_lowercase() == *want,
        (ReversePath::Null, _) | (ReversePath::Mailbox(_), From::Null) => false,
    }
}

/// Percent-encodes all but unreserved characters (and `@`).
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests;
