//! A throttled destination's pace (issue 22): one connection and one message every
//! `throttle_delay` once a server says it slows us down, the pause doubling while it goes on
//! (at most an hour), then its limits back step by step as mail gets through. Pure: the
//! scheduler keeps one per destination and passes `now`.

use crate::time::Timestamp;
use std::time::Duration;

/// The longest pause between messages, however long the throttling goes on.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// A destination the server slows down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttle {
    /// When it began.
    pub since: Timestamp,
    /// The latest reply that throttled it (`421 4.7.28 ...`).
    pub why: String,
    /// The pause after each message; zero once it has come down (then only the connections
    /// are still limited).
    pub delay: Duration,
    /// Connections it may have now (1 while the pause lasts).
    pub connections: u32,
    /// The next message may not start before this.
    pub next: Timestamp,
    /// The latest throttling reply came then: results of jobs started before it say nothing
    /// of recovery.
    signalled: Timestamp,
}

/// What a finished job says to the throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Said {
    /// A throttling reply.
    Throttled,
    /// Delivered to at least one recipient, no throttling reply.
    Success,
    /// Anything else (a refusal, a timeout): it neither worsens nor eases.
    Other,
}

impl Throttle {
    /// A destination's first throttling reply.
    pub fn begin(now: Timestamp, why: &str, base: Duration) -> Throttle {
        let delay = base.min(MAX_DELAY);
        Throttle {
            since: now,
            why: why.to_string(),
            delay,
            connections: 1,
            next: now.plus(delay),
            signalled: now,
        }
    }

    /// May a job start now, with `active` connections open?
    pub fn allows(&self, active: u32, now: Timestamp) -> bool {
        active < self.connections && now >= self.next
    }

    /// A job that started at `started` ended at `now` with `result`: the throttle after it,
    /// or `None` when the destination is back to its configured limits.
    /// `why` is the throttling reply; `base` is `throttle_delay`.
    pub fn after(
        mut self,
        result: Said,
        started: Timestamp,
        now: Timestamp,
        why: &str,
        (base, max_connections): (Duration, u32),
    ) -> Option<Throttle> {
        match result {
            Said::Throttled => {
                self.delay = (self.delay * 2).clamp(base.min(MAX_DELAY), MAX_DELAY);
                self.connections = 1;
                self.why = why.to_string();
                self.signalled = now;
            }
            Said::Success if started >= self.signalled => {
                if self.delay > base {
                    self.delay = (self.delay / 2).max(base);
                } else if !self.delay.is_zero() {
                    self.delay = Duration::ZERO;
                } else {
                    self.connections += 1;
                }
                if self.delay.is_zero() && self.connections >= max_connections {
                    return None;
                }
            }
            Said::Success | Said::Other => {}
        }
        self.next = now.plus(self.delay);
        Some(self)
    }
}

/// A job's effect on a destination that may or may not be throttled yet.
pub fn step(
    state: Option<Throttle>,
    result: Said,
    started: Timestamp,
    now: Timestamp,
    why: &str,
    limits: (Duration, u32),
) -> Option<Throttle> {
    match (state, result) {
        (Some(t), r) => t.after(r, started, now, why, limits),
        (None, Said::Throttled) => Some(Throttle::begin(now, why, limits.0)),
        (None, Said::Success | Said::Other) => None,
    }
}

/// With `max_rate`: when the next message may start after one that started at `started`.
pub fn rate_next(started: Timestamp, spacing: Duration) -> Timestamp {
    started.plus(spacing)
}

#[cfg(test)]
mod tests {
    use super::Said::*;
    use super::*;

    fn t(secs: u64) -> Timestamp {
        Timestamp::from_secs(secs)
    }
    const MIN5: Duration = Duration::from_secs(300);

    /// A job's result, when it started and ended, and then: the delay in seconds and the
    /// connections, or `None` for back to normal.
    type Chapter = (Said, u64, u64, Option<(u64, u32)>);

    /// A destination's story, job by job.
    #[test]
    fn throttling_story_table() {
        let limits = (MIN5, 3);
        let story: &[Chapter] = &[
            (Other, 0, 1, None),
            (Success, 1, 2, None),
            (Throttled, 2, 10, Some((300, 1))),
            // Started before the throttling reply: says nothing of recovery.
            (Success, 5, 11, Some((300, 1))),
            (Throttled, 310, 311, Some((600, 1))),
            (Throttled, 911, 912, Some((1200, 1))),
            (Throttled, 2112, 2113, Some((2400, 1))),
            (Throttled, 4513, 4514, Some((3600, 1))),
            (Throttled, 8114, 8115, Some((3600, 1))),
            (Other, 11715, 11716, Some((3600, 1))),
            (Success, 15316, 15317, Some((1800, 1))),
            (Success, 17117, 17118, Some((900, 1))),
            (Success, 18018, 18019, Some((450, 1))),
            (Success, 18469, 18470, Some((300, 1))),
            (Success, 18770, 18771, Some((0, 1))),
            (Success, 18771, 18772, Some((0, 2))),
            (Success, 18772, 18773, None),
        ];
        let mut state = None;
        for (n, &(result, started, ended, want)) in story.iter().enumerate() {
            state = step(
                state,
                result,
                t(started),
                t(ended),
                "421 4.7.28 slow",
                limits,
            );
            let got = state.as_ref().map(|s| (s.delay.as_secs(), s.connections));
            assert_eq!(got, want, "step {n}: {result:?}");
            if let Some(s) = &state {
                assert_eq!(s.next, t(ended).plus(s.delay), "step {n}");
                assert_eq!(s.since, t(10), "step {n}");
            }
        }
    }

    #[test]
    fn one_connection_and_the_pause_between_messages() {
        let th = Throttle::begin(t(100), "421 4.7.0 [TSS04] deferred", MIN5);
        // (active, now, may start)
        let cases = [
            (0, 100, false),
            (0, 399, false),
            (0, 400, true),
            (1, 400, false),
        ];
        for (active, now, want) in cases {
            assert_eq!(th.allows(active, t(now)), want, "{active} at {now}");
        }
        assert_eq!(th.why, "421 4.7.0 [TSS04] deferred");
    }

    #[test]
    fn a_single_connection_destination_recovers_when_the_pause_is_gone() {
        let th = Throttle::begin(t(0), "x", MIN5);
        assert_eq!(th.after(Success, t(300), t(301), "x", (MIN5, 1)), None);
    }

    #[test]
    fn a_throttle_delay_above_an_hour_is_an_hour() {
        let th = Throttle::begin(t(0), "x", Duration::from_secs(7200));
        assert_eq!(th.delay, MAX_DELAY);
        let again = th.after(Throttled, t(0), t(1), "y", (Duration::from_secs(7200), 2));
        assert_eq!(
            again.map(|a| (a.delay, a.why)),
            Some((MAX_DELAY, "y".into()))
        );
    }

    #[test]
    fn rate_spacing() {
        assert_eq!(rate_next(t(60), Duration::from_secs(30)), t(90));
    }
}
