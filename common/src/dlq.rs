//! Dead-lettering: a record a stage cannot handle goes, unchanged, to that stage's dead-letter
//! topic with the reason and its origin in headers. Nothing is dropped silently.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::config::KafkaConfig;
use crate::kafka::producer_config;
use crate::metrics;

/// Header names on every dead-lettered record.
pub mod header {
    pub const STAGE: &str = "redstream.stage";
    pub const REASON: &str = "redstream.reason";
    pub const KIND: &str = "redstream.reason.kind";
    pub const SOURCE_TOPIC: &str = "redstream.source.topic";
    pub const SOURCE_PARTITION: &str = "redstream.source.partition";
    pub const SOURCE_OFFSET: &str = "redstream.source.offset";
    pub const SOURCE_FILE: &str = "redstream.source.file";
    pub const SOURCE_LINE: &str = "redstream.source.line";
}

/// Where the dead record came from.
#[derive(Debug, Clone)]
pub enum DeadLetterSource<'a> {
    Kafka {
        topic: &'a str,
        partition: i32,
        offset: i64,
    },
    File {
        path: &'a Path,
        line: u64,
    },
}

/// One record that a stage gives up on.
#[derive(Debug, Clone)]
pub struct DeadLetter<'a> {
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
    /// Short, stable class of the failure, used as a metric label (`parse`, `decode`, ...).
    pub kind: &'static str,
    /// Human-readable reason, as precise as the failing component said it.
    pub reason: String,
    pub source: DeadLetterSource<'a>,
}

/// Writes dead letters of one stage to its topic.
#[derive(Clone)]
pub struct DeadLetterSink {
    producer: FutureProducer,
    topic: String,
    stage: &'static str,
}

impl DeadLetterSink {
    pub fn new(kafka: &KafkaConfig, stage: &'static str, topic: String) -> anyhow::Result<Self> {
        let mut cfg = producer_config(kafka, &format!("redstream-{stage}-dlq"));
        // A dead letter may be the oversized message that caused it.
        cfg.set("message.max.bytes", "16777216");
        let producer = cfg
            .create()
            .with_context(|| format!("cannot create the dead-letter producer for {topic}"))?;
        Ok(Self {
            producer,
            topic,
            stage,
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Sends one dead letter and waits until Kafka has it: callers commit the source offset
    /// only after this returns.
    pub async fn send(&self, letter: DeadLetter<'_>) -> anyhow::Result<()> {
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: header::STAGE,
                value: Some(self.stage),
            })
            .insert(Header {
                key: header::KIND,
                value: Some(letter.kind),
            })
            .insert(Header {
                key: header::REASON,
                value: Some(letter.reason.as_str()),
            });
        match &letter.source {
            DeadLetterSource::Kafka {
                topic,
                partition,
                offset,
            } => {
                headers = headers
                    .insert(Header {
                        key: header::SOURCE_TOPIC,
                        value: Some(*topic),
                    })
                    .insert(Header {
                        key: header::SOURCE_PARTITION,
                        value: Some(&partition.to_string()),
                    })
                    .insert(Header {
                        key: header::SOURCE_OFFSET,
                        value: Some(&offset.to_string()),
                    });
            }
            DeadLetterSource::File { path, line } => {
                headers = headers
                    .insert(Header {
                        key: header::SOURCE_FILE,
                        value: Some(path.to_string_lossy().as_ref()),
                    })
                    .insert(Header {
                        key: header::SOURCE_LINE,
                        value: Some(&line.to_string()),
                    });
            }
        }

        let mut record = FutureRecord::to(&self.topic)
            .payload(letter.payload)
            .headers(headers);
        if let Some(key) = letter.key {
            record = record.key(key);
        }
        self.producer
            .send(record, Duration::from_secs(60))
            .await
            .map_err(|(e, _)| e)
            .with_context(|| format!("cannot write to dead-letter topic {}", self.topic))?;

        metrics::DEAD_LETTERED
            .with_label_values(&[self.stage, letter.kind])
            .inc();
        tracing::warn!(
            stage = self.stage,
            topic = %self.topic,
            kind = letter.kind,
            reason = %letter.reason,
            source = ?letter.source,
            "record dead-lettered"
        );
        Ok(())
    }
}
