//! The messages between the scheduler and the workers: jobs out, reports back, and the
//! delivery-log line an attempt becomes.

use crate::config::Config;
use crate::outcome::{Outcome, Verdict};
use crate::queue::policy::{Dest, Progress};
use crate::spool::envelope::Envelope;
use crate::spool::id::MessageId;
use crate::transcript::{Record, StepKind};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

/// Work for one worker: a message (the type allows several) for `dest`.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: JobId,
    pub dest: Dest,
    pub messages: Vec<JobMessage>,
    /// The settings the scheduler decided the job under: the worker runs it under the same
    /// ones (a reload meanwhile does not change a job; `Dest::Relay` indexes these relays).
    pub config: Arc<Config>,
}

#[derive(Debug, Clone)]
pub struct JobMessage {
    /// A snapshot (sender, parameters, recipients' DSN requests).
    pub envelope: Envelope,
    /// Indexes into `envelope.recipients` to deliver in this job.
    pub recipients: Vec<usize>,
    /// "direct 1 of 8" per recipient, same order.
    pub labels: Vec<String>,
}

/// What a worker reports for a job, one entry per `JobMessage` in order.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub id: JobId,
    pub messages: Vec<MessageReport>,
    /// The connection carried `max_continuous` messages in a row and was closed: the
    /// destination pauses for `continuous_delay`.
    pub run_complete: bool,
}

#[derive(Debug, Clone)]
pub struct MessageReport {
    /// Per recipient of the JobMessage; `None` = not attempted (the connection was lost
    /// before this message): it goes back to the queue without counting an attempt.
    pub outcomes: Vec<Option<Outcome>>,
    /// The steps of this message's attempt (connection steps included).
    pub record: Record,
    /// The next hop advertised DSN (so it got the NOTIFY/ORCPT/RET/ENVID parameters and
    /// reports on its own): a success receipt says "delivered", else "relayed".
    pub dsn: bool,
}

/// One line of the delivery log.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptLine {
    pub id: MessageId,
    pub sender: String,
    pub recipient: String,
    pub label: String,
    pub outcome: Outcome,
    pub progress: Progress,
    /// Time since the message arrived.
    pub delay: std::time::Duration,
}

/// True when no message of the job got an answer from any server: every attempted outcome
/// is a temporary failure before the SMTP dialogue (DNS, connect, greeting).
pub(super) fn destination_down(report: &JobReport) -> bool {
    let mut outcomes = report
        .messages
        .iter()
        .flat_map(|m| m.outcomes.iter().flatten())
        .peekable();
    outcomes.peek().is_some()
        && outcomes.all(|o| {
            o.verdict == Verdict::Temporary
                && matches!(
                    o.step,
                    StepKind::Dns | StepKind::Connect | StepKind::Greeting
                )
        })
}
