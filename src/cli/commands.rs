//! The queue commands (`queue`, `show`, `flush`, `retry`, `delete`, `hold`, `release`),
//! `send` and `sendmail -bs` (the local submissions). With the server running (it holds `spool/.lock`) they go through its API, found
//! in `spool/.status`; with it stopped they take the lock and act on the spool directly.
//! `queue` alone reads the spool files in both cases (see `list`).

use crate::cli::sendmail::input::Input;
use crate::cli::sendmail::{self, EX_CANTCREAT, EX_DATAERR, EX_TEMPFAIL, EX_USAGE};
use crate::config::Config;
use crate::config::Live;
use crate::intake::content::IN_MEMORY;
use crate::intake::{Intake, IntakeError, Submission};
use crate::queue::select::Verb;
use crate::server::session;
use crate::server::tls::Pipe;
use crate::smtp::{Body, MailParams, ReversePath};
use crate::spool::Spool;
use crate::spool::envelope::{Envelope, Recipient};
use crate::spool::id::MessageId;
use crate::spool::lock::{self, SpoolLock, StatusFile};
use crate::status::client;
use crate::time::Timestamp;
use std::io::{ErrorKind, Read, Write};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    Show(MessageId),
    Flush,
    Retry(MessageId),
    Delete(MessageId),
    Hold(MessageId),
    Release(MessageId),
}

impl Order {
    fn reads_only(&self) -> bool {
        matches!(self, Order::Show(_))
    }

    /// The API request that carries the order out.
    fn request(&self) -> (&'static str, String) {
        match self {
            Order::Show(id) => ("GET", format!("/api/messages/{id}?format=text")),
            Order::Flush => ("POST", "/api/flush".into()),
            Order::Retry(id) => ("POST", format!("/api/messages/{id}/retry")),
            Order::Delete(id) => ("POST", format!("/api/messages/{id}/delete")),
            Order::Hold(id) => ("POST", format!("/api/messages/{id}/hold")),
            Order::Release(id) => ("POST", format!("/api/messages/{id}/release")),
        }
    }
}

/// Carries out a queue command; returns the exit code (0 done, 1 not found or refused).
pub fn run(config: &Config, order: Order) -> u8 {
    let dir = &config.server.spool_dir;
    match who_holds(dir) {
        Ok(Holder::Stopped(held)) => offline(dir, &order, Some(held)),
        Ok(Holder::Running(status)) => online(dir, &status, &order),
        Ok(Holder::NoApi) if order.reads_only() => offline(dir, &order, None),
        Ok(Holder::NoApi) => {
            eprintln!("qksmtp: {NO_API}");
            1
        }
        Err(e) => {
            eprintln!("qksmtp: {e}");
            1
        }
    }
}

/// Who has the spool, which says how a command changes it.
pub(crate) enum Holder {
    /// The server is stopped: we hold its lock now, and change the files ourselves.
    Stopped(SpoolLock),
    /// The server runs: through its API.
    Running(StatusFile),
    /// The server runs without its API: the spool cannot be changed.
    NoApi,
}

pub(crate) const NO_API: &str = "the server is running without its status API (status_listen is off): \
     stop it to change the spool, or set [server] status_listen";

/// Finds who has the spool (the lock file tells whether the server runs); the error is the
/// line to print.
pub(crate) fn who_holds(dir: &Path) -> Result<Holder, String> {
    if !dir.is_dir() {
        return Err(format!("the spool {} does not exist yet", dir.display()));
    }
    match lock::try_lock(dir) {
        Ok(Some(mut held)) => {
            let _ = held.claim(false);
            Ok(Holder::Stopped(held))
        }
        Ok(None) => Ok(StatusFile::read(dir).map_or(Holder::NoApi, Holder::Running)),
        Err(e) => Err(format!("cannot lock the spool {}: {e}", dir.display())),
    }
}

fn online(dir: &Path, status: &StatusFile, order: &Order) -> u8 {
    let (method, path) = order.request();
    match client::call(status, method, &path) {
        Ok((200, body)) => {
            match order {
                Order::Show(_) => print!("{body}"),
                Order::Flush => println!("qksmtp: every waiting message is due now"),
                Order::Retry(id) => println!("qksmtp: {id}: trying its waiting recipients now"),
                Order::Delete(id) => println!("qksmtp: {id}: deleted"),
                Order::Hold(id) => println!("qksmtp: {id}: held"),
                Order::Release(id) => println!("qksmtp: {id}: released"),
            }
            0
        }
        Ok((404, _))
            if let Order::Show(id) = order
                && let Some(text) = crate::cli::history::show(dir, id, Timestamp::now()) =>
        {
            // Finished before the server had read its history back.
            print!("{text}");
            0
        }
        Ok((code, body)) => {
            eprintln!(
                "qksmtp: the server refused ({code}): {}",
                client::error_text(&body)
            );
            1
        }
        Err(e) if order.reads_only() => {
            eprintln!(
                "qksmtp: the status API at {} does not answer ({e}); reading the spool",
                status.addr
            );
            offline(dir, order, None)
        }
        Err(e) => {
            eprintln!(
                "qksmtp: the server holds the spool but its API at {} does not answer: {e}",
                status.addr
            );
            1
        }
    }
}

