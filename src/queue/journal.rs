//! The history journal: every finished message (its envelope, when it finished, its headers
//! and step record) appended to numbered segment files in `spool/history/`, without fsync (a
//! crash may lose the last seconds of history, never mail). A finished message's bytes are
//! kept too (`history_max_size`): the spool moves its file to `history/ID.msg`, the record
//! reserves its place in the segment's body file (`N.bodies`, one file for all its
//! messages: no inode per message), and a copier thread copies the bytes there and hands the
//! file back to the spool for reuse; until then, or if the copy fails, the bytes are read
//! from `ID.msg` (`Kept`). The body files are not fsynced either: a power cut may lose the
//! last seconds of kept bodies, like the records. Whole segments go, oldest first, with
//! their body files, once the rest still holds `history_max` messages, all of a segment is
//! older than `history_days`, or the bodies kept pass `history_max_size` bytes:
//! append-only, and compaction never rewrites. A start-up writes to a new
//! segment; the old ones are read back in the background (`read_all`). The record codec is
//! pure (`encode`, `decode`). Beside each segment, its list file (`list`: what the page lists
//! of each record, and where the record is), appended with it and rebuilt from it when
//! missing (`read_listed`).

use crate::spool::envelope::{self, Envelope};
use crate::time::Timestamp;
use crossbeam_channel::Sender;
use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The folder in the spool.
pub const DIR: &str = crate::spool::HISTORY;
/// A finished message's own file, until its bytes are copied into a body file: `ID.MSG`.
const MSG: &str = "msg";
const MAGIC: &str = "qksmtp-history 1";
const EXT: &str = "log";
/// A segment's body file is `N.BODIES`.
const BODIES: &str = "bodies";

/// One finished message as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub envelope: Envelope,
    pub at: Timestamp,
    pub headers: String,
    pub steps: String,
    /// Where its bytes are in its segment's body file (`None`: not kept there).
    pub body: Option<Span>,
}

/// Bytes of a segment's body file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: u64,
    pub len: u64,
}

/// Where a record is: its segment, offset and length, and its message's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub segment: u64,
    pub offset: u64,
    pub len: u64,
    pub body: Option<Span>,
}

/// What a segment holds: how many records, the newest one's time, the bytes of its
/// messages' bodies kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub number: u64,
    pub records: usize,
    pub newest: Timestamp,
    pub bytes: u64,
}

/// `history_max` messages, `history_days` and `history_max_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max: usize,
    pub age: Duration,
    /// Bytes of message bodies kept (the segments' body files); 0: none are kept.
    pub max_bytes: u64,
}

impl Limits {
    pub fn on(self) -> bool {
        self.max > 0 && !self.age.is_zero()
    }

    /// Records a segment holds before the next one starts: a tenth of the limit, so that
    /// the journal holds at most 10% more than `max` (and 100 at least, so that a small
    /// limit does not make a file per message).
    pub fn per_segment(self) -> usize {
        (self.max / 10).max(100)
    }

    /// Whether finished messages' bodies are kept with their records.
    pub fn keeps_bodies(self) -> bool {
        self.max_bytes > 0
    }

    /// Whether a segment is full (the next record starts another): `per_segment` records,
    /// or a tenth of `max_bytes` in bodies.
    fn full(self, s: &Segment) -> bool {
        s.records >= self.per_segment() || (self.keeps_bodies() && s.bytes >= self.max_bytes / 10)
    }
}

/// The size of the message file kept for `id` in `dir` (0: none).
fn body_bytes(dir: &Path, id: &impl fmt::Display) -> u64 {
    fs::metadata(dir.join(format!("{id}.{MSG}"))).map_or(0, |m| m.len())
}

#[derive(Debug, PartialEq, Eq)]
pub enum JournalError {
    /// The bytes end inside a record (the last one of a crash).
    Incomplete,
    Damaged(String),
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            JournalError::Incomplete => write!(f, "the record is cut short"),
            JournalError::Damaged(why) => write!(f, "damaged record: {why}"),
        }
    }
}

