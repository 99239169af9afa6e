//! Sending dead letters back where they came from, once the cause is fixed (a store limit
//! raised, a mapping corrected, a bug in a stage deployed away).
//!
//! A letter goes back to its `redstream.source.topic` with its original key and bytes, so the
//! stage that refused it reads it again like any other record; the key puts it in the same
//! partition as before. The header `redstream.replayed.from` names the letter. Replaying is
//! safe to repeat: every stage downstream is idempotent (dedupe drops what it has seen, the
//! stores ignore a version they already hold). Dead letters of the producer come from a file
//! line, not a topic: fix the line and replay the file with `redstream-producer replay`.

use std::time::Duration;

use anyhow::Context;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use redstream_common::kafka::producer_config;
use redstream_common::KafkaConfig;

use crate::letters::Letter;

/// Header naming the dead letter a replayed record came from: `topic/partition/offset`.
pub const REPLAYED_FROM: &str = "redstream.replayed.from";

/// What a replay did with one chosen letter.
#[derive(Debug)]
pub enum Replayed {
    /// Written back to this topic.
    Sent(String),
    /// Not replayable (no source topic); the reason says what to do instead.
    Skipped(String),
}

/// Writes each letter back to its source topic and waits until Kafka has every one of them.
pub async fn replay(kafka: &KafkaConfig, letters: &[Letter]) -> anyhow::Result<Vec<Replayed>> {
    let producer: FutureProducer = producer_config(kafka, "redstream-dlq-replay")
        .set("message.max.bytes", "16777216")
        .create()
        .with_context(|| format!("cannot create a Kafka producer for {}", kafka.brokers))?;
    let mut out = Vec::with_capacity(letters.len());
    for letter in letters {
        let Some((topic, _, _)) = letter.source_topic() else {
            out.push(Replayed::Skipped(format!(
                "{}/{}/{} came from {} (not a topic): fix the line and replay the file with \
                 `redstream-producer replay`",
                letter.dlq_topic,
                letter.dlq_partition,
                letter.dlq_offset,
                letter.source()
            )));
            continue;
        };
        let from = format!(
            "{}/{}/{}",
            letter.dlq_topic, letter.dlq_partition, letter.dlq_offset
        );
        let headers = OwnedHeaders::new().insert(Header {
            key: REPLAYED_FROM,
            value: Some(from.as_str()),
        });
        let mut record = FutureRecord::to(topic)
            .payload(&letter.value[..])
            .headers(headers);
        if let Some(key) = &letter.key_bytes {
            record = record.key(&key[..]);
        }
        producer
            .send(record, Duration::from_secs(60))
            .await
            .map_err(|(e, _)| e)
            .with_context(|| {
                format!(
                    "Kafka at {} did not take the replay of {from} into {topic}; nothing after \
                     it was replayed, run the same command again once Kafka is back",
                    kafka.brokers
                )
            })?;
        out.push(Replayed::Sent(topic.to_string()));
    }
    Ok(out)
}
