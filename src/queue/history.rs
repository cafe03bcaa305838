//! Finished messages (every recipient delivered or failed), kept after their spool files
//! are gone so that the status page, its API and `qksmtp show` still find them: the envelope,
//! when it finished, its headers and its step record. Each is appended to the journal
//! (`journal`, in the spool folder, so they survive a restart), with its compact listing
//! (`listed`: what the listing and its search need) in the segment's list file; in memory
//! the page keeps only where each line is (`shelves`, 16 bytes a message), and reads the
//! listing, its search and a message's detail from disk. Without a journal, the newest
//! `RECENT` are kept whole in memory instead.

mod listed;
mod shelves;

pub use listed::Listed;
pub use shelves::Shelves;

use super::find::Query;
use super::journal::{self, Journal, Kept, Limits, Place, Record, Segment, list};
use super::snapshot::MessageView;
use super::thread::Event;
use crate::spool::envelope::Envelope;
use crate::spool::id::MessageId;
use crate::time::Timestamp;
use crossbeam_channel::Sender;
use shelves::LineAt;
use std::collections::VecDeque;
use std::io::Read;
use std::ops::Range;
use std::path::Path;

/// Headers are read up to this many bytes; step records up to `MAX_STEPS`.
const MAX_HEADERS: u64 = 32 * 1024;
const MAX_STEPS: u64 = 256 * 1024;

/// Without a journal, the most finished messages the page lists (whole, in memory).
pub const RECENT: usize = 200;

/// A finished message with its whole record, as it leaves the queue.
#[derive(Debug, Clone)]
pub struct Finished {
    pub listed: Listed,
    pub at: Timestamp,
    /// The envelope, headers and step record.
    pub full: Box<Record>,
}

impl Finished {
    pub fn new(envelope: Envelope, at: Timestamp, headers: String, steps: String) -> Finished {
        let subject = subject_of(&envelope, &headers);
        Finished {
            listed: Listed::of(&envelope, subject.as_deref()),
            at,
            full: Box::new(Record {
                envelope,
                at,
                headers,
                steps,
                body: None,
            }),
        }
    }

    /// As the page lists it.
    pub fn view(&self) -> MessageView {
        self.listed.view(self.at)
    }
}

/// How many listed messages matched, and those of them in the window asked for.
pub type Found = (usize, Vec<MessageView>);

type Job = Box<dyn FnOnce() + Send>;

/// A search of the history that reads its list files: what matched among those listed in
/// memory (`recent`), then in each list file from where its listed lines start, newest
/// first. Runs anywhere: a list file appended to meanwhile is read up to its last whole line,
/// one pruned meanwhile is passed over.
#[derive(Debug)]
pub struct Scan {
    query: Query,
    window: Range<usize>,
    recent: Vec<(Listed, Timestamp)>,
    /// Segment, list file, where its listed lines start; newest first.
    lists: Vec<(u64, std::path::PathBuf, u64)>,
}

impl Scan {
    pub fn run(self) -> Found {
        let Scan {
            query,
            window,
            recent,
            lists,
        } = self;
        let mut total = 0;
        let mut views = Vec::new();
        let mut take = |listed: &Listed<&str>, at: Timestamp| {
            if listed.matches(&query) {
                if window.contains(&total) {
                    views.push(listed.view(at));
                }
                total += 1;
            }
        };
        for (listed, at) in &recent {
            take(
                &Listed::from_text(listed.arrival, listed.size, listed.text()),
                *at,
            );
        }
        let mut glance = listed::Glance::new(&query);
        for (segment, path, from) in lists {
            let read = list::newest_chunks(&path, from, |lines| {
                if !glance.may_hold(lines) {
                    return true;
                }
                for line in lines.split_terminator('\n').rev() {
                    if glance.may_match(line)
                        && let Some(line) = list::decode_str(segment, line)
                    {
                        take(
                            &Listed::from_text(line.arrival, line.size, line.text),
                            line.at,
                        );
                    }
                }
                true
            });
            if let Err(e) = read {
                log::debug!("history: cannot read {}: {e}", path.display());
            }
        }
        (total, views)
    }
}

/// A record's compact listing, as its list file line has it.
fn text_of(record: &Record) -> String {
    let subject = subject_of(&record.envelope, &record.headers);
    Listed::of(&record.envelope, subject.as_deref())
        .text()
        .to_string()
}

