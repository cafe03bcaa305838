//! Intake: every way in (SMTP sessions, `qksmtp send`, the notices qksmtp writes itself) hands
//! its message to one `Intake`, which prepares it (`message`: Received, Message-ID and Date,
//! a header/body separator where there is none), seals it (the place where signing goes),
//! commits message and envelope durably, and only then tells the scheduler.

pub mod message;

use crate::config::Live;
use crate::smtp::{MailParams, ReversePath};
use crate::spool::Spool;
use crate::spool::envelope::{Envelope, LocalUser, MessageKind, Recipient};
use crate::time::Timestamp;
use crossbeam_channel::Sender;
use log::info;
use message::{Prepared, Trace};
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
    /// The user of this computer who handed it over, when the system told us (the server's
    /// local socket).
    pub local_user: Option<LocalUser>,
    /// The `with` keyword of the Received header (`ESMTPSA`, `local`...).
    pub protocol: String,
    pub kind: MessageKind,
}

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
    pub fn accept(&self, sub: Submission, content: &[u8], now: Timestamp) -> io::Result<Envelope> {
        let hostname = self.hostname();
        let env = self.commit(&hostname, &sub, content, now)?;
        info!(
            "{}: accepted from={} size={} nrcpt={} client=[{}] helo={} auth={} user={}",
            env.id,
            env.sender,
            env.size,
            env.recipients.len(),
            sub.client_ip,
            sub.helo,
            sub.auth_user.as_deref().unwrap_or("-"),
            sub.local_user
                .as_ref()
                .map_or("-".to_string(), |u| u.uid.to_string())
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
        sub: &Submission,
        content: &[u8],
        now: Timestamp,
    ) -> io::Result<Envelope> {
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
                local_user: sub.local_user.as_ref(),
                id: id.as_str(),
                single_recipient: single.clone(),
                now,
            };
            let prepared = message::prepare(&trace, content);
            let sealed = seal(prepared);
            let env = Envelope {
                id: id.clone(),
                arrival: now,
                sender: sub.sender.clone(),
                client_ip: sub.client_ip,
                helo: sub.helo.clone(),
                auth_user: sub.auth_user.clone(),
                local_user: sub.local_user.clone(),
                size: sealed.len() as u64,
                params: sub.params.clone(),
                recipients: sub.recipients.clone(),
                kind: sub.kind,
                held: false,
            };
            match self.spool.commit(&env, &sealed.parts()) {
                Ok(()) => return Ok(env),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("no free message ID")))
    }
}

/// The last step before the commit, where the stored bytes become final: a signature
/// (DKIM) goes on top of the prepared message here, so that what is stored is exactly what
/// leaves. No signer is configured yet, so the message passes unchanged.
fn seal(prepared: Prepared<'_>) -> Prepared<'_> {
    prepared
}