/// `qksmtp queue`: every message of the spool, printed a chunk at a time as the envelopes are
/// read, in the directory's order (oldest first within a chunk): the first lines at once,
/// whatever the spool's size, as `mailq` does; then the count and the damage.
/// The same files, the same way, whether the server runs or not: the spool files are the
/// truth (the server rewrites an envelope before it acts on a result), they are read without
/// the lock (each is replaced by a rename, so a read sees the old or the new one whole), and
/// a listing of every message through the API would make the scheduler thread build pages of
/// a queue that changes between them. What the files do not say is which recipients are in
/// a connection this very moment (the status page shows that). Returns the exit code.
pub fn list(config: &Config) -> u8 {
    let dir = &config.server.spool_dir;
    if !dir.is_dir() {
        println!(
            "the spool {} does not exist yet: no messages",
            dir.display()
        );
        return 0;
    }
    let now = Timestamp::now();
    let read = Spool::open(dir).and_then(|spool| {
        let out = std::io::stdout();
        let (mut messages, mut pending) = (0, 0);
        // Once the reader is gone (`qksmtp queue | head`), the rest is counted, not printed.
        let mut printing = Ok(());
        let scan = spool.read_streamed(|chunk| {
            chunk.sort_by(|a, b| a.id.cmp(&b.id));
            messages += chunk.len();
            pending += chunk.iter().map(|e| e.pending().count()).sum::<usize>();
            if printing.is_ok() {
                let text = crate::cli::listing::render_envelopes(chunk, now);
                let mut out = out.lock();
                printing = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            }
            chunk.clear();
        })?;
        let end = crate::cli::listing::render_end(messages, pending, &scan);
        Ok(printing.and_then(|()| out.lock().write_all(end.as_bytes())))
    });
    match read {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("qksmtp: cannot read the spool {}: {e}", dir.display());
            1
        }
    }
}

/// The server is stopped: read or change the spool files (holding the lock to change them).
fn offline(dir: &Path, order: &Order, _lock: Option<SpoolLock>) -> u8 {
    let spool = match Spool::open(dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("qksmtp: cannot open the spool {}: {e}", dir.display());
            return 1;
        }
    };
    let now = Timestamp::now();
    let ids: Vec<MessageId> = match order {
        Order::Flush => match spool.scan(false) {
            Ok(scan) => scan.envelopes.into_iter().map(|e| e.id).collect(),
            Err(e) => {
                eprintln!("qksmtp: cannot read the spool: {e}");
                return 1;
            }
        },
        Order::Show(id)
        | Order::Retry(id)
        | Order::Delete(id)
        | Order::Hold(id)
        | Order::Release(id) => {
            vec![id.clone()]
        }
    };
    let mut writer = spool.state_writer();
    for id in &ids {
        if let Err(message) = apply_offline(dir, &spool, &mut writer, id, order, now) {
            eprintln!("qksmtp: {message}");
            return 1;
        }
    }
    match order {
        Order::Flush => println!("qksmtp: {} message(s) due at the next start", ids.len()),
        Order::Retry(id) => println!("qksmtp: {id}: due at the next start (the server is stopped)"),
        Order::Delete(id) => println!("qksmtp: {id}: deleted"),
        Order::Hold(id) => println!("qksmtp: {id}: held"),
        Order::Release(id) => println!("qksmtp: {id}: released"),
        Order::Show(_) => {}
    }
    0
}

