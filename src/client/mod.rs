//! The hand-written SMTP client the delivery workers use: connect, greeting, EHLO (HELO
//! fallback), STARTTLS or implicit TLS, AUTH PLAIN/LOGIN, then transactions (see
//! `transaction`), RSET and QUIT. Blocking streams, one timeout per step, and every step
//! written to a `Record`. The protocol runs over any stream (`wire::Transport`); opening it
//! and TLS are the `Dialer`'s (`dial`), so tests can script the server in memory (`script`).

pub mod command;
pub mod dane;
pub mod dial;
pub mod halt;
#[cfg(test)]
pub(crate) mod script;
pub mod tls;
mod transaction;
pub mod verify;
pub(crate) mod wire;

#[cfg(test)]
mod tests;

pub use crate::smtp::extensions::{AuthMechanism, Extensions};
pub use crate::transcript::{Failure, FailureKind, Record, StepKind};
pub use dial::{Dialer, Network};
pub use tls::{Check, Secure, TlsPolicy};

use crate::config::{RelayAuth, RelayConfig, Timeouts};
use crate::smtp::reply::Reply;
use crate::smtp::{Address, MailParams, Notify, Orcpt, ReversePath};
use crate::time::Timestamp;
use crate::transcript::tls::{Demand, TlsState};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use wire::{Conn, Transport};

/// Login data for a relay. Its Debug output hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// Tried first when the server offers it; otherwise PLAIN, then LOGIN.
    pub mechanism: Option<AuthMechanism>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"****")
            .field("mechanism", &self.mechanism)
            .finish()
    }
}

impl Credentials {
    /// The credentials a `[relay:NAME]` section asks for; `None` for `auth = none`.
    pub fn for_relay(relay: &RelayConfig) -> Option<Credentials> {
        let mechanism = match relay.auth {
            RelayAuth::None => return None,
            RelayAuth::Plain => AuthMechanism::Plain,
            RelayAuth::Login => AuthMechanism::Login,
        };
        Some(Credentials {
            username: relay.username.clone(),
            password: relay.password.clone(),
            mechanism: Some(mechanism),
        })
    }
}

/// How to talk to one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// Our name in EHLO/HELO (an IP address is sent as an address literal).
    pub helo_name: String,
    pub timeouts: Timeouts,
    /// The TLS asked of the server, and what its certificate must prove.
    pub tls: Secure,
    /// Log in after EHLO (relays only).
    pub auth: Option<Credentials>,
}

/// One message for several recipients at one destination.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingMessage<'a> {
    pub sender: &'a ReversePath,
    /// BODY, SMTPUTF8, RET and ENVID are used; SIZE is computed from `content`.
    pub params: &'a MailParams,
    pub recipients: &'a [RecipientOut],
    /// The message with CRLF line ends, not dot-stuffed.
    pub content: &'a [u8],
}

/// A recipient with its DSN parameters (sent only when the server offers DSN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientOut {
    pub address: Address,
    pub notify: Option<Notify>,
    pub orcpt: Option<Orcpt>,
}

/// What happened to one transaction that ran to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionResult {
    /// The reply to each RCPT, in the order of `OutgoingMessage::recipients`.
    pub recipients: Vec<Reply>,
    /// The reply after the final dot (it applies to every accepted recipient); `None` when no
    /// recipient was accepted and no data was sent.
    pub data: Option<Reply>,
}

/// An open SMTP connection, greeted, introduced, encrypted and logged in as asked.
pub struct Client {
    conn: Conn,
    ext: Extensions,
    timeouts: Timeouts,
    helo_name: String,
    /// False once a timeout, a drop or a protocol error left the conversation in an unknown
    /// state: the connection must not be used again.
    usable: bool,
    /// The names the server gave itself: the first word of its greeting and of each EHLO
    /// (or HELO) reply (a loop check compares them with ours).
    names: Vec<String>,
    /// How the connection travels, once STARTTLS is decided (see `tls_state`).
    tls_state: Option<TlsState>,
    /// Lets a stopping server close the connection (see `halt`).
    watch: Option<halt::Watch>,
}

