//! The DATA stream both ways: the receiver (here), a streaming state machine from wire bytes
//! to message content, and the sender's dot-stuffing (`stuff`); the BDAT chunks' receiver
//! (`chunk`).
//!
//! This is also the SMTP-smuggling defence, so the rules are exact:
//! - The data begins at a line start. The end is exactly `CRLF . CRLF`, where the first CRLF
//!   ends the previous line, or `. CRLF` as the very first line (an empty message).
//! - A "line start" is the start of the data or the byte after a real CRLF. Only there is a
//!   leading dot removed (dot-unstuffing: `..x` gives `.x`) or the end marker recognised.
//! - A bare LF (no CR before it) or a bare CR (no LF after it) never ends the data and never
//!   starts a line. Each is stored as CRLF and sets `bare_newline`; the session decides
//!   whether to keep the normalised message or refuse it.
//! - A line start `.` followed by a bare newline is still a dot-stuffed line: the dot is
//!   removed and the bare newline stored as CRLF. So `\r\n.\rX` stores `\r\n\r\nX` and
//!   `\r\n.\n` stores `\r\n\r\n`, both with `bare_newline` set, and the data goes on.
//! - Every other byte (NUL, 8-bit) passes through unchanged.
//!
//! The result never depends on how the stream is split into `feed` calls.

mod chunk;
mod stuff;

pub use chunk::ChunkReceiver;
pub use stuff::dot_stuff;

/// Where the receiver stands between two bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (start of data or after a real CRLF).
    LineStart,
    /// Inside a line.
    Mid,
    /// After a CR inside a line (or at a line start); the CR is not stored yet.
    Cr,
    /// After a `.` at a line start; the dot is dropped whatever follows.
    Dot,
    /// After `.` CR at a line start: an LF now ends the data.
    DotCr,
    /// The end marker was seen.
    Finished,
}

/// The outcome of a finished DATA phase.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct DataResult {
    /// The content passed the size limit; `out` holds only the first `max_size` bytes.
    pub too_big: bool,
    /// A bare CR or bare LF was seen (and stored as CRLF).
    pub bare_newline: bool,
    /// Content bytes, counted even past the limit.
    pub size: u64,
}

/// What one `feed` call achieved.
#[derive(Debug, PartialEq, Eq)]
pub enum Feed {
    /// All input was used; the end marker has not been seen yet.
    NeedMore,
    /// The end marker was seen. `consumed` bytes of this input were used, up to and including
    /// the final LF; the rest (pipelined commands) belongs to the caller.
    Done { consumed: usize, result: DataResult },
}

/// Streaming DATA decoder; see the module documentation for the rules.
#[derive(Debug, Clone)]
pub struct DataReceiver {
    state: State,
    max_size: u64,
    size: u64,
    bare_newline: bool,
}

impl DataReceiver {
    /// A receiver that stores at most `max_size` content bytes (pass `u64::MAX` for no limit).
    pub fn new(max_size: u64) -> DataReceiver {
        DataReceiver {
            state: State::LineStart,
            max_size,
            size: 0,
            bare_newline: false,
        }
    }

    /// The result so far (final once `feed` returned `Done`).
    pub fn result(&self) -> DataResult {
        DataResult {
            too_big: self.size > self.max_size,
            bare_newline: self.bare_newline,
            size: self.size,
        }
    }

    /// Consumes bytes of the DATA stream; appends message content to `out` (until the size
    /// limit is passed: then stops appending but keeps scanning for the end). After `Done`,
    /// further calls consume nothing and return `Done` again.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Feed {
        if self.state == State::Finished {
            return Feed::Done {
                consumed: 0,
                result: self.result(),
            };
        }
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Mid => {
                    let rest = &input[i..];
                    match rest.iter().position(|&c| c == b'\r' || c == b'\n') {
                        None => {
                            self.store(rest, out);
                            i = input.len();
                        }
                        Some(p) => {
                            self.store(&rest[..p], out);
                            i += p + 1;
                            if rest[p] == b'\r' {
                                self.state = State::Cr;
                            } else {
                                self.bare(out);
                            }
                        }
                    }
                }
                State::LineStart if b == b'.' => {
                    self.state = State::Dot;
                    i += 1;
                }
                State::Dot if b == b'\r' => {
                    self.state = State::DotCr;
                    i += 1;
                }
                State::Cr | State::DotCr if b == b'\n' => {
                    i += 1;
                    if self.state == State::DotCr {
                        self.state = State::Finished;
                        return Feed::Done {
                            consumed: i,
                            result: self.result(),
                        };
                    }
                    self.store(b"\r\n", out);
                    self.state = State::LineStart;
                }
                // A CR not followed by LF: stored as CRLF; `b` is looked at again in a line.
                State::Cr | State::DotCr => self.bare(out),
                // Anything else at a line start (or after its dropped dot) is ordinary text;
                // `b` is looked at again.
                State::LineStart | State::Dot => self.state = State::Mid,
                State::Finished => unreachable!("Finished returns before the loop"),
            }
        }
        Feed::NeedMore
    }

    /// A bare CR or LF: stored as CRLF; it does not start a line.
    fn bare(&mut self, out: &mut Vec<u8>) {
        self.bare_newline = true;
        self.store(b"\r\n", out);
        self.state = State::Mid;
    }

    /// Appends content while under the limit; counts it always.
    fn store(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let room = self.max_size.saturating_sub(self.size);
        let take = (bytes.len() as u64).min(room) as usize;
        out.extend_from_slice(&bytes[..take]);
        self.size += bytes.len() as u64;
    }
}

