//! Intake: a finished transaction, or a notice qksmtp writes itself, becomes a durable spool
//! entry (trace headers added, envelope built, files fsynced) before anyone is told: the
//! session answers `250` only after `store`, the engine schedules a notice only after
//! `commit`.

use super::Context;
use super::connection::{Connection, Transaction};
use crate::message::{self, Trace};
use crate::smtp::{MailParams, ReversePath};
use crate::spool::Spool;
use crate::spool::envelope::{Envelope, MessageKind, Recipient};
use crate::spool::id::MessageId;
use crate::time::Timestamp;
use log::info;
use std::io;
use std::net::IpAddr;

/// Everything about a message to commit except its content.
pub struct Submission<'a> {
    pub sender: ReversePath,
    pub params: MailParams,
    pub recipients: Vec<Recipient>,
    /// The HELO/EHLO name of whoever handed it over (our own name for notices).
    pub helo: &'a str,
    pub client_ip: IpAddr,
    pub auth_user: Option<String>,
    /// The `with` keyword of the Received header.
    pub protocol: &'a str,
    pub kind: MessageKind,
}

/// Stores a session's message; on success it is on disk and the scheduler has been told.
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
        auth_user: conn.auth_user.clone(),
        protocol: &protocol,
        kind: MessageKind::Mail,
    };
    let env = commit(
        &ctx.spool,
        &ctx.config.server.hostname,
        submission,
        content,
        Timestamp::now(),
    )?;
    let id = env.id.clone();
    ctx.committed(env);
    Ok(id)
}

/// Adds `Received` (and `Message-ID`/`Date` when missing), builds the envelope and commits
/// message and envelope durably. The caller tells the scheduler.
pub fn commit(
    spool: &Spool,
    hostname: &str,
    sub: Submission<'_>,
    content: &[u8],
    now: Timestamp,
) -> io::Result<Envelope> {
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
            kind: sub.kind,
            held: false,
        };
        match spool.commit(&env, &[&prefix, content]) {
            Ok(()) => {
                info!(
                    "{id}: accepted from={} size={} nrcpt={} client=[{}] helo={} auth={}",
                    env.sender,
                    env.size,
                    env.recipients.len(),
                    sub.client_ip,
                    sub.helo,
                    sub.auth_user.as_deref().unwrap_or("-")
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
    let tls = if conn.tls { "S" } else { "" };
    let auth = if conn.auth_user.is_some() { "A" } else { "" };
    format!("{base}{tls}{auth}")
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
