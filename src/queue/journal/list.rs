//! A segment's list file (`N.list`): one line per record, in the segment's order, with what
//! the page lists of it (the history's compact text) and where the record is, so that the
//! listing, its search and a message's place are read from disk rather than kept in memory.
//! Appended with the records, removed with the segment, rebuilt from the segment when it is
//! missing or does not end where the segment does (a crash, or a journal of before list
//! files). Pure codec (`encode`, `decode`, `lines`) plus the reads at offsets.

use super::{Place, Span};
use crate::time::Timestamp;
use std::fs::File;
use std::io;
use std::path::Path;

/// A segment's list file is `N.LIST`.
pub const EXT: &str = "list";

/// One record as listed: `AT OFFSET LEN BODY ARRIVAL SIZE TEXT\n`, BODY being `-` or
/// `OFFSET,LEN` in the body file; TEXT has no line break (the history's compact text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// When the message finished.
    pub at: Timestamp,
    /// Its record in the segment (`segment` is the list file's own number).
    pub place: Place,
    pub arrival: Timestamp,
    pub size: u64,
    pub text: &'a str,
}

impl Line<'_> {
    /// Where the record after this one starts in the segment.
    pub fn record_end(&self) -> u64 {
        self.place.offset + self.place.len
    }
}

/// The line, with its `\n`; a line break in `text` would end it early, so it is a space.
pub fn encode(line: &Line) -> String {
    let p = line.place;
    let body = p
        .body
        .map_or_else(|| "-".to_string(), |b| format!("{},{}", b.offset, b.len));
    let mut out = format!(
        "{} {} {} {body} {} {} ",
        line.at.as_micros(),
        p.offset,
        p.len,
        line.arrival.as_micros(),
        line.size
    );
    out.extend(line.text.chars().map(|c| if c == '\n' { ' ' } else { c }));
    out.push('\n');
    out
}

/// One line of segment `segment`'s list file, without its `\n`; `None`: damaged.
pub fn decode(segment: u64, line: &[u8]) -> Option<Line<'_>> {
    decode_str(segment, std::str::from_utf8(line).ok()?)
}

/// `decode` of a line already read as text.
pub fn decode_str(segment: u64, text: &str) -> Option<Line<'_>> {
    // By hand rather than split and parse: a search reads every line.
    let mut head = Head {
        bytes: text.as_bytes(),
        at: 0,
    };
    let (at, offset, len) = (head.number(b' ')?, head.number(b' ')?, head.number(b' ')?);
    let body = match head.bytes.get(head.at) {
        Some(b'-') => {
            head.at += 1;
            head.skip(b' ')?;
            None
        }
        _ => Some(Span {
            offset: head.number(b',')?,
            len: head.number(b' ')?,
        }),
    };
    let (arrival, size) = (head.number(b' ')?, head.number(b' ')?);
    Some(Line {
        at: Timestamp(at),
        place: Place {
            segment,
            offset,
            len,
            body,
        },
        arrival: Timestamp(arrival),
        size,
        text: text.get(head.at..)?,
    })
}

/// The numbers at the start of a line, read in turn.
struct Head<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Head<'_> {
    /// The digits at `at`, then `end`.
    fn number(&mut self, end: u8) -> Option<u64> {
        let start = self.at;
        let mut n: u64 = 0;
        while let Some(d) = self.bytes.get(self.at).filter(|b| b.is_ascii_digit()) {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.at += 1;
        }
        (self.at > start).then_some(())?;
        self.skip(end)?;
        Some(n)
    }

    fn skip(&mut self, end: u8) -> Option<()> {
        (self.bytes.get(self.at) == Some(&end)).then(|| self.at += 1)
    }
}

/// The whole lines of `bytes` (which start at a line's start), each with its offset in
/// `bytes`: a last line without its `\n` (cut by a crash) is not one.
pub fn lines(bytes: &[u8]) -> impl DoubleEndedIterator<Item = (usize, &[u8])> {
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let base = bytes.as_ptr() as usize;
    bytes[..whole]
        .split_inclusive(|&b| b == b'\n')
        .map(move |l| (l.as_ptr() as usize - base, &l[..l.len() - 1]))
}

