//! One SMTP session: the connection's state (`Connection`), the mail transaction in progress
//! (`Transaction`), the session state machine (`State`, changed only in `Session::transition`
//! and, for the lines of an AUTH exchange, `Session::sasl_step` and `Session::too_long`), and
//! the read-reply loop around them, with the STARTTLS switch.

use super::Context;
use super::auth::{self, MAX_AUTH_LINE};
use super::connection::{Connection, Transaction};
use super::deadline::Deadline;
use super::registry::Seat;
use super::tls::{self, Stream};
use super::wire::{Line, ReadEnd, Wire};
use crate::access;
use crate::config::{BareNewline, Config};
use crate::intake::Submission;
use crate::smtp::CommandError;
use crate::smtp::command::{Command, parse_command};
use crate::smtp::data::{DataReceiver, Feed};
use crate::smtp::reply::Reply;
use crate::smtp::sasl::{self, Exchange, SaslError, Step};
use crate::smtp::{Address, MailParams, RcptParams, ReversePath};
use crate::spool::envelope::{MessageKind, Recipient};
use crate::time::Timestamp;
use log::{debug, info, warn};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with its CRLF.
pub const MAX_COMMAND_LINE: usize = 512;
const DATA_CHUNK: usize = 64 * 1024;
const COMMAND_CHUNK: usize = 4 * 1024;

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
}

/// What the loop does after a command.
enum Next {
    Continue,
    /// Receive the message (354 already queued).
    Data,
    /// STARTTLS accepted: check for pipelined bytes, say 220, do the handshake.
    StartTls,
    Close,
}

pub struct Session {
    ctx: Arc<Context>,
    /// The settings in force when the session started; it keeps them to its end.
    config: Arc<Config>,
    conn: Connection,
    state: State,
}

/// Runs a session to its end. `seat` is its place in the registry (freed on return). With
/// `implicit_tls` the TLS handshake comes first (over within `idle_timeout` as a whole); when
/// it fails the session just ends.
pub fn run(stream: TcpStream, peer: SocketAddr, ctx: Arc<Context>, seat: Seat, implicit_tls: bool) {
    let config = ctx.config.get();
    let _ = stream.set_read_timeout(Some(config.server.idle_timeout));
    let _ = stream.set_write_timeout(Some(config.server.idle_timeout));
    let _ = stream.set_nodelay(true);
    let mut stream = Stream::Plain(stream);
    if implicit_tls {
        let handshake = match &ctx.tls {
            Some(acceptor) => stream.start_tls(acceptor, config.server.idle_timeout),
            None => Err("no certificate".into()),
        };
        if let Err(e) = handshake {
            info!("{peer}: {e}");
            return;
        }
    }
    let relay_allowed = access::in_any(&config.access.relay_from, peer.ip());
    let conn = Connection {
        peer,
        helo: None,
        esmtp: false,
        relay_allowed,
        auth_user: None,
        tls: implicit_tls,
        errors: 0,
    };
    let mut session = Session {
        ctx,
        config,
        conn,
        state: State::Fresh,
    };
    let mut wire = Wire::new(stream, session.config.server.idle_timeout);
    debug!("session {} from {peer}", seat.key());
    wire.reply(&Reply::greeting(&session.config.server.hostname));
    session.dialogue(&mut wire, &seat);
    // Free the place before the last reply goes out: a client that reconnects as soon as it
    // reads 221 must find it free.
    drop(seat);
    let _ = wire.flush();
    debug!("session from {peer} ended");
}

impl Session {
    /// Commands until the session ends. Each command line must be complete by its deadline
    /// (`idle_timeout` after qksmtp became ready for it), however slowly its bytes trickle in.
    fn dialogue(&mut self, wire: &mut Wire, seat: &Seat) {
        let window = self.config.server.idle_timeout;
        let mut deadline = Deadline::command(Instant::now(), window);
        loop {
            let mut answered = false;
            while let Some(line) = wire.next_line(self.line_limit(wire)) {
                answered = true;
                let next = match line {
                    Line::TooLong => self.too_long(wire),
                    Line::Text(text) => self.handle(&text, wire),
                };
                let next = match next {
                    Next::Data => self.receive(wire, seat),
                    Next::StartTls => self.start_tls(wire),
                    other => other,
                };
                if matches!(next, Next::Close) {
                    return;
                }
                if self.conn.errors >= self.config.server.max_errors {
                    warn!("{}: too many errors, closing", self.conn.peer);
                    wire.reply(&Reply::too_many_errors());
                    return;
                }
            }
            if wire.flush().is_err() {
                return;
            }
            if answered {
                deadline = Deadline::command(Instant::now(), window);
            }
            if let Err(end) = wire.fill(COMMAND_CHUNK, &mut deadline) {
                self.ended(wire, end);
                return;
            }
        }
    }

