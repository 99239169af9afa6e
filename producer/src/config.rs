//! The producer's configuration: the shared `[kafka]` and `[topics]` sections plus `[replay]`
//! and `[live]`.
//! Other sections of a shared config file (`[scylla]`, `[elasticsearch]`, ...) are ignored, so
//! one file can serve every stage.

use redstream_common::{KafkaConfig, TopicsConfig};

pub use crate::live::config::LiveConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ProducerConfig {
    pub kafka: KafkaConfig,
    pub topics: TopicsConfig,
    pub replay: ReplayConfig,
    pub live: LiveConfig,
}

/// Tuning of `redstream-producer replay`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplayConfig {
    /// Records handed to Kafka but not yet acknowledged, at most. Bounds memory; reading pauses
    /// while this many deliveries are outstanding.
    pub max_in_flight: usize,
    /// Lines longer than this are dead-lettered (kind `too_large`) with only their first
    /// `max_line_bytes` bytes, instead of being read whole into memory.
    pub max_line_bytes: usize,
    /// After Ctrl-C or SIGTERM, how long to wait for outstanding deliveries before giving up.
    pub flush_timeout_secs: u64,
    /// How often progress goes to stderr.
    pub progress_interval_ms: u64,
    /// Threads that normalize and encode lines side by side (records keep line order); 0
    /// means one per core.
    pub threads: usize,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 50_000,
            max_line_bytes: 8 << 20,
            flush_timeout_secs: 30,
            progress_interval_ms: 2_000,
            threads: 0,
        }
    }
}
