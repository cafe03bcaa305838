//! The delivery log (`log_file`): one line per attempt and recipient, for people and grep.
//! `format` is pure; `DeliveryLog` appends to the file.

use crate::outcome::GiveUp;
use crate::outcome::Verdict;
use crate::queue::policy::Progress;
use crate::queue::scheduler::AttemptLine;
use crate::time::Timestamp;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

/// `2026-11-23 07:37:00Z 0194F2A3B4C5D001 from=<a@x.test> to=<b@y.test> route="mx.y.test
/// [127.0.0.1]:25" attempt="direct 1 of 8" result=delivered status=2.0.0 reply="250 2.0.0 Ok"
/// delay=0.3s`
pub fn format(line: &AttemptLine, now: Timestamp) -> String {
    let result = match line.progress {
        Progress::Delivered => "delivered".to_string(),
        Progress::RetryAt(at) => format!("deferred until {}", at.iso()),
        Progress::Failed(GiveUp::Permanent) if line.outcome.verdict == Verdict::Policy => {
            "failed (refused by policy)".into()
        }
        Progress::Failed(why) => format!("failed ({})", why.describe()),
    };
    format!(
        "{} {} from={} to=<{}> route={:?} attempt={:?} result={:?} status={} reply={:?} delay={:.1}s",
        now.iso(),
        line.id,
        line.sender,
        line.recipient,
        line.outcome.route,
        line.label,
        result,
        line.outcome.status,
        line.outcome.reason(),
        line.delay.as_secs_f64()
    )
}

/// Buffered: the engine flushes after each batch of effects.
pub struct DeliveryLog {
    file: Option<BufWriter<File>>,
}

impl DeliveryLog {
    /// Opens `path` for appending; `None` (log_file empty) logs nowhere.
    pub fn open(path: Option<&Path>) -> std::io::Result<DeliveryLog> {
        let file = match path {
            Some(p) => Some(BufWriter::new(
                OpenOptions::new().create(true).append(true).open(p)?,
            )),
            None => None,
        };
        Ok(DeliveryLog { file })
    }

    pub fn write(&mut self, line: &AttemptLine, now: Timestamp) {
        let text = format(line, now);
        log::info!("{text}");
        if let Some(f) = &mut self.file
            && let Err(e) = writeln!(f, "{text}")
        {
            log::warn!("cannot write the delivery log: {e}");
        }
    }

    pub fn flush(&mut self) {
        if let Some(f) = &mut self.file
            && let Err(e) = f.flush()
        {
            log::warn!("cannot write the delivery log: {e}");
        }
    }
}
