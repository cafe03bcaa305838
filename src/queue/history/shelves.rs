//! The page's index of the finished messages the journal lists (`journal::list`): per
//! segment, for each message its ID as a number, where its line starts in the segment's list
//! file and when it finished, 16 bytes a message. The listing, its search and a message's
//! detail read the lines themselves from the list files.

use crate::spool::id::MessageId;
use crate::time::Timestamp;
use std::collections::VecDeque;
use std::time::Duration;

/// One listed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// The ID's 16 hex digits as a number.
    id: u64,
    /// Where its line starts in the list file.
    line: u32,
    /// When it finished, seconds since 1970.
    at: u32,
}

/// The messages of one segment, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shelf {
    segment: u64,
    entries: Vec<Entry>,
    /// Entries before this one are no longer listed (past `history_max` or `history_days`).
    first: usize,
}

/// Where a listed message's line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineAt {
    pub segment: u64,
    pub from: u64,
    /// Where the next line starts (`None`: it is the segment's last so far).
    pub to: Option<u64>,
}

/// Every segment's messages, oldest segment first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shelves {
    shelves: VecDeque<Shelf>,
    listed: usize,
}

/// An ID as the index keeps it.
pub fn key(id: &str) -> Option<u64> {
    u64::from_str_radix(id, 16).ok().filter(|_| id.len() == 16)
}

impl Shelves {
    /// Lists a message after the others; `line`: where its line is in `segment`'s list file.
    pub fn push(&mut self, segment: u64, id: u64, line: u64, at: Timestamp) {
        if self.shelves.back().is_none_or(|s| s.segment != segment) {
            if let Some(done) = self.shelves.back_mut() {
                done.entries.shrink_to_fit();
            }
            self.shelves.push_back(Shelf {
                segment,
                entries: Vec::new(),
                first: 0,
            });
        }
        let shelf = self.shelves.back_mut().expect("just made");
        shelf.entries.push(Entry {
            id,
            line: u32::try_from(line).unwrap_or(u32::MAX),
            at: u32::try_from(at.as_secs()).unwrap_or(u32::MAX),
        });
        self.listed += 1;
    }

    /// Messages listed.
    pub fn len(&self) -> usize {
        self.listed
    }

    /// The `n`th newest message's line.
    pub fn nth(&self, mut n: usize) -> Option<LineAt> {
        for shelf in self.shelves.iter().rev() {
            let shown = shelf.entries.len() - shelf.first;
            if n < shown {
                let i = shelf.entries.len() - 1 - n;
                return Some(shelf.line_at(i));
            }
            n -= shown;
        }
        None
    }

    /// A listed message's line, by ID.
    pub fn find(&self, id: &MessageId) -> Option<LineAt> {
        let key = key(id.as_str())?;
        self.shelves.iter().rev().find_map(|shelf| {
            let i = shelf.entries[shelf.first..]
                .iter()
                .rposition(|e| e.id == key)?;
            Some(shelf.line_at(shelf.first + i))
        })
    }

    /// Each segment's listed lines, newest segment first: its number and where its first
    /// listed line starts (the rest of its list file is listed).
    pub fn segments(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.shelves
            .iter()
            .rev()
            .filter(|s| s.first < s.entries.len())
            .map(|s| (s.segment, u64::from(s.entries[s.first].line)))
    }

    /// Takes the messages of earlier runs (read back at start) as older than these.
    pub fn adopt(&mut self, older: Shelves) {
        for shelf in older.shelves.into_iter().rev() {
            if self.shelves.iter().all(|s| s.segment != shelf.segment) {
                self.listed += shelf.entries.len() - shelf.first;
                self.shelves.push_front(shelf);
            }
        }
    }

    /// Drops the messages of removed segments.
    pub fn forget(&mut self, segments: &[u64]) {
        let listed = &mut self.listed;
        self.shelves.retain(|s| {
            let keep = !segments.contains(&s.segment);
            if !keep {
                *listed -= s.entries.len() - s.first;
            }
            keep
        });
    }

