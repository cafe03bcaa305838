//! The status page's text search over the queue: one compact, lower-cased text of every
//! queued message's recipients and subject (the envelope's, as the intake read it), its
//! sender as a number into a table of the senders' texts (a newsletter's one sender is kept
//! once, not per message), and its ID, searched for a needle without walking the envelopes.
//! Pure; the scheduler thread keeps it, and adds a message once (it knows what it holds).
//! An envelope from before subjects were kept names its message in `take_unsubjected` (the
//! thread has its subject read in the background, once). A message that left the queue
//! stays in the text until the next compaction: the caller checks hits against the queue.

use crate::spool::envelope::Envelope;
use crate::spool::id::MessageId;
use std::collections::HashMap;

/// Messages that left the queue the index may hold beyond as many as are queued (`tidy`).
const SLACK: usize = 1024;

/// Records end with this; fields are separated by `SEP` (neither is in a needle).
const END: u8 = b'\n';
const SEP: u8 = 0;

/// Lower-cased records, one after the other, each ending with `END`, and whose each is.
#[derive(Debug, Default)]
struct Records {
    text: Vec<u8>,
    /// Where each record starts in `text` (ascending), and its owner (a slot or a sender).
    starts: Vec<(u32, u32)>,
}

impl Records {
    fn push(&mut self, owner: u32, fields: &[&str]) {
        self.starts.push((self.text.len() as u32, owner));
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                self.text.push(SEP);
            }
            let lower = field.to_lowercase();
            self.text.extend(
                lower
                    .bytes()
                    .map(|b| if b == END || b == SEP { b' ' } else { b }),
            );
        }
        self.text.push(END);
    }

    /// Calls `hit` with the owner of each record containing `needle` (not empty, without
    /// `SEP` or `END`), once per record.
    fn find(&self, needle: &[u8], mut hit: impl FnMut(u32)) {
        let text = &self.text[..];
        let mut at = 0;
        while let Some(p) = text[at..].iter().position(|&b| b == needle[0]) {
            let p = at + p;
            if text.len() - p < needle.len() {
                break;
            }
            if &text[p..p + needle.len()] != needle {
                at = p + 1;
                continue;
            }
            // The record it is in; the search goes on after that record.
            let record = self.starts.partition_point(|&(s, _)| s as usize <= p) - 1;
            hit(self.starts[record].1);
            at = self.end(record);
        }
    }

    fn end(&self, record: usize) -> usize {
        self.starts
            .get(record + 1)
            .map_or(self.text.len(), |&(s, _)| s as usize)
    }

    /// The records `owner` maps to a new owner, in order, with that owner.
    fn kept(&self, owner: impl Fn(u32) -> Option<u32>) -> Records {
        let mut out = Records::default();
        for (i, &(start, old)) in self.starts.iter().enumerate() {
            if let Some(new) = owner(old) {
                out.starts.push((out.text.len() as u32, new));
                out.text
                    .extend_from_slice(&self.text[start as usize..self.end(i)]);
            }
        }
        out
    }
}

#[derive(Debug, Default)]
pub struct Index {
    /// Per slot: `rcpt SEP rcpt SEP subject END` (for an older envelope without its subject,
    /// `subject END` comes later as a record of its own). Neither the ID (`slots` has it: 17
    /// of the 153 bytes an indexed message cost, issue 20) nor the sender (`sender_of_slot`).
    records: Records,
    /// The message of each slot.
    slots: Vec<MessageId>,
    /// The sender of each slot, a number into `senders`.
    sender_of_slot: Vec<u32>,
    /// One record per distinct sender, owned by its number.
    senders: Records,
    sender_number: HashMap<Box<str>, u32>,
    /// Slots of older envelopes whose subject has not been asked for yet.
    unsubjected: Vec<u32>,
}

impl Index {
    /// A queued message's ID, sender, recipients and subject. The caller adds a message
    /// once (the scheduler thread adds what its queue did not hold yet).
    pub fn add(&mut self, env: &Envelope) {
        let slot = self.slots.len() as u32;
        self.slots.push(env.id.clone());
        let sender = self.sender(&env.sender.to_string());
        self.sender_of_slot.push(sender);
        let mut fields: Vec<String> = env
            .recipients
            .iter()
            .map(|r| r.address.to_string())
            .collect();
        match &env.subject {
            Some(subject) => fields.push(subject.clone()),
            None => self.unsubjected.push(slot),
        }
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        self.records.push(slot, &fields);
    }

    fn sender(&mut self, sender: &str) -> u32 {
        if let Some(&n) = self.sender_number.get(sender) {
            return n;
        }
        let n = self.sender_number.len() as u32;
        self.sender_number.insert(sender.into(), n);
        self.senders.push(n, &[sender]);
        n
    }

