//! The scheduler thread's part for the status page: counters, the recently finished
//! messages, and the orders that read or change the queue without an attempt (hold, release,
//! adopt, snapshot).

use super::{Event, Shell};
use crate::queue::changes::{Feed, What};
use crate::queue::find::{Found, PAGE, Query};
use crate::queue::history::{self, Finished, History};
use crate::queue::index::Index;
use crate::queue::policy::Dest;
use crate::queue::scheduler::view::view_of;
use crate::queue::select::{Bulk, LISTED, Taken, Verb};
use crate::queue::snapshot::MessageDetail;
use crate::queue::stats::Stats;
use crate::spool::Spool;
use crate::spool::envelope::Envelope;
use crate::spool::id::MessageId;
use crate::time::Timestamp;
use crate::transcript::Record;
use crate::transcript::text;
use std::sync::Arc;

/// What the scheduler thread keeps besides the core.
pub(super) struct Extra {
    pub stats: Stats,
    pub history: History,
    pub spool: Arc<Spool>,
    pub started: Timestamp,
    pub workers: usize,
    /// The destination of the job whose results are being applied.
    pub job_dest: Option<Dest>,
    /// The live page's subscribers.
    pub feed: Feed,
    /// The text search's index of the queue (kept while the page is on).
    pub index: Index,
    /// The scheduler thread's own orders (for `subjects`).
    pub events: crossbeam_channel::Sender<Event>,
    /// Reads the subjects older envelopes lack.
    pub subjects: super::subjects::Reader,
}

impl Extra {
    /// The step record of a message's last attempt, not written to disk because the message
    /// leaves the spool in the same batch: kept for the history.
    pub fn keep_record(
        &self,
        id: MessageId,
        label: &str,
        record: &Record,
        unwritten: &mut Vec<(MessageId, String)>,
    ) {
        if self.history.enabled() {
            unwritten.push((id, text::render(label, record)));
        }
    }

    /// Before a message's files go: its headers and step record (with the attempts not
    /// written to disk), if the history is kept.
    pub fn keep_files(
        &self,
        id: &MessageId,
        unwritten: &mut Vec<(MessageId, String)>,
    ) -> Option<(MessageId, String, String)> {
        if !self.history.enabled() {
            return None;
        }
        let headers = history::read_headers(&self.spool.message_path(id));
        let mut steps = history::read_steps(&self.spool.steps_path(id));
        unwritten.retain(|(other, text)| {
            if other == id {
                steps.push_str(text);
            }
            other != id
        });
        Some((id.clone(), headers, steps))
    }

    /// Moves finished messages into the history, with the files kept before their removal.
    pub fn remember(
        &mut self,
        finished: Vec<Envelope>,
        mut kept: Vec<(MessageId, String, String)>,
        now: Timestamp,
    ) {
        for envelope in finished {
            let Some(pos) = kept.iter().position(|(id, _, _)| *id == envelope.id) else {
                continue;
            };
            let (_, headers, steps) = kept.swap_remove(pos);
            self.history
                .push(Finished::new(envelope, now, headers, steps), now);
        }
    }
}

impl Shell {
    /// Orders that do not come from the delivery itself.
    pub(super) fn handle_view(&mut self, ev: Event, now: Timestamp) {
        match ev {
            Event::Hold(id, answer) => {
                let effect = self.core.hold(&id);
                let known = effect.is_some();
                self.apply(effect.into_iter().collect(), now);
                let _ = answer.send(known);
            }
            Event::Release(id, answer) => {
                let effect = self.core.release(&id, now);
                let known = effect.is_some();
                self.apply(effect.into_iter().collect(), now);
                let _ = answer.send(known);
            }
            Event::HoldDest(name, hold, answer) => {
                let known = self.core.hold_dest(&name, hold);
                if known {
                    self.keep_paused();
                    self.extra.feed.publish(What::Reset);
                }
                let _ = answer.send(known);
            }
            Event::Adopt(env, answer) => {
                let new = !self.core.contains(&env.id);
                if new {
                    self.extra.stats.counters.received += 1;
                    self.extra.feed.publish(What::Message(env.id.clone()));
                    self.add(*env, now);
                    self.read_subjects();
                }
                let _ = answer.send(new);
            }
            Event::Bulk(bulk, answer) => {
                let _ = answer.send(self.bulk(&bulk, now));
            }
            Event::Find(query, answer) => self.find(&query, now, answer),
            Event::Subjects(subjects) => self.extra.index.subjects(subjects),
            Event::Watch(seen, answer) => {
                let _ = answer.send(self.extra.feed.subscribe(seen));
            }
            Event::Snapshot(limit, answer) => {
                let _ = answer.send(self.snapshot(now, limit));
            }
            Event::Message(id, answer) => {
                let detail = match self.core.message_view(&id, now) {
                    Some(view) => Some(MessageDetail {
                        view,
                        headers: None,
                        steps: None,
                        body: None,
                    }),
                    None => self.extra.history.detail(&id).map(|r| {
                        let mut view = view_of(&r.envelope, &[], Some(r.at));
                        view.subject = history::subject_of(&r.envelope, &r.headers);
                        MessageDetail {
                            view,
                            headers: Some(r.headers),
                            steps: Some(r.steps),
                            body: self.extra.history.kept(&id),
                        }
                    }),
                };
                let _ = answer.send(detail);
            }
            _ => {}
        }
    }

