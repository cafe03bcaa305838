//! A session's two records, kept apart as in OpenSMTPD: the `Connection` (facts that
//! outlive transactions) and the `Transaction` (from MAIL to the end of DATA or RSET).

use crate::identity::TlsUsed;
use crate::smtp::{Address, MailParams, RcptParams, ReversePath};
use crate::spool::envelope::LocalUser;
use std::net::SocketAddr;

/// Facts about the connection that outlive transactions.
pub struct Connection {
    pub peer: SocketAddr,
    /// The HELO/EHLO argument, once given.
    pub helo: Option<String>,
    pub esmtp: bool,
    pub relay_allowed: bool,
    /// The `[users]` name, after a successful AUTH.
    pub auth_user: Option<String>,
    /// The user of this computer at the other end of the local socket (`submit.sock`).
    pub local_user: Option<LocalUser>,
    /// True after STARTTLS, or from the start on a `listen_tls` port.
    pub tls: bool,
    /// The TLS version and cipher, where the platform tells (for the Received header).
    pub tls_used: Option<TlsUsed>,
    pub errors: u32,
}

/// The mail transaction: from MAIL to the end of DATA (or RSET).
pub struct Transaction {
    pub sender: ReversePath,
    pub params: MailParams,
    pub recipients: Vec<(Address, RcptParams)>,
}
