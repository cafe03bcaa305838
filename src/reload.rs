//! Reload without a restart (SIGHUP, `qksmtp reload`, `POST /api/reload`): re-reads
//! qksmtp.ini and validates it first (an invalid file changes nothing), then puts it in force
//! at once: the server's listeners and certificate, the live handle that every session, job,
//! scheduler pass and page request reads at its start, and the log level. Keys read only at
//! start keep their running value and are named in the answer. What is queued, its retry
//! times and attempt counts, jobs in flight and open sessions go on untouched.

use crate::config::{self, Config, Live};
use crate::server::Server;
use crossbeam_channel::Sender;
use std::path::PathBuf;

/// What the main thread of a running server is asked to do.
pub enum Control {
    /// Stop cleanly (SIGTERM, Ctrl-C).
    Stop,
    /// Re-read the INI; the answer goes back on the sender when there is one (the API).
    Reload(Option<Sender<Answer>>),
}

/// How a reload went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The new settings are in force.
    Reloaded {
        path: PathBuf,
        /// One line per change: listeners, then `[section] key = value` (secrets masked).
        changed: Vec<String>,
        /// "spool_dir changed: takes effect at the next start", one per such key.
        restart: Vec<String>,
        warnings: Vec<String>,
    },
    /// Nothing changed: the file's errors, each with its line when it has one.
    Refused { path: PathBuf, errors: Vec<String> },
}

impl Answer {
    /// What `qksmtp reload` prints (and the API's `?format=text`).
    pub fn text(&self) -> String {
        let mut out = String::new();
        match self {
            Answer::Reloaded {
                path,
                changed,
                restart,
                warnings,
            } => {
                out.push_str(&format!("qksmtp: reloaded {}\n", path.display()));
                if changed.is_empty() && restart.is_empty() {
                    out.push_str("  nothing changed\n");
                }
                for line in changed.iter().chain(restart) {
                    out.push_str(&format!("  {line}\n"));
                }
                for w in warnings {
                    out.push_str(&format!("  warning: {w}\n"));
                }
            }
            Answer::Refused { path, errors } => {
                out.push_str(&format!(
                    "qksmtp: {} has {} error(s); nothing changed, the server goes on with the \
                     settings it has:\n",
                    path.display(),
                    errors.len()
                ));
                for e in errors {
                    out.push_str(&format!("{}: {e}\n", path.display()));
                }
            }
        }
        out
    }

    /// Writes the answer to the log: each line, errors as errors.
    pub fn log(&self) {
        let text = self.text();
        for line in text.lines() {
            match self {
                Answer::Reloaded { .. } => log::info!("{}", line.trim_start()),
                Answer::Refused { .. } => log::error!("{line}"),
            }
        }
    }
}

/// Re-reads the INI the server was started with and puts it in force (see the file's
/// comment). `log_level` says whether `[server] log_level` rules the log (not when
/// `RUST_LOG` is set).
pub fn reload(live: &Live, server: &mut Server, log_level: bool) -> Answer {
    let old = live.get();
    let path = old.path.clone();
    let refused = |errors: Vec<String>| Answer::Refused {
        path: path.clone(),
        errors,
    };
    let (mut new, warnings) = match config::load::load(&path) {
        Ok(loaded) => loaded,
        Err(errors) => return refused(errors.iter().map(ToString::to_string).collect()),
    };
    let restart = keep_start_only(&old, &mut new);
    let mut prepared = match server.prepare(&new) {
        Ok(p) => p,
        Err(e) => return refused(vec![e]),
    };
    let mut warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    warnings.append(&mut prepared.warnings);
    let settings = changes(&old, &new);
    let (level, more_sessions) = (
        new.server.log_level,
        new.server.max_sessions > old.server.max_sessions,
    );
    live.replace(new);
    let mut changed = server.commit(prepared);
    changed.extend(settings);
    if log_level {
        log::set_max_level(level);
    }
    if more_sessions {
        crate::server::open_files::raise_for(&live.get());
    }
    Answer::Reloaded {
        path,
        changed,
        restart,
        warnings,
    }
}

