//! The scheduler thread: the one owner of the pure `Scheduler`, it takes committed messages,
//! worker reports and orders, hands jobs to the worker pool over a bounded channel, and
//! applies the core's effects (spool state, delivery log, step records, notices to senders).

use super::changes::{Change, Feed, What};
use super::find::{Found, Query};
use super::history::{History, Shelves};
use super::journal::{Journal, Limits, Segment};
use super::policy::Dest;
use super::scheduler::{Effect, Job, JobReport, Scheduler};
use super::select::{Bulk, Taken};
use super::snapshot::{MessageDetail, Snapshot};
use super::stats::Stats;
use crate::bounce::Notice;
use crate::config::Live;
use crate::outcome::GiveUp;
use crate::outcome::Outcome;
use crate::report::log::DeliveryLog;
use crate::spool::envelope::{Envelope, MessageKind};
use crate::spool::id::MessageId;
use crate::spool::{Spool, StateWriter, paused};
use crate::time::Timestamp;
use crossbeam_channel::{Receiver, Sender, never, select};
use log::{debug, error, info, warn};
use std::collections::HashSet;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Orders for the scheduler from the rest of the program.
#[derive(Debug)]
pub enum Event {
    /// A worker finished a job.
    Done(JobReport),
    /// Try a message's waiting recipients now; answers whether the ID is known.
    Retry(MessageId, Sender<bool>),
    /// Remove a message; answers whether the ID was known.
    Delete(MessageId, Sender<bool>),
    /// Try everything waiting now.
    Flush,
    /// Hold a message (its recipients are not tried until released); answers whether known.
    Hold(MessageId, Sender<bool>),
    /// Release a held message; answers whether known.
    Release(MessageId, Sender<bool>),
    /// Retry, hold, release or delete every message a selector takes (or count them).
    Bulk(Box<Bulk>, Sender<Taken>),
    /// Pause (true) or resume (false) a destination (`a.test`, `relay:NAME`); answers
    /// whether the name is one.
    HoldDest(String, bool, Sender<bool>),
    /// Take a message committed outside the server (`qksmtp send`); false if already known.
    Adopt(Box<Envelope>, Sender<bool>),
    /// Messages found in the spool at start-up, handed on while the scan goes on.
    Restore(Vec<Envelope>),
    /// The history of earlier runs, read back from the journal at start-up: where its list
    /// files have the messages (when the page lists them) and the journal's segments.
    History(Box<(Shelves, Vec<Segment>)>),
    /// The queue as plain values, with at most this many messages listed.
    Snapshot(usize, Sender<Snapshot>),
    /// One message: queued (the files are the caller's to read) or recently finished (with
    /// its headers and step record, kept in memory).
    Message(MessageId, Sender<Option<MessageDetail>>),
    /// A page of the messages that match (queued and recently finished).
    Find(Box<Query>, Sender<Found>),
    /// The subjects of messages queued by an older qksmtp (their envelopes lack them), read
    /// in the background, for the search index.
    Subjects(Vec<(MessageId, String)>),
    /// Follow the changes from now on (after the change numbered `seen`, when it is a
    /// reconnect): the answer is the subscriber's bounded buffer.
    Watch(Option<u64>, Sender<Receiver<Change>>),
    /// Stop: finish or abandon jobs in flight (within `grace`), then end.
    Stop(Duration),
}

/// What the scheduler thread needs from outside the queue: the notice writer (the intake,
/// wired in by the engine; the queue itself never writes the spool's messages).
pub type WriteNotice = Box<dyn FnMut(&Notice, Timestamp) -> Result<Envelope, String> + Send>;

/// The history journal of these settings, opened (`None`: off, or it cannot be opened).
pub fn open_journal(config: &crate::config::Config) -> Option<(Journal, Limits)> {
    let limits = history_limits(config)?;
    match Journal::open(&config.server.spool_dir) {
        Ok(j) => Some((j, limits)),
        Err(e) => {
            warn!("history journal: cannot open it: {e}; finished messages are not kept");
            None
        }
    }
}

/// The journal's limits in these settings; `None`: no journal.
pub fn history_limits(config: &crate::config::Config) -> Option<Limits> {
    let limits = Limits {
        max: config.server.history_max,
        age: Duration::from_secs(86_400 * u64::from(config.server.history_days)),
        max_bytes: config.server.history_max_size,
    };
    limits.on().then_some(limits)
}

