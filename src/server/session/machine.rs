//! The SMTP dialogue as a state machine without sockets: events in (a line, the end of a
//! message, a BDAT chunk read, the intake's answer, the end of a TLS handshake or of the
//! input), actions out (reply, read the message or a chunk, start TLS, commit, close). Each command is checked, then carried
//! out (as OpenSMTPD's `check`/`proceed`); the state changes only in `Session::enter`, which
//! logs `old -> new`. The connection loop (`session.rs`) does the I/O and feeds results back.

use super::super::auth::{self, MAX_AUTH_LINE};
use super::super::connection::{Connection, Transaction};
use super::super::tls;
use super::super::wire::ReadEnd;
use crate::access;
use crate::config::{BareNewline, Config};
use crate::identity::TlsUsed;
use crate::intake::{IntakeError, Submission};
use crate::smtp::CommandError;
use crate::smtp::command::{Command, parse_command};
use crate::smtp::data::DataResult;
use crate::smtp::reply::Reply;
use crate::smtp::sasl::{self, Exchange, SaslError, Step};
use crate::smtp::{Address, MailParams, RcptParams, ReversePath};
use crate::spool::envelope::{LocalUser, MessageKind, Recipient};
use crate::spool::id::MessageId;
use log::{debug, info, warn};
use std::net::SocketAddr;
use std::sync::Arc;

/// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with its CRLF.
pub const MAX_COMMAND_LINE: usize = 512;

/// Where the dialogue is.
enum State {
    /// Greeted; no HELO/EHLO yet.
    Fresh,
    /// HELO/EHLO done, no transaction.
    Ready,
    /// MAIL accepted; recipients being added.
    Mail(Transaction),
    /// Inside AUTH: the next line is the client's answer to a 334 challenge.
    Auth(Exchange),
    /// After 354: the loop is reading the message.
    Data(Transaction),
    /// After a BDAT (RFC 3030): the message comes in chunks; `received` octets announced so
    /// far (the loop holds what they gave).
    Chunks { tx: Transaction, received: u64 },
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Fresh => "fresh",
            State::Ready => "ready",
            State::Mail(_) => "mail",
            State::Auth(_) => "auth",
            State::Data(_) => "data",
            State::Chunks { .. } => "chunks",
        }
    }
}

/// What happened, as the connection loop tells it.
#[derive(Debug)]
pub enum Event<'a> {
    /// A complete line without its line end: a command, or the answer to an AUTH challenge.
    Line(&'a [u8]),
    /// A line longer than `line_limit` (it was discarded).
    LineTooLong,
    /// After `Action::CheckPipelining`: how many bytes came after STARTTLS (already dropped).
    Pipelined(usize),
    /// After `Action::StartTls`: the handshake is done (with this version and cipher, where
    /// the platform tells).
    TlsStarted(Option<TlsUsed>),
    /// After `Action::StartTls`: the handshake failed.
    TlsFailed(String),
    /// After `Action::ReadData`: the message ended with CRLF.CRLF (the loop keeps its content).
    Body(DataResult),
    /// After `Action::ReadChunk`: the chunk was read (the loop keeps its content); the message
    /// so far (complete when `last`).
    Chunk { last: bool, result: DataResult },
    /// After `Action::Commit`: what the intake answered.
    Committed(Result<MessageId, IntakeError>),
    /// After `Action::EndData`: whether the server is stopping, read once DATA was left.
    DataOver { stopping: bool },
    /// The input ended (between commands or inside a message); whether the server is stopping.
    ReadEnded { end: ReadEnd, stopping: bool },
}

/// What the connection loop must do, in order.
#[derive(Debug)]
pub enum Action {
    /// Queue a reply (the queued replies go out together, when the loop runs out of lines).
    Reply(Reply),
    /// Send what is queued (the 354), then read the message: `Event::Body` or `ReadEnded`.
    ReadData,
    /// STARTTLS accepted: drop what the client sent after it and say how much (`Pipelined`).
    CheckPipelining,
    /// Send what is queued (the 220), then do the handshake: `TlsStarted` or `TlsFailed`.
    StartTls,
    /// Read the `size` octets of a BDAT chunk that follow its command line (no reply is due
    /// before them): `Event::Chunk` or `ReadEnded`.
    ReadChunk { size: u64, last: bool },
    /// Read and drop the `size` octets after a refused BDAT: they are on their way anyway
    /// (RFC 3030 §2). Nothing to tell but `ReadEnded`.
    SkipChunk(u64),
    /// Store the message read (the loop holds its content): `Event::Committed`.
    Commit(Box<Submission>),
    /// The message is answered or dropped: leave DATA or BDAT (free its buffers), then
    /// `Event::DataOver`.
    EndData,
    /// End the session (what is queued still goes out).
    Close,
}

