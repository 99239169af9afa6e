//! Configuration of `redstream-sink-elasticsearch`: the shared `kafka`, `topics` and `batch`
//! sections, the consumer group, and `[elasticsearch]`.
//!
//! Unknown top-level sections are ignored so that one file can configure every stage; the
//! `[elasticsearch]` section itself rejects unknown keys.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use redstream_common::{BatchConfig, KafkaConfig, Secret, TopicsConfig};
use serde::{Deserialize, Serialize};

use crate::retry::BackoffConfig;

/// Everything `redstream-sink-elasticsearch` reads from its config file and environment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ElasticsearchSinkConfig {
    pub kafka: KafkaConfig,
    pub topics: TopicsConfig,
    pub batch: BatchConfig,
    /// Consumer group; `{prefix}.sink-elasticsearch` when unset.
    pub group_id: Option<String>,
    pub elasticsearch: ElasticsearchConfig,
}

impl ElasticsearchSinkConfig {
    pub fn group_id(&self) -> String {
        self.group_id
            .clone()
            .unwrap_or_else(|| format!("{}.sink-elasticsearch", self.topics.prefix))
    }
}

/// How to reach Elasticsearch or OpenSearch, and the shape of the indices (`[elasticsearch]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ElasticsearchConfig {
    /// Comma-separated node URLs, `http(s)://host:port`; requests go round-robin.
    pub urls: String,
    /// Indices are `{index_prefix}-posts` and `{index_prefix}-comments`.
    pub index_prefix: String,
    /// Settings of the indices the sink creates (through its index templates).
    pub number_of_shards: u32,
    pub number_of_replicas: u32,
    /// Basic authentication; both or neither.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// API key authentication (the base64 `id:key` that Elasticsearch hands out), instead of
    /// username and password.
    pub api_key: Option<Secret>,
    /// PEM file of the CA that signed the nodes' certificates (https URLs); unset means the
    /// bundled web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// Route requests through the proxy of HTTP(S)_PROXY. Off by default so that a proxy
    /// meant for something else never sees the sink's traffic.
    pub use_system_proxy: bool,
    /// Bounds of one `_bulk` request; a Kafka batch is split into as many as needed.
    pub bulk_max_actions: usize,
    pub bulk_max_bytes: usize,
    /// Time limit of one request, after which it counts as a transient failure.
    pub request_timeout_ms: u64,
    /// Waits between retries while the cluster is unreachable or throttling.
    pub backoff: BackoffConfig,
}

impl Default for ElasticsearchConfig {
    fn default() -> Self {
        Self {
            urls: "http://127.0.0.1:9200".into(),
            index_prefix: "redstream".into(),
            number_of_shards: 1,
            number_of_replicas: 0,
            username: None,
            password: None,
            api_key: None,
            ca_file: None,
            use_system_proxy: false,
            bulk_max_actions: 1000,
            bulk_max_bytes: 5 << 20,
            request_timeout_ms: 30_000,
            backoff: BackoffConfig::default(),
        }
    }
}

impl ElasticsearchConfig {
    pub fn url_list(&self) -> Vec<String> {
        self.urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(String::from)
            .collect()
    }

    pub fn posts_index(&self) -> String {
        format!("{}-posts", self.index_prefix)
    }

    pub fn comments_index(&self) -> String {
        format!("{}-comments", self.index_prefix)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.url_list().is_empty() {
            bail!("elasticsearch.urls is empty; set it to http(s)://host:port[,...] (REDSTREAM_ELASTICSEARCH__URLS)");
        }
        if !is_valid_index_prefix(&self.index_prefix) {
            bail!(
                "elasticsearch.index_prefix {:?} cannot start an index name; use lowercase \
                 letters, digits, '-' and '_', starting with a letter or digit",
                self.index_prefix
            );
        }
        if self.username.is_some() != self.password.is_some() {
            bail!("set both elasticsearch.username and elasticsearch.password, or neither");
        }
        if self.username.is_some() && self.api_key.is_some() {
            bail!("set elasticsearch.username/password or elasticsearch.api_key, not both");
        }
        if self.bulk_max_actions == 0 || self.bulk_max_bytes == 0 {
            bail!("elasticsearch.bulk_max_actions and bulk_max_bytes must be at least 1");
        }
        Ok(())
    }
}

/// Index names are lowercase, without `\ / * ? " < > | , #` or spaces, and do not start with
/// `-`, `_` or `+`; this accepts a safe subset.
pub fn is_valid_index_prefix(prefix: &str) -> bool {
    let mut chars = prefix.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && prefix.len() <= 200
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_local_stack() {
        let cfg = ElasticsearchConfig::default();
        cfg.validate().expect("defaults are valid");
        assert_eq!(cfg.url_list(), vec!["http://127.0.0.1:9200"]);
        assert_eq!(cfg.posts_index(), "redstream-posts");
        assert_eq!(cfg.number_of_replicas, 0);
    }

    #[test]
    fn index_prefixes_must_be_index_names() {
        assert!(is_valid_index_prefix("redstream-test_1"));
        assert!(!is_valid_index_prefix("Redstream"));
        assert!(!is_valid_index_prefix("_hidden"));
        assert!(!is_valid_index_prefix("a b"));
    }

    #[test]
    fn secrets_never_print() {
        let cfg = ElasticsearchConfig {
            username: Some("app".into()),
            password: Some(Secret::new("hunter2")),
            api_key: Some(Secret::new("s3cr3tkey")),
            ..ElasticsearchConfig::default()
        };
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cr3tkey"),
            "{shown}"
        );
    }
}
