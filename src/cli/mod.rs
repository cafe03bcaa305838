//! The command line: arguments as a value (`args`), the queue commands and `qksmtp send`
//! (`commands`), the sendmail-compatible submission (`sendmail`), `send` through the server's
//! local socket for users who cannot write the spool (`submit`), first-setup commands
//! (`setup`, `dkim_keygen`), the one rendering of the queue listing (`listing`), and
//! `qksmtp reload` (`reload`).

pub mod args;
pub mod commands;
pub mod dkim_keygen;
pub mod listing;
pub mod reload;
pub mod sendmail;
pub mod setup;
#[cfg(unix)]
pub mod submit;