/// One session's dialogue. It keeps the settings it started with to its end.
pub struct Session {
    config: Arc<Config>,
    conn: Connection,
    state: State,
    /// A certificate is configured (a TLS acceptor exists): STARTTLS can be offered.
    tls_available: bool,
}

impl Session {
    /// A session with `peer`; `tls` when the connection is TLS from the start.
    pub fn new(config: Arc<Config>, peer: SocketAddr, tls: bool, tls_available: bool) -> Session {
        let relay_allowed = access::in_any(&config.access.relay_from, peer.ip());
        let conn = Connection {
            peer,
            helo: None,
            esmtp: false,
            relay_allowed,
            auth_user: None,
            local_user: None,
            tls,
            tls_used: None,
            errors: 0,
        };
        Session {
            config,
            conn,
            state: State::Fresh,
            tls_available,
        }
    }

    /// A local session (`sendmail -bs`, or `user` on the server's local socket): a program
    /// on this computer, which may send to any domain as `qksmtp send` may.
    pub fn local(config: Arc<Config>, user: Option<LocalUser>) -> Session {
        let peer = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut session = Session::new(config, peer, false, false);
        session.conn.relay_allowed = true;
        session.conn.local_user = user;
        session
    }

    /// The version and cipher of a connection that was TLS from the start (`listen_tls`).
    pub fn with_tls_used(mut self, used: Option<TlsUsed>) -> Session {
        self.conn.tls_used = used;
        self
    }

    pub fn greeting(&self) -> Reply {
        Reply::greeting(&self.config.server.hostname)
    }

    /// The longest line accepted next, given the bytes read and not yet used: 512 for
    /// commands; lines of an AUTH exchange may be longer (RFC 4954 §4).
    pub fn line_limit(&self, unread: &[u8]) -> usize {
        let auth_command = unread.len() >= 5 && unread[..5].eq_ignore_ascii_case(b"AUTH ");
        if auth_command || matches!(self.state, State::Auth(_)) {
            MAX_AUTH_LINE
        } else {
            MAX_COMMAND_LINE
        }
    }