/// Bytes read at a time when a list file is read through (`newest_first`, `oldest_first`).
const CHUNK: usize = 128 * 1024;

/// Hands the whole lines of the list file at `path` from offset `from` (a line's start) to
/// its end to `each`, newest first, while it answers true.
pub fn newest_first(path: &Path, from: u64, mut each: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
    newest_chunks(path, from, |lines| {
        lines
            .split_terminator('\n')
            .rev()
            .all(|line| each(line.as_bytes()))
    })
}

/// Hands the list file at `path` from offset `from` (a line's start) to its end to `each`,
/// while it answers true, in pieces of whole lines (each ending in `\n`, lines not valid
/// UTF-8 made so), newest piece first: read backwards a chunk at a time (a line longer than
/// a chunk is read whole).
pub fn newest_chunks(path: &Path, from: u64, mut each: impl FnMut(&str) -> bool) -> io::Result<()> {
    let file = File::open(path)?;
    let mut end = file.metadata()?.len();
    let mut want = CHUNK as u64;
    let mut buf = Vec::new();
    while end > from {
        let start = end.saturating_sub(want).max(from);
        buf.resize((end - start) as usize, 0);
        if fill_at(&file, &mut buf, start)? < buf.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        // The chunk's first line may have begun before it: its lines start after a `\n`; a
        // last line without its `\n` (cut by a crash) is not one.
        let skip = match start == from {
            true => 0,
            false => buf
                .iter()
                .position(|&b| b == b'\n')
                .map_or(buf.len(), |p| p + 1),
        };
        let whole = buf[skip..]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(skip, |p| skip + p + 1);
        if whole == skip && start > from {
            want *= 2;
            continue;
        }
        let lines = match std::str::from_utf8(&buf[skip..whole]) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(&buf[skip..whole]),
        };
        if !each(&lines) {
            return Ok(());
        }
        end = start + skip as u64;
        want = CHUNK as u64;
    }
    Ok(())
}

/// Hands the whole lines of the list file at `path` to `each` with their offsets, oldest
/// first; answers where the last whole line ends.
pub fn oldest_first(path: &Path, mut each: impl FnMut(u64, &[u8])) -> io::Result<u64> {
    let mut reader = io::BufReader::with_capacity(CHUNK, File::open(path)?);
    let (mut at, mut line) = (0, Vec::new());
    loop {
        line.clear();
        let n = io::BufRead::read_until(&mut reader, b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            return Ok(at);
        }
        each(at, &line[..n - 1]);
        at += n as u64;
    }
}

/// Bytes `from..to` of the list file at `path` (fewer if it is shorter: `u64::MAX` reads
/// to its end).
pub fn read_range(path: &Path, from: u64, to: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let to = to.min(file.metadata()?.len());
    let mut buf = vec![0; to.saturating_sub(from) as usize];
    let done = fill_at(&file, &mut buf, from)?;
    buf.truncate(done);
    Ok(buf)
}

