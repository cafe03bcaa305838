//! What the scheduler tells senders, as values (pure): when a pending recipient's delay
//! notice falls due, the delay notice itself, and the one notice for everything a message's
//! sender is owed about its final recipients (bounces and receipts).

use super::super::policy;
use super::compact::Msg;
use crate::bounce::{Notice, Reported};
use crate::config::Config;
use crate::outcome::Action;
use crate::outcome::Outcome;
use crate::spool::envelope::Envelope;
use crate::time::Timestamp;

/// When recipient `i` earns its delay notice; `None` if it is not pending, already warned,
/// or did not ask for one (a null sender never gets one).
pub(super) fn warn_at(config: &Config, msg: &Msg, i: usize) -> Option<Timestamp> {
    let r = &msg.rcpts[i];
    if !r.pending() || r.warned() || !msg.wants(i, Action::Delayed) {
        return None;
    }
    policy::delay_warning(config, r.notify).map(|d| msg.arrival.plus(d))
}

/// The delay notice for recipients `idxs`, with their last outcomes when known.
pub(super) fn delay(
    config: &Config,
    env: &Envelope,
    idxs: &[usize],
    last: &[Option<Outcome>],
) -> Notice {
    Notice {
        envelope: env.clone(),
        recipients: idxs
            .iter()
            .map(|&i| Reported {
                index: i,
                action: Action::Delayed,
                outcome: last.get(i).cloned().flatten(),
                why: None,
            })
            .collect(),
        retry_until: Some(env.arrival.plus(policy::lifetime(config, env.kind))),
    }
}

/// One notice for everything the sender is owed about the message's final recipients (the
/// `owed` marks: bounces and receipts), in recipient order, with the outcomes known this run
/// (none after a restart: the notice then quotes the saved last result, its status and why
/// it was given up); `None` when nothing is owed.
pub(super) fn owed(env: &Envelope, last: &[Option<Outcome>]) -> Option<Notice> {
    let recipients: Vec<Reported> = env
        .recipients
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let action = r.owed?;
            Some(Reported {
                index: i,
                action,
                outcome: last.get(i).cloned().flatten(),
                why: r.gave_up.filter(|_| action == Action::Failed),
            })
        })
        .collect();
    (!recipients.is_empty()).then(|| Notice {
        envelope: env.clone(),
        recipients,
        retry_until: None,
    })
}