/// One order on one message of a stopped server's spool.
fn apply_offline(
    dir: &Path,
    spool: &Spool,
    writer: &mut crate::spool::StateWriter,
    id: &MessageId,
    order: &Order,
    now: Timestamp,
) -> Result<(), String> {
    let mut env = match spool.read_envelope(id) {
        Ok(Ok(env)) => env,
        Ok(Err(e)) => return Err(format!("message {id} has a damaged envelope: {e}")),
        Err(_) => {
            if let Order::Show(_) = order
                && let Some(text) = crate::cli::history::show(dir, id, now)
            {
                print!("{text}");
                return Ok(());
            }
            // A finished message: the bytes kept with its history record are erased.
            if let Order::Delete(_) = order
                && crate::queue::journal::locate(dir, id)
                    .ok()
                    .flatten()
                    .is_some_and(|kept| kept.forget().unwrap_or(false))
            {
                println!("qksmtp: {id}: its stored message removed from the history");
                return Ok(());
            }
            return Err(format!(
                "no message {id} in the spool or its history (see the delivery log)"
            ));
        }
    };
    let verb = match order {
        Order::Show(_) => {
            let record = spool.read_record(id).unwrap_or_default();
            print!("{}", crate::cli::listing::render_detail(&env, &record, now));
            return Ok(());
        }
        Order::Delete(_) => Verb::Delete,
        Order::Hold(_) => Verb::Hold,
        Order::Release(_) => Verb::Release,
        Order::Retry(_) | Order::Flush => Verb::Retry,
    };
    crate::cli::bulk::change(writer, &mut env, verb, now)
        .map_err(|e| format!("cannot update {id}: {e}"))
}

/// `qksmtp send`: the message from standard input into the spool, then (server running) into
/// its queue through the API. Returns a sysexits.h code.
pub fn send(config: &Config, args: &[String]) -> u8 {
    let options = match sendmail::parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "qksmtp send: {e}\nusage: qksmtp send [-t] [-f FROM] [-F NAME] [-i|-oi] [RCPT...]"
            );
            return EX_USAGE;
        }
    };
    let limit = config.server.max_message_size;
    let mut input = Input::new(std::io::stdin().lock(), options.ignore_dots, limit);
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".into());
    let default_sender = format!("{user}@{}", config.server.hostname);
    // The header block (what -t, Bcc and From need) in memory; the body streams after it.
    let prepared = input
        .head(IN_MEMORY)
        .and_then(|head| sendmail::prepare_normalized(head, &options, &default_sender));
    let prepared = match prepared {
        Ok(p) => p,
        Err((code, message)) => {
            eprintln!("qksmtp send: {message}");
            return code;
        }
    };
    let dir = &config.server.spool_dir;
    #[cfg(unix)]
    if crate::cli::submit::cannot_write(dir) {
        return through_server(dir, prepared, &mut input, options.verbose);
    }
    let spool = match Spool::open(dir) {
        Ok(spool) => std::sync::Arc::new(spool),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            return through_server(dir, prepared, &mut input, options.verbose);
        }
        Err(e) => {
            eprintln!("qksmtp send: cannot open the spool {}: {e}", dir.display());
            return EX_CANTCREAT;
        }
    };
    let intake = Intake::new(spool, Live::new(config.clone()), None);
    // In memory while small, then in a temporary file of the spool (as an SMTP session's).
    let mut content = intake.content();
    content.buffer().extend_from_slice(&prepared.content);
    content.settle();
    while !input.done {
        if let Err((code, message)) = input.next(content.buffer()) {
            eprintln!("qksmtp send: {message}");
            return code;
        }
        content.settle();
    }
    let eight_bit = input.eight_bit || prepared.content.iter().any(|&b| b >= 0x80);
    let submission = submission(prepared.sender, prepared.recipients, eight_bit);
    // Stopped server: hold the lock while committing, so a starting server waits for us.
    let held = lock_for_commit(dir);
    let env = match intake.accept_content(submission, &mut content, Timestamp::now()) {
        Ok(env) => env,
        Err(e @ IntakeError::TooManyHops(_)) => {
            eprintln!("qksmtp send: not sent: {e} (554 5.4.6 Too many hops)");
            return EX_DATAERR;
        }
        Err(e) => {
            eprintln!("qksmtp send: cannot store the message: {e}");
            return EX_TEMPFAIL;
        }
    };
    if options.verbose {
        eprintln!("qksmtp send: queued as {}", env.id);
    }
    if held.is_none() {
        wake_server(intake.spool(), dir, &env.id);
    }
    0
}

