//! The hand-over of jobs from the scheduler to the workers: a queue under a mutex with a
//! condition variable. A waiting worker sleeps until a job comes or its timeout passes; it
//! never spins or yields the CPU in a loop first (as a lock-free channel's receiver does,
//! which showed up as `sched_yield` calls on every message).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub struct JobQueue<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
}

/// Why `recv_timeout` brought nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum RecvError {
    Timeout,
    /// Closed and empty.
    Closed,
}

impl<T> Default for JobQueue<T> {
    fn default() -> Self {
        JobQueue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }
}

impl<T> JobQueue<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an item and wakes one waiting receiver; false (item dropped) once closed.
    pub fn send(&self, item: T) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        state.items.push_back(item);
        drop(state);
        self.ready.notify_one();
        true
    }

    /// No more items: receivers get what is queued, then `Closed`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// The next item, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if let Some(item) = state.items.pop_front() {
                return Ok(item);
            }
            if state.closed {
                return Err(RecvError::Closed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RecvError::Timeout);
            }
            state = self
                .ready
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn items_come_out_in_order_then_closed() {
        let q = JobQueue::default();
        assert!(q.send(1));
        assert!(q.send(2));
        q.close();
        assert!(!q.send(3));
        let t = Duration::from_millis(1);
        assert_eq!(q.recv_timeout(t), Ok(1));
        assert_eq!(q.recv_timeout(t), Ok(2));
        assert_eq!(q.recv_timeout(t), Err(RecvError::Closed));
    }

    #[test]
    fn an_empty_queue_times_out() {
        let q: JobQueue<u8> = JobQueue::default();
        assert_eq!(
            q.recv_timeout(Duration::from_millis(1)),
            Err(RecvError::Timeout)
        );
    }

    #[test]
    fn a_waiting_receiver_is_woken() {
        let q = Arc::new(JobQueue::default());
        let rx = q.clone();
        let waiter = std::thread::spawn(move || rx.recv_timeout(Duration::from_secs(60)));
        q.send(7);
        assert_eq!(waiter.join().unwrap(), Ok(7));
    }
}
