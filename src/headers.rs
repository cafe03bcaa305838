//! Reading a message's header block (pure): where it ends (a first line that is neither a
//! header field nor a continuation ends it too), one field's value unfolded, and whether it
//! already has a Message-ID and a Date. The intake, notices and DKIM all read headers here.

mod subject;

pub use subject::subject;

/// What the header block of a message already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeaderFacts {
    pub has_message_id: bool,
    pub has_date: bool,
    /// `Received:` fields: the mail servers the message has passed through.
    pub received: usize,
}

/// Looks through the header block (up to the first empty line; a line that is not a header
/// field nor a continuation also ends it) for Message-ID and Date.
pub fn header_facts(message: &[u8]) -> HeaderFacts {
    let mut facts = HeaderFacts::default();
    for (name, _) in fields(message) {
        facts.has_message_id |= name.eq_ignore_ascii_case(b"message-id");
        facts.has_date |= name.eq_ignore_ascii_case(b"date");
        facts.received += usize::from(name.eq_ignore_ascii_case(b"received"));
    }
    facts
}

/// The header block: every header line with its line end, without the empty line after it.
pub fn header_block(message: &[u8]) -> &[u8] {
    let mut end = 0;
    for line in message.split_inclusive(|&b| b == b'\n') {
        let bare = line.strip_suffix(b"\n").unwrap_or(line);
        let bare = bare.strip_suffix(b"\r").unwrap_or(bare);
        let continuation = end > 0 && matches!(bare.first(), Some(b' ' | b'\t'));
        if !continuation && field_name(bare).is_none() {
            break;
        }
        end += line.len();
    }
    &message[..end]
}

/// The first field called `name` (case-insensitive), unfolded and trimmed; bytes that are not
/// UTF-8 are replaced.
pub fn header_field(message: &[u8], name: &str) -> Option<String> {
    fields(message)
        .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, value)| {
            let text = String::from_utf8_lossy(&value);
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        })
}

/// The header fields as (name, raw value with folds), in order.
fn fields(message: &[u8]) -> impl Iterator<Item = (&[u8], Vec<u8>)> {
    let block = header_block(message);
    let mut out: Vec<(&[u8], Vec<u8>)> = Vec::new();
    for line in block.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match (line.first(), out.last_mut()) {
            (Some(b' ' | b'\t'), Some((_, value))) => {
                value.push(b' ');
                value.extend_from_slice(line);
            }
            _ => {
                if let Some(name) = field_name(line) {
                    out.push((name, line[name.len() + 1..].to_vec()));
                }
            }
        }
    }
    out.into_iter()
}

/// The field name of a header line (`Subject` of `Subject: x`), if it is one.
fn field_name(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = &line[..colon];
    (!name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b))).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_header_fields_only_in_the_header_block() {
        let cases: &[(&[u8], bool, bool)] = &[
            (
                b"Subject: x\r\nMessage-ID: <a@b>\r\nDate: now\r\n\r\nbody\r\n",
                true,
                true,
            ),
            (b"message-id: <a@b>\r\n\r\n", true, false),
            (b"Subject: x\r\n folded\r\nDATE: y\r\n\r\n", false, true),
            (
                b"Subject: x\r\n\r\nMessage-ID: <in body>\r\nDate: z\r\n",
                false,
                false,
            ),
            (b"no header here\r\nDate: x\r\n", false, false),
            (b"", false, false),
            (b"X-Message-ID: no\r\nDates: no\r\n\r\n", false, false),
        ];
        for (msg, id, date) in cases {
            let f = header_facts(msg);
            assert_eq!(
                (f.has_message_id, f.has_date),
                (*id, *date),
                "{}",
                String::from_utf8_lossy(msg)
            );
        }
    }

    #[test]
    fn header_block_and_fields() {
        let msg = b"Subject: a\r\n  folded\tline\r\nFrom: x@y.test\r\n\r\nSubject: body\r\n";
        assert_eq!(
            header_block(msg),
            b"Subject: a\r\n  folded\tline\r\nFrom: x@y.test\r\n"
        );
        assert_eq!(
            header_field(msg, "subject").as_deref(),
            Some("a folded line")
        );
        assert_eq!(header_field(msg, "To"), None);
        assert_eq!(header_block(b"no header\r\n\r\n"), b"");
        assert_eq!(header_block(b" starts folded\r\n"), b"");
        assert_eq!(header_block(b"A: 1\nB: 2"), b"A: 1\nB: 2");
    }
}
