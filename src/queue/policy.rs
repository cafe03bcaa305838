//! The QK delivery rules as pure functions: where a recipient's next attempt goes (direct to
//! the domain's servers, then the relays in file order), its limits, and what an attempt's
//! outcome does to it (delivered, retry at a time, or failed for good and why).

use crate::config::pattern::Pattern;
use crate::config::{Config, DomainRule};
use crate::outcome::{GiveUp, Outcome, Verdict};
use crate::smtp::Notify;
use crate::spool::envelope::{MessageKind, Recipient};
use crate::time::Timestamp;
use std::time::Duration;

/// A destination: the unit of the connection limits. Direct delivery to a recipient domain
/// (lower-case), or one `[relay:NAME]` by its position in the file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dest {
    Direct(String),
    Relay(usize),
}

/// The limits that apply to a destination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub max_connections: u32,
    pub max_continuous: u32,
    pub continuous_delay: Duration,
    pub retry_delay: Duration,
    pub retry_backoff: f64,
    pub max_retry_delay: Duration,
    /// Most recipients in one SMTP transaction.
    pub max_rcpt_per_transaction: u32,
    /// The pause between messages while the destination throttles us.
    pub throttle_delay: Duration,
    /// `max_rate`: the least time between two messages' starts.
    pub rate_spacing: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Delivered,
    RetryAt(Timestamp),
    Failed(GiveUp),
}

/// Where the recipient's next attempt goes; `None` when all attempts are used up.
pub fn next_dest(config: &Config, r: &Recipient) -> Option<Dest> {
    next_dest_for(config, &r.address.domain, r.direct_tries, r.relay_tries)
}

/// `next_dest` for a recipient known by its domain and attempt counts.
pub fn next_dest_for(
    config: &Config,
    domain: &str,
    direct_tries: u32,
    relay_tries: u32,
) -> Option<Dest> {
    let rule = config.rule_for(domain);
    if direct_tries < rule.direct_attempts {
        Some(Dest::Direct(
            domain.trim_end_matches('.').to_ascii_lowercase(),
        ))
    } else if relay_tries < rule.relay_attempts && !config.relays.is_empty() {
        Some(Dest::Relay(relay_tries as usize % config.relays.len()))
    } else {
        None
    }
}

/// "direct 2 of 8" / "relay 1 of 3" for the attempt about to be made to `dest`.
pub fn attempt_label(config: &Config, r: &Recipient, dest: &Dest) -> String {
    let rule = config.rule_for(&r.address.domain);
    match dest {
        Dest::Direct(_) => format!("direct {} of {}", r.direct_tries + 1, rule.direct_attempts),
        Dest::Relay(_) => format!("relay {} of {}", r.relay_tries + 1, rule.relay_attempts),
    }
}

pub fn limits(config: &Config, dest: &Dest) -> Limits {
    let relay = match dest {
        Dest::Direct(domain) => return rule_limits(config.rule_for(domain)),
        Dest::Relay(i) => config.relays.get(*i),
    };
    // A job to a relay that a reload removed ends under the default rule's limits.
    let Some(relay) = relay else {
        return rule_limits(&config.default_rule);
    };
    let base = &config.default_rule;
    Limits {
        max_connections: relay.max_connections.max(1),
        max_continuous: relay.max_continuous.max(1),
        continuous_delay: relay.continuous_delay,
        retry_delay: relay.retry_delay,
        retry_backoff: base.retry_backoff,
        max_retry_delay: base.max_retry_delay.max(relay.retry_delay),
        max_rcpt_per_transaction: relay.max_rcpt_per_transaction.max(1),
        throttle_delay: relay.throttle_delay,
        rate_spacing: relay.max_rate.map(|r| r.spacing()),
    }
}

fn rule_limits(rule: &DomainRule) -> Limits {
    Limits {
        max_connections: rule.max_connections.max(1),
        max_continuous: rule.max_continuous.max(1),
        continuous_delay: rule.continuous_delay,
        retry_delay: rule.retry_delay,
        retry_backoff: rule.retry_backoff,
        max_retry_delay: rule.max_retry_delay,
        max_rcpt_per_transaction: rule.max_rcpt_per_transaction.max(1),
        throttle_delay: rule.throttle_delay,
        rate_spacing: rule.max_rate.map(|r| r.spacing()),
    }
}

