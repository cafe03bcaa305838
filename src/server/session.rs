//! The connection loop of one SMTP session: the only code that touches its socket (`Wire`),
//! the TLS acceptor, its registry seat, the read deadlines and the intake. It feeds what it
//! reads to the dialogue (`machine::Session`, pure) and carries out the actions it returns.
//! `run_local` drives the same dialogue over a pipe (`sendmail -bs`).

mod machine;

use super::Context;
use super::deadline::Deadline;
use super::registry::Seat;
use super::tls::{Pipe, Stream};
use super::wire::{Line, Wire};
use crate::config::Config;
use crate::identity::Acceptor;
use crate::intake::Intake;
use crate::intake::content::Content;
use crate::smtp::data::{ChunkReceiver, DataReceiver, Feed};
use crate::spool::envelope::LocalUser;
use crate::time::Timestamp;
use log::{debug, info};
use machine::{Action, Event, Session};
use std::collections::VecDeque;
use std::net::{SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

const DATA_CHUNK: usize = 64 * 1024;
const COMMAND_CHUNK: usize = 4 * 1024;

/// Runs a session to its end. `seat` is its place in the registry (freed on return). With
/// `implicit_tls` the TLS handshake comes first (over within `idle_timeout` as a whole); when
/// it fails the session just ends.
pub fn run(stream: TcpStream, peer: SocketAddr, ctx: Arc<Context>, seat: Seat, implicit_tls: bool) {
    let config = ctx.config.get();
    // The certificate in force when the session starts (a reload may change it).
    let tls = ctx.tls();
    let _ = stream.set_read_timeout(Some(config.server.idle_timeout));
    let _ = stream.set_write_timeout(Some(config.server.idle_timeout));
    let _ = stream.set_nodelay(true);
    let mut stream = Stream::Plain(stream);
    let mut tls_used = None;
    if implicit_tls {
        let handshake = match &tls {
            Some(acceptor) => stream.start_tls(acceptor, config.server.idle_timeout),
            None => Err("no certificate".into()),
        };
        match handshake {
            Ok(used) => tls_used = used,
            Err(e) => {
                info!("{peer}: {e}");
                return;
            }
        }
    }
    let session =
        Session::new(config.clone(), peer, implicit_tls, tls.is_some()).with_tls_used(tls_used);
    debug!("session {} from {peer}", seat.key());
    let around = Around {
        intake: &ctx.intake,
        tls: tls.as_deref(),
        stopping: &ctx.stopping,
        seat: Some(&seat),
    };
    let mut driver = Driver::greet(around, config, stream, session);
    driver.dialogue();
    let mut wire = driver.wire;
    // Free the place before the last reply goes out: a client that reconnects as soon as it
    // reads 221 must find it free. Not when stopping: the server waits for the seats only,
    // and would exit before the 421 went out.
    if ctx.stopping.load(Ordering::SeqCst) {
        let _ = wire.flush();
    }
    drop(seat);
    let _ = wire.flush();
    debug!("session from {peer} ended");
}

/// A local SMTP session on `pipe` (`sendmail -bs`; or `user` on the local socket), through
/// the same dialogue as a network one, as a client on this computer (relaying allowed, no
/// TLS; a pipe has no read deadline, the socket has its own timeouts); accepted messages go to
/// `intake`, which records `user`. On the server's socket, `seated` is its seat in the
/// registry and the server's stopping flag (a stop ends it like a network session).
pub fn run_local(
    config: Arc<Config>,
    intake: &Intake,
    pipe: Pipe,
    user: Option<LocalUser>,
    seated: Option<(&Seat, &AtomicBool)>,
) {
    let session = Session::local(config.clone(), user);
    let alone = AtomicBool::new(false);
    let around = Around {
        intake,
        tls: None,
        stopping: seated.map_or(&alone, |(_, stopping)| stopping),
        seat: seated.map(|(seat, _)| seat),
    };
    let mut driver = Driver::greet(around, config, Stream::Pipe(Box::new(pipe)), session);
    driver.dialogue();
    let _ = driver.wire.flush();
}

/// What a session uses and does not own.
struct Around<'a> {
    intake: &'a Intake,
    tls: Option<&'a Acceptor>,
    /// The server is stopping.
    stopping: &'a AtomicBool,
    /// Its place in the registry (a network session).
    seat: Option<&'a Seat>,
}

