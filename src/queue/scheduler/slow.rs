//! Slow destinations must not hold up the rest (issue 22): a destination is slow while a job
//! of its has been running longer than `SLOW_AFTER`, or when its latest job took that long
//! (a server that greets late or never). Jobs to slow destinations may hold at most
//! `slow_cap` of the workers, and each pass serves the other destinations first, so that a
//! healthy destination's mail always finds a worker while stalled servers keep theirs.

use super::*;

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

/// Jobs out to destinations not yet seen answering quickly beyond which such a destination
/// gets no second connection: a quarter of the pool, at least 16 (a small pool is served as
/// it was configured).
pub fn probe_limit(workers: usize) -> usize {
    (workers / 4).max(16)
}

/// What one `poll` pass knows of slowness: the destinations with a job running longer than
/// `SLOW_AFTER` (those whose latest job took that long are `Scheduler::slow_dests`), the
/// workers held by jobs to slow destinations, and the jobs out to destinations not yet seen
/// answering quickly.
#[derive(Default)]
pub(super) struct Slow {
    aged: HashSet<Dest>,
    held: usize,
    pub(super) probing: usize,
}

impl Scheduler {
    /// Looks at the jobs in flight once per pass (they are at most the pool).
    pub(super) fn slow_now(&self, now: Timestamp) -> Slow {
        let mut slow = Slow::default();
        for job in self.jobs.values() {
            if now.since(job.started) > SLOW_AFTER {
                slow.aged.insert(job.dest.clone());
            }
        }
        for job in self.jobs.values() {
            slow.held += usize::from(is_slow(&self.slow_dests, &slow, &job.dest));
            slow.probing += usize::from(self.dests.get(&job.dest).is_none_or(|s| !s.proven));
        }
        slow
    }

    /// May a job to `dest` start without slow destinations holding more than `slow_cap`
    /// workers? Counts it when it is slow and may.
    pub(super) fn slow_allows(&self, slow: &mut Slow, dest: &Dest) -> bool {
        if !is_slow(&self.slow_dests, slow, dest) {
            return true;
        }
        let allowed = slow.held < slow_cap(self.workers);
        slow.held += usize::from(allowed);
        allowed
    }

    /// A destination that has not yet shown that it answers quickly (no job of its ended
    /// within `SLOW_AFTER` in this run) gets a second connection only while fewer than
    /// `probe_limit` jobs are out to such destinations: many new destinations whose servers
    /// all stall then hold one worker each, not `max_connections` each, before anything is
    /// known of them (with 64 workers, 55 of them leave some free).
    pub(super) fn unproven_allows(&self, slow: &Slow, active: u32, proven: bool) -> bool {
        active == 0 || proven || slow.probing < probe_limit(self.workers)
    }

    /// Puts the destinations that are not slow first in the rotation (keeping the order
    /// within each group), so that they are served before the slow ones.
    pub(super) fn fast_first(&mut self, slow: &Slow) {
        if slow.aged.is_empty() && self.slow_dests.is_empty() {
            return;
        }
        let known = &self.slow_dests;
        let (fast, late): (VecDeque<Dest>, VecDeque<Dest>) = std::mem::take(&mut self.rotation)
            .into_iter()
            .partition(|d| !is_slow(known, slow, d));
        self.rotation = fast;
        self.rotation.extend(late);
    }
}

/// Slow now: its latest job took long (`known`), or one of its jobs is running long.
fn is_slow(known: &HashSet<Dest>, slow: &Slow, dest: &Dest) -> bool {
    known.contains(dest) || slow.aged.contains(dest)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{env, ok, report, sched, t};
    use super::*;

    /// Forty new destinations, three messages each, arriving one after another (a poll
    /// for each), with the default 64 workers: the first eight get two connections, then
    /// each only one until a job of its ends quickly; a destination that has answered
    /// quickly gets all its connections.
    #[test]
    fn new_destinations_take_a_second_worker_only_while_few_jobs_probe() {
        let mut s = sched("[domain:*]\nmax_connections = 2\n", 64);
        let mut jobs = Vec::new();
        for d in 0..40 {
            for n in 0..3 {
                s.add(env(d * 10 + n, &[&format!("r@new{d}.test")]), t(0));
                jobs.extend(s.poll(t(0)).0);
            }
        }
        assert_eq!(jobs.len(), 8 * 2 + 32, "{} of 64 workers", jobs.len());
        let quick = jobs
            .iter()
            .find(|j| j.dest == Dest::Direct("new39.test".into()));
        s.finish(report(quick.unwrap(), &ok()), t(0));
        let (more, _) = s.poll(t(0));
        let dests: Vec<&Dest> = more.iter().map(|j| &j.dest).collect();
        let new39 = Dest::Direct("new39.test".into());
        assert_eq!(dests, [&new39, &new39], "proven: both connections at once");
        assert_eq!(s.in_flight(), 48 - 1 + 2);
    }

    #[test]
    fn the_cap_table() {
        // (workers, most held by slow destinations)
        for (workers, cap) in [(1, 1), (2, 1), (4, 3), (8, 6), (128, 96)] {
            assert_eq!(slow_cap(workers), cap, "{workers}");
        }
    }

    /// Fifty stalled destinations with two connections each and 64 workers (the default):
    /// a healthy destination's mail arriving later still gets a worker, first, and so does
    /// more of it after stalled jobs timed out and freed theirs.
    #[test]
    fn stalled_destinations_leave_workers_for_healthy_mail() {
        let mut s = sched("[domain:*]\nmax_connections = 2\n", 64);
        let mut first = Vec::new();
        for d in 0..50 {
            for n in 0..3 {
                s.add(env(d * 10 + n, &[&format!("r@stall{d}.test")]), t(0));
                first.extend(s.poll(t(0)).0);
            }
        }
        assert_eq!(first.len(), 58, "8 twice, 42 once");
        // They stall. Ten end (timeouts) after 30 s: their destinations are slow now.
        let timeout = Outcome::from_failure(
            "stall",
            &crate::transcript::Failure::new(
                StepKind::Greeting,
                crate::transcript::FailureKind::Timeout,
            ),
        );
        for job in &first[..10] {
            s.finish(report(job, &timeout), t(30));
        }
        let healthy = Dest::Direct("healthy.test".into());
        for n in 0..3 {
            let now = t(30 + n);
            s.add(env(1000 + n as u32, &["r@healthy.test"]), now);
            let (jobs, _) = s.poll(now);
            assert_eq!(
                jobs.first().map(|j| &j.dest),
                Some(&healthy),
                "served first"
            );
            let stalled = s.jobs.values().filter(|j| j.dest != healthy).count();
            assert!(stalled <= slow_cap(64), "{stalled} held by the stalled");
            for job in jobs.iter().filter(|j| j.dest == healthy) {
                s.finish(report(job, &ok()), now);
            }
        }
        let stalled = s
            .jobs
            .values()
            .filter(|j| j.dest != Dest::Direct("healthy.test".into()));
        assert_eq!(
            stalled.count(),
            slow_cap(64),
            "the slow ones took their share again"
        );
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
            !s.slow_dests.contains(&Dest::Direct("slow.test".into())),
            "quick again"
        );
    }
}