#[derive(Debug, Default)]
pub struct History {
    /// Listed for the page (it is off: none are).
    page: bool,
    limits: Option<Limits>,
    /// Listed whole in memory, newest first: those not in the journal (there is none, or
    /// appending failed), at most `RECENT`; listed before the `shelves`.
    recent: VecDeque<Finished>,
    /// Where the journal's list files have the others (the page on).
    shelves: Shelves,
    journal: Option<Journal>,
    /// The search thread's orders (`in_background`).
    searcher: Option<Sender<Job>>,
}

impl History {
    /// `page`: the status page is on (the history is listed); `journal`: the journal to
    /// write, with its limits.
    pub fn new(page: bool, journal: Option<(Journal, Limits)>) -> History {
        let (journal, limits) = journal.map_or((None, None), |(j, l)| (Some(j), Some(l)));
        History {
            page,
            limits,
            recent: VecDeque::new(),
            shelves: Shelves::default(),
            journal,
            searcher: None,
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

    /// Where the journal has a finished message: found through the page's index, or with
    /// the page off in the list files (`None`: not in the journal).
    fn place(&mut self, id: &MessageId) -> Option<Place> {
        let journal = self.journal.as_mut()?;
        if self.page {
            let at = self.shelves.find(id)?;
            return read_line(journal, at, |line| line.place);
        }
        find_in_lists(journal, id)
    }

    /// Where a finished message's bytes are kept (`None`: no journal).
    pub fn kept(&mut self, id: &MessageId) -> Option<Kept> {
        let place = self.place(id);
        Some(self.journal.as_ref()?.kept(id, place))
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

    /// Most messages listed.
    fn capacity(&self) -> usize {
        match (self.page, self.limits, &self.journal) {
            (false, _, _) => 0,
            (true, Some(l), Some(_)) => l.max.max(RECENT),
            (true, _, _) => RECENT,
        }
    }

    pub fn push(&mut self, entry: Finished, now: Timestamp) {
        if let (Some(journal), Some(limits)) = (&mut self.journal, self.limits) {
            match journal.append(&entry.full, entry.listed.text(), limits, now) {
                Ok(appended) => {
                    self.shelves.forget(&appended.removed);
                    if self.page
                        && let Some(key) = shelves::key(entry.listed.id())
                    {
                        let segment = appended.place.segment;
                        self.shelves.push(segment, key, appended.listed, entry.at);
                        self.trim(now);
                    }
                    return;
                }
                Err(e) => log::warn!("history journal: cannot append: {e}"),
            }
        }
        if self.page {
            self.recent.push_front(entry);
            self.trim(now);
        }
    }

    /// The history of earlier runs, read back at start (`read_back`), listed after what
    /// finished since.
    pub fn restore(&mut self, older: Shelves, segments: Vec<Segment>, now: Timestamp) {
        if let (Some(journal), Some(limits)) = (&mut self.journal, self.limits) {
            let removed = journal.adopt(segments, limits, now);
            self.shelves.forget(&removed);
            if self.page {
                self.shelves.adopt(older);
                self.shelves.forget(&removed);
                self.trim(now);
            }
        }
    }

    fn trim(&mut self, now: Timestamp) {
        let age = self.limits.map(|l| l.age);
        self.recent.truncate(RECENT);
        if let Some(age) = age {
            while self.recent.back().is_some_and(|f| now.since(f.at) > age) {
                self.recent.pop_back();
            }
        }
        let room = self.capacity().saturating_sub(self.recent.len());
        self.shelves.trim(room, age, now);
    }

    /// Writes out what the journal buffered (no fsync).
    pub fn flush(&mut self) {
        if let Some(j) = &mut self.journal {
            j.flush();
        }
    }

    /// Messages listed.
    pub fn len(&self) -> usize {
        self.recent.len() + self.shelves.len()
    }

    /// The `n`th newest listed.
    fn view_at(&mut self, n: usize) -> Option<MessageView> {
        if let Some(f) = self.recent.get(n) {
            return Some(f.view());
        }
        let at = self.shelves.nth(n - self.recent.len())?;
        read_line(self.journal.as_mut()?, at, |line| {
            Listed::from_text(line.arrival, line.size, line.text).view(line.at)
        })
    }

    /// The newest `limit` listed.
    pub fn newest(&mut self, limit: usize) -> Vec<MessageView> {
        self.flush();
        (0..limit.min(self.len()))
            .filter_map(|n| self.view_at(n))
            .collect()
    }

    /// The listed messages that match `query`, newest first: how many, and those of them
    /// in `window`. Without filters, read from where each is; else from the list files
    /// (`Scan`). Here, all of it (the scheduler thread uses `find_later`).
    #[cfg(test)]
    pub fn find(&mut self, query: &Query, window: Range<usize>) -> Found {
        match self.find_later(query, window) {
            Ok(found) => found,
            Err(scan) => scan.run(),
        }
    }

    /// `find`, answered at once when no list file is to be read through; else the search
    /// to run (off the scheduler thread: `in_background`).
    pub fn find_later(&mut self, query: &Query, window: Range<usize>) -> Result<Found, Box<Scan>> {
        self.flush();
        if query.takes_all() {
            let listed = self.len();
            let views = window
                .filter(|n| *n < listed)
                .filter_map(|n| self.view_at(n))
                .collect();
            return Ok((listed, views));
        }
        let lists = match &self.journal {
            Some(journal) => self
                .shelves
                .segments()
                .map(|(segment, from)| (segment, journal.list_path(segment), from))
                .collect(),
            None => Vec::new(),
        };
        Err(Box::new(Scan {
            query: query.clone(),
            window,
            recent: self
                .recent
                .iter()
                .map(|f| (f.listed.clone(), f.at))
                .collect(),
            lists,
        }))
    }

    /// Runs `scan` on the history's search thread (started at the first), then `done` with
    /// what it found; here at once if that thread cannot be started.
    pub fn in_background(&mut self, scan: Box<Scan>, done: impl FnOnce(Found) + Send + 'static) {
        let job: Job = Box::new(move || done(scan.run()));
        let job = match &self.searcher {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                Err(crossbeam_channel::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let spawned = std::thread::Builder::new()
            .name("history-find".into())
            .spawn(move || rx.iter().for_each(|job| job()));
        match spawned {
            Ok(_) => {
                let _ = tx.send(job);
                self.searcher = Some(tx);
            }
            Err(e) => {
                log::warn!("history: cannot start the search thread: {e}; searched here");
                job();
            }
        }
    }

    /// A finished message's whole record (read from the journal if need be).
    pub fn detail(&mut self, id: &MessageId) -> Option<Record> {
        if let Some(f) = self.recent.iter().find(|f| f.listed.id() == id.as_str()) {
            return Some(Record::clone(&f.full));
        }
        let place = self.place(id)?;
        match self.journal.as_mut()?.read(place) {
            Ok(record) => Some(record),
            Err(e) => {
                log::warn!("history journal: cannot read {id}: {e}");
                None
            }
        }
    }
}

/// What `f` makes of a listed message's line (`None`: it cannot be read).
fn read_line<R>(journal: &mut Journal, at: LineAt, f: impl FnOnce(list::Line) -> R) -> Option<R> {
    journal.flush();
    let path = journal.list_path(at.segment);
    let bytes = match list::read_range(&path, at.from, at.to.unwrap_or(u64::MAX)) {
        Ok(bytes) => bytes,
        Err(e) => {
            log::warn!("history: cannot read {}: {e}", path.display());
            return None;
        }
    };
    let (_, line) = list::lines(&bytes).next()?;
    list::decode(at.segment, line).map(f)
}

/// Where a finished message is, looked for in the journal's list files, newest first (the
/// page is off: no index of them in memory).
fn find_in_lists(journal: &mut Journal, id: &MessageId) -> Option<Place> {
    for (segment, path, _) in journal.lists() {
        let mut found = None;
        let _ = list::newest_first(&path, 0, |line| {
            found = list::decode(segment, line)
                .filter(|line| listed::id_of(line.text) == id.as_str())
                .map(|line| line.place);
            found.is_none()
        });
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Reads the journal of earlier runs (its segments below `below`, the first this run writes)
/// in the background, from its list files (made again from a segment when missing), and
/// hands it to the scheduler thread (`Event::History`): where each message is listed when
/// `listed`, the segments always.
pub fn read_back(spool_dir: &Path, events: Sender<Event>, listed: bool, below: u64) {
    let dir = spool_dir.to_path_buf();
    let spawned =
        std::thread::Builder::new()
            .name("history".into())
            .spawn(move || match read_older(&dir, below, listed) {
                Ok((older, segments)) => {
                    log::debug!("history: {} message(s) read back", older.len());
                    let _ = events.send(Event::History(Box::new((older, segments))));
                }
                Err(e) => log::warn!("history journal: cannot read it back: {e}"),
            });
    if let Err(e) = spawned {
        log::warn!("history journal: cannot start reading it back: {e}");
    }
}

/// The journal's segments below `below`, and where their list files have each message
/// (none when not `listed`).
fn read_older(
    spool_dir: &Path,
    below: u64,
    listed: bool,
) -> std::io::Result<(Shelves, Vec<Segment>)> {
    let mut older = Shelves::default();
    let segments = journal::read_listed(spool_dir, below, text_of, |at, line| {
        if listed && let Some(key) = shelves::key(listed::id_of(line.text)) {
            older.push(line.place.segment, key, at, line.at);
        }
    })?;
    Ok((older, segments))
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

    use crate::queue::snapshot::Shown;
    use crate::spool::envelope::RecipientState;

    /// Message `n`, finished at `t(n)`: delivered to `b@y.test`, or (every seventh) failed
    /// at `c@z.test`.
    fn finished(n: u32) -> Finished {
        let failed = n.is_multiple_of(7);
        let mut e = env(n, &[if failed { "c@z.test" } else { "b@y.test" }]);
        e.recipients[0].state = match failed {
            true => RecipientState::Failed,
            false => RecipientState::Delivered,
        };
        let headers = format!("Subject: number {n}\n");
        Finished::new(e, t(n.into()), headers, format!("steps of {n}\n"))
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("qksmtp-history-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// `env(n)`'s ID ends in n's low 12 bits as 3 hex digits (these tests use n < 4096).
    fn n_of(view: &MessageView) -> u32 {
        u32::from_str_radix(&view.id.as_str()[13..], 16).unwrap()
    }

    const LIMITS: Limits = Limits {
        max: 300,
        age: Duration::from_secs(86_400),
        max_bytes: 0,
    };

    fn opened(spool: &Path, page: bool) -> History {
        History::new(page, Some((Journal::open(spool).unwrap(), LIMITS)))
    }

    #[test]
    fn the_listing_its_search_and_a_detail_are_read_from_the_list_files_across_segments() {
        let spool = temp("pages");
        let mut h = opened(&spool, true);
        // 450 in segments of 100: the first goes (350 still hold 300), 300 are listed.
        for n in 1..=450 {
            h.push(finished(n), t(n.into()));
        }
        assert_eq!(h.len(), 300);
        assert!(h.recent.is_empty(), "no whole record is kept in memory");
        let newest: Vec<u32> = h.newest(3).iter().map(n_of).collect();
        assert_eq!(newest, [450, 449, 448]);
        let all = Query::new("", None, None, 0);
        let (total, page) = h.find(&all, 250..300);
        assert_eq!((total, page.len()), (300, 50));
        assert_eq!((n_of(&page[0]), n_of(&page[49])), (200, 151));
        let (_, past) = h.find(&all, 290..340);
        assert_eq!(
            past.iter().map(n_of).collect::<Vec<_>>(),
            (151..=160).rev().collect::<Vec<_>>()
        );
        // Text, state and destination filters, newest first, counted in full.
        let (total, views) = h.find(&Query::new("number 42", None, None, 0), 0..50);
        assert_eq!(total, 10);
        assert_eq!(
            views.iter().map(n_of).collect::<Vec<_>>(),
            (420..=429).rev().collect::<Vec<_>>()
        );
        assert_eq!(views[0].subject.as_deref(), Some("number 429"));
        let (failed, views) = h.find(&Query::new("", Some(Shown::Failed), None, 0), 40..50);
        assert_eq!(
            failed,
            (151..=450u32).filter(|n| n.is_multiple_of(7)).count()
        );
        assert_eq!(n_of(&views[0]), 448 - 7 * 40);
        let (at_z, _) = h.find(&Query::new("", None, Some("z.test"), 0), 0..0);
        assert_eq!(at_z, failed);
        // A message's detail, by ID, read from the journal; a pruned one is gone.
        let old = env(151, &[]).id;
        let record = h.detail(&old).unwrap();
        assert_eq!(
            (record.headers.as_str(), record.steps.as_str()),
            ("Subject: number 151\n", "steps of 151\n")
        );
        assert!(h.kept(&old).is_some());
        assert_eq!(h.detail(&env(50, &[]).id), None);
        // The scheduler thread has a search that reads the list files run on another.
        let query = Query::new("number 42", None, None, 0);
        let Err(scan) = h.find_later(&query, 0..50) else {
            panic!("a text search reads the list files");
        };
        let (tx, rx) = crossbeam_channel::bounded(1);
        h.in_background(scan, move |found| tx.send(found).unwrap());
        assert_eq!(rx.recv().unwrap(), h.find(&query, 0..50));
        assert!(h.find_later(&all, 0..50).is_ok(), "a page of them at once");
        let _ = std::fs::remove_dir_all(&spool);
    }

    #[test]
    fn a_restart_lists_the_earlier_runs_messages_from_their_list_files_made_again_if_need_be() {
        let spool = temp("restart");
        let mut h = opened(&spool, true);
        for n in 1..=250 {
            h.push(finished(n), t(n.into()));
        }
        drop(h);
        let dir = spool.join(journal::DIR);
        // Segment 1's list file lost (a journal of before list files), segment 3's cut in
        // its last line (a crash): both made again from their segments.
        std::fs::remove_file(dir.join("00000001.list")).unwrap();
        let third = dir.join("00000003.list");
        let len = std::fs::metadata(&third).unwrap().len();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&third)
            .unwrap();
        f.set_len(len - 5).unwrap();
        let mut next = opened(&spool, true);
        next.push(finished(900), t(900));
        let below = next.journal.as_ref().unwrap().first_own();
        let (older, segments) = read_older(&spool, below, true).unwrap();
        assert_eq!(
            segments.iter().map(|s| s.records).collect::<Vec<_>>(),
            [100, 100, 50]
        );
        next.restore(older, segments, t(900));
        assert_eq!(next.len(), 251);
        let listed: Vec<u32> = next.newest(300).iter().map(n_of).collect();
        let want: Vec<u32> = [900].into_iter().chain((1..=250).rev()).collect();
        assert_eq!(listed, want);
        assert_eq!(std::fs::metadata(&third).unwrap().len(), len);
        let (total, views) = next.find(&Query::new("number 1", None, None, 0), 0..50);
        assert_eq!((total, n_of(&views[0])), (1 + 10 + 100, 199));
        assert_eq!(
            next.detail(&env(1, &[]).id).unwrap().headers,
            "Subject: number 1\n"
        );
        // Past history_days, the old ones go from the listing.
        next.trim(t(249).plus(Duration::from_secs(86_400)));
        assert_eq!(
            next.newest(10).iter().map(n_of).collect::<Vec<_>>(),
            [900, 250, 249]
        );
        let _ = std::fs::remove_dir_all(&spool);
    }

    #[test]
    fn with_the_page_off_a_finished_message_is_found_in_the_list_files() {
        let spool = temp("off");
        let mut h = opened(&spool, false);
        for n in 1..=120 {
            h.push(finished(n), t(n.into()));
        }
        assert_eq!(h.len(), 0);
        let place = h.place(&env(3, &[]).id).unwrap();
        assert_eq!(
            h.journal.as_mut().unwrap().read(place).unwrap().headers,
            "Subject: number 3\n"
        );
        assert!(h.place(&env(120, &[]).id).is_some());
        drop(h);
        // And after a restart, once the earlier segments are read back.
        let mut next = opened(&spool, false);
        let below = next.journal.as_ref().unwrap().first_own();
        let (older, segments) = read_older(&spool, below, false).unwrap();
        assert_eq!(older.len(), 0);
        next.restore(older, segments, t(200));
        let place = next.place(&env(101, &[]).id).unwrap();
        assert_eq!(
            next.journal.as_mut().unwrap().read(place).unwrap().headers,
            "Subject: number 101\n"
        );
        assert_eq!(next.place(&env(999, &[]).id), None);
        let _ = std::fs::remove_dir_all(&spool);
    }

    #[test]
    fn without_a_journal_the_newest_are_listed_whole_in_memory() {
        let mut h = History::new(true, None);
        for n in 1..=(RECENT as u32 + 5) {
            h.push(finished(n), t(n.into()));
        }
        assert_eq!(h.len(), RECENT);
        let newest = env(RECENT as u32 + 5, &[]).id;
        assert_eq!(
            h.detail(&newest).unwrap().steps,
            format!("steps of {}\n", RECENT + 5)
        );
        assert_eq!(h.detail(&env(5, &[]).id), None);
        assert_eq!(h.kept(&newest), None);
        let (total, views) = h.find(&Query::new("number 20", None, None, 0), 0..50);
        assert_eq!(total, 1 + 6);
        assert_eq!(n_of(&views[0]), 205);
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
