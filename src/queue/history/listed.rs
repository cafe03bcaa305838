//! A finished message as the history lists it in memory: its ID, sender, subject (cut
//! short) and recipients with their final state in one boxed text, with its arrival and size
//! as integers. About a fifth of its envelope; the rest (every attempt's result, the
//! headers, the step record) is read from the journal when its detail is asked for.

use crate::outcome::GiveUp;
use crate::queue::find::{Matched, Query};
use crate::queue::snapshot::{MessageView, RecipientView, Shown};
use crate::smtp::ReversePath;
use crate::spool::envelope::{Envelope, RecipientState};
use crate::spool::id::MessageId;
use crate::time::Timestamp;

/// Subjects are listed up to this many characters (the journal has them whole).
pub const SUBJECT_CHARS: usize = 100;
/// A failed recipient's last result is listed up to this many characters (a delivered
/// one's only in the journal).
pub const REASON_CHARS: usize = 120;

/// Between the fields of the text; between an address and its reason.
const FIELD: char = '\u{1f}';
const REASON: char = '\u{1e}';

/// `ID FIELD SENDER FIELD SUBJECT` then per recipient `FIELD STATE GIVEUP DIRECT,RELAY
/// ADDRESS [REASON TEXT]`, where STATE and GIVEUP are one letter each and DIRECT and RELAY its
/// tries; the null sender is empty, so is a missing subject. Control characters of the texts are listed as spaces (the separators
/// never occur in a field).
/// Owned in memory (`Box<str>`), or borrowed from a list file's line (`&str`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T = Box<str>> {
    pub arrival: Timestamp,
    pub size: u64,
    text: T,
}

/// The ID a listing's text starts with.
pub fn id_of(text: &str) -> &str {
    text.split(FIELD).next().unwrap_or("")
}

/// A first look at a list file's line, before it is read as a listing: false only when the
/// message cannot match. The search text: when it is ASCII with at most one `@` and none of
/// `<>"\\`, every field the search looks at is in the line as written, found ignoring case
/// as `find::contains` does (ASCII case, or the line lower-cased whole). The destination:
/// `@DOMAIN` is in the line, ignoring ASCII case. The state: a field starts with its letter.
#[derive(Debug, Default)]
pub struct Glance {
    text: Option<String>,
    dest: Option<String>,
    state: Option<String>,
    lower: Vec<u8>,
}

impl Glance {
    pub fn new(query: &Query) -> Glance {
        let t = &query.text;
        let plain =
            t.is_ascii() && t.matches('@').count() <= 1 && !t.contains(['<', '>', '"', '\\']);
        Glance {
            text: (plain && !t.is_empty()).then(|| t.clone()),
            dest: query.dest.as_ref().map(|d| format!("@{d}")),
            state: query.state.map(|s| format!("{FIELD}{}", state_letter(s))),
            lower: Vec::new(),
        }
    }

    /// Whether a line of `lines` (list file lines, whole) may match: when not, none of them
    /// is looked at.
    pub fn may_hold(&mut self, lines: &str) -> bool {
        self.check(lines, lines.is_ascii())
    }

    pub fn may_match(&mut self, line: &str) -> bool {
        self.check(line, true)
    }

    /// The look, at the search text too when `text`.
    fn check(&mut self, line: &str, text: bool) -> bool {
        if self
            .state
            .as_ref()
            .is_some_and(|s| !line.contains(s.as_str()))
        {
            return false;
        }
        let text = self.text.as_deref().filter(|_| text);
        if text.is_none() && self.dest.is_none() {
            return true;
        }
        self.lower.clear();
        self.lower.extend_from_slice(line.as_bytes());
        self.lower.make_ascii_lowercase();
        let lower = std::str::from_utf8(&self.lower).unwrap_or_default();
        if self
            .dest
            .as_ref()
            .is_some_and(|d| !lower.contains(d.as_str()))
        {
            return false;
        }
        match text {
            None => true,
            Some(t) if line.is_ascii() => lower.contains(t),
            Some(t) => line.to_lowercase().contains(t),
        }
    }
}

/// One recipient as listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listee<'a> {
    pub address: &'a str,
    pub state: Shown,
    pub gave_up: Option<GiveUp>,
    pub direct_tries: u32,
    pub relay_tries: u32,
    /// The last result, failed recipients only.
    pub reason: Option<&'a str>,
}

