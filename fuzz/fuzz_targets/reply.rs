//! Fuzz target: the client's reply parser (`client::reply_parser`). Any bytes from a remote
//! server give replies or an error, never a panic; the outcome does not depend on how the
//! bytes are split across reads (a multi-line reply arriving in many packets).
#![no_main]

use libfuzzer_sys::fuzz_target;
use qksmtp::fuzzing::{Reply, ReplyError, ReplyParser};

/// Every reply, then how the stream ended (`None`: waiting for more bytes).
fn parse(chunks: &[&[u8]]) -> (Vec<Reply>, Option<ReplyError>) {
    let mut parser = ReplyParser::new();
    let mut replies = Vec::new();
    for chunk in chunks {
        parser.feed(chunk);
        loop {
            match parser.next_reply() {
                Ok(Some(reply)) => replies.push(reply),
                Ok(None) => break,
                Err(e) => return (replies, Some(e)),
            }
        }
    }
    (replies, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, input)) = data.split_first() else {
        return;
    };
    let whole = parse(&[input]);
    for reply in &whole.0 {
        assert!((200..600).contains(&reply.code), "{reply:?}");
        assert!(!reply.lines.is_empty(), "{reply:?}");
    }
    let size = usize::from(step % 16) + 1;
    let chunks: Vec<&[u8]> = input.chunks(size).collect();
    let split = parse(&chunks);
    // A line over the limit is refused either way, perhaps after fewer replies when split.
    if matches!(whole.1, Some(ReplyError::LineTooLong)) {
        assert!(matches!(split.1, Some(ReplyError::LineTooLong)), "{split:?}");
        assert!(split.0.len() <= whole.0.len());
    } else {
        assert_eq!(whole, split, "split in chunks of {size}");
    }
});
