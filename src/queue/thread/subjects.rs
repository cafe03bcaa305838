//! The subjects of messages an older qksmtp queued (their envelopes lack them), read from
//! the message files once, in the background, for the search index: one thread, started at
//! the first such message and ended with the scheduler thread.

use super::Event;
use crate::queue::history;
use crate::spool::Spool;
use crate::spool::id::MessageId;
use crossbeam_channel::{Sender, unbounded};
use std::sync::Arc;

/// Subjects handed back to the scheduler thread this many at a time.
const BATCH: usize = 1000;

#[derive(Default)]
pub(super) struct Reader {
    /// The reading thread's orders (`None`: not started, or it could not be).
    orders: Option<Sender<Vec<MessageId>>>,
}

impl Reader {
    /// Has the subjects of `ids` read and sent back as `Event::Subjects` on `events`.
    pub fn read(&mut self, ids: Vec<MessageId>, spool: &Arc<Spool>, events: &Sender<Event>) {
        if ids.is_empty() {
            return;
        }
        if self.orders.is_none() {
            self.orders = start(spool.clone(), events.clone());
        }
        if let Some(orders) = &self.orders
            && orders.send(ids).is_err()
        {
            self.orders = None;
        }
    }
}

fn start(spool: Arc<Spool>, events: Sender<Event>) -> Option<Sender<Vec<MessageId>>> {
    let (orders, taken) = unbounded::<Vec<MessageId>>();
    let spawned = std::thread::Builder::new()
        .name("subjects".into())
        .spawn(move || {
            for ids in taken {
                for chunk in ids.chunks(BATCH) {
                    let subjects = chunk.iter().map(|id| (id.clone(), of(&spool, id)));
                    if events.send(Event::Subjects(subjects.collect())).is_err() {
                        return;
                    }
                }
            }
        });
    match spawned {
        Ok(_) => Some(orders),
        Err(e) => {
            log::warn!("cannot start reading the subjects of older envelopes: {e}");
            None
        }
    }
}

/// The subject of a queued message, from its file (empty: none, or the file is gone).
fn of(spool: &Spool, id: &MessageId) -> String {
    let headers = history::read_headers(&spool.message_path(id));
    crate::headers::subject(headers.as_bytes()).unwrap_or_default()
}
