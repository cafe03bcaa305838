//! qksmtp: a single-binary SMTP server that sends mail from this computer directly to the
//! recipients' servers. The modules follow the data flow: `server` (SMTP sessions) and `cli`
//! (`qksmtp send`) hand messages to `intake`, which prepares and commits them to the `spool`
//! and tells the `queue`; the queue hands jobs to `deliver` (which speaks through `client`
//! and `dns`); results are reported (`report`, `bounce`) and shown (`status`). Shared below
//! them: `config`, `smtp` (the protocol both sides speak), `transcript` (the step record),
//! `outcome` (what a result means), `dkim`, `headers`, `identity`, `time`, `human`, `access`,
//! `password`, `console`. Around the running server: `run` (its life), `engine` (queue,
//! delivery and reports wired together), `signals` (stop, reload) and `reload` (a re-read INI
//! put in force).
//!
//! Exported: `cli::main` for the program, `fuzzing` for the fuzz targets, and `dkim` and
//! `time` for the DKIM test that signs with a key `qksmtp dkim-keygen` wrote. The rest is the
//! crate's own, so the compiler reports what nothing uses.

pub(crate) mod access;
pub(crate) mod bounce;
pub mod cli;
pub(crate) mod client;
pub(crate) mod config;
pub(crate) mod console;
pub(crate) mod deliver;
pub mod dkim;
pub(crate) mod dns;
pub(crate) mod doctor;
pub(crate) mod engine;
pub(crate) mod headers;
pub(crate) mod human;
pub(crate) mod identity;
pub(crate) mod intake;
pub(crate) mod outcome;
pub(crate) mod password;
pub(crate) mod queue;
pub(crate) mod reload;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod server;
pub(crate) mod signals;
pub(crate) mod smtp;
pub(crate) mod spool;
pub(crate) mod status;
pub mod time;
pub(crate) mod transcript;

/// What the fuzz targets (fuzz/) drive: the parsers and their writers, each pure.
pub mod fuzzing {
    pub use crate::config::load::parse as parse_ini;
    pub use crate::config::render::render as render_ini;
    pub use crate::smtp::command::{Command, parse_command};
    pub use crate::smtp::data::{DataResult, dot_stuff, receive_chunks};
    pub use crate::smtp::reply::Reply;
    pub use crate::smtp::reply_parser::{ReplyError, ReplyParser};
    pub use crate::spool::envelope::{parse as parse_envelope, render as render_envelope};
}
