//! Command lines as the client writes them: `Command`'s Display is the line without its CRLF
//! (what the step record shows), `Command::line` the line as sent. MAIL and RCPT parameters
//! are written in a fixed order, values xtext-encoded where RFC 3461 asks.

use super::Command;
use crate::smtp::address::xtext_encode;
use crate::smtp::{Body, MailParams, Notify, RcptParams, Ret};
use std::fmt;
use std::net::IpAddr;

impl Command {
    /// The command as sent on the wire: `RCPT TO:<b@x.test> NOTIFY=NEVER\r\n`.
    pub fn line(&self) -> String {
        format!("{self}\r\n")
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Ehlo(name) => write!(f, "EHLO {name}"),
            Command::Helo(name) => write!(f, "HELO {name}"),
            Command::Mail { from, params } => {
                write!(f, "MAIL FROM:{from}")?;
                write_mail_params(f, params)
            }
            Command::Rcpt { to, params } => {
                write!(f, "RCPT TO:<{to}>")?;
                write_rcpt_params(f, params)
            }
            Command::Data => f.write_str("DATA"),
            Command::Bdat { size, last: false } => write!(f, "BDAT {size}"),
            Command::Bdat { size, last: true } => write!(f, "BDAT {size} LAST"),
            Command::Rset => f.write_str("RSET"),
            Command::Noop => f.write_str("NOOP"),
            Command::Quit => f.write_str("QUIT"),
            Command::Help => f.write_str("HELP"),
            Command::Vrfy(what) => write!(f, "VRFY {what}"),
            Command::Expn(what) => write!(f, "EXPN {what}"),
            Command::StartTls => f.write_str("STARTTLS"),
            Command::Auth {
                mechanism,
                initial: None,
            } => write!(f, "AUTH {mechanism}"),
            Command::Auth {
                mechanism,
                initial: Some(initial),
            } => write!(f, "AUTH {mechanism} {initial}"),
        }
    }
}

/// ` SIZE=n BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=xtext AUTH=xtext`, each only when set
/// (7BIT is the default body and is not written).
fn write_mail_params(f: &mut fmt::Formatter<'_>, p: &MailParams) -> fmt::Result {
    if let Some(size) = p.size {
        write!(f, " SIZE={size}")?;
    }
    if p.body == Body::EightBitMime {
        f.write_str(" BODY=8BITMIME")?;
    }
    if p.smtputf8 {
        f.write_str(" SMTPUTF8")?;
    }
    match p.ret {
        Some(Ret::Full) => f.write_str(" RET=FULL")?,
        Some(Ret::Headers) => f.write_str(" RET=HDRS")?,
        None => {}
    }
    if let Some(envid) = &p.envid {
        write!(f, " ENVID={}", xtext_encode(envid))?;
    }
    match p.auth.as_deref() {
        Some("<>") => f.write_str(" AUTH=<>"),
        Some(auth) => write!(f, " AUTH={}", xtext_encode(auth)),
        None => Ok(()),
    }
}

/// ` NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;xtext`, each only when set.
fn write_rcpt_params(f: &mut fmt::Formatter<'_>, p: &RcptParams) -> fmt::Result {
    match p.notify {
        Some(Notify::Never) => f.write_str(" NOTIFY=NEVER")?,
        Some(Notify::On {
            success,
            failure,
            delay,
        }) => {
            let words = [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")];
            let on: Vec<&str> = words.iter().filter(|w| w.0).map(|w| w.1).collect();
            write!(f, " NOTIFY={}", on.join(","))?;
        }
        None => {}
    }
    match &p.orcpt {
        Some(o) => write!(f, " ORCPT={};{}", o.addr_type, xtext_encode(&o.address)),
        None => Ok(()),
    }
}

/// The EHLO/HELO argument for our name: a name as is (trailing dot removed), an IP address
/// as an address literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`).
pub fn helo_argument(name: &str) -> String {
    let name = name.trim_end_matches('.');
    match name.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => format!("[{ip}]"),
        Ok(IpAddr::V6(ip)) => format!("[IPv6:{ip}]"),
        Err(_) => name.to_string(),
    }
}
