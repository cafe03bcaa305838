//! Fuzz target: the envelope file reader (`spool::envelope::parse`). A damaged file gives an
//! error naming a line, never a panic (start-up moves it to `corrupt/`); a file that reads
//! gives an envelope that renders and reads back the same (the state writer's round trip).
#![no_main]

use libfuzzer_sys::fuzz_target;
use qksmtp::fuzzing::{parse_envelope as parse, render_envelope as render};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(env) = parse(text) else {
        return;
    };
    let rendered = render(&env);
    match parse(&rendered) {
        Ok(back) => {
            assert_eq!(back, env, "render/parse round trip of:\n{rendered}");
            assert_eq!(render(&back), rendered);
        }
        Err(e) => panic!("rendered envelope does not read back: {e}\n{rendered}"),
    }
});