    /// An over-long line is refused; inside AUTH it also ends the exchange.
    fn too_long(&mut self, wire: &mut Wire) -> Next {
        if let State::Auth(_) = self.state {
            self.state = State::Ready;
        }
        self.refuse(wire, Reply::line_too_long())
    }

    /// 512 for commands; lines of an AUTH exchange may be longer (RFC 4954 §4).
    fn line_limit(&self, wire: &Wire) -> usize {
        let unread = wire.unread();
        let auth_command = unread.len() >= 5 && unread[..5].eq_ignore_ascii_case(b"AUTH ");
        if auth_command || matches!(self.state, State::Auth(_)) {
            MAX_AUTH_LINE
        } else {
            MAX_COMMAND_LINE
        }
    }

    /// After `STARTTLS` was accepted (the state is already reset): refuses and closes when
    /// the client pipelined anything after it (CVE-2011-0411 class: such bytes would
    /// otherwise be taken as sent over TLS), else says 220 and does the handshake. A failed
    /// handshake ends the session.
    fn start_tls(&mut self, wire: &mut Wire) -> Next {
        if !wire.unread().is_empty() {
            warn!(
                "{}: {} byte(s) pipelined after STARTTLS; closing",
                self.conn.peer,
                wire.unread().len()
            );
            wire.discard_unread();
            self.refuse(wire, Reply::pipelined_after_starttls());
            return Next::Close;
        }
        wire.reply(&Reply::ready_for_tls());
        if wire.flush().is_err() {
            return Next::Close;
        }
        let Some(acceptor) = self.ctx.tls.clone() else {
            return Next::Close;
        };
        match wire.start_tls(&acceptor) {
            Ok(()) => {
                self.conn.tls = true;
                debug!("{}: STARTTLS done", self.conn.peer);
                Next::Continue
            }
            Err(e) => {
                info!("{}: STARTTLS: {e}", self.conn.peer);
                Next::Close
            }
        }
    }

    fn ended(&self, wire: &mut Wire, end: ReadEnd) {
        match end {
            ReadEnd::Closed if self.ctx.stopping.load(Ordering::SeqCst) => {
                wire.reply(&Reply::shutting_down())
            }
            ReadEnd::Closed => {}
            ReadEnd::TimedOut => {
                info!("{}: timeout (idle or too slow)", self.conn.peer);
                wire.reply(&Reply::idle_timeout());
            }
            ReadEnd::Failed(e) => debug!("{}: read failed: {e}", self.conn.peer),
        }
    }

    /// Queues a refusal and counts it as an error of the session.
    fn refuse(&mut self, wire: &mut Wire, reply: Reply) -> Next {
        self.conn.errors += 1;
        wire.reply(&reply);
        Next::Continue
    }

    /// The state machine: one line in (a command, or an AUTH response), a reply queued.
    fn handle(&mut self, line: &[u8], wire: &mut Wire) -> Next {
        let state = std::mem::replace(&mut self.state, State::Fresh);
        let (state, reply, next) = match state {
            State::Auth(exchange) => self.sasl_step(sasl::respond(exchange, line)),
            state => match parse_command(line) {
                Ok(command) => self.transition(state, command),
                Err(e) => (state, Some(command_error_reply(&e)), Next::Continue),
            },
        };
        self.state = state;
        match reply {
            Some(r) if r.is_permanent() => self.refuse(wire, r),
            Some(r) => {
                wire.reply(&r);
                Next::Continue
            }
            None => Next::Continue,
        };
        next
    }