/// How many queued messages keep their whole envelope in memory (besides those in a job):
/// enough for the mail passing through; a large queue's others are read back when needed.
pub(crate) const HOT_ENVELOPES: usize = 1024;

/// Everything the scheduler thread starts with.
pub struct Start {
    pub config: Live,
    pub spool: Arc<Spool>,
    pub workers: usize,
    pub log: DeliveryLog,
    pub jobs: Sender<Job>,
    pub write_notice: WriteNotice,
    /// The history journal to append to, with its limits (`open_journal`).
    pub journal: Option<(Journal, Limits)>,
    /// The thread's own orders, for what it has done in the background.
    pub events: Sender<Event>,
}

/// Starts the scheduler thread; `committed` brings the messages accepted from now on,
/// `events` everything else (the messages found in the spool come as `Event::Restore`).
pub fn start(
    s: Start,
    committed: Receiver<Envelope>,
    events: Receiver<Event>,
) -> std::io::Result<JoinHandle<()>> {
    let config = s.config.get();
    let mut core = Scheduler::new(config.clone(), s.workers)
        .with_envelopes(Box::new(s.spool.clone()), HOT_ENVELOPES);
    restore_paused(&mut core, &config.server.spool_dir);
    let now = Timestamp::now();
    let mut writer = s.spool.state_writer();
    writer.track_records(std::iter::empty());
    // A finished message's file, once copied into the history, is reused like the others.
    let journal = s.journal.map(|(mut journal, limits)| {
        journal.recycle_with(std::sync::Arc::new(writer.recycler()));
        (journal, limits)
    });
    let page = config.server.status_listen.is_some();
    let shell = Shell {
        core,
        config: s.config,
        writer,
        log: s.log,
        jobs: Some(s.jobs),
        write_notice: s.write_notice,
        extra: Extra {
            stats: Stats::default(),
            history: History::new(page, journal),
            spool: s.spool,
            started: now,
            workers: s.workers,
            job_dest: None,
            feed: Feed::default(),
            index: Default::default(),
            events: s.events,
            subjects: Default::default(),
        },
    };
    thread::Builder::new()
        .name("scheduler".into())
        .spawn(move || shell.run(committed, events))
}

/// Pauses again the destinations paused from the status page before the restart, and says
/// so (a destination that gets no mail is otherwise a riddle).
fn restore_paused(core: &mut Scheduler, spool_dir: &std::path::Path) {
    let names = match paused::read(spool_dir) {
        Ok(names) => names,
        Err(e) => {
            error!(
                "cannot read the paused destinations in {}: {e}",
                spool_dir.display()
            );
            return;
        }
    };
    for name in names {
        if core.hold_dest(&name, true) {
            println!("qksmtp: destination {name} is paused (from the status page: Resume there)");
        } else {
            warn!("{name} was paused, but is no destination any more (a relay removed?)");
        }
    }
}

mod subjects;
mod view;
use view::Extra;

/// The scheduler thread: the pure core plus the I/O its effects need.
struct Shell {
    core: Scheduler,
    /// The live settings, taken at the start of each pass.
    config: Live,
    writer: StateWriter,
    log: DeliveryLog,
    jobs: Option<Sender<Job>>,
    write_notice: WriteNotice,
    /// What the status page needs (see `view`).
    extra: Extra,
}

impl Shell {
    fn run(mut self, committed: Receiver<Envelope>, events: Receiver<Event>) {
        let mut committed = committed;
        loop {
            let now = Timestamp::now();
            let config = self.config.get();
            self.extra.history.set_limits(history_limits(&config));
            self.core.set_config(config);
            self.dispatch(now);
            let timeout = self
                .core
                .next_wakeup()
                .map_or(Duration::from_secs(3600), |t| t.since(now));
            select! {
                recv(committed) -> msg => match msg {
                    Ok(env) => {
                        // The intake may have started its step record (`Spool::note`).
                        self.writer.track_more([env.id.clone()]);
                        self.extra.stats.counters.received += 1;
                        self.extra.feed.publish(What::Message(env.id.clone()));
                        self.add(env, Timestamp::now())
                    }
                    Err(_) => committed = never(),
                },
                recv(events) -> ev => match ev {
                    Ok(Event::Stop(grace)) => return self.drain(&events, grace),
                    Ok(ev) => self.handle(ev),
                    Err(_) => return,
                },
                default(timeout) => {}
            }
        }
    }

