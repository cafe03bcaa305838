//! Read deadlines of a session, so that a client trickling a byte at a time cannot hold a
//! session for ever (like Postfix's `smtpd_per_request_deadline` and `smtpd_min_data_rate`).
//!
//! The rules, with `window` = `[server] idle_timeout`:
//! - A command line (or a line of an AUTH exchange) must arrive complete within `window` of
//!   the moment qksmtp is ready for it; bytes that trickle in do not extend it.
//! - During DATA the time left starts at `window`, runs down with the clock, and grows by one
//!   second for every `MIN_DATA_RATE` bytes received, never beyond `window`: a client must
//!   send at least `MIN_DATA_RATE` bytes a second on average, and may pause for at most
//!   `window` (less after a slow stretch).
//!
//! Pure: the clock is a parameter.

use std::time::{Duration, Instant};

/// Bytes per second a client must keep up, on average, while sending a message.
pub const MIN_DATA_RATE: u64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
    window: Duration,
    /// Bytes that buy one second; `None` for a fixed deadline.
    rate: Option<u64>,
}

impl Deadline {
    /// For one command line: `window` from `now`, fixed.
    pub fn command(now: Instant, window: Duration) -> Deadline {
        Deadline {
            at: now + window,
            window,
            rate: None,
        }
    }

    /// For the DATA phase: `window` from `now`, extended as bytes arrive.
    pub fn data(now: Instant, window: Duration) -> Deadline {
        Deadline {
            at: now + window,
            window,
            rate: Some(MIN_DATA_RATE),
        }
    }

    /// `bytes` arrived at `now`: a DATA deadline moves on by `bytes / rate` seconds, up to
    /// `window` after `now`. A command deadline does not move.
    pub fn received(&mut self, bytes: usize, now: Instant) {
        if let Some(rate) = self.rate {
            let credit = Duration::from_secs_f64(bytes as f64 / rate as f64);
            self.at = (self.at + credit).min(now + self.window);
        }
    }

    /// Time left at `now`; `None` once the deadline has passed.
    pub fn left(&self, now: Instant) -> Option<Duration> {
        Some(self.at.checked_duration_since(now)?).filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(10);

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_command_deadline_is_fixed() {
        let t0 = Instant::now();
        let mut d = Deadline::command(t0, W);
        for i in 0..9u64 {
            d.received(1, t0 + secs(i as f64));
        }
        assert_eq!(d.left(t0 + secs(9.0)), Some(secs(1.0)));
        assert_eq!(d.left(t0 + W), None);
        assert_eq!(d.left(t0 + secs(11.0)), None);
    }

    /// (bytes per second, seconds until the deadline passes or `None` when it never does
    /// within a minute).
    #[test]
    fn a_data_deadline_needs_the_minimum_rate() {
        let table: [(u64, Option<u64>); 7] = [
            (0, Some(10)),
            (1, Some(11)),
            (125, Some(13)),
            (250, Some(19)),
            (375, Some(37)),
            (500, None),
            (100_000, None),
        ];
        for (rate, want) in table {
            let t0 = Instant::now();
            let mut d = Deadline::data(t0, W);
            let mut cut = None;
            for s in 1..=60u64 {
                let now = t0 + secs(s as f64);
                if d.left(now).is_none() {
                    cut = Some(s);
                    break;
                }
                d.received(rate as usize, now);
            }
            assert_eq!(cut, want, "{rate} B/s");
        }
    }

    #[test]
    fn a_fast_sender_banks_at_most_one_window() {
        let t0 = Instant::now();
        let mut d = Deadline::data(t0, W);
        d.received(100 << 20, t0 + secs(1.0));
        assert_eq!(d.left(t0 + secs(1.0)), Some(W));
        assert_eq!(d.left(t0 + secs(11.0)), None);
    }
}
