//! Intake: every way in (SMTP sessions, `qksmtp send`, the notices qksmtp writes itself) hands
//! its message to one `Intake`, which prepares it (`message`: Received, Message-ID and Date,
//! a header/body separator where there is none), seals it (`dkim`: the DKIM-Signature headers
//! on top), commits message and envelope (which keeps the message's decoded Subject, for
//! the status page) durably, and only then tells the scheduler.

pub mod content;
mod large;
pub mod message;

use crate::config::{Config, Live};
use crate::dkim::{self, Signer};
use crate::smtp::{MailParams, ReversePath};
use crate::spool::Spool;
use crate::spool::envelope::{Envelope, LocalUser, MessageKind, Recipient};
use crate::spool::id::MessageId;
use crate::time::Timestamp;
use content::{Content, Received};
use crossbeam_channel::Sender;
use log::{info, warn};
use message::{Prepared, TooManyHops, Trace};
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

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
    /// The TLS version and cipher it came over, when over TLS and the platform tells (named
    /// in the Received header).
    pub tls: Option<crate::identity::TlsUsed>,
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
    /// The DKIM keys that sign what comes in.
    keys: Arc<Keys>,
}

/// The DKIM signers: fixed ones (tests), or those of the settings in force, made once per
/// configuration (the key files are read at the first message after a start or a reload).
#[derive(Default)]
struct Keys {
    fixed: Option<Arc<Vec<Signer>>>,
    made: Mutex<Option<Made>>,
}

/// Signers and the configuration they were made from.
type Made = (Arc<Config>, Arc<Vec<Signer>>);

impl Keys {
    fn for_config(&self, config: &Arc<Config>) -> Arc<Vec<Signer>> {
        if let Some(fixed) = &self.fixed {
            return fixed.clone();
        }
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        match &*made {
            Some((of, signers)) if Arc::ptr_eq(of, config) => signers.clone(),
            _ => {
                let signers = Arc::new(signers_of(config));
                *made = Some((config.clone(), signers.clone()));
                signers
            }
        }
    }
}

/// The signers `[dkim:...]` describes; a key that cannot be used now is logged and left out
/// (`qksmtp check` and the start-up name it with its line).
fn signers_of(config: &Config) -> Vec<Signer> {
    let mut out = Vec::new();
    for d in &config.dkim {
        let (domain, scope) = match d.domain.as_str() {
            "*" => (config.server.hostname.as_str(), dkim::Scope::Everything),
            domain => (domain, dkim::Scope::Domain),
        };
        let made = dkim::key::load(&d.key).and_then(|key| Signer::new(domain, &d.selector, key));
        match made {
            Ok(mut signer) => {
                signer.headers = d.headers.clone();
                signer.canonicalization = d.canonicalization;
                signer.expire = d.expire;
                signer.scope = scope;
                out.push(signer);
            }
            Err(e) => warn!(
                "[dkim:{}:{}]: {e}; mail is not signed with it",
                d.domain, d.selector
            ),
        }
    }
    out
}

impl Intake {
    pub fn new(spool: Arc<Spool>, config: Live, tell: Option<Sender<Envelope>>) -> Intake {
        Intake {
            spool,
            config,
            tell,
            keys: Arc::new(Keys::default()),
        }
    }