/// A record's bytes (its own body's place).
#[cfg(test)]
pub fn encode(r: &Record) -> Vec<u8> {
    encode_with(r, r.body)
}

/// `qksmtp-history 1 AT ENVLEN HEADLEN STEPSLEN[ BODYOFFSET BODYLEN]\n` then the three
/// texts, then `\n`; BODY...: where its message's bytes are (`body`).
fn encode_with(r: &Record, body: Option<Span>) -> Vec<u8> {
    let env = envelope::render(&r.envelope);
    let body = body.map_or(String::new(), |b| format!(" {} {}", b.offset, b.len));
    let mut out = format!(
        "{MAGIC} {} {} {} {}{body}\n",
        r.at.as_micros(),
        env.len(),
        r.headers.len(),
        r.steps.len()
    )
    .into_bytes();
    for part in [&env, &r.headers, &r.steps] {
        out.extend_from_slice(part.as_bytes());
    }
    out.push(b'\n');
    out
}

/// The record at the start of `bytes`, and how many bytes it took.
pub fn decode(bytes: &[u8]) -> Result<(Record, usize), JournalError> {
    let bad = |why: &str| JournalError::Damaged(why.into());
    let Some(eol) = bytes.iter().position(|&b| b == b'\n') else {
        return Err(match bytes.len() > 200 {
            true => bad("no record line"),
            false => JournalError::Incomplete,
        });
    };
    let head = std::str::from_utf8(&bytes[..eol]).map_err(|_| bad("record line"))?;
    let numbers: Vec<u64> = head
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("record line"))?
        .split_whitespace()
        .map(|n| n.parse().map_err(|_| bad("record line")))
        .collect::<Result<_, _>>()?;
    let (at, env_len, head_len, steps_len, body) = match numbers[..] {
        [at, e, h, s] => (at, e, h, s, None),
        [at, e, h, s, offset, len] => (at, e, h, s, Some(Span { offset, len })),
        _ => return Err(bad("record line")),
    };
    let start = eol + 1;
    let total = [env_len, head_len, steps_len]
        .iter()
        .try_fold(start as u64 + 1, |sum, n| sum.checked_add(*n))
        .ok_or_else(|| bad("lengths"))?;
    if (bytes.len() as u64) < total {
        return Err(JournalError::Incomplete);
    }
    let total = total as usize;
    if bytes[total - 1] != b'\n' {
        return Err(bad("no end of record"));
    }
    let (e, h) = (
        start + env_len as usize,
        start + (env_len + head_len) as usize,
    );
    let text = |from, to| String::from_utf8(bytes[from..to].to_vec()).map_err(|_| bad("text"));
    let envelope = envelope::parse(&text(start, e)?).map_err(|e| bad(&e.to_string()))?;
    let record = Record {
        envelope,
        at: Timestamp(at),
        headers: text(e, h)?,
        steps: text(h, total - 1)?,
        body,
    };
    Ok((record, total))
}

fn segment_name(number: u64) -> String {
    format!("{number:08}.{EXT}")
}

fn bodies_name(number: u64) -> String {
    format!("{number:08}.{BODIES}")
}

fn list_name(number: u64) -> String {
    format!("{number:08}.{}", list::EXT)
}

/// A list file being made again from its segment (renamed over `list_name` when done).
fn list_aside_name(number: u64) -> String {
    format!("{}.new", list_name(number))
}

/// A list file this long starts a new segment (the page's index keeps offsets in 32 bits).
const MAX_LIST: u64 = 1 << 31;

/// What `append` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Where the record is.
    pub place: Place,
    /// Where its line is in its segment's list file.
    pub listed: u64,
    /// The segments removed to keep the limits.
    pub removed: Vec<u64>,
}

/// The segment numbers in `dir`, oldest first.
fn segments_in(dir: &Path) -> io::Result<Vec<u64>> {
    let mut numbers: Vec<u64> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(&format!(".{EXT}"))?.parse().ok())
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    numbers.sort_unstable();
    Ok(numbers)
}

