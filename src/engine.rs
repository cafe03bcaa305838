//! The engine: wires the queue's scheduler thread to the worker pool and the reporting (the
//! delivery log, notices written through the intake), starts them and stops them. The only
//! place that knows all three; the queue itself never imports `deliver` or `intake`.

use crate::client::Network;
use crate::client::halt::{Halt, Halting};
use crate::config::Live;
use crate::deliver::connections::Connections;
use crate::deliver::pool;
use crate::deliver::tls_policy::store::Store;
use crate::deliver::worker::WorkerContext;
use crate::dns::Resolver;
use crate::intake::Intake;
use crate::queue::history;
use crate::queue::incoming;
use crate::queue::scheduler::Job;
use crate::queue::thread::{self, Event, Start};
use crate::report::log::DeliveryLog;
use crate::report::notify;
use crate::spool::envelope::Envelope;
use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Engine {
    events: Sender<Event>,
    scheduler: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
    /// The watcher of `spool/incoming/` and the way to stop it.
    incoming: (Sender<()>, JoinHandle<()>),
    /// The connections of the jobs in flight, closed at `stop`.
    halt: Arc<Halt>,
}

impl Engine {
    /// Starts the scheduler and the workers. `committed` brings messages accepted from now
    /// on, `restore` those found in the spool; notices go in through `intake`.
    pub fn start(
        config: Live,
        intake: &Intake,
        committed: Receiver<Envelope>,
    ) -> Result<Engine, String> {
        let now = config.get();
        // `dns_server`, `timeout_dns` and `dnssec` are read once: a reload does not change them.
        let d = &now.delivery;
        let resolver = match d.dnssec {
            true => Resolver::with_dnssec(
                d.dns_server,
                d.timeout_dns,
                d.dnssec_trust_anchor.as_deref(),
            ),
            false => Resolver::new(d.dns_server, d.timeout_dns),
        }
        .map_err(|e| format!("cannot set up DNS: {e}"))?;
        let log = DeliveryLog::open(now.server.log_file.as_deref())
            .map_err(|e| format!("cannot open the delivery log: {e}"))?;
        let workers_n = now.delivery.workers.max(1);
        let (job_tx, job_rx) = bounded::<Job>(workers_n);
        let (events_tx, events_rx) = unbounded::<Event>();
        let halt = Halt::new();
        let ctx = Arc::new(WorkerContext {
            spool: intake.spool().clone(),
            resolver: Arc::new(resolver),
            dialer: Arc::new(Halting {
                dialer: Arc::new(Network),
                halt: halt.clone(),
            }),
            connections: Connections::default(),
            sts: Some(Store::new(&now.server.spool_dir)),
            halt: halt.clone(),
        });
        let workers = pool::start(workers_n, job_rx, events_tx.clone(), ctx)?;
        let notices = intake.untold();
        let journal = thread::open_journal(&now);
        let earlier = journal.as_ref().map(|(j, _)| j.first_own());
        let start = Start {
            journal,
            events: events_tx.clone(),
            config,
            spool: intake.spool().clone(),
            workers: workers_n,
            log,
            jobs: job_tx,
            write_notice: Box::new(move |notice, now| {
                notify::commit(&notices, notice, now).map_err(|e| e.to_string())
            }),
        };
        let scheduler = thread::start(start, committed, events_rx)
            .map_err(|e| format!("cannot start the scheduler: {e}"))?;
        if let Some(below) = earlier {
            let listed = now.server.status_listen.is_some();
            history::read_back(&now.server.spool_dir, events_tx.clone(), listed, below);
        }
        let (stop_incoming, stopped) = bounded(1);
        let watcher = incoming::start(intake.spool().clone(), events_tx.clone(), stopped)
            .map_err(|e| format!("cannot start the spool watcher: {e}"))?;
        Ok(Engine {
            events: events_tx,
            scheduler,
            workers,
            incoming: (stop_incoming, watcher),
            halt,
        })
    }

    /// Hands the scheduler messages found in the spool at start-up.
    pub fn restore(&self, found: Vec<Envelope>) {
        let _ = self.events.send(Event::Restore(found));
    }

    /// A handle to send orders (retry, delete, flush).
    pub fn events(&self) -> Sender<Event> {
        self.events.clone()
    }

    /// Delivery jobs running now (0 when the scheduler does not answer at once).
    pub fn in_flight(&self) -> usize {
        let (tx, rx) = bounded(1);
        if self.events.send(Event::Snapshot(0, tx)).is_err() {
            return 0;
        }
        rx.recv_timeout(Duration::from_secs(2))
            .map_or(0, |s| s.in_flight)
    }

    /// Stops: no new jobs; jobs in flight that have not sent a message's final dot are
    /// abandoned at once (connection closed, recipients back in the queue with no attempt
    /// counted); one waiting for the reply to its dot gets `grace` to read it, and is then
    /// left queued too (its message may reach the server twice: at least once, never lost).
    pub fn stop(self, grace: Duration) {
        let (stop_incoming, watcher) = self.incoming;
        let _ = stop_incoming.send(());
        let _ = watcher.join();
        let closed = self.halt.stop();
        if closed > 0 {
            log::info!("stopping: closed {closed} delivery connection(s) before their data ended");
        }
        let _ = self.events.send(Event::Stop(grace));
        let _ = self.scheduler.join();
        let unanswered = self.halt.awaiting_reply();
        if unanswered > 0 {
            log::warn!(
                "stopping: {unanswered} message(s) sent in full got no reply within {}s; \
                 they stay queued and go out again at the next start, so a recipient may \
                 get one twice",
                grace.as_secs()
            );
        }
        for w in self.workers {
            if w.is_finished() {
                let _ = w.join();
            }
        }
    }
}
