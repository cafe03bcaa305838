//! A MIME part's bytes made readable (pure): its transfer encoding undone (base64,
//! quoted-printable, 7bit/8bit/binary as they are), then its charset turned into text
//! (utf-8, us-ascii, latin-1 and windows-1252; another charset is read as UTF-8 with
//! replacement characters).

use crate::smtp::base64::{self, Sextets};

/// A `Content-Transfer-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    Base64,
    QuotedPrintable,
    /// 7bit, 8bit, binary, or one we do not know: the bytes as they are.
    Identity,
}

impl Transfer {
    pub fn of(name: Option<&str>) -> Transfer {
        match name.map(|n| n.trim().to_ascii_lowercase()).as_deref() {
            Some("base64") => Transfer::Base64,
            Some("quoted-printable") => Transfer::QuotedPrintable,
            _ => Transfer::Identity,
        }
    }

    pub fn decode(self, body: &[u8]) -> Vec<u8> {
        match self {
            Transfer::Base64 => base64(body),
            Transfer::QuotedPrintable => quoted_printable(body, false),
            Transfer::Identity => body.to_vec(),
        }
    }
}

/// Base64 as mail carries it: line breaks and stray characters skipped, decoding stops at
/// padding; a last incomplete group gives the whole bytes it holds.
pub fn base64(body: &[u8]) -> Vec<u8> {
    let mut bytes = Sextets::with_capacity(body.len());
    for &c in body.iter().take_while(|&&c| c != b'=') {
        if let Some(v) = base64::value(c) {
            bytes.push(v);
        }
    }
    bytes.finish().0
}

/// Quoted-printable (RFC 2045 §6.7): `=XX`, soft line breaks `=` at a line end, trailing
/// white space on a line dropped; a malformed `=` is kept. `header` also reads `_` as a
/// space (RFC 2047 "Q").
pub fn quoted_printable(body: &[u8], header: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    for (n, line) in lines.iter().enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = match header {
            true => line,
            false => trim_end_blank(line),
        };
        let (line, soft) = match line.strip_suffix(b"=") {
            Some(l) => (l, true),
            None => (line, false),
        };
        let mut i = 0;
        while i < line.len() {
            let hex = |j: usize| line.get(j).and_then(|&c| (c as char).to_digit(16));
            match line[i] {
                b'=' if hex(i + 1).is_some() && hex(i + 2).is_some() => {
                    out.push((hex(i + 1).unwrap_or(0) * 16 + hex(i + 2).unwrap_or(0)) as u8);
                    i += 3;
                    continue;
                }
                b'_' if header => out.push(b' '),
                c => out.push(c),
            }
            i += 1;
        }
        if !soft && n + 1 < lines.len() {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

fn trim_end_blank(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |p| p + 1);
    &line[..end]
}

/// `bytes` in `charset` as text; line ends become `\n`.
pub fn text(bytes: &[u8], charset: Option<&str>) -> String {
    let charset = charset.unwrap_or("us-ascii").trim().to_ascii_lowercase();
    let text: String = match charset.as_str() {
        "iso-8859-1" | "latin1" | "latin-1" | "iso_8859-1" | "l1" | "iso8859-1" => {
            bytes.iter().map(|&b| char::from(b)).collect()
        }
        "windows-1252" | "cp1252" => bytes.iter().map(|&b| cp1252(b)).collect(),
        // us-ascii is a subset of UTF-8; a wrong label is common and read kindly.
        _ => String::from_utf8_lossy(bytes).into_owned(),
    };
    text.replace("\r\n", "\n")
}

/// Windows-1252: latin-1 but for 0x80..0x9F.
fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_encodings_are_undone() {
        let cases: &[(Option<&str>, &[u8], &[u8])] = &[
            (Some("base64"), b"SGVsbG8s\r\nIHdvcmxk\r\n", b"Hello, world"),
            (Some("BASE64"), b"SGk=\r\n", b"Hi"),
            (Some("base64"), b"SGk", b"Hi"),
            (Some("base64"), b"", b""),
            (
                Some("quoted-printable"),
                b"caf=C3=A9 =\r\nau lait  \r\nend",
                "café au lait\r\nend".as_bytes(),
            ),
            (Some("quoted-printable"), b"a=3Db =ZZ 100%", b"a=b =ZZ 100%"),
            (Some("quoted-printable"), b"x_y", b"x_y"),
            (Some("8bit"), b"as is=41", b"as is=41"),
            (None, b"plain", b"plain"),
        ];
        for (name, body, want) in cases {
            assert_eq!(
                Transfer::of(*name).decode(body),
                *want,
                "{name:?} {}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(quoted_printable(b"x_y=3F", true), b"x y?");
    }

    #[test]
    fn charsets_become_text() {
        let cases: &[(&[u8], Option<&str>, &str)] = &[
            ("Grüße\r\n".as_bytes(), Some("utf-8"), "Grüße\n"),
            ("Grüße".as_bytes(), Some("UTF8"), "Grüße"),
            (b"plain", None, "plain"),
            (b"plain", Some("us-ascii"), "plain"),
            (b"Gr\xfc\xdfe", Some("ISO-8859-1"), "Grüße"),
            (b"Gr\xfc\xdfe", Some("latin1"), "Grüße"),
            (b"\x80 \x93q\x94", Some("windows-1252"), "€ “q”"),
            (b"bad \xff", Some("utf-8"), "bad \u{fffd}"),
            (b"unknown", Some("x-mystery"), "unknown"),
        ];
        for (bytes, charset, want) in cases {
            assert_eq!(text(bytes, *charset), *want, "{charset:?}");
        }
    }
}