/// The replies that throttle `dest` (`throttle_on`).
pub fn throttle_on<'a>(config: &'a Config, dest: &Dest) -> &'a [Pattern] {
    match dest {
        Dest::Direct(domain) => &config.rule_for(domain).throttle_on,
        Dest::Relay(i) => config
            .relays
            .get(*i)
            .map_or(&config.default_rule.throttle_on, |r| &r.throttle_on),
    }
}

/// `retry_delay × backoff^(failures-1)`, at most `max_retry_delay`.
pub fn retry_delay(l: &Limits, failures: u32) -> Duration {
    let factor = l
        .retry_backoff
        .max(1.0)
        .powi(failures.saturating_sub(1).min(64) as i32);
    let secs = (l.retry_delay.as_secs_f64() * factor).min(
        l.max_retry_delay
            .as_secs_f64()
            .max(l.retry_delay.as_secs_f64()),
    );
    Duration::from_secs_f64(secs)
}

/// How long a message may stay queued: `max_queue_lifetime`, or `bounce_lifetime` for the
/// notices qksmtp writes itself.
pub fn lifetime(config: &Config, kind: MessageKind) -> Duration {
    match kind {
        MessageKind::Mail => config.delivery.max_queue_lifetime,
        MessageKind::Bounce => config.delivery.bounce_lifetime,
    }
}

/// The delay used for an explicit NOTIFY=DELAY when `delay_warning = 0` turned the default
/// delay notices off.
pub const EXPLICIT_DELAY_WARNING: Duration = Duration::from_secs(4 * 3600);

/// How long after arrival a still-pending recipient earns a delay notice: `delay_warning`
/// (0 = no default notices; an explicit NOTIFY=DELAY then waits 4h), `None` when the
/// recipient did not ask for one (NOTIFY=NEVER, or a NOTIFY list without DELAY).
pub fn delay_warning(config: &Config, notify: Option<Notify>) -> Option<Duration> {
    let configured = config.delivery.delay_warning;
    match notify {
        None => (!configured.is_zero()).then_some(configured),
        Some(Notify::Never) => None,
        Some(Notify::On { delay: false, .. }) => None,
        Some(Notify::On { delay: true, .. }) if configured.is_zero() => {
            Some(EXPLICIT_DELAY_WARNING)
        }
        Some(Notify::On { delay: true, .. }) => Some(configured),
    }
}

/// Applies an attempt's outcome to the recipient (counting the attempt against `dest`) and
/// says what comes next. `arrival` is when the message was accepted, `kind` decides how long
/// it may stay (see `lifetime`).
pub fn after_attempt(
    config: &Config,
    r: &mut Recipient,
    dest: &Dest,
    outcome: &Outcome,
    now: Timestamp,
    arrival: Timestamp,
    kind: MessageKind,
) -> Progress {
    match dest {
        Dest::Direct(_) => r.direct_tries += 1,
        Dest::Relay(_) => r.relay_tries += 1,
    }
    let rule = config.rule_for(&r.address.domain);
    let relays_possible = rule.relay_attempts > 0 && !config.relays.is_empty();
    match outcome.verdict {
        Verdict::Delivered => return Progress::Delivered,
        Verdict::Permanent => return Progress::Failed(GiveUp::Permanent),
        Verdict::Policy if matches!(dest, Dest::Direct(_)) && relays_possible => {
            // 5.7.x from a direct attempt: the remaining direct attempts would meet the same
            // refusal; go to the relays now.
            r.direct_tries = r.direct_tries.max(rule.direct_attempts);
            return Progress::RetryAt(now);
        }
        Verdict::Policy => return Progress::Failed(GiveUp::Permanent),
        Verdict::Temporary => {}
    }
    let Some(next) = next_dest(config, r) else {
        return Progress::Failed(GiveUp::AttemptsUsedUp);
    };
    if now >= arrival.plus(lifetime(config, kind)) {
        return Progress::Failed(GiveUp::Expired);
    }
    if std::mem::discriminant(&next) != std::mem::discriminant(dest) {
        // Direct attempts used up: the first relay attempt follows at once.
        return Progress::RetryAt(now);
    }
    let failures = match dest {
        Dest::Direct(_) => r.direct_tries,
        Dest::Relay(_) => r.relay_tries,
    };
    Progress::RetryAt(now.plus(retry_delay(&limits(config, dest), failures)))
}

#[cfg(test)]
pub(crate) mod tests;
