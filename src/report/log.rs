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
/// [127.0.0.1]:25" tls="TLS 1.3, verified by MTA-STS (enforce)" attempt="direct 1 of 8"
/// result=delivered status=2.0.0 reply="250 2.0.0 Ok" delay=0.3s`; `tls="-"` when the attempt
/// ended before the connection's TLS was decided (DNS, connect, greeting, EHLO, STARTTLS).
pub fn format(line: &AttemptLine, now: Timestamp) -> String {
    let result = match line.progress {
        Progress::Delivered => "delivered".to_string(),
        Progress::RetryAt(at) => format!("deferred until {}", at.iso()),
        Progress::Failed(GiveUp::Permanent) if line.outcome.verdict == Verdict::Policy => {
            "failed (refused by policy)".into()
        }
        Progress::Failed(why) => format!("failed ({})", why.describe()),
    };
    let tls = match &line.outcome.tls {
        Some(state) => state.to_string(),
        None => "-".into(),
    };
    format!(
        "{} {} from={} to=<{}> route={:?} tls={tls:?} attempt={:?} result={:?} status={} reply={:?} delay={:.1}s",
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
            Some(p) => Some(BufWriter::new(open_private(p)?)),
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

/// Opens the log for appending, readable by the server's user and group only (0640: it
/// holds addresses and remote replies); a log made earlier with a wider mode is narrowed.
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o640);
        let file = options.open(path)?;
        let mode = file.metadata()?.permissions().mode();
        if mode & 0o027 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(mode & 0o750))?;
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

#[cfg(test)]
mod format_tests {
    use super::*;
    use crate::outcome::Outcome;
    use crate::smtp::reply::{Enhanced, Reply};
    use crate::spool::id::MessageId;
    use crate::transcript::tls::{Demand, TlsState, TlsVersion, VerifiedBy};
    use crate::transcript::{Failure, FailureKind, StepKind};
    use std::time::Duration;

    const ROUTE: &str = "mx.y.test [127.0.0.1]:25";

    fn line(outcome: Outcome, progress: Progress) -> String {
        let line = AttemptLine {
            id: MessageId::from_parts(1_764_000_000_000_000, 1),
            sender: "<a@x.test>".into(),
            recipient: "b@y.test".into(),
            label: "direct 1 of 8".into(),
            outcome,
            progress,
            delay: Duration::from_millis(300),
        };
        format(&line, Timestamp::from_secs(1_764_000_000))
    }

    fn replied(code: u16, e: (u8, u16, u16), text: &str, tls: Option<TlsState>) -> Outcome {
        let reply = Reply::new(code, Some(Enhanced::new(e.0, e.1, e.2)), text);
        Outcome {
            tls,
            ..Outcome::from_reply(StepKind::DataDone, ROUTE, &reply)
        }
    }

    #[test]
    fn each_line_says_how_the_attempt_travelled() {
        let later = Timestamp::from_secs(1_764_003_600);
        let refused = Failure::new(StepKind::Connect, FailureKind::ConnectRefused);
        let cases = [
            (
                replied(
                    250,
                    (2, 0, 0),
                    "Ok",
                    Some(TlsState::Tls {
                        demand: Demand::MtaSts { enforce: true },
                        by: Some(VerifiedBy::MtaSts),
                        version: Some(TlsVersion::V1_3),
                    }),
                ),
                Progress::Delivered,
                "tls=\"TLS 1.3, verified by MTA-STS (enforce)\" attempt=\"direct 1 of 8\" \
                 result=\"delivered\" status=2.0.0 reply=\"250 2.0.0 Ok\" delay=0.3s",
            ),
            (
                replied(451, (4, 7, 1), "later", Some(TlsState::NotOffered)),
                Progress::RetryAt(later),
                "tls=\"plain text: the server offers no STARTTLS\" attempt=\"direct 1 of 8\" \
                 result=\"deferred until 2025-11-24 17:00:00Z\" status=4.7.1 \
                 reply=\"451 4.7.1 later\" delay=0.3s",
            ),
            (
                replied(250, (2, 0, 0), "Ok", Some(TlsState::AfterFailedHandshake)),
                Progress::Delivered,
                "tls=\"plain text after a failed handshake\" attempt=",
            ),
            (
                Outcome::from_failure(ROUTE, &refused),
                Progress::RetryAt(later),
                "tls=\"-\" attempt=\"direct 1 of 8\" result=\"deferred until \
                 2025-11-24 17:00:00Z\" status=4.4.1 reply=\"connection refused\" delay=0.3s",
            ),
        ];
        for (outcome, progress, want) in cases {
            let text = line(outcome, progress);
            let head = "2025-11-24 16:00:00Z 6445941624000001 from=<a@x.test> to=<b@y.test> \
                        route=\"mx.y.test [127.0.0.1]:25\" ";
            assert!(
                text.starts_with(head) && text[head.len()..].starts_with(want),
                "{text}"
            );
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_log_is_not_readable_by_others_even_when_it_was_before() {
        let dir = std::env::temp_dir().join(format!("qksmtp-log-mode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (fresh, old) = (dir.join("fresh.log"), dir.join("old.log"));
        std::fs::write(&old, "earlier\n").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        for path in [&fresh, &old] {
            drop(DeliveryLog::open(Some(path)).unwrap());
            let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o007, 0, "{}: {mode:o}", path.display());
            assert_eq!(mode & 0o600, 0o600, "{}: {mode:o}", path.display());
        }
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "earlier\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