/// The start of a step: wall-clock time for the record, a monotonic clock for its duration.
struct Timer {
    at: Timestamp,
    start: Instant,
}

impl Timer {
    fn start() -> Timer {
        Timer {
            at: Timestamp::now(),
            start: Instant::now(),
        }
    }
    fn took(&self) -> Duration {
        self.start.elapsed()
    }
}

impl Client {
    /// Connects to `addr` through `dialer` (`host_name` is the MX or relay name, for SNI and
    /// the record; empty when there is none), reads the greeting, says EHLO (HELO when EHLO is
    /// refused), runs STARTTLS as `settings.tls` says (then EHLO again) and logs in when
    /// credentials are set.
    pub fn connect(
        dialer: &dyn Dialer,
        addr: SocketAddr,
        host_name: &str,
        settings: &ClientSettings,
        record: &mut Record,
    ) -> Result<Client, Failure> {
        let stream = dial(dialer, addr, host_name, settings.timeouts.connect, record)?;
        let watch = dialer.watch(&*stream);
        let mut client = Client {
            conn: Conn::new(stream),
            ext: Extensions::default(),
            timeouts: settings.timeouts,
            helo_name: crate::smtp::command::helo_argument(&settings.helo_name),
            usable: true,
            names: Vec::new(),
            tls_state: None,
            watch,
        };
        let result = client.open(dialer, addr, host_name, settings, record);
        if let Err(failure) = result {
            client.abandon(&failure);
            return Err(failure);
        }
        Ok(client)
    }

    fn open(
        &mut self,
        dialer: &dyn Dialer,
        addr: SocketAddr,
        host_name: &str,
        settings: &ClientSettings,
        record: &mut Record,
    ) -> Result<(), Failure> {
        let tls = Handshake {
            dialer,
            name: tls::server_name(host_name, addr),
        };
        if settings.tls.mode == TlsPolicy::Implicit {
            self.handshake(&tls, &settings.tls, "implicit TLS", record)?;
        }
        self.greeting(record)?;
        self.hello(record)?;
        self.negotiate_tls(&tls, &settings.tls, record)?;
        if let Some(credentials) = &settings.auth {
            self.authenticate(credentials, record)?;
        }
        Ok(())
    }

    /// After a failed `connect`: a polite QUIT when the server is still listening to us (we do
    /// not wait for its answer); nothing after a STARTTLS injection or a broken connection.
    fn abandon(&mut self, failure: &Failure) {
        let talking = matches!(failure.kind, FailureKind::Reply(_));
        if self.usable && talking {
            let _ = self.conn.write_all(b"QUIT\r\n", Duration::from_secs(1));
        }
        self.usable = false;
    }

    /// Keeps the first word of a greeting or EHLO/HELO reply: the server's name for itself.
    fn note_name(&mut self, reply: &Reply) {
        let first = reply
            .lines
            .first()
            .and_then(|l| l.split_whitespace().next());
        if let Some(name) = first {
            self.names
                .push(name.trim_end_matches('.').to_ascii_lowercase());
        }
    }

    /// The names the server gave itself in its greeting and EHLO/HELO replies, lower-cased.
    pub fn server_names(&self) -> &[String] {
        &self.names
    }

    /// What the server announced in its last EHLO reply (empty after HELO).
    pub fn extensions(&self) -> &Extensions {
        &self.ext
    }

    #[cfg(test)]
    pub fn tls_active(&self) -> bool {
        self.conn.is_tls()
    }

    /// False after a timeout, a dropped connection or a protocol error: do not reuse.
    pub fn is_usable(&self) -> bool {
        self.usable
    }

    /// Before reusing an idle connection: `Err` with what the server said (`421 4.4.2 idle
    /// timeout`) or "closed" when it hung up meanwhile; the client is then unusable.
    pub fn check_idle(&mut self) -> Result<(), String> {
        if !self.usable {
            return Err("no longer usable".into());
        }
        if !self.conn.server_spoke() {
            return Ok(());
        }
        self.usable = false;
        Err(match self.conn.read_reply(Duration::from_millis(200)) {
            Ok(reply) => format!("it said {}", reply.one_line()),
            Err(_) => "it closed the connection".into(),
        })
    }

