//! The command line: the program's entry (`program`, `main`), arguments as a value (`args`), the queue commands and `qksmtp send`
//! (`commands`), the same on many messages at once (`bulk`), the sendmail-compatible submission (`sendmail`), `send` through the server's
//! local socket for users who cannot write the spool (`submit`), first-setup commands
//! (`setup`, `dkim_keygen`), the one rendering of the queue listing (`listing`), the finished messages
//! of the history journal (`history`), `qksmtp reload` (`reload`) and `qksmtp doctor` (`doctor`).

pub(crate) mod args;
pub(crate) mod bulk;
pub(crate) mod commands;
pub(crate) mod dkim_keygen;
pub(crate) mod doctor;
pub(crate) mod history;
pub(crate) mod listing;
pub(crate) mod program;
pub(crate) mod reload;
pub(crate) mod sendmail;
pub(crate) mod setup;
#[cfg(unix)]
pub(crate) mod submit;

pub use program::main;