/// Puts back in `new` the values of the keys read only at start (the spool, the delivery
/// log, the status page's address, the worker threads, the DNS server and its timeout: the
/// resolver is made once, at start), so that the live
/// settings say what is in force; names each one that the file changed.
fn keep_start_only(old: &Config, new: &mut Config) -> Vec<String> {
    let mut named = Vec::new();
    let mut keep = |key: &str, changed: bool| {
        if changed {
            named.push(format!("{key} changed: takes effect at the next start"));
        }
    };
    keep("spool_dir", old.server.spool_dir != new.server.spool_dir);
    keep("log_file", old.server.log_file != new.server.log_file);
    keep(
        "status_listen",
        old.server.status_listen != new.server.status_listen,
    );
    keep("workers", old.delivery.workers != new.delivery.workers);
    keep(
        "dns_server",
        old.delivery.dns_server != new.delivery.dns_server,
    );
    keep(
        "timeout_dns",
        old.delivery.timeout_dns != new.delivery.timeout_dns,
    );
    // The journal is opened at start: turning it on waits for one (its limits reload).
    let journal = crate::queue::thread::history_limits;
    let turned_on = journal(old).is_none() && journal(new).is_some();
    keep(
        "history_days/history_max (turning the history on)",
        turned_on,
    );
    if turned_on {
        new.server.history_days = old.server.history_days;
        new.server.history_max = old.server.history_max;
    }
    new.server.spool_dir = old.server.spool_dir.clone();
    new.server.log_file = old.server.log_file.clone();
    new.server.status_listen = old.server.status_listen;
    new.delivery.workers = old.delivery.workers;
    new.delivery.dns_server = old.delivery.dns_server;
    new.delivery.timeout_dns = old.delivery.timeout_dns;
    named
}

/// The settings that differ, as `[section] key = value` lines of the effective settings
/// (`config::render`, secrets masked), `[section] removed: key = value` for a line gone
/// without a new value, and `[section] added` / `[section] removed` for whole sections.
/// The listeners are the server's to report.
fn changes(old: &Config, new: &Config) -> Vec<String> {
    let before = keyed_lines(&config::render::render(old));
    let after = keyed_lines(&config::render::render(new));
    let has = |lines: &[Keyed], section: &str| lines.iter().any(|(s, _, _)| s == section);
    let mut out = Vec::new();
    let mut sections: Vec<&str> = Vec::new();
    for (section, key, line) in &after {
        if !has(&before, section) {
            if !sections.contains(&section.as_str()) {
                sections.push(section);
                out.push(format!("[{section}] added"));
            }
        } else if !key.is_empty()
            && !listener_key(key)
            && !before.iter().any(|(s, _, l)| s == section && l == line)
        {
            out.push(format!("[{section}] {line}"));
        }
    }
    for (section, key, line) in &before {
        if !has(&after, section) {
            if !sections.contains(&section.as_str()) {
                sections.push(section);
                out.push(format!("[{section}] removed"));
            }
            continue;
        }
        let gone = !after.iter().any(|(s, _, l)| s == section && l == line);
        let replaced = after.iter().any(|(s, k, _)| s == section && k == key);
        if !key.is_empty() && gone && !replaced && !listener_key(key) {
            out.push(format!("[{section}] removed: {line}"));
        }
    }
    out
}

/// (section, key, line) of a `key = value` line; (section, "", "") for its header.
type Keyed = (String, String, String);

fn listener_key(key: &str) -> bool {
    key == "listen" || key == "listen_tls"
}