    /// Carries out a bulk order in one go (no job starts between two of its messages): the
    /// effects of every message applied as one batch.
    fn bulk(&mut self, bulk: &Bulk, now: Timestamp) -> Taken {
        let ids = self.select(bulk, now);
        if !bulk.dry_run {
            let mut effects = Vec::new();
            for id in &ids {
                match bulk.verb {
                    Verb::Retry => {
                        self.core.retry_now(id, now);
                    }
                    Verb::Hold => effects.extend(self.core.hold(id)),
                    Verb::Release => effects.extend(self.core.release(id, now)),
                    Verb::Delete => effects.extend(self.core.delete(id)),
                }
            }
            self.apply(effects, now);
        }
        Taken {
            count: ids.len(),
            ids: ids.into_iter().take(LISTED).collect(),
        }
    }

    /// What a bulk order takes. A search's text is looked up in the index (it knows the
    /// subjects); the order's other filters are the scheduler's.
    fn select(&self, bulk: &Bulk, now: Timestamp) -> Vec<MessageId> {
        let Some(text) = bulk
            .selector
            .search
            .as_ref()
            .map(|q| &q.text)
            .filter(|t| !t.is_empty())
        else {
            return self.core.select(bulk, now);
        };
        let hits: std::collections::HashSet<&MessageId> =
            self.extra.index.find(text).into_iter().collect();
        let mut rest = bulk.clone();
        if let Some(q) = &mut rest.selector.search {
            q.text.clear();
        }
        let mut ids = self.core.select(&rest, now);
        ids.retain(|id| hits.contains(id));
        ids
    }

    /// A page of the matches: the queue's newest first, then the recently finished.
    fn find(&mut self, query: &Query, now: Timestamp, answer: crossbeam_channel::Sender<Found>) {
        let upto = (query.page + 1) * PAGE;
        let (in_queue, queued) = match query.text.is_empty() {
            true => self.core.matching(query, upto),
            false => {
                let core = &self.core;
                self.extra.index.tidy(core.len(), |id| core.contains(id));
                let hits = self.extra.index.find(&query.text);
                self.core.matching_among(hits, query, upto)
            }
        };
        // The queue's on this page, then the finished matches after them: read from the
        // history's list files, off this thread, when the search has to read them through.
        let (start, end) = (query.window().start, query.window().end);
        let mut messages: Vec<_> = (start..end.min(in_queue))
            .filter_map(|i| queued.get(i))
            .filter_map(|id| self.core.message_view(id, now))
            .collect();
        let mine = start.saturating_sub(in_queue)..end.saturating_sub(in_queue);
        let found = move |(finished, views): history::Found| {
            messages.extend(views);
            let total = in_queue + finished;
            let _ = answer.send(Found { total, messages });
        };
        match self.extra.history.find_later(query, mine) {
            Ok(at_once) => found(at_once),
            Err(scan) => self.extra.history.in_background(scan, found),
        }
    }

    fn snapshot(&mut self, now: Timestamp, limit: usize) -> crate::queue::snapshot::Snapshot {
        let mut snap = self.core.snapshot(now, limit);
        snap.started = self.extra.started;
        snap.workers = self.extra.workers;
        snap.counters = self.extra.stats.counters;
        snap.durations = self.extra.stats.durations.clone();
        snap.health.last_delivery = self.extra.stats.last_delivery;
        snap.health.dns = self.extra.stats.dns.clone();
        snap.finished = self.extra.history.newest(limit);
        for d in &mut snap.dests {
            d.last_error = self
                .extra
                .stats
                .last_error
                .iter()
                .find(|(dest, _)| self.core.dest_name(dest) == d.name)
                .map(|(_, e)| e.clone());
            d.chart = self
                .extra
                .stats
                .minutes
                .keys()
                .find(|dest| self.core.dest_name(dest) == d.name)
                .map_or_else(Vec::new, |dest| self.extra.stats.chart(dest, now));
        }
        snap
    }
}
