//! The table of open sessions: enforces `max_sessions` and `max_sessions_per_ip` (those in
//! force when a client arrives: a reload that lowers them refuses newcomers, never ends open
//! sessions), and lets a stopping server end idle sessions at once while sessions in DATA
//! finish. Sessions on the local socket sit in the same table (one "address" per user ID), so
//! that the limits, a stop and the count see them too.

use std::collections::HashMap;
use std::net::{IpAddr, Shutdown, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TooManySessions,
    TooManyFromIp,
}

/// Where a session comes from, for `max_sessions_per_ip`: an IP address, or a user of this
/// computer on the local socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    Ip(IpAddr),
    /// A user id, from the local socket (Unix only).
    #[cfg_attr(not(unix), allow(dead_code))]
    User(u32),
}

impl From<IpAddr> for Origin {
    fn from(ip: IpAddr) -> Origin {
        Origin::Ip(ip)
    }
}

/// A session's connection, kept to end its reading side on stop.
pub enum Handle {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl From<TcpStream> for Handle {
    fn from(s: TcpStream) -> Handle {
        Handle::Tcp(s)
    }
}

#[cfg(unix)]
impl From<UnixStream> for Handle {
    fn from(s: UnixStream) -> Handle {
        Handle::Unix(s)
    }
}

impl Handle {
    fn end_reading(&self) {
        let _ = match self {
            Handle::Tcp(s) => s.shutdown(Shutdown::Read),
            #[cfg(unix)]
            Handle::Unix(s) => s.shutdown(Shutdown::Read),
        };
    }
}

struct Entry {
    stream: Handle,
    in_data: Arc<AtomicBool>,
}

#[derive(Default)]
struct Inner {
    per_ip: HashMap<Origin, usize>,
    sessions: HashMap<u64, Entry>,
    next_key: u64,
}

/// `max_sessions` and `max_sessions_per_ip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub total: usize,
    pub per_ip: usize,
}

pub struct Registry {
    inner: Mutex<Inner>,
    emptied: Condvar,
}

/// A place in the table; leaving it (drop) frees the place.
pub struct Seat {
    registry: Arc<Registry>,
    key: u64,
    ip: Origin,
    in_data: Arc<AtomicBool>,
}

impl Seat {
    /// Marks the session as receiving a message (a stop lets it finish).
    pub fn set_in_data(&self, yes: bool) {
        self.in_data.store(yes, Ordering::SeqCst);
    }
    pub fn key(&self) -> u64 {
        self.key
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut inner = self
            .registry
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        inner.sessions.remove(&self.key);
        if let Some(n) = inner.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                inner.per_ip.remove(&self.ip);
            }
        }
        if inner.sessions.is_empty() {
            self.registry.emptied.notify_all();
        }
    }
}

impl Registry {
    pub fn new() -> Arc<Registry> {
        Arc::new(Registry {
            inner: Mutex::default(),
            emptied: Condvar::new(),
        })
    }

    /// Takes a seat for a new session from `ip`, or says which of `limits` is reached.
    /// `stream` is a handle used only to end the session on stop.
    pub fn enter(
        self: &Arc<Self>,
        ip: impl Into<Origin>,
        stream: impl Into<Handle>,
        limits: Limits,
    ) -> Result<Seat, Refusal> {
        let (ip, stream) = (ip.into(), stream.into());
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.sessions.len() >= limits.total {
            return Err(Refusal::TooManySessions);
        }
        let from_ip = inner.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= limits.per_ip {
            return Err(Refusal::TooManyFromIp);
        }
        *inner.per_ip.entry(ip).or_insert(0) += 1;
        let key = inner.next_key;
        inner.next_key += 1;
        let in_data = Arc::new(AtomicBool::new(false));
        inner.sessions.insert(
            key,
            Entry {
                stream,
                in_data: in_data.clone(),
            },
        );
        Ok(Seat {
            registry: self.clone(),
            key,
            ip,
            in_data,
        })
    }

    pub fn count(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sessions
            .len()
    }

    /// Ends the reading side of sessions; with `all == false` only those not in DATA. Their
    /// blocked read returns end-of-file and they say 421 and close.
    pub fn end_sessions(&self, all: bool) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for entry in inner.sessions.values() {
            if all || !entry.in_data.load(Ordering::SeqCst) {
                entry.stream.end_reading();
            }
        }
    }

    /// Waits until no session is left, at most `timeout`. True when empty.
    pub fn wait_empty(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while !inner.sessions.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            inner = self
                .emptied
                .wait_timeout(inner, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn stream() -> TcpStream {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        TcpStream::connect(l.local_addr().unwrap()).unwrap()
    }

    #[test]
    fn limits_total_and_per_ip_and_frees_on_drop() {
        let reg = Registry::new();
        let lim = Limits {
            total: 3,
            per_ip: 2,
        };
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let s1 = reg.enter(a, stream(), lim).unwrap();
        let _s2 = reg.enter(a, stream(), lim).unwrap();
        assert_eq!(
            reg.enter(a, stream(), lim).err(),
            Some(Refusal::TooManyFromIp)
        );
        let _s3 = reg.enter(b, stream(), lim).unwrap();
        assert_eq!(
            reg.enter(b, stream(), lim).err(),
            Some(Refusal::TooManySessions)
        );
        drop(s1);
        assert_eq!(reg.count(), 2);
        assert!(reg.enter(a, stream(), lim).is_ok());
        assert!(!reg.wait_empty(Duration::from_millis(1)));
    }

    #[test]
    fn the_limits_in_force_when_a_client_arrives_apply_and_open_seats_stay() {
        let reg = Registry::new();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let wide = Limits {
            total: 4,
            per_ip: 4,
        };
        let narrow = Limits {
            total: 1,
            per_ip: 1,
        };
        let _s1 = reg.enter(a, stream(), wide).unwrap();
        let _s2 = reg.enter(a, stream(), wide).unwrap();
        // Lowered: both seats stay, a newcomer is refused.
        assert_eq!(
            reg.enter(a, stream(), narrow).err(),
            Some(Refusal::TooManySessions)
        );
        assert_eq!(reg.count(), 2);
        // Raised again: room at once.
        assert!(reg.enter(a, stream(), wide).is_ok());
    }
}
