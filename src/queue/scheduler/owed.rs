//! Notices owed to senders (pure): what happens after the engine tried to write one
//! (`noticed`), trying again with a backoff when it could not be written (the spool's disk is
//! full), and the timer that makes an owed notice due. A message stays queued while a notice
//! about it is owed, so a failure is never recorded without its bounce.

use super::*;
use std::time::Duration;

/// The wait before the first new try of a notice that could not be written; it doubles with
/// each failure in a row, up to `OWED_MAX`.
pub const OWED_FIRST: Duration = Duration::from_secs(5);
pub const OWED_MAX: Duration = Duration::from_secs(300);

/// The wait after `failures` failed writes in a row (1 = the first).
pub fn owed_backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    OWED_FIRST.saturating_mul(1 << doublings).min(OWED_MAX)
}

impl Scheduler {
    /// The engine tried to write `notice` (from an `Effect::Notify`): `written` or not. A
    /// written notice settles what it reported; one that was not is tried again later (a
    /// delay notice falls due again). Gives the message's `Persist` or `Remove`.
    pub fn noticed(&mut self, notice: &Notice, written: bool, now: Timestamp) -> Vec<Effect> {
        let id = &notice.envelope.id;
        let mut effects = Vec::new();
        if !self.warm(id) {
            return effects;
        }
        let Some(msg) = self.messages.get_mut(id) else {
            return effects;
        };
        let Some(hot) = msg.hot.as_deref_mut() else {
            return effects;
        };
        let mut delayed = false;
        for r in &notice.recipients {
            let rcpt = &mut hot.env.recipients[r.index];
            match (r.action, written) {
                (Action::Delayed, true) => {}
                (Action::Delayed, false) => {
                    rcpt.warned = false;
                    delayed = true;
                }
                (action, true) if rcpt.owed == Some(action) => rcpt.owed = None,
                _ => {}
            }
        }
        msg.sync();
        if written {
            msg.owed_failures = 0;
        } else {
            msg.owed_failures = msg.owed_failures.saturating_add(1);
            let at = now.plus(owed_backoff(msg.owed_failures));
            let owes = msg.rcpts.iter().any(|r| r.owed.is_some());
            if delayed {
                self.arm_warning(id, at);
            }
            if owes {
                self.owe_at(id, at);
            }
        }
        self.persist_or_remove(id, &mut effects);
        effects
    }

    /// (Re)arms the timer of a message's owed notice.
    pub(super) fn owe_at(&mut self, id: &MessageId, at: Timestamp) {
        let Some(msg) = self.messages.get_mut(id) else {
            return;
        };
        if let Some(old) = msg.owed_at.replace(Some(at)) {
            self.owed.remove(&(old, id.clone()));
        }
        if let Some(at) = msg.owed_at.get() {
            self.owed.insert((at, id.clone()));
        }
    }

    /// Owed notices whose time has come: one notice per message, for all it owes.
    pub(super) fn owed_due(&mut self, now: Timestamp, effects: &mut Vec<Effect>) {
        while let Some((at, id)) = self.owed.first().cloned() {
            if at > now {
                break;
            }
            self.owed.pop_first();
            let Some(msg) = self.messages.get_mut(&id) else {
                continue;
            };
            msg.owed_at.take();
            if !self.warm(&id) {
                self.owe_at(&id, now.plus(UNREADABLE_RETRY));
                continue;
            }
            let hot = self.messages.get(&id).and_then(|m| m.hot.as_deref());
            if let Some(notice) = hot.and_then(|h| notices::owed(&h.env, &h.last)) {
                effects.push(Effect::Notify(notice));
            }
        }
    }

    /// Whether the message leaves the queue once the notices asked for are written (every
    /// recipient final, no attempt running): the engine keeps its step record in memory.
    pub fn finishing(&self, id: &MessageId) -> bool {
        self.messages
            .get(id)
            .is_some_and(|m| !m.busy() && m.rcpts.iter().all(|r| !r.pending()))
    }
}
