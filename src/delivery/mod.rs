//! Delivery: the scheduler (pure core + its thread), the worker pool, the QK rules, the one
//! classifier of results, the delivery log and the step records kept with each message.

pub mod engine;
pub mod history;
pub mod log;
pub mod outcome;
pub mod policy;
pub mod record_text;
pub mod scheduler;
pub mod snapshot;
pub mod stats;
pub mod worker;
