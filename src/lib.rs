//! qksmtp: a single-binary SMTP server that sends mail from this computer directly to the
//! recipients' servers. The modules follow the data flow: `server` (SMTP sessions) and `cli`
//! (`qksmtp send`) hand messages to `intake`, which prepares and commits them to the `spool`
//! and tells the `queue`; the queue hands jobs to `deliver` (which speaks through `client`
//! and `dns`); results are reported (`report`, `bounce`) and shown (`status`). Shared below
//! them: `config`, `smtp` (the protocol both sides speak), `transcript` (the step record),
//! `outcome` (what a result means), `time`, `human`, `access`, `password`, `console`.
//! Around the running server: `signals` (stop, reload) and `reload` (a re-read INI put in
//! force).

pub mod access;
pub mod bounce;
pub mod cli;
pub mod client;
pub mod config;
pub mod console;
pub mod deliver;
pub mod dkim;
pub mod dns;
pub mod engine;
pub mod headers;
pub mod human;
pub mod identity;
pub mod intake;
pub mod outcome;
pub mod password;
pub mod queue;
pub mod reload;
pub mod report;
pub mod server;
pub mod signals;
pub mod smtp;
pub mod spool;
pub mod status;
pub mod time;
pub mod transcript;
