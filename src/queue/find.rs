//! Finding messages for the status page: a search text (ID, sender, recipient, domain,
//! subject), state, destination and time filters, and a page of the matches. Pure: the
//! scheduler thread runs it over the recently finished, and over the queue's hits in its
//! `index` (the filters alone over the whole queue).

use super::snapshot::{MessageView, Shown};
use crate::smtp::{Address, ReversePath};
use crate::spool::envelope::Envelope;
use crate::time::Timestamp;

/// Messages per page.
pub const PAGE: usize = 50;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Lower-cased; empty matches everything.
    pub text: String,
    /// A message matches when one of its recipients is in this state.
    pub state: Option<Shown>,
    /// A message matches when one of its recipients is at this domain (lower-cased).
    pub dest: Option<String>,
    /// From 0.
    pub page: usize,
    /// A message matches when it arrived at or after this...
    pub since: Option<Timestamp>,
    /// ...and before this.
    pub before: Option<Timestamp>,
}

/// What a search looks at in a message besides its recipients.
#[derive(Debug, Clone, Copy)]
pub struct Matched<'a> {
    pub id: &'a str,
    pub arrival: Timestamp,
    /// Local part and domain; `None`: the null sender `<>`.
    pub sender: Option<(&'a str, &'a str)>,
    pub subject: Option<&'a str>,
}

/// One page of what matched, newest first: the queue's, then the recently finished.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// Matches in all.
    pub total: usize,
    pub messages: Vec<MessageView>,
}

impl Query {
    pub fn new(text: &str, state: Option<Shown>, dest: Option<&str>, page: usize) -> Query {
        Query {
            text: text.trim().to_lowercase(),
            state,
            dest: dest
                .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|d| !d.is_empty()),
            page,
            since: None,
            before: None,
        }
    }

    /// Only the messages that arrived in `[since, before)`.
    pub fn arrived(mut self, since: Option<Timestamp>, before: Option<Timestamp>) -> Query {
        self.since = since;
        self.before = before;
        self
    }

    /// Whether a message matches; `busy` marks its recipients in an attempt now; `subject`
    /// is given when known (finished messages).
    pub fn matches(&self, env: &Envelope, busy: &[bool], subject: Option<&str>) -> bool {
        let sender = match &env.sender {
            ReversePath::Mailbox(a) => Some((a.local.as_str(), a.domain.as_str())),
            ReversePath::Null => None,
        };
        let recipients = env.recipients.iter().enumerate().map(|(i, r)| {
            let busy = busy.get(i).copied().unwrap_or(false);
            let tries = r.direct_tries + r.relay_tries;
            let state = Shown::of(r.state, busy, env.held, tries);
            (r.address.local.as_str(), r.address.domain.as_str(), state)
        });
        let m = Matched {
            id: env.id.as_str(),
            arrival: env.arrival,
            sender,
            subject,
        };
        self.matches_parts(&m, recipients)
    }

    /// Whether a message given by its parts matches: `recipients` yields each one's local
    /// part, domain and state (a finished message's compact listing has no envelope).
    pub fn matches_parts<'a>(
        &self,
        m: &Matched,
        recipients: impl Iterator<Item = (&'a str, &'a str, Shown)> + Clone,
    ) -> bool {
        if self.since.is_some_and(|t| m.arrival < t) || self.before.is_some_and(|t| m.arrival >= t)
        {
            return false;
        }
        if let Some(want) = self.state
            && !recipients.clone().any(|(_, _, state)| state == want)
        {
            return false;
        }
        if let Some(dest) = &self.dest
            && !recipients
                .clone()
                .any(|(_, domain, _)| domain.eq_ignore_ascii_case(dest))
        {
            return false;
        }
        if self.text.is_empty() {
            return true;
        }
        let has = |s: &str| contains(s, &self.text);
        let sender = match m.sender {
            Some((local, domain)) => address_has(local, domain, &self.text),
            None => has("<>"),
        };
        has(m.id)
            || sender
            || recipients
                .into_iter()
                .any(|(local, domain, _)| address_has(local, domain, &self.text))
            || m.subject.is_some_and(has)
    }

    /// Whether it takes every message (no text, no filter).
    pub fn takes_all(&self) -> bool {
        let Query {
            text,
            state,
            dest,
            page: _,
            since,
            before,
        } = self;
        text.is_empty() && state.is_none() && dest.is_none() && since.is_none() && before.is_none()
    }

    /// The matches' places on this page (those of them there are).
    pub fn window(&self) -> std::ops::Range<usize> {
        let start = self.page * PAGE;
        start..start + PAGE
    }
}

