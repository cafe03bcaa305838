//! The queue: every pending recipient's state and when it is tried next. A pure core
//! (`scheduler`, the QK rules in `policy`) and the one thread around it (`thread`) that
//! applies its effects and answers the status page's questions (`snapshot`, `history`,
//! `stats`, the live `changes`, `find`), keeps the finished in the `journal`, and takes bulk
//! orders (`select`). It hands jobs to `deliver` over a channel and never blocks
//! on the network.

pub mod changes;
pub mod find;
pub mod history;
pub mod incoming;
pub mod journal;
pub mod policy;
pub mod scheduler;
pub mod select;
pub mod snapshot;
pub mod stats;
pub mod thread;
pub mod throttle;
