//! Telling the sender (RFC 3461 DSN, RFC 3464 reports): which notices a recipient asked for
//! (`wants`), the notice as a value (`Notice`: the envelope and what happened to each reported
//! recipient), rendered as a `multipart/report` message by `render` in the words of `text`.
//! Pure: no clock, no files.

pub mod render;
pub mod text;

use crate::outcome::Outcome;
use crate::outcome::{Action, GiveUp};
use crate::smtp::{Notify, Ret, ReversePath};
use crate::spool::envelope::{Envelope, Recipient};
use crate::time::Timestamp;

pub use render::{RenderContext, render};

/// What a whole notice is, from its recipients: a bounce if any failed, else a delay notice
/// if any is delayed, else a delivery receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Bounce,
    Delay,
    Receipt,
}

/// One recipient in a notice.
#[derive(Debug, Clone, PartialEq)]
pub struct Reported {
    /// Index into the notice's `envelope.recipients`.
    pub index: usize,
    pub action: Action,
    /// The attempt that decided it; `None` when not known (a delay notice after a restart,
    /// or before any attempt ended).
    pub outcome: Option<Outcome>,
    /// Why it failed for good (`Action::Failed` only).
    pub why: Option<GiveUp>,
}

/// A notice to the sender about some recipients of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The message's envelope as it stood when the notice was decided.
    pub envelope: Envelope,
    pub recipients: Vec<Reported>,
    /// When qksmtp stops trying (shown in delay notices as `Will-Retry-Until`).
    pub retry_until: Option<Timestamp>,
}

impl Notice {
    pub fn kind(&self) -> NoticeKind {
        let has = |a: Action| self.recipients.iter().any(|r| r.action == a);
        if has(Action::Failed) {
            NoticeKind::Bounce
        } else if has(Action::Delayed) {
            NoticeKind::Delay
        } else {
            NoticeKind::Receipt
        }
    }

    /// RET=FULL returns the whole message, and only in bounces (RFC 3461 §4.3); everything
    /// else carries the original headers.
    pub fn returns_full_message(&self) -> bool {
        self.kind() == NoticeKind::Bounce && self.envelope.params.ret == Some(Ret::Full)
    }

    /// The envelope recipient a report line is about.
    pub fn recipient(&self, reported: &Reported) -> &Recipient {
        &self.envelope.recipients[reported.index]
    }
}

/// Whether the sender gets a notice with this action for a recipient (RFC 3461 §4.1):
/// never for a null sender (that is how bounce loops are impossible); NOTIFY=NEVER never;
/// without NOTIFY, failures and delays; otherwise what NOTIFY lists.
pub fn wants(sender: &ReversePath, notify: Option<Notify>, action: Action) -> bool {
    *sender != ReversePath::Null && asked(notify, action)
}

/// Whether a recipient's NOTIFY asks for a notice with this action (`wants` without the
/// sender: for a non-null one).
pub fn asked(notify: Option<Notify>, action: Action) -> bool {
    match notify {
        None => matches!(action, Action::Failed | Action::Delayed),
        Some(Notify::Never) => false,
        Some(Notify::On {
            success,
            failure,
            delay,
        }) => match action {
            Action::Failed => failure,
            Action::Delayed => delay,
            Action::Delivered | Action::Relayed => success,
        },
    }
}

#[cfg(test)]
mod tests;
