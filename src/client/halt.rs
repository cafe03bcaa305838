//! Stopping the deliveries in flight when the server stops: every open connection is
//! watched, and `Halt::stop` closes at once those that have not sent a message's final dot
//! (a blocked read or write then returns), leaving those waiting for the reply to their dot.

use super::dial::Dialer;
use super::tls::{Peer, TlsRequest};
use super::wire::Transport;
use crate::transcript::FailureKind;
use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The watched connections of all workers.
#[derive(Default)]
pub struct Halt {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    stopping: bool,
    next: u64,
    open: HashMap<u64, Watched>,
}

struct Watched {
    /// A second handle on the connection's socket (the same file descriptor).
    socket: TcpStream,
    /// The final dot is on its way or sent, and its reply not read yet.
    committed: bool,
}

/// One watched connection; dropping it stops the watch.
pub struct Watch {
    halt: Arc<Halt>,
    id: u64,
}

impl Halt {
    pub fn new() -> Arc<Halt> {
        Arc::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Watches `socket`; one opened after `stop` is closed at once.
    pub fn watch(self: &Arc<Self>, socket: TcpStream) -> Watch {
        let mut state = self.state();
        if state.stopping {
            let _ = socket.shutdown(Shutdown::Both);
        }
        state.next += 1;
        let id = state.next;
        let committed = false;
        state.open.insert(id, Watched { socket, committed });
        Watch {
            halt: self.clone(),
            id,
        }
    }

    /// From now on no message's data ends: closes every watched connection that has not
    /// committed its final dot; returns how many it closed.
    pub fn stop(&self) -> usize {
        let mut state = self.state();
        state.stopping = true;
        let mut closed = 0;
        for w in state.open.values().filter(|w| !w.committed) {
            let _ = w.socket.shutdown(Shutdown::Both);
            closed += 1;
        }
        closed
    }

    pub fn is_stopping(&self) -> bool {
        self.state().stopping
    }

    /// Connections that sent a final dot and have not read its reply yet.
    pub fn awaiting_reply(&self) -> usize {
        self.state().open.values().filter(|w| w.committed).count()
    }
}

impl Watch {
    /// Before the final dot goes out: false (send nothing more) when the server stops.
    pub fn commit(&self) -> bool {
        let mut state = self.halt.state();
        let stopping = state.stopping;
        if let Some(w) = state.open.get_mut(&self.id) {
            w.committed = !stopping;
        }
        !stopping
    }

    /// The reply to the final dot was read (or will never be).
    pub fn settle(&self) {
        if let Some(w) = self.halt.state().open.get_mut(&self.id) {
            w.committed = false;
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.halt.state().open.remove(&self.id);
    }
}

/// A dialer whose TCP connections `halt` watches.
pub struct Halting {
    pub dialer: Arc<dyn Dialer>,
    pub halt: Arc<Halt>,
}

impl Dialer for Halting {
    fn connect(&self, addr: SocketAddr, timeout: Duration) -> io::Result<Box<dyn Transport>> {
        self.dialer.connect(addr, timeout)
    }

    fn start_tls(
        &self,
        plain: Box<dyn Transport>,
        request: &TlsRequest,
    ) -> Result<(Box<dyn Transport>, Peer), FailureKind> {
        self.dialer.start_tls(plain, request)
    }

    fn vouches(&self, chain: &[Vec<u8>], anchor: usize, name: &str) -> Result<(), String> {
        self.dialer.vouches(chain, anchor, name)
    }

    fn watch(&self, stream: &dyn Transport) -> Option<Watch> {
        stream.socket().map(|s| self.halt.watch(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A connected pair: (our side, the server's side).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (ours, listener.accept().unwrap().0)
    }

    /// Reads from `s` (blocking); 0 means the connection was closed under it.
    fn read(mut s: &TcpStream) -> usize {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.read(&mut [0u8; 8]).unwrap_or(0)
    }

    #[test]
    fn stop_closes_what_has_not_committed_its_dot_and_leaves_what_has() {
        let halt = Halt::new();
        let (greeting, _server1) = pair();
        let (after_dot, server2) = pair();
        let _w1 = halt.watch(greeting.try_clone().unwrap());
        let w2 = halt.watch(after_dot.try_clone().unwrap());
        assert!(w2.commit());
        let blocked = std::thread::spawn(move || read(&greeting));
        assert_eq!(halt.stop(), 1);
        assert_eq!(blocked.join().unwrap(), 0, "the blocked read returns");
        assert!(halt.is_stopping());
        assert_eq!(halt.awaiting_reply(), 1);
        (&server2).write_all(b"250 ok\r\n").unwrap();
        assert_eq!(
            read(&after_dot),
            8,
            "the committed one still reads its reply"
        );
        w2.settle();
        assert_eq!(halt.awaiting_reply(), 0);
    }

    #[test]
    fn after_stop_nothing_commits_and_new_connections_close_at_once() {
        let halt = Halt::new();
        let (open, _server) = pair();
        let w = halt.watch(open.try_clone().unwrap());
        halt.stop();
        assert!(!w.commit());
        let (late, _server2) = pair();
        let _w2 = halt.watch(late.try_clone().unwrap());
        assert_eq!(read(&late), 0);
        drop((w, _w2));
        assert!(halt.state().open.is_empty(), "a dropped watch is forgotten");
    }
}
