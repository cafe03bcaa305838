//! The connection loop of one SMTP session: the only code that touches its socket (`Wire`),
//! the TLS acceptor, its registry seat, the read deadlines and the intake. It feeds what it
//! reads to the dialogue (`machine::Session`, pure) and carries out the actions it returns.

mod machine;

use super::Context;
use super::deadline::Deadline;
use super::registry::Seat;
use super::tls::Stream;
use super::wire::{Line, Wire};
use crate::config::Config;
use crate::smtp::data::{DataReceiver, Feed};
use crate::time::Timestamp;
use log::{debug, info};
use machine::{Action, Event, Session};
use native_tls::TlsAcceptor;
use std::collections::VecDeque;
use std::net::{SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

const DATA_CHUNK: usize = 64 * 1024;
const COMMAND_CHUNK: usize = 4 * 1024;

/// Runs a session to its end. `seat` is its place in the registry (freed on return). With
/// `implicit_tls` the TLS handshake comes first (over within `idle_timeout` as a whole); when
/// it fails the session just ends.
pub fn run(stream: TcpStream, peer: SocketAddr, ctx: Arc<Context>, seat: Seat, implicit_tls: bool) {
    let config = ctx.config.get();
    let tls = ctx.tls();
    let _ = stream.set_read_timeout(Some(config.server.idle_timeout));
    let _ = stream.set_write_timeout(Some(config.server.idle_timeout));
    let _ = stream.set_nodelay(true);
    let mut stream = Stream::Plain(stream);
    if implicit_tls {
        let handshake = match &tls {
            Some(acceptor) => stream.start_tls(acceptor, config.server.idle_timeout),
            None => Err("no certificate".into()),
        };
        if let Err(e) = handshake {
            info!("{peer}: {e}");
            return;
        }
    }
    let session = Session::new(config.clone(), peer, implicit_tls, tls.is_some());
    let mut wire = Wire::new(stream, config.server.idle_timeout);
    debug!("session {} from {peer}", seat.key());
    wire.reply(&session.greeting());
    let mut driver = Driver {
        ctx: &ctx,
        seat: &seat,
        config,
        tls,
        wire,
        session,
        content: Vec::new(),
    };
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

/// What the loop holds for one session.
struct Driver<'a> {
    ctx: &'a Context,
    seat: &'a Seat,
    config: Arc<Config>,
    /// The certificate in force when the session started (for STARTTLS).
    tls: Option<Arc<TlsAcceptor>>,
    wire: Wire,
    session: Session,
    /// The message being received (between `ReadData` and `EndData`).
    content: Vec<u8>,
}

impl Driver<'_> {
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
            Action::CheckPipelining => {
                let pipelined = self.wire.unread().len();
                self.wire.discard_unread();
                Event::Pipelined(pipelined)
            }
            Action::StartTls => {
                if self.wire.flush().is_err() {
                    return ControlFlow::Break(());
                }
                let Some(acceptor) = &self.tls else {
                    return ControlFlow::Break(());
                };
                match self.wire.start_tls(acceptor) {
                    Ok(()) => Event::TlsStarted,
                    Err(e) => Event::TlsFailed(e),
                }
            }
            Action::Commit(submission) => {
                let stored = self
                    .ctx
                    .intake
                    .accept(*submission, &self.content, Timestamp::now());
                Event::Committed(stored.map(|env| env.id))
            }
            Action::EndData => {
                self.content = Vec::new();
                self.wire.shrink();
                self.seat.set_in_data(false);
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
        self.seat.set_in_data(true);
        if self.wire.flush().is_err() {
            self.seat.set_in_data(false);
            return ControlFlow::Break(());
        }
        let mut receiver = DataReceiver::new(self.config.server.max_message_size);
        let mut deadline = Deadline::data(Instant::now(), self.config.server.idle_timeout);
        loop {
            match receiver.feed(self.wire.unread(), &mut self.content) {
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
                self.seat.set_in_data(false);
                let stopping = self.stopping();
                return ControlFlow::Continue(Event::ReadEnded { end, stopping });
            }
        }
    }

    fn stopping(&self) -> bool {
        self.ctx.stopping.load(Ordering::SeqCst)
    }
}