/// Reads every record of the journal in `spool_dir` (of the segments numbered below `below`,
/// when given: those of earlier runs), oldest first, handing each with its place to `each`;
/// returns the segments read. A segment's damaged or cut-short end is skipped (the rest of
/// it is kept).
pub fn read_all(
    spool_dir: &Path,
    below: Option<u64>,
    mut each: impl FnMut(Record, Place),
) -> io::Result<Vec<Segment>> {
    let dir = spool_dir.join(DIR);
    let mut segments = Vec::new();
    for number in earlier_segments(&dir, below)? {
        segments.extend(read_segment(&dir, number, &mut each)?);
    }
    Ok(segments)
}

/// The segment numbers of the journal folder `dir` below `below` (all: `None`), oldest first.
fn earlier_segments(dir: &Path, below: Option<u64>) -> io::Result<Vec<u64>> {
    let earlier = |n: &u64| below.is_none_or(|b| *n < b);
    Ok(segments_in(dir)?.into_iter().filter(earlier).collect())
}

/// Reads the records of segment `number` of the journal folder `dir` (`None`: it is gone).
fn read_segment(
    dir: &Path,
    number: u64,
    each: &mut impl FnMut(Record, Place),
) -> io::Result<Option<Segment>> {
    let file = match File::open(dir.join(segment_name(number))) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut segment = Segment {
        number,
        records: 0,
        newest: Timestamp(0),
        bytes: 0,
    };
    // A record at a time, in one reused buffer: a segment is never in memory whole.
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut offset = 0;
    loop {
        match next_record(&mut reader, &mut buf) {
            Ok(Some((record, len))) => {
                segment.records += 1;
                segment.newest = segment.newest.max(record.at);
                segment.bytes += match record.body {
                    Some(span) => span.len,
                    None => body_bytes(dir, &record.envelope.id),
                };
                let place = Place {
                    segment: number,
                    offset,
                    len: len as u64,
                    body: record.body,
                };
                offset += len as u64;
                each(record, place);
            }
            Ok(None) => break,
            Err(e) => {
                log::warn!("history segment {number}: {e} at byte {offset}; the rest is skipped");
                break;
            }
        }
    }
    Ok(Some(segment))
}

/// Reads the list files of the journal in `spool_dir` (its segments below `below`), oldest
/// first, handing each line with its offset in its list file to `each`; returns the
/// segments read. A list file that is missing, or does not end where its segment does (a
/// crash, a journal of before list files), is made again from its segment, the text of each
/// record given by `text_of`.
pub fn read_listed(
    spool_dir: &Path,
    below: u64,
    mut text_of: impl FnMut(&Record) -> String,
    mut each: impl FnMut(u64, list::Line),
) -> io::Result<Vec<Segment>> {
    let dir = spool_dir.join(DIR);
    let mut segments = Vec::new();
    for number in earlier_segments(&dir, Some(below))? {
        let len = match fs::metadata(dir.join(segment_name(number))) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let path = dir.join(list_name(number));
        let mut segment = Segment {
            number,
            records: 0,
            newest: Timestamp(0),
            bytes: 0,
        };
        let mut take = |at: u64, line: list::Line| {
            segment.records += 1;
            segment.newest = segment.newest.max(line.at);
            segment.bytes += line.place.body.map_or(0, |b| b.len);
            each(at, line);
        };
        let read = match list_end(number, &path) {
            Some(end) if end == len => list::oldest_first(&path, |at, line| {
                if let Some(line) = list::decode(number, line) {
                    take(at, line);
                }
            })
            .map(drop),
            _ => rebuild_list(&dir, number, &mut text_of, &mut take),
        };
        match read {
            Ok(()) => segments.push(segment),
            Err(e) => log::warn!("history segment {number}: cannot list it: {e}"),
        }
    }
    Ok(segments)
}

