//! SMTP commands, both ways: `parse` reads a command line (the server), `write` writes one
//! (the client); what one writes the other reads back as the same `Command` (see `tests`).

mod parse;
mod write;

#[cfg(test)]
mod tests;

pub use parse::parse_command;
pub use write::helo_argument;

use super::{Address, MailParams, RcptParams, ReversePath};

/// One parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// EHLO with the client's domain or address literal (syntax not checked beyond one token).
    Ehlo(String),
    Helo(String),
    Mail {
        from: ReversePath,
        params: MailParams,
    },
    Rcpt {
        to: Address,
        params: RcptParams,
    },
    Data,
    /// BDAT (RFC 3030): `size` octets of message follow the command line at once; `last`
    /// when they end the message.
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    Noop,
    Quit,
    Help,
    Vrfy(String),
    Expn(String),
    StartTls,
    /// AUTH with the mechanism uppercased and the optional initial response as sent (`=`
    /// stands for an empty response, RFC 4954 §4).
    Auth {
        mechanism: String,
        initial: Option<String>,
    },
}