    /// Records a step that ends with `result`; a reply is returned whatever its code, a
    /// connection failure marks the client unusable.
    fn step(
        &mut self,
        kind: StepKind,
        detail: &str,
        timer: Timer,
        result: Result<Reply, FailureKind>,
        record: &mut Record,
    ) -> Result<Reply, Failure> {
        match result {
            Ok(reply) => {
                let ok = reply.is_positive();
                record.push(
                    kind,
                    timer.at,
                    timer.took(),
                    detail,
                    Some(reply.clone()),
                    ok,
                );
                Ok(reply)
            }
            Err(why) => {
                self.usable = false;
                let text = format!("{detail}: {why}");
                record.push(kind, timer.at, timer.took(), text, None, false);
                Err(Failure::new(kind, why))
            }
        }
    }

    /// Writes one command line and reads its reply within `timeout`.
    fn command(
        &mut self,
        kind: StepKind,
        line: &str,
        detail: &str,
        timeout: Duration,
        record: &mut Record,
    ) -> Result<Reply, Failure> {
        let timer = Timer::start();
        let result = self
            .conn
            .write_all(line.as_bytes(), self.timeouts.command)
            .and_then(|()| self.conn.read_reply(timeout));
        self.step(kind, detail, timer, result, record)
    }

    fn greeting(&mut self, record: &mut Record) -> Result<(), Failure> {
        let timer = Timer::start();
        let result = self.conn.read_reply(self.timeouts.greeting);
        let reply = self.step(StepKind::Greeting, "greeting", timer, result, record)?;
        if reply.code != 220 {
            return Err(Failure::new(StepKind::Greeting, FailureKind::Reply(reply)));
        }
        self.note_name(&reply);
        Ok(())
    }

    /// EHLO, or HELO when EHLO is refused with a 5xx (500/502 from old servers).
    fn hello(&mut self, record: &mut Record) -> Result<(), Failure> {
        let name = self.helo_name.clone();
        let timeout = self.timeouts.command;
        let line = format!("EHLO {name}\r\n");
        let reply = self.command(
            StepKind::Ehlo,
            &line,
            &format!("EHLO {name}"),
            timeout,
            record,
        )?;
        if reply.code == 250 {
            self.ext = Extensions::from_ehlo(&reply);
            self.note_name(&reply);
            return Ok(());
        }
        if !reply.is_permanent() {
            return Err(Failure::new(StepKind::Ehlo, FailureKind::Reply(reply)));
        }
        self.ext = Extensions::default();
        let line = format!("HELO {name}\r\n");
        let reply = self.command(
            StepKind::Helo,
            &line,
            &format!("HELO {name}"),
            timeout,
            record,
        )?;
        if reply.code != 250 {
            return Err(Failure::new(StepKind::Helo, FailureKind::Reply(reply)));
        }
        self.note_name(&reply);
        Ok(())
    }

    /// STARTTLS as the policy says, noting in the record when and why it was not used.
    fn negotiate_tls(
        &mut self,
        tls: &Handshake,
        secure: &Secure,
        record: &mut Record,
    ) -> Result<(), Failure> {
        let offered = self.ext.starttls;
        match secure.mode {
            TlsPolicy::Implicit => return Ok(()),
            TlsPolicy::Never => {
                self.plain(TlsState::Off, offered, record);
                return Ok(());
            }
            TlsPolicy::PlainRetry => {
                self.plain(TlsState::AfterFailedHandshake, offered, record);
                would_refuse(secure, "the handshake failed", record);
                return Ok(());
            }
            TlsPolicy::Opportunistic if !offered => {
                self.plain(TlsState::NotOffered, true, record);
                would_refuse(secure, "the server offers no STARTTLS", record);
                return Ok(());
            }
            TlsPolicy::Opportunistic | TlsPolicy::Required => {}
        }
        if !offered {
            let why = "the server does not offer STARTTLS, which is required for this server";
            let t = Timer::start();
            record.push(StepKind::StartTls, t.at, t.took(), why, None, false);
            return Err(Failure::new(StepKind::StartTls, protocol(why)));
        }
        let timeout = self.timeouts.command;
        let reply = self.command(
            StepKind::StartTls,
            "STARTTLS\r\n",
            "STARTTLS",
            timeout,
            record,
        )?;
        if reply.code != 220 {
            if secure.mode == TlsPolicy::Opportunistic && reply.code != 421 {
                self.plain(TlsState::Refused, true, record);
                would_refuse(secure, "the server refused STARTTLS", record);
                return Ok(());
            }
            return Err(Failure::new(StepKind::StartTls, FailureKind::Reply(reply)));
        }
        if self.conn.has_buffered() {
            self.usable = false;
            let why = "the server sent more after its STARTTLS reply (command injection?); stopped";
            let t = Timer::start();
            record.push(StepKind::StartTls, t.at, t.took(), why, None, false);
            return Err(Failure::new(StepKind::StartTls, protocol(why)));
        }
        self.handshake(tls, secure, "STARTTLS", record)?;
        self.hello(record)
    }

