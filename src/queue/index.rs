//! The status page's text search over the queue: one compact, lower-cased text of every
//! queued message's sender, recipients and subject (the envelope's, as the intake read it),
//! and its ID, searched for a needle without walking the envelopes. Pure; the scheduler
//! thread keeps it. An envelope from before subjects were kept names its message in
//! `take_unsubjected` (the thread has its subject read in the background, once). A message
//! that left the queue stays in the text until the next compaction: the caller checks hits
//! against the queue.

use crate::spool::envelope::Envelope;
use crate::spool::id::MessageId;
use std::collections::HashMap;

/// Records end with this; fields are separated by `SEP` (neither is in a needle).
const END: u8 = b'\n';
const SEP: u8 = 0;

#[derive(Debug, Default)]
pub struct Index {
    /// The records, one after the other: `sender SEP rcpt SEP rcpt SEP subject END` (for an
    /// older envelope without its subject, `subject END` comes later as a record of its own).
    /// The ID is not in it: `slots` has it (a copy here was 17 of the 153 bytes an indexed
    /// message cost, issue 20).
    text: Vec<u8>,
    /// Where each record starts in `text` (ascending), and whose it is (a slot).
    starts: Vec<(u32, u32)>,
    /// The message of each slot.
    slots: Vec<MessageId>,
    slot_of: HashMap<MessageId, u32>,
    /// Slots of older envelopes whose subject has not been asked for yet.
    unsubjected: Vec<u32>,
}

impl Index {
    /// A queued message's ID, sender, recipients and subject (again after a restore: no
    /// change).
    pub fn add(&mut self, env: &Envelope) {
        if self.slot_of.contains_key(&env.id) {
            return;
        }
        let slot = self.slots.len() as u32;
        self.slots.push(env.id.clone());
        self.slot_of.insert(env.id.clone(), slot);
        let mut fields = vec![env.sender.to_string()];
        fields.extend(env.recipients.iter().map(|r| r.address.to_string()));
        match &env.subject {
            Some(subject) => fields.push(subject.clone()),
            None => self.unsubjected.push(slot),
        }
        self.push(slot, &fields);
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
        for (id, subject) in subjects {
            if let Some(&slot) = self.slot_of.get(&id) {
                self.push(slot, &[subject]);
            }
        }
    }

    fn push(&mut self, slot: u32, fields: &[String]) {
        self.starts.push((self.text.len() as u32, slot));
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

    /// The messages whose text contains `needle` (lower-cased, not empty), each once, in no
    /// particular order.
    pub fn find(&self, needle: &str) -> Vec<&MessageId> {
        let n = needle.as_bytes();
        let Some(&first) = n.first().filter(|_| !n.contains(&SEP) && !n.contains(&END)) else {
            return Vec::new();
        };
        let mut seen = vec![false; self.slots.len()];
        let mut out = Vec::new();
        let text = &self.text[..];
        let mut at = 0;
        while let Some(p) = text[at..].iter().position(|&b| b == first) {
            let p = at + p;
            if text.len() - p < n.len() {
                break;
            }
            if &text[p..p + n.len()] != n {
                at = p + 1;
                continue;
            }
            // The record it is in; the search goes on after that record.
            let record = self.starts.partition_point(|&(s, _)| s as usize <= p) - 1;
            let slot = self.starts[record].1 as usize;
            if !seen[slot] {
                seen[slot] = true;
                out.push(&self.slots[slot]);
            }
            at = self
                .starts
                .get(record + 1)
                .map_or(text.len(), |&(s, _)| s as usize);
        }
        for (slot, id) in self.slots.iter().enumerate() {
            if !seen[slot] && contains_lowered(id.as_str().as_bytes(), n) {
                out.push(id);
            }
        }
        out
    }

    /// Messages indexed, including those that left the queue since the last compaction.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Drops the messages `keep` says no to (those that left the queue).
    pub fn compact(&mut self, keep: impl Fn(&MessageId) -> bool) {
        let old = std::mem::take(self);
        let kept: Vec<Option<u32>> = old
            .slots
            .iter()
            .map(|id| keep(id).then(|| self.slot(id)))
            .collect();
        for (i, &(start, slot)) in old.starts.iter().enumerate() {
            let Some(new) = kept[slot as usize] else {
                continue;
            };
            let end = old
                .starts
                .get(i + 1)
                .map_or(old.text.len(), |&(s, _)| s as usize);
            self.starts.push((self.text.len() as u32, new));
            self.text.extend_from_slice(&old.text[start as usize..end]);
        }
        let asked: std::collections::HashSet<u32> = old.unsubjected.into_iter().collect();
        for (slot, new) in kept.iter().enumerate() {
            if let (Some(new), true) = (new, asked.contains(&(slot as u32))) {
                self.unsubjected.push(*new);
            }
        }
    }

    fn slot(&mut self, id: &MessageId) -> u32 {
        let slot = self.slots.len() as u32;
        self.slots.push(id.clone());
        self.slot_of.insert(id.clone(), slot);
        slot
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
    fn finds_by_id_sender_recipient_domain_and_subject_each_message_once() {
        let mut index = Index::default();
        let mut a = env(1, &["Bob.Smith@Y.test", "carol@z.test"]);
        a.subject = Some("Monthly Report".into());
        // An envelope from before subjects were kept: its subject is asked for.
        let b = env(2, &["dave@y.test"]);
        index.add(&a);
        index.add(&b);
        index.add(&a);
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
