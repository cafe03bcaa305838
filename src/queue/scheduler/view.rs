//! The scheduler's read-outs for the status page (`snapshot`) and the orders that change a
//! message without an attempt (`hold`, `release`, `adopt`). Pure, like the rest of the core.

use super::*;
use crate::queue::snapshot::{DestView, MessageView, RecipientView, Shown, Snapshot, Totals};

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
            for (i, r) in msg.env.recipients.iter().enumerate() {
                let tries = r.direct_tries + r.relay_tries;
                match Shown::of(r.state, msg.busy[i], msg.env.held, tries) {
                    Shown::Queued => totals.queued += 1,
                    Shown::Sending => totals.sending += 1,
                    Shown::Deferred => totals.deferred += 1,
                    Shown::Held => totals.held += 1,
                    Shown::Delivered | Shown::Failed => {}
                }
            }
        }
        let mut ids: Vec<&MessageId> = self.messages.keys().collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let messages = ids
            .into_iter()
            .take(limit)
            .map(|id| {
                let msg = &self.messages[id];
                view_of(&msg.env, &msg.busy, None)
            })
            .collect();
        Snapshot {
            now,
            in_flight: self.jobs.len(),
            totals,
            messages,
            dests: self.dest_views(),
            ..Snapshot::default()
        }
    }

    fn dest_views(&self) -> Vec<DestView> {
        let mut next_retry: HashMap<Dest, Timestamp> = HashMap::new();
        for (at, id, i) in self.waiting.iter().take(NEXT_RETRY_SCAN) {
            let Some(msg) = self.messages.get(id) else {
                continue;
            };
            if let Some(dest) = policy::next_dest(&self.config, &msg.env.recipients[*i]) {
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
                    paused_until: state.and_then(|s| s.paused_until),
                    last_error: None,
                    next_retry: next_retry.get(dest).copied(),
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
    pub fn message_view(&self, id: &MessageId) -> Option<MessageView> {
        let msg = self.messages.get(id)?;
        Some(view_of(&msg.env, &msg.busy, None))
    }

    /// Whether the queue has this message.
    pub fn contains(&self, id: &MessageId) -> bool {
        self.messages.contains_key(id)
    }

    /// Messages that left the queue (all recipients final) since the last call.
    pub fn take_finished(&mut self) -> Vec<Envelope> {
        std::mem::take(&mut self.finished)
    }

    /// Holds a message: none of its recipients is handed out until `release` (attempts in
    /// flight finish). `None` if unknown, else the effect that persists the hold.
    pub fn hold(&mut self, id: &MessageId) -> Option<Effect> {
        let msg = self.messages.get_mut(id)?;
        msg.env.held = true;
        for (i, r) in msg.env.recipients.iter().enumerate() {
            if let Some(at) = r.next_try {
                self.waiting.remove(&(at, id.clone(), i));
            }
        }
        for queue in self.ready.values_mut() {
            queue.retain(|(m, _)| m != id);
        }
        Some(Effect::Persist(msg.env.clone()))
    }

    /// Releases a held message: its waiting recipients are due at their next try (or now).
    pub fn release(&mut self, id: &MessageId, now: Timestamp) -> Option<Effect> {
        let msg = self.messages.get_mut(id)?;
        msg.env.held = false;
        for (i, r) in msg.env.recipients.iter_mut().enumerate() {
            if r.state != RecipientState::Pending || msg.busy[i] {
                continue;
            }
            if let Some(at) = r.next_try {
                self.waiting.remove(&(at, id.clone(), i));
            }
            let at = *r.next_try.get_or_insert(now);
            self.waiting.insert((at, id.clone(), i));
        }
        Some(Effect::Persist(msg.env.clone()))
    }
}

/// A message as the status page shows it.
pub fn view_of(env: &Envelope, busy: &[bool], finished: Option<Timestamp>) -> MessageView {
    MessageView {
        id: env.id.clone(),
        arrival: env.arrival,
        sender: env.sender.to_string(),
        size: env.size,
        subject: None,
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
}
