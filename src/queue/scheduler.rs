//! The scheduler's decision core: all queue state, per-destination limits and retry timers.
//! Pure: events and `now` in, jobs for the workers and effects (persist, remove, log, notices
//! to senders) out. It "only knows time"; the thread around it (`engine`) does the I/O.

use super::policy::{self, Dest, Progress};
use super::throttle::{self, Said, Throttle};
use crate::bounce::{self, Notice};
use crate::config::Config;
use crate::outcome::{Action, GiveUp};
use crate::outcome::{Outcome, Verdict};
use crate::spool::envelope::{Envelope, RecipientState};
use crate::spool::id::MessageId;
use crate::time::Timestamp;
use crate::transcript::{Record, StepKind, text};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use job::destination_down;
pub use job::{AttemptLine, Job, JobId, JobMessage, JobReport, MessageReport};

/// What the engine must do after a decision.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Rewrite the envelope (recipient state changed).
    Persist(Envelope),
    /// Every recipient is final: remove the message from the spool.
    Remove(MessageId),
    /// Append a line to the delivery log.
    Log(AttemptLine),
    /// Keep the attempt's step record with the message.
    Record {
        id: MessageId,
        /// The attempt's header (`text::header`: label, destination, recipients).
        label: String,
        record: Record,
    },
    /// Recipients failed for good (logged; whether the sender hears of it is `Notify`).
    GaveUp {
        envelope: Envelope,
        recipients: Vec<(usize, Outcome, GiveUp)>,
    },
    /// Tell the sender: a bounce, delay notice or delivery receipt for recipients of one
    /// message. The engine writes it, then reports with `Scheduler::noticed`, which gives the
    /// message's `Persist` or `Remove` (so the original can still be read, and a notice that
    /// could not be written stays owed).
    Notify(Notice),
}

struct Msg {
    env: Envelope,
    busy: Vec<bool>,
    /// Each recipient's last attempt this run (for notices).
    last: Vec<Option<Outcome>>,
    /// Owed notices: when the next write is due (an entry of `Scheduler::owed`), and how many
    /// writes failed in a row (the backoff).
    owed_at: Option<Timestamp>,
    owed_failures: u32,
}

#[derive(Default)]
struct DestState {
    active: u32,
    paused_until: Option<Timestamp>,
    /// The server slows us down (`throttle_on`, a 421 to MAIL or RCPT).
    throttle: Option<Throttle>,
    /// `max_rate`: the next message may not start before this.
    rate_next: Option<Timestamp>,
    /// A job of its ended within `slow::SLOW_AFTER` in this run.
    proven: bool,
}

impl DestState {
    /// When the destination may next start a job, if that is later than any time: the
    /// latest of its pause, its throttle's next message and its rate.
    fn not_before(&self) -> Option<Timestamp> {
        [
            self.paused_until,
            self.throttle.as_ref().map(|t| t.next),
            self.rate_next,
        ]
        .into_iter()
        .flatten()
        .max()
    }

    /// May a job start now under `max_connections`, the pause, the throttle and the rate?
    fn has_room(&self, max_connections: u32, now: Timestamp) -> bool {
        self.active < max_connections
            && self.not_before().is_none_or(|t| t <= now)
            && self
                .throttle
                .as_ref()
                .is_none_or(|t| t.allows(self.active, now))
    }
}

pub struct Scheduler {
    config: Arc<Config>,
    /// The pool's size, and how many of its workers have no job.
    workers: usize,
    free_workers: usize,
    messages: HashMap<MessageId, Msg>,
    /// Recipients waiting for their time: (due, message, recipient index).
    waiting: BTreeSet<(Timestamp, MessageId, usize)>,
    /// When pending recipients earn their delay notice: (due, message, recipient index).
    warnings: BTreeSet<(Timestamp, MessageId, usize)>,
    /// When a message's owed notice (one that could not be written) is tried again.
    owed: BTreeSet<(Timestamp, MessageId)>,
    /// Recipients due now, waiting for their destination to have room.
    ready: HashMap<Dest, VecDeque<(MessageId, usize)>>,
    /// Destinations with ready work, served round-robin.
    rotation: VecDeque<Dest>,
    dests: HashMap<Dest, DestState>,
    /// Destinations whose latest job took longer than `slow::SLOW_AFTER` (see `slow`).
    slow_dests: HashSet<Dest>,
    jobs: HashMap<JobId, JobInfo>,
    next_job: u64,
    /// Messages that left the queue since the engine last asked (`take_finished`).
    finished: Vec<Envelope>,
}

