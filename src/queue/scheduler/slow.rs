//! Slow destinations must not hold up the rest (issue 22): a destination is slow while a job
//! of its has been running longer than `SLOW_AFTER`, or when its latest job took that long
//! (a server that greets late or never). Jobs to slow destinations may hold at most
//! `slow_cap` of the workers, and each pass serves the other destinations first, so that a
//! healthy destination's mail always finds a worker while stalled servers keep theirs.

use super::*;
use std::collections::HashSet;

/// A job running longer than this marks its destination slow. Healthy servers answer a
/// whole message in well under a second.
pub const SLOW_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// The workers kept for destinations that are not slow: a quarter of the pool, at least one.
pub fn reserve(workers: usize) -> usize {
    (workers / 4).max(1)
}

/// The most workers that jobs to slow destinations may hold: all but the reserve (a pool of
/// one serves everyone).
pub fn slow_cap(workers: usize) -> usize {
    workers.saturating_sub(reserve(workers)).max(1)
}

/// The slow destinations of one `poll` pass, and the workers their jobs hold.
#[derive(Default)]
pub(super) struct Slow {
    dests: HashSet<Dest>,
    held: usize,
}

impl Scheduler {
    /// Looks at the jobs in flight once per pass: the destinations that are slow now (their
    /// latest job took longer than `SLOW_AFTER`, or one of their jobs has been running that
    /// long) and the workers held by slow jobs.
    pub(super) fn slow_now(&self, now: Timestamp) -> Slow {
        let mut slow = Slow {
            dests: self
                .dests
                .iter()
                .filter(|(_, s)| s.slow)
                .map(|(d, _)| d.clone())
                .collect(),
            held: 0,
        };
        for job in self.jobs.values() {
            if now.since(job.started) > SLOW_AFTER {
                slow.dests.insert(job.dest.clone());
            }
        }
        slow.held = self
            .jobs
            .values()
            .filter(|j| slow.dests.contains(&j.dest))
            .count();
        slow
    }

    /// May a job to `dest` start without slow destinations holding more than `slow_cap`
    /// workers? Counts it when it is slow and may.
    pub(super) fn slow_allows(&self, slow: &mut Slow, dest: &Dest) -> bool {
        if !slow.dests.contains(dest) {
            return true;
        }
        let allowed = slow.held < slow_cap(self.workers);
        slow.held += usize::from(allowed);
        allowed
    }

    /// A destination that has not yet shown that it answers quickly (no job of its ended
    /// within `SLOW_AFTER` in this run) gets a second connection only while more workers
    /// than the reserve are free: many new destinations whose servers all stall then hold
    /// one worker each, not `max_connections` each, before anything is known of them.
    pub(super) fn unproven_allows(&self, active: u32, proven: bool) -> bool {
        active == 0 || proven || self.free_workers > reserve(self.workers)
    }

