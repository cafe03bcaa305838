//! What the engine counts for the status page and `/metrics`: messages received, attempts
//! delivered and deferred, recipients bounced, attempt durations, the last error per
//! destination. Pure: fed with the scheduler's effects.

use super::policy::{Dest, Progress};
use super::scheduler::Effect;
use super::snapshot::{Counters, Histogram};
use crate::time::Timestamp;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Stats {
    pub counters: Counters,
    pub durations: Histogram,
    /// The latest failed attempt per destination: when, and the result.
    pub last_error: HashMap<Dest, (Timestamp, String)>,
}

impl Stats {
    /// Counts what the effects of a decision tell (`dest`: where the job went, if a job).
    pub fn observe(&mut self, effects: &[Effect], dest: Option<&Dest>, now: Timestamp) {
        for effect in effects {
            match effect {
                Effect::Log(line) => match line.progress {
                    Progress::Delivered => self.counters.delivered += 1,
                    Progress::RetryAt(_) => self.counters.deferred += 1,
                    Progress::Failed(_) => {}
                },
                Effect::GaveUp { recipients, .. } => {
                    self.counters.bounced += recipients.len() as u64
                }
                Effect::Record { record, .. } => {
                    if let (Some(first), Some(last)) = (record.steps.first(), record.steps.last()) {
                        let end = last.at.plus(last.took);
                        self.durations.observe(end.since(first.at).as_secs_f64());
                    }
                }
                _ => {}
            }
            if let (Effect::Log(line), Some(dest)) = (effect, dest)
                && line.progress != Progress::Delivered
            {
                self.last_error
                    .insert(dest.clone(), (now, line.outcome.to_string()));
            }
        }
    }
}
