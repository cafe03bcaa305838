//! Forgetting destinations: one with no mail ready or in flight, no pause, throttle or rate
//! still running, not paused by a person, and no job ended within the chart's hour is
//! dropped from the scheduler's map, so a server that has mailed a hundred thousand domains
//! does not keep them all. Mail still waiting for one finds it again when it falls due.

use super::{Dest, DestState, Scheduler};
use crate::time::Timestamp;
use std::time::Duration;

/// How often the map is looked through.
pub(super) const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// A destination used within this long is kept (the status page charts its last hour).
pub(super) const KEEP_USED: Duration = Duration::from_secs(crate::queue::stats::CHART_MINUTES * 60);

impl DestState {
    /// Whether anything about it still matters at `now`.
    fn worth_keeping(&self, now: Timestamp) -> bool {
        self.active > 0
            || self.held
            || self.throttle.is_some()
            || self.not_before().is_some_and(|t| t > now)
            || self.last_used.is_some_and(|t| now.since(t) < KEEP_USED)
    }
}

impl Scheduler {
    /// Drops the destinations not worth keeping, at most once every `PRUNE_EVERY`; returns
    /// them (the thread forgets their counters too).
    pub fn prune(&mut self, now: Timestamp) -> Vec<Dest> {
        if self.next_prune.is_some_and(|t| now < t) {
            return Vec::new();
        }
        self.next_prune = Some(now.plus(PRUNE_EVERY));
        let ready = &self.ready;
        let idle = |(dest, state): (&Dest, &DestState)| {
            (!ready.contains_key(dest) && !state.worth_keeping(now)).then(|| dest.clone())
        };
        let dropped: Vec<Dest> = self.dests.iter().filter_map(idle).collect();
        for dest in &dropped {
            self.dests.remove(dest);
            self.slow_dests.remove(dest);
        }
        dropped
    }
}
