//! What the queue reports outward: the delivery log file (`log`), and notices to senders
//! written into the spool through the intake like any mail (`notify`).

pub mod log;
pub mod notify;