    /// The messages of older envelopes whose subject is wanted (each is asked for once).
    pub fn take_unsubjected(&mut self) -> Vec<MessageId> {
        std::mem::take(&mut self.unsubjected)
            .into_iter()
            .map(|slot| self.slots[slot as usize].clone())
            .collect()
    }

    /// Subjects, read from the message files, for messages `take_unsubjected` named.
    pub fn subjects(&mut self, subjects: Vec<(MessageId, String)>) {
        let mut wanted: HashMap<MessageId, String> = subjects.into_iter().collect();
        for slot in 0..self.slots.len() {
            if wanted.is_empty() {
                break;
            }
            if let Some(subject) = wanted.remove(&self.slots[slot]) {
                self.records.push(slot as u32, &[&subject]);
            }
        }
    }

    /// The messages whose text contains `needle` (lower-cased, not empty), each once, in no
    /// particular order.
    pub fn find(&self, needle: &str) -> Vec<&MessageId> {
        let n = needle.as_bytes();
        if n.is_empty() || n.contains(&SEP) || n.contains(&END) {
            return Vec::new();
        }
        let mut seen = vec![false; self.slots.len()];
        let mut out = Vec::new();
        let mut hit = |slot: u32| {
            if !std::mem::replace(&mut seen[slot as usize], true) {
                out.push(&self.slots[slot as usize]);
            }
        };
        self.records.find(n, &mut hit);
        let mut by_sender = vec![false; self.sender_number.len()];
        self.senders
            .find(n, |sender| by_sender[sender as usize] = true);
        for (slot, &sender) in self.sender_of_slot.iter().enumerate() {
            if by_sender[sender as usize] {
                hit(slot as u32);
            }
        }
        for (slot, id) in self.slots.iter().enumerate() {
            if contains_lowered(id.as_str().as_bytes(), n) {
                hit(slot as u32);
            }
        }
        out
    }

    /// Messages indexed, including those that left the queue since the last compaction.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Compacts (`keep`: whether a message is still queued) once the messages that left the
    /// queue are most of the index: `queued` are in the queue. The scheduler thread calls it
    /// at every message it adds, so that a running server's index holds what is queued and
    /// at most as many again (plus `SLACK`), whether or not anyone searches (issue 20: kept
    /// until the next search, the index of 20,000 messages passing through held 1.5 MB).
    /// The cost is one pass over the index per `SLACK` messages at least.
    pub fn tidy(&mut self, queued: usize, keep: impl Fn(&MessageId) -> bool) {
        if self.len() > 2 * queued + SLACK {
            self.compact(keep);
        }
    }

    /// Drops the messages `keep` says no to (those that left the queue), and the senders no
    /// kept message has.
    pub fn compact(&mut self, keep: impl Fn(&MessageId) -> bool) {
        let old = std::mem::take(self);
        let mut slot_of = vec![None; old.slots.len()];
        let mut sender_of = vec![None; old.sender_number.len()];
        let mut senders = 0;
        for (slot, id) in old.slots.into_iter().enumerate() {
            if !keep(&id) {
                continue;
            }
            slot_of[slot] = Some(self.slots.len() as u32);
            self.slots.push(id);
            let sender = &mut sender_of[old.sender_of_slot[slot] as usize];
            let new = *sender.get_or_insert_with(|| {
                senders += 1;
                senders - 1
            });
            self.sender_of_slot.push(new);
        }
        self.records = old.records.kept(|slot| slot_of[slot as usize]);
        self.senders = old.senders.kept(|sender| sender_of[sender as usize]);
        self.sender_number = old
            .sender_number
            .into_iter()
            .filter_map(|(text, n)| Some((text, sender_of[n as usize]?)))
            .collect();
        self.unsubjected = old
            .unsubjected
            .into_iter()
            .filter_map(|slot| slot_of[slot as usize])
            .collect();
    }
}

