//! `qksmtp doctor` on the status page: the last report, a check run again in a background
//! thread (one at a time: a second request while one runs starts nothing), and the page that
//! shows them (`GET /doctor`, `GET|POST /api/doctor`).

use super::html::{FOOT, escape, head, time};
use super::json::J;
use crate::config::Live;
use crate::doctor::{self, Ask, Report, Verdict};
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The last report and whether a check runs.
#[derive(Default)]
pub struct Checks {
    last: Mutex<Option<Report>>,
    running: AtomicBool,
}

impl Checks {
    /// Starts a check with the settings in force; false when one runs already.
    pub fn start(self: &Arc<Checks>, config: &Live, ask: Ask) -> bool {
        if self.running.swap(true, Ordering::SeqCst) {
            return false;
        }
        let config = config.get();
        let checks = self.clone();
        let spawned = std::thread::Builder::new()
            .name("doctor".into())
            .spawn(move || {
                // Done even if the checks panic: the next "check again" can start.
                let _done = Done(&checks.running);
                match doctor::run(&config, &ask) {
                    Ok(report) => *checks.lock() = Some(report),
                    Err(e) => log::warn!("doctor: {e}"),
                }
            });
        if spawned.is_err() {
            self.running.store(false, Ordering::SeqCst);
        }
        spawned.is_ok()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Report>> {
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// `GET /api/doctor`: `{"running": bool, "report": REPORT or null}` (see
    /// `api::doctor`).
    pub fn json(&self) -> J {
        let report = self.lock().as_ref().map_or(J::Null, super::api::doctor);
        J::obj(vec![("running", self.running().into()), ("report", report)])
    }

    /// `GET /doctor`: the last report, each finding with its fix, and "check again".
    pub fn page(&self, token: &str) -> String {
        let running = self.running();
        let mut h = head("qksmtp doctor", token, "doctor");
        let _ = write!(
            h,
            "<header><a href=\"/\">&larr; all messages</a> <h1>doctor</h1> \
             <button data-action=\"doctor\"{}>Check again</button></header>\n\
             <main id=\"doctor\" data-running=\"{}\">\n",
            if running { " disabled" } else { "" },
            u8::from(running)
        );
        if running {
            h.push_str("<p class=\"badge sending\">checking&hellip;</p>\n");
        }
        match &*self.lock() {
            None => h.push_str(
                "<p class=\"muted\">No check yet. \"Check again\" checks port 25, this \
                 machine's address and its PTR, SPF, DKIM, DMARC and the relays, as \
                 <code>qksmtp doctor</code> does.</p>\n",
            ),
            Some(report) => h.push_str(&render(report)),
        }
        h.push_str("</main>\n");
        h.push_str(FOOT);
        h
    }
}

/// Clears the running flag when the check's thread ends, however it ends.
struct Done<'a>(&'a AtomicBool);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

fn render(report: &Report) -> String {
    let mut h = format!(
        "<p>Checked {} for sender domain <b>{}</b>: {} problem(s), {} warning(s).</p>\n\
         <table class=\"doctor\">",
        time(report.at),
        escape(report.sender.as_deref().unwrap_or("unknown")),
        report.count(Verdict::Problem),
        report.count(Verdict::Warning)
    );
    for f in &report.findings {
        let verdict = f.verdict.name();
        let fix = f.fix.as_deref().map_or(String::new(), |fix| {
            format!("<pre class=\"fix\">{}</pre>", escape(fix))
        });
        let _ = write!(
            h,
            "<tr class=\"{verdict}\"><td><span class=\"badge {verdict}\">{verdict}</span></td>\
             <td>{}</td><td>{}{fix}</td></tr>",
            escape(&f.check),
            escape(&f.what)
        );
    }
    h.push_str("</table>\n");
    h
}
