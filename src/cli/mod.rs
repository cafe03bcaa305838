//! The command line: arguments as a value (`args`), the queue commands and `qksmtp send`
//! (`commands`), the sendmail-compatible submission (`sendmail`), first-setup commands
//! (`setup`, `dkim_keygen`), and the one rendering of the queue listing (`listing`).

pub mod args;
pub mod commands;
pub mod dkim_keygen;
pub mod listing;
pub mod sendmail;
pub mod setup;