    fn transition(&mut self, state: State, command: Command) -> (State, Option<Reply>, Next) {
        let host = &self.config.server.hostname;
        match (state, command) {
            // Never reached: `handle` gives AUTH responses to `sasl_step`.
            (State::Auth(_), _) => (State::Ready, None, Next::Continue),
            (_, Command::Ehlo(name)) => {
                let reply = Reply::ehlo(host, &name, &self.extensions());
                self.conn.helo = Some(name);
                self.conn.esmtp = true;
                (State::Ready, Some(reply), Next::Continue)
            }
            (_, Command::Helo(name)) => {
                self.conn.helo = Some(name);
                self.conn.esmtp = false;
                (State::Ready, Some(Reply::helo(host)), Next::Continue)
            }
            (State::Fresh, Command::Mail { .. }) => (
                State::Fresh,
                Some(Reply::bad_sequence("send HELO/EHLO first")),
                Next::Continue,
            ),
            (State::Mail(tx), Command::Mail { .. }) => (
                State::Mail(tx),
                Some(Reply::bad_sequence("nested MAIL command")),
                Next::Continue,
            ),
            (State::Ready, Command::Mail { from, params }) => self.mail(from, params),
            (State::Mail(tx), Command::Rcpt { to, params }) => self.rcpt(tx, to, params),
            (state, Command::Rcpt { .. }) => (
                state,
                Some(Reply::bad_sequence("need MAIL before RCPT")),
                Next::Continue,
            ),
            (State::Mail(tx), Command::Data) if tx.recipients.is_empty() => (
                State::Mail(tx),
                Some(Reply::no_valid_recipients()),
                Next::Continue,
            ),
            (State::Mail(tx), Command::Data) => {
                (State::Mail(tx), Some(Reply::start_data()), Next::Data)
            }
            (state, Command::Data) => (
                state,
                Some(Reply::bad_sequence("need RCPT before DATA")),
                Next::Continue,
            ),
            (State::Fresh, Command::Rset) => (State::Fresh, Some(Reply::ok()), Next::Continue),
            (_, Command::Rset) => (State::Ready, Some(Reply::ok()), Next::Continue),
            (state, Command::Noop) => (state, Some(Reply::ok()), Next::Continue),
            (state, Command::Help) => (state, Some(Reply::help()), Next::Continue),
            (state, Command::Vrfy(_)) => (state, Some(Reply::cannot_verify()), Next::Continue),
            (state, Command::Expn(_)) => (state, Some(Reply::expn_refused()), Next::Continue),
            (state, Command::Quit) => (state, Some(Reply::bye()), Next::Close),
            (state, Command::StartTls) => self.starttls(state),
            (State::Ready, Command::Auth { mechanism, initial }) => {
                match auth::may_start(&self.config, &self.conn) {
                    Ok(()) => self.sasl_step(sasl::start(&mechanism, initial.as_deref())),
                    Err(refusal) => (State::Ready, Some(refusal), Next::Continue),
                }
            }
            (State::Fresh, Command::Auth { .. }) => (
                State::Fresh,
                Some(Reply::bad_sequence("send EHLO first")),
                Next::Continue,
            ),
            (State::Mail(tx), Command::Auth { .. }) => (
                State::Mail(tx),
                Some(Reply::bad_sequence(
                    "AUTH not allowed during a mail transaction",
                )),
                Next::Continue,
            ),
        }
    }

    /// STARTTLS accepted or refused. Accepted, the session starts over (RFC 3207 §4.2): the
    /// HELO/EHLO and any AUTH are forgotten, a new EHLO is needed.
    fn starttls(&mut self, state: State) -> (State, Option<Reply>, Next) {
        if self.ctx.tls.is_none() {
            return (state, Some(Reply::tls_not_available()), Next::Continue);
        }
        if self.conn.tls {
            return (state, Some(Reply::already_tls()), Next::Continue);
        }
        if let State::Mail(_) = state {
            let reply = Reply::bad_sequence("STARTTLS not allowed during a mail transaction");
            return (state, Some(reply), Next::Continue);
        }
        self.conn.helo = None;
        self.conn.esmtp = false;
        self.conn.auth_user = None;
        (State::Fresh, None, Next::StartTls)
    }

