//! Fuzz target: the DATA receiver (`smtp::data::DataReceiver`), the SMTP-smuggling defence.
//! Checks: the data only ends right after CRLF.CRLF (or `.CRLF` as the first line); the
//! stored content has only CRLF line ends and ends with CRLF (or is empty); the outcome does
//! not depend on how the stream is split; the size limit holds; and whatever the client side
//! (`smtp::data::dot_stuff`) sends of any content is received back exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qksmtp::fuzzing::{DataResult, dot_stuff, receive_chunks};

/// Content, result when finished, bytes consumed.
fn receive(chunks: &[&[u8]], max: u64) -> (Vec<u8>, Option<DataResult>, usize) {
    receive_chunks(chunks, max)
}

/// CR, LF and CRLF each become CRLF; a CRLF is added to an unfinished last line.
fn normalized(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < content.len() {
        match content[i] {
            b'\r' if content.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn check_line_ends(out: &[u8]) {
    for (i, &b) in out.iter().enumerate() {
        if b == b'\r' {
            assert_eq!(out.get(i + 1), Some(&b'\n'), "bare CR stored at {i}");
        }
        if b == b'\n' {
            assert!(i > 0 && out[i - 1] == b'\r', "bare LF stored at {i}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&knob, input)) = data.split_first() else {
        return;
    };
    let max = if knob & 0x80 != 0 { u64::from(knob & 0x7f) } else { u64::MAX };
    let (out, result, consumed) = receive(&[input], max);
    if let Some(result) = result {
        let ended = &input[..consumed];
        assert!(
            ended == b".\r\n" || ended.ends_with(b"\r\n.\r\n"),
            "ended after {:?}",
            String::from_utf8_lossy(&ended[ended.len().saturating_sub(8)..])
        );
        assert!(out.len() as u64 <= max);
        assert_eq!(result.too_big, result.size > max);
        if !result.too_big {
            assert_eq!(out.len() as u64, result.size);
            check_line_ends(&out);
            assert!(out.is_empty() || out.ends_with(b"\r\n"));
        }
    } else {
        assert_eq!(consumed, input.len());
    }
    // The same stream in chunks (sizes 1..=8, from the knob) gives the same outcome.
    let size = usize::from(knob % 8) + 1;
    let chunks: Vec<&[u8]> = input.chunks(size).collect();
    assert_eq!(receive(&chunks, max), (out, result, consumed), "chunks of {size}");
    // What our client sends of `input` as content comes out unchanged (line ends aside).
    let wire = dot_stuff(input);
    let (back, result, consumed) = receive(&[&wire], u64::MAX);
    let result = result.expect("dot_stuff output ends the data");
    assert_eq!(consumed, wire.len(), "ended early");
    assert!(!result.bare_newline);
    assert_eq!(back, normalized(input));
});
