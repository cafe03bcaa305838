//! The verifier threads: at most as many Argon2 checks at once as the computer has cores, run
//! on a fixed set of threads that keep the hash's working memory through a burst of logins and
//! give it back when the line is empty (rather than leaving ~19 MiB in the allocator arena of
//! every session thread that ever checked a password). Sessions wait in a `Line` until their
//! deadline.

use super::line::Line;
use crate::password::{self, Memory};
use crossbeam_channel::Sender;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// The check was not done by its deadline (too many logins at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

struct Check {
    stored: String,
    password: String,
    answer: Sender<bool>,
}

#[derive(Default)]
struct Shared {
    line: Mutex<Line<Check>>,
    ready: Condvar,
}

impl Shared {
    fn line(&self) -> MutexGuard<'_, Line<Check>> {
        self.line.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How many logins an address failed lately (those that failed more wait behind).
pub type Failures = Arc<dyn Fn(IpAddr) -> u32 + Send + Sync>;

/// The line and the threads that serve it.
pub struct Verifier {
    shared: Arc<Shared>,
}

impl Verifier {
    /// Starts `threads` verifier threads (at least one).
    pub fn start(threads: usize, failures: Failures) -> std::io::Result<Verifier> {
        let shared = Arc::new(Shared::default());
        for i in 0..threads.max(1) {
            let (shared, failures) = (shared.clone(), failures.clone());
            std::thread::Builder::new()
                .name(format!("verifier-{i}"))
                .spawn(move || serve(&shared, &*failures))?;
        }
        Ok(Verifier { shared })
    }

    /// Whether `password` matches `stored` (see `password::verify`), checked in `addr`'s turn;
    /// `Busy` when the answer has not come by `deadline`.
    pub fn verify(
        &self,
        addr: IpAddr,
        stored: &str,
        password: &str,
        deadline: Instant,
    ) -> Result<bool, Busy> {
        let (answer, answered) = crossbeam_channel::bounded(1);
        let check = Check {
            stored: stored.to_string(),
            password: password.to_string(),
            answer,
        };
        self.shared.line().push(addr, deadline, check);
        self.shared.ready.notify_one();
        answered.recv_deadline(deadline).map_err(|_| Busy)
    }
}

/// One verifier thread: checks in turn; when the line is empty, memory back, then wait.
fn serve(shared: &Shared, failures: &dyn Fn(IpAddr) -> u32) {
    let mut memory = Memory::default();
    loop {
        let next = shared.line().pop(Instant::now(), failures);
        match next {
            Some(check) => {
                let matches = password::verify_with(&check.stored, &check.password, &mut memory);
                // The session may have stopped waiting (its deadline passed meanwhile).
                let _ = check.answer.send(matches);
            }
            None => {
                memory.release();
                let line = shared.line();
                drop(shared.ready.wait_while(line, |line| line.is_empty()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn checks_are_answered_and_a_full_line_answers_busy_at_the_deadline() {
        let verifier = Verifier::start(1, Arc::new(|_| 0)).unwrap();
        let addr: IpAddr = "192.0.2.1".parse().unwrap();
        let later = || Instant::now() + Duration::from_secs(60);
        let hash = password::TEST_HASH;
        assert_eq!(verifier.verify(addr, hash, "s3cret", later()), Ok(true));
        assert_eq!(verifier.verify(addr, hash, "wrong", later()), Ok(false));
        assert_eq!(verifier.verify(addr, "plain", "plain", later()), Ok(true));
        // A deadline already passed: the check is dropped, never run.
        assert_eq!(
            verifier.verify(addr, hash, "s3cret", Instant::now()),
            Err(Busy)
        );
    }
}
