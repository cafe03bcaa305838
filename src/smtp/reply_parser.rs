//! The streaming parser for SMTP replies the client hears: bytes in, complete `Reply` values
//! out (multi-line replies, enhanced status codes, bare-LF tolerance, length limits). Pure.

use crate::smtp::reply::{Enhanced, Reply};
use std::fmt;

/// Longest reply line accepted, line end excluded (RFC 5321 §4.5.3.1.5 says 512; real servers
/// send longer EHLO and error lines, so we are generous).
pub const MAX_LINE: usize = 4096;
/// Most lines in one reply.
pub const MAX_LINES: usize = 1000;

/// Why the bytes from the server are not an SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// A line longer than `MAX_LINE` bytes.
    LineTooLong,
    /// A reply of more than `MAX_LINES` lines.
    TooManyLines,
    /// The line does not start with a three-digit code 200..599 followed by ` `, `-` or the end.
    BadLine(String),
    /// A continuation line carries another code than the first line.
    MixedCodes { first: u16, then: u16 },
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::LineTooLong => write!(f, "reply line longer than {MAX_LINE} bytes"),
            ReplyError::TooManyLines => write!(f, "reply of more than {MAX_LINES} lines"),
            ReplyError::BadLine(line) => write!(f, "not an SMTP reply line: {line:?}"),
            ReplyError::MixedCodes { first, then } => {
                write!(f, "multi-line reply mixes codes {first} and {then}")
            }
        }
    }
}

/// Accumulates bytes and hands out complete replies, in order.
#[derive(Debug, Default)]
pub struct ReplyParser {
    /// Bytes not yet consumed (the start of the next line).
    buf: Vec<u8>,
    /// Code and texts of the lines of the reply being assembled.
    code: Option<u16>,
    lines: Vec<String>,
}

impl ReplyParser {
    pub fn new() -> ReplyParser {
        ReplyParser::default()
    }

    /// Appends bytes received from the server.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// True when bytes are held that are not part of a reply handed out yet (a partial line,
    /// the first lines of a multi-line reply, or whole replies not asked for).
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty() || !self.lines.is_empty()
    }

    /// The next complete reply, `Ok(None)` when more bytes are needed. After an error the
    /// stream is not an SMTP conversation any more; the parser should be dropped.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ReplyError> {
        loop {
            let Some(nl) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > MAX_LINE + 1 {
                    return Err(ReplyError::LineTooLong);
                }
                return Ok(None);
            };
            let mut line: Vec<u8> = self.buf.drain(..=nl).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.len() > MAX_LINE {
                return Err(ReplyError::LineTooLong);
            }
            let (code, last, text) = split_line(&line)?;
            if let Some(first) = self.code
                && first != code
            {
                return Err(ReplyError::MixedCodes { first, then: code });
            }
            self.code = Some(code);
            self.lines.push(text);
            if self.lines.len() > MAX_LINES {
                return Err(ReplyError::TooManyLines);
            }
            if last {
                self.code = None;
                return Ok(Some(build(code, std::mem::take(&mut self.lines))));
            }
        }
    }
}

/// `250-text` -> (250, false, "text"); `250 text` / `250` -> (250, true, ...).
fn split_line(line: &[u8]) -> Result<(u16, bool, String), ReplyError> {
    let bad = || ReplyError::BadLine(String::from_utf8_lossy(line).chars().take(80).collect());
    let digits = line.get(..3).ok_or_else(bad)?;
    if !digits.iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&digits[0]) {
        return Err(bad());
    }
    let code = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    let last = match line.get(3) {
        None | Some(b' ') => true,
        Some(b'-') => false,
        Some(_) => return Err(bad()),
    };
    let text = line.get(4..).unwrap_or_default();
    Ok((code, last, String::from_utf8_lossy(text).into_owned()))
}