    /// A message for the queue (and the status page's search index, which drops the
    /// messages that left the queue as it goes).
    fn add(&mut self, env: Envelope, now: Timestamp) {
        if self.extra.history.enabled() && !self.core.contains(&env.id) {
            self.extra.index.add(&env);
        }
        self.core.add(env, now);
        let core = &self.core;
        self.extra.index.tidy(core.len(), |id| core.contains(id));
    }

    /// Has the subjects the index lacks (of older envelopes) read in the background.
    fn read_subjects(&mut self) {
        let ids = self.extra.index.take_unsubjected();
        let extra = &mut self.extra;
        extra.subjects.read(ids, &extra.spool, &extra.events);
    }

    fn dispatch(&mut self, now: Timestamp) {
        for dest in self.core.prune(now) {
            self.extra.stats.forget(&dest);
        }
        let (jobs, effects) = self.core.poll(now);
        self.apply(effects, now);
        let Some(tx) = &self.jobs else { return };
        for job in jobs {
            debug!(
                "job {:?} to {:?}: {} message(s)",
                job.id,
                job.dest,
                job.messages.len()
            );
            for m in &job.messages {
                self.extra
                    .feed
                    .publish(What::Message(m.envelope.id.clone()));
            }
            // Never blocks: the core hands out at most one job per idle worker.
            if tx.send(job).is_err() {
                error!("the delivery threads are gone");
            }
        }
    }

    fn handle(&mut self, ev: Event) {
        let now = Timestamp::now();
        match ev {
            Event::Done(report) => {
                self.extra.job_dest = self.core.job_dest(report.id);
                let effects = self.core.finish(report, now);
                self.apply(effects, now);
            }
            Event::Retry(id, answer) => {
                let _ = answer.send(self.core.retry_now(&id, now));
            }
            Event::Delete(id, answer) => {
                let effect = self.core.delete(&id);
                // A finished message: the bytes kept with its record are erased.
                let known = effect.is_some() || self.extra.history.forget_body(&id);
                self.apply(effect.into_iter().collect(), now);
                let _ = answer.send(known);
            }
            Event::Flush => self.core.flush(now),
            Event::Restore(found) => {
                self.writer
                    .track_more(found.iter().map(|env| env.id.clone()));
                for env in found {
                    self.add(env, now);
                }
                self.read_subjects();
                // A restart's thousands: only the newest stay whole in memory.
                self.core.cool_down();
                self.extra.feed.publish(What::Reset);
            }
            Event::History(read) => {
                let (older, segments) = *read;
                self.extra.history.restore(older, segments, now);
                self.extra.feed.publish(What::Reset);
            }
            Event::Stop(_) => {}
            other => self.handle_view(other, now),
        }
    }

