//! The worker pool: a fixed number of threads that take jobs from the scheduler's bounded
//! channel, run each to its end (`worker::run`) and send the report back; between jobs they
//! close the parked connections that waited too long.

use super::connections::IDLE_LIMIT;
use super::worker::{self, WorkerContext};
use crate::queue::scheduler::Job;
use crate::queue::thread::Event;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// Starts `n` workers on `jobs`; each reports to `events` and ends when `jobs` is closed and
/// empty (or nobody listens to its reports any more).
pub fn start(
    n: usize,
    jobs: Receiver<Job>,
    events: Sender<Event>,
    ctx: Arc<WorkerContext>,
) -> Result<Vec<JoinHandle<()>>, String> {
    (0..n)
        .map(|i| {
            let (jobs, events, ctx) = (jobs.clone(), events.clone(), ctx.clone());
            thread::Builder::new()
                .name(format!("deliver-{i}"))
                .spawn(move || work(&jobs, &events, &ctx))
                .map_err(|e| format!("cannot start a delivery thread: {e}"))
        })
        .collect()
}

fn work(jobs: &Receiver<Job>, events: &Sender<Event>, ctx: &WorkerContext) {
    loop {
        match jobs.recv_timeout(IDLE_LIMIT) {
            Ok(job) => {
                // A job taken or cut short while the server stops is not counted.
                let run = (!ctx.halt.is_stopping()).then(|| worker::run(&job, ctx));
                let report = match (run, ctx.halt.is_stopping()) {
                    (Some(report), false) => report,
                    (run, _) => worker::abandoned(&job, run),
                };
                if events.send(Event::Done(report)).is_err() {
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout) => ctx.connections.sweep(false),
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    ctx.connections.sweep(true);
}
