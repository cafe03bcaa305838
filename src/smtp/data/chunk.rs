//! The BDAT stream (RFC 3030): the message arrives in chunks of announced size, with no
//! dot-stuffing and no end marker, so nothing in the content can end it early or start a
//! command. What remains is the line ends.
//!
//! qksmtp does not offer BINARYMIME, so a BDAT message is a 7-bit or 8BITMIME message, whose
//! lines end in CRLF (RFC 5322 §2.3: CR and LF appear only together). The same rule as for
//! DATA applies (SPEC `bare_newline`): a bare LF or bare CR is stored as CRLF and sets
//! `bare_newline`, for the session to keep the normalised message or refuse it. Stored as
//! is, it would go on to the next hop inside a DATA stream, where a lenient server could read
//! `LF . LF` as the end of the message: the smuggling that the DATA receiver refuses.
//!
//! The message is the chunks put end to end: a CR at the end of one chunk and an LF at the
//! start of the next are one CRLF. The result never depends on how the chunks are split.

use super::DataResult;

/// Streaming BDAT decoder for one message: `feed` each chunk's bytes, `finish` after LAST.
#[derive(Debug, Clone)]
pub struct ChunkReceiver {
    max_size: u64,
    size: u64,
    bare_newline: bool,
    /// The last byte fed was a CR, not stored yet (an LF may follow in the next chunk).
    cr: bool,
}

impl ChunkReceiver {
    /// A receiver that stores at most `max_size` content bytes.
    pub fn new(max_size: u64) -> ChunkReceiver {
        ChunkReceiver {
            max_size,
            size: 0,
            bare_newline: false,
            cr: false,
        }
    }

    /// The result so far (too big, bare newlines seen, size stored or counted).
    pub fn result(&self) -> DataResult {
        DataResult {
            too_big: self.size > self.max_size,
            bare_newline: self.bare_newline,
            size: self.size,
        }
    }

    /// Takes message bytes (all of them: the caller counts the chunk); appends content to
    /// `out` until the size limit is passed, then only counts.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut rest = input;
        while let Some(&b) = rest.first() {
            if std::mem::take(&mut self.cr) {
                // The CR before is stored as CRLF, whatever follows; only an LF belongs to it.
                if b != b'\n' {
                    self.bare_newline = true;
                }
                self.store(b"\r\n", out);
                if b == b'\n' {
                    rest = &rest[1..];
                }
                continue;
            }
            match rest.iter().position(|&c| c == b'\r' || c == b'\n') {
                None => {
                    self.store(rest, out);
                    rest = &[];
                }
                Some(p) => {
                    self.store(&rest[..p], out);
                    if rest[p] == b'\r' {
                        self.cr = true;
                    } else {
                        self.bare_newline = true;
                        self.store(b"\r\n", out);
                    }
                    rest = &rest[p + 1..];
                }
            }
        }
    }

    /// The message ended (BDAT LAST): a CR left at its very end is a bare one.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> DataResult {
        if std::mem::take(&mut self.cr) {
            self.bare_newline = true;
            self.store(b"\r\n", out);
        }
        self.result()
    }

    /// Appends content while under the limit; counts it always.
    fn store(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let room = self.max_size.saturating_sub(self.size);
        let take = (bytes.len() as u64).min(room) as usize;
        out.extend_from_slice(&bytes[..take]);
        self.size += bytes.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` in order, then finishes: the content and the result.
    fn run(chunks: &[&[u8]], max: u64) -> (Vec<u8>, DataResult) {
        let mut rx = ChunkReceiver::new(max);
        let mut out = Vec::new();
        for chunk in chunks {
            rx.feed(chunk, &mut out);
        }
        let result = rx.finish(&mut out);
        (out, result)
    }

    #[test]
    fn content_passes_unchanged_but_for_bare_newlines_at_every_split() {
        // (input, stored content, bare newline seen)
        let table: &[(&[u8], &[u8], bool)] = &[
            (b"", b"", false),
            (b"a\r\n.\r\nQUIT\r\n", b"a\r\n.\r\nQUIT\r\n", false),
            (b"..x\r\n.", b"..x\r\n.", false),
            (b"\0\xff\x80\r\n", b"\0\xff\x80\r\n", false),
            (b"no line end", b"no line end", false),
            (b"a\n.\nb", b"a\r\n.\r\nb", true),
            (b"a\r.\rb", b"a\r\n.\r\nb", true),
            (b"a\r\r\nb", b"a\r\n\r\nb", true),
            (b"a\n\r\nb", b"a\r\n\r\nb", true),
            (b"a\r", b"a\r\n", true),
            (b"\r", b"\r\n", true),
            (b"\n", b"\r\n", true),
            (b"\r\n", b"\r\n", false),
            (b"\r\n\r\n", b"\r\n\r\n", false),
        ];
        for &(input, content, bare) in table {
            let want = DataResult {
                too_big: false,
                bare_newline: bare,
                size: content.len() as u64,
            };
            assert_eq!(run(&[input], 1000), (content.to_vec(), want), "{input:?}");
            for cut in 0..=input.len() {
                let (a, b) = input.split_at(cut);
                assert_eq!(
                    run(&[a, b], 1000),
                    (content.to_vec(), want),
                    "{input:?} cut at {cut}"
                );
            }
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(run(&bytes, 1000), (content.to_vec(), want), "{input:?}");
        }
    }

    #[test]
    fn stores_up_to_the_limit_and_counts_the_rest() {
        let (out, result) = run(&[b"0123456789", b"abc"], 10);
        assert_eq!(out, b"0123456789");
        assert_eq!(
            result,
            DataResult {
                too_big: true,
                bare_newline: false,
                size: 13
            }
        );
        let (out, result) = run(&[b"0123456789"], 10);
        assert_eq!((out.len(), result.too_big), (10, false));
    }
}