/// Whether `hay`, lower-cased (ASCII: an ID), contains `needle` (lower-cased already).
fn contains_lowered(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len()
        && hay.windows(needle.len()).any(|w| {
            w.iter()
                .zip(needle)
                .all(|(h, n)| h.to_ascii_lowercase() == *n)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::scheduler::tests::env;

    #[test]
    fn messages_passing_through_do_not_pile_up_in_the_index() {
        // As the scheduler thread does: add, then tidy against the queue, 40 queued at a time
        // (the throughput benchmark's load), 20,000 messages in all, nobody searching.
        let mut queue = std::collections::VecDeque::new();
        let mut index = Index::default();
        let mut most = 0;
        for n in 0..20_000 {
            let mut e = env(n, &[&format!("r{n}@y.test")]);
            e.subject = Some(format!("issue {n}"));
            index.add(&e);
            queue.push_back(e.id);
            if queue.len() > 40 {
                queue.pop_front();
            }
            index.tidy(queue.len(), |id| queue.contains(id));
            most = most.max(index.len());
        }
        assert!(most <= 2 * 40 + SLACK + 1, "at most {most} indexed");
        assert!(index.records.text.capacity() < 64 << 10, "text kept small");
        assert!(index.slots.capacity() <= 4 * SLACK, "slots kept small");
        let hits: Vec<&MessageId> = index.find("issue 19999");
        assert_eq!(hits, [queue.back().unwrap()], "the queued are still found");
        assert!(index.find("issue 100").is_empty(), "long gone, dropped");
        // A queue that holds what it indexes is never compacted: nothing to gain.
        let before = index.len();
        index.tidy(before, |_| false);
        assert_eq!(index.len(), before);
    }

    #[test]
    fn senders_are_kept_once_and_dropped_with_their_last_message() {
        use crate::smtp::{Address, ReversePath};
        let from = |n, sender: &str| {
            let mut e = env(n, &[&format!("r{n}@y.test")]);
            let (l, d) = sender.split_once('@').unwrap();
            e.sender = ReversePath::Mailbox(Address::new(l, d));
            e.subject = Some(String::new());
            e
        };
        let (a, b, c) = (
            from(1, "news@a.test"),
            from(2, "Ann@B.test"),
            from(3, "news@a.test"),
        );
        let mut index = Index::default();
        for e in [&a, &b, &c] {
            index.add(e);
        }
        assert_eq!(index.sender_number.len(), 2, "news@a.test once");
        let found = |index: &Index, needle: &str| {
            let mut ids: Vec<String> = index.find(needle).iter().map(|i| i.to_string()).collect();
            ids.sort();
            ids
        };
        assert_eq!(found(&index, "news@"), [a.id.to_string(), c.id.to_string()]);
        assert_eq!(found(&index, "ann@b"), [b.id.to_string()]);
        assert!(found(&index, "testr").is_empty(), "no match across fields");
        index.compact(|id| *id != b.id);
        assert_eq!(index.sender_number.len(), 1, "b's sender went with it");
        assert!(found(&index, "b.test").is_empty());
        assert_eq!(
            found(&index, "a.test"),
            [a.id.to_string(), c.id.to_string()]
        );
        let d = from(4, "ann@b.test");
        index.add(&d);
        assert_eq!(found(&index, "ann@"), [d.id.to_string()]);
        assert_eq!(
            found(&index, "r3@"),
            [c.id.to_string()],
            "records moved with their slots"
        );
    }

    #[test]
    fn finds_by_id_sender_recipient_domain_and_subject_each_message_once() {
        let mut index = Index::default();
        let mut a = env(1, &["Bob.Smith@Y.test", "carol@z.test"]);
        a.subject = Some("Monthly Report".into());
        // An envelope from before subjects were kept: its subject is asked for.
        let b = env(2, &["dave@y.test"]);
        index.add(&a);
        index.add(&b);
        assert_eq!(index.take_unsubjected(), vec![b.id.clone()]);
        assert!(index.take_unsubjected().is_empty(), "asked once");
        assert_eq!(index.find("monthly report"), [&a.id], "the envelope's own");
        index.subjects(vec![(b.id.clone(), "Grüße\nInvoice MARCH".into())]);
        fn found_in(index: &Index, needle: &str) -> Vec<String> {
            let mut ids: Vec<String> = index.find(needle).iter().map(|i| i.to_string()).collect();
            ids.sort();
            ids
        }
        let found = |needle: &str| found_in(&index, needle);
        let both = vec![a.id.as_str(), b.id.as_str()];
        assert_eq!(found("y.test"), both, "a domain, once for a");
        assert_eq!(found("smith@y.t"), [a.id.as_str()]);
        assert_eq!(found("sender.test"), both);
        assert_eq!(found(&a.id.as_str()[8..].to_lowercase()), [a.id.as_str()]);
        assert_eq!(found("invoice march"), [b.id.as_str()]);
        assert_eq!(
            found("grüße invoice"),
            [b.id.as_str()],
            "the line end is a space"
        );
        assert!(found("test\u{0}").is_empty() && found("nobody").is_empty());
        assert!(found("z.testdave").is_empty(), "no match across records");
        index.compact(|id| *id == b.id);
        assert_eq!(index.len(), 1);
        assert_eq!(found_in(&index, "y.test"), [b.id.as_str()]);
        assert_eq!(
            found_in(&index, "sender.test"),
            [b.id.as_str()],
            "the sender table is kept for the kept message"
        );
        assert_eq!(
            found_in(&index, "march"),
            [b.id.as_str()],
            "the subject is kept"
        );
        let mut c = env(3, &["eve@x.test"]);
        c.subject = Some(String::new());
        index.add(&c);
        assert!(
            index.take_unsubjected().is_empty(),
            "no subject is a subject"
        );
        assert_eq!(found_in(&index, "x.test"), [c.id.as_str()]);
        assert!(
            found_in(&index, "report").is_empty(),
            "a left with the compaction"
        );
    }
}
