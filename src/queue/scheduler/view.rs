//! The scheduler's read-outs for the status page (`snapshot`) and the orders that change a
//! message without an attempt (`hold`, `release`, `adopt`). Pure, like the rest of the core.

use super::compact::Rcpt;
use super::*;
use crate::queue::find::Query;
use crate::queue::select::{Bulk, From};
use crate::queue::snapshot::{
    DestView, MessageView, RecipientView, Shown, Snapshot, ThrottleView, Totals, Waiting,
};
use std::borrow::Cow;

/// At most this many waiting entries are looked at to find each destination's next retry.
const NEXT_RETRY_SCAN: usize = 10_000;

impl Scheduler {
    /// The queue as plain values: totals over every message, the newest `limit` messages
    /// and every destination with work or a connection. Counters are the engine's to fill.
    pub fn snapshot(&self, now: Timestamp, limit: usize) -> Snapshot {
        let mut totals = Totals {
            messages: self.messages.len(),
            ..Totals::default()
        };
        for msg in self.messages.values() {
            for r in msg.rcpts.iter() {
                match shown(msg, r) {
                    Shown::Queued => totals.queued += 1,
                    Shown::Sending => totals.sending += 1,
                    Shown::Deferred => totals.deferred += 1,
                    Shown::Held => totals.held += 1,
                    Shown::Delivered | Shown::Failed => {}
                }
            }
        }
        let mut ids: Vec<&MessageId> = self.messages.keys().collect();
        newest(&mut ids, limit);
        let messages = ids
            .into_iter()
            .filter_map(|id| self.message_view(id, now))
            .collect();
        Snapshot {
            now,
            in_flight: self.jobs.len(),
            totals,
            messages,
            dests: self.dest_views(now),
            ..Snapshot::default()
        }
    }

    /// A queued message, with why its due recipients wait.
    fn queued_view(&self, msg: &Msg, env: &Envelope, now: Timestamp) -> MessageView {
        let busy: Vec<bool> = msg.rcpts.iter().map(Rcpt::busy).collect();
        let mut view = view_of(env, &busy, None);
        for (r, seen) in msg.rcpts.iter().zip(&mut view.recipients) {
            if matches!(seen.state, Shown::Queued | Shown::Deferred)
                && r.next_try().is_none_or(|at| at <= now)
            {
                seen.waiting = self.waiting_for(r, now);
            }
        }
        view
    }

