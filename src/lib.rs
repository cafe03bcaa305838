//! qksmtp: a single-binary SMTP server that sends mail from this computer directly to the
//! recipients' servers. Modules follow the data flow: config -> server (sessions, intake)
//! -> spool -> (scheduler, delivery).

pub mod access;
pub mod bounce;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod console;
pub mod delivery;
pub mod dns;
pub mod message;
pub mod password;
pub mod queue;
pub mod reply;
pub mod sendmail;
pub mod server;
pub mod setup;
pub mod smtp;
pub mod spool;
pub mod status;
pub mod time;