/// `sendmail -bs`: an SMTP session on standard input and output, through the server's own
/// session (limits, replies, DATA and BDAT as on the network), writing the spool as `send`
/// does and telling the running server of each message as it is committed. A user who
/// cannot write the spool gets a session on the server's socket instead.
pub fn smtp_session(config: &Config) -> u8 {
    let dir = &config.server.spool_dir;
    #[cfg(unix)]
    if crate::cli::submit::cannot_write(dir) {
        // Through the server's socket, which records who this user is.
        return crate::cli::submit::relay_session(dir);
    }
    let (tell, told) = crossbeam_channel::unbounded::<Envelope>();
    let (intake, held) = match local_intake(config, Some(tell)) {
        Ok(opened) => opened,
        Err(e) => {
            eprintln!("sendmail -bs: cannot open the spool {}: {e}", dir.display());
            return EX_CANTCREAT;
        }
    };
    let spool = intake.spool().clone();
    let pipe = Pipe {
        input: Box::new(std::io::stdin()),
        output: Box::new(std::io::stdout()),
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for env in told {
                if held.is_none() {
                    wake_server(&spool, dir, &env.id);
                }
            }
        });
        // The intake (and the channel's sending end with it) goes when the session ends.
        session::run_local(
            std::sync::Arc::new(config.clone()),
            &intake,
            pipe,
            None,
            None,
        );
        drop(intake);
    });
    0
}

/// An intake on the spool for a local submission; with the server stopped, also the spool's
/// lock, held while committing so that a starting server waits.
fn local_intake(
    config: &Config,
    tell: Option<crossbeam_channel::Sender<Envelope>>,
) -> std::io::Result<(Intake, Option<SpoolLock>)> {
    let dir = &config.server.spool_dir;
    let spool = Spool::open(dir)?;
    let held = lock_for_commit(dir);
    let intake = Intake::new(std::sync::Arc::new(spool), Live::new(config.clone()), tell);
    Ok((intake, held))
}

/// The spool's lock when the server is stopped (`None` when it runs): held while committing,
/// so that a starting server waits for us.
fn lock_for_commit(dir: &Path) -> Option<SpoolLock> {
    lock::try_lock(dir).ok().flatten().map(|mut held| {
        let _ = held.claim(false);
        held
    })
}

/// `send` by a user who cannot write the spool: through the running server's socket, which
/// records who sent it, the body streamed as it is read. Without a server (or off Unix) one
/// line and EX_TEMPFAIL, so that cron and PHP try again.
fn through_server(
    dir: &Path,
    prepared: sendmail::Prepared,
    input: &mut Input<impl Read>,
    verbose: bool,
) -> u8 {
    // The body's 8-bit bytes are not known before it is sent: BODY=8BITMIME unless it was
    // all read already (the parameter allows 8-bit data, it does not require it).
    let eight_bit = !input.done || input.eight_bit || prepared.content.iter().any(|&b| b >= 0x80);
    let sub = submission(prepared.sender, prepared.recipients, eight_bit);
    #[cfg(unix)]
    let result = crate::cli::submit::through_server(dir, &sub, &prepared.content, input);
    #[cfg(not(unix))]
    let result: Result<String, (u8, String)> = {
        let _ = (sub, input);
        Err((
            EX_TEMPFAIL,
            format!("this user cannot write the spool {}", dir.display()),
        ))
    };
    match result {
        Ok(id) => {
            if verbose {
                eprintln!("qksmtp send: queued as {id} (by the server)");
            }
            0
        }
        Err((code, line)) => {
            eprintln!("qksmtp send: cannot store the message: {line}");
            code
        }
    }
}

/// The envelope side of a `send` message: a local submission from 127.0.0.1.
fn submission(
    sender: Option<crate::smtp::Address>,
    recipients: Vec<crate::smtp::Address>,
    eight_bit: bool,
) -> Submission {
    let utf8 =
        recipients.iter().any(|a| a.is_utf8()) || sender.as_ref().is_some_and(|a| a.is_utf8());
    Submission {
        sender: sender.map_or(ReversePath::Null, ReversePath::Mailbox),
        params: MailParams {
            body: if eight_bit {
                Body::EightBitMime
            } else {
                Body::SevenBit
            },
            smtputf8: utf8,
            ..MailParams::default()
        },
        recipients: recipients
            .into_iter()
            .map(|a| Recipient::new(a, None, None))
            .collect(),
        helo: "localhost".into(),
        client_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        protocol: "local".into(),
        tls: None,
        auth_user: None,
        local_user: None,
        kind: crate::spool::envelope::MessageKind::Mail,
    }
}

/// Tells the running server about a message `send` committed: through its API, else by
/// announcing it in the spool, where the server looks twice a second.
fn wake_server(spool: &Spool, dir: &Path, id: &MessageId) {
    let told = StatusFile::read(dir)
        .and_then(|status| client::call(&status, "POST", &format!("/api/queued/{id}")).ok())
        .is_some_and(|(code, _)| code == 200);
    if !told && let Err(e) = spool.announce(id) {
        eprintln!(
            "qksmtp send: {id} is in the spool, but the server could not be told ({e}); it goes at the server's next start"
        );
    }
}