    #[cfg(test)]
    /// The same intake, signing with `signers` (`dkim::choose` picks per message).
    pub fn with_signers(self, signers: Vec<Signer>) -> Intake {
        Intake {
            keys: Arc::new(Keys {
                fixed: Some(Arc::new(signers)),
                made: Mutex::new(None),
            }),
            ..self
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
        let signers = self.keys.for_config(&config);
        let (env, note) = self.commit(&config, &signers, &sub, content, now)?;
        self.accepted(&sub, env, note, now)
    }

    /// A new, empty `Content` for a message about to be received (in memory while small,
    /// then in a temporary file in this spool).
    pub fn content(&self) -> Content {
        Content::new(self.spool.clone())
    }

    /// `accept` for a message received into `content`, wherever it is.
    pub fn accept_content(
        &self,
        sub: Submission,
        content: &mut Content,
        now: Timestamp,
    ) -> Result<Envelope, IntakeError> {
        let received = content.finish().map_err(IntakeError::Store)?;
        let spill = match received {
            Received::Small(bytes) => return self.accept(sub, bytes, now),
            Received::Spilled(spill) => spill,
        };
        let config = self.config.get();
        let signers = self.keys.for_config(&config);
        let (env, note) = self.commit_spilled(&config, &signers, &sub, spill, now)?;
        self.accepted(&sub, env, note, now)
    }

    /// Writes why a committed message goes unsigned (if it does) to its step record, logs it
    /// and tells the scheduler about it.
    fn accepted(
        &self,
        sub: &Submission,
        env: Envelope,
        note: Option<Unsigned>,
        now: Timestamp,
    ) -> Result<Envelope, IntakeError> {
        if let Some(note) = note {
            let record = note.record(now);
            let text = crate::transcript::text::render(INTAKE, &record);
            if let Err(e) = self.spool.note(&env.id, &text) {
                warn!("{}: cannot write its step record: {e}", env.id);
            }
        }
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
        config: &Config,
        signers: &[Signer],
        sub: &Submission,
        content: &[u8],
        now: Timestamp,
    ) -> Result<(Envelope, Option<Unsigned>), IntakeError> {
        let mut last_error = None;
        let subject = crate::headers::subject(content);
        for _ in 0..3 {
            let id = self.spool.new_id();
            let trace = Trace::of(sub, &config.server.hostname, id.as_str(), now);
            let prepared = message::prepare(&trace, content, config.server.max_hops)
                .map_err(IntakeError::TooManyHops)?;
            let (sealed, note) = seal(prepared, signers, id.as_str(), now);
            let size = sealed.len() as u64;
            let env = new_envelope(id.clone(), sub, (size, subject.clone()), now);
            match self.spool.commit(&env, &sealed.parts()) {
                Ok(()) => return Ok((env, note)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
                Err(e) => return Err(IntakeError::Store(e)),
            }
        }
        let e = last_error.unwrap_or_else(|| io::Error::other("no free message ID"));
        Err(IntakeError::Store(e))
    }
}

/// The envelope of a new message: its stored size and its subject (`headers::subject` of
/// the client's header block; empty when it has none).
fn new_envelope(
    id: MessageId,
    sub: &Submission,
    (size, subject): (u64, Option<String>),
    now: Timestamp,
) -> Envelope {
    Envelope {
        id,
        arrival: now,
        sender: sub.sender.clone(),
        client_ip: sub.client_ip,
        helo: sub.helo.clone(),
        auth_user: sub.auth_user.clone(),
        local_user: sub.local_user.clone(),
        size,
        params: sub.params.clone(),
        recipients: sub.recipients.clone(),
        kind: sub.kind,
        held: false,
        subject: Some(subject.unwrap_or_default()),
    }
}

/// The last step before the commit, where the stored bytes become final: the DKIM-Signature
/// headers of the signers that `dkim::choose` picks go on top of the prepared message (above
/// our Received, so that they can cover it and the Message-ID and Date we added), so that what
/// is stored is exactly what leaves: a retry never signs again. A signature already there
/// stays, under ours. A signer that fails is logged and the message goes unsigned by it.
/// When keys exist but the message goes out without any signature, the second value says
/// why, for its step record.
fn seal<'a>(
    prepared: Prepared<'a>,
    signers: &[Signer],
    id: &str,
    now: Timestamp,
) -> (Prepared<'a>, Option<Unsigned>) {
    if signers.is_empty() {
        return (prepared, None);
    }
    let whole = prepared.parts().concat();
    let from = dkim::from_domain(&whole);
    let chosen = dkim::choose(signers, from.as_deref());
    if chosen.is_empty() {
        let note = Unsigned::no_key(from.as_deref());
        info!("{id}: {}", note.0);
        return (prepared, Some(note));
    }
    let (mut top, note) = sign_each(&chosen, id, |signer| Some(signer.sign(&whole, now)));
    top.extend_from_slice(&prepared.prefix);
    let sealed = Prepared {
        prefix: top,
        ..prepared
    };
    (sealed, note)
}

/// The label of the step record's block the intake writes (before any delivery attempt).
pub const INTAKE: &str = "intake";

/// Why a message leaves unsigned although DKIM keys are set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsigned(pub String);

/// Each chosen signer's DKIM-Signature line, in order, as `sign` makes it (`None`: this
/// signer is passed over); a signer that fails is logged and the message goes unsigned by
/// it. The note says why when none signed.
pub(crate) fn sign_each(
    chosen: &[&Signer],
    id: &str,
    mut sign: impl FnMut(&Signer) -> Option<Result<Vec<u8>, dkim::DkimError>>,
) -> (Vec<u8>, Option<Unsigned>) {
    let mut top = Vec::new();
    let mut failed = Vec::new();
    for signer in chosen {
        match sign(signer) {
            None => {}
            Some(Ok(line)) => top.extend_from_slice(&line),
            Some(Err(e)) => {
                let why = format!(
                    "not signed with {}._domainkey.{}: {e}",
                    signer.selector, signer.domain
                );
                warn!("{id}: {why}");
                failed.push(why);
            }
        }
    }
    let note = (top.is_empty() && !failed.is_empty()).then(|| Unsigned(failed.join("; ")));
    (top, note)
}

impl Unsigned {
    /// No `[dkim:...]` section covers the From domain.
    pub fn no_key(from: Option<&str>) -> Unsigned {
        let from = from.unwrap_or("a message without From");
        Unsigned(format!("not signed: no DKIM key for {from}"))
    }

    /// The step record of it: one failed `DKIM` step.
    fn record(&self, now: Timestamp) -> crate::transcript::Record {
        let mut record = crate::transcript::Record::new();
        let took = std::time::Duration::ZERO;
        record.push_failed(crate::transcript::StepKind::Dkim, now, took, &self.0);
        record
    }
}

#[cfg(test)]
mod tests;