    /// Takes one event, returns what to do. When all it asks is to reply, the event has been
    /// dealt with and the error count is checked (`max_errors` ends the session).
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let from = self.state.name();
        // Taken out to be moved into the next state; `enter` puts the next one in place.
        let state = std::mem::replace(&mut self.state, State::Fresh);
        let mut out = Vec::new();
        let next = self.on(state, event, &mut out);
        self.enter(from, next);
        let only_replies = out
            .iter()
            .all(|a| matches!(a, Action::Reply(_) | Action::SkipChunk(_)));
        if only_replies && self.conn.errors >= self.config.server.max_errors {
            warn!("{}: too many errors, closing", self.conn.peer);
            // The data of a refused BDAT need not be read when the session ends.
            out.retain(|a| matches!(a, Action::Reply(_)));
            out.extend([Action::Reply(Reply::too_many_errors()), Action::Close]);
        }
        out
    }

    /// The one place the state changes.
    fn enter(&mut self, from: &'static str, next: State) {
        if from != next.name() {
            debug!("{}: {from} -> {}", self.conn.peer, next.name());
        }
        self.state = next;
    }

    /// Queues a reply; a permanent refusal counts as an error of the session.
    fn reply(&mut self, reply: Reply, out: &mut Vec<Action>) {
        if reply.is_permanent() {
            self.conn.errors += 1;
        }
        out.push(Action::Reply(reply));
    }

    fn on(&mut self, state: State, event: Event, out: &mut Vec<Action>) -> State {
        match (state, event) {
            (State::Auth(exchange), Event::Line(line)) => {
                self.sasl_step(sasl::respond(exchange, line), out)
            }
            (state, Event::Line(line)) => match parse_command(line) {
                Ok(command) => self.command(state, command, out),
                Err(e) => {
                    self.reply(command_error_reply(&e), out);
                    state
                }
            },
            (state, Event::LineTooLong) => {
                self.reply(Reply::line_too_long(), out);
                // Inside AUTH, an over-long answer also ends the exchange.
                match state {
                    State::Auth(_) => State::Ready,
                    state => state,
                }
            }
            (state, Event::Pipelined(0)) => {
                out.extend([Action::Reply(Reply::ready_for_tls()), Action::StartTls]);
                state
            }
            (state, Event::Pipelined(n)) => {
                warn!(
                    "{}: {n} byte(s) pipelined after STARTTLS; closing",
                    self.conn.peer
                );
                self.reply(Reply::pipelined_after_starttls(), out);
                out.push(Action::Close);
                state
            }
            (state, Event::TlsStarted(used)) => {
                self.conn.tls = true;
                self.conn.tls_used = used;
                debug!("{}: STARTTLS done", self.conn.peer);
                state
            }
            (state, Event::TlsFailed(e)) => {
                info!("{}: STARTTLS: {e}", self.conn.peer);
                out.push(Action::Close);
                state
            }
            (State::Data(tx), Event::Body(result)) => self.body(tx, result, out),
            // Only `ReadData` leads to a body, and it comes with the Data state.
            (state, Event::Body(_)) => state,
            (State::Chunks { tx, received }, Event::Chunk { last, result }) => {
                self.chunk_read(tx, received, last, result, out)
            }
            // Only `ReadChunk` leads to a chunk, and it comes with the Chunks state.
            (state, Event::Chunk { .. }) => state,
            (state, Event::Committed(result)) => {
                let reply = match result {
                    Ok(id) => Reply::queued(id.as_str()),
                    Err(IntakeError::TooManyHops(t)) => {
                        warn!(
                            "{}: refused a message with {} Received: fields (max_hops {})",
                            self.conn.peer, t.hops, t.max
                        );
                        Reply::too_many_hops()
                    }
                    Err(IntakeError::Store(e)) => {
                        warn!("{}: could not store the message: {e}", self.conn.peer);
                        Reply::storage_failed()
                    }
                };
                self.reply(reply, out);
                out.push(Action::EndData);
                state
            }
            (state, Event::DataOver { stopping }) => {
                if stopping {
                    out.extend([Action::Reply(Reply::shutting_down()), Action::Close]);
                }
                state
            }
            (state, Event::ReadEnded { end, stopping }) => {
                self.ended(&state, end, stopping, out);
                state
            }
        }
    }

    /// The input ended: a last word where one is due, then the end.
    fn ended(&mut self, state: &State, end: ReadEnd, stopping: bool, out: &mut Vec<Action>) {
        if let State::Data(_) | State::Chunks { .. } = state {
            info!(
                "{}: DATA not finished ({end:?}); message not accepted",
                self.conn.peer
            );
        }
        match end {
            ReadEnd::Closed if stopping => out.push(Action::Reply(Reply::shutting_down())),
            ReadEnd::Closed => {}
            ReadEnd::TimedOut => {
                info!("{}: timeout (idle or too slow)", self.conn.peer);
                out.push(Action::Reply(Reply::idle_timeout()));
            }
            ReadEnd::Failed(e) => debug!("{}: read failed: {e}", self.conn.peer),
        }
        out.push(Action::Close);
    }

    /// A command: refused by `check` (the state stays, but for BDAT), or carried out by
    /// `proceed`. A command that leaves a BDAT transaction (RSET, EHLO) drops its chunks.
    fn command(&mut self, state: State, command: Command, out: &mut Vec<Action>) -> State {
        let chunking = matches!(state, State::Chunks { .. });
        let next = match self.check(&state, &command) {
            Err(refusal) => {
                self.reply(refusal, out);
                match command {
                    Command::Bdat { size, .. } => {
                        out.push(Action::SkipChunk(size));
                        chunk_refused(state)
                    }
                    _ => state,
                }
            }
            Ok(()) => self.proceed(state, command, out),
        };
        let closing = out.iter().any(|a| matches!(a, Action::Close));
        if chunking && !matches!(next, State::Chunks { .. }) && !closing {
            out.push(Action::EndData);
        }
        next
    }

    /// Whether the command may be carried out now: its place in the dialogue, then the rules.
    fn check(&self, state: &State, command: &Command) -> Result<(), Reply> {
        match (state, command) {
            (State::Fresh, Command::Mail { .. }) => {
                Err(Reply::bad_sequence("send HELO/EHLO first"))
            }
            (State::Mail(_) | State::Chunks { .. }, Command::Mail { .. }) => {
                Err(Reply::bad_sequence("nested MAIL command"))
            }
            (_, Command::Mail { params, .. }) => self.check_mail(params),
            (State::Mail(tx), Command::Rcpt { to, .. }) => self.check_rcpt(tx, to),
            (State::Chunks { .. }, Command::Rcpt { .. }) => {
                Err(Reply::bad_sequence("RCPT after BDAT"))
            }
            (_, Command::Rcpt { .. }) => Err(Reply::bad_sequence("need MAIL before RCPT")),
            (State::Mail(tx), Command::Data) if tx.recipients.is_empty() => {
                Err(Reply::no_valid_recipients())
            }
            (State::Mail(_), Command::Data) => Ok(()),
            // RFC 3030 §2: DATA and BDAT cannot be mixed in one transaction.
            (State::Chunks { .. }, Command::Data) => Err(Reply::bad_sequence(
                "DATA after BDAT in one transaction; send RSET",
            )),
            (_, Command::Data) => Err(Reply::bad_sequence("need RCPT before DATA")),
            (State::Mail(tx), Command::Bdat { .. }) if tx.recipients.is_empty() => {
                Err(Reply::no_valid_recipients())
            }
            (State::Mail(_), Command::Bdat { size, .. }) => self.check_chunk(0, *size),
            (State::Chunks { received, .. }, Command::Bdat { size, .. }) => {
                self.check_chunk(*received, *size)
            }
            (_, Command::Bdat { .. }) => Err(Reply::bad_sequence("need RCPT before BDAT")),
            (state, Command::StartTls) => self.check_starttls(state),
            (State::Fresh, Command::Auth { .. }) => Err(Reply::bad_sequence("send EHLO first")),
            (State::Mail(_) | State::Chunks { .. }, Command::Auth { .. }) => Err(
                Reply::bad_sequence("AUTH not allowed during a mail transaction"),
            ),
            (_, Command::Auth { .. }) => auth::may_start(&self.config, &self.conn),
            _ => Ok(()),
        }
    }

    fn check_mail(&self, params: &MailParams) -> Result<(), Reply> {
        if tls::mail_needs_tls(&self.config, &self.conn) {
            Err(Reply::tls_required())
        } else if params
            .size
            .is_some_and(|s| s > self.config.server.max_message_size)
        {
            Err(Reply::message_too_big())
        } else {
            Ok(())
        }
    }

    fn check_rcpt(&self, tx: &Transaction, to: &Address) -> Result<(), Reply> {
        if to.domain.is_empty() {
            Err(Reply::recipient_needs_domain())
        } else if to.is_utf8() && !tx.params.smtputf8 {
            Err(Reply::non_ascii_address())
        } else if !self.conn.relay_allowed && self.conn.auth_user.is_none() {
            info!("{}: relaying to {to} denied", self.conn.peer);
            Err(Reply::relay_denied())
        } else if tx.recipients.len() >= self.config.server.max_recipients {
            Err(Reply::too_many_recipients())
        } else {
            Ok(())
        }
    }

    /// A BDAT chunk of `size` octets after `received`: refused when the message would pass
    /// `max_message_size` (the octets on the wire; the loop also counts what it stores).
    fn check_chunk(&self, received: u64, size: u64) -> Result<(), Reply> {
        if received.saturating_add(size) > self.config.server.max_message_size {
            Err(Reply::message_too_big())
        } else {
            Ok(())
        }
    }

    fn check_starttls(&self, state: &State) -> Result<(), Reply> {
        if !self.tls_available {
            Err(Reply::tls_not_available())
        } else if self.conn.tls {
            Err(Reply::already_tls())
        } else if let State::Mail(_) | State::Chunks { .. } = state {
            Err(Reply::bad_sequence(
                "STARTTLS not allowed during a mail transaction",
            ))
        } else {
            Ok(())
        }
    }

    /// Carries out a command `check` allowed.
    fn proceed(&mut self, state: State, command: Command, out: &mut Vec<Action>) -> State {
        let host = &self.config.server.hostname;
        let (next, reply) = match (state, command) {
            (_, Command::Ehlo(name)) => {
                let reply = Reply::ehlo(host, &name, &self.extensions());
                self.conn.helo = Some(name);
                self.conn.esmtp = true;
                (State::Ready, reply)
            }
            (_, Command::Helo(name)) => {
                let reply = Reply::helo(host);
                self.conn.helo = Some(name);
                self.conn.esmtp = false;
                (State::Ready, reply)
            }
            (_, Command::Mail { from, params }) => (mail(from, params), Reply::sender_ok()),
            (State::Mail(tx), Command::Rcpt { to, params }) => (
                State::Mail(add_recipient(tx, to, params)),
                Reply::recipient_ok(),
            ),
            (State::Mail(tx), Command::Data) => {
                out.extend([Action::Reply(Reply::start_data()), Action::ReadData]);
                return State::Data(tx);
            }
            (State::Mail(tx), Command::Bdat { size, last }) => {
                out.push(Action::ReadChunk { size, last });
                return State::Chunks { tx, received: size };
            }
            (State::Chunks { tx, received }, Command::Bdat { size, last }) => {
                out.push(Action::ReadChunk { size, last });
                let received = received + size;
                return State::Chunks { tx, received };
            }
            (State::Fresh, Command::Rset) => (State::Fresh, Reply::ok()),
            (_, Command::Rset) => (State::Ready, Reply::ok()),
            (state, Command::Noop) => (state, Reply::ok()),
            (state, Command::Help) => {
                let starttls = self.tls_available && !self.conn.tls;
                let help = Reply::help(starttls, auth::offered(&self.config, &self.conn));
                (state, help)
            }
            (state, Command::Vrfy(_)) => (state, Reply::cannot_verify()),
            (state, Command::Expn(_)) => (state, Reply::expn_refused()),
            (state, Command::Quit) => {
                out.extend([Action::Reply(Reply::bye()), Action::Close]);
                return state;
            }
            (_, Command::StartTls) => return self.starttls(out),
            (_, Command::Auth { mechanism, initial }) => {
                return self.sasl_step(sasl::start(&mechanism, initial.as_deref()), out);
            }
            // RCPT, DATA and BDAT out of place: refused by `check`.
            (state, Command::Rcpt { .. } | Command::Data | Command::Bdat { .. }) => return state,
        };
        self.reply(reply, out);
        next
    }

    /// STARTTLS accepted: the session starts over (RFC 3207 §4.2), the HELO/EHLO and any AUTH
    /// are forgotten and a new EHLO is needed.
    fn starttls(&mut self, out: &mut Vec<Action>) -> State {
        self.conn.helo = None;
        self.conn.esmtp = false;
        self.conn.auth_user = None;
        out.push(Action::CheckPipelining);
        State::Fresh
    }

    /// One step of an AUTH exchange: a challenge to send, credentials to check, or an error.
    fn sasl_step(&mut self, step: Result<Step, SaslError>, out: &mut Vec<Action>) -> State {
        let reply = match step {
            Ok(Step::Challenge(exchange, text)) => {
                self.reply(Reply::auth_challenge(text), out);
                return State::Auth(exchange);
            }
            Ok(Step::Done(creds)) => match auth::check(&self.config, self.conn.peer.ip(), &creds) {
                Ok(user) => {
                    info!("{}: authenticated as {user}", self.conn.peer);
                    self.conn.auth_user = Some(user);
                    Reply::auth_succeeded()
                }
                Err(refusal) => refusal,
            },
            Err(e) => auth::sasl_error_reply(e),
        };
        self.reply(reply, out);
        State::Ready
    }

    /// The EHLO keywords, from the configuration.
    fn extensions(&self) -> Vec<String> {
        let mut keywords = vec![
            "PIPELINING".into(),
            format!("SIZE {}", self.config.server.max_message_size),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
            "ENHANCEDSTATUSCODES".into(),
            "DSN".into(),
            "CHUNKING".into(),
            "HELP".into(),
        ];
        if self.tls_available && !self.conn.tls {
            keywords.push("STARTTLS".into());
        }
        if auth::offered(&self.config, &self.conn) {
            keywords.push(auth::EHLO_KEYWORD.into());
        }
        keywords
    }

    /// The message was read: refused for its size or its line ends, else to be committed.
    fn body(&mut self, tx: Transaction, result: DataResult, out: &mut Vec<Action>) -> State {
        match self.refusal(&result) {
            Some(refusal) => {
                self.reply(refusal, out);
                out.push(Action::EndData);
            }
            None => out.push(Action::Commit(Box::new(submission(&self.conn, tx)))),
        }
        State::Ready
    }

    /// A BDAT chunk was read: the message so far may already be refused (then the rest of
    /// the transaction is; RFC 3030 §2); else the chunk is acknowledged, or after LAST the
    /// message is judged as a DATA one.
    fn chunk_read(
        &mut self,
        tx: Transaction,
        received: u64,
        last: bool,
        result: DataResult,
        out: &mut Vec<Action>,
    ) -> State {
        if last {
            return self.body(tx, result, out);
        }
        if let Some(refusal) = self.refusal(&result) {
            self.reply(refusal, out);
            out.push(Action::EndData);
            return State::Ready;
        }
        self.reply(Reply::chunk_received(received), out);
        State::Chunks { tx, received }
    }

    /// Why a message read (or its part so far) is refused: size, then line ends.
    fn refusal(&self, result: &DataResult) -> Option<Reply> {
        if result.too_big {
            Some(Reply::message_too_big())
        } else if result.bare_newline && self.config.server.bare_newline == BareNewline::Reject {
            Some(Reply::bare_newline_refused())
        } else {
            None
        }
    }
}

