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
    /// The latest failed attempt per destination, unless one delivered there since.
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
            // A delivery there since makes an older error old news.
            if let (Effect::Log(line), Some(dest)) = (effect, dest) {
                match line.progress {
                    Progress::Delivered => self.last_error.remove(dest),
                    _ => self
                        .last_error
                        .insert(dest.clone(), (now, line.outcome.to_string())),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;
    use crate::queue::scheduler::AttemptLine;
    use crate::smtp::reply::{Enhanced, Reply};
    use crate::spool::id::MessageId;
    use crate::transcript::StepKind;

    fn line(code: u16, progress: Progress) -> Effect {
        let class = (code / 100) as u8;
        let reply = Reply::new(code, Some(Enhanced::new(class, 0, 0)), "x");
        Effect::Log(AttemptLine {
            id: MessageId::from_parts(1_764_000_000_000_000, 1),
            sender: "a@x.test".into(),
            recipient: "b@y.test".into(),
            label: "direct 1 of 8".into(),
            outcome: Outcome::from_reply(StepKind::Rcpt, "mx", &reply),
            progress,
            delay: std::time::Duration::ZERO,
        })
    }

    #[test]
    fn a_delivery_clears_the_destinations_last_error() {
        let dest = Dest::Direct("y.test".into());
        let mut stats = Stats::default();
        let later = Timestamp::from_secs(1_764_000_100);
        stats.observe(&[line(451, Progress::RetryAt(later))], Some(&dest), later);
        assert!(stats.last_error.contains_key(&dest));
        stats.observe(&[line(250, Progress::Delivered)], Some(&dest), later);
        assert!(stats.last_error.is_empty(), "{:?}", stats.last_error);
        assert_eq!((stats.counters.delivered, stats.counters.deferred), (1, 1));
    }
}
