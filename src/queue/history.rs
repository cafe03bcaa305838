//! Recently finished messages (every recipient delivered or failed), kept in memory after
//! their spool files are gone so that the status page can still show them: the envelope,
//! when it finished, its headers and its step record. Bounded; empty when the page is off.

use crate::spool::envelope::Envelope;
use crate::spool::id::MessageId;
use crate::time::Timestamp;
use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;

/// Headers are read up to this many bytes; step records up to `MAX_STEPS`.
const MAX_HEADERS: u64 = 32 * 1024;
const MAX_STEPS: u64 = 256 * 1024;

#[derive(Debug, Clone)]
pub struct Finished {
    pub envelope: Envelope,
    pub at: Timestamp,
    pub headers: String,
    pub steps: String,
}

#[derive(Debug, Default)]
pub struct History {
    capacity: usize,
    entries: VecDeque<Finished>,
}

impl History {
    pub fn new(capacity: usize) -> History {
        History {
            capacity,
            entries: VecDeque::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    pub fn push(&mut self, entry: Finished) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity {
            self.entries.pop_back();
        }
        self.entries.push_front(entry);
    }

    /// Newest first.
    pub fn iter(&self) -> impl Iterator<Item = &Finished> {
        self.entries.iter()
    }

    pub fn get(&self, id: &MessageId) -> Option<&Finished> {
        self.entries.iter().find(|f| &f.envelope.id == id)
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

/// The (unfolded) value of the first header field called `name` in a header block.
pub fn header_value(headers: &str, name: &str) -> Option<String> {
    let mut lines = headers.lines();
    while let Some(line) = lines.next() {
        let Some((n, v)) = line.split_once(':') else {
            continue;
        };
        if n.trim().eq_ignore_ascii_case(name) && !n.starts_with([' ', '\t']) {
            let mut value = v.trim().to_string();
            for cont in lines.by_ref() {
                if !cont.starts_with([' ', '\t']) {
                    break;
                }
                value.push(' ');
                value.push_str(cont.trim());
            }
            return Some(value);
        }
    }
    None
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

    #[test]
    fn header_block_stops_at_the_empty_line() {
        assert_eq!(
            header_block(b"Subject: a\r\nX: b\r\n\r\nbody\r\n"),
            "Subject: a\nX: b\n"
        );
        assert_eq!(header_block(b"Subject: a"), "Subject: a");
        let h = "Received: x\n subject: no\nSubject: hello\n  world\nTo: b\n";
        assert_eq!(header_value(h, "subject").as_deref(), Some("hello world"));
        assert_eq!(header_value(h, "cc"), None);
    }
}
