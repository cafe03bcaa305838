//! Finished messages (every recipient delivered or failed), kept after their spool files
//! are gone so that the status page, its API and `qksmtp show` still find them: the envelope,
//! when it finished, its headers and its step record. Each is appended to the journal
//! (`journal`, in the spool folder, so they survive a restart: read back in the background
//! at start) and listed in memory for the page in a compact form (`listed`: what the listing
//! and its search need), the newest `RECENT` with their whole record, the others' read from
//! the journal when one message's detail is asked for.

mod listed;

pub use listed::Listed;

use super::journal::{self, Journal, Kept, Limits, Place, Record, Segment};
use super::snapshot::MessageView;
use super::thread::Event;
use crate::spool::envelope::Envelope;
use crate::spool::id::MessageId;
use crate::time::Timestamp;
use crossbeam_channel::Sender;
use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;

/// Headers are read up to this many bytes; step records up to `MAX_STEPS`.
const MAX_HEADERS: u64 = 32 * 1024;
const MAX_STEPS: u64 = 256 * 1024;

/// Finished messages whose headers and step records stay in memory; without a journal, the
/// most the page lists.
pub const RECENT: usize = 200;

/// A finished message as listed in memory: compact (`Listed`), with where the journal has
/// it; the newest `RECENT` also with their whole record.
#[derive(Debug, Clone)]
pub struct Finished {
    pub listed: Listed,
    pub at: Timestamp,
    /// The envelope, headers and step record; `None` once they are only in the journal.
    pub full: Option<Box<Record>>,
    /// Where the journal has it.
    pub place: Option<Place>,
}

impl Finished {
    pub fn new(envelope: Envelope, at: Timestamp, headers: String, steps: String) -> Finished {
        let subject = subject_of(&envelope, &headers);
        Finished {
            listed: Listed::of(&envelope, subject.as_deref()),
            at,
            full: Some(Box::new(Record {
                envelope,
                at,
                headers,
                steps,
                body: None,
            })),
            place: None,
        }
    }

    /// Listed without its record (it is in the journal at `place`).
    fn listed(record: &Record, place: Place) -> Finished {
        let subject = subject_of(&record.envelope, &record.headers);
        Finished {
            listed: Listed::of(&record.envelope, subject.as_deref()),
            at: record.at,
            full: None,
            place: Some(place),
        }
    }

    /// As the page lists it.
    pub fn view(&self) -> MessageView {
        self.listed.view(self.at)
    }
}

#[derive(Debug, Default)]
pub struct History {
    /// Listed in memory for the page (it is off: none).
    page: bool,
    limits: Option<Limits>,
    entries: VecDeque<Finished>,
    journal: Option<Journal>,
}

impl History {
    /// `page`: the status page is on (the history is listed in memory); `journal`: the
    /// journal to write, with its limits.
    pub fn new(page: bool, journal: Option<(Journal, Limits)>) -> History {
        let (journal, limits) = journal.map_or((None, None), |(j, l)| (Some(j), Some(l)));
        History {
            page,
            limits,
            entries: VecDeque::new(),
            journal,
        }
    }

    /// Whether finished messages are kept at all (their files are then read before removal).
    pub fn enabled(&self) -> bool {
        self.page || self.journal.is_some()
    }

    /// Whether finished messages' files are kept with their records (`history_max_size`).
    pub fn keeps_bodies(&self) -> bool {
        self.journal.is_some() && self.limits.is_some_and(|l| l.keeps_bodies())
    }

    /// Where the journal has a listed finished message (`None`: not listed, e.g. the page
    /// is off; then only its own file is found, while its copy is not done).
    fn place(&self, id: &MessageId) -> Option<Place> {
        self.entries
            .iter()
            .find(|f| f.listed.id() == id.as_str())
            .and_then(|f| f.place)
    }

    /// Where a finished message's bytes are kept (`None`: no journal).
    pub fn kept(&self, id: &MessageId) -> Option<Kept> {
        Some(self.journal.as_ref()?.kept(id, self.place(id)))
    }

    /// Erases a finished message's kept bytes (`qksmtp delete`); whether it had some.
    pub fn forget_body(&mut self, id: &MessageId) -> bool {
        let place = self.place(id);
        match self.journal.as_mut().map(|j| j.forget(id, place)) {
            Some(Ok(found)) => found,
            Some(Err(e)) => {
                log::warn!("history: cannot erase {id}'s bytes: {e}");
                false
            }
            None => false,
        }
    }