/// Whether `local@domain` contains `needle` (lower-cased), without writing it out: with one
/// `@` in the needle, the local part must end with what is before it and the domain start
/// with what is after.
fn address_has(local: &str, domain: &str, needle: &str) -> bool {
    match needle.split_once('@') {
        None => contains(local, needle) || contains(domain, needle),
        Some((l, d)) if !d.contains('@') && [l, d, local, domain].iter().all(|s| s.is_ascii()) => {
            let (local, domain) = (local.as_bytes(), domain.as_bytes());
            local.len() >= l.len()
                && domain.len() >= d.len()
                && local[local.len() - l.len()..].eq_ignore_ascii_case(l.as_bytes())
                && domain[..d.len()].eq_ignore_ascii_case(d.as_bytes())
        }
        Some(_) => contains(&Address::new(local, domain).to_string(), needle),
    }
}

/// Whether `hay` contains `needle` (given lower-cased), ignoring case; without allocating
/// when both are ASCII.
pub fn contains(hay: &str, needle: &str) -> bool {
    if !(hay.is_ascii() && needle.is_ascii()) {
        return hay.to_lowercase().contains(needle);
    }
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let Some(&first) = n.first() else {
        return true;
    };
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    h.len() >= n.len()
        && h[..=h.len() - n.len()]
            .iter()
            .enumerate()
            .any(|(i, &b)| (b == lower || b == upper) && h[i..i + n.len()].eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::scheduler::tests::env;
    use crate::spool::envelope::RecipientState;

    #[test]
    fn finds_by_each_field_and_filter() {
        let mut e = env(7, &["Bob@Y.test", "carol@z.test"]);
        e.recipients[1].state = RecipientState::Delivered;
        let id = e.id.as_str().to_string();
        let q = |text: &str, state, dest| Query::new(text, state, dest, 0);
        let yes = [
            q("", None, None),
            q(&id[4..10].to_lowercase(), None, None),
            q("SENDER.test", None, None),
            q("bob@y", None, None),
            q("z.test", None, None),
            q("", Some(Shown::Queued), None),
            q("", Some(Shown::Delivered), Some("Z.TEST.")),
            q("hello", None, None),
        ];
        for query in &yes {
            assert!(query.matches(&e, &[], Some("Hello there")), "{query:?}");
        }
        let no = [
            q("nobody", None, None),
            q("", Some(Shown::Failed), None),
            q("", None, Some("x.test")),
            q("", Some(Shown::Queued), None),
        ];
        let busy = [true, false];
        for query in &no {
            assert!(!query.matches(&e, &busy, None), "{query:?}");
        }
    }

    #[test]
    fn the_time_range_is_since_inclusive_before_exclusive() {
        let e = env(7, &["bob@y.test"]);
        let at = e.arrival;
        let later = at.plus(std::time::Duration::from_secs(1));
        let q = |since, before| Query::new("", None, None, 0).arrived(since, before);
        for (query, want) in [
            (q(None, None), true),
            (q(Some(at), None), true),
            (q(Some(later), None), false),
            (q(None, Some(later)), true),
            (q(None, Some(at)), false),
            (q(Some(at), Some(later)), true),
        ] {
            assert_eq!(query.matches(&e, &[], None), want, "{query:?}");
        }
    }

    #[test]
    fn contains_ignores_case() {
        for (hay, needle, want) in [
            ("Invoice March", "march", true),
            ("Invoice March", "", true),
            ("Invoice", "invoices", false),
            ("Grüße aus KÖLN", "köln", true),
            ("abc", "ö", false),
        ] {
            assert_eq!(contains(hay, needle), want, "{hay} {needle}");
        }
        for (needle, want) in [
            ("smith@y.t", true),
            ("bob.smith@y.test", true),
            ("@y", true),
            ("smith@", true),
            ("bob@y", false),
            ("y.test", true),
            ("a@b@c", false),
        ] {
            assert_eq!(address_has("Bob.Smith", "Y.test", needle), want, "{needle}");
        }
    }

    #[test]
    fn pages_are_windows_of_the_matches() {
        let q = |page| Query::new("", None, None, page);
        assert_eq!(q(0).window(), 0..PAGE);
        assert_eq!(q(2).window(), 2 * PAGE..3 * PAGE);
    }
}