/// Where the last record listed in the list file at `path` ends in its segment (`Some(0)`:
/// none listed; `None`: no list file, or a damaged last line).
fn list_end(number: u64, path: &Path) -> Option<u64> {
    let mut end = Some(0);
    list::newest_first(path, 0, |line| {
        end = list::decode(number, line).map(|l| l.record_end());
        false
    })
    .ok()?;
    end
}

/// Makes segment `number`'s list file again from its records (written aside, then renamed
/// over), handing each line to `each` with its offset.
fn rebuild_list(
    dir: &Path,
    number: u64,
    text_of: &mut impl FnMut(&Record) -> String,
    each: &mut impl FnMut(u64, list::Line),
) -> io::Result<()> {
    let aside = dir.join(list_aside_name(number));
    let mut out = BufWriter::new(File::create(&aside)?);
    let (mut at, mut written) = (0, Ok(()));
    read_segment(dir, number, &mut |record: Record, place| {
        let text = text_of(&record);
        let line = list::Line {
            at: record.at,
            place,
            arrival: record.envelope.arrival,
            size: record.envelope.size,
            text: &text,
        };
        let bytes = list::encode(&line);
        if written.is_ok() {
            written = out.write_all(bytes.as_bytes());
        }
        each(at, line);
        at += bytes.len() as u64;
    })?;
    written?;
    out.flush()?;
    drop(out);
    let list = dir.join(list_name(number));
    fs::rename(&aside, &list)?;
    // Its segment pruned meanwhile (a run with smaller limits): no list file without one.
    if !dir.join(segment_name(number)).exists() {
        fs::remove_file(&list)?;
    }
    Ok(())
}

/// The longest record read back (headers and step records are kept far shorter).
const MAX_RECORD: u64 = 16 * 1024 * 1024;

/// The next record of `reader` (`None` at its end), read into `buf`.
fn next_record(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
) -> Result<Option<(Record, usize)>, JournalError> {
    buf.clear();
    let line = reader
        .by_ref()
        .take(256)
        .read_until(b'\n', buf)
        .map_err(|e| JournalError::Damaged(e.to_string()))?;
    if line == 0 {
        return Ok(None);
    }
    let total = record_len(buf)?;
    if total > MAX_RECORD || total < buf.len() as u64 {
        return Err(JournalError::Damaged("lengths".into()));
    }
    let head = buf.len();
    buf.resize(total as usize, 0);
    reader
        .read_exact(&mut buf[head..])
        .map_err(|_| JournalError::Incomplete)?;
    decode(buf).map(Some)
}

