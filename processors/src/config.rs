//! Configuration of the two processor stages: the shared `kafka`, `topics` and `batch`
//! sections, the consumer group, and each stage's own options.
//!
//! Unknown top-level sections are ignored on purpose, so that one file (or one set of
//! `REDSTREAM_…` variables) can configure every stage of a deployment; the sections themselves
//! reject unknown keys, so a typo inside `[kafka]` or `[enrichers]` still fails loudly.

use redstream_common::{BatchConfig, KafkaConfig, TopicsConfig};
use serde::{Deserialize, Serialize};

/// Everything `redstream-dedupe` reads from its config file and environment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DedupeConfig {
    pub kafka: KafkaConfig,
    pub topics: TopicsConfig,
    pub batch: BatchConfig,
    /// Consumer group; `{prefix}.dedupe` when unset.
    pub group_id: Option<String>,
    pub dedupe: DedupeOptions,
}

/// What the shared entry point (`crate::cli`) needs to know of a stage's configuration.
pub trait StageConfig: serde::de::DeserializeOwned + Serialize + Default {
    fn kafka(&self) -> &KafkaConfig;
    fn topics(&self) -> &TopicsConfig;
    fn group_id(&self) -> String;
}

impl StageConfig for DedupeConfig {
    fn kafka(&self) -> &KafkaConfig {
        &self.kafka
    }

    fn topics(&self) -> &TopicsConfig {
        &self.topics
    }

    fn group_id(&self) -> String {
        self.group_id
            .clone()
            .unwrap_or_else(|| format!("{}.dedupe", self.topics.prefix))
    }
}

/// Options of the dedupe stage itself (`[dedupe]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupeOptions {
    /// How long loading one assignment's state from the changelog may take before the stage
    /// gives up (and exits non-zero, so that nothing is deduplicated against partial state).
    pub state_load_timeout_secs: u64,
    /// Threads that decode and hash a batch's items side by side (decisions stay in input
    /// order); 0 means one per core. A batch under 256 items uses one.
    pub threads: usize,
}

impl Default for DedupeOptions {
    fn default() -> Self {
        Self {
            state_load_timeout_secs: 600,
            threads: 0,
        }
    }
}

/// Everything `redstream-enrich` reads from its config file and environment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EnrichConfig {
    pub kafka: KafkaConfig,
    pub topics: TopicsConfig,
    pub batch: BatchConfig,
    /// Consumer group; `{prefix}.enrich` when unset.
    pub group_id: Option<String>,
    pub enrichers: EnrichersConfig,
}

impl StageConfig for EnrichConfig {
    fn kafka(&self) -> &KafkaConfig {
        &self.kafka
    }

    fn topics(&self) -> &TopicsConfig {
        &self.topics
    }

    fn group_id(&self) -> String {
        self.group_id
            .clone()
            .unwrap_or_else(|| format!("{}.enrich", self.topics.prefix))
    }
}

/// Which enrichers run (`[enrichers]`). All are on by default; turning them off lets a
/// benchmark measure the pipeline without their cost. An enricher that is off leaves its
/// fields empty (`null` language, 0 sentiment, no links, empty text, 0 words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichersConfig {
    /// Plain text and its word count in the output.
    pub text: bool,
    /// Links and their domains.
    pub links: bool,
    /// Language detection.
    pub language: bool,
    /// Lexicon-based sentiment.
    pub sentiment: bool,
    /// Threads that enrich a batch's items side by side (output order is kept); 0 means one
    /// per core. A batch under 256 items uses one.
    pub threads: usize,
}

impl Default for EnrichersConfig {
    fn default() -> Self {
        Self {
            text: true,
            links: true,
            language: true,
            sentiment: true,
            threads: 0,
        }
    }
}

impl EnrichersConfig {
    pub fn all_off() -> Self {
        Self {
            text: false,
            links: false,
            language: false,
            sentiment: false,
            threads: 0,
        }
    }
}