/// What the loop holds for one session.
struct Driver<'a> {
    around: Around<'a>,
    config: Arc<Config>,
    wire: Wire,
    session: Session,
    /// The message being received (between `ReadData` or the first `ReadChunk`, and
    /// `EndData`): in memory while small, then in a spool file.
    content: Content,
    /// The BDAT decoder of that message, from its first chunk to `EndData`.
    chunks: Option<ChunkReceiver>,
}

impl<'a> Driver<'a> {
    /// A session on `stream`, its greeting queued.
    fn greet(around: Around<'a>, config: Arc<Config>, stream: Stream, session: Session) -> Self {
        let mut wire = Wire::new(stream, config.server.idle_timeout);
        wire.reply(&session.greeting());
        let content = around.intake.content();
        Driver {
            around,
            config,
            wire,
            session,
            content,
            chunks: None,
        }
    }

    /// Commands until the session ends. Each command line must be complete by its deadline
    /// (`idle_timeout` after qksmtp became ready for it), however slowly its bytes trickle in.
    /// The replies to a pipelined group go out in one write.
    fn dialogue(&mut self) {
        let window = self.config.server.idle_timeout;
        let mut deadline = Deadline::command(Instant::now(), window);
        loop {
            let mut answered = false;
            while let Some(line) = self
                .wire
                .next_line(self.session.line_limit(self.wire.unread()))
            {
                answered = true;
                let event = match &line {
                    Line::TooLong => Event::LineTooLong,
                    Line::Text(text) => Event::Line(text),
                };
                if self.step(event).is_break() {
                    return;
                }
            }
            if self.wire.flush().is_err() {
                return;
            }
            if answered {
                deadline = Deadline::command(Instant::now(), window);
            }
            if let Err(end) = self.wire.fill(COMMAND_CHUNK, &mut deadline) {
                let stopping = self.stopping();
                let _ = self.step(Event::ReadEnded { end, stopping });
                return;
            }
        }
    }

    /// Gives the machine an event and carries out its actions, with the events they lead to,
    /// in order. `Break` when the session is over.
    fn step(&mut self, event: Event) -> ControlFlow<()> {
        let mut actions = VecDeque::from(self.session.handle(event));
        while let Some(action) = actions.pop_front() {
            if let Some(next) = self.carry_out(action)? {
                actions.extend(self.session.handle(next));
            }
        }
        ControlFlow::Continue(())
    }

