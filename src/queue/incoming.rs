//! Messages another process committed (`qksmtp send` when the server's API could not be
//! reached, e.g. the status page is off or busy) announce themselves in `spool/incoming/`;
//! this small thread looks there twice a second and hands each one to the scheduler, so such
//! a message is delivered at once, not at the next start.

use super::thread::Event;
use crate::spool::Spool;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

const LOOK_EVERY: Duration = Duration::from_millis(500);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Watches until `stop` is dropped or sent to.
pub fn start(
    spool: Arc<Spool>,
    events: Sender<Event>,
    stop: Receiver<()>,
) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("incoming".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(LOOK_EVERY) {
                adopt_announced(&spool, &events);
            }
        })
}

fn adopt_announced(spool: &Spool, events: &Sender<Event>) {
    let ids = match spool.announced() {
        Ok(ids) => ids,
        Err(e) => return log::warn!("cannot read the spool's incoming/ folder: {e}"),
    };
    for id in ids {
        match spool.read_envelope(&id) {
            Ok(Ok(env)) => {
                let (tx, rx) = bounded(1);
                if events.send(Event::Adopt(Box::new(env), tx)).is_err() {
                    return;
                }
                if rx.recv_timeout(ANSWER_TIMEOUT) == Ok(true) {
                    log::info!("{id}: committed by another process; queued");
                }
            }
            Ok(Err(e)) => log::warn!("{id}: announced, but its envelope is damaged: {e}"),
            Err(e) => log::debug!("{id}: announced, but gone ({e})"),
        }
        spool.unannounce(&id);
    }
}
