//! The command line: arguments as a value (`args`), the queue commands and `qksmtp send`
//! (`commands`), the sendmail-compatible submission (`sendmail`), first-setup commands
//! (`setup`), the one rendering of the queue listing (`listing`), and `qksmtp reload`
//! (`reload`).

pub mod args;
pub mod commands;
pub mod listing;
pub mod reload;
pub mod sendmail;
pub mod setup;