/// (section, key, line) for each section header and `key = value` line of rendered INI
/// text.
fn keyed_lines(text: &str) -> Vec<Keyed> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            out.push((section.clone(), String::new(), String::new()));
        } else if let Some((key, _)) = line.split_once(" =")
            && !line.starts_with(';')
        {
            out.push((section.clone(), key.to_string(), line.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(ini: &str) -> Config {
        let path = std::path::Path::new("/q/qksmtp.ini");
        config::load::parse(ini, path, "host.test")
            .unwrap_or_else(|e| panic!("{e:?}"))
            .0
    }

    #[test]
    fn keys_read_only_at_start_keep_their_value_and_are_named() {
        let old = config("[server]\nspool_dir = /var/spool/a\n[delivery]\nworkers = 64\n");
        let cases: &[(&str, &[&str])] = &[
            ("[server]\nspool_dir = /var/spool/a\n", &[]),
            (
                "[server]\nspool_dir = /var/spool/b\nmax_recipients = 5\n",
                &["spool_dir"],
            ),
            ("[delivery]\nworkers = 2\n", &["spool_dir", "workers"]),
            (
                "[server]\nspool_dir = /var/spool/a\nstatus_listen =\nlog_file = other.log\n\
                 [delivery]\ndns_server = 127.0.0.1:53\n",
                &["log_file", "status_listen", "dns_server"],
            ),
            (
                "[server]\nspool_dir = /var/spool/a\n[delivery]\ntimeout_dns = 3s\n",
                &["timeout_dns"],
            ),
            (
                "[server]\nspool_dir = /var/spool/a\nhistory_max = 50\n",
                &[],
            ),
        ];
        for (ini, keys) in cases {
            let mut new = config(ini);
            let named = keep_start_only(&old, &mut new);
            let want: Vec<String> = keys
                .iter()
                .map(|k| format!("{k} changed: takes effect at the next start"))
                .collect();
            assert_eq!(named, want, "{ini}");
            assert_eq!(new.server.spool_dir, old.server.spool_dir);
            assert_eq!(new.server.log_file, old.server.log_file);
            assert_eq!(new.server.status_listen, old.server.status_listen);
            assert_eq!(new.delivery.workers, old.delivery.workers);
            assert_eq!(new.delivery.dns_server, old.delivery.dns_server);
            assert_eq!(new.delivery.timeout_dns, old.delivery.timeout_dns);
        }
        // The history turned on waits for a restart; its limits reload.
        let off = config("[server]\nhistory_days = 0\n");
        let mut on = config("[server]\nhistory_days = 7\n");
        let named = keep_start_only(&off, &mut on);
        assert_eq!(named.len(), 1, "{named:?}");
        assert!(named[0].starts_with("history_days/history_max"));
        assert_eq!(on.server.history_days, 0);
        // What reloads is taken as written.
        let mut new = config("[server]\nspool_dir = /var/spool/a\nmax_recipients = 5\n");
        keep_start_only(&old, &mut new);
        assert_eq!(new.server.max_recipients, 5);
    }

    #[test]
    fn changes_name_each_changed_line_with_its_section_and_mask_secrets() {
        let old = config(
            "[server]\nlisten = 127.0.0.1:2525\n[domain:x.test]\nmx = 127.0.0.1:2600\n\
             [relay:isp]\nhost = smtp.isp.test\nauth = login\nusername = me\npassword = one\n",
        );
        let cases: &[(&str, &[&str])] = &[
            (
                "[server]\nlisten = 127.0.0.1:2525\n[domain:x.test]\nmx = 127.0.0.1:2600\n\
                 [relay:isp]\nhost = smtp.isp.test\nauth = login\nusername = me\npassword = one\n",
                &[],
            ),
            (
                // The listeners are the server's to report; the password stays masked.
                "[server]\nlisten = 127.0.0.1:2526\nmax_recipients = 3\n\
                 [domain:x.test]\nmx = 127.0.0.1:2601\n\
                 [relay:isp]\nhost = smtp.isp.test\nauth = login\nusername = me\npassword = two\n",
                &[
                    "[server] max_recipients = 3",
                    "[domain:x.test] mx = 127.0.0.1:2601",
                ],
            ),
            (
                "[server]\nlisten = 127.0.0.1:2525\n[access]\ndeny = 127.0.0.2\n\
                 [users]\nalice = s3cret\n",
                &[
                    "[access] deny = 127.0.0.2/32",
                    "[users] alice = (plain text!)",
                    "[domain:x.test] removed",
                    "[relay:isp] removed",
                ],
            ),
        ];
        for (ini, want) in cases {
            assert_eq!(changes(&old, &config(ini)), *want, "{ini}");
        }
    }

    #[test]
    fn the_answer_in_words() {
        let path = PathBuf::from("/q/qksmtp.ini");
        let refused = Answer::Refused {
            path: path.clone(),
            errors: vec!["line 7: max_recipients: not a number".into()],
        };
        assert_eq!(
            refused.text(),
            "qksmtp: /q/qksmtp.ini has 1 error(s); nothing changed, the server goes on with the \
             settings it has:\n/q/qksmtp.ini: line 7: max_recipients: not a number\n"
        );
        let reloaded = Answer::Reloaded {
            path,
            changed: vec!["listening on 127.0.0.1:2526 (smtp)".into()],
            restart: vec!["workers changed: takes effect at the next start".into()],
            warnings: vec![],
        };
        assert_eq!(
            reloaded.text(),
            "qksmtp: reloaded /q/qksmtp.ini\n  listening on 127.0.0.1:2526 (smtp)\n  \
             workers changed: takes effect at the next start\n"
        );
    }
}