    /// A message's whole envelope: the hot one, or read back from the spool (not kept).
    fn envelope<'a>(&self, id: &MessageId, msg: &'a Msg) -> Option<Cow<'a, Envelope>> {
        if let Some(hot) = msg.hot.as_deref() {
            return Some(Cow::Borrowed(&hot.env));
        }
        let mut env = self.envelopes.load(id).ok()?;
        for (c, r) in msg.rcpts.iter().zip(&mut env.recipients) {
            r.state = c.state();
            r.direct_tries = c.direct_tries();
            r.relay_tries = c.relay_tries();
            r.next_try = c.next_try();
            r.owed = c.owed;
            r.gave_up = c.gave_up;
        }
        env.held = msg.held;
        Some(Cow::Owned(env))
    }

    /// The destination a recipient's next attempt goes to.
    fn next_dest(&self, r: &Rcpt) -> Option<Dest> {
        let domain = self.domains.name(r.domain);
        policy::next_dest_for(&self.config, domain, r.direct_tries(), r.relay_tries())
    }

    /// Why a due recipient's destination cannot take it now, if it cannot.
    fn waiting_for(&self, r: &Rcpt, now: Timestamp) -> Option<Waiting> {
        let dest = self.next_dest(r)?;
        let state = self.dests.get(&dest)?;
        let name = self.dest_name(&dest);
        if state.held {
            return Some(Waiting::Held { dest: name });
        }
        if let Some(until) = state.paused_until.filter(|&t| t > now) {
            return Some(Waiting::Paused { dest: name, until });
        }
        if let Some(th) = state
            .throttle
            .as_ref()
            .filter(|t| !t.allows(state.active, now))
        {
            return Some(Waiting::Throttled {
                dest: name,
                next: th.next.max(now),
                why: th.why.clone(),
            });
        }
        let max_connections = policy::limits(&self.config, &dest).max_connections;
        (state.active >= max_connections).then_some(Waiting::Busy {
            dest: name,
            max_connections,
        })
    }

    fn dest_views(&self, now: Timestamp) -> Vec<DestView> {
        let mut next_retry: HashMap<Dest, Timestamp> = HashMap::new();
        for (at, id, i) in self.waiting.iter().take(NEXT_RETRY_SCAN) {
            let Some(msg) = self.messages.get(id) else {
                continue;
            };
            if let Some(dest) = self.next_dest(&msg.rcpts[*i]) {
                next_retry.entry(dest).or_insert(*at);
            }
        }
        let mut names: BTreeSet<&Dest> = self.dests.keys().collect();
        names.extend(self.ready.keys());
        names.extend(next_retry.keys());
        names
            .into_iter()
            .map(|dest| {
                let limits = policy::limits(&self.config, dest);
                let state = self.dests.get(dest);
                let in_run = self
                    .jobs
                    .values()
                    .filter(|j| &j.dest == dest)
                    .map(|j| j.messages.len())
                    .sum();
                DestView {
                    name: self.dest_name(dest),
                    active: state.map_or(0, |s| s.active),
                    max_connections: limits.max_connections,
                    in_run,
                    max_continuous: limits.max_continuous,
                    ready: self.ready.get(dest).map_or(0, |q| q.len()),
                    paused_until: state.and_then(|s| s.paused_until).filter(|&t| t > now),
                    throttled: state
                        .and_then(|s| s.throttle.as_ref())
                        .map(|t| ThrottleView {
                            since: t.since,
                            why: t.why.clone(),
                            next: t.next,
                            delay: t.delay,
                            connections: t.connections,
                        }),
                    paused_why: state.and_then(|s| s.why),
                    held: state.is_some_and(|s| s.held),
                    last_error: None,
                    next_retry: next_retry.get(dest).copied(),
                    chart: Vec::new(),
                }
            })
            .collect()
    }

    /// `example.test`, or `relay:NAME` for a relay.
    pub fn dest_name(&self, dest: &Dest) -> String {
        match dest {
            Dest::Direct(domain) => domain.clone(),
            Dest::Relay(i) => self
                .config
                .relays
                .get(*i)
                .map_or_else(|| format!("relay:{i}"), |r| format!("relay:{}", r.name)),
        }
    }

    /// The destination of a job in flight (for the engine's per-destination last error).
    pub fn job_dest(&self, job: JobId) -> Option<Dest> {
        self.jobs.get(&job).map(|j| j.dest.clone())
    }

    /// One message of the queue, wherever it is in the listing.
    pub fn message_view(&self, id: &MessageId, now: Timestamp) -> Option<MessageView> {
        let msg = self.messages.get(id)?;
        let env = self.envelope(id, msg)?;
        Some(self.queued_view(msg, &env, now))
    }

    /// How many queued messages pass the query's state, destination and time filters (on
    /// the compact records), and the newest `upto` of them, newest first. Its text is not
    /// looked at: a text search takes its candidates from the thread's `index`
    /// (`matching_among`), most messages' addresses not being in memory.
    pub fn matching(&self, query: &Query, upto: usize) -> (usize, Vec<&MessageId>) {
        let mut ids: Vec<&MessageId> = self
            .messages
            .iter()
            .filter(|(_, m)| self.filters_match(query, m))
            .map(|(id, _)| id)
            .collect();
        let total = ids.len();
        newest(&mut ids, upto);
        (total, ids)
    }

    /// The messages a bulk order takes (see `select`), oldest first. The verb and the
    /// selectors are matched on the compact records; only a message that passed them and
    /// needs what the record lacks (`--from` an address or a domain, a search text) has its
    /// envelope looked at (read back from the spool if it is cold).
    pub fn select(&self, bulk: &Bulk, now: Timestamp) -> Vec<MessageId> {
        let mut ids: Vec<MessageId> = self
            .messages
            .iter()
            .filter(|(id, m)| self.takes(bulk, id, m, now))
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort_unstable();
        ids
    }

    fn takes(&self, bulk: &Bulk, id: &MessageId, msg: &Msg, now: Timestamp) -> bool {
        let any_pending = msg.rcpts.iter().any(Rcpt::pending);
        if !bulk.verb.applies_to(msg.held, any_pending) {
            return false;
        }
        let s = &bulk.selector;
        if s.arrived_by.is_some_and(|t| msg.arrival > t)
            || s.older_than.is_some_and(|d| now.since(msg.arrival) < d)
        {
            return false;
        }
        if let Some(domain) = &s.domain {
            let waiting_there = msg
                .rcpts
                .iter()
                .any(|r| r.pending() && self.domains.name(r.domain).eq_ignore_ascii_case(domain));
            if !waiting_there {
                return false;
            }
        }
        if s.search
            .as_ref()
            .is_some_and(|q| !self.filters_match(q, msg))
        {
            return false;
        }
        let needs_envelope = match &s.from {
            None => false,
            Some(From::Null) if !msg.null_sender => return false,
            Some(From::Null) => false,
            Some(From::Domain(_) | From::Address(_)) if msg.null_sender => return false,
            Some(From::Domain(_) | From::Address(_)) => true,
        } || s.search.as_ref().is_some_and(|q| !q.text.is_empty());
        if !needs_envelope {
            return true;
        }
        let Some(env) = self.envelope(id, msg) else {
            return false;
        };
        let busy: Vec<bool> = msg.rcpts.iter().map(Rcpt::busy).collect();
        s.matches(&env, &busy, now)
    }

    /// Whether a message passes a query's state, destination and time filters (not its
    /// text), on its compact record.
    fn filters_match(&self, query: &Query, msg: &Msg) -> bool {
        if query.since.is_some_and(|t| msg.arrival < t)
            || query.before.is_some_and(|t| msg.arrival >= t)
        {
            return false;
        }
        if query
            .state
            .is_some_and(|want| !msg.rcpts.iter().any(|r| shown(msg, r) == want))
        {
            return false;
        }
        let at_dest = |dest: &String| {
            msg.rcpts
                .iter()
                .any(|r| self.domains.name(r.domain).eq_ignore_ascii_case(dest))
        };
        query.dest.as_ref().is_none_or(at_dest)
    }

    /// Of `candidates` (the text search's hits), how many are queued and match the query's
    /// other filters (on the compact records), and the newest `upto` of them, newest first.
    pub fn matching_among<'a>(
        &'a self,
        candidates: Vec<&'a MessageId>,
        query: &Query,
        upto: usize,
    ) -> (usize, Vec<&'a MessageId>) {
        let mut ids: Vec<&MessageId> = candidates
            .into_iter()
            .filter(|id| {
                self.messages
                    .get(*id)
                    .is_some_and(|m| self.filters_match(query, m))
            })
            .collect();
        let total = ids.len();
        newest(&mut ids, upto);
        (total, ids)
    }

    /// Messages in the queue.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether the queue has this message.
    pub fn contains(&self, id: &MessageId) -> bool {
        self.messages.contains_key(id)
    }

    /// Messages that left the queue (all recipients final) since the last call.
    /// Whether a message left the queue finished (and not yet taken by `take_finished`).
    pub fn has_finished(&self, id: &MessageId) -> bool {
        self.finished.iter().any(|e| e.id == *id)
    }

    pub fn take_finished(&mut self) -> Vec<Envelope> {
        std::mem::take(&mut self.finished)
    }

    /// Holds a message: none of its recipients is handed out until `release` (attempts in
    /// flight finish). `None` if unknown, else the effect that persists the hold.
    pub fn hold(&mut self, id: &MessageId) -> Option<Effect> {
        if !self.warm(id) {
            return None;
        }
        let msg = self.messages.get_mut(id)?;
        let hot = msg.hot.as_deref_mut()?;
        hot.env.held = true;
        let env = hot.env.clone();
        msg.sync();
        for (i, r) in msg.rcpts.iter().enumerate() {
            if let Some(at) = r.next_try() {
                self.waiting.remove(&(at, id.clone(), i));
            }
        }
        for queue in self.ready.values_mut() {
            queue.retain(|(m, _)| m != id);
        }
        Some(Effect::Persist(env))
    }

    /// Releases a held message: its waiting recipients are due at their next try (or now).
    pub fn release(&mut self, id: &MessageId, now: Timestamp) -> Option<Effect> {
        if !self.warm(id) {
            return None;
        }
        let msg = self.messages.get_mut(id)?;
        let hot = msg.hot.as_deref_mut()?;
        hot.env.held = false;
        for (i, r) in hot.env.recipients.iter_mut().enumerate() {
            if r.state != RecipientState::Pending || msg.rcpts[i].busy() {
                continue;
            }
            if let Some(at) = r.next_try {
                self.waiting.remove(&(at, id.clone(), i));
            }
            let at = *r.next_try.get_or_insert(now);
            self.waiting.insert((at, id.clone(), i));
        }
        let env = hot.env.clone();
        msg.sync();
        Some(Effect::Persist(env))
    }
}