    /// The limits in force (from a reload); `None` keeps no journal from now on.
    pub fn set_limits(&mut self, limits: Option<Limits>) {
        self.limits = limits.filter(|l| l.on());
    }

    /// Most messages listed in memory.
    fn capacity(&self) -> usize {
        match (self.page, self.limits, &self.journal) {
            (false, _, _) => 0,
            (true, Some(l), Some(_)) => l.max.max(RECENT),
            (true, _, _) => RECENT,
        }
    }

    pub fn push(&mut self, mut entry: Finished, now: Timestamp) {
        if let (Some(journal), Some(limits), Some(record)) =
            (&mut self.journal, self.limits, &entry.full)
        {
            match journal.append(record, limits, now) {
                Ok((place, removed)) => {
                    entry.place = Some(place);
                    if let Some(full) = &mut entry.full {
                        full.body = place.body;
                    }
                    self.forget(&removed);
                }
                Err(e) => log::warn!("history journal: cannot append: {e}"),
            }
        }
        if !self.page {
            return;
        }
        self.entries.push_front(entry);
        if let Some(old) = self.entries.get_mut(RECENT)
            && old.place.is_some()
        {
            old.full = None;
        }
        self.trim(now);
    }

    /// The history of earlier runs, read back at start (oldest first), listed after what
    /// finished since.
    pub fn restore(&mut self, older: Vec<Finished>, segments: Vec<Segment>, now: Timestamp) {
        if let (Some(journal), Some(limits)) = (&mut self.journal, self.limits) {
            let removed = journal.adopt(segments, limits, now);
            self.forget(&removed);
            if self.page {
                // Newest first, in the read-back's own buffer (no second copy of it).
                let mut older = older;
                older.retain(|f| !f.place.is_some_and(|p| removed.contains(&p.segment)));
                older.reverse();
                older.reserve_exact(self.entries.len());
                let mut merged = VecDeque::from(older);
                while let Some(newer) = self.entries.pop_back() {
                    merged.push_front(newer);
                }
                self.entries = merged;
                self.trim(now);
            }
        }
    }

    /// Drops the messages of removed journal segments (the oldest).
    fn forget(&mut self, segments: &[u64]) {
        while self
            .entries
            .back()
            .is_some_and(|f| f.place.is_some_and(|p| segments.contains(&p.segment)))
        {
            self.entries.pop_back();
        }
    }

    fn trim(&mut self, now: Timestamp) {
        let capacity = self.capacity();
        self.entries.truncate(capacity);
        if let Some(limits) = self.limits {
            while self
                .entries
                .back()
                .is_some_and(|f| now.since(f.at) > limits.age)
            {
                self.entries.pop_back();
            }
        }
    }

    /// Writes out what the journal buffered (no fsync).
    pub fn flush(&mut self) {
        if let Some(j) = &mut self.journal {
            j.flush();
        }
    }

    /// Newest first.
    pub fn iter(&self) -> impl Iterator<Item = &Finished> {
        self.entries.iter()
    }

    /// A finished message's whole record (read from the journal if need be).
    pub fn detail(&mut self, id: &MessageId) -> Option<Record> {
        let f = self.entries.iter().find(|f| f.listed.id() == id.as_str())?;
        match (&f.full, f.place, &mut self.journal) {
            (Some(record), _, _) => Some(Record::clone(record)),
            (None, Some(place), Some(journal)) => match journal.read(place) {
                Ok(record) => Some(record),
                Err(e) => {
                    log::warn!("history journal: cannot read {id}: {e}");
                    None
                }
            },
            (None, _, _) => None,
        }
    }
}

/// Reads the journal of earlier runs (its segments below `below`, the first this run writes)
/// in the background and hands it to the scheduler thread (`Event::History`): the messages
/// (compact, without their records) when `listed`, the segments always.
pub fn read_back(spool_dir: &Path, events: Sender<Event>, listed: bool, below: u64) {
    let dir = spool_dir.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("history".into())
        .spawn(move || {
            let mut older = Vec::new();
            let read = journal::read_all(&dir, Some(below), |record, place| {
                if listed {
                    older.push(Finished::listed(&record, place));
                }
            });
            match read {
                Ok(segments) => {
                    log::debug!("history: {} message(s) read back", older.len());
                    let _ = events.send(Event::History(Box::new((older, segments))));
                }
                Err(e) => log::warn!("history journal: cannot read it back: {e}"),
            }
        });
    if let Err(e) = spawned {
        log::warn!("history journal: cannot start reading it back: {e}");
    }
}

