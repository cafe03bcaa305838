//! Message IDs: short, unique, time-ordered names shared by the spool files, the log and the
//! `queued as` reply.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A queue ID: 16 upper-case hex digits, 13 of microseconds since 1970 and 3 of a counter.
/// Sorting IDs as strings sorts messages by arrival. Kept inline (16 bytes, no heap): the
/// scheduler holds several copies of every queued message's ID.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId([u8; 16]);

impl MessageId {
    /// Builds the ID for a time (µs since 1970) and a sequence number (only its low 12 bits).
    pub fn from_parts(micros: u64, seq: u32) -> MessageId {
        let value = ((micros & 0xF_FFFF_FFFF_FFFF) << 12) | u64::from(seq & 0xFFF);
        let mut digits = [0u8; 16];
        for (i, d) in digits.iter_mut().enumerate() {
            *d = b"0123456789ABCDEF"[(value >> (60 - 4 * i) & 0xF) as usize];
        }
        MessageId(digits)
    }

    /// Accepts exactly what `from_parts` makes (so a file name can never be a path).
    pub fn parse(text: &str) -> Option<MessageId> {
        let ok = text.len() == 16 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'));
        let digits: [u8; 16] = text.as_bytes().try_into().ok()?;
        ok.then_some(MessageId(digits))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("an ID holds hex digits only")
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({:?})", self.as_str())
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Hands out fresh IDs: the clock plus a per-process counter (seeded from the process ID so
/// that `qksmtp send` and the server rarely pick the same one; the spool still refuses a
/// clash with an exclusive create).
pub struct IdGenerator {
    seq: AtomicU32,
}

impl IdGenerator {
    pub fn new() -> IdGenerator {
        IdGenerator {
            seq: AtomicU32::new(std::process::id().wrapping_mul(2654435761)),
        }
    }

    pub fn next(&self) -> MessageId {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        MessageId::from_parts(micros, self.seq.fetch_add(1, Ordering::Relaxed))
    }
}

impl Default for IdGenerator {
    fn default() -> Self {
        IdGenerator::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fixed_width_and_parse_back() {
        let id = MessageId::from_parts(1_764_000_000_123_456, 7);
        assert_eq!(id.as_str().len(), 16);
        assert_eq!(MessageId::parse(id.as_str()), Some(id.clone()));
        for bad in [
            "",
            "0123",
            "../../etc/passw",
            "0194f2a3b4c5d001",
            "0194F2A3B4C5D00G",
        ] {
            assert_eq!(MessageId::parse(bad), None, "{bad}");
        }
    }

    /// The same 16 characters as ever: 13 hex digits of µs, 3 of the counter's low bits.
    #[test]
    fn ids_keep_their_written_form() {
        let id = MessageId::from_parts(0x1234_5678_9ABC, 0x1DEF);
        assert_eq!(id.as_str(), "0123456789ABCDEF");
        assert_eq!(id.to_string(), "0123456789ABCDEF");
        assert_eq!(format!("{id:?}"), "MessageId(\"0123456789ABCDEF\")");
    }

    #[test]
    fn ids_sort_by_time() {
        let a = MessageId::from_parts(1_764_000_000_000_000, 0xFFF);
        let b = MessageId::from_parts(1_764_000_000_000_001, 0);
        assert!(a < b);
    }

    #[test]
    fn generator_never_repeats_in_a_burst() {
        let g = IdGenerator::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..4000 {
            assert!(seen.insert(g.next()));
        }
    }
}
