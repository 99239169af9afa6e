//! Configuration: defaults that match the local stack, overridden by a TOML file, overridden by
//! `REDSTREAM_…` environment variables (`__` separates levels: `REDSTREAM_KAFKA__BROKERS`).

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Loads a stage's configuration: built-in defaults, then the TOML file (if any), then the
/// environment. The file path comes from `--config` or `REDSTREAM_CONFIG`.
pub fn load_config<T>(file: Option<&Path>) -> anyhow::Result<T>
where
    T: DeserializeOwned + Serialize + Default,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    let from_env = std::env::var_os("REDSTREAM_CONFIG").map(PathBuf::from);
    if let Some(path) = file.map(Path::to_path_buf).or(from_env) {
        if !path.is_file() {
            anyhow::bail!(
                "config file {} does not exist or is not a file; pass an existing TOML file \
                 with --config or unset REDSTREAM_CONFIG",
                path.display()
            );
        }
        figment = figment.merge(Toml::file(&path));
    }
    // Only nested keys come from the environment, so that unrelated REDSTREAM_* variables
    // (REDSTREAM_CONFIG, REDSTREAM_STATE, ...) are never mistaken for settings.
    figment = figment.merge(
        Env::prefixed("REDSTREAM_")
            .filter(|key| key.as_str().contains("__"))
            .split("__"),
    );
    check_sections(&figment)?;
    figment
        .extract()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))
        .context("check the config file and the REDSTREAM_* environment variables")
}

/// Every top-level key some redstream binary reads. One file may serve every stage, so a stage
/// accepts the others' sections; anything else is a typo, and a silently ignored typo (a
/// `[kafak]` section, `REDSTREAM_KAFAK__BROKERS`) would run the stage on defaults.
pub const KNOWN_SECTIONS: &[&str] = &[
    "kafka",
    "topics",
    "batch",
    "group_id",
    "dedupe",
    "enrichers",
    "scylla",
    "elasticsearch",
    "replay",
    "live",
];

fn check_sections(figment: &Figment) -> anyhow::Result<()> {
    let top: BTreeMap<String, figment::value::Value> = figment
        .extract()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let unknown: Vec<&String> = top
        .keys()
        .filter(|k| !KNOWN_SECTIONS.contains(&k.as_str()))
        .collect();
    if !unknown.is_empty() {
        anyhow::bail!(
            "unknown configuration section(s) {unknown:?} (from the config file or a \
             REDSTREAM_<SECTION>__<KEY> variable); known sections: {}",
            KNOWN_SECTIONS.join(", ")
        );
    }
    Ok(())
}

/// A secret value: never printed, never logged.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// How to reach Kafka.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Comma-separated bootstrap brokers.
    pub brokers: String,
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub security_protocol: String,
    /// SASL mechanism when SASL is on, e.g. `SCRAM-SHA-512`.
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<Secret>,
    /// PEM file of the CA that signed the brokers' certificates.
    pub ssl_ca_location: Option<PathBuf>,
    /// PEM client certificate and key, for mutual TLS.
    pub ssl_certificate_location: Option<PathBuf>,
    pub ssl_key_location: Option<PathBuf>,
    /// Raw librdkafka settings, applied last (e.g. `"fetch.wait.max.ms" = "50"`).
    pub client: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            security_protocol: "plaintext".into(),
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            ssl_ca_location: None,
            ssl_certificate_location: None,
            ssl_key_location: None,
            client: BTreeMap::new(),
        }
    }
}

/// Topic naming and layout. Every topic name starts with `prefix`, so that runs and
/// environments can share a cluster without seeing each other's data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    pub prefix: String,
    /// Partitions of every data topic (raw, unique, enriched, dedupe state); they must be equal
    /// so that the dedupe state of input partition N lives in state partition N.
    pub partitions: i32,
    pub replication_factor: i32,
    /// Retention of the data topics in hours.
    pub retention_hours: i64,
    /// Retention of the dead-letter topics in hours (longer: people read them late).
    pub dlq_retention_hours: i64,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        Self {
            prefix: "redstream".into(),
            partitions: 6,
            replication_factor: 1,
            retention_hours: 7 * 24,
            dlq_retention_hours: 30 * 24,
        }
    }
}

/// Bounds of one batch taken from Kafka.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    pub max_items: usize,
    pub max_bytes: usize,
    /// How long to wait for more messages after the first one of a batch.
    pub max_wait_ms: u64,
    /// A batch also ends when no message came for this long: at the end of a backlog (or in a
    /// lull) what was gathered goes on at once instead of after `max_wait_ms`.
    pub max_idle_ms: u64,
    /// Batches whose output may still be on its way (awaiting Kafka's acknowledgements or the
    /// store's answer) while the next one is gathered and handled. Offsets are still committed
    /// in order, each only once its batch is durable. 1 handles batches strictly one by one.
    pub max_in_flight: NonZeroUsize,
}

impl BatchConfig {
    pub fn max_wait(&self) -> Duration {
        Duration::from_millis(self.max_wait_ms)
    }

    pub fn max_idle(&self) -> Duration {
        Duration::from_millis(self.max_idle_ms)
    }
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            // Large enough that per-batch costs (a commit, a bulk request's round trip) are
            // spread thin; small enough that a few in flight stay within tens of MiB.
            max_items: 5000,
            max_bytes: 16 << 20,
            max_wait_ms: 200,
            // Fetch responses of a backlog follow each other within a few milliseconds.
            max_idle_ms: 10,
            // Two batches overlap one batch's acknowledgements with the next one's work; the
            // third absorbs a slow acknowledgement (BENCHMARKS.md).
            max_in_flight: NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct Probe {
        kafka: KafkaConfig,
    }

    #[test]
    fn a_misspelled_section_is_an_error() {
        let dir = std::env::temp_dir().join(format!("redstream-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("typo.toml");
        std::fs::write(&file, "[kafak]\nbrokers = \"127.0.0.1:1\"\n").expect("write");
        let err = load_config::<Probe>(Some(&file)).expect_err("typo rejected");
        assert!(err.to_string().contains("kafak"), "{err:#}");

        std::fs::write(&file, "[kafka]\nbrokers = \"127.0.0.1:1\"\n[live]\n").expect("write");
        let ok = load_config::<Probe>(Some(&file)).expect("other stages' sections are fine");
        assert_eq!(ok.kafka.brokers, "127.0.0.1:1");
    }

    #[test]
    fn secrets_never_print() {
        let cfg = KafkaConfig {
            sasl_password: Some(Secret::new("hunter2")),
            ..KafkaConfig::default()
        };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"));
    }
}
