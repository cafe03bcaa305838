//! Fuzz target: the server's command-line parser (`smtp::command::parse_command`). Any bytes
//! must give a `Command` or a `CommandError`, never a panic; a parsed MAIL/RCPT path must
//! read back the same when rendered (what the spool and the delivery side rely on).
#![no_main]

use libfuzzer_sys::fuzz_target;
use qksmtp::fuzzing::{Command, parse_command};

fuzz_target!(|data: &[u8]| {
    // The session never hands over a line with a LF, nor one over its length limit.
    if data.contains(&b'\n') || data.len() > 4096 {
        return;
    }
    match parse_command(data) {
        Ok(Command::Rcpt { to, .. }) => {
            let again = parse_command(format!("RCPT TO:<{to}>").as_bytes());
            match again {
                Ok(Command::Rcpt { to: back, .. }) => assert_eq!(back, to, "RCPT round trip"),
                other => panic!("RCPT TO:<{to}> reads back as {other:?}"),
            }
        }
        Ok(Command::Mail { from, params }) => {
            // A non-ASCII sender only parses with SMTPUTF8; keep the flag on the way back.
            let utf8 = if params.smtputf8 { " SMTPUTF8" } else { "" };
            let again = parse_command(format!("MAIL FROM:{from}{utf8}").as_bytes());
            match again {
                Ok(Command::Mail { from: back, .. }) => assert_eq!(back, from, "MAIL round trip"),
                other => panic!("MAIL FROM:{from} reads back as {other:?}"),
            }
        }
        _ => {}
    }
});
