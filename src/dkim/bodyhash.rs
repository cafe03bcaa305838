//! The DKIM body hash (`bh=`) computed as the body streams by: `BodyHasher` takes the body in
//! pieces of any size and gives the SHA-256 of its canonical form, exactly what
//! `canon::body` gives for the whole body (the same line ends: CRLF, bare CR, bare LF; the
//! same trailing empty lines dropped), in constant memory whatever the line lengths. Pure.

use super::canon::Canon;
use sha2::{Digest, Sha256};

/// The canonical body form, produced piece by piece (`feed`, `finish`) into an output
/// buffer; the hasher wraps it. Kept apart so that tests compare the bytes themselves.
#[derive(Debug, Clone)]
struct Canonicalizer {
    canon: Canon,
    /// Complete lines that are empty in canonical form, not written yet: they are dropped
    /// if only empty lines follow to the end.
    empty_lines: u64,
    /// The current line has canonical content written already.
    in_line: bool,
    /// Relaxed: spaces or tabs seen in the current line and not written (one space when
    /// more content follows on the line, nothing at its end).
    space: bool,
    /// The last byte was a CR, which ended a line: an LF right after it belongs to it.
    after_cr: bool,
    /// Some line was written.
    wrote: bool,
}

impl Canonicalizer {
    fn new(canon: Canon) -> Canonicalizer {
        Canonicalizer {
            canon,
            empty_lines: 0,
            in_line: false,
            space: false,
            after_cr: false,
            wrote: false,
        }
    }

    /// Appends the canonical form of `input` (as far as it is decided) to `out`.
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut rest = input;
        if let Some(&first) = rest.first()
            && std::mem::take(&mut self.after_cr)
            && first == b'\n'
        {
            rest = &rest[1..];
        }
        while !rest.is_empty() {
            let special =
                |b: &u8| *b == b'\r' || *b == b'\n' || (self.canon == Canon::Relaxed && is_wsp(*b));
            match rest.iter().position(special) {
                None => {
                    self.content(rest, out);
                    return;
                }
                Some(p) => {
                    self.content(&rest[..p], out);
                    let b = rest[p];
                    rest = &rest[p + 1..];
                    match b {
                        b'\r' => {
                            self.end_line(out);
                            match rest.first() {
                                Some(b'\n') => rest = &rest[1..],
                                Some(_) => {}
                                None => self.after_cr = true,
                            }
                        }
                        b'\n' => self.end_line(out),
                        _ => self.space = true,
                    }
                }
            }
        }
    }

    /// Text of a line (no line end; relaxed: no space or tab).
    fn content(&mut self, text: &[u8], out: &mut Vec<u8>) {
        if text.is_empty() {
            return;
        }
        if !self.in_line {
            for _ in 0..self.empty_lines {
                out.extend_from_slice(b"\r\n");
            }
            self.empty_lines = 0;
            self.in_line = true;
        }
        if std::mem::take(&mut self.space) {
            out.push(b' ');
        }
        out.extend_from_slice(text);
    }

    fn end_line(&mut self, out: &mut Vec<u8>) {
        self.space = false;
        if std::mem::take(&mut self.in_line) {
            out.extend_from_slice(b"\r\n");
            self.wrote = true;
        } else {
            self.empty_lines += 1;
        }
    }

    /// The body ended: a last line without a line end is ended; an empty `simple` body is
    /// one CRLF.
    fn finish(&mut self, out: &mut Vec<u8>) {
        self.after_cr = false;
        if self.in_line {
            self.end_line(out);
        }
        if !self.wrote && self.canon == Canon::Simple {
            out.extend_from_slice(b"\r\n");
        }
    }
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The `bh=` of one canonicalization, fed the body piece by piece.
#[derive(Debug, Clone)]
pub struct BodyHasher {
    form: Canonicalizer,
    sha: Sha256,
    /// Reused between pieces.
    scratch: Vec<u8>,
}

impl BodyHasher {
    pub fn new(canon: Canon) -> BodyHasher {
        BodyHasher {
            form: Canonicalizer::new(canon),
            sha: Sha256::new(),
            scratch: Vec::new(),
        }
    }

