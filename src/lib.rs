//! qksmtp: a single-binary SMTP server that sends mail from this computer directly to the
//! recipients' servers. Modules follow the data flow: config -> server (sessions) -> spool.

pub mod access;
pub mod config;
pub mod reply;
pub mod smtp;