/// The header block of a message file (up to the empty line), as text.
pub fn read_headers(path: &Path) -> String {
    let mut buf = Vec::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(MAX_HEADERS).read_to_end(&mut buf);
    }
    header_block(&buf)
}

/// The header block of `message`, lossy UTF-8, lines ending in `\n`.
pub fn header_block(message: &[u8]) -> String {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |p| p + 2);
    String::from_utf8_lossy(&message[..end]).replace("\r\n", "\n")
}

/// A finished message's subject: its envelope's, or (an envelope from before they were
/// kept) read from its headers.
pub fn subject_of(envelope: &Envelope, headers: &str) -> Option<String> {
    match &envelope.subject {
        Some(subject) => Some(subject.clone()),
        None => crate::headers::subject(headers.as_bytes()),
    }
}

/// A step record file, bounded.
pub fn read_steps(path: &Path) -> String {
    let mut buf = Vec::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(MAX_STEPS).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::scheduler::tests::{env, t};
    use std::time::Duration;

    fn finished(n: u32, at: Timestamp) -> Finished {
        let headers = format!("Subject: number {n}\n");
        Finished::new(env(n, &["b@y.test"]), at, headers, "steps\n".into())
    }

    #[test]
    fn the_newest_keep_their_texts_the_others_are_read_from_the_journal() {
        let spool = std::env::temp_dir().join(format!("qksmtp-history-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&spool);
        let limits = Limits {
            max: 1000,
            age: Duration::from_secs(86_400),
            max_bytes: 0,
        };
        let journal = Journal::open(&spool).unwrap();
        let mut h = History::new(true, Some((journal, limits)));
        for n in 1..=(RECENT as u32 + 5) {
            h.push(finished(n, t(n.into())), t(1000));
        }
        let texts = h.iter().filter(|f| f.full.is_some()).count();
        assert_eq!(texts, RECENT);
        let oldest = env(1, &[]).id;
        assert!(h.iter().last().unwrap().full.is_none());
        let record = h.detail(&oldest).unwrap();
        assert_eq!(
            (
                h.iter().last().unwrap().listed.subject(),
                record.headers.as_str()
            ),
            (Some("number 1"), "Subject: number 1\n")
        );
        assert_eq!(record.envelope, env(1, &["b@y.test"]));
        // Read back by the next run, they are listed after what finished since.
        h.flush();
        let mut older = Vec::new();
        let segments =
            journal::read_all(&spool, None, |r, p| older.push(Finished::listed(&r, p))).unwrap();
        let mut next = History::new(true, Some((Journal::open(&spool).unwrap(), limits)));
        next.push(finished(900, t(2000)), t(2000));
        next.restore(older, segments, t(2000));
        assert_eq!(next.iter().count(), RECENT + 6);
        assert_eq!(
            next.iter().next().unwrap().listed.id(),
            env(900, &[]).id.as_str()
        );
        assert_eq!(next.iter().last().unwrap().listed.id(), oldest.as_str());
        assert!(next.detail(&oldest).is_some());
        // Past history_days, the old ones go.
        next.trim(t(1000).plus(Duration::from_secs(86_401)));
        assert_eq!(next.iter().count(), 1);
        let _ = std::fs::remove_dir_all(&spool);
    }

    #[test]
    fn header_block_stops_at_the_empty_line() {
        assert_eq!(
            header_block(b"Subject: a\r\nX: b\r\n\r\nbody\r\n"),
            "Subject: a\nX: b\n"
        );
        assert_eq!(header_block(b"Subject: a"), "Subject: a");
        // An older envelope's subject is read from the headers, decoded.
        let h = "Received: x\n subject: no\nSubject: =?UTF-8?Q?gr=C3=BC=C3=9Fe?=\n  world\nTo: b\n";
        let mut older = env(1, &["b@y.test"]);
        assert_eq!(subject_of(&older, h).as_deref(), Some("grüße world"));
        assert_eq!(subject_of(&older, "To: b\n"), None);
        older.subject = Some("kept".into());
        assert_eq!(subject_of(&older, h).as_deref(), Some("kept"));
    }
}
