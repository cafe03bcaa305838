//! Delivery: the scheduler (pure core + its thread), the worker pool, the QK rules, the one
//! classifier of results, the delivery log, the step records kept with each message, and
//! the committing of notices to senders.

pub mod connections;
pub mod engine;
pub mod history;
pub mod log;
pub mod notify;
pub mod outcome;
pub mod policy;
pub mod record_text;
pub mod scheduler;
pub mod snapshot;
pub mod stats;
pub mod worker;