impl Listed {
    pub fn of(env: &Envelope, subject: Option<&str>) -> Listed {
        let mut text = String::with_capacity(64 + 40 * env.recipients.len());
        text.push_str(env.id.as_str());
        text.push(FIELD);
        if let ReversePath::Mailbox(a) = &env.sender {
            push_clean(&mut text, &a.to_string(), usize::MAX);
        }
        text.push(FIELD);
        if let Some(s) = subject {
            push_clean(&mut text, s, SUBJECT_CHARS);
        }
        for r in &env.recipients {
            let tries = r.direct_tries + r.relay_tries;
            let state = Shown::of(r.state, false, env.held, tries);
            let failed = r.state == RecipientState::Failed;
            text.push(FIELD);
            text.push(state_letter(state));
            text.push(give_up_letter(r.gave_up.filter(|_| failed)));
            text.push_str(&format!("{},{} ", r.direct_tries, r.relay_tries));
            push_clean(&mut text, &r.address.to_string(), usize::MAX);
            if let Some(reason) = r.last_result.as_deref().filter(|_| failed) {
                text.push(REASON);
                push_clean(&mut text, reason, REASON_CHARS);
            }
        }
        Listed {
            arrival: env.arrival,
            size: env.size,
            text: text.into_boxed_str(),
        }
    }
}

impl<T: AsRef<str>> Listed<T> {
    /// As `text` gives it (a list file's line).
    pub fn from_text(arrival: Timestamp, size: u64, text: T) -> Listed<T> {
        Listed {
            arrival,
            size,
            text,
        }
    }

    /// The whole text, as a list file keeps it.
    pub fn text(&self) -> &str {
        self.text.as_ref()
    }

    fn field(&self, n: usize) -> &str {
        self.text().split(FIELD).nth(n).unwrap_or("")
    }

    pub fn id(&self) -> &str {
        self.field(0)
    }

    /// `local@domain`; empty for the null sender.
    pub fn sender(&self) -> &str {
        self.field(1)
    }

    pub fn subject(&self) -> Option<&str> {
        Some(self.field(2)).filter(|s| !s.is_empty())
    }

    pub fn recipients(&self) -> impl Iterator<Item = Listee<'_>> + Clone {
        self.text().split(FIELD).skip(3).map(|f| {
            let mut chars = f.chars();
            let state = chars.next().map_or(Shown::Failed, state_of);
            let gave_up = chars.next().and_then(give_up_of);
            let (tries, rest) = chars.as_str().split_once(' ').unwrap_or(("", ""));
            let (direct, relay) = tries.split_once(',').unwrap_or(("", ""));
            let (address, reason) = match rest.split_once(REASON) {
                Some((a, r)) => (a, Some(r)),
                None => (rest, None),
            };
            Listee {
                address,
                state,
                gave_up,
                direct_tries: direct.parse().unwrap_or(0),
                relay_tries: relay.parse().unwrap_or(0),
                reason,
            }
        })
    }

    pub fn matches(&self, query: &Query) -> bool {
        // One pass over the text: the three fields, then the recipients' states and
        // addresses (their tries and reasons are not looked at).
        let mut fields = self.text().splitn(4, FIELD);
        let (id, sender, subject) = (
            fields.next().unwrap_or(""),
            fields.next().unwrap_or(""),
            fields.next().unwrap_or(""),
        );
        let rest = fields.next();
        let m = Matched {
            id,
            arrival: self.arrival,
            sender: (!sender.is_empty()).then(|| sender.rsplit_once('@').unwrap_or((sender, ""))),
            subject: Some(subject).filter(|s| !s.is_empty()),
        };
        let recipients = rest.into_iter().flat_map(|r| r.split(FIELD)).map(|f| {
            let state = f.chars().next().map_or(Shown::Failed, state_of);
            let after = f.split_once(' ').map_or("", |(_, a)| a);
            let address = after.split_once(REASON).map_or(after, |(a, _)| a);
            let (local, domain) = address.rsplit_once('@').unwrap_or((address, ""));
            (local, domain, state)
        });
        query.matches_parts(&m, recipients)
    }

    /// As the page lists it, `finished` at that time.
    pub fn view(&self, finished: Timestamp) -> MessageView {
        let sender = match self.sender() {
            "" => "<>".to_string(),
            s => format!("<{s}>"),
        };
        MessageView {
            id: MessageId::parse(self.id()).unwrap_or_else(|| MessageId::from_parts(0, 0)),
            arrival: self.arrival,
            sender,
            size: self.size,
            subject: self.subject().map(str::to_string),
            held: false,
            finished: Some(finished),
            recipients: self
                .recipients()
                .map(|r| RecipientView {
                    address: r.address.to_string(),
                    state: r.state,
                    next_try: None,
                    last_result: r.reason.map(str::to_string),
                    direct_tries: r.direct_tries,
                    relay_tries: r.relay_tries,
                    gave_up: r.gave_up,
                    waiting: None,
                    notice_pending: false,
                })
                .collect(),
        }
    }

    /// Bytes it holds, with what it owns on the heap.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Listed>() + self.text().len()
    }
}

/// `s` without control characters, up to `max` characters (`…` marks a cut).
fn push_clean(out: &mut String, s: &str, max: usize) {
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            return;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
}

fn state_letter(s: Shown) -> char {
    match s {
        Shown::Queued => 'q',
        Shown::Sending => 's',
        Shown::Deferred => 'd',
        Shown::Held => 'h',
        Shown::Delivered => 'D',
        Shown::Failed => 'F',
    }
}

