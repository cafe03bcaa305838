//! A message's content while it is being received: in memory up to `IN_MEMORY` bytes (the
//! fast path: most mail is small), then in a temporary spool file (`Spill`), so that a session
//! holds a bounded amount of memory whatever `max_message_size` allows. The receivers append
//! to `buffer()`; `settle` moves what they appended to the file once the content is large.

use crate::spool::{Spill, Spool};
use std::io;
use std::sync::Arc;

/// What a message may take in memory before it goes to a file.
pub const IN_MEMORY: usize = 256 * 1024;
/// The most a receiver appends between two `settle` calls (one read of the session). The
/// content goes to the file before the next piece could pass `IN_MEMORY`, so that the buffer
/// never grows past it (a `Vec` doubles: one byte more would make it 512 KiB).
const PIECE: usize = 64 * 1024;

/// The content received so far.
pub struct Content {
    spool: Arc<Spool>,
    /// Bytes not in the file (all of them while the message is small).
    buffer: Vec<u8>,
    /// The file, once the content passed `IN_MEMORY`.
    spill: Option<Spill>,
    /// Writing the file failed: the message cannot be accepted (`452`); what follows is
    /// dropped, and the data is still read to its end.
    failed: Option<io::Error>,
}

/// Where the whole content is at the end.
pub enum Received<'a> {
    /// In memory.
    Small(&'a [u8]),
    /// In the file.
    Spilled(&'a Spill),
}

impl Content {
    pub fn new(spool: Arc<Spool>) -> Content {
        Content {
            spool,
            buffer: Vec::new(),
            spill: None,
            failed: None,
        }
    }

    /// Where the receivers append content.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buffer
    }

    /// After content was appended: once the next piece could pass `IN_MEMORY`, the buffer
    /// goes to the file (made at the first time) and is emptied, and its memory returned the
    /// first time.
    pub fn settle(&mut self) {
        let spilled = self.spill.is_some() || self.failed.is_some();
        if self.buffer.len() + PIECE <= IN_MEMORY && !spilled {
            return;
        }
        if self.failed.is_none()
            && let Err(e) = self.write_out()
        {
            self.failed = Some(e);
            self.spill = None;
        }
        if !spilled {
            // The first part was big; what follows comes a read at a time.
            self.buffer = Vec::new();
        } else {
            self.buffer.clear();
        }
    }

    fn write_out(&mut self) -> io::Result<()> {
        let spill = match &mut self.spill {
            Some(spill) => spill,
            None => self.spill.insert(self.spool.spill()?),
        };
        spill.write(&self.buffer)
    }

    /// The content, complete: in memory, or in the file with the buffer's rest written to it.
    /// `Err` when the file could not be written.
    pub fn finish(&mut self) -> io::Result<Received<'_>> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if let Some(spill) = &mut self.spill {
            spill.write(&self.buffer)?;
            self.buffer.clear();
            return Ok(Received::Spilled(spill));
        }
        Ok(Received::Small(&self.buffer))
    }

    /// Forgets the content (the file is removed) and returns its memory.
    pub fn reset(&mut self) {
        self.buffer = Vec::new();
        self.spill = None;
        self.failed = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spool() -> (std::path::PathBuf, Arc<Spool>) {
        let dir = std::env::temp_dir().join(format!(
            "qksmtp-content-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let spool = Arc::new(Spool::open(&dir).unwrap());
        (dir, spool)
    }

    fn read_all(spill: &Spill) -> Vec<u8> {
        let mut out = vec![0; spill.size() as usize];
        assert_eq!(spill.read_at(0, &mut out).unwrap(), out.len());
        out
    }

    fn tmp_files(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count()
    }

    /// A DATA stream past `IN_MEMORY` (dot-stuffed lines, a bare LF, the end marker inside a
    /// piece) fed to the DATA receiver into a `Content` one byte at a time and in pieces of
    /// every size from 1 to 17 bytes: the file holds what one whole feed gives, and the data
    /// ends at the same byte.
    #[test]
    fn a_data_stream_split_anywhere_gives_the_same_file() {
        use crate::smtp::data::{DataReceiver, Feed};
        let (dir, spool) = spool();
        let mut wire = Vec::new();
        let mut n = 0;
        while wire.len() < IN_MEMORY + 5000 {
            wire.extend_from_slice(format!("..{n} dotted\r\nplain {n}\n").as_bytes());
            n += 1;
        }
        wire.extend_from_slice(b"last\r\n.\r\nQUIT\r\n");
        let mut whole = Vec::new();
        let Feed::Done { consumed, result } = DataReceiver::new(u64::MAX).feed(&wire, &mut whole)
        else {
            panic!("no end")
        };
        assert!(result.bare_newline && whole.len() > IN_MEMORY);
        for step in 1..=17 {
            let mut content = Content::new(spool.clone());
            let mut rx = DataReceiver::new(u64::MAX);
            let mut used = 0;
            for piece in wire.chunks(step) {
                let fed = rx.feed(piece, content.buffer());
                content.settle();
                match fed {
                    Feed::NeedMore => used += piece.len(),
                    Feed::Done { consumed, .. } => {
                        used += consumed;
                        break;
                    }
                }
            }
            assert_eq!(used, consumed, "pieces of {step}");
            let Received::Spilled(spill) = content.finish().unwrap() else {
                panic!("in memory")
            };
            assert!(read_all(spill) == whole, "pieces of {step}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn small_content_stays_in_memory_and_large_goes_to_a_file_in_order() {
        let (dir, spool) = spool();
        // (bytes appended per step, steps)
        for (step, steps) in [
            (1000usize, 10usize),
            (64 * 1024, 3),
            (64 * 1024, 20),
            (1, 5),
        ] {
            let mut content = Content::new(spool.clone());
            let mut want = Vec::new();
            for i in 0..steps {
                let piece: Vec<u8> = (0..step).map(|j| ((i * 7 + j) % 251) as u8).collect();
                content.buffer().extend_from_slice(&piece);
                want.extend_from_slice(&piece);
                content.settle();
                assert!(content.buffer.len() + PIECE <= IN_MEMORY);
                assert!(content.buffer.capacity() <= IN_MEMORY);
            }
            let small = want.len() + PIECE <= IN_MEMORY;
            match content.finish().unwrap() {
                Received::Small(bytes) => {
                    assert!(small);
                    assert_eq!(bytes, &want[..]);
                }
                Received::Spilled(spill) => {
                    assert!(!small);
                    assert_eq!(read_all(spill), want);
                }
            }
            assert_eq!(tmp_files(&dir), usize::from(!small));
            content.reset();
            assert_eq!(tmp_files(&dir), 0, "the file goes with the content");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
