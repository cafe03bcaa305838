//! `qksmtp queue --history [TEXT]` and `qksmtp show ID` for a finished message: read from
//! the history journal in the spool folder, the same way whether the server runs or not (it
//! only ever appends to it; a record it is writing this moment is not listed yet).

use crate::config::Config;
use crate::queue::find::Query;
use crate::queue::history;
use crate::queue::journal::{self, Record};
use crate::queue::scheduler::view::view_of;
use crate::spool::id::MessageId;
use crate::time::Timestamp;
use std::io::Write;
use std::path::Path;

/// Lists the finished messages that match `text` (all when empty), oldest first; the exit
/// code.
pub fn list(config: &Config, text: &str) -> u8 {
    let query = Query::new(text, None, None, 0);
    let now = Timestamp::now();
    let out = std::io::stdout();
    let (mut all, mut shown) = (0, 0);
    let mut printing = Ok(());
    let read = journal::read_all(&config.server.spool_dir, None, |record, _| {
        all += 1;
        let subject = history::subject_of(&record.envelope, &record.headers);
        if !query.matches(&record.envelope, &[], subject.as_deref()) {
            return;
        }
        shown += 1;
        if printing.is_ok() {
            let text = finished(&record, now);
            printing = out.lock().write_all(text.as_bytes());
        }
    });
    match read {
        Ok(_) => {
            let _ = writeln!(
                out.lock(),
                "{shown} finished message(s) shown of {all} in the history"
            );
            0
        }
        Err(e) => {
            eprintln!("qksmtp: cannot read the history journal: {e}");
            1
        }
    }
}

/// One finished message as `queue` lists a queued one, with when it finished.
fn finished(record: &Record, now: Timestamp) -> String {
    let view = view_of(&record.envelope, &[], Some(record.at));
    let mut text = crate::cli::listing::render_view(&view, now);
    text.push_str(&format!("    finished {}\n", record.at.iso()));
    text
}

/// `qksmtp show ID` for a finished message of the journal in `spool_dir` (the server
/// stopped): its recipients, when it finished, its headers and its step record.
pub fn show(spool_dir: &Path, id: &MessageId, now: Timestamp) -> Option<String> {
    let record = find(spool_dir, id)?;
    let mut text = crate::cli::listing::render_detail(&record.envelope, &record.steps, now);
    text.push_str(&format!(
        "finished {}\n\n{}",
        record.at.iso(),
        record.headers
    ));
    Some(text)
}

fn find(spool_dir: &Path, id: &MessageId) -> Option<Record> {
    let mut found = None;
    let _ = journal::read_all(spool_dir, None, |record, _| {
        if &record.envelope.id == id {
            found = Some(record);
        }
    });
    found
}
