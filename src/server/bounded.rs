//! A socket whose reads and writes must all end before one deadline: the TLS handshake is
//! bounded as a whole by `idle_timeout`, so a client trickling it a byte at a time is cut
//! (each read gets only the time left, and none at all once the deadline has passed).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The socket timeout for the next read or write at `now`: the time left before `deadline`,
/// never more than `own` (the socket's own timeout); `None` once the deadline has passed.
pub fn step_timeout(deadline: Instant, now: Instant, own: Option<Duration>) -> Option<Duration> {
    let left = deadline
        .checked_duration_since(now)
        .filter(|d| !d.is_zero())?;
    Some(own.map_or(left, |own| own.min(left)))
}

/// The TCP stream a TLS session runs on, with an optional deadline (set for the handshake).
#[derive(Debug)]
pub struct Bounded {
    tcp: TcpStream,
    deadline: Option<Instant>,
    /// The socket's own read and write timeouts, restored when the deadline is lifted.
    own: (Option<Duration>, Option<Duration>),
}

impl Bounded {
    /// Every read and write on `tcp` from now on must end by `deadline`.
    pub fn new(tcp: TcpStream, deadline: Instant) -> Bounded {
        let own = (
            tcp.read_timeout().ok().flatten(),
            tcp.write_timeout().ok().flatten(),
        );
        Bounded {
            tcp,
            deadline: Some(deadline),
            own,
        }
    }

    /// Ends the deadline (the handshake is over): the socket's own timeouts again.
    pub fn lift(&mut self) {
        self.deadline = None;
        let _ = self.tcp.set_read_timeout(self.own.0);
        let _ = self.tcp.set_write_timeout(self.own.1);
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// Shortens the socket's timeout for the next read (or write) to the time left.
    fn arm(&self, write: bool) -> io::Result<()> {
        let Some(deadline) = self.deadline else {
            return Ok(());
        };
        let own = if write { self.own.1 } else { self.own.0 };
        let left = step_timeout(deadline, Instant::now(), own).ok_or_else(|| {
            io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake took too long")
        })?;
        match write {
            true => self.tcp.set_write_timeout(Some(left)),
            false => self.tcp.set_read_timeout(Some(left)),
        }
    }
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm(false)?;
        self.tcp.read(buf)
    }
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm(true)?;
        self.tcp.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_gets_the_time_left_at_most_its_own_timeout() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let deadline = t0 + s(10);
        let cases = [
            (s(0), None, Some(s(10))),
            (s(0), Some(s(3)), Some(s(3))),
            (s(8), Some(s(3)), Some(s(2))),
            (s(8), None, Some(s(2))),
            (s(10), Some(s(3)), None),
            (s(11), None, None),
        ];
        for (after, own, want) in cases {
            assert_eq!(
                step_timeout(deadline, t0 + after, own),
                want,
                "{after:?} {own:?}"
            );
        }
    }
}
