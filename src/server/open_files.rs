//! The open-file budget: how many descriptors the configured limits need, and raising the
//! process's soft `RLIMIT_NOFILE` towards it at start-up, so that `max_sessions` is what
//! limits sessions, not a failing `accept` (the usual soft limit is 1024).

use crate::config::Config;

/// Descriptors per session (the socket and the clone kept for writing), per worker (the
/// connection it delivers on and the ones parked for reuse, the spool files it rewrites) and
/// for everything else (listeners, the status page, the log, the spool lock, DNS sockets).
#[cfg(unix)]
const PER_SESSION: u64 = 2;
#[cfg(unix)]
const PER_WORKER: u64 = 8;
#[cfg(unix)]
const BASE: u64 = 64;

/// What `max_sessions` sessions and `workers` delivery threads need at most.
#[cfg(unix)]
pub fn needed(max_sessions: usize, workers: usize) -> u64 {
    max_sessions as u64 * PER_SESSION + workers as u64 * PER_WORKER + BASE
}

/// What to do about a soft limit `soft` (hard limit `hard`) when `need` are needed.
#[cfg(unix)]
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// The soft limit already covers the need.
    Enough,
    /// Raise the soft limit to this (the need, or the hard limit when that is lower).
    Raise(u64),
}

/// Pure decision: raise the soft limit to the need, capped at the hard limit.
#[cfg(unix)]
pub fn plan(soft: u64, hard: u64, need: u64) -> Plan {
    if soft >= need || soft >= hard {
        Plan::Enough
    } else {
        Plan::Raise(need.min(hard))
    }
}

/// The current (soft, hard) limits, raised per `plan`; returns the soft limit in force after,
/// and logs a warning naming the fix when it still falls short of the need.
#[cfg(unix)]
pub fn raise_for(config: &Config) -> Option<u64> {
    let need = needed(config.server.max_sessions, config.delivery.workers);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct passed by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every Unix
    let (soft, hard) = (lim.rlim_cur as u64, lim.rlim_max as u64);
    let mut now = soft;
    if let Plan::Raise(to) = plan(soft, hard, need) {
        lim.rlim_cur = to as libc::rlim_t;
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0 {
            log::info!("open-file limit raised from {soft} to {to} for max_sessions");
            now = to;
        }
    }
    if now < need {
        log::warn!(
            "the open-file limit is {now}, and max_sessions = {} with {} workers may need {need}: \
             sessions beyond it fail at accept; raise it (`ulimit -n {need}` before starting, \
             LimitNOFILE= in a systemd unit) or lower max_sessions",
            config.server.max_sessions,
            config.delivery.workers
        );
    }
    Some(now)
}

#[cfg(not(unix))]
pub fn raise_for(_config: &Config) -> Option<u64> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        let cases = [
            // soft, hard, need, plan
            (1024, 4096, 300, Plan::Enough),
            (1024, 4096, 1024, Plan::Enough),
            (1024, 4096, 2100, Plan::Raise(2100)),
            (1024, 1500, 2100, Plan::Raise(1500)),
            (1024, 1024, 2100, Plan::Enough),
            (256, u64::MAX, 2100, Plan::Raise(2100)),
        ];
        for (soft, hard, need, want) in cases {
            assert_eq!(plan(soft, hard, need), want, "{soft} {hard} {need}");
        }
    }

    #[test]
    fn the_default_limits_fit_the_usual_soft_limit() {
        // max_sessions = 100, workers = 64 by default.
        assert!(needed(100, 64) <= 1024, "{}", needed(100, 64));
        assert!(needed(1000, 8) > 2000);
    }
}
