//! Session threads kept for reuse: when a session ends, its thread waits a little for the
//! next accepted connection instead of exiting, so a busy server does not create and tear
//! down a thread (stack mapping, signal set-up, a dozen system calls) per connection.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A session to run on some thread.
pub type Work = Box<dyn FnOnce() + Send + 'static>;

/// How long a finished session's thread waits for the next one before it exits.
const IDLE_KEEP: Duration = Duration::from_secs(10);
/// At most this many threads wait; more end at once (a burst does not leave them all).
const MAX_IDLE: usize = 64;

pub struct SessionThreads {
    shared: Arc<Shared>,
    name: String,
    stack: usize,
}

struct Shared {
    state: Mutex<State>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    /// Threads waiting for work.
    idle: usize,
    /// Work handed over but not yet picked up (never more than `idle`).
    queue: VecDeque<Work>,
}

impl SessionThreads {
    pub fn new(name: &str, stack: usize) -> SessionThreads {
        SessionThreads {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                ready: Condvar::new(),
            }),
            name: name.to_string(),
            stack,
        }
    }

    /// Runs `work` on a waiting thread, or on a new one when none waits.
    pub fn run(&self, work: Work) -> io::Result<()> {
        {
            let mut state = self.shared.lock();
            if state.idle > state.queue.len() {
                state.queue.push_back(work);
                self.shared.ready.notify_one();
                return Ok(());
            }
        }
        let shared = self.shared.clone();
        thread::Builder::new()
            .name(self.name.clone())
            .stack_size(self.stack)
            .spawn(move || shared.serve(work))
            .map(drop)
    }

    /// Threads waiting for work now.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.shared.lock().idle
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A thread's life: its first work, then whatever comes while it waits.
    fn serve(&self, first: Work) {
        let mut work = first;
        loop {
            work();
            match self.next() {
                Some(next) => work = next,
                None => return,
            }
        }
    }

    /// Waits up to `IDLE_KEEP` for work; `None` when the thread should end.
    fn next(&self) -> Option<Work> {
        let mut state = self.lock();
        if state.idle >= MAX_IDLE {
            return None;
        }
        state.idle += 1;
        let deadline = Instant::now() + IDLE_KEEP;
        loop {
            if let Some(work) = state.queue.pop_front() {
                state.idle -= 1;
                return Some(work);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                state.idle -= 1;
                return None;
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
    use std::sync::mpsc;

    #[test]
    fn a_finished_thread_takes_the_next_work() {
        let threads = SessionThreads::new("test-session", 64 * 1024);
        let (tx, rx) = mpsc::channel();
        let tx1 = tx.clone();
        threads
            .run(Box::new(move || tx1.send(thread::current().id()).unwrap()))
            .unwrap();
        let first = rx.recv().unwrap();
        // Wait until that thread is idle, then hand over the next work: same thread.
        while threads.idle() == 0 {
            thread::yield_now();
        }
        threads
            .run(Box::new(move || tx.send(thread::current().id()).unwrap()))
            .unwrap();
        assert_eq!(rx.recv().unwrap(), first);
    }

    #[test]
    fn busy_threads_mean_a_new_thread() {
        let threads = SessionThreads::new("test-session", 64 * 1024);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (tx, rx) = mpsc::channel();
        let tx1 = tx.clone();
        threads
            .run(Box::new(move || {
                tx1.send(thread::current().id()).unwrap();
                release_rx.recv().unwrap();
            }))
            .unwrap();
        let first = rx.recv().unwrap();
        threads
            .run(Box::new(move || tx.send(thread::current().id()).unwrap()))
            .unwrap();
        assert_ne!(rx.recv().unwrap(), first);
        release_tx.send(()).unwrap();
    }
}
