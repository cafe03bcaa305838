//! Finding messages for the status page: a search text (ID, sender, recipient, domain,
//! subject), a state and a destination filter, and a page of the matches. Pure: the scheduler
//! thread runs it over the queue and the recently finished.

use super::snapshot::{MessageView, Shown};
use crate::smtp::{Address, ReversePath};
use crate::spool::envelope::Envelope;
use crate::spool::id::MessageId;
use std::collections::HashSet;

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
    /// Queued messages whose subject, sender or recipients contain `text`, as the status page
    /// finds them in the message and envelope files it reads and caches (subjects are not in
    /// the queue, and most queued messages' addresses are not in its memory).
    pub subject_hits: HashSet<MessageId>,
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
            subject_hits: HashSet::new(),
        }
    }

    /// Whether a message matches; `busy` marks its recipients in an attempt now; `subject`
    /// is given when known (finished messages).
    pub fn matches(&self, env: &Envelope, busy: &[bool], subject: Option<&str>) -> bool {
        let recipients = || env.recipients.iter().enumerate();
        if let Some(want) = self.state {
            let tries = |r: &crate::spool::envelope::Recipient| r.direct_tries + r.relay_tries;
            let has = recipients().any(|(i, r)| {
                let busy = busy.get(i).copied().unwrap_or(false);
                Shown::of(r.state, busy, env.held, tries(r)) == want
            });
            if !has {
                return false;
            }
        }
        if let Some(dest) = &self.dest
            && !recipients().any(|(_, r)| r.address.domain.eq_ignore_ascii_case(dest))
        {
            return false;
        }
        if self.text.is_empty() {
            return true;
        }
        let has = |s: &str| contains(s, &self.text);
        let sender = match &env.sender {
            ReversePath::Mailbox(a) => address_has(a, &self.text),
            ReversePath::Null => has("<>"),
        };
        has(env.id.as_str())
            || sender
            || recipients().any(|(_, r)| address_has(&r.address, &self.text))
            || self.subject_hits.contains(&env.id)
            || subject.is_some_and(has)
    }

    /// The matches' range on this page, of `total`.
    pub fn window(&self, total: usize) -> std::ops::Range<usize> {
        let start = (self.page * PAGE).min(total);
        start..(start + PAGE).min(total)
    }
}

/// Whether `local@domain` contains `needle` (lower-cased), without writing it out: with one
/// `@` in the needle, the local part must end with what is before it and the domain start
/// with what is after.
fn address_has(a: &Address, needle: &str) -> bool {
    match needle.split_once('@') {
        None => contains(&a.local, needle) || contains(&a.domain, needle),
        Some((l, d))
            if !d.contains('@') && [l, d, &a.local, &a.domain].iter().all(|s| s.is_ascii()) =>
        {
            let (local, domain) = (a.local.as_bytes(), a.domain.as_bytes());
            local.len() >= l.len()
                && domain.len() >= d.len()
                && local[local.len() - l.len()..].eq_ignore_ascii_case(l.as_bytes())
                && domain[..d.len()].eq_ignore_ascii_case(d.as_bytes())
        }
        Some(_) => contains(&a.to_string(), needle),
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
        let mut by_subject = q("greetings", None, None);
        assert!(!by_subject.matches(&e, &[], None));
        by_subject.subject_hits.insert(e.id.clone());
        assert!(by_subject.matches(&e, &[], None));
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
        let bob = Address::new("Bob.Smith", "Y.test");
        for (needle, want) in [
            ("smith@y.t", true),
            ("bob.smith@y.test", true),
            ("@y", true),
            ("smith@", true),
            ("bob@y", false),
            ("y.test", true),
            ("a@b@c", false),
        ] {
            assert_eq!(address_has(&bob, needle), want, "{needle}");
        }
    }

    #[test]
    fn pages_are_windows_of_the_matches() {
        let q = |page| Query::new("", None, None, page);
        assert_eq!(q(0).window(120), 0..PAGE);
        assert_eq!(q(2).window(120), 2 * PAGE..120);
        assert_eq!(q(9).window(120), 120..120);
    }
}