    /// One action; what came of it, when the machine must hear about it.
    fn carry_out(&mut self, action: Action) -> ControlFlow<(), Option<Event<'static>>> {
        let next = match action {
            Action::Reply(reply) => {
                self.wire.reply(&reply);
                return ControlFlow::Continue(None);
            }
            Action::Close => return ControlFlow::Break(()),
            Action::ReadData => self.read_data()?,
            Action::ReadChunk { size, last } => self.read_chunk(size, last)?,
            Action::SkipChunk(size) => match self.read_exactly(size, false) {
                Ok(()) => return ControlFlow::Continue(None),
                Err(ended) => ended,
            },
            Action::CheckPipelining => {
                let pipelined = self.wire.unread().len();
                self.wire.discard_unread();
                Event::Pipelined(pipelined)
            }
            Action::StartTls => {
                if self.wire.flush().is_err() {
                    return ControlFlow::Break(());
                }
                let Some(acceptor) = self.around.tls else {
                    return ControlFlow::Break(());
                };
                match self.wire.start_tls(acceptor) {
                    Ok(used) => Event::TlsStarted(used),
                    Err(e) => Event::TlsFailed(e),
                }
            }
            Action::Commit(submission) => {
                let stored = self.around.intake.accept_content(
                    *submission,
                    &mut self.content,
                    Timestamp::now(),
                );
                Event::Committed(stored.map(|env| env.id))
            }
            Action::EndData => {
                self.content.reset();
                self.chunks = None;
                self.wire.shrink();
                self.in_data(false);
                Event::DataOver {
                    stopping: self.stopping(),
                }
            }
        };
        ControlFlow::Continue(Some(next))
    }

    /// Sends the 354 (with any replies before it), then receives the message until its end
    /// or the data deadline. `Break` when the 354 could not be sent.
    fn read_data(&mut self) -> ControlFlow<(), Event<'static>> {
        self.in_data(true);
        if self.wire.flush().is_err() {
            self.in_data(false);
            return ControlFlow::Break(());
        }
        let mut receiver = DataReceiver::new(self.config.server.max_message_size);
        let mut deadline = Deadline::data(Instant::now(), self.config.server.idle_timeout);
        loop {
            let fed = receiver.feed(self.wire.unread(), self.content.buffer());
            self.content.settle();
            match fed {
                Feed::Done { consumed, result } => {
                    self.wire.consume(consumed);
                    return ControlFlow::Continue(Event::Body(result));
                }
                Feed::NeedMore => {
                    let n = self.wire.unread().len();
                    self.wire.consume(n);
                }
            }
            if let Err(end) = self.wire.fill(DATA_CHUNK, &mut deadline) {
                self.in_data(false);
                let stopping = self.stopping();
                return ControlFlow::Continue(Event::ReadEnded { end, stopping });
            }
        }
    }

    /// Receives one BDAT chunk into the message. The session counts as in DATA from its
    /// first chunk to `EndData` (a stop lets the transaction finish).
    fn read_chunk(&mut self, size: u64, last: bool) -> ControlFlow<(), Event<'static>> {
        self.in_data(true);
        if let Err(ended) = self.read_exactly(size, true) {
            self.in_data(false);
            return ControlFlow::Continue(ended);
        }
        let max = self.config.server.max_message_size;
        let rx = self.chunks.get_or_insert_with(|| ChunkReceiver::new(max));
        let result = if last {
            rx.finish(self.content.buffer())
        } else {
            rx.result()
        };
        ControlFlow::Continue(Event::Chunk { last, result })
    }

    /// Reads the `size` octets that follow a BDAT line, within a data deadline (as DATA's),
    /// into the message (`keep`) or nowhere. `Err` holds the `ReadEnded` to tell.
    fn read_exactly(&mut self, size: u64, keep: bool) -> Result<(), Event<'static>> {
        let max = self.config.server.max_message_size;
        let mut rx = keep.then(|| self.chunks.get_or_insert_with(|| ChunkReceiver::new(max)));
        let mut left = size;
        let mut deadline = Deadline::data(Instant::now(), self.config.server.idle_timeout);
        loop {
            let unread = self.wire.unread();
            let take = unread
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            if let Some(rx) = rx.as_mut() {
                rx.feed(&unread[..take], self.content.buffer());
                self.content.settle();
            }
            self.wire.consume(take);
            left -= take as u64;
            if left == 0 {
                return Ok(());
            }
            if let Err(end) = self.wire.fill(DATA_CHUNK, &mut deadline) {
                let stopping = self.around.stopping.load(Ordering::SeqCst);
                return Err(Event::ReadEnded { end, stopping });
            }
        }
    }

    fn stopping(&self) -> bool {
        self.around.stopping.load(Ordering::SeqCst)
    }

    /// Marks the session as receiving a message in the registry (a stop lets it finish).
    fn in_data(&self, yes: bool) {
        if let Some(seat) = self.around.seat {
            seat.set_in_data(yes);
        }
    }
}