/// A refused BDAT fails its transaction (RFC 3030 §2: the state is then undefined until
/// RSET; here the transaction is gone and later BDATs are refused as out of place).
fn chunk_refused(state: State) -> State {
    match state {
        State::Mail(_) | State::Chunks { .. } => State::Ready,
        state => state,
    }
}

fn mail(sender: ReversePath, params: MailParams) -> State {
    State::Mail(Transaction {
        sender,
        params,
        recipients: Vec::new(),
    })
}

/// A recipient given twice is kept once.
fn add_recipient(mut tx: Transaction, to: Address, params: RcptParams) -> Transaction {
    if !tx.recipients.iter().any(|(a, _)| *a == to) {
        tx.recipients.push((to, params));
    }
    tx
}

/// What the intake needs to know of a finished transaction and the session it came in.
fn submission(conn: &Connection, tx: Transaction) -> Submission {
    Submission {
        protocol: protocol_name(conn, tx.params.smtputf8),
        sender: tx.sender,
        params: tx.params,
        recipients: tx
            .recipients
            .into_iter()
            .map(|(address, p)| Recipient::new(address, p.notify, p.orcpt))
            .collect(),
        helo: conn.helo.clone().unwrap_or_else(|| "unknown".into()),
        tls: conn.tls_used,
        client_ip: conn.peer.ip(),
        auth_user: conn.auth_user.clone(),
        local_user: conn.local_user.clone(),
        kind: MessageKind::Mail,
    }
}

/// The `with` keyword of the Received header (RFC 3848, RFC 6531).
fn protocol_name(conn: &Connection, smtputf8: bool) -> String {
    let base = match (smtputf8, conn.esmtp) {
        (true, _) => "UTF8SMTP",
        (false, true) => "ESMTP",
        (false, false) => "SMTP",
    };
    let tls = if conn.tls { "S" } else { "" };
    let auth = if conn.auth_user.is_some() { "A" } else { "" };
    format!("{base}{tls}{auth}")
}

/// The standard reply for each way a command line can be wrong.
fn command_error_reply(e: &CommandError) -> Reply {
    match e {
        CommandError::Unrecognized => Reply::unrecognized(),
        CommandError::Syntax(what) => Reply::syntax(what),
        CommandError::BadSender => Reply::bad_sender_syntax(),
        CommandError::BadRecipient => Reply::bad_recipient_syntax(),
        CommandError::UnknownParameter(name) => Reply::unknown_parameter(name),
        CommandError::NonAscii => Reply::non_ascii_address(),
    }
}

#[cfg(test)]
mod tests;
