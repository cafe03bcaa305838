//! The queue's change feed, for the status page's live view (Server-Sent Events): the
//! scheduler thread owns it and publishes one numbered `Change` per message that changed,
//! never waiting. Each subscriber has a bounded buffer; one that does not keep up is dropped
//! (its connection ends, the browser reconnects with `Last-Event-ID`). The last `RECENT`
//! changes are kept so a reconnect gets what it missed, or a `Reset` when that is gone.

use crate::spool::id::MessageId;
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use std::collections::VecDeque;

/// Changes kept for reconnects, and the room of each subscriber's buffer.
pub const RECENT: usize = 256;

/// One change, numbered from 1 in the order published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: u64,
    pub what: What,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// A message arrived, was handed out, changed or left the queue.
    Message(MessageId),
    /// Changes were missed (or many changed at once): read everything again.
    Reset,
}

#[derive(Debug, Default)]
pub struct Feed {
    last: u64,
    recent: VecDeque<Change>,
    subscribers: Vec<Sender<Change>>,
}

impl Feed {
    /// Publishes a change to every subscriber that has room; drops those that have none or
    /// are gone. Never blocks.
    pub fn publish(&mut self, what: What) {
        self.last += 1;
        let change = Change {
            seq: self.last,
            what,
        };
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(change.clone());
        self.subscribers
            .retain(|s| match s.try_send(change.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            });
    }

    /// A new subscriber; `seen` is the last change it had (a reconnect's `Last-Event-ID`):
    /// it gets the changes after it first, or a `Reset` when they are no longer kept.
    pub fn subscribe(&mut self, seen: Option<u64>) -> Receiver<Change> {
        let (tx, rx) = bounded(RECENT + 1);
        match seen {
            Some(seen) if seen <= self.last => {
                let oldest = self.recent.front().map_or(self.last + 1, |c| c.seq);
                if seen + 1 < oldest {
                    let _ = tx.try_send(Change {
                        seq: self.last,
                        what: What::Reset,
                    });
                } else {
                    for c in self.recent.iter().filter(|c| c.seq > seen) {
                        let _ = tx.try_send(c.clone());
                    }
                }
            }
            // Unknown to this run (the server restarted): start over.
            Some(_) => {
                let _ = tx.try_send(Change {
                    seq: self.last,
                    what: What::Reset,
                });
            }
            None => {}
        }
        self.subscribers.push(tx);
        rx
    }

    #[cfg(test)]
    pub fn subscribers(&self) -> usize {
        self.subscribers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> MessageId {
        MessageId::from_parts(1_764_000_000_000_000 + u64::from(n), n)
    }

    fn seqs(rx: &Receiver<Change>) -> Vec<u64> {
        rx.try_iter().map(|c| c.seq).collect()
    }

    #[test]
    fn a_slow_subscriber_is_dropped_and_never_blocks_the_publisher() {
        let mut feed = Feed::default();
        let slow = feed.subscribe(None);
        let fast = feed.subscribe(None);
        for n in 0..(RECENT as u32 + 10) {
            feed.publish(What::Message(id(n)));
            assert_eq!(seqs(&fast).len(), 1, "the reading one gets each change");
        }
        assert_eq!(
            feed.subscribers(),
            1,
            "the one that did not read is dropped"
        );
        let got = seqs(&slow);
        assert_eq!(got.len(), RECENT + 1, "what fitted its buffer");
        assert!(
            slow.recv().is_err(),
            "then its stream ends (the browser reconnects)"
        );
        drop(fast);
        feed.publish(What::Reset);
        assert_eq!(feed.subscribers(), 0, "a gone subscriber is dropped");
    }

    #[test]
    fn a_reconnect_gets_what_it_missed_or_a_reset() {
        let mut feed = Feed::default();
        for n in 1..=5 {
            feed.publish(What::Message(id(n)));
        }
        assert_eq!(seqs(&feed.subscribe(Some(3))), [4, 5]);
        assert_eq!(seqs(&feed.subscribe(Some(5))), Vec::<u64>::new());
        assert!(seqs(&feed.subscribe(None)).is_empty());
        let restarted = feed.subscribe(Some(99)).try_recv().unwrap();
        assert_eq!(restarted.what, What::Reset);
        for n in 0..RECENT as u32 {
            feed.publish(What::Message(id(n)));
        }
        let gone = feed.subscribe(Some(2)).try_iter().collect::<Vec<_>>();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].what, What::Reset);
        assert_eq!(gone[0].seq, 5 + RECENT as u64);
        let kept = seqs(&feed.subscribe(Some(6)));
        assert_eq!(kept.len(), RECENT - 1);
    }
}
