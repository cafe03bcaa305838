//! The line of password checks waiting for a verifier thread: client addresses take turns (an
//! address with many logins waiting cannot hold up another), those that failed fewer logins
//! lately first (someone guessing passwords waits behind everyone else), and a check whose
//! deadline has passed is dropped instead of run (its session has answered 454 already).
//! Pure: `now` and the failures of each address are parameters.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

/// Checks `T` waiting, by address.
#[derive(Debug)]
pub struct Line<T> {
    /// Addresses with checks waiting, in turn order (each once).
    turns: VecDeque<IpAddr>,
    waiting: HashMap<IpAddr, VecDeque<(Instant, T)>>,
}

impl<T> Default for Line<T> {
    fn default() -> Self {
        Line {
            turns: VecDeque::new(),
            waiting: HashMap::new(),
        }
    }
}

impl<T> Line<T> {
    /// A check from `addr` that is wanted until `deadline`.
    pub fn push(&mut self, addr: IpAddr, deadline: Instant, check: T) {
        let queue = self.waiting.entry(addr).or_default();
        if queue.is_empty() {
            self.turns.push_back(addr);
        }
        queue.push_back((deadline, check));
    }

    /// The next check to run: the oldest of the address whose turn it is among those with the
    /// fewest `failures`, dropping checks past their deadline on the way.
    pub fn pop(&mut self, now: Instant, failures: impl Fn(IpAddr) -> u32) -> Option<T> {
        loop {
            let first = (0..self.turns.len()).min_by_key(|&i| failures(self.turns[i]))?;
            let addr = self.turns.remove(first)?;
            let Some(queue) = self.waiting.get_mut(&addr) else {
                continue;
            };
            while let Some((deadline, check)) = queue.pop_front() {
                if now < deadline {
                    if queue.is_empty() {
                        self.waiting.remove(&addr);
                    } else {
                        self.turns.push_back(addr);
                    }
                    return Some(check);
                }
            }
            self.waiting.remove(&addr);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.turns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Debug, Clone, Copy)]
    enum Op {
        /// (address, deadline in seconds, check)
        Push(&'static str, u64, u32),
        /// (now in seconds, the check expected)
        Pop(u64, Option<u32>),
        /// The failures of an address, from now on.
        Failures(&'static str, u32),
    }

    #[test]
    fn addresses_take_turns_those_that_failed_last_and_late_checks_are_dropped() {
        use Op::*;
        #[rustfmt::skip]
        let table: &[Op] = &[
            Pop(0, None),
            Push("192.0.2.1", 10, 1), Push("192.0.2.1", 10, 2), Push("192.0.2.1", 10, 3),
            Push("192.0.2.2", 10, 4),
            Pop(0, Some(1)),
            Push("2001:db8::1", 10, 5),  // joins the rotation behind the others
            Pop(0, Some(4)),             // the second address, before 1's second check
            Pop(0, Some(2)),
            Pop(0, Some(5)),
            Pop(0, Some(3)),
            Pop(0, None),
            Push("192.0.2.1", 5, 6), Push("192.0.2.1", 20, 7), Push("192.0.2.2", 5, 8),
            Pop(5, Some(7)),             // 6 is past its deadline: dropped, not run
            Pop(5, None),                // 8 too
            Push("192.0.2.2", 9, 9),     // an address whose checks were all dropped comes back
            Pop(8, Some(9)),
            Pop(8, None),
            Push("192.0.2.1", 10, 10), Push("192.0.2.1", 10, 11), Push("192.0.2.2", 10, 12),
            Failures("192.0.2.1", 2),
            Pop(0, Some(12)),            // fewer failures first
            Push("2001:db8::1", 10, 13), Failures("2001:db8::1", 1),
            Pop(0, Some(13)),
            Push("192.0.2.2", 10, 14), Failures("192.0.2.2", 3),
            Pop(0, Some(10)),
            Pop(0, Some(11)),
            Pop(0, Some(14)),
            Pop(0, None),
        ];
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut line = Line::default();
        let mut failures: HashMap<IpAddr, u32> = HashMap::new();
        for (i, op) in table.iter().enumerate() {
            match *op {
                Push(addr, deadline, check) => {
                    line.push(addr.parse().unwrap(), at(deadline), check)
                }
                Pop(now, expect) => {
                    let counted = |addr| failures.get(&addr).copied().unwrap_or(0);
                    assert_eq!(line.pop(at(now), counted), expect, "row {i}");
                }
                Failures(addr, n) => drop(failures.insert(addr.parse().unwrap(), n)),
            }
        }
        assert!(line.is_empty());
    }
}