    /// The TLS handshake over the open connection, then the verdict on the certificate: a
    /// failed check ends the attempt, or is only noted when not enforced (MTA-STS testing).
    fn handshake(
        &mut self,
        tls: &Handshake,
        secure: &Secure,
        how: &str,
        record: &mut Record,
    ) -> Result<(), Failure> {
        let timer = Timer::start();
        let request = tls::TlsRequest {
            name: &tls.name,
            ca_file: secure.ca_file.as_deref(),
            strict: secure.enforce && secure.check != Check::Nothing,
        };
        let timeout = self.timeouts.command;
        let peer = match self.conn.start_tls(tls.dialer, &request, timeout) {
            Ok(peer) => peer,
            Err(why) => {
                self.usable = false;
                let text = format!("{how} handshake: {why}");
                record.push_failed(StepKind::StartTls, timer.at, timer.took(), &text);
                return Err(Failure::new(StepKind::StartTls, why));
            }
        };
        let anchor = |i: usize| tls.dialer.vouches(&peer.chain, i, &tls.name);
        let (by, doubt) = match verify::judge(secure, &peer, &tls.name, &anchor) {
            Ok(by) => (by, None),
            Err(why) if !secure.enforce => (None, Some(why)),
            Err(why) => {
                self.usable = false;
                let text = format!("{how}: {why}");
                record.push_failed(StepKind::StartTls, timer.at, timer.took(), &text);
                return Err(Failure::new(StepKind::StartTls, FailureKind::Tls(why)));
            }
        };
        let state = TlsState::Tls {
            demand: secure.demand,
            by,
            version: peer.version,
        };
        self.tls_state = Some(state);
        let detail = match by {
            Some(_) => format!("{how}: {state} for {}", tls.name),
            None => format!("{how}: {state}"),
        };
        record.push_ok(StepKind::StartTls, timer.at, timer.took(), &detail);
        if let Some(why) = doubt {
            would_refuse(secure, &why, record);
        }
        Ok(())
    }

    /// AUTH PLAIN (preferred) or LOGIN, whichever the server offers. Passwords and payloads
    /// never reach the record.
    fn authenticate(&mut self, creds: &Credentials, record: &mut Record) -> Result<(), Failure> {
        let Some(mechanism) =
            crate::smtp::extensions::choose_mechanism(&self.ext.auth, creds.mechanism)
        else {
            let why = format!(
                "the server offers no AUTH PLAIN or LOGIN (offered: {})",
                if self.ext.auth.is_empty() {
                    "none".to_string()
                } else {
                    self.ext.auth.join(" ")
                }
            );
            let t = Timer::start();
            record.push(StepKind::Auth, t.at, t.took(), why.clone(), None, false);
            return Err(Failure::new(StepKind::Auth, protocol(&why)));
        };
        let timeout = self.timeouts.command;
        let reply = match mechanism {
            AuthMechanism::Plain => {
                let line = command::auth_plain(&creds.username, &creds.password);
                self.command(StepKind::Auth, &line, "AUTH PLAIN ****", timeout, record)?
            }
            AuthMechanism::Login => self.auth_login(creds, record)?,
        };
        if reply.code != 235 {
            return Err(Failure::new(StepKind::Auth, FailureKind::Reply(reply)));
        }
        Ok(())
    }

