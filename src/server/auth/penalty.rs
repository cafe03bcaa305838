//! The penalty for failed logins, per client address (as Postfix's anvil counts them): each
//! failure makes the next failed answer wait longer, and `auth_fail_limit` failures, each
//! within `auth_fail_window` of the one before, get the address refused for
//! `auth_fail_window`. Pure: `now` is a parameter; `auth` keeps the process's one table.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long the first failed login takes to answer; each further one doubles it.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest a failed login takes to answer.
pub const MAX_DELAY: Duration = Duration::from_secs(8);
/// With more addresses than this remembered, the forgotten ones are swept out; when that is
/// not enough (many addresses failing at once), the older half is forgotten early, so the
/// table never holds more than this (and one).
const SWEEP_ABOVE: usize = 4096;

/// `auth_fail_limit` (0: never refused) and `auth_fail_window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub limit: u32,
    pub window: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    /// Failures in a row, each within the window of the one before.
    failures: u32,
    last: Instant,
}

/// What a failed login costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// How long the failed login takes to answer, in all.
    pub delay: Duration,
    /// This failure reached the limit: the address is refused from now on (said once).
    pub refused_from_now: bool,
}

/// The failures of every address that failed lately.
#[derive(Debug, Default)]
pub struct Penalties {
    records: HashMap<IpAddr, Record>,
}

impl Penalties {
    /// Until when `addr` is refused, if it is.
    pub fn refused_until(&self, addr: IpAddr, rule: Rule, now: Instant) -> Option<Instant> {
        let record = self.records.get(&addr)?;
        let until = record.last + rule.window;
        (rule.limit > 0 && record.failures >= rule.limit && now < until).then_some(until)
    }

    /// How many logins `addr` failed lately (in a row).
    pub fn failures(&self, addr: IpAddr) -> u32 {
        self.records.get(&addr).map_or(0, |r| r.failures)
    }

    /// Counts a failed login from `addr`.
    pub fn failed(&mut self, addr: IpAddr, rule: Rule, now: Instant) -> Failure {
        if self.records.len() > SWEEP_ABOVE {
            self.records
                .retain(|_, r| now.saturating_duration_since(r.last) < rule.window);
        }
        if self.records.len() > SWEEP_ABOVE {
            let mut lasts: Vec<Instant> = self.records.values().map(|r| r.last).collect();
            let (_, &mut middle, _) = lasts.select_nth_unstable(SWEEP_ABOVE / 2);
            self.records.retain(|_, r| r.last > middle);
        }
        let record = self.records.entry(addr).or_insert(Record {
            failures: 0,
            last: now,
        });
        if now.saturating_duration_since(record.last) >= rule.window {
            record.failures = 0;
        }
        record.failures = record.failures.saturating_add(1);
        record.last = now;
        let doublings = (record.failures - 1).min(8);
        Failure {
            delay: (FIRST_DELAY * 2u32.pow(doublings)).min(MAX_DELAY),
            refused_from_now: rule.limit > 0 && record.failures == rule.limit,
        }
    }

    /// A right password from `addr`: its failures are forgotten.
    pub fn succeeded(&mut self, addr: IpAddr) {
        self.records.remove(&addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_addresses_failing_at_once_never_hold_more_than_the_bound() {
        let t0 = Instant::now();
        let mut p = Penalties::default();
        let last = 3 * SWEEP_ABOVE as u32;
        for n in 0..=last {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            p.failed(addr, RULE, t0 + Duration::from_millis(u64::from(n)));
            assert!(
                p.records.len() <= SWEEP_ABOVE + 1,
                "{n}: {}",
                p.records.len()
            );
        }
        let newest = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + last));
        assert_eq!(p.failures(newest), 1, "the latest is remembered");
    }

    const RULE: Rule = Rule {
        limit: 3,
        window: Duration::from_secs(60),
    };
    const NEVER: Rule = Rule { limit: 0, ..RULE };

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Ev {
        /// A failed login: the delay it costs, and whether the address is refused from now.
        Fail(u64, bool),
        Success,
        /// Only whether the address is refused.
        Look,
    }

    #[test]
    fn failures_wait_longer_then_the_address_is_refused_for_the_window() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        use Ev::*;
        // (seconds, address, rule, event, refused after it)
        #[rustfmt::skip]
        let table: &[(u64, IpAddr, Rule, Ev, bool)] = &[
            (0, a, RULE, Fail(1, false), false),
            (1, a, RULE, Fail(2, false), false),
            (1, b, RULE, Fail(1, false), false),    // another address: its own count
            (2, a, RULE, Fail(4, true), true),      // the limit: refused, said once
            (30, a, RULE, Fail(8, false), true),    // a check already in line failing
            (89, a, RULE, Look, true),              // refused a window from the last failure
            (89, a, NEVER, Look, false),            // limit 0: never refused
            (90, a, RULE, Look, false),
            (90, a, RULE, Fail(1, false), false),   // over: counting starts again
            (91, a, RULE, Fail(2, false), false),
            (151, a, RULE, Fail(1, false), false),  // a window since the last: forgotten
            (152, b, RULE, Fail(1, false), false),
            (153, b, RULE, Success, false),
            (154, b, RULE, Fail(1, false), false),  // a success forgets
            (155, b, NEVER, Fail(2, false), false),
            (156, b, NEVER, Fail(4, false), false),
            (157, b, NEVER, Fail(8, false), false),
            (158, b, NEVER, Fail(8, false), false), // at most MAX_DELAY
        ];
        let t0 = Instant::now();
        let mut p = Penalties::default();
        for (i, &(at, addr, rule, ev, refused)) in table.iter().enumerate() {
            let now = t0 + Duration::from_secs(at);
            match ev {
                Fail(delay, newly) => {
                    let f = p.failed(addr, rule, now);
                    assert_eq!(f.delay, Duration::from_secs(delay), "row {i}");
                    assert_eq!(f.refused_from_now, newly, "row {i}");
                }
                Success => p.succeeded(addr),
                Look => {}
            }
            if let Fail(..) = ev {
                assert!(p.failures(addr) > 0, "row {i}");
            }
            assert_eq!(
                p.refused_until(addr, rule, now).is_some(),
                refused,
                "row {i}"
            );
        }
    }
}
