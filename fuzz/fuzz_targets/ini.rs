//! Fuzz target: the INI loader (`config::load::parse`). Any text gives settings or errors
//! with line numbers inside the file, never a panic; valid settings rendered back (what
//! `qksmtp check` prints) read back as valid settings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qksmtp::fuzzing::{parse_ini, render_ini};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/fuzz/qksmtp.ini");
    match parse_ini(text, path, "host.fuzz.test") {
        Ok((config, _warnings)) => {
            let shown = render_ini(&config);
            if let Err(errors) = parse_ini(&shown, path, "host.fuzz.test") {
                // Masked relay passwords and user hashes are the documented exceptions.
                let masked = !config.relays.is_empty() || !config.users.is_empty();
                assert!(masked, "rendered settings do not read back: {errors:?}\n{shown}");
            }
        }
        Err(errors) => {
            let lines = text.lines().count().max(1);
            for e in &errors {
                if let Some(line) = e.line {
                    assert!(line >= 1 && line <= lines + 1, "line {line} of {lines}: {e:?}");
                }
            }
        }
    }
});
