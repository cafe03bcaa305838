//! The scheduler's decision core: all queue state, per-destination limits and retry timers.
//! Pure: events and `now` in, jobs for the workers and effects (persist, remove, log, notices
//! to senders) out. It "only knows time"; the thread around it (`engine`) does the I/O.

use super::policy::{self, Dest, Progress};
use super::snapshot::Pause;
use super::throttle::{self, Said, Throttle};
use crate::bounce::{self, Notice};
use crate::config::Config;
use crate::outcome::{Action, GiveUp};
use crate::outcome::{Outcome, Verdict};
use crate::spool::envelope::{Envelope, RecipientState};
use crate::spool::id::MessageId;
use crate::time::Timestamp;
use crate::transcript::{Record, StepKind, text};
pub use compact::Envelopes;
use compact::{Domains, Msg, NoSpool};
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

/// A message whose envelope cannot be read back is tried again after this long.
const UNREADABLE_RETRY: std::time::Duration = std::time::Duration::from_secs(60);

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
    /// Why the scheduler paused it (with `paused_until`).
    why: Option<Pause>,
    /// Paused by a person (the status page) until resumed: no new connection.
    held: bool,
    /// When a job of its last ended (see `prune`).
    last_used: Option<Timestamp>,
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

    /// May a job start now under `max_connections`, the pauses (the scheduler's and the
    /// person's), the throttle and the rate?
    fn has_room(&self, max_connections: u32, now: Timestamp) -> bool {
        self.active < max_connections
            && !self.held
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
    /// The recipients' domains, each held once.
    domains: Domains,
    /// Where cold messages' envelopes are read back from.
    envelopes: Box<dyn Envelopes>,
    /// Messages that became hot, oldest first (some may have left or gone cold since).
    hot_order: VecDeque<MessageId>,
    /// How many messages keep their whole envelope in memory (besides those in a job).
    hot_max: usize,
    /// Recipients waiting for their time: (due, message, recipient index).
    waiting: BTreeSet<(Timestamp, MessageId, usize)>,
    /// When messages' next delay notice falls due: (due, message); one timer per message.
    warnings: BTreeSet<(Timestamp, MessageId)>,
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
    /// When `prune` looks through `dests` again (`None`: at its first call).
    next_prune: Option<Timestamp>,
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
        let ids: Vec<MessageId> = self.messages.keys().cloned().collect();
        for id in ids {
            if let Some(msg) = self.messages.get_mut(&id) {
                msg.warn_at.take();
            }
            self.arm_warning(&id, Timestamp(0));
        }
    }

    pub fn new(config: Arc<Config>, workers: usize) -> Scheduler {
        Scheduler {
            config,
            workers: workers.max(1),
            free_workers: workers.max(1),
            messages: HashMap::new(),
            domains: Domains::default(),
            envelopes: Box::new(NoSpool),
            hot_order: VecDeque::new(),
            hot_max: usize::MAX,
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
            next_prune: None,
        }
    }

    /// Keeps at most `hot_max` whole envelopes in memory (besides those of messages in a
    /// job): the others are read back from `envelopes` when a job or a page needs them.
    pub fn with_envelopes(mut self, envelopes: Box<dyn Envelopes>, hot_max: usize) -> Scheduler {
        self.envelopes = envelopes;
        self.hot_max = hot_max;
        self
    }

    /// A newly committed message, or one found in the spool at start-up.
    pub fn add(&mut self, mut env: Envelope, now: Timestamp) {
        let id = env.id.clone();
        if self.messages.contains_key(&id) {
            // Known already (and maybe in a job): what the queue holds is the newer state.
            return;
        }
        env.recipients.shrink_to_fit();
        for (i, r) in env.recipients.iter_mut().enumerate() {
            if r.state == RecipientState::Pending && !env.held {
                let at = *r.next_try.get_or_insert(now);
                self.waiting.insert((at, id.clone(), i));
            }
        }
        let owes = env.recipients.iter().any(|r| r.owed.is_some());
        let msg = Msg::new(env, &mut self.domains);
        self.messages.insert(id.clone(), msg);
        self.hot_order.push_back(id.clone());
        self.arm_warning(&id, Timestamp(0));
        if owes {
            self.owe_at(&id, now);
        }
    }

    /// Makes sure the message's whole envelope is in memory, reading it back from the spool
    /// if it went cold. False when the message is unknown or its envelope unreadable.
    fn warm(&mut self, id: &MessageId) -> bool {
        let Some(msg) = self.messages.get_mut(id) else {
            return false;
        };
        if msg.hot.is_some() {
            return true;
        }
        let read = self.envelopes.load(id).and_then(|env| {
            msg.warm(env)
                .then_some(())
                .ok_or_else(|| "its recipients differ from the queue's".to_string())
        });
        match read {
            Ok(()) => {
                self.hot_order.push_back(id.clone());
                true
            }
            Err(e) => {
                log::error!("{id}: cannot read the envelope back: {e}");
                false
            }
        }
    }

    /// Lets the oldest hot messages go cold until at most `hot_max` are hot (a message in a
    /// job stays hot). Only between decisions (`poll` starts with it): every effect of the
    /// last one must be applied, so that the spool holds what a cold message's envelope will
    /// be read back as.
    pub fn cool_down(&mut self) {
        let mut turns = self.hot_order.len();
        while self.hot_order.len() > self.hot_max && turns > 0 {
            turns -= 1;
            let Some(id) = self.hot_order.pop_front() else {
                break;
            };
            let Some(msg) = self.messages.get_mut(&id) else {
                continue;
            };
            if msg.busy() {
                self.hot_order.push_back(id);
            } else {
                msg.hot = None;
            }
        }
    }

    /// (Re)arms the message's delay-notice timer: the earliest time one of its pending
    /// recipients earns a notice, not before `not_before`.
    fn arm_warning(&mut self, id: &MessageId, not_before: Timestamp) {
        let Some(msg) = self.messages.get_mut(id) else {
            return;
        };
        let at = (0..msg.rcpts.len())
            .filter_map(|i| notices::warn_at(&self.config, msg, i))
            .min()
            .map(|at| at.max(not_before));
        if let Some(old) = msg.warn_at.replace(at) {
            self.warnings.remove(&(old, id.clone()));
        }
        if let Some(at) = msg.warn_at.get() {
            self.warnings.insert((at, id.clone()));
        }
    }

    /// Puts a recipient that could not be handed out back in line, `UNREADABLE_RETRY` on.
    fn later(&mut self, id: &MessageId, i: usize, now: Timestamp) {
        let at = now.plus(UNREADABLE_RETRY);
        if let Some(msg) = self.messages.get_mut(id) {
            msg.rcpts[i].set_busy(false);
            msg.rcpts[i].set_next_try(Some(at));
            self.waiting.insert((at, id.clone(), i));
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
        let retry = [
            self.waiting.first().map(|(t, _, _)| *t),
            self.warnings.first().map(|(t, _)| *t),
            self.owed.first().map(|(t, _)| *t),
        ]
        .into_iter()
        .flatten()
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
        self.cool_down();
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
            let Some(msg) = self.messages.get(&id).filter(|m| !m.held) else {
                continue;
            };
            let r = &msg.rcpts[i];
            let domain = self.domains.name(r.domain);
            match policy::next_dest_for(&self.config, domain, r.direct_tries(), r.relay_tries()) {
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
            self.settle(&id, failed, Vec::new(), now, &mut effects);
        }
        self.warn_due(now, &mut effects);
        self.owed_due(now, &mut effects);
        effects
    }

    /// Delay notices that are due: one per message for its recipients due in this pass.
    fn warn_due(&mut self, now: Timestamp, effects: &mut Vec<Effect>) {
        let mut due: BTreeMap<MessageId, Vec<usize>> = BTreeMap::new();
        while let Some((at, id)) = self.warnings.first().cloned() {
            if at > now {
                break;
            }
            self.warnings.pop_first();
            let Some(msg) = self.messages.get_mut(&id) else {
                continue;
            };
            msg.warn_at.take();
            let idxs: Vec<usize> = (0..msg.rcpts.len())
                .filter(|&i| notices::warn_at(&self.config, msg, i).is_some_and(|t| t <= now))
                .collect();
            if !idxs.is_empty() {
                due.insert(id, idxs);
            }
        }
        for (id, idxs) in due {
            if !self.warm(&id) {
                self.arm_warning(&id, now.plus(UNREADABLE_RETRY));
                continue;
            }
            let Some(msg) = self.messages.get_mut(&id) else {
                continue;
            };
            let Some(hot) = msg.hot.as_deref_mut() else {
                continue;
            };
            for &i in &idxs {
                hot.env.recipients[i].warned = true;
            }
            let notice = notices::delay(&self.config, &hot.env, &idxs, &hot.last);
            msg.sync();
            effects.push(Effect::Notify(notice));
            self.arm_warning(&id, Timestamp(0));
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
            if msg.rcpts[i].busy() || msg.held || !msg.rcpts[i].pending() {
                continue;
            }
            msg.rcpts[i].set_busy(true);
            match picked.last_mut() {
                Some((last, idxs)) if *last == id => idxs.push(i),
                _ => picked.push((id, vec![i])),
            }
        }
        let mut messages: Vec<JobMessage> = Vec::new();
        for (id, recipients) in picked {
            let hot = self.warm(&id);
            let env = self
                .messages
                .get(&id)
                .and_then(|m| m.hot.as_deref())
                .map(|h| &h.env)
                .filter(|_| hot);
            let Some(env) = env else {
                for i in recipients {
                    self.later(&id, i, now);
                }
                continue;
            };
            let labels = recipients
                .iter()
                .map(|&i| policy::attempt_label(&self.config, &env.recipients[i], dest))
                .collect();
            messages.push(JobMessage {
                envelope: env.clone(),
                recipients,
                labels,
            });
        }
        if messages.is_empty() {
            return None;
        }
        let job_id = JobId(self.next_job);
        self.next_job += 1;
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
        state.last_used = Some(now);
        let took_long = now.since(started) > slow::SLOW_AFTER;
        state.proven |= !took_long;
        if took_long {
            self.slow_dests.insert(dest.clone());
        } else {
            self.slow_dests.remove(&dest);
        }
        if report.run_complete && !limits.continuous_delay.is_zero() {
            state.paused_until = Some(now.plus(limits.continuous_delay));
            state.why = Some(Pause::Run);
        }
        if destination_down(&report) {
            // Nobody answered: hold the destination's other mail back for a while rather than
            // trying each message against a dead server (their attempts are not counted).
            state.paused_until = Some(now.plus(limits.retry_delay));
            state.why = Some(Pause::Down);
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
        // A message in a job stays hot: this reads nothing back.
        self.warm(&id);
        let Some(msg) = self.messages.get_mut(&id) else {
            return;
        };
        for &i in &idxs {
            msg.rcpts[i].set_busy(false);
        }
        let Some(hot) = msg.hot.as_deref_mut() else {
            return;
        };
        let mut tried = Vec::new();
        let mut failed = Vec::new();
        let mut delivered = Vec::new();
        let mut requeue = Vec::new();
        let mut changed = false;
        let mut attempted = false;
        for ((&i, label), outcome) in idxs.iter().zip(&labels).zip(mr.outcomes) {
            let Some(outcome) = outcome else {
                requeue.push(i);
                continue;
            };
            tried.push(hot.env.recipients[i].address.to_string());
            attempted = true;
            changed = true;
            hot.last[i] = Some(outcome.clone());
            let (arrival, kind) = (hot.env.arrival, hot.env.kind);
            let r = &mut hot.env.recipients[i];
            let progress =
                policy::after_attempt(&self.config, r, dest, &outcome, now, arrival, kind);
            r.last_result = Some(outcome.last_result(&r.address.domain));
            r.last_status = Some(outcome.status);
            r.last_attempt = Some(now);
            match progress {
                Progress::Delivered => {
                    r.state = RecipientState::Delivered;
                    // A next hop that offers DSN got the NOTIFY and ORCPT parameters, and the
                    // receipt is its to send (RFC 3461 §5.2.2); ours would be a second one.
                    // Without DSN there, this is the last word the sender gets: `relayed`.
                    if !mr.dsn && bounce::wants(&hot.env.sender, r.notify, Action::Relayed) {
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
                sender: hot.env.sender.to_string(),
                recipient: r.address.to_string(),
                label: label.clone(),
                outcome,
                progress,
                delay: now.since(hot.env.arrival),
            }));
        }
        msg.sync();
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
            self.settle(&id, failed, delivered, now, effects);
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
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) {
        if !self.warm(id) {
            // Unreadable: the recipients stay as they were and are tried again.
            for (i, _, _) in failed {
                self.later(id, i, now);
            }
            return;
        }
        let Some(msg) = self.messages.get_mut(id) else {
            return;
        };
        let Some(hot) = msg.hot.as_deref_mut() else {
            return;
        };
        for (i, outcome, why) in &failed {
            let r = &mut hot.env.recipients[*i];
            r.state = RecipientState::Failed;
            if bounce::wants(&hot.env.sender, r.notify, Action::Failed) {
                r.owed = Some(Action::Failed);
            }
            r.gave_up = Some(*why);
            hot.last[*i] = Some(outcome.clone());
        }
        for (i, outcome, action) in delivered {
            hot.env.recipients[i].owed = Some(action);
            hot.last[i] = Some(outcome);
        }
        if !failed.is_empty() {
            effects.push(Effect::GaveUp {
                envelope: hot.env.clone(),
                recipients: failed,
            });
        }
        let notice = notices::owed(&hot.env, &hot.last);
        msg.sync();
        match notice {
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
        let finished = msg.rcpts.iter().all(|r| !r.pending() && r.owed.is_none());
        if finished && !msg.busy() {
            // For the history: a cold message's envelope is read before its files go.
            self.warm(id);
            if let Some(done) = self.forget(id) {
                self.finished.extend(done.hot.map(|h| h.env));
            }
            effects.push(Effect::Remove(id.clone()));
        } else if self.warm(id) {
            let env = self.messages.get(id).and_then(|m| m.hot.as_deref());
            effects.extend(env.map(|h| Effect::Persist(h.env.clone())));
        }
    }

    /// Takes a message out of the queue with its timers and interned domains (its waiting
    /// entries are skipped when they come up).
    fn forget(&mut self, id: &MessageId) -> Option<Msg> {
        let msg = self.messages.remove(id)?;
        if let Some(at) = msg.owed_at.get() {
            self.owed.remove(&(at, id.clone()));
        }
        if let Some(at) = msg.warn_at.get() {
            self.warnings.remove(&(at, id.clone()));
        }
        msg.forget(&mut self.domains);
        Some(msg)
    }

    /// Makes a message's waiting recipients, and its owed notice, due now (`retry ID`).
    /// False if unknown.
    pub fn retry_now(&mut self, id: &MessageId, now: Timestamp) -> bool {
        if self
            .messages
            .get(id)
            .is_some_and(|m| m.owed_at.get().is_some())
        {
            self.owe_at(id, now);
        }
        let Some(msg) = self.messages.get_mut(id) else {
            return false;
        };
        for (i, r) in msg.rcpts.iter_mut().enumerate() {
            if let Some(at) = r.next_try().filter(|_| r.pending() && !r.busy())
                && self.waiting.remove(&(at, id.clone(), i))
            {
                r.set_next_try(Some(now));
                if let Some(hot) = msg.hot.as_deref_mut() {
                    hot.env.recipients[i].next_try = Some(now);
                }
                self.waiting.insert((now, id.clone(), i));
            }
        }
        true
    }

    /// Pauses (`hold`) or resumes a destination by its name (`a.test`, `relay:NAME`): a
    /// paused one gets no new connection until resumed (a flush does not resume it, nor does
    /// a restart: the thread keeps the names in the spool). False for a name that is no
    /// destination.
    pub fn hold_dest(&mut self, name: &str, hold: bool) -> bool {
        let Some(dest) = self.dest_named(name) else {
            return false;
        };
        self.dests.entry(dest).or_default().held = hold;
        true
    }

    /// The destinations paused from the status page, by name, sorted (what `spool/.paused`
    /// keeps across restarts).
    pub fn held_dests(&self) -> Vec<String> {
        let held = self.dests.iter().filter(|(_, s)| s.held);
        let mut names: Vec<String> = held.map(|(d, _)| self.dest_name(d)).collect();
        names.sort();
        names
    }

    /// The destination `name` names: a domain, or `relay:NAME` of a configured relay.
    fn dest_named(&self, name: &str) -> Option<Dest> {
        if let Some(relay) = name.strip_prefix("relay:") {
            return self
                .config
                .relays
                .iter()
                .position(|r| r.name == relay)
                .map(Dest::Relay);
        }
        let domain = name.trim().trim_end_matches('.').to_ascii_lowercase();
        let valid = !domain.is_empty()
            && domain.len() <= 255
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        valid.then_some(Dest::Direct(domain))
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
        let msg = self.forget(id)?;
        for (i, r) in msg.rcpts.iter().enumerate() {
            if let Some(at) = r.next_try() {
                self.waiting.remove(&(at, id.clone(), i));
            }
        }
        Some(Effect::Remove(id.clone()))
    }
}

mod compact;
mod job;
#[cfg(test)]
mod memory;
mod notices;
mod owed;
#[cfg(test)]
mod pace_tests;
mod prune;
mod slow;
#[cfg(test)]
pub(crate) mod tests;
pub mod view;