    /// Puts the destinations that are not slow first in the rotation (keeping the order
    /// within each group), so that they are served before the slow ones.
    pub(super) fn fast_first(&mut self, slow: &Slow) {
        if slow.dests.is_empty() {
            return;
        }
        let (fast, late): (VecDeque<Dest>, VecDeque<Dest>) = std::mem::take(&mut self.rotation)
            .into_iter()
            .partition(|d| !slow.dests.contains(d));
        self.rotation = fast;
        self.rotation.extend(late);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{env, ok, report, sched, t};
    use super::*;

    #[test]
    fn a_new_destination_takes_a_second_worker_only_while_many_are_free() {
        let mut s = sched("[domain:*]\nmax_connections = 2\n", 8);
        for d in 0..8 {
            for n in 0..2 {
                s.add(env(d * 10 + n, &[&format!("r@new{d}.test")]), t(0));
            }
        }
        let (jobs, _) = s.poll(t(0));
        // One each to the first six, while more than the reserve of 2 were free; then the
        // other two get their first.
        let mut per_dest: HashMap<&Dest, usize> = HashMap::new();
        jobs.iter()
            .for_each(|j| *per_dest.entry(&j.dest).or_default() += 1);
        assert_eq!((jobs.len(), per_dest.len()), (8, 8), "{per_dest:?}");
        // A destination that answered quickly has shown it: two at once from now on.
        let mut s = sched("[domain:*]\nmax_connections = 2\n", 8);
        s.add(env(1, &["r@quick.test"]), t(0));
        let (jobs, _) = s.poll(t(0));
        s.finish(report(&jobs[0], &ok()), t(0));
        s.free_workers = 2;
        for n in 2..5 {
            s.add(env(n, &["r@quick.test"]), t(0));
        }
        assert_eq!(s.poll(t(0)).0.len(), 2);
    }

    #[test]
    fn the_cap_table() {
        // (workers, most held by slow destinations)
        for (workers, cap) in [(1, 1), (2, 1), (4, 3), (8, 6), (128, 96)] {
            assert_eq!(slow_cap(workers), cap, "{workers}");
        }
    }

    /// Four stalled destinations with two connections each, and eight workers: a healthy
    /// destination's mail arriving later still gets a worker at once, and again after one
    /// stalled job timed out and freed its worker.
    #[test]
    fn stalled_destinations_leave_workers_for_healthy_mail() {
        let mut s = sched("[domain:*]\nmax_connections = 2\n", 8);
        for d in 0..4 {
            for n in 0..3 {
                s.add(env(d * 10 + n, &[&format!("r@stall{d}.test")]), t(0));
            }
        }
        let (first, _) = s.poll(t(0));
        assert_eq!(
            first.len(),
            6,
            "one each, a second only while more than 2 were free"
        );
        // They stall. One of them ends (a timeout) after 30 s and its destination is slow.
        let timeout = Outcome::from_failure(
            "stall0",
            &crate::transcript::Failure::new(
                StepKind::Greeting,
                crate::transcript::FailureKind::Timeout,
            ),
        );
        s.finish(report(&first[0], &timeout), t(30));
        let healthy = Dest::Direct("healthy.test".into());
        for n in 0..3 {
            s.add(env(100 + n, &["r@healthy.test"]), t(30 + n as u64));
            let (jobs, _) = s.poll(t(30 + n as u64));
            assert_eq!(
                jobs.first().map(|j| &j.dest),
                Some(&healthy),
                "served first"
            );
            let stalled = s.jobs.values().filter(|j| j.dest != healthy).count();
            assert!(stalled <= slow_cap(8), "{stalled} held by the stalled");
            for job in jobs.iter().filter(|j| j.dest == healthy) {
                s.finish(report(job, &ok()), t(30 + n as u64));
            }
        }
    }

    #[test]
    fn a_slow_destination_is_served_after_the_others() {
        let mut s = sched("[domain:*]\nmax_connections = 1\n", 2);
        s.add(env(1, &["r@slow.test"]), t(0));
        s.add(env(2, &["r@slow.test"]), t(0));
        let (jobs, _) = s.poll(t(0));
        assert_eq!(jobs.len(), 1);
        // Its job took 5 s: slow from now on, until one goes quickly.
        s.finish(report(&jobs[0], &ok()), t(5));
        s.add(env(3, &["r@quick.test"]), t(5));
        s.free_workers = 1;
        let (jobs, _) = s.poll(t(5));
        assert_eq!(jobs[0].dest, Dest::Direct("quick.test".into()));
        s.free_workers = 2;
        s.finish(report(&jobs[0], &ok()), t(5));
        let (jobs, _) = s.poll(t(5));
        assert_eq!(jobs[0].dest, Dest::Direct("slow.test".into()));
        s.finish(report(&jobs[0], &ok()), t(5));
        assert!(
            !s.dests[&Dest::Direct("slow.test".into())].slow,
            "quick again"
        );
    }
}