    /// AUTH LOGIN: the user name and the password, each after a 334 challenge.
    fn auth_login(&mut self, creds: &Credentials, record: &mut Record) -> Result<Reply, Failure> {
        let timeout = self.timeouts.command;
        let auth = StepKind::Auth;
        let reply = self.command(auth, "AUTH LOGIN\r\n", "AUTH LOGIN", timeout, record)?;
        if reply.code != 334 {
            return Ok(reply);
        }
        let line = command::auth_login_line(&creds.username);
        let reply = self.command(auth, &line, "AUTH LOGIN user name ****", timeout, record)?;
        if reply.code != 334 {
            return Ok(reply);
        }
        let line = command::auth_login_line(&creds.password);
        self.command(auth, &line, "AUTH LOGIN password ****", timeout, record)
    }

    /// RSET: ends the current transaction. A refusal or an error leaves the client unusable.
    pub fn reset(&mut self, record: &mut Record) -> Result<(), Failure> {
        let timeout = self.timeouts.command;
        let reply = self.command(StepKind::Rset, "RSET\r\n", "RSET", timeout, record)?;
        if reply.code != 250 {
            self.usable = false;
            return Err(Failure::new(StepKind::Rset, FailureKind::Reply(reply)));
        }
        Ok(())
    }

    /// QUIT and close; errors are only recorded.
    pub fn quit(mut self, record: &mut Record) {
        if self.usable {
            let timeout = self.timeouts.command;
            let _ = self.command(StepKind::Quit, "QUIT\r\n", "QUIT", timeout, record);
        }
    }
}

fn protocol(why: &str) -> FailureKind {
    FailureKind::Protocol(why.to_string())
}

/// Under a policy only tested (MTA-STS `testing`): a step saying what enforcing it would
/// have refused.
fn would_refuse(secure: &Secure, why: &str, record: &mut Record) {
    if secure.enforce || !matches!(secure.demand, Demand::MtaSts { .. }) {
        return;
    }
    note(
        record,
        &format!("MTA-STS testing: enforce would refuse this: {why}"),
    );
}

/// A STARTTLS step that did not run, with the reason (the record says "used or not, why").
fn note(record: &mut Record, why: &str) {
    let t = Timer::start();
    record.push(StepKind::StartTls, t.at, t.took(), why, None, true);
}

impl Client {
    /// The connection stays in plain text, for the reason `state` gives; the record says so
    /// when `noted` (a server that offers no STARTTLS to a relay with `tls = none` is no news).
    fn plain(&mut self, state: TlsState, noted: bool, record: &mut Record) {
        if noted {
            note(record, &state.to_string());
        }
        self.tls_state = Some(state);
    }

    /// How this connection travels, once decided (after EHLO and STARTTLS, or the handshake
    /// of implicit TLS).
    pub fn tls_state(&self) -> Option<TlsState> {
        self.tls_state
    }
}

/// What a TLS handshake on this connection needs: who encrypts, and the server's name.
struct Handshake<'a> {
    dialer: &'a dyn Dialer,
    /// For SNI and the certificate check (see `tls::server_name`).
    name: String,
}

/// The connection, within the connect timeout.
fn dial(
    dialer: &dyn Dialer,
    addr: SocketAddr,
    host_name: &str,
    timeout: Duration,
    record: &mut Record,
) -> Result<Box<dyn Transport>, Failure> {
    let timer = Timer::start();
    let name = host_name.trim_end_matches('.');
    let detail = if name.is_empty() {
        addr.to_string()
    } else {
        format!("{addr} ({name})")
    };
    match dialer.connect(addr, timeout) {
        Ok(stream) => {
            record.push_ok(StepKind::Connect, timer.at, timer.took(), &detail);
            Ok(stream)
        }
        Err(e) => {
            let why = wire::io_failure(&e);
            let text = format!("{detail}: {why}");
            record.push_failed(StepKind::Connect, timer.at, timer.took(), &text);
            Err(Failure::new(StepKind::Connect, why))
        }
    }
}
