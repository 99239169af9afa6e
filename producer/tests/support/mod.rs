//! Shared pieces of the live producer's tests: the local Reddit stand-in and the helpers that
//! run the binary and read Kafka.

pub mod live;
pub mod replay_server;
