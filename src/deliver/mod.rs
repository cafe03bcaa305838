//! Delivery: the pool of worker threads that take jobs from the queue, find the servers for
//! each destination (`route`), talk to them with the SMTP client (`worker`), keep open
//! connections between jobs (`connections`) and report one outcome per recipient. What TLS
//! each server must offer is `tls_policy`'s decision.

pub mod connections;
pub mod pool;
pub mod route;
pub mod tls_policy;
pub mod worker;
