//! Configuration of `redstream-sink-scylla`: the shared `kafka`, `topics` and `batch` sections,
//! the consumer group, and `[scylla]`.
//!
//! Unknown top-level sections are ignored so that one file can configure every stage; the
//! `[scylla]` section itself rejects unknown keys, so a typo there fails loudly.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use redstream_common::{BatchConfig, KafkaConfig, Secret, TopicsConfig};
use scylla::statement::Consistency;
use serde::{Deserialize, Serialize};

use crate::retry::BackoffConfig;

/// Everything `redstream-sink-scylla` reads from its config file and environment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ScyllaSinkConfig {
    pub kafka: KafkaConfig,
    pub topics: TopicsConfig,
    pub batch: BatchConfig,
    /// Consumer group; `{prefix}.sink-scylla` when unset.
    pub group_id: Option<String>,
    pub scylla: ScyllaConfig,
}

impl ScyllaSinkConfig {
    pub fn group_id(&self) -> String {
        self.group_id
            .clone()
            .unwrap_or_else(|| format!("{}.sink-scylla", self.topics.prefix))
    }
}

/// How to reach ScyllaDB or Cassandra, and how hard to push it (`[scylla]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScyllaConfig {
    /// Comma-separated contact points, `host:port`; the driver discovers the other nodes.
    pub nodes: String,
    /// Keyspace of the tables; created with SimpleStrategy when missing.
    pub keyspace: String,
    /// Replication factor of the keyspace when the sink creates it (an existing keyspace is
    /// left as it is: production keyspaces are usually NetworkTopologyStrategy, made by hand).
    pub replication_factor: u32,
    /// Consistency of the writes: `one`, `local_one`, `quorum`, `local_quorum`, `all`, ...
    pub consistency: String,
    /// Datacenter to prefer; unset means no preference.
    pub local_datacenter: Option<String>,
    /// Password authentication (PasswordAuthenticator); both or neither.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Encrypt client connections. Implied by `ca_file`.
    pub tls: bool,
    /// PEM file of the CA that signed the nodes' certificates; unset means the system's CAs.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key, for nodes that require client authentication.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Writes in flight at once. Each item is two single-partition inserts.
    pub max_concurrency: usize,
    /// Items whose text fields add up to more than this many bytes are dead-lettered
    /// (`too_large`) instead of written: a mutation over half the commit log segment size is
    /// refused by every node, forever, and would stall the partition.
    pub max_item_bytes: usize,
    pub connect_timeout_ms: u64,
    /// Client-side limit on one insert, after which it counts as a transient failure.
    pub request_timeout_ms: u64,
    /// Waits between retries while the cluster is unreachable or overloaded.
    pub backoff: BackoffConfig,
}

impl Default for ScyllaConfig {
    fn default() -> Self {
        Self {
            nodes: "127.0.0.1:9042".into(),
            keyspace: "redstream".into(),
            replication_factor: 1,
            consistency: "local_quorum".into(),
            local_datacenter: None,
            username: None,
            password: None,
            tls: false,
            ca_file: None,
            cert_file: None,
            key_file: None,
            max_concurrency: 64,
            max_item_bytes: 8 << 20,
            connect_timeout_ms: 5_000,
            request_timeout_ms: 12_000,
            backoff: BackoffConfig::default(),
        }
    }
}

impl ScyllaConfig {
    pub fn node_list(&self) -> Vec<String> {
        self.nodes
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from)
            .collect()
    }

    pub fn tls_enabled(&self) -> bool {
        self.tls || self.ca_file.is_some()
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// Checks what the driver would only notice later, or with a vaguer message.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.node_list().is_empty() {
            bail!("scylla.nodes is empty; set it to host:port[,host:port...] (REDSTREAM_SCYLLA__NODES)");
        }
        if !is_valid_keyspace_name(&self.keyspace) {
            bail!(
                "scylla.keyspace {:?} is not a valid keyspace name; use 1 to 48 letters, digits \
                 or underscores, starting with a letter",
                self.keyspace
            );
        }
        if self.replication_factor == 0 {
            bail!("scylla.replication_factor must be at least 1");
        }
        if self.max_concurrency == 0 {
            bail!("scylla.max_concurrency must be at least 1");
        }
        if self.username.is_some() != self.password.is_some() {
            bail!("set both scylla.username and scylla.password, or neither");
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            bail!("set both scylla.cert_file and scylla.key_file, or neither");
        }
        parse_consistency(&self.consistency)?;
        Ok(())
    }
}

/// Keyspace names go into CQL text unquoted, so only the names Cassandra accepts unquoted pass.
pub fn is_valid_keyspace_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= 48
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub fn parse_consistency(name: &str) -> anyhow::Result<Consistency> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "any" => Consistency::Any,
        "one" => Consistency::One,
        "two" => Consistency::Two,
        "three" => Consistency::Three,
        "quorum" => Consistency::Quorum,
        "all" => Consistency::All,
        "local_quorum" => Consistency::LocalQuorum,
        "each_quorum" => Consistency::EachQuorum,
        "local_one" => Consistency::LocalOne,
        other => bail!(
            "scylla.consistency {other:?} is not a write consistency; use one of any, one, two, \
             three, quorum, all, local_quorum, each_quorum, local_one"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_local_stack() {
        let cfg = ScyllaConfig::default();
        cfg.validate().expect("defaults are valid");
        assert_eq!(cfg.node_list(), vec!["127.0.0.1:9042"]);
        assert!(!cfg.tls_enabled());
    }

    #[test]
    fn rejects_keyspace_names_that_would_need_quoting() {
        assert!(is_valid_keyspace_name("redstream_test_1"));
        assert!(!is_valid_keyspace_name("1abc"));
        assert!(!is_valid_keyspace_name("a-b"));
        assert!(!is_valid_keyspace_name("x; DROP KEYSPACE y"));
        assert!(!is_valid_keyspace_name(&"a".repeat(49)));
    }

    #[test]
    fn consistency_names_parse() {
        assert_eq!(
            parse_consistency("LOCAL_QUORUM").ok(),
            Some(Consistency::LocalQuorum)
        );
        assert!(parse_consistency("strong").is_err());
    }

    #[test]
    fn password_never_prints() {
        let cfg = ScyllaConfig {
            username: Some("app".into()),
            password: Some(Secret::new("hunter2")),
            ..ScyllaConfig::default()
        };
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }
}