    /// Lists at most `capacity`, none finished more than `age` before `now`.
    pub fn trim(&mut self, capacity: usize, age: Option<Duration>, now: Timestamp) {
        let too_old =
            |e: &Entry| age.is_some_and(|age| now.since(Timestamp::from_secs(e.at.into())) > age);
        while let Some(oldest) = self.shelves.front_mut() {
            match oldest.entries.get(oldest.first) {
                Some(e) if self.listed > capacity || too_old(e) => {
                    oldest.first += 1;
                    self.listed -= 1;
                }
                Some(_) => return,
                None => {
                    self.shelves.pop_front();
                }
            }
        }
    }

    /// Bytes of the index on the heap (what it has reserved).
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        self.shelves
            .iter()
            .map(|s| std::mem::size_of::<Shelf>() + s.entries.capacity() * size_of::<Entry>())
            .sum()
    }
}

impl Shelf {
    fn line_at(&self, i: usize) -> LineAt {
        LineAt {
            segment: self.segment,
            from: self.entries[i].line.into(),
            to: self.entries.get(i + 1).map(|e| e.line.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> MessageId {
        MessageId::from_parts(1_764_000_000_000_000 + n, 0)
    }

    /// Segments 1..=3 of 4 messages each, line n at offset 100 * (n % 4), finished at n s.
    fn three() -> Shelves {
        let mut s = Shelves::default();
        for n in 0..12u64 {
            let k = key(id(n).as_str()).unwrap();
            s.push(1 + n / 4, k, 100 * (n % 4), Timestamp::from_secs(1000 + n));
        }
        s
    }

    #[test]
    fn lists_newest_first_across_segments_and_finds_by_id() {
        let s = three();
        assert_eq!(s.len(), 12);
        let at = |segment, from, to| Some(LineAt { segment, from, to });
        assert_eq!(s.nth(0), at(3, 300, None));
        assert_eq!(s.nth(1), at(3, 200, Some(300)));
        assert_eq!(s.nth(4), at(2, 300, None));
        assert_eq!(s.nth(11), at(1, 0, Some(100)));
        assert_eq!(s.nth(12), None);
        assert_eq!(s.find(&id(5)), at(2, 100, Some(200)));
        assert_eq!(s.find(&id(99)), None);
        assert_eq!(s.segments().collect::<Vec<_>>(), [(3, 0), (2, 0), (1, 0)]);
        // 16 bytes a message, and a finished segment's entries are not over-reserved.
        assert_eq!(size_of::<Entry>(), 16);
        let mut big = Shelves::default();
        for n in 0..10_000u64 {
            big.push(1 + n / 5000, n, n * 200, Timestamp::from_secs(n));
        }
        assert!(
            big.heap_bytes() < 10_000 * 16 * 3 / 2,
            "{}",
            big.heap_bytes()
        );
    }

    #[test]
    fn trimmed_by_count_and_age_and_pruned_and_restored_by_segment() {
        let mut s = three();
        s.trim(10, None, Timestamp::from_secs(2000));
        assert_eq!((s.len(), s.nth(9).unwrap().from), (10, 200));
        assert_eq!(s.find(&id(1)), None);
        assert_eq!(s.segments().last(), Some((1, 200)));
        // Finished more than 5 s before 1011: messages 0..=5 go, a whole segment with them.
        s.trim(
            100,
            Some(Duration::from_secs(5)),
            Timestamp::from_secs(1011),
        );
        assert_eq!(s.len(), 6);
        assert_eq!(s.segments().collect::<Vec<_>>(), [(3, 0), (2, 200)]);
        s.forget(&[2]);
        assert_eq!(
            (s.len(), s.nth(3)),
            (
                4,
                Some(LineAt {
                    segment: 3,
                    from: 0,
                    to: Some(100)
                })
            )
        );
        // Segments of an earlier run come after (older), those already known once.
        let mut newer = Shelves::default();
        newer.push(4, 7, 0, Timestamp::from_secs(2000));
        newer.adopt(three());
        assert_eq!(newer.len(), 13);
        assert_eq!(newer.nth(0).unwrap().segment, 4);
        assert_eq!(newer.nth(12).unwrap().segment, 1);
        let again = newer.clone();
        newer.adopt(again);
        assert_eq!(newer.len(), 13);
    }
}
