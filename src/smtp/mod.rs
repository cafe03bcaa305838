//! The SMTP protocol both sides share, as values: addresses, MAIL/RCPT parameters (SIZE, BODY,
//! SMTPUTF8, DSN), commands parsed and written, replies written and parsed, the DATA stream
//! both ways, the EHLO keywords read back, SASL and base64. No I/O here.

pub mod address;
pub mod base64;
pub mod command;
pub mod data;
pub mod extensions;
pub mod reply;
pub mod reply_parser;
pub mod sasl;

use std::fmt;

/// Why a command line was refused; the session maps each to its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// Unknown or empty verb: 500 5.5.2.
    Unrecognized,
    /// Bad arguments: 501 5.5.4, the text says what is wrong.
    Syntax(&'static str),
    /// Malformed MAIL FROM path: 501 5.1.7.
    BadSender,
    /// Malformed RCPT TO path: 501 5.1.3.
    BadRecipient,
    /// Unknown MAIL/RCPT parameter (name uppercased): 555 5.5.4.
    UnknownParameter(String),
    /// Non-ASCII sender without SMTPUTF8: 553 5.6.7.
    NonAscii,
}

/// A mailbox `local@domain` as given in MAIL FROM / RCPT TO (source route removed).
/// `domain` is empty only for the special RCPT `<postmaster>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    pub local: String,
    pub domain: String,
}

impl Address {
    pub fn new(local: impl Into<String>, domain: impl Into<String>) -> Address {
        Address {
            local: local.into(),
            domain: domain.into(),
        }
    }
    /// True when any byte is outside ASCII (needs SMTPUTF8).
    pub fn is_utf8(&self) -> bool {
        !self.local.is_ascii() || !self.domain.is_ascii()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.domain.is_empty() {
            f.write_str(&self.local)
        } else {
            write!(f, "{}@{}", self.local, self.domain)
        }
    }
}

/// The MAIL FROM path: `<>` (null sender, used by bounces) or a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReversePath {
    Null,
    Mailbox(Address),
}

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Mailbox(a) => write!(f, "<{a}>"),
        }
    }
}

/// BODY= of MAIL FROM (RFC 6152). BINARYMIME is not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Body {
    #[default]
    SevenBit,
    EightBitMime,
}

/// RET= of MAIL FROM (RFC 3461 §4.3): what a bounce carries back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Full,
    Headers,
}

/// Parameters of MAIL FROM, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailParams {
    /// SIZE= declared by the client (RFC 1870).
    pub size: Option<u64>,
    pub body: Body,
    pub smtputf8: bool,
    pub ret: Option<Ret>,
    /// ENVID= decoded from xtext (RFC 3461 §4.4), at most 100 characters.
    pub envid: Option<String>,
    /// AUTH= (RFC 4954 §5), decoded from xtext; `<>` is kept as "<>".
    pub auth: Option<String>,
}

/// NOTIFY= of RCPT TO (RFC 3461 §4.1). `None` in RcptParams means "not given" (default
/// behaviour: failure and delay notices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    Never,
    /// Any combination of the three; at least one is true.
    On {
        success: bool,
        failure: bool,
        delay: bool,
    },
}

/// ORCPT= of RCPT TO (RFC 3461 §4.2): address type (e.g. `rfc822`) and the decoded address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orcpt {
    pub addr_type: String,
    pub address: String,
}

/// Parameters of RCPT TO, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RcptParams {
    pub notify: Option<Notify>,
    pub orcpt: Option<Orcpt>,
}
