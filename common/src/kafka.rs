//! Kafka client configuration: one place that turns [`KafkaConfig`] into librdkafka settings,
//! and a start-up check that names the broker and the topic when something is missing.

use std::time::Duration;

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use crate::config::KafkaConfig;

/// Settings every client shares: brokers, security, and the user's raw overrides (last).
pub fn client_config(kafka: &KafkaConfig, client_id: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &kafka.brokers)
        .set("client.id", client_id)
        .set("security.protocol", &kafka.security_protocol);
    if let Some(mechanism) = &kafka.sasl_mechanism {
        cfg.set("sasl.mechanism", mechanism);
    }
    if let Some(user) = &kafka.sasl_username {
        cfg.set("sasl.username", user);
    }
    if let Some(password) = &kafka.sasl_password {
        cfg.set("sasl.password", password.expose());
    }
    if let Some(path) = &kafka.ssl_ca_location {
        cfg.set("ssl.ca.location", path.to_string_lossy());
    }
    if let Some(path) = &kafka.ssl_certificate_location {
        cfg.set("ssl.certificate.location", path.to_string_lossy());
    }
    if let Some(path) = &kafka.ssl_key_location {
        cfg.set("ssl.key.location", path.to_string_lossy());
    }
    for (key, value) in &kafka.client {
        cfg.set(key, value);
    }
    cfg
}

/// An idempotent producer: acks from all replicas, retries without duplicates or reordering.
pub fn producer_config(kafka: &KafkaConfig, client_id: &str) -> ClientConfig {
    let mut cfg = client_config(kafka, client_id);
    cfg.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "zstd")
        .set("linger.ms", "20")
        .set("message.timeout.ms", "300000")
        .set("queue.buffering.max.kbytes", "65536");
    reapply_overrides(&mut cfg, kafka);
    cfg
}

/// A group consumer that never commits on its own: stages store and commit offsets only after
/// their output is durable. Prefetch is bounded so a large lag cannot balloon memory.
pub fn consumer_config(kafka: &KafkaConfig, client_id: &str, group_id: &str) -> ClientConfig {
    let mut cfg = client_config(kafka, client_id);
    cfg.set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("session.timeout.ms", "30000")
        .set("max.poll.interval.ms", "300000")
        .set("queued.max.messages.kbytes", "16384")
        // When that bound is reached librdkafka postpones the next fetch of a partition by
        // this much (default 1000 ms): a stage that drains its queue faster than that would
        // sit idle for most of a second, which the benchmark showed as 0.6 s stalls.
        .set("fetch.queue.backoff.ms", "20")
        .set("fetch.wait.max.ms", "100");
    reapply_overrides(&mut cfg, kafka);
    cfg
}

fn reapply_overrides(cfg: &mut ClientConfig, kafka: &KafkaConfig) {
    for (key, value) in &kafka.client {
        cfg.set(key, value);
    }
}

/// Fails fast, with a message naming the broker and the fix, when Kafka cannot be reached or a
/// topic the stage needs does not exist. Returns each topic's partition count.
pub fn check_topics(kafka: &KafkaConfig, topics: &[&str]) -> anyhow::Result<Vec<usize>> {
    let probe: BaseConsumer = client_config(kafka, "redstream-probe")
        .create()
        .with_context(|| format!("cannot create a Kafka client for {}", kafka.brokers))?;
    let metadata = probe
        .fetch_metadata(None, Duration::from_secs(10))
        .with_context(|| {
            format!(
                "cannot reach Kafka at {} (security protocol {}); is it running? \
             Locally: scripts/stack up",
                kafka.brokers, kafka.security_protocol
            )
        })?;

    let mut partitions = Vec::with_capacity(topics.len());
    for wanted in topics {
        match metadata.topics().iter().find(|t| t.name() == *wanted) {
            Some(t) if !t.partitions().is_empty() => partitions.push(t.partitions().len()),
            _ => bail!(
                "topic {wanted} does not exist on {}; create the topics first with \
                 `redstream-producer topics` (same --config and REDSTREAM_TOPICS__PREFIX)",
                kafka.brokers
            ),
        }
    }
    Ok(partitions)
}
