//! Plumbing shared by every redstream stage: configuration from file and environment, Kafka
//! clients with their security settings, topic names and creation, the batch consumer loop,
//! dead-lettering, telemetry and graceful shutdown.

pub mod config;
pub mod consumer;
pub mod dlq;
pub mod inflight;
pub mod kafka;
pub mod metrics;
pub mod shutdown;
pub mod telemetry;
pub mod topics;

pub use config::{load_config, BatchConfig, KafkaConfig, Secret, TopicsConfig};
pub use consumer::{Batch, BatchConsumer, BatchOffsets, RebalanceEvent};
pub use dlq::{DeadLetter, DeadLetterSink, DeadLetterSource};
pub use inflight::{Finished, InFlight};
pub use shutdown::Shutdown;
pub use topics::TopicNames;