/// Feeds `chunks` in order to a new receiver with limit `max`, as a session would read them;
/// returns the content, the result once the data ended (`None`: still waiting) and the bytes
/// consumed. For tests and fuzzing: the same stream split in any way must give the same.
pub fn receive_chunks(chunks: &[&[u8]], max: u64) -> (Vec<u8>, Option<DataResult>, usize) {
    let mut rx = DataReceiver::new(max);
    let mut out = Vec::new();
    let mut total = 0;
    for chunk in chunks {
        match rx.feed(chunk, &mut out) {
            Feed::NeedMore => total += chunk.len(),
            Feed::Done { consumed, result } => {
                assert!(consumed <= chunk.len(), "consumed more than was fed");
                return (out, Some(result), total + consumed);
            }
        }
    }
    (out, None, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]], max: u64) -> (Vec<u8>, Option<DataResult>, usize) {
        receive_chunks(chunks, max)
    }

    /// (input, content, `Some(bare_newline)` when finished, consumed).
    type Case = (&'static [u8], &'static [u8], Option<bool>, usize);

    /// The expected outcome of a case, `size` being the content length.
    fn want(case: &Case) -> (Vec<u8>, Option<DataResult>, usize) {
        let (_, content, bare, consumed) = *case;
        let size = content.len() as u64;
        let result = bare.map(|bare_newline| DataResult {
            too_big: false,
            bare_newline,
            size,
        });
        (content.to_vec(), result, consumed)
    }

    fn cases() -> Vec<Case> {
        vec![
            (b".\r\n", b"", Some(false), 3),
            (b".\r\nQUIT\r\n", b"", Some(false), 3),
            (b"a\r\n.\r\n", b"a\r\n", Some(false), 6),
            (b"a\r\n.\r\nQUIT\r\n", b"a\r\n", Some(false), 6),
            (
                b"a\r\nb\r\n.\r\nMAIL FROM:<x@y>\r\n",
                b"a\r\nb\r\n",
                Some(false),
                9,
            ),
            (b"\r\n.\r\n", b"\r\n", Some(false), 5),
            (b"..x\r\n.\r\n", b".x\r\n", Some(false), 8),
            (b"a\r\n..\r\n.\r\n", b"a\r\n.\r\n", Some(false), 10),
            (b"a\r\n...\r\n.\r\n", b"a\r\n..\r\n", Some(false), 11),
            (b"a\r\n.x\r\n.\r\n", b"a\r\nx\r\n", Some(false), 10),
            (b"a.\r\n.\r\n", b"a.\r\n", Some(false), 7),
            (b"a\r\n. \r\n.\r\n", b"a\r\n \r\n", Some(false), 10),
            (b"\0\xff\x80\r\n.\r\n", b"\0\xff\x80\r\n", Some(false), 8),
            // Not finished: no end marker yet.
            (b"", b"", None, 0),
            (b"a\r\n", b"a\r\n", None, 3),
            (b"a\r\n.", b"a\r\n", None, 4),
            (b"a\r\n.\r", b"a\r\n", None, 5),
            (b"a\r", b"a", None, 2),
            // Smuggling: bare LF / bare CR never end the data.
            (b"a\n.\n", b"a\r\n.\r\n", None, 4),
            (b"a\n.\r\n", b"a\r\n.\r\n", None, 5),
            (b"a\r\n.\n", b"a\r\n\r\n", None, 5),
            (b"a\r.\r\n", b"a\r\n.\r\n", None, 5),
            (b"a\r\n.\r\r\n", b"a\r\n\r\n\r\n", None, 7),
            (b"a\r\n.\rX", b"a\r\n\r\nX", None, 6),
            (b"a\r\r\n.\r\n", b"a\r\n\r\n", Some(true), 7),
            (b"a\n\r\n.\r\n", b"a\r\n\r\n", Some(true), 7),
            (
                b"a\n.\nb\r\n.\r\nQUIT\r\n",
                b"a\r\n.\r\nb\r\n",
                Some(true),
                10,
            ),
            (
                b"a\r\n.\nMAIL\r\n.\r\n",
                b"a\r\n\r\nMAIL\r\n",
                Some(true),
                14,
            ),
            (
                b"a\r\n.\rMAIL\r\n.\r\n",
                b"a\r\n\r\nMAIL\r\n",
                Some(true),
                14,
            ),
            (b"a\r.\r\nb\r\n.\r\n", b"a\r\n.\r\nb\r\n", Some(true), 11),
            (b".\n.\r\n", b"\r\n.\r\n", None, 5),
            (b".\rX\r\n.\r\n", b"\r\nX\r\n", Some(true), 8),
            (b"\n.\r\n", b"\r\n.\r\n", None, 4),
            (b"\r.\r\n", b"\r\n.\r\n", None, 4),
            (
                b"a\n\n.\r\n\r\n.\r\n",
                b"a\r\n\r\n.\r\n\r\n",
                Some(true),
                11,
            ),
            (b"a\r\n\r.\r\n.\r\n", b"a\r\n\r\n.\r\n", Some(true), 10),
            (b".\r\r\n.\r\nQUIT\r\n", b"\r\n\r\n", Some(true), 7),
        ]
    }

    #[test]
    fn table_whole() {
        for case in cases() {
            let input = case.0;
            assert_eq!(
                run(&[input], u64::MAX),
                want(&case),
                "input {}",
                input.escape_ascii()
            );
        }
    }

    #[test]
    fn table_split_everywhere() {
        for case in cases() {
            let (input, want) = (case.0, want(&case));
            for cut in 0..=input.len() {
                let (a, b) = input.split_at(cut);
                assert_eq!(
                    run(&[a, b], u64::MAX),
                    want,
                    "{} cut {cut}",
                    input.escape_ascii()
                );
            }
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(
                run(&bytes, u64::MAX),
                want,
                "{} bytewise",
                input.escape_ascii()
            );
        }
    }

    /// Every string of up to 8 bytes over CR, LF, '.', 'a': the data ends exactly at the first
    /// `CRLF . CRLF` of CRLF + input, and one-byte feeding gives what a whole feed gives.
    #[test]
    fn exhaustive_end_marker() {
        let alphabet = [b'\r', b'\n', b'.', b'a'];
        for len in 0..=8u32 {
            for mut code in 0..4usize.pow(len) {
                let input: Vec<u8> = (0..len)
                    .map(|_| {
                        let b = alphabet[code % 4];
                        code /= 4;
                        b
                    })
                    .collect();
                let whole = run(&[&input], u64::MAX);
                let bytes: Vec<&[u8]> = input.chunks(1).collect();
                assert_eq!(run(&bytes, u64::MAX), whole, "{}", input.escape_ascii());
                let framed = [b"\r\n".as_slice(), &input].concat();
                let end = framed
                    .windows(5)
                    .position(|w| w == b"\r\n.\r\n")
                    .map(|p| p + 3);
                let consumed = whole.1.map(|_| whole.2);
                assert_eq!(consumed, end, "{}", input.escape_ascii());
            }
        }
    }

    #[test]
    fn bare_flag_reported_before_end() {
        let mut rx = DataReceiver::new(u64::MAX);
        let mut out = Vec::new();
        assert_eq!(rx.feed(b"a\n", &mut out), Feed::NeedMore);
        assert!(rx.result().bare_newline);
    }

    #[test]
    fn done_is_final() {
        let mut rx = DataReceiver::new(100);
        let mut out = Vec::new();
        let first = rx.feed(b"x\r\n.\r\nRSET\r\n", &mut out);
        let result = DataResult {
            too_big: false,
            bare_newline: false,
            size: 3,
        };
        assert_eq!(
            first,
            Feed::Done {
                consumed: 6,
                result
            }
        );
        assert_eq!(
            rx.feed(b"more", &mut out),
            Feed::Done {
                consumed: 0,
                result
            }
        );
        assert_eq!(out, b"x\r\n");
    }

    #[test]
    fn size_limit() {
        let input = b"0123456789\r\n..abc\r\n.\r\nQUIT\r\n";
        let full = b"0123456789\r\n.abc\r\n";
        for max in [0u64, 1, 5, 11, 12, 13, 18, 19, 100] {
            let want_len = full.len().min(max as usize);
            let result = DataResult {
                too_big: full.len() as u64 > max,
                bare_newline: false,
                size: full.len() as u64,
            };
            let want = (full[..want_len].to_vec(), Some(result), input.len() - 6);
            assert_eq!(run(&[input], max), want, "max {max}");
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(run(&bytes, max), want, "max {max} bytewise");
        }
    }

    #[test]
    fn one_mebibyte_in_chunks() {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        let mut n = 0u32;
        while expected.len() < 1 << 20 {
            let line = format!("line {n} with some text, and a dot: .{n}\r\n");
            if n.is_multiple_of(7) {
                wire.push(b'.');
                wire.push(b'.');
                expected.push(b'.');
            }
            wire.extend_from_slice(line.as_bytes());
            expected.extend_from_slice(line.as_bytes());
            n += 1;
        }
        wire.extend_from_slice(b".\r\nQUIT\r\n");
        let chunks: Vec<&[u8]> = wire.chunks(1500).collect();
        let (out, result, consumed) = run(&chunks, 64 << 20);
        assert_eq!(out, expected);
        let size = expected.len() as u64;
        assert_eq!(
            result,
            Some(DataResult {
                too_big: false,
                bare_newline: false,
                size
            })
        );
        assert_eq!(consumed, wire.len() - 6);
    }
}
