//! What the engine counts for the status page and `/metrics`: messages received, attempts
//! delivered and deferred, recipients bounced, attempt durations, the last error per
//! destination. Pure: fed with the scheduler's effects.

use super::policy::{Dest, Progress};
use super::scheduler::Effect;
use super::snapshot::{Counters, DnsSeen, Histogram};
use crate::outcome::Verdict;
use crate::time::Timestamp;
use crate::transcript::StepKind;
use std::collections::{HashMap, VecDeque};

/// Minutes of per-destination results kept for the page's charts.
pub const CHART_MINUTES: u64 = 60;

#[derive(Debug, Default)]
pub struct Stats {
    pub counters: Counters,
    pub durations: Histogram,
    /// The latest failed attempt per destination, unless one delivered there since.
    pub last_error: HashMap<Dest, (Timestamp, String)>,
    /// Per destination, per minute (since 1970) with results: delivered, deferred, failed.
    pub minutes: HashMap<Dest, VecDeque<(u64, [u32; 3])>>,
    /// When a recipient was last delivered.
    pub last_delivery: Option<Timestamp>,
    /// The last DNS lookup seen in an attempt.
    pub dns: Option<DnsSeen>,
}

impl Stats {
    /// Counts what the effects of a decision tell (`dest`: where the job went, if a job).
    pub fn observe(&mut self, effects: &[Effect], dest: Option<&Dest>, now: Timestamp) {
        for effect in effects {
            match effect {
                Effect::Log(line) => {
                    match line.progress {
                        Progress::Delivered => {
                            self.counters.delivered += 1;
                            self.last_delivery = Some(now);
                            if let Some(kind) = line.outcome.tls.and_then(|t| t.kind()) {
                                // `TlsKind::ALL` lists the kinds in declaration order.
                                self.counters.by_tls[kind as usize] += 1;
                            }
                        }
                        Progress::RetryAt(_) => self.counters.deferred += 1,
                        Progress::Failed(_) => {}
                    }
                    // The lookup failed: the outcome says whether the DNS answered ("no
                    // such domain") or not (a time-out).
                    if line.outcome.step == StepKind::Dns {
                        self.dns = Some(DnsSeen {
                            at: now,
                            answering: line.outcome.verdict != Verdict::Temporary,
                            detail: line.outcome.to_string(),
                        });
                    }
                }
                Effect::GaveUp { recipients, .. } => {
                    self.counters.bounced += recipients.len() as u64
                }
                Effect::Record { record, .. } => {
                    let dns = record.steps.iter().rfind(|s| s.kind == StepKind::Dns);
                    if let Some(step) = dns.filter(|s| s.ok) {
                        self.dns = Some(DnsSeen {
                            at: step.at,
                            answering: true,
                            detail: step.detail.clone(),
                        });
                    }
                    if let (Some(first), Some(last)) = (record.steps.first(), record.steps.last()) {
                        let end = last.at.plus(last.took);
                        self.durations.observe(end.since(first.at).as_secs_f64());
                    }
                }
                _ => {}
            }
            if let (Effect::Log(line), Some(dest)) = (effect, dest) {
                self.count_minute(dest, &line.progress, now);
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

impl Stats {
    /// Drops what is kept about a destination the scheduler forgot.
    pub fn forget(&mut self, dest: &Dest) {
        self.last_error.remove(dest);
        self.minutes.remove(dest);
    }

    fn count_minute(&mut self, dest: &Dest, progress: &Progress, now: Timestamp) {
        let minute = now.as_secs() / 60;
        let kind = match progress {
            Progress::Delivered => 0,
            Progress::RetryAt(_) => 1,
            Progress::Failed(_) => 2,
        };
        let row = self.minutes.entry(dest.clone()).or_default();
        while row
            .front()
            .is_some_and(|(m, _)| *m + CHART_MINUTES <= minute)
        {
            row.pop_front();
        }
        match row.back_mut() {
            Some((m, counts)) if *m == minute => counts[kind] += 1,
            _ => {
                let mut counts = [0; 3];
                counts[kind] = 1;
                row.push_back((minute, counts));
            }
        }
    }

    /// A destination's last `CHART_MINUTES` minutes up to `now`, oldest first: delivered,
    /// deferred, failed in each.
    pub fn chart(&self, dest: &Dest, now: Timestamp) -> Vec<[u32; 3]> {
        let last = now.as_secs() / 60;
        let mut out = vec![[0; 3]; CHART_MINUTES as usize];
        for (m, counts) in self.minutes.get(dest).into_iter().flatten() {
            if *m <= last && *m + CHART_MINUTES > last {
                out[(CHART_MINUTES - 1 - (last - m)) as usize] = *counts;
            }
        }
        out
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

    #[test]
    fn deliveries_count_by_how_the_connection_travelled() {
        use crate::transcript::tls::{Demand, TlsKind, TlsState, VerifiedBy};
        let dest = Dest::Direct("y.test".into());
        let mut stats = Stats::default();
        let at = Timestamp::from_secs(1_764_000_100);
        let with = |tls, progress| {
            let Effect::Log(mut l) = line(250, progress) else {
                unreachable!()
            };
            l.outcome.tls = tls;
            Effect::Log(l)
        };
        let dane = TlsState::Tls {
            demand: Demand::Dane,
            by: Some(VerifiedBy::DaneEe),
            version: None,
        };
        let unmet = TlsState::Unmet {
            demand: Demand::Dane,
        };
        let effects = [
            with(Some(dane), Progress::Delivered),
            with(Some(dane), Progress::Delivered),
            with(Some(TlsState::NotOffered), Progress::Delivered),
            with(Some(dane), Progress::RetryAt(at)),
            with(Some(unmet), Progress::RetryAt(at)),
            with(None, Progress::Delivered),
        ];
        stats.observe(&effects, Some(&dest), at);
        let count = |k: TlsKind| stats.counters.by_tls[k as usize];
        assert_eq!(count(TlsKind::Dane), 2, "a deferral is no delivery");
        assert_eq!(count(TlsKind::Plain), 1);
        assert_eq!(stats.counters.by_tls.iter().sum::<u64>(), 3);
        assert_eq!(stats.counters.delivered, 4);
    }

    #[test]
    fn the_chart_counts_each_minute_of_the_last_hour() {
        let dest = Dest::Direct("y.test".into());
        let mut stats = Stats::default();
        let at =
            |min: u64, sec: u64| Timestamp::from_secs(1_764_000_000 / 3600 * 3600 + min * 60 + sec);
        stats.observe(&[line(250, Progress::Delivered)], Some(&dest), at(0, 5));
        stats.observe(
            &[line(451, Progress::RetryAt(at(9, 0)))],
            Some(&dest),
            at(10, 1),
        );
        stats.observe(&[line(250, Progress::Delivered)], Some(&dest), at(10, 59));
        let fail = Progress::Failed(crate::outcome::GiveUp::Permanent);
        stats.observe(&[line(550, fail)], Some(&dest), at(59, 0));
        let chart = stats.chart(&dest, at(59, 30));
        assert_eq!(chart.len(), 60);
        assert_eq!(chart[0], [1, 0, 0], "minute 0, 59 minutes ago");
        assert_eq!(chart[10], [1, 1, 0]);
        assert_eq!(chart[59], [0, 0, 1]);
        assert_eq!(chart.iter().flatten().sum::<u32>(), 4);
        let later = stats.chart(&dest, at(69, 0));
        assert_eq!(later[0], [1, 1, 0], "minute 10 is the oldest now");
        assert_eq!(later.iter().flatten().sum::<u32>(), 3, "minute 0 is out");
        assert!(
            stats
                .chart(&Dest::Direct("z.test".into()), at(1, 0))
                .iter()
                .flatten()
                .all(|&n| n == 0)
        );
    }

    #[test]
    fn health_keeps_the_last_delivery_and_whether_the_dns_answered() {
        use crate::dns::DnsError;
        let dest = Dest::Direct("y.test".into());
        let mut stats = Stats::default();
        let at = Timestamp::from_secs;
        assert_eq!((stats.last_delivery, stats.dns.clone()), (None, None));
        let mut record = crate::transcript::Record::new();
        record.push_ok(
            StepKind::Dns,
            at(9),
            Default::default(),
            "MX y.test: mx.y.test",
        );
        let looked = Effect::Record {
            id: MessageId::from_parts(1_764_000_000_000_000, 1),
            label: "direct 1 of 8".into(),
            record,
        };
        stats.observe(
            &[looked, line(250, Progress::Delivered)],
            Some(&dest),
            at(10),
        );
        assert_eq!(stats.last_delivery, Some(at(10)));
        let dns = stats.dns.clone().unwrap();
        assert_eq!(
            (dns.at, dns.answering, dns.detail.as_str()),
            (at(9), true, "MX y.test: mx.y.test")
        );
        let failed = |e: &DnsError| {
            let Effect::Log(mut l) = line(451, Progress::RetryAt(at(99))) else {
                unreachable!()
            };
            l.outcome = Outcome::from_dns("y.test", e);
            Effect::Log(l)
        };
        let cases = [
            (
                DnsError::Temporary {
                    name: "y.test".into(),
                    detail: "timed out".into(),
                },
                false,
            ),
            (
                DnsError::NxDomain {
                    name: "y.test".into(),
                },
                true,
            ),
        ];
        for (e, answering) in cases {
            stats.observe(&[failed(&e)], Some(&dest), at(20));
            let dns = stats.dns.clone().unwrap();
            assert_eq!((dns.at, dns.answering), (at(20), answering), "{e}");
            assert!(dns.detail.contains("y.test"), "{}", dns.detail);
        }
        assert_eq!(
            stats.last_delivery,
            Some(at(10)),
            "a deferral is no delivery"
        );
    }
}
