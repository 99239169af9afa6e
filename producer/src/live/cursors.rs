//! Cursors of the followed feeds, checkpointed in the compacted topic
//! `{prefix}.producer-cursors`: key `{subreddit}/{kind}`, value JSON
//! `{"fullname": "t3_…", "created_utc": 1610000000}`, the newest item published.
//!
//! A cursor is written only after every item newer than it was acknowledged by Kafka, so a
//! restart resumes from it without a gap; and since it names the newest item, a restart
//! fetches one page per feed, not a storm.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use redstream_common::kafka::client_config;
use redstream_common::KafkaConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub fullname: String,
    pub created_utc: i64,
}

/// Reads every cursor of the topic, from the beginning to its current end.
pub fn load(kafka: &KafkaConfig, topic: &str) -> anyhow::Result<HashMap<String, Cursor>> {
    let mut cursors = HashMap::new();
    let consumer: BaseConsumer = client_config(kafka, "redstream-producer-cursors")
        .set("group.id", format!("{topic}.loader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .with_context(|| format!("cannot create a Kafka client for {}", kafka.brokers))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .with_context(|| format!("cannot read the metadata of {topic} on {}", kafka.brokers))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut tpl = TopicPartitionList::new();
    let mut pending = 0usize;
    for p in partitions {
        let (low, high) = watermarks(&consumer, topic, p)?;
        if high > low {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .with_context(|| format!("cannot assign {topic} partition {p}"))?;
            pending += 1;
        }
    }
    if pending == 0 {
        return Ok(cursors);
    }
    consumer
        .assign(&tpl)
        .with_context(|| format!("cannot assign the partitions of {topic}"))?;
    let started = Instant::now();
    while pending > 0 {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("reading the cursors from {topic} took longer than 60 s; check the broker");
        }
        match consumer.poll(Duration::from_millis(500)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(_))) => pending -= 1,
            Some(Err(e)) => {
                return Err(e).with_context(|| format!("cannot read cursor topic {topic}"))
            }
            Some(Ok(m)) => {
                let Some(key) = m.key().and_then(|k| std::str::from_utf8(k).ok()) else {
                    continue;
                };
                match m.payload().map(serde_json::from_slice::<Cursor>) {
                    Some(Ok(cursor)) => {
                        cursors.insert(key.to_string(), cursor);
                    }
                    // A tombstone or a foreign record: forget the cursor.
                    None | Some(Err(_)) => {
                        cursors.remove(key);
                    }
                }
            }
        }
    }
    Ok(cursors)
}

/// The watermarks of one partition, retried for a while: a topic created a moment ago may
/// have no leader yet.
fn watermarks(consumer: &BaseConsumer, topic: &str, partition: i32) -> anyhow::Result<(i64, i64)> {
    let started = Instant::now();
    loop {
        match consumer.fetch_watermarks(topic, partition, Duration::from_secs(10)) {
            Ok(w) => return Ok(w),
            Err(e) if started.elapsed() < Duration::from_secs(30) => {
                tracing::debug!(%topic, partition, error = %e, "watermarks not available yet; retrying");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot read the watermarks of {topic} partition {partition}")
                })
            }
        }
    }
}

/// Writes one cursor and waits for Kafka's acknowledgement.
pub async fn save(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    cursor: &Cursor,
) -> anyhow::Result<()> {
    let value = serde_json::to_vec(cursor)?;
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(&value),
            Duration::from_secs(60),
        )
        .await
        .map_err(|(e, _)| anyhow::anyhow!("cannot checkpoint cursor {key} to {topic}: {e}"))?;
    Ok(())
}