/// Reads `buf` full from `offset` unless the file ends first; answers how much it read.
fn fill_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match crate::spool::read_at(file, &mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u64, text: &str, body: Option<Span>) -> Line<'_> {
        Line {
            at: Timestamp(1_764_000_000_000_000 + n),
            place: Place {
                segment: 7,
                offset: 1000 * n,
                len: 900 + n,
                body,
            },
            arrival: Timestamp(1_763_000_000_000_000 + n),
            size: 2048 + n,
            text,
        }
    }

    #[test]
    fn a_line_reads_back_as_written() {
        let body = Some(Span {
            offset: 4096,
            len: 77,
        });
        let text = "0000ABCDEF012345\u{1f}a@x.test\u{1f}Hi there\u{1f}D-1,0 b@y.test";
        for l in [line(1, text, None), line(2, text, body), line(3, "", None)] {
            let bytes = encode(&l);
            assert!(bytes.ends_with('\n') && bytes.matches('\n').count() == 1);
            let got = decode(7, &bytes.as_bytes()[..bytes.len() - 1]);
            assert_eq!(got, Some(l));
            assert_eq!(got.unwrap().record_end(), l.place.offset + l.place.len);
        }
        // A line break in the text cannot end the line early.
        let broken = encode(&line(4, "a\nb", None));
        assert_eq!(decode(7, broken.trim_end().as_bytes()).unwrap().text, "a b");
        for damaged in [
            "",
            "1 2 3",
            "1 2 3 x,4 5 6 t",
            "1 2 3 - 5",
            "a 2 3 - 5 6 t",
            "1 2 3 -5 6 t",
            "1 2 3 4 5 6 t",
            "1 2 3 4,5,6 7 t",
            "1  2 3 - 5 6 t",
            "99999999999999999999 2 3 - 5 6 t",
        ] {
            assert_eq!(decode(7, damaged.as_bytes()), None, "{damaged:?}");
        }
    }

    #[test]
    fn a_cut_last_line_is_not_listed_and_lines_split_anywhere_read_whole() {
        let all: String = (1..=3).map(|n| encode(&line(n, "t", None))).collect();
        let got: Vec<_> = lines(all.as_bytes())
            .map(|(at, l)| (at, decode(7, l).unwrap().place.offset))
            .collect();
        let second = encode(&line(1, "t", None)).len();
        assert_eq!(got[..2], [(0, 1000), (second, 2000)]);
        assert_eq!(got.len(), 3);
        // Cut anywhere inside the last line (a crash while writing): the others only.
        let last = all.len() - encode(&line(3, "t", None)).len();
        for cut in last..all.len() {
            assert_eq!(lines(&all.as_bytes()[..cut]).count(), 2, "cut at {cut}");
        }
        // Newest first, as the page lists them.
        let newest: Vec<_> = lines(all.as_bytes()).rev().map(|(at, _)| at).collect();
        assert_eq!(newest, [last, second, 0]);
        // A range read at any offsets gives the file's bytes (fewer past its end).
        let dir = std::env::temp_dir().join(format!("qksmtp-list-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("00000007.list");
        std::fs::write(&path, &all).unwrap();
        for (from, to) in [
            (0, all.len()),
            (3, 17),
            (second, last),
            (last, all.len() + 50),
        ] {
            let want = &all.as_bytes()[from..to.min(all.len())];
            assert_eq!(read_range(&path, from as u64, to as u64).unwrap(), want);
        }
        // Read through backwards in chunks, lines longer than a chunk too; forwards with
        // their offsets; a cut last line is neither.
        let long = "y".repeat(3 * CHUNK);
        let mut many = String::new();
        for n in 0..4000 {
            many.push_str(&encode(&line(
                n,
                if n % 1000 == 7 { &long } else { "t" },
                None,
            )));
        }
        let cut = many.len() + 9;
        many.push_str(&encode(&line(4000, "torn", None)));
        std::fs::write(&path, &many.as_bytes()[..cut]).unwrap();
        let mut backwards = Vec::new();
        newest_first(&path, 0, |l| {
            backwards.push(decode(7, l).unwrap().place.offset);
            true
        })
        .unwrap();
        let want: Vec<u64> = (0..4000).rev().map(|n| 1000 * n).collect();
        assert_eq!(backwards, want);
        let mut offsets = Vec::new();
        let end = oldest_first(&path, |at, l| {
            assert_eq!(
                decode(7, l).unwrap().place.offset,
                1000 * offsets.len() as u64
            );
            offsets.push(at);
        })
        .unwrap();
        assert_eq!((offsets.len(), end), (4000, cut as u64 - 9));
        // From the start of a line inside the file: that line and those after it.
        let from = offsets[3990];
        let mut tail = Vec::new();
        newest_first(&path, from, |l| {
            tail.push(decode(7, l).unwrap().place.offset);
            true
        })
        .unwrap();
        assert_eq!(tail, want[..10]);
        let mut first = Vec::new();
        newest_first(&path, 0, |l| {
            first.push(decode(7, l).unwrap().place.offset);
            first.len() < 2
        })
        .unwrap();
        assert_eq!(first, want[..2]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