/// What the scheduler remembers of a job in flight.
struct JobInfo {
    dest: Dest,
    /// Per message: its ID, the recipient indexes and their attempt labels.
    messages: Vec<(MessageId, Vec<usize>, Vec<String>)>,
    /// When it was handed out (a throttle counts only the jobs started after its latest
    /// throttling reply as recovery).
    started: Timestamp,
}

impl Scheduler {
    /// Puts new settings in force for every decision from now on (a reload); what is queued,
    /// its retry times and attempt counts stay as they are.
    /// Recipients already waiting for a destination's room are routed again under the new
    /// rules (a relay may be gone, a domain may now go through one), and the delay notices
    /// are timed again from `delay_warning`.
    pub fn set_config(&mut self, config: Arc<Config>) {
        if Arc::ptr_eq(&self.config, &config) {
            return;
        }
        self.config = config;
        self.rotation.clear();
        for (_, queue) in self.ready.drain() {
            for (id, i) in queue {
                // Due already: the next `promote` routes them again, before anything else.
                self.waiting.insert((Timestamp(0), id, i));
            }
        }
        self.warnings.clear();
        for (id, msg) in &self.messages {
            for i in 0..msg.env.recipients.len() {
                if let Some(at) = notices::warn_at(&self.config, &msg.env, i) {
                    self.warnings.insert((at, id.clone(), i));
                }
            }
        }
    }

    pub fn new(config: Arc<Config>, workers: usize) -> Scheduler {
        Scheduler {
            config,
            workers: workers.max(1),
            free_workers: workers.max(1),
            messages: HashMap::new(),
            waiting: BTreeSet::new(),
            warnings: BTreeSet::new(),
            owed: BTreeSet::new(),
            ready: HashMap::new(),
            rotation: VecDeque::new(),
            dests: HashMap::new(),
            slow_dests: HashSet::new(),
            jobs: HashMap::new(),
            next_job: 1,
            finished: Vec::new(),
        }
    }

    /// A newly committed message, or one found in the spool at start-up.
    pub fn add(&mut self, mut env: Envelope, now: Timestamp) {
        let id = env.id.clone();
        for (i, r) in env.recipients.iter_mut().enumerate() {
            if r.state == RecipientState::Pending && !env.held {
                let at = *r.next_try.get_or_insert(now);
                self.waiting.insert((at, id.clone(), i));
            }
        }
        for i in 0..env.recipients.len() {
            if let Some(at) = notices::warn_at(&self.config, &env, i) {
                self.warnings.insert((at, id.clone(), i));
            }
        }
        let n = env.recipients.len();
        let owes = env.recipients.iter().any(|r| r.owed.is_some());
        let msg = Msg {
            env,
            busy: vec![false; n],
            last: vec![None; n],
            owed_at: None,
            owed_failures: 0,
        };
        self.messages.insert(id.clone(), msg);
        if owes {
            self.owe_at(&id, now);
        }
    }

    #[cfg(test)]
    pub fn message_count(&self) -> usize {
        self.messages.len()
    }

    pub fn in_flight(&self) -> usize {
        self.jobs.len()
    }

