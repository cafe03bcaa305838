//! Intake: every way in (SMTP sessions, `qksmtp send`, the notices qksmtp writes itself) hands
//! its message to one `Intake`, which prepares it (`message`: Received, Message-ID and Date,
//! a header/body separator where there is none), seals it (the place where signing goes),
//! commits message and envelope durably, and only then tells the scheduler.

pub mod message;

use crate::config::Live;
use crate::smtp::{MailParams, ReversePath};
use crate::spool::Spool;
use crate::spool::envelope::{Envelope, MessageKind, Recipient};
use crate::time::Timestamp;
use crossbeam_channel::Sender;
use log::info;
use message::{Prepared, TooManyHops, Trace};
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;

/// Everything about a message to accept except its content.
#[derive(Debug, Clone)]
pub struct Submission {
    pub sender: ReversePath,
    pub params: MailParams,
    pub recipients: Vec<Recipient>,
    /// The HELO/EHLO name of whoever handed it over (our own name for notices).
    pub helo: String,
    pub client_ip: IpAddr,
    pub auth_user: Option<String>,
    /// The `with` keyword of the Received header (`ESMTPSA`, `local`...).
    pub protocol: String,
    pub kind: MessageKind,
}

/// Why the intake did not take a message.
#[derive(Debug)]
pub enum IntakeError {
    /// A mail loop: more `Received:` fields than `max_hops` (`554 5.4.6`, never retried).
    TooManyHops(TooManyHops),
    /// The spool could not store it (try again later).
    Store(io::Error),
}

impl fmt::Display for IntakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntakeError::TooManyHops(t) => write!(
                f,
                "the message has passed through {} mail servers (more than max_hops = {}): \
                 a mail loop",
                t.hops, t.max
            ),
            IntakeError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for IntakeError {}

/// The one way into the spool. Cheap to clone; every clone commits to the same spool.
#[derive(Clone)]
pub struct Intake {
    spool: Arc<Spool>,
    config: Live,
    /// Told about every committed message (the scheduler), if anyone listens.
    tell: Option<Sender<Envelope>>,
}

impl Intake {
    pub fn new(spool: Arc<Spool>, config: Live, tell: Option<Sender<Envelope>>) -> Intake {
        Intake {
            spool,
            config,
            tell,
        }
    }

    /// The same intake without telling anyone: for the scheduler's own notices, which it
    /// queues itself.
    pub fn untold(&self) -> Intake {
        Intake {
            tell: None,
            ..self.clone()
        }
    }

    pub fn spool(&self) -> &Arc<Spool> {
        &self.spool
    }

    /// This server's name (`hostname`) as the settings in force say.
    pub fn hostname(&self) -> String {
        self.config.get().server.hostname.clone()
    }

    /// Prepares and seals the message, commits message and envelope durably, then tells the
    /// scheduler. On success the message is on disk and may be acknowledged.
    pub fn accept(
        &self,
        sub: Submission,
        content: &[u8],
        now: Timestamp,
    ) -> Result<Envelope, IntakeError> {
        let config = self.config.get();
        let (hostname, max_hops) = (&config.server.hostname, config.server.max_hops);
        let env = self.commit(hostname, max_hops, &sub, content, now)?;
        info!(
            "{}: accepted from={} size={} nrcpt={} client=[{}] helo={} auth={}",
            env.id,
            env.sender,
            env.size,
            env.recipients.len(),
            sub.client_ip,
            sub.helo,
            sub.auth_user.as_deref().unwrap_or("-")
        );
        if let Some(tx) = &self.tell {
            // The message is safe on disk; if nobody listens it is found at the next start.
            let _ = tx.send(env.clone());
        }
        Ok(env)
    }

    /// Picks an ID, prepares and seals the message under it and commits; an ID clash
    /// (another process picked the same one) fails the exclusive create and is retried.
    fn commit(
        &self,
        hostname: &str,
        max_hops: usize,
        sub: &Submission,
        content: &[u8],
        now: Timestamp,
    ) -> Result<Envelope, IntakeError> {
        let single = match sub.recipients.as_slice() {
            [only] => Some(only.address.to_string()),
            _ => None,
        };
        let mut last_error = None;
        for _ in 0..3 {
            let id = self.spool.new_id();
            let trace = Trace {
                helo: &sub.helo,
                client_ip: sub.client_ip,
                hostname,
                protocol: &sub.protocol,
                id: id.as_str(),
                single_recipient: single.clone(),
                now,
            };
            let prepared =
                message::prepare(&trace, content, max_hops).map_err(IntakeError::TooManyHops)?;
            let sealed = seal(prepared);
            let env = Envelope {
                id: id.clone(),
                arrival: now,
                sender: sub.sender.clone(),
                client_ip: sub.client_ip,
                helo: sub.helo.clone(),
                auth_user: sub.auth_user.clone(),
                size: sealed.len() as u64,
                params: sub.params.clone(),
                recipients: sub.recipients.clone(),
                kind: sub.kind,
                held: false,
            };
            match self.spool.commit(&env, &sealed.parts()) {
                Ok(()) => return Ok(env),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
                Err(e) => return Err(IntakeError::Store(e)),
            }
        }
        let e = last_error.unwrap_or_else(|| io::Error::other("no free message ID"));
        Err(IntakeError::Store(e))
    }
}

/// The last step before the commit, where the stored bytes become final: a signature
/// (DKIM) goes on top of the prepared message here, so that what is stored is exactly what
/// leaves. No signer is configured yet, so the message passes unchanged.
fn seal(prepared: Prepared<'_>) -> Prepared<'_> {
    prepared
}
