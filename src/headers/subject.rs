//! A message's Subject as qksmtp keeps it beside the message (envelope, search index,
//! history): the first `Subject:` field unfolded, its RFC 2047 encoded words decoded, control
//! characters made spaces, runs of white space made one, cut at `SUBJECT_CHARS`.

use crate::mime::params::encoded_words;

/// The longest subject kept, in characters (a cut ends in `…`, one more).
pub const SUBJECT_CHARS: usize = 200;

/// The subject of `message` (its header block is read; the rest may be missing), `None`
/// when it has no Subject field.
pub fn subject(message: &[u8]) -> Option<String> {
    let raw = super::header_field(message, "subject")?;
    Some(clean(&encoded_words(&raw)))
}

/// `text` as one line of at most `SUBJECT_CHARS` characters.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4 * SUBJECT_CHARS));
    let words = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty());
    let mut chars = 0;
    for word in words {
        if chars > 0 {
            out.push(' ');
            chars += 1;
        }
        for c in word.chars() {
            if chars >= SUBJECT_CHARS {
                out.truncate(out.trim_end().len());
                out.push('…');
                return out;
            }
            out.push(c);
            chars += 1;
        }
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_unfolded_decoded_cleaned_and_capped() {
        let long = format!("Subject: {}\r\n\r\n", "word ".repeat(1000));
        let huge = subject(long.as_bytes()).unwrap();
        let table: &[(&[u8], Option<&str>)] = &[
            (b"Subject: plain\r\n\r\nbody\r\n", Some("plain")),
            (b"From: a@x.test\r\n\r\nSubject: in the body\r\n", None),
            (b"From: a@x.test\r\n\r\n", None),
            (b"", None),
            (b"Subject:\r\n\r\n", Some("")),
            (
                b"Subject: a folded\r\n\t  subject line\r\nTo: b@y.test\r\n\r\n",
                Some("a folded subject line"),
            ),
            (
                b"Subject: =?UTF-8?B?R3LDvMOfZQ==?= =?UTF-8?Q?_aus_K=C3=B6ln?=\r\n\r\n",
                Some("Grüße aus Köln"),
            ),
            (
                b"subject: =?iso-8859-1?q?caf=E9?=\r\n and more\r\n\r\n",
                Some("café and more"),
            ),
            (b"Subject: =?bad?X?word?=\r\n\r\n", Some("=?bad?X?word?=")),
            (b"Subject: tab\there\x01bell\r\n\r\n", Some("tab here bell")),
            (
                b"Subject: =?UTF-8?Q?line=0Abreak?=\r\n\r\n",
                Some("line break"),
            ),
            (b"Subject: bare\nX: y\n\nbody", Some("bare")),
            (b"Subject: first\r\nSubject: second\r\n\r\n", Some("first")),
        ];
        for (message, want) in table {
            assert_eq!(
                subject(message).as_deref(),
                *want,
                "{}",
                String::from_utf8_lossy(message)
            );
        }
        assert!(huge.chars().count() <= SUBJECT_CHARS + 1, "{huge}");
        assert!(huge.starts_with("word word") && huge.ends_with("word…"));
        // A cut counts characters, not bytes.
        let wide = format!("Subject: {}\r\n\r\n", "ü".repeat(300));
        let cut = subject(wide.as_bytes()).unwrap();
        assert_eq!(cut, format!("{}…", "ü".repeat(SUBJECT_CHARS)));
    }
}