    /// One step of an AUTH exchange: a challenge to send, credentials to check, or an error.
    fn sasl_step(&mut self, step: Result<Step, SaslError>) -> (State, Option<Reply>, Next) {
        let reply = match step {
            Ok(Step::Challenge(exchange, text)) => {
                let reply = Reply::auth_challenge(text);
                return (State::Auth(exchange), Some(reply), Next::Continue);
            }
            Ok(Step::Done(creds)) => match auth::check(&self.config.users, &creds) {
                Some(user) => {
                    info!("{}: authenticated as {user}", self.conn.peer);
                    self.conn.auth_user = Some(user);
                    Reply::auth_succeeded()
                }
                None => {
                    warn!("{}: AUTH failed for user {:?}", self.conn.peer, creds.user);
                    Reply::auth_failed()
                }
            },
            Err(e) => auth::sasl_error_reply(e),
        };
        (State::Ready, Some(reply), Next::Continue)
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
            "HELP".into(),
        ];
        if self.ctx.tls.is_some() && !self.conn.tls {
            keywords.push("STARTTLS".into());
        }
        if auth::offered(&self.config, &self.conn) {
            keywords.push(auth::EHLO_KEYWORD.into());
        }
        keywords
    }

    fn mail(&mut self, from: ReversePath, params: MailParams) -> (State, Option<Reply>, Next) {
        if tls::mail_needs_tls(&self.config, &self.conn) {
            return (State::Ready, Some(Reply::tls_required()), Next::Continue);
        }
        if params
            .size
            .is_some_and(|s| s > self.config.server.max_message_size)
        {
            return (State::Ready, Some(Reply::message_too_big()), Next::Continue);
        }
        let tx = Transaction {
            sender: from,
            params,
            recipients: Vec::new(),
        };
        (State::Mail(tx), Some(Reply::sender_ok()), Next::Continue)
    }

    fn rcpt(
        &mut self,
        mut tx: Transaction,
        to: Address,
        params: RcptParams,
    ) -> (State, Option<Reply>, Next) {
        let reply = if to.domain.is_empty() {
            Reply::recipient_needs_domain()
        } else if to.is_utf8() && !tx.params.smtputf8 {
            Reply::non_ascii_address()
        } else if !self.conn.relay_allowed && self.conn.auth_user.is_none() {
            info!("{}: relaying to {to} denied", self.conn.peer);
            Reply::relay_denied()
        } else if tx.recipients.len() >= self.config.server.max_recipients {
            Reply::too_many_recipients()
        } else {
            if !tx.recipients.iter().any(|(a, _)| *a == to) {
                tx.recipients.push((to, params));
            }
            Reply::recipient_ok()
        };
        (State::Mail(tx), Some(reply), Next::Continue)
    }

    /// Receives the message after 354, stores it, answers, and resets the transaction.
    fn receive(&mut self, wire: &mut Wire, seat: &Seat) -> Next {
        let State::Mail(tx) = std::mem::replace(&mut self.state, State::Ready) else {
            return Next::Continue;
        };
        seat.set_in_data(true);
        if wire.flush().is_err() {
            seat.set_in_data(false);
            return Next::Close;
        }
        let limit = self.config.server.max_message_size;
        let mut receiver = DataReceiver::new(limit);
        let mut content = Vec::new();
        let mut deadline = Deadline::data(Instant::now(), self.config.server.idle_timeout);
        let result = loop {
            match receiver.feed(wire.unread(), &mut content) {
                Feed::Done { consumed, result } => {
                    wire.consume(consumed);
                    break result;
                }
                Feed::NeedMore => {
                    let n = wire.unread().len();
                    wire.consume(n);
                }
            }
            if let Err(end) = wire.fill(DATA_CHUNK, &mut deadline) {
                seat.set_in_data(false);
                info!(
                    "{}: DATA not finished ({end:?}); message not accepted",
                    self.conn.peer
                );
                self.ended(wire, end);
                return Next::Close;
            }
        };
        let reply = if result.too_big {
            Reply::message_too_big()
        } else if result.bare_newline && self.config.server.bare_newline == BareNewline::Reject {
            Reply::bare_newline_refused()
        } else {
            let submission = submission(&self.conn, tx);
            match self
                .ctx
                .intake
                .accept(submission, &content, Timestamp::now())
            {
                Ok(env) => Reply::queued(env.id.as_str()),
                Err(e) => {
                    warn!("{}: could not store the message: {e}", self.conn.peer);
                    Reply::storage_failed()
                }
            }
        };
        drop(content);
        wire.shrink();
        seat.set_in_data(false);
        let next = if reply.is_permanent() {
            self.refuse(wire, reply)
        } else {
            wire.reply(&reply);
            Next::Continue
        };
        if self.ctx.stopping.load(Ordering::SeqCst) {
            wire.reply(&Reply::shutting_down());
            return Next::Close;
        }
        next
    }
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
        client_ip: conn.peer.ip(),
        auth_user: conn.auth_user.clone(),
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
mod tests {
    use super::*;

    #[test]
    fn protocol_names_follow_rfc_3848_and_6531() {
        let mut conn = Connection {
            peer: "127.0.0.1:1025".parse().unwrap(),
            helo: None,
            esmtp: false,
            relay_allowed: true,
            auth_user: None,
            tls: false,
            errors: 0,
        };
        assert_eq!(protocol_name(&conn, false), "SMTP");
        conn.esmtp = true;
        assert_eq!(protocol_name(&conn, false), "ESMTP");
        conn.tls = true;
        assert_eq!(protocol_name(&conn, false), "ESMTPS");
        conn.auth_user = Some("alice".into());
        assert_eq!(protocol_name(&conn, false), "ESMTPSA");
        assert_eq!(protocol_name(&conn, true), "UTF8SMTPSA");
        conn.tls = false;
        assert_eq!(protocol_name(&conn, false), "ESMTPA");
    }
}
