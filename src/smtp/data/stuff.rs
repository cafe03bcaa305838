//! The sender's side of DATA: the message made ready for the wire (CRLF line ends, leading
//! dots doubled, the end marker added), the inverse of the receiver in `data`. Pure.

/// The message as it goes on the wire after 354: line ends made CRLF (a bare CR or LF becomes
/// CRLF, so nothing can be smuggled past the receiver), a `.` at the start of a line doubled
/// (RFC 5321 §4.5.2), CRLF added when the content does not end with one, then `.` CRLF.
pub fn dot_stuff(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + content.len() / 64 + 5);
    let mut line_start = true;
    let mut rest = content;
    while !rest.is_empty() {
        if line_start && rest[0] == b'.' {
            out.push(b'.');
        }
        // Copy the rest of the line in one go; only its end needs a look.
        let Some(end) = rest.iter().position(|&b| b == b'\r' || b == b'\n') else {
            out.extend_from_slice(rest);
            line_start = false;
            break;
        };
        out.extend_from_slice(&rest[..end]);
        out.extend_from_slice(b"\r\n");
        let newline = if rest[end..].starts_with(b"\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + newline..];
        line_start = true;
    }
    if !line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::data::receive_chunks;

    /// Input, what goes on the wire, and what the receiver stores from it.
    const CASES: &[(&[u8], &[u8], &[u8])] = &[
        (b"", b".\r\n", b""),
        (b"a\r\n", b"a\r\n.\r\n", b"a\r\n"),
        (b"a", b"a\r\n.\r\n", b"a\r\n"),
        (b".\r\n", b"..\r\n.\r\n", b".\r\n"),
        (
            b".a\r\n.\r\n..b\r\n",
            b"..a\r\n..\r\n...b\r\n.\r\n",
            b".a\r\n.\r\n..b\r\n",
        ),
        (b"x\r\n.y", b"x\r\n..y\r\n.\r\n", b"x\r\n.y\r\n"),
        (b"a.b\r\n", b"a.b\r\n.\r\n", b"a.b\r\n"),
        // Bare LF / CR become CRLF; a dot after them is stuffed too.
        (b"a\n.\nb", b"a\r\n..\r\nb\r\n.\r\n", b"a\r\n.\r\nb\r\n"),
        (b"a\r.\r\n", b"a\r\n..\r\n.\r\n", b"a\r\n.\r\n"),
        (b"\r\n\r\n", b"\r\n\r\n.\r\n", b"\r\n\r\n"),
        (b"\r\r\n.", b"\r\n\r\n..\r\n.\r\n", b"\r\n\r\n.\r\n"),
        (b"\n\r", b"\r\n\r\n.\r\n", b"\r\n\r\n"),
        (b"..", b"...\r\n.\r\n", b"..\r\n"),
        (b"\0\xff\r\n", b"\0\xff\r\n.\r\n", b"\0\xff\r\n"),
    ];

    #[test]
    fn dot_stuffing_table() {
        for (input, wire, _) in CASES {
            assert_eq!(
                String::from_utf8_lossy(&dot_stuff(input)),
                String::from_utf8_lossy(wire),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// What the sender stuffs, the receiver unstuffs, however the stream is split.
    #[test]
    fn the_receiver_gets_back_what_the_sender_stuffed() {
        for (input, _, stored) in CASES {
            let wire = dot_stuff(input);
            for cut in 0..=wire.len() {
                let (content, result, consumed) =
                    receive_chunks(&[&wire[..cut], &wire[cut..]], 1 << 20);
                let result = result.expect("the end marker is found");
                assert_eq!(content, *stored, "{input:?} cut at {cut}");
                assert_eq!(consumed, wire.len(), "{input:?} cut at {cut}");
                assert!(!result.bare_newline && !result.too_big, "{input:?}");
            }
        }
    }
}
