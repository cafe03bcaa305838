//! `qksmtp reload`: asks the running server (through its API, found in `spool/.status`) to
//! re-read its INI, and prints its answer: what changed, which keys wait for a restart, or
//! the file's errors (exit 1, nothing changed). The INI given to the command only says which
//! server; an invalid one is still enough to find it when its errors are on lines that do
//! not name the spool.

use crate::config::load::ConfigError;
use crate::config::{self, Config};
use crate::spool::lock::{self, StatusFile};
use crate::status::client;
use std::path::Path;

/// Asks the server that uses `config`'s spool to reload; returns the exit code.
pub fn run(config: &Config) -> u8 {
    let dir = &config.server.spool_dir;
    let running = dir.is_dir() && matches!(lock::try_lock(dir), Ok(None));
    if !running {
        eprintln!(
            "qksmtp: no server is running on the spool {}: nothing to reload (the settings are \
             read when it starts)",
            dir.display()
        );
        return 1;
    }
    let Some(status) = StatusFile::read(dir) else {
        eprintln!(
            "qksmtp: the server runs without its status API (status_listen is off): send it \
             SIGHUP (kill -HUP PID), or set [server] status_listen and restart it"
        );
        return 1;
    };
    match client::call(&status, "POST", "/api/reload?format=text") {
        Ok((200, body)) => {
            print!("{body}");
            0
        }
        Ok((422, body)) => {
            eprint!("{body}");
            1
        }
        Ok((code, body)) => {
            eprintln!(
                "qksmtp: the server refused ({code}): {}",
                client::error_text(&body)
            );
            1
        }
        Err(e) => {
            eprintln!(
                "qksmtp: the server's API at {} does not answer: {e}",
                status.addr
            );
            1
        }
    }
}

/// The INI at `path` has `errors`: the settings it still gives with the faulty lines left
/// out (enough to find the running server's spool), or `None` when an error has no line.
pub fn without_faulty_lines(path: &Path, errors: &[ConfigError]) -> Option<Config> {
    let text = std::fs::read_to_string(path).ok()?;
    let faulty: Vec<usize> = errors.iter().map(|e| e.line).collect::<Option<_>>()?;
    let kept: String = text
        .lines()
        .enumerate()
        .map(|(i, line)| match faulty.contains(&(i + 1)) {
            true => "\n".to_string(),
            false => format!("{line}\n"),
        })
        .collect();
    config::load::parse(&kept, path, &config::system_hostname())
        .ok()
        .map(|(c, _)| c)
}