fn state_of(c: char) -> Shown {
    Shown::ALL
        .into_iter()
        .find(|s| state_letter(*s) == c)
        .unwrap_or(Shown::Failed)
}

fn give_up_letter(g: Option<GiveUp>) -> char {
    match g {
        None => '-',
        Some(GiveUp::Permanent) => 'p',
        Some(GiveUp::AttemptsUsedUp) => 'a',
        Some(GiveUp::Expired) => 'e',
    }
}

fn give_up_of(c: char) -> Option<GiveUp> {
    [GiveUp::Permanent, GiveUp::AttemptsUsedUp, GiveUp::Expired]
        .into_iter()
        .find(|g| give_up_letter(Some(*g)) == c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::scheduler::tests::env;
    use crate::queue::scheduler::view::view_of;

    #[test]
    fn lists_what_the_page_shows_and_finds_by_every_field() {
        let mut e = env(7, &["Bob@Y.test", "carol@z.test", "dan@z.test"]);
        e.recipients[0].state = RecipientState::Delivered;
        e.recipients[0].last_result = Some("250 2.0.0 queued as 42".into());
        e.recipients[1].state = RecipientState::Failed;
        e.recipients[1].gave_up = Some(GiveUp::Expired);
        e.recipients[1].last_result = Some("421 try\u{1f} later".into());
        e.recipients[2].direct_tries = 2;
        e.recipients[2].relay_tries = 13;
        e.recipients[2].address.local = "dan smith".into();
        let subject = format!("Invoice\tMarch {}", "x".repeat(200));
        let listed = Listed::of(&e, Some(&subject));

        let full = view_of(&e, &[], Some(e.arrival));
        let view = listed.view(e.arrival);
        assert_eq!(
            (&view.id, &view.sender, view.size),
            (&full.id, &full.sender, full.size)
        );
        let shown: Vec<_> = view
            .recipients
            .iter()
            .map(|r| (&r.address, r.state, r.direct_tries, r.relay_tries))
            .collect();
        let want: Vec<_> = full
            .recipients
            .iter()
            .map(|r| (&r.address, r.state, r.direct_tries, r.relay_tries))
            .collect();
        assert_eq!(shown, want);
        assert_eq!(view.recipients[1].gave_up, Some(GiveUp::Expired));
        // A failed recipient's reason is kept (separators made spaces), a delivered one's not.
        assert_eq!(
            view.recipients[1].last_result.as_deref(),
            Some("421 try  later")
        );
        assert_eq!(view.recipients[0].last_result, None);
        let s = view.subject.unwrap();
        assert!(s.starts_with("Invoice March xx") && s.ends_with('…'));
        assert_eq!(s.chars().count(), SUBJECT_CHARS + 1);

        let q = |text: &str, state, dest| Query::new(text, state, dest, 0);
        let id = e.id.as_str().to_string();
        for query in [
            q(&id[4..10].to_lowercase(), None, None),
            q("SENDER.test", None, None),
            q("bob@y", None, None),
            q("z.test", None, None),
            q("march xx", None, None),
            q("", Some(Shown::Deferred), Some("Z.TEST.")),
            q("", Some(Shown::Failed), None),
        ] {
            assert!(listed.matches(&query), "{query:?}");
            assert!(query.matches(&e, &[], Some(&subject)), "{query:?}");
            // The first look at the raw line never turns a match away.
            assert!(Glance::new(&query).may_match(listed.text()));
            assert!(Glance::new(&query).may_hold(listed.text()));
        }
        for query in [
            q("nobody", None, None),
            q("", Some(Shown::Queued), None),
            q("", None, Some("x.test")),
        ] {
            assert!(!Glance::new(&query).may_match(listed.text()), "{query:?}");
            // Lines not all ASCII: the text is looked for line by line only.
            let whole = query.text.is_empty();
            assert_eq!(
                Glance::new(&query).may_hold(listed.text()),
                !whole,
                "{query:?}"
            );
        }
        // It turns away a line without the text, not one it cannot judge.
        let mut g = Glance::new(&q("nobody", None, None));
        assert!(!g.may_match(listed.text()));
        assert!(g.may_match("NOBODY…"));
        assert!(g.may_hold("nöbody…"));
        assert!(Glance::new(&q("<nobody>", None, None)).may_match("x"));
        for query in [
            q("nobody", None, None),
            q("", Some(Shown::Queued), None),
            q("", None, Some("x.test")),
        ] {
            assert!(!listed.matches(&query), "{query:?}");
        }

        // The null sender is listed and found as `<>`.
        e.sender = ReversePath::Null;
        let bounce = Listed::of(&e, None);
        assert_eq!(
            (bounce.view(e.arrival).sender.as_str(), bounce.subject()),
            ("<>", None)
        );
        assert!(bounce.matches(&q("<>", None, None)));
        // Far smaller than the envelope it stands for.
        assert!(bounce.bytes() < 200, "{}", bounce.bytes());
    }
}