/// A record's whole length, from its record line (with its `\n`).
fn record_len(line: &[u8]) -> Result<u64, JournalError> {
    let bad = || JournalError::Damaged("record line".into());
    if line.last() != Some(&b'\n') {
        return Err(JournalError::Incomplete);
    }
    let text = std::str::from_utf8(line).map_err(|_| bad())?;
    let numbers: Vec<u64> = text
        .strip_prefix(MAGIC)
        .ok_or_else(bad)?
        .split_whitespace()
        .map(|n| n.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let (env, head, steps) = match numbers[..] {
        [_, env, head, steps] | [_, env, head, steps, _, _] => (env, head, steps),
        _ => return Err(bad()),
    };
    [env, head, steps]
        .iter()
        .try_fold(line.len() as u64 + 1, |sum, n| sum.checked_add(*n))
        .ok_or_else(bad)
}

/// Hands a file copied into a body file back to the spool, for its next commits.
pub type Recycle = std::sync::Arc<dyn Fn(&Path) -> io::Result<()> + Send + Sync>;

/// The writing end, owned by the scheduler thread.
pub struct Journal {
    dir: PathBuf,
    /// Oldest first; the last is the one being written.
    segments: VecDeque<Segment>,
    file: Option<(BufWriter<File>, u64)>,
    /// The current segment's list file, and its length.
    list: Option<(BufWriter<File>, u64)>,
    next: u64,
    /// `next` at open.
    first_own: u64,
    /// The threads removing old segments with their files (a segment of `history_max / 10`
    /// messages' body file and leftovers takes a while: not on the scheduler thread).
    pruning: Vec<std::thread::JoinHandle<()>>,
    /// The bytes of the current segment's body file given out so far.
    bodies_end: u64,
    /// The copier thread's orders (started at the first body kept), and the thread.
    copier: Option<(Sender<Vec<Copy>>, std::thread::JoinHandle<()>)>,
    /// Copies ordered since the last `flush`, sent to the copier then.
    copies: Vec<Copy>,
    /// What the copier does with a file it has copied (none: removes it).
    recycle: Option<Recycle>,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.dir)
            .field("segments", &self.segments)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Drop for Journal {
    /// Waits for the copies ordered so far (a file not copied stays readable as `ID.msg`).
    fn drop(&mut self) {
        self.flush();
        self.stop_copier();
    }
}

impl Journal {
    /// Opens the journal of `spool_dir` for appending, in a new segment after those there
    /// (which `adopt` learns about once they are read back).
    pub fn open(spool_dir: &Path) -> io::Result<Journal> {
        let dir = spool_dir.join(DIR);
        fs::create_dir_all(&dir)?;
        let next = segments_in(&dir)?.last().map_or(1, |n| n + 1);
        Ok(Journal {
            dir,
            segments: VecDeque::new(),
            file: None,
            list: None,
            next,
            first_own: next,
            pruning: Vec::new(),
            bodies_end: 0,
            copier: None,
            copies: Vec::new(),
            recycle: None,
        })
    }

    /// Files copied into a body file are handed to `recycle` (the spool's reuse of files)
    /// rather than removed.
    pub fn recycle_with(&mut self, recycle: Recycle) {
        self.stop_copier();
        self.recycle = Some(recycle);
    }

    /// Appends a record, and its line with `text` (what the page lists of it) to the list
    /// file; answers where the record is, where its line is in the list file, and the
    /// segments removed to keep the limits (the caller forgets what it kept of them).
    pub fn append(
        &mut self,
        record: &Record,
        text: &str,
        limits: Limits,
        now: Timestamp,
    ) -> io::Result<Appended> {
        let list_full = self.list.as_ref().is_some_and(|(_, end)| *end >= MAX_LIST);
        let full = list_full || self.segments.back().is_none_or(|s| limits.full(s));
        if self.file.is_none() || full {
            self.start_segment()?;
        }
        let id = &record.envelope.id;
        // The file the spool moved here (none when bodies are not kept): its bytes get their
        // place in the body file now, and are copied there off this thread.
        let kept = match limits.keeps_bodies() {
            true => body_bytes(&self.dir, id),
            false => 0,
        };
        let body = (kept > 0).then_some(Span {
            offset: self.bodies_end,
            len: kept,
        });
        let bytes = encode_with(record, body);
        let (file, offset) = self.file.as_mut().expect("a segment is open");
        file.write_all(&bytes)?;
        let segment = self.next - 1;
        let place = Place {
            segment,
            offset: *offset,
            len: bytes.len() as u64,
            body,
        };
        *offset += bytes.len() as u64;
        let line = list::encode(&list::Line {
            at: record.at,
            place,
            arrival: record.envelope.arrival,
            size: record.envelope.size,
            text,
        });
        let (list, end) = self.list.as_mut().expect("a segment is open");
        let listed = *end;
        list.write_all(line.as_bytes())?;
        *end += line.len() as u64;
        if let Some(span) = body {
            self.bodies_end += span.len;
            self.copy(Copy {
                from: self.dir.join(format!("{id}.{MSG}")),
                to: self.dir.join(bodies_name(segment)),
                span,
            });
        }
        let current = self.segments.back_mut().expect("a segment is open");
        current.records += 1;
        current.newest = current.newest.max(record.at);
        current.bytes += kept;
        Ok(Appended {
            place,
            listed,
            removed: self.enforce(limits, now),
        })
    }

    /// Has the copier thread copy a file into a body file (at once, here, if no thread can
    /// be started).
    fn copy(&mut self, order: Copy) {
        self.copies.push(order);
    }

    /// Hands the copies ordered since the last `flush` to the copier thread, in one go (one
    /// wake-up per batch of finished messages, not one per message).
    fn send_copies(&mut self) {
        if self.copies.is_empty() {
            return;
        }
        let orders = std::mem::take(&mut self.copies);
        if self.copier.is_none() {
            let (tx, rx) = crossbeam_channel::unbounded();
            let recycle = self.recycle.clone();
            let spawned = std::thread::Builder::new()
                .name("history-copy".into())
                .spawn(move || copier(rx, recycle));
            match spawned {
                Ok(handle) => self.copier = Some((tx, handle)),
                Err(e) => {
                    log::warn!("history: cannot start copying bodies: {e}; copied here");
                    let mut open = None;
                    for order in &orders {
                        finish(copy_one(&mut open, order), order, self.recycle.as_ref());
                    }
                    return;
                }
            }
        }
        if let Some((tx, _)) = &self.copier {
            let _ = tx.send(orders);
        }
    }

    /// Waits for the copies ordered so far; the next order starts the thread again.
    fn stop_copier(&mut self) {
        self.send_copies();
        if let Some((tx, handle)) = self.copier.take() {
            drop(tx);
            let _ = handle.join();
        }
    }

    fn start_segment(&mut self) -> io::Result<()> {
        self.flush();
        let path = self.dir.join(segment_name(self.next));
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let offset = file.metadata()?.len();
        let list_path = self.dir.join(list_name(self.next));
        let list = OpenOptions::new()
            .create(true)
            .append(true)
            .open(list_path)?;
        let end = list.metadata()?.len();
        self.file = Some((BufWriter::new(file), offset));
        self.list = Some((BufWriter::new(list), end));
        self.bodies_end = 0;
        self.segments.push_back(Segment {
            number: self.next,
            records: 0,
            newest: Timestamp(0),
            bytes: 0,
        });
        self.next += 1;
        Ok(())
    }

    /// Writes out what is buffered (no fsync).
    pub fn flush(&mut self) {
        self.send_copies();
        for (file, _) in [&mut self.file, &mut self.list].into_iter().flatten() {
            if let Err(e) = file.flush() {
                log::warn!("history journal: {e}");
            }
        }
    }

    /// The list files of the segments it knows of, newest first: each segment's number, its
    /// list file and the bytes of it written out (after `flush`).
    pub fn lists(&mut self) -> Vec<(u64, PathBuf, u64)> {
        self.flush();
        let current = self.list.as_ref().map(|(_, end)| *end);
        self.segments
            .iter()
            .rev()
            .map(|s| {
                let path = self.dir.join(list_name(s.number));
                let end = match current {
                    Some(end) if s.number + 1 == self.next => end,
                    _ => u64::MAX,
                };
                (s.number, path, end)
            })
            .collect()
    }

    /// The list file of segment `number`.
    pub fn list_path(&self, number: u64) -> PathBuf {
        self.dir.join(list_name(number))
    }

    /// Learns of the segments of earlier runs (read back at start); answers the segments
    /// removed to keep the limits.
    pub fn adopt(&mut self, older: Vec<Segment>, limits: Limits, now: Timestamp) -> Vec<u64> {
        for s in older.into_iter().rev() {
            if self.segments.iter().all(|kept| kept.number != s.number) {
                self.segments.push_front(s);
            }
        }
        self.enforce(limits, now)
    }

    /// Removes the oldest segments, with their body files, while the others still hold
    /// `max` records, all of it is older than `age`, or the files kept are more than
    /// `max_bytes`; never the one being written.
    fn enforce(&mut self, limits: Limits, now: Timestamp) -> Vec<u64> {
        let mut total: usize = self.segments.iter().map(|s| s.records).sum();
        let mut bytes: u64 = self.segments.iter().map(|s| s.bytes).sum();
        let mut removed = Vec::new();
        while self.segments.len() > 1 {
            let oldest = self.segments[0];
            let expired = now.since(oldest.newest) > limits.age;
            let too_big = oldest.bytes > 0 && bytes > limits.max_bytes;
            if !(expired || too_big || total - oldest.records >= limits.max) {
                break;
            }
            total -= oldest.records;
            bytes -= oldest.bytes;
            removed.push(oldest.number);
            self.segments.pop_front();
        }
        if !removed.is_empty() {
            self.prune(removed.clone());
        }
        removed
    }

    /// Removes these segments with their files, in the background (at once if no thread
    /// can be started). One left behind by a stop is read back and removed by the next run.
    fn prune(&mut self, numbers: Vec<u64>) {
        // Their copies first (a message's file removed before its copy would lose its bytes,
        // a copy after would make the body file again): the copies ordered a moment ago, once
        // a segment (a tenth of the limits).
        self.stop_copier();
        self.pruning.retain(|h| !h.is_finished());
        let remove = |dir: &Path, numbers: &[u64]| {
            for &n in numbers {
                if let Err(e) = remove_segment(dir, n) {
                    log::warn!("history journal: cannot remove segment {n}: {e}");
                }
            }
        };
        let (dir, those) = (self.dir.clone(), numbers.clone());
        let spawned = std::thread::Builder::new()
            .name("history-prune".into())
            .spawn(move || remove(&dir, &those));
        match spawned {
            Ok(handle) => self.pruning.push(handle),
            Err(_) => remove(&self.dir, &numbers),
        }
    }

    /// Waits for the old segments being removed and the bodies being copied.
    #[cfg(test)]
    pub fn settle(&mut self) {
        self.stop_copier();
        for h in self.pruning.drain(..) {
            let _ = h.join();
        }
    }

    /// Where the bytes of a finished message at `place` are (`None`: a record of before
    /// body files, or not in the journal: its own file, if any).
    pub fn kept(&self, id: &impl fmt::Display, place: Option<Place>) -> Kept {
        kept_in(&self.dir, id, place)
    }

    /// Erases a finished message's bytes (`Kept::forget`) once the copies ordered so far are
    /// done (a copy still running would write them back); whether there were some.
    pub fn forget(&mut self, id: &impl fmt::Display, place: Option<Place>) -> io::Result<bool> {
        self.stop_copier();
        self.kept(id, place).forget()
    }

    /// The first segment this run writes: those below are of earlier runs (`read_all`).
    pub fn first_own(&self) -> u64 {
        self.first_own
    }

    /// Reads a record back (after `flush`, for the one being written).
    pub fn read(&mut self, place: Place) -> io::Result<Record> {
        if self.file.is_some() && place.segment + 1 == self.next {
            self.flush();
        }
        read_at(&self.dir, place)
    }
}

/// Removes a segment's body file, its messages' own files left behind (named by its
/// records: a copy not done before a stop, or records of before body files), then the
/// segment.
fn remove_segment(dir: &Path, number: u64) -> io::Result<()> {
    let names = [
        bodies_name(number),
        list_name(number),
        list_aside_name(number),
    ];
    for name in names {
        match fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    let path = dir.join(segment_name(number));
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    while let Ok(Some((record, _))) = next_record(&mut reader, &mut buf) {
        let body = dir.join(format!("{}.{MSG}", record.envelope.id));
        if let Err(e) = fs::remove_file(body)
            && e.kind() != io::ErrorKind::NotFound
        {
            log::warn!("history: cannot remove {}'s file: {e}", record.envelope.id);
        }
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A record of the journal folder `dir` at `place`.
fn read_at(dir: &Path, place: Place) -> io::Result<Record> {
    let mut f = File::open(dir.join(segment_name(place.segment)))?;
    f.seek(SeekFrom::Start(place.offset))?;
    let mut bytes = vec![0; place.len as usize];
    f.read_exact(&mut bytes)?;
    decode(&bytes)
        .map(|(r, _)| r)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

mod kept;
pub mod list;
use kept::{Copy, copier, copy_one, finish};
pub use kept::{Kept, kept_in, locate};

#[cfg(test)]
mod tests;