/// Builds the reply; the enhanced code of the first line (when its class matches the reply
/// code) becomes `enhanced` and is removed from the front of every line that carries one.
fn build(code: u16, mut lines: Vec<String>) -> Reply {
    let enhanced = lines
        .first()
        .and_then(|first| leading_enhanced(first))
        .filter(|(e, _)| u16::from(e.class) == code / 100)
        .map(|(e, _)| e);
    if enhanced.is_some() {
        for line in &mut lines {
            if let Some((_, rest)) = leading_enhanced(line) {
                *line = rest.to_string();
            }
        }
    }
    Reply {
        code,
        enhanced,
        lines,
    }
}

/// `5.1.1 text` -> (5.1.1, "text"); `5.1.1` alone -> (5.1.1, "").
fn leading_enhanced(text: &str) -> Option<(Enhanced, &str)> {
    let (token, rest) = match text.split_once(' ') {
        Some((token, rest)) => (token, rest),
        None => (text, ""),
    };
    Enhanced::parse(token).map(|e| (e, rest))
}

#[cfg(test)]
/// Parses a complete byte string into its replies (for tests and one-shot callers); trailing
/// bytes that do not complete a reply are an error.
pub fn parse_all(input: &[u8]) -> Result<Vec<Reply>, ReplyError> {
    let mut parser = ReplyParser::new();
    parser.feed(input);
    let mut out = Vec::new();
    while let Some(reply) = parser.next_reply()? {
        out.push(reply);
    }
    if parser.has_pending() {
        return Err(ReplyError::BadLine("incomplete reply at the end".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, enhanced: Option<(u8, u16, u16)>, lines: &[&str]) -> Reply {
        Reply {
            code,
            enhanced: enhanced.map(|(c, s, d)| Enhanced::new(c, s, d)),
            lines: lines.iter().map(|l| l.to_string()).collect(),
        }
    }

    /// The replies read from `parts` fed in order, and whether bytes were left over.
    fn read_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> (Vec<Reply>, bool) {
        let mut parser = ReplyParser::new();
        let mut got = Vec::new();
        for part in parts {
            parser.feed(part);
            while let Some(r) = parser.next_reply().unwrap() {
                got.push(r);
            }
        }
        (got, parser.has_pending())
    }

    /// (input, expected replies) — every input here is valid.
    fn valid_cases() -> Vec<(&'static [u8], Vec<Reply>)> {
        vec![
            (
                b"220 mx.test ESMTP\r\n",
                vec![reply(220, None, &["mx.test ESMTP"])],
            ),
            (b"250\r\n", vec![reply(250, None, &[""])]),
            (b"250 \r\n", vec![reply(250, None, &[""])]),
            (b"250-\r\n250 ok\r\n", vec![reply(250, None, &["", "ok"])]),
            (
                b"250-mx.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n",
                vec![reply(250, None, &["mx.test", "PIPELINING", "SIZE 1000"])],
            ),
            (
                b"550 5.1.1 no such user\r\n",
                vec![reply(550, Some((5, 1, 1)), &["no such user"])],
            ),
            (
                b"550-5.1.1 first\r\n550 5.1.1 second\r\n",
                vec![reply(550, Some((5, 1, 1)), &["first", "second"])],
            ),
            (b"250 2.0.0\r\n", vec![reply(250, Some((2, 0, 0)), &[""])]),
            // Class mismatch: the text is kept as is.
            (b"250 5.1.1 odd\r\n", vec![reply(250, None, &["5.1.1 odd"])]),
            // Bare LF tolerated.
            (b"221 bye\n", vec![reply(221, None, &["bye"])]),
            (
                b"250 a\r\n354 go\n",
                vec![reply(250, None, &["a"]), reply(354, None, &["go"])],
            ),
            // Non-UTF-8 text is kept lossily.
            (b"250 caf\xe9\r\n", vec![reply(250, None, &["caf\u{fffd}"])]),
            (
                b"451 4.7.1 try later\r\n",
                vec![reply(451, Some((4, 7, 1)), &["try later"])],
            ),
        ]
    }

    #[test]
    fn valid_replies_table() {
        for (input, want) in valid_cases() {
            let got = parse_all(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn every_split_point_gives_the_same_replies() {
        for (input, want) in valid_cases() {
            for cut in 0..=input.len() {
                let (got, pending) = read_parts([&input[..cut], &input[cut..]]);
                assert_eq!(got, want, "cut at {cut} of {:?}", input);
                assert!(!pending);
            }
        }
    }

    #[test]
    fn byte_by_byte_feeding() {
        let input = b"250-mx.test\r\n250-8BITMIME\r\n250 DSN\r\n220 x\r\n";
        let (got, _) = read_parts(input.chunks(1));
        assert_eq!(got, parse_all(input).unwrap());
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn invalid_replies_table() {
        let long = format!("250 {}\r\n", "x".repeat(MAX_LINE));
        let cases: Vec<(Vec<u8>, ReplyError)> = vec![
            (
                b"25 short\r\n".to_vec(),
                ReplyError::BadLine("25 short".into()),
            ),
            (
                b"abc text\r\n".to_vec(),
                ReplyError::BadLine("abc text".into()),
            ),
            (
                b"150 text\r\n".to_vec(),
                ReplyError::BadLine("150 text".into()),
            ),
            (
                b"2500 text\r\n".to_vec(),
                ReplyError::BadLine("2500 text".into()),
            ),
            (b"250_x\r\n".to_vec(), ReplyError::BadLine("250_x".into())),
            (b"\r\n".to_vec(), ReplyError::BadLine("".into())),
            (
                b"250-a\r\n251 b\r\n".to_vec(),
                ReplyError::MixedCodes {
                    first: 250,
                    then: 251,
                },
            ),
            (long.into_bytes(), ReplyError::LineTooLong),
        ];
        for (input, want) in cases {
            assert_eq!(parse_all(&input), Err(want), "{:?}", input);
        }
    }

    #[test]
    fn endless_line_without_newline_is_refused_early() {
        let mut parser = ReplyParser::new();
        parser.feed(b"250 ");
        parser.feed(&vec![b'x'; MAX_LINE]);
        assert_eq!(parser.next_reply(), Err(ReplyError::LineTooLong));
    }

    #[test]
    fn too_many_lines() {
        let mut parser = ReplyParser::new();
        for _ in 0..=MAX_LINES {
            parser.feed(b"250-x\r\n");
        }
        assert_eq!(parser.next_reply(), Err(ReplyError::TooManyLines));
    }

    #[test]
    fn pending_bytes_are_visible() {
        let mut parser = ReplyParser::new();
        parser.feed(b"220 go ahead\r\n250 injected\r\n");
        assert_eq!(
            parser.next_reply().unwrap(),
            Some(reply(220, None, &["go ahead"]))
        );
        assert!(parser.has_pending());
        let mut parser = ReplyParser::new();
        parser.feed(b"250-first\r\n");
        assert_eq!(parser.next_reply().unwrap(), None);
        assert!(parser.has_pending());
    }

    /// What the server writes (`Reply::to_wire`), the client reads back as the same replies,
    /// however the stream is split.
    #[test]
    fn the_server_replies_read_back_the_same() {
        let multi = reply(550, Some((5, 7, 1)), &["first", "", "last"]);
        let sent = vec![
            Reply::greeting("mx.test"),
            Reply::ehlo(
                "mx.test",
                "client.test",
                &["PIPELINING".into(), "SIZE 1000".into()],
            ),
            Reply::helo("mx.test"),
            Reply::sender_ok(),
            Reply::recipient_ok(),
            Reply::start_data(),
            Reply::queued("0123456789ABCDEF"),
            Reply::help(true, true),
            Reply::auth_challenge(""),
            Reply::auth_challenge("VXNlcm5hbWU6"),
            Reply::bare_newline_refused(),
            Reply::too_many_recipients(),
            Reply::bye(),
            multi,
        ];
        let wire: Vec<u8> = sent.iter().flat_map(Reply::to_wire).collect();
        for cut in 0..=wire.len() {
            let (got, pending) = read_parts([&wire[..cut], &wire[cut..]]);
            assert_eq!(got, sent, "cut at {cut}");
            assert!(!pending);
        }
        let (got, _) = read_parts(wire.chunks(1));
        assert_eq!(got, sent, "byte by byte");
    }
}
