//! Intake: a finished transaction becomes a durable spool entry (trace headers added,
//! envelope built, files fsynced) before the session may answer `250`.

use super::Context;
use super::session::{Connection, Transaction};
use crate::message::{self, Trace};
use crate::spool::envelope::{Envelope, Recipient};
use crate::spool::id::MessageId;
use crate::time::Timestamp;
use log::info;
use std::io;

/// Stores the message; on success it is on disk and the scheduler has been told.
pub fn store(
    ctx: &Context,
    conn: &Connection,
    tx: Transaction,
    content: &[u8],
) -> io::Result<MessageId> {
    let now = Timestamp::now();
    let facts = message::header_facts(content);
    let helo = conn.helo.as_deref().unwrap_or("unknown");
    let protocol = protocol_name(conn, tx.params.smtputf8);
    let single = match tx.recipients.as_slice() {
        [(only, _)] => Some(only.to_string()),
        _ => None,
    };
    let recipients: Vec<Recipient> = tx
        .recipients
        .into_iter()
        .map(|(address, p)| Recipient::new(address, p.notify, p.orcpt))
        .collect();
    let mut last_error = None;
    // An ID clash (another process picked the same one) fails the exclusive create: retry.
    for _ in 0..3 {
        let id = ctx.spool.new_id();
        let trace = Trace {
            helo,
            client_ip: conn.peer.ip(),
            hostname: &ctx.config.server.hostname,
            protocol: &protocol,
            id: id.as_str(),
            single_recipient: single.clone(),
            now,
        };
        let prefix = message::prefix(&trace, facts);
        let env = Envelope {
            id: id.clone(),
            arrival: now,
            sender: tx.sender.clone(),
            client_ip: conn.peer.ip(),
            helo: helo.to_string(),
            auth_user: conn.auth_user.clone(),
            size: (prefix.len() + content.len()) as u64,
            params: tx.params.clone(),
            recipients: recipients.clone(),
        };
        match ctx.spool.commit(&env, &[&prefix, content]) {
            Ok(()) => {
                info!(
                    "{id}: accepted from={} size={} nrcpt={} client=[{}] helo={helo} auth={}",
                    env.sender,
                    env.size,
                    env.recipients.len(),
                    conn.peer.ip(),
                    conn.auth_user.as_deref().unwrap_or("-")
                );
                ctx.committed(env);
                return Ok(id);
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