/// How the page shows a queued recipient.
fn shown(msg: &Msg, r: &Rcpt) -> Shown {
    let tries = r.direct_tries() + r.relay_tries();
    Shown::of(r.state(), r.busy(), msg.held, tries)
}

/// Keeps the `n` newest IDs (IDs grow with time), newest first, without sorting the rest.
fn newest(ids: &mut Vec<&MessageId>, n: usize) {
    if n < ids.len() {
        ids.select_nth_unstable_by(n, |a, b| b.cmp(a));
        ids.truncate(n);
    }
    ids.sort_unstable_by(|a, b| b.cmp(a));
}

/// A message as the status page shows it.
pub fn view_of(env: &Envelope, busy: &[bool], finished: Option<Timestamp>) -> MessageView {
    MessageView {
        id: env.id.clone(),
        arrival: env.arrival,
        sender: env.sender.to_string(),
        size: env.size,
        subject: env.subject.clone(),
        held: env.held,
        finished,
        recipients: env
            .recipients
            .iter()
            .enumerate()
            .map(|(i, r)| RecipientView {
                address: r.address.to_string(),
                state: Shown::of(
                    r.state,
                    busy.get(i).copied().unwrap_or(false),
                    env.held,
                    r.direct_tries + r.relay_tries,
                ),
                next_try: r.next_try.filter(|_| r.state == RecipientState::Pending),
                last_result: r.last_result.clone(),
                direct_tries: r.direct_tries,
                relay_tries: r.relay_tries,
                gave_up: r.gave_up.filter(|_| r.state == RecipientState::Failed),
                waiting: None,
                notice_pending: r.owed.is_some(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::scheduler::tests::{env, ok, report, sched, t};

    #[test]
    fn a_held_message_is_not_handed_out_until_released() {
        let mut s = sched("", 2);
        let e = env(1, &["b@x.test"]);
        let id = e.id.clone();
        s.add(e, t(0));
        assert!(matches!(s.hold(&id), Some(Effect::Persist(ref e)) if e.held));
        assert!(s.poll(t(1)).0.is_empty());
        let snap = s.snapshot(t(1), 10);
        assert_eq!(snap.totals.held, 1);
        assert_eq!(snap.messages[0].recipients[0].state, Shown::Held);
        assert!(!s.retry_now(&id, t(2)) || s.poll(t(2)).0.is_empty());
        assert!(matches!(s.release(&id, t(3)), Some(Effect::Persist(ref e)) if !e.held));
        let (jobs, _) = s.poll(t(3));
        assert_eq!(jobs.len(), 1);
        let snap = s.snapshot(t(3), 10);
        assert_eq!(snap.messages[0].recipients[0].state, Shown::Sending);
        assert_eq!(snap.dests[0].name, "x.test");
        assert_eq!((snap.dests[0].active, snap.dests[0].in_run), (1, 1));
        s.finish(report(&jobs[0], &ok()), t(4));
        let done = s.take_finished();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].recipients[0].state, RecipientState::Delivered);
        assert!(s.hold(&id).is_none(), "gone from the queue");
    }

    #[test]
    fn a_message_restored_held_stays_held() {
        let mut s = sched("", 1);
        let mut e = env(2, &["b@x.test"]);
        e.held = true;
        let id = e.id.clone();
        s.add(e, t(0));
        assert!(s.poll(t(1)).0.is_empty());
        s.release(&id, t(2));
        assert_eq!(s.poll(t(2)).0.len(), 1);
    }

    /// A due recipient whose destination pauses (or has no free connection) says so, and the
    /// pause is not shown once it has passed.
    #[test]
    fn a_recipient_waiting_for_its_destination_says_why() {
        let ini = "[domain:*]\nmax_connections = 1\nmax_continuous = 1\ncontinuous_delay = 60s\n";
        let mut s = sched(ini, 4);
        let (first, second) = (env(1, &["a@x.test"]), env(2, &["b@x.test"]));
        let second_id = second.id.clone();
        s.add(first, t(0));
        s.add(second, t(0));
        let (jobs, _) = s.poll(t(0));
        assert_eq!(jobs.len(), 1, "one connection at most");
        let busy = s.message_view(&second_id, t(0)).unwrap();
        let want = Waiting::Busy {
            dest: "x.test".into(),
            max_connections: 1,
        };
        assert_eq!(busy.recipients[0].waiting, Some(want));
        let mut done = report(&jobs[0], &ok());
        done.run_complete = true;
        s.finish(done, t(1));
        let paused = s.snapshot(t(2), 10);
        let view = paused.messages.iter().find(|m| m.id == second_id).unwrap();
        let until = t(61);
        let want = Waiting::Paused {
            dest: "x.test".into(),
            until,
        };
        assert_eq!(view.recipients[0].waiting, Some(want));
        assert_eq!(view.recipients[0].state, Shown::Queued);
        assert_eq!(paused.dests[0].paused_until, Some(until));
        let why = crate::queue::snapshot::Pause::Run;
        assert_eq!(paused.dests[0].paused_why, Some(why));
        let later = s.snapshot(t(62), 10);
        assert_eq!(later.dests[0].paused_until, None, "a pause that has passed");
        let view = later.messages.iter().find(|m| m.id == second_id).unwrap();
        assert_eq!(view.recipients[0].waiting, None);
    }

    #[test]
    fn the_newest_matches_come_first_and_all_are_counted() {
        let mut s = sched("", 0);
        for n in 1..=5 {
            let domain = if n % 2 == 0 { "even.test" } else { "odd.test" };
            s.add(env(n, &[&format!("r{n}@{domain}")]), t(0));
        }
        let all = Query::new("", None, None, 0);
        let (total, ids) = s.matching(&all, 2);
        assert_eq!(total, 5);
        assert_eq!(ids, [&env(5, &[]).id, &env(4, &[]).id]);
        let odd = Query::new("", None, Some("odd.test"), 0);
        let (total, ids) = s.matching(&odd, 10);
        assert_eq!(total, 3);
        assert_eq!(ids, [&env(5, &[]).id, &env(3, &[]).id, &env(1, &[]).id]);
        assert_eq!(s.snapshot(t(0), 0).messages, Vec::new());
        assert_eq!(s.snapshot(t(0), 0).totals.queued, 5);
    }
}