    /// After Stop: no new jobs; wait for the ones in flight, at most `grace`.
    fn drain(mut self, events: &Receiver<Event>, grace: Duration) {
        self.jobs = None; // workers end when the channel is empty and closed
        let deadline = std::time::Instant::now() + grace;
        while self.core.in_flight() > 0 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match events.recv_timeout(left) {
                Ok(Event::Done(report)) => {
                    let now = Timestamp::now();
                    self.extra.job_dest = self.core.job_dest(report.id);
                    let effects = self.core.finish(report, now);
                    self.apply(effects, now);
                }
                Ok(_) => {}
                Err(_) => {
                    warn!(
                        "{} delivery job(s) still running; their recipients stay queued",
                        self.core.in_flight()
                    );
                    return;
                }
            }
        }
    }

    /// Keeps the destinations paused from the status page in the spool, for the next start.
    fn keep_paused(&self) {
        let dir = &self.config.get().server.spool_dir;
        if let Err(e) = paused::write(dir, &self.core.held_dests()) {
            error!(
                "cannot keep the paused destinations in {}: {e}; a restart resumes them",
                dir.display()
            );
        }
    }

    /// Writes the notice into the spool and schedules it like any mail. False when it could
    /// not be written (e.g. the disk is full).
    fn notify(&mut self, notice: &Notice, now: Timestamp) -> bool {
        match (self.write_notice)(notice, now) {
            Ok(env) => {
                info!(
                    "{}: {:?} notice {} to {} about {} recipient(s)",
                    notice.envelope.id,
                    notice.kind(),
                    env.id,
                    notice.envelope.sender,
                    notice.recipients.len()
                );
                self.add(env, now);
                true
            }
            Err(e) => {
                error!(
                    "{}: {e}; the notice stays owed and is tried again",
                    notice.envelope.id
                );
                false
            }
        }
    }

    fn apply(&mut self, effects: Vec<Effect>, now: Timestamp) {
        let dest: Option<Dest> = self.extra.job_dest.take();
        self.extra.stats.observe(&effects, dest.as_ref(), now);
        // A message that leaves the spool in this same batch needs no step record on disk
        // (it is kept for the history): removed, or finished once its notice is written.
        let removed: HashSet<MessageId> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Remove(id) => Some(id.clone()),
                Effect::Notify(n) if self.core.finishing(&n.envelope.id) => {
                    Some(n.envelope.id.clone())
                }
                _ => None,
            })
            .collect();
        let mut changed: Vec<&MessageId> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Persist(env) => Some(&env.id),
                Effect::Remove(id) => Some(id),
                _ => None,
            })
            .collect();
        changed.dedup();
        for id in changed {
            self.extra.feed.publish(What::Message(id.clone()));
        }
        let mut batch = Batch {
            removed,
            kept: Vec::new(),
            unwritten: Vec::new(),
        };
        for effect in effects {
            self.apply_one(effect, &mut batch, now);
        }
        let finished = self.core.take_finished();
        self.extra.remember(finished, batch.kept, now);
        self.extra.history.flush();
        self.log.flush();
    }

    fn apply_one(&mut self, effect: Effect, batch: &mut Batch, now: Timestamp) {
        let result = match effect {
            Effect::Persist(env) => self.writer.rewrite(&env),
            Effect::Remove(id) => {
                let kept = self.extra.keep_files(&id, &mut batch.unwritten);
                batch.kept.extend(kept);
                // A finished message's file goes into the history with its record; a
                // deleted one's goes.
                let keep = self.extra.history.keeps_bodies() && self.core.has_finished(&id);
                self.writer.remove(&id, keep)
            }
            Effect::Log(line) => {
                self.log.write(&line, now);
                Ok(())
            }
            Effect::Record { id, label, record } if batch.removed.contains(&id) => {
                self.extra
                    .keep_record(id, &label, &record, &mut batch.unwritten);
                Ok(())
            }
            Effect::Record { id, label, record } => self
                .writer
                .append_record(&id, &crate::transcript::text::render(&label, &record)),
            Effect::GaveUp {
                envelope,
                recipients,
            } => {
                log_gave_up(&envelope, &recipients);
                Ok(())
            }
            Effect::Notify(notice) => {
                // The core decides what follows: the message persisted or removed, and a
                // notice that could not be written owed and tried again later.
                let written = self.notify(&notice, now);
                for next in self.core.noticed(&notice, written, now) {
                    self.apply_one(next, batch, now);
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            error!("spool update failed: {e}");
        }
    }
}

/// What one batch of effects carries from one effect to the next.
struct Batch {
    /// Messages leaving the spool in this batch.
    removed: HashSet<MessageId>,
    /// Their headers and step records, read before the removal (for the history).
    kept: Vec<(MessageId, String, String)>,
    /// Step records not written to disk because their message leaves in this batch.
    unwritten: Vec<(MessageId, String)>,
}

/// Logs each recipient given up on.
fn log_gave_up(envelope: &Envelope, recipients: &[(usize, Outcome, GiveUp)]) {
    let dropped = match envelope.kind {
        MessageKind::Mail => "",
        MessageKind::Bounce => "; the notice is dropped (never bounced)",
    };
    for (i, outcome, why) in recipients {
        info!(
            "{}: gave up on {} ({why:?}): {outcome}{dropped}",
            envelope.id, envelope.recipients[*i].address
        );
    }
}
