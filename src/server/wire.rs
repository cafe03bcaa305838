//! A session's socket with its buffers: command lines in (bounded length), replies out
//! (gathered so that a pipelined group is answered with one write), and raw bytes for DATA.
//! The socket is plain or TLS (`tls::Stream`); STARTTLS switches it in place. Reads end at a
//! `Deadline` (see `deadline`), a flush must be done within the window.

use super::deadline::Deadline;
use super::tls::Stream;
use crate::client::wire::socket_timeout;
use crate::identity::Acceptor;
use crate::smtp::reply::Reply;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// One command line from the client, or the news that it was too long (and was discarded).
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Text(Vec<u8>),
    TooLong,
}

/// An interrupted call, or a socket timeout that may have fired before the deadline.
fn retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The least room offered to a read.
const MIN_ROOM: usize = 1024;

pub struct Wire {
    stream: Stream,
    /// Read bytes are `buf[pos..end]`; `buf[end..]` is room for the next read (initialised
    /// once when the buffer grows, never cleared again before a read).
    buf: Vec<u8>,
    /// Start of the unread part of `buf`.
    pos: usize,
    /// End of what has been read.
    end: usize,
    /// The last read filled all the room it was offered.
    last_full: bool,
    /// Set while skipping the rest of an over-long line.
    discarding: bool,
    out: Vec<u8>,
    /// `idle_timeout`: how long a flush may take.
    window: Duration,
    /// The socket's read and write timeouts as last set here (`None`: unknown). A timeout
    /// is kept while it fits the wait (see `socket_timeout`): one system call per session
    /// rather than one per read and per write.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

/// How a read ended when it brought nothing.
#[derive(Debug)]
pub enum ReadEnd {
    Closed,
    TimedOut,
    Failed(io::Error),
}

impl Wire {
    pub fn new(stream: Stream, window: Duration) -> Wire {
        Wire {
            window,
            stream,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            last_full: false,
            read_timeout: None,
            write_timeout: None,
            discarding: false,
            out: Vec::with_capacity(512),
        }
    }

    /// The next complete line from what has been read (without its CRLF or LF), if any.
    /// A line longer than `max` (counting its CRLF) is discarded and reported once complete.
    pub fn next_line(&mut self, max: usize) -> Option<Line> {
        let unread = &self.buf[self.pos..self.end];
        match unread.iter().position(|&b| b == b'\n') {
            Some(lf) => {
                let end = self.pos + lf;
                let was_discarding = std::mem::take(&mut self.discarding);
                let line = &self.buf[self.pos..end];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let result = if was_discarding || line.len() + 2 > max {
                    Line::TooLong
                } else {
                    Line::Text(line.to_vec())
                };
                self.pos = end + 1;
                Some(result)
            }
            None => {
                if unread.len() > max {
                    self.discarding = true;
                    self.pos = self.end;
                }
                None
            }
        }
    }

    /// Bytes read but not yet consumed.
    pub fn unread(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    pub fn consume(&mut self, n: usize) {
        self.pos += n;
    }

    /// Drops everything read but not consumed (e.g. what was pipelined before TLS started).
    pub fn discard_unread(&mut self) {
        self.pos = self.end;
    }

    /// Reads more from the socket (at least one byte), by `deadline` at the latest, which is
    /// told how much arrived. `chunk` is how much room to offer.
    pub fn fill(&mut self, chunk: usize, deadline: &mut Deadline) -> Result<usize, ReadEnd> {
        if self.pos == self.end {
            (self.pos, self.end) = (0, 0);
        } else if self.pos > self.end / 2 {
            self.buf.copy_within(self.pos..self.end, 0);
            (self.pos, self.end) = (0, self.end - self.pos);
        }
        let start = self.end;
        // The room grows (doubling, up to `chunk`) only when a read filled all of it, so a
        // small message never pays for clearing a big buffer.
        let mut room = self.buf.len() - start;
        if room < MIN_ROOM || (self.last_full && room < chunk) {
            room = (room * 2).max(4 * MIN_ROOM).min(chunk.max(MIN_ROOM));
            self.buf.resize(start + room, 0);
        }
        let room = room.min(chunk);
        let result = loop {
            let Some(left) = deadline.left(Instant::now()) else {
                break Err(io::ErrorKind::TimedOut.into());
            };
            if let Some(t) = socket_timeout(self.read_timeout, left) {
                if let Err(e) = self.stream.set_read_timeout(t) {
                    break Err(e);
                }
                self.read_timeout = Some(t);
            }
            match self.stream.read(&mut self.buf[start..start + room]) {
                // A socket timeout shorter than the deadline: look at the deadline again.
                Err(e) if retry(&e) => continue,
                other => break other,
            }
        };
        match result {
            Ok(0) => Err(ReadEnd::Closed),
            Ok(n) => {
                self.end = start + n;
                self.last_full = n == room;
                deadline.received(n, Instant::now());
                Ok(n)
            }
            Err(e) => match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Err(ReadEnd::TimedOut),
                _ => Err(ReadEnd::Failed(e)),
            },
        }
    }

    /// Releases buffer memory after a big DATA, so idle sessions stay small.
    pub fn shrink(&mut self) {
        if self.buf.len() > 16 * 1024 && self.end - self.pos <= 4 * 1024 {
            self.buf.copy_within(self.pos..self.end, 0);
            (self.pos, self.end) = (0, self.end - self.pos);
            self.buf.truncate(4 * 1024);
            self.buf.shrink_to_fit();
        }
    }

    /// Queues a reply; it goes out at the next `flush`.
    pub fn reply(&mut self, reply: &Reply) {
        reply.write_to(&mut self.out);
    }

    /// Sends the queued replies; all of them must be written within the window (a client
    /// that reads a byte at a time cannot hold the session).
    pub fn flush(&mut self) -> io::Result<()> {
        let deadline = Deadline::command(Instant::now(), self.window);
        let mut sent = 0;
        let result = loop {
            if sent == self.out.len() {
                break Ok(());
            }
            let Some(left) = deadline.left(Instant::now()) else {
                break Err(io::ErrorKind::TimedOut.into());
            };
            if let Some(t) = socket_timeout(self.write_timeout, left) {
                if let Err(e) = self.stream.set_write_timeout(t) {
                    break Err(e);
                }
                self.write_timeout = Some(t);
            }
            match self.stream.write(&self.out[sent..]) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => sent += n,
                Err(e) if retry(&e) => {}
                Err(e) => break Err(e),
            }
        };
        self.out.clear();
        result.and_then(|()| self.stream.flush())
    }

    /// The TLS handshake (after `220 Ready to start TLS` went out). Whatever was read before
    /// it and not consumed is dropped: nothing sent in plain text counts after STARTTLS.
    /// Says the version and cipher agreed, where known.
    pub fn start_tls(
        &mut self,
        acceptor: &Acceptor,
    ) -> Result<Option<crate::identity::TlsUsed>, String> {
        self.discard_unread();
        self.out.clear();
        // The handshake as a whole gets the window (a read deadline may have left the
        // socket with less).
        let _ = self.stream.set_read_timeout(self.window);
        let _ = self.stream.set_write_timeout(self.window);
        // The handshake changes them as it goes.
        (self.read_timeout, self.write_timeout) = (None, None);
        self.stream.start_tls(acceptor, self.window)
    }
}
