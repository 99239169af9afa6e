//! The state changelog `{prefix}.dedupe-state`: a compacted topic with one record per item
//! that dedupe passed on (key = fullname, value = 16 bytes, see [`Seen::to_bytes`]), written to
//! the same partition number as the input message. Because input partition N and changelog
//! partition N hold the same keys, whoever owns input partition N rebuilds its state by reading
//! changelog partition N from the beginning; compaction keeps that read proportional to the
//! number of distinct items, not to the history.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use redstream_common::kafka::client_config;
use redstream_common::KafkaConfig;

use super::state::{key_hash, DedupeState, Seen};

/// Reaching the end of a partition is how loading ends, not an error worth a log line.
struct LoaderContext;

impl ClientContext for LoaderContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::PartitionEOF) {
            tracing::debug!(stage = "dedupe", reason, "state partition fully read");
        } else {
            tracing::warn!(stage = "dedupe", error = %error, reason, "state loader kafka error");
        }
    }
}

impl ConsumerContext for LoaderContext {}

/// Rebuilds the state of `partitions` from `topic`, each read from its beginning up to the high
/// watermark it had when loading started. Blocking: run it off the async runtime.
pub fn load(
    kafka: &KafkaConfig,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> anyhow::Result<HashMap<i32, DedupeState>> {
    let started = Instant::now();
    let mut states: HashMap<i32, DedupeState> = partitions
        .iter()
        .map(|p| (*p, DedupeState::default()))
        .collect();

    // Not a group member: a plain reader that assigns partitions and never commits.
    // librdkafka still wants a group id for `assign`; this one never joins or commits.
    let consumer: BaseConsumer<LoaderContext> =
        client_config(kafka, "redstream-dedupe-state-loader")
            .set("group.id", format!("{topic}.loader"))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .create_with_context(LoaderContext)
            .with_context(|| {
                format!(
                    "cannot create the state loader for Kafka at {}",
                    kafka.brokers
                )
            })?;

    // Where each partition ends now; records written later are ours and already in memory.
    let mut end: HashMap<i32, i64> = HashMap::new();
    let mut tpl = TopicPartitionList::new();
    for &partition in partitions {
        let (low, high) =
            watermarks_with_retry(&consumer, topic, partition).with_context(|| {
                format!(
                    "cannot read the watermarks of state topic {topic} partition {partition} \
                     on Kafka at {}",
                    kafka.brokers
                )
            })?;
        if high > low {
            end.insert(partition, high);
            tpl.add_partition_offset(topic, partition, Offset::Beginning)
                .with_context(|| format!("cannot assign {topic} partition {partition}"))?;
        }
    }
    if end.is_empty() {
        return Ok(states);
    }
    consumer
        .assign(&tpl)
        .with_context(|| format!("cannot assign the partitions of state topic {topic}"))?;

    let mut done: HashSet<i32> = HashSet::new();
    let mut records = 0u64;
    let mut malformed = 0u64;
    while done.len() < end.len() {
        if started.elapsed() > timeout {
            bail!(
                "loading the dedupe state from {topic} (partitions {partitions:?}) on Kafka at \
                 {} took longer than {} s; raise dedupe.state_load_timeout_secs or check \
                 the broker",
                kafka.brokers,
                timeout.as_secs()
            );
        }
        match consumer.poll(Duration::from_millis(500)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                done.insert(partition);
            }
            Some(Err(e)) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot read state topic {topic} on Kafka at {}",
                        kafka.brokers
                    )
                })
            }
            Some(Ok(m)) => {
                let partition = m.partition();
                let Some(state) = states.get_mut(&partition) else {
                    continue;
                };
                records += 1;
                match (m.key(), m.payload()) {
                    (Some(key), None) => state.forget(key_hash(key)),
                    (Some(key), Some(value)) => match Seen::from_bytes(value) {
                        Some(seen) => state.restore(key_hash(key), seen),
                        None => malformed += 1,
                    },
                    (None, _) => malformed += 1,
                }
                if end
                    .get(&partition)
                    .is_some_and(|high| m.offset() + 1 >= *high)
                {
                    done.insert(partition);
                }
            }
        }
    }

    if malformed > 0 {
        tracing::warn!(
            stage = "dedupe",
            topic,
            malformed,
            "state records without a key or with a value other than 16 bytes were skipped"
        );
    }
    let items: usize = states.values().map(DedupeState::len).sum();
    tracing::info!(
        stage = "dedupe",
        topic,
        ?partitions,
        records,
        items,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "dedupe state loaded"
    );
    Ok(states)
}

/// The watermarks of one state partition. Right after a topic is created or a broker starts,
/// Kafka can answer `NotLeaderForPartition` for a moment: such answers are retried for up to
/// 30 s, so that a transient election does not stop the stage.
fn watermarks_with_retry<C: Consumer<Ctx>, Ctx: ConsumerContext>(
    consumer: &C,
    topic: &str,
    partition: i32,
) -> rdkafka::error::KafkaResult<(i64, i64)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match consumer.fetch_watermarks(topic, partition, Duration::from_secs(10)) {
            Ok(marks) => return Ok(marks),
            Err(e) if Instant::now() < deadline => {
                tracing::warn!(
                    topic,
                    partition,
                    error = %e,
                    "state topic watermarks not available yet; retrying"
                );
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e),
        }
    }
}
