//! `qksmtp send`'s standard input read a piece at a time and normalized as it comes (`Lines`),
//! so that a message of any size takes a bounded amount of memory: the header block first
//! (what `-t`, Bcc and From need), then the body piece by piece, counted against
//! `max_message_size`.

use super::{EX_DATAERR, EX_NOINPUT, Lines, head_complete};
use std::io::{self, Read};

/// Bytes read from the input at a time; normalized, a piece is at most twice as long (every
/// LF made CRLF), within what `intake::content::Content` takes between two settles.
const PIECE: usize = 32 * 1024;

/// The input, as it is read.
pub struct Input<R> {
    reader: R,
    lines: Lines,
    /// Bytes read so far (what `max_message_size` limits).
    read: u64,
    limit: u64,
    /// A byte with the high bit set was in the message.
    pub eight_bit: bool,
    /// The input is used up (or ended at a lone ".").
    pub done: bool,
}

impl<R: Read> Input<R> {
    pub fn new(reader: R, ignore_dots: bool, limit: u64) -> Input<R> {
        Input {
            reader,
            lines: Lines::new(ignore_dots),
            read: 0,
            limit,
            eight_bit: false,
            done: false,
        }
    }

    /// The message's start, normalized: at least its whole header block (or its first
    /// `most` bytes when the block is longer), or all of it when it is shorter.
    pub fn head(&mut self, most: usize) -> Result<Vec<u8>, (u8, String)> {
        let mut out = Vec::new();
        while !self.done && !head_complete(&out, most) {
            self.next(&mut out)?;
        }
        Ok(out)
    }

    /// Reads one piece and appends its complete lines to `out`; at the end of the input,
    /// the last line too. The error is (sysexits code, message).
    pub fn next(&mut self, out: &mut Vec<u8>) -> Result<(), (u8, String)> {
        let mut piece = [0u8; PIECE];
        let n = loop {
            match self.reader.read(&mut piece) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err((EX_NOINPUT, format!("cannot read the message: {e}"))),
            }
        };
        self.read += n as u64;
        if self.read > self.limit {
            let limit = self.limit;
            let why = format!("the message is larger than max_message_size ({limit} bytes)");
            return Err((EX_DATAERR, why));
        }
        let start = out.len();
        self.lines.feed(&piece[..n], out);
        if n == 0 {
            self.lines.finish(out);
        }
        self.done = n == 0 || self.lines.ended;
        self.eight_bit |= out[start..].iter().any(|&b| b >= 0x80);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that gives at most `each` bytes a read (a pipe's way).
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn whole(input: &[u8], each: usize, ignore_dots: bool, limit: u64) -> Result<Vec<u8>, u8> {
        let mut i = Input::new(Trickle(input, each), ignore_dots, limit);
        let mut out = i.head(64).map_err(|e| e.0)?;
        while !i.done {
            i.next(&mut out).map_err(|e| e.0)?;
        }
        Ok(out)
    }

    #[test]
    fn read_in_pieces_it_is_what_normalize_makes_of_the_whole() {
        let long_body = "x".repeat(100_000) + "\n.\nafter the dot\n";
        let inputs: &[&str] = &[
            "",
            "\n",
            "Subject: a\n\nbody",
            "Subject: a\r\nTo: b@x.test\r\n\r\nline\r\n.\r\nnot this",
            "no header at all\n",
            &long_body,
        ];
        for input in inputs {
            for each in [1, 3, 7, 4096, PIECE] {
                for dots in [false, true] {
                    let got = whole(input.as_bytes(), each, dots, 1 << 20);
                    let want = super::super::normalize(input.as_bytes(), dots);
                    assert_eq!(
                        got,
                        Ok(want),
                        "{:?} by {each}",
                        &input[..input.len().min(30)]
                    );
                }
            }
        }
    }

    #[test]
    fn the_head_stops_after_the_header_block_and_the_limit_counts_what_was_read() {
        let input = b"To: b@x.test\nSubject: a\n\nbody line\nmore\n";
        let mut i = Input::new(Trickle(input, 1), false, 1000);
        assert_eq!(
            i.head(1 << 20).unwrap(),
            b"To: b@x.test\r\nSubject: a\r\n\r\n"
        );
        assert!(!i.done && !i.eight_bit);
        assert_eq!(whole(b"12345\n", 2, false, 6), Ok(b"12345\r\n".to_vec()));
        assert_eq!(whole(b"123456\n", 2, false, 6), Err(EX_DATAERR));
        let mut i = Input::new(Trickle("caf\u{e9}\n".as_bytes(), 9), false, 100);
        i.head(100).unwrap();
        assert!(i.eight_bit && i.done);
    }
}
