//! What the scheduler tells senders, as values (pure): when a pending recipient's delay
//! notice falls due, the delay notice itself, and the one notice for a message's failures and
//! receipts decided in the same pass.

use super::super::outcome::Outcome;
use super::super::policy::{self, GiveUp};
use crate::bounce::{self, Action, Notice, Reported};
use crate::config::Config;
use crate::spool::envelope::{Envelope, RecipientState};
use crate::time::Timestamp;

/// When recipient `i` earns its delay notice; `None` if it is not pending, already warned,
/// or did not ask for one (a null sender never gets one).
pub(super) fn warn_at(config: &Config, env: &Envelope, i: usize) -> Option<Timestamp> {
    let r = &env.recipients[i];
    if r.state != RecipientState::Pending
        || r.warned
        || !bounce::wants(&env.sender, r.notify, Action::Delayed)
    {
        return None;
    }
    policy::delay_warning(config, r.notify).map(|d| env.arrival.plus(d))
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

/// One notice for the failures the sender wants to hear about and the receipts they asked for
/// (`delivered` is already filtered), in recipient order; `None` when there is nothing to say.
pub(super) fn settled(
    env: &Envelope,
    failed: &[(usize, Outcome, GiveUp)],
    delivered: Vec<(usize, Outcome, Action)>,
) -> Option<Notice> {
    let mut recipients: Vec<Reported> = failed
        .iter()
        .filter(|(i, _, _)| bounce::wants(&env.sender, env.recipients[*i].notify, Action::Failed))
        .map(|(i, outcome, why)| Reported {
            index: *i,
            action: Action::Failed,
            outcome: Some(outcome.clone()),
            why: Some(*why),
        })
        .collect();
    recipients.extend(
        delivered
            .into_iter()
            .map(|(index, outcome, action)| Reported {
                index,
                action,
                outcome: Some(outcome),
                why: None,
            }),
    );
    recipients.sort_by_key(|r| r.index);
    (!recipients.is_empty()).then(|| Notice {
        envelope: env.clone(),
        recipients,
        retry_until: None,
    })
}
