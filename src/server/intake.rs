//! Intake: a finished transaction becomes a durable spool entry (trace headers added,
//! envelope built, files fsynced) before the session may answer `250`. `commit` is the same
//! path without a session, for `qksmtp send`.

use super::Context;
use super::session::{Connection, Transaction};
use crate::message::{self, Trace};
use crate::smtp::{MailParams, ReversePath};
use crate::spool::Spool;
use crate::spool::envelope::{Envelope, Recipient};
use crate::spool::id::MessageId;
use crate::time::Timestamp;
use log::info;
use std::io;
use std::net::IpAddr;

/// Stores the message; on success it is on disk and the scheduler has been told.
pub fn store(
    ctx: &Context,
    conn: &Connection,
    tx: Transaction,
    content: &[u8],
) -> io::Result<MessageId> {
    let protocol = protocol_name(conn, tx.params.smtputf8);
    let submission = Submission {
        sender: tx.sender,
        params: tx.params,
        recipients: tx
            .recipients
            .into_iter()
            .map(|(address, p)| Recipient::new(address, p.notify, p.orcpt))
            .collect(),
        helo: conn.helo.as_deref().unwrap_or("unknown"),
        client_ip: conn.peer.ip(),
        protocol: &protocol,
        auth_user: conn.auth_user.clone(),
    };
    let env = commit(&ctx.spool, &ctx.config.server.hostname, submission, content)?;
    let id = env.id.clone();
    ctx.committed(env);
    Ok(id)
}

/// A message to commit, from a session or from `qksmtp send`.
pub struct Submission<'a> {
    pub sender: ReversePath,
    pub params: MailParams,
    pub recipients: Vec<Recipient>,
    /// For the Received header: who the client said it was.
    pub helo: &'a str,
    pub client_ip: IpAddr,
    /// The `with` keyword of the Received header (`ESMTP`, `local`...).
    pub protocol: &'a str,
    pub auth_user: Option<String>,
}

/// Adds the trace headers and commits the message to the spool (fsynced); returns its
/// envelope. `hostname` is ours, for the Received header.
pub fn commit(
    spool: &Spool,
    hostname: &str,
    sub: Submission<'_>,
    content: &[u8],
) -> io::Result<Envelope> {
    let now = Timestamp::now();
    let facts = message::header_facts(content);
    let single = match sub.recipients.as_slice() {
        [only] => Some(only.address.to_string()),
        _ => None,
    };
    let mut last_error = None;
    // An ID clash (another process picked the same one) fails the exclusive create: retry.
    for _ in 0..3 {
        let id = spool.new_id();
        let trace = Trace {
            helo: sub.helo,
            client_ip: sub.client_ip,
            hostname,
            protocol: sub.protocol,
            id: id.as_str(),
            single_recipient: single.clone(),
            now,
        };
        let prefix = message::prefix(&trace, facts);
        let env = Envelope {
            id: id.clone(),
            arrival: now,
            sender: sub.sender.clone(),
            client_ip: sub.client_ip,
            helo: sub.helo.to_string(),
            auth_user: sub.auth_user.clone(),
            size: (prefix.len() + content.len()) as u64,
            params: sub.params.clone(),
            recipients: sub.recipients.clone(),
            held: false,
        };
        match spool.commit(&env, &[&prefix, content]) {
            Ok(()) => {
                info!(
                    "{id}: accepted from={} size={} nrcpt={} client=[{}] helo={}",
                    env.sender,
                    env.size,
                    env.recipients.len(),
                    sub.client_ip,
                    sub.helo
                );
                return Ok(env);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no free message ID")))
}

/// The `with` keyword of the Received header (RFC 3848, RFC 6531).
fn protocol_name(conn: &Connection, smtputf8: bool) -> String {
    let base = match (smtputf8, conn.esmtp) {
        (true, _) => "UTF8SMTP",
        (false, true) => "ESMTP",
        (false, false) => "SMTP",
    };
    let auth = if conn.auth_user.is_some() { "A" } else { "" };
    format!("{base}{auth}")
}