    pub fn canon(&self) -> Canon {
        self.form.canon
    }

    /// The next piece of the body.
    pub fn update(&mut self, piece: &[u8]) {
        self.scratch.clear();
        self.form.feed(piece, &mut self.scratch);
        self.sha.update(&self.scratch);
    }

    /// The hash of the canonical body.
    pub fn finish(mut self) -> [u8; 32] {
        self.scratch.clear();
        self.form.finish(&mut self.scratch);
        self.sha.update(&self.scratch);
        self.sha.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dkim::canon;

    fn whole(body: &[u8], c: Canon) -> Vec<u8> {
        let mut out = Vec::new();
        canon::body(body, c, &mut |p| out.extend_from_slice(p));
        out
    }

    fn streamed(pieces: &[&[u8]], c: Canon) -> Vec<u8> {
        let mut form = Canonicalizer::new(c);
        let mut out = Vec::new();
        for piece in pieces {
            form.feed(piece, &mut out);
        }
        form.finish(&mut out);
        out
    }

    const BODIES: &[&[u8]] = &[
        b"",
        b"\r\n",
        b"\r\n\r\n\r\n",
        b"a",
        b"a\r\n",
        b"a\r\n\r\n",
        b" C \r\nD \t E\r\n\r\n\r\n",
        b"  \t \r\n \r\nx  \r\n\t\r\n",
        b"line  with   runs\t\tof space \r\n\r\n \r\nend",
        b"bare\rcr\nlf\n\r\r\n\n\rmix",
        b"\r",
        b"\n",
        b"\r\r",
        b"x\r",
        b"x \r",
        b"x\t\n\n",
        b"\0\xff\x80 \x80\r\n",
        b"   ",
        b"a   \r\n   b",
    ];

    /// Every body, both canonicalizations: the same bytes as `canon::body`, fed whole, cut
    /// in two at every byte, cut in three at every pair of bytes, and byte by byte.
    #[test]
    fn any_split_gives_the_canonical_body() {
        for body in BODIES {
            for c in [Canon::Simple, Canon::Relaxed] {
                let want = whole(body, c);
                let shown = body.escape_ascii();
                assert_eq!(streamed(&[body], c), want, "{shown} {c:?} whole");
                for i in 0..=body.len() {
                    let (a, rest) = body.split_at(i);
                    assert_eq!(streamed(&[a, rest], c), want, "{shown} {c:?} cut {i}");
                    for j in 0..=rest.len() {
                        let (b, d) = rest.split_at(j);
                        assert_eq!(streamed(&[a, b, d], c), want, "{shown} {c:?} {i} {j}");
                    }
                }
                let bytes: Vec<&[u8]> = body.chunks(1).collect();
                assert_eq!(streamed(&bytes, c), want, "{shown} {c:?} bytewise");
            }
        }
    }

    /// Every string of up to 7 bytes over CR, LF, space, tab and a letter, fed byte by byte.
    #[test]
    fn exhaustive_small_bodies() {
        let alphabet = [b'\r', b'\n', b' ', b'\t', b'a'];
        for len in 0..=7u32 {
            for mut code in 0..5usize.pow(len) {
                let body: Vec<u8> = (0..len)
                    .map(|_| {
                        let b = alphabet[code % 5];
                        code /= 5;
                        b
                    })
                    .collect();
                let bytes: Vec<&[u8]> = body.chunks(1).collect();
                for c in [Canon::Simple, Canon::Relaxed] {
                    assert_eq!(
                        streamed(&bytes, c),
                        whole(&body, c),
                        "{} {c:?}",
                        body.escape_ascii()
                    );
                }
            }
        }
    }

    #[test]
    fn the_hash_is_that_of_the_canonical_body() {
        let body = b"Hello  world \r\n\r\n\r\n";
        for c in [Canon::Simple, Canon::Relaxed] {
            let mut h = BodyHasher::new(c);
            for piece in body.chunks(3) {
                h.update(piece);
            }
            let want: [u8; 32] = Sha256::digest(whole(body, c)).into();
            assert_eq!(h.finish(), want, "{c:?}");
        }
    }
}