    /// The earliest time something becomes due (a retry, a delay notice, or a paused,
    /// throttled or rate-limited destination resuming).
    pub fn next_wakeup(&self) -> Option<Timestamp> {
        let retry = [self.waiting.first(), self.warnings.first()]
            .into_iter()
            .flatten()
            .map(|(t, _, _)| *t)
            .chain(self.owed.first().map(|(t, _)| *t))
            .min();
        let resume = self
            .rotation
            .iter()
            .filter_map(|d| self.dests.get(d).and_then(DestState::not_before))
            .min();
        match (retry, resume) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves due recipients to their destination's queue and hands out jobs while workers
    /// and destination limits allow.
    pub fn poll(&mut self, now: Timestamp) -> (Vec<Job>, Vec<Effect>) {
        let effects = self.promote(now);
        let mut slow = self.slow_now(now);
        self.fast_first(&slow);
        let mut jobs = Vec::new();
        let mut idle_turns = 0;
        while self.free_workers > 0 && idle_turns < self.rotation.len() {
            let Some(dest) = self.rotation.pop_front() else {
                break;
            };
            if self.ready.get(&dest).is_none_or(|q| q.is_empty()) {
                self.ready.remove(&dest);
                continue;
            }
            match self.try_job(&dest, now, &mut slow) {
                Some(job) => {
                    idle_turns = 0;
                    jobs.push(job);
                }
                None => idle_turns += 1,
            }
            if self.ready.get(&dest).is_some_and(|q| !q.is_empty()) {
                self.rotation.push_back(dest);
            } else {
                self.ready.remove(&dest);
            }
        }
        (jobs, effects)
    }

    fn promote(&mut self, now: Timestamp) -> Vec<Effect> {
        let mut gave_up: HashMap<MessageId, Vec<usize>> = HashMap::new();
        while let Some((at, id, i)) = self.waiting.first().cloned() {
            if at > now {
                break;
            }
            self.waiting.pop_first();
            let Some(msg) = self.messages.get(&id).filter(|m| !m.env.held) else {
                continue;
            };
            match policy::next_dest(&self.config, &msg.env.recipients[i]) {
                Some(dest) => self.enqueue(dest, id, i),
                None => gave_up.entry(id).or_default().push(i),
            }
        }
        let mut effects = Vec::new();
        for (id, idxs) in gave_up {
            let outcome = Outcome {
                verdict: Verdict::Temporary,
                step: StepKind::Dns,
                route: String::new(),
                reply: None,
                tls: None,
                detail: "no attempts left under the current rules".into(),
                status: crate::smtp::reply::Enhanced::new(4, 4, 7),
            };
            let failed = idxs
                .into_iter()
                .map(|i| (i, outcome.clone(), GiveUp::AttemptsUsedUp))
                .collect();
            self.settle(&id, failed, Vec::new(), &mut effects);
        }
        self.warn_due(now, &mut effects);
        self.owed_due(now, &mut effects);
        effects
    }

    /// Delay notices that are due: one per message for its recipients due in this pass.
    fn warn_due(&mut self, now: Timestamp, effects: &mut Vec<Effect>) {
        let mut due: BTreeMap<MessageId, Vec<usize>> = BTreeMap::new();
        while let Some((at, id, i)) = self.warnings.first().cloned() {
            if at > now {
                break;
            }
            self.warnings.pop_first();
            let still = self.messages.get(&id).is_some_and(|m| {
                m.env.recipients[i].state == RecipientState::Pending && !m.env.recipients[i].warned
            });
            if still {
                due.entry(id).or_default().push(i);
            }
        }
        for (id, idxs) in due {
            let Some(msg) = self.messages.get_mut(&id) else {
                continue;
            };
            for &i in &idxs {
                msg.env.recipients[i].warned = true;
            }
            let notice = notices::delay(&self.config, &msg.env, &idxs, &msg.last);
            effects.push(Effect::Notify(notice));
        }
    }

    fn enqueue(&mut self, dest: Dest, id: MessageId, i: usize) {
        let queue = self.ready.entry(dest.clone()).or_default();
        if queue.is_empty() && !self.rotation.contains(&dest) {
            self.rotation.push_back(dest);
        }
        queue.push_back((id, i));
    }

    /// Builds a job for `dest` if it has room; takes up to `max_continuous` messages.
    fn try_job(&mut self, dest: &Dest, now: Timestamp, slow: &mut slow::Slow) -> Option<Job> {
        let limits = policy::limits(&self.config, dest);
        let state = self.dests.entry(dest.clone()).or_default();
        let (active, proven) = (state.active, state.proven);
        if !state.has_room(limits.max_connections, now)
            || !self.unproven_allows(slow, active, proven)
            || !self.slow_allows(slow, dest)
        {
            return None;
        }
        let queue = self.ready.get_mut(dest)?;
        // One message per job: workers park their connection between jobs (so the next
        // message to this destination skips the reconnect) and count `max_continuous` on
        // the connection; small jobs spread the waiting mail over every allowed connection.
        let batch = 1;
        let mut picked: Vec<(MessageId, Vec<usize>)> = Vec::new();
        while let Some((id, i)) = queue.front().cloned() {
            let is_new = picked.last().is_none_or(|(last, _)| *last != id);
            if is_new && picked.len() >= batch {
                break;
            }
            queue.pop_front();
            let Some(msg) = self.messages.get_mut(&id) else {
                continue;
            };
            if msg.busy[i] || msg.env.held || msg.env.recipients[i].state != RecipientState::Pending
            {
                continue;
            }
            msg.busy[i] = true;
            match picked.last_mut() {
                Some((last, idxs)) if *last == id => idxs.push(i),
                _ => picked.push((id, vec![i])),
            }
        }
        if picked.is_empty() {
            return None;
        }
        let job_id = JobId(self.next_job);
        self.next_job += 1;
        let messages: Vec<JobMessage> = picked
            .into_iter()
            .map(|(id, recipients)| {
                let env = &self.messages[&id].env;
                let labels = recipients
                    .iter()
                    .map(|&i| policy::attempt_label(&self.config, &env.recipients[i], dest))
                    .collect();
                JobMessage {
                    envelope: env.clone(),
                    recipients,
                    labels,
                }
            })
            .collect();
        let state = self.dests.entry(dest.clone()).or_default();
        slow.probing += usize::from(!state.proven);
        state.active += 1;
        state.paused_until = None;
        state.rate_next = limits.rate_spacing.map(|d| throttle::rate_next(now, d));
        self.free_workers -= 1;
        let info = messages
            .iter()
            .map(|m| {
                (
                    m.envelope.id.clone(),
                    m.recipients.clone(),
                    m.labels.clone(),
                )
            })
            .collect();
        self.jobs.insert(
            job_id,
            JobInfo {
                dest: dest.clone(),
                messages: info,
                started: now,
            },
        );
        Some(Job {
            id: job_id,
            dest: dest.clone(),
            messages,
            config: self.config.clone(),
        })
    }

    /// A worker finished a job: apply every outcome.
    pub fn finish(&mut self, report: JobReport, now: Timestamp) -> Vec<Effect> {
        let mut effects = Vec::new();
        let Some(JobInfo {
            dest,
            messages,
            started,
        }) = self.jobs.remove(&report.id)
        else {
            return effects;
        };
        self.pace(&dest, &report, started, now);
        self.free_workers += 1;
        let limits = policy::limits(&self.config, &dest);
        let state = self.dests.entry(dest.clone()).or_default();
        state.active = state.active.saturating_sub(1);
        let took_long = now.since(started) > slow::SLOW_AFTER;
        state.proven |= !took_long;
        if took_long {
            self.slow_dests.insert(dest.clone());
        } else {
            self.slow_dests.remove(&dest);
        }
        if report.run_complete && !limits.continuous_delay.is_zero() {
            state.paused_until = Some(now.plus(limits.continuous_delay));
        }
        if destination_down(&report) {
            // Nobody answered: hold the destination's other mail back for a while rather than
            // trying each message against a dead server (their attempts are not counted).
            state.paused_until = Some(now.plus(limits.retry_delay));
        }
        for ((id, idxs, labels), mr) in messages.into_iter().zip(report.messages) {
            self.apply(&dest, (id, idxs, labels), mr, now, &mut effects);
        }
        effects
    }

    /// The throttle after a job: a throttling reply begins or prolongs it, mail that got
    /// through eases it step by step (`throttle::step`).
    fn pace(&mut self, dest: &Dest, report: &JobReport, started: Timestamp, now: Timestamp) {
        let patterns = policy::throttle_on(&self.config, dest);
        let outcomes = || {
            report
                .messages
                .iter()
                .flat_map(|m| m.outcomes.iter().flatten())
        };
        let throttling = outcomes().find(|o| crate::outcome::throttles(o, patterns));
        let said = match throttling {
            Some(_) => Said::Throttled,
            None if outcomes().any(|o| o.verdict == Verdict::Delivered) => Said::Success,
            None => Said::Other,
        };
        let why = throttling.map(Outcome::reason).unwrap_or_default();
        let limits = policy::limits(&self.config, dest);
        let state = self.dests.entry(dest.clone()).or_default();
        let pace = (limits.throttle_delay, limits.max_connections);
        state.throttle = throttle::step(state.throttle.take(), said, started, now, &why, pace);
    }

    fn apply(
        &mut self,
        dest: &Dest,
        job_msg: (MessageId, Vec<usize>, Vec<String>),
        mr: MessageReport,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) {
        let (id, idxs, labels) = job_msg;
        let dest_name = self.dest_name(dest);
        let Some(msg) = self.messages.get_mut(&id) else {
            return;
        };
        let mut tried = Vec::new();
        let mut failed = Vec::new();
        let mut delivered = Vec::new();
        let mut requeue = Vec::new();
        let mut changed = false;
        let mut attempted = false;
        for ((&i, label), outcome) in idxs.iter().zip(&labels).zip(mr.outcomes) {
            msg.busy[i] = false;
            let Some(outcome) = outcome else {
                requeue.push(i);
                continue;
            };
            tried.push(msg.env.recipients[i].address.to_string());
            attempted = true;
            changed = true;
            msg.last[i] = Some(outcome.clone());
            let (arrival, kind) = (msg.env.arrival, msg.env.kind);
            let r = &mut msg.env.recipients[i];
            let progress =
                policy::after_attempt(&self.config, r, dest, &outcome, now, arrival, kind);
            r.last_result = Some(outcome.reason());
            r.last_status = Some(outcome.status);
            r.last_attempt = Some(now);
            match progress {
                Progress::Delivered => {
                    r.state = RecipientState::Delivered;
                    // A next hop that offers DSN got the NOTIFY and ORCPT parameters, and the
                    // receipt is its to send (RFC 3461 §5.2.2); ours would be a second one.
                    // Without DSN there, this is the last word the sender gets: `relayed`.
                    if !mr.dsn && bounce::wants(&msg.env.sender, r.notify, Action::Relayed) {
                        delivered.push((i, outcome.clone(), Action::Relayed));
                    }
                }
                Progress::RetryAt(at) => {
                    r.next_try = Some(at);
                    self.waiting.insert((at, id.clone(), i));
                }
                Progress::Failed(why) => {
                    r.state = RecipientState::Failed;
                    failed.push((i, outcome.clone(), why));
                }
            }
            effects.push(Effect::Log(AttemptLine {
                id: id.clone(),
                sender: msg.env.sender.to_string(),
                recipient: r.address.to_string(),
                label: label.clone(),
                outcome,
                progress,
                delay: now.since(msg.env.arrival),
            }));
        }
        if attempted {
            let label = labels.first().map_or("", String::as_str);
            effects.push(Effect::Record {
                id: id.clone(),
                label: text::header(label, &dest_name, &tried),
                record: mr.record,
            });
        }
        for i in requeue {
            self.enqueue(dest.clone(), id.clone(), i);
        }
        if changed || !failed.is_empty() {
            self.settle(&id, failed, delivered, effects);
        }
    }

    /// Records give-ups and marks what the sender asked to hear about as owed, then either
    /// asks for the one notice of everything owed for the message (the engine's `noticed`
    /// answer persists or removes it) or persists the envelope / removes a finished message.
    fn settle(
        &mut self,
        id: &MessageId,
        failed: Vec<(usize, Outcome, GiveUp)>,
        delivered: Vec<(usize, Outcome, Action)>,
        effects: &mut Vec<Effect>,
    ) {
        let Some(msg) = self.messages.get_mut(id) else {
            return;
        };
        for (i, outcome, why) in &failed {
            let r = &mut msg.env.recipients[*i];
            r.state = RecipientState::Failed;
            if bounce::wants(&msg.env.sender, r.notify, Action::Failed) {
                r.owed = Some(Action::Failed);
            }
            r.gave_up = Some(*why);
            msg.last[*i] = Some(outcome.clone());
        }
        for (i, outcome, action) in delivered {
            msg.env.recipients[i].owed = Some(action);
            msg.last[i] = Some(outcome);
        }
        if !failed.is_empty() {
            effects.push(Effect::GaveUp {
                envelope: msg.env.clone(),
                recipients: failed,
            });
        }
        match notices::owed(&msg.env, &msg.last) {
            Some(notice) => effects.push(Effect::Notify(notice)),
            None => self.persist_or_remove(id, effects),
        }
    }

    /// Persists the envelope, or removes the message when nothing is left to do for it
    /// (every recipient final, no attempt running, no notice owed).
    fn persist_or_remove(&mut self, id: &MessageId, effects: &mut Vec<Effect>) {
        let Some(msg) = self.messages.get(id) else {
            return;
        };
        let finished = msg
            .env
            .recipients
            .iter()
            .all(|r| r.state != RecipientState::Pending && r.owed.is_none());
        if finished && !msg.busy.iter().any(|&b| b) {
            if let Some(done) = self.messages.remove(id) {
                if let Some(at) = done.owed_at {
                    self.owed.remove(&(at, id.clone()));
                }
                self.finished.push(done.env);
            }
            effects.push(Effect::Remove(id.clone()));
        } else {
            effects.push(Effect::Persist(msg.env.clone()));
        }
    }

    /// Makes a message's waiting recipients, and its owed notice, due now (`retry ID`).
    /// False if unknown.
    pub fn retry_now(&mut self, id: &MessageId, now: Timestamp) -> bool {
        if self.messages.get(id).is_some_and(|m| m.owed_at.is_some()) {
            self.owe_at(id, now);
        }
        let Some(msg) = self.messages.get_mut(id) else {
            return false;
        };
        for (i, r) in msg.env.recipients.iter_mut().enumerate() {
            if let Some(at) = r
                .next_try
                .filter(|_| r.state == RecipientState::Pending && !msg.busy[i])
                && self.waiting.remove(&(at, id.clone(), i))
            {
                r.next_try = Some(now);
                self.waiting.insert((now, id.clone(), i));
            }
        }
        true
    }

    /// Makes every waiting recipient due now (`flush`), and ends destination pauses.
    pub fn flush(&mut self, now: Timestamp) {
        let ids: Vec<MessageId> = self.messages.keys().cloned().collect();
        for id in ids {
            self.retry_now(&id, now);
        }
        for state in self.dests.values_mut() {
            state.paused_until = None;
            state.rate_next = None;
            if let Some(t) = &mut state.throttle {
                t.next = now;
            }
        }
    }

    /// Forgets a message (`delete ID`); results of jobs still running for it are ignored.
    pub fn delete(&mut self, id: &MessageId) -> Option<Effect> {
        let msg = self.messages.remove(id)?;
        if let Some(at) = msg.owed_at {
            self.owed.remove(&(at, id.clone()));
        }
        for (i, r) in msg.env.recipients.iter().enumerate() {
            if let Some(at) = r.next_try {
                self.waiting.remove(&(at, id.clone(), i));
            }
        }
        Some(Effect::Remove(id.clone()))
    }
}

mod job;
mod notices;
mod owed;
#[cfg(test)]
mod pace_tests;
mod slow;
#[cfg(test)]
pub(crate) mod tests;
pub mod view;
