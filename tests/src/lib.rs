//! Harness shared by the end-to-end tests and `redstream-demo`: run the stage binaries as
//! separate processes against the local stack, wait until every consumer group has caught up,
//! and count what landed in Kafka and in the stores.

pub mod drain;
pub mod expect;
pub mod faults;
pub mod ops;
pub mod perf;
pub mod processes;
pub mod run;
pub mod sample;
pub mod search_proxy;
pub mod stack;
pub mod stores;
