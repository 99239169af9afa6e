//! Reading dead letters back: every record of a stage's `{prefix}.dlq.<stage>` topic, with the
//! headers the stage wrote (`redstream.stage`, `redstream.reason.kind`, `redstream.reason`,
//! `redstream.source.*`), and choosing some of them for a replay.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use redstream_common::dlq::header;
use redstream_common::kafka::client_config;
use redstream_common::KafkaConfig;
use serde::Serialize;

/// How long one topic may take to read before the tool gives up (Kafka slow or down).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// One dead-lettered record as it sits in its dead-letter topic.
#[derive(Debug, Clone, Serialize)]
pub struct Letter {
    /// The dead-letter topic, partition and offset: where this letter itself is.
    pub dlq_topic: String,
    pub dlq_partition: i32,
    pub dlq_offset: i64,
    pub key: Option<String>,
    #[serde(skip)]
    pub key_bytes: Option<Vec<u8>>,
    #[serde(skip)]
    pub value: Vec<u8>,
    pub value_bytes: usize,
    /// Every header, values as (lossy) UTF-8.
    pub headers: BTreeMap<String, String>,
}

impl Letter {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn stage(&self) -> &str {
        self.header(header::STAGE).unwrap_or("?")
    }

    pub fn kind(&self) -> &str {
        self.header(header::KIND).unwrap_or("?")
    }

    pub fn reason(&self) -> &str {
        self.header(header::REASON).unwrap_or("")
    }

    /// The topic, partition and offset the record was read from, when it came from Kafka
    /// (records of the producer come from a file line instead).
    pub fn source_topic(&self) -> Option<(&str, i32, i64)> {
        let topic = self.header(header::SOURCE_TOPIC)?;
        let partition = self.header(header::SOURCE_PARTITION)?.parse().ok()?;
        let offset = self.header(header::SOURCE_OFFSET)?.parse().ok()?;
        Some((topic, partition, offset))
    }

    /// Where the record came from, as one short string.
    pub fn source(&self) -> String {
        if let Some((topic, partition, offset)) = self.source_topic() {
            return format!("{topic}/{partition}/{offset}");
        }
        match (
            self.header(header::SOURCE_FILE),
            self.header(header::SOURCE_LINE),
        ) {
            (Some(file), Some(line)) => format!("{file}:{line}"),
            _ => "?".into(),
        }
    }
}

/// Reads a dead-letter topic from its first to its last record (as of the start of the read).
/// Reads without a consumer group: listing never moves anyone's offsets.
pub fn read_topic(kafka: &KafkaConfig, topic: &str) -> anyhow::Result<Vec<Letter>> {
    // librdkafka wants a group id even for assigned partitions; it joins nothing and commits
    // nothing here.
    let consumer: BaseConsumer = client_config(kafka, "redstream-dlq")
        .set("group.id", "redstream-dlq-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .with_context(|| format!("cannot create a Kafka client for {}", kafka.brokers))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .with_context(|| {
            format!(
                "cannot reach Kafka at {} to read {topic}; is it running?",
                kafka.brokers
            )
        })?;
    let Some(meta) = metadata.topics().iter().find(|t| t.name() == topic) else {
        bail!("topic {topic} is not known to Kafka at {}", kafka.brokers);
    };
    if meta.error().is_some() || meta.partitions().is_empty() {
        bail!(
            "topic {topic} does not exist on {}; check REDSTREAM_TOPICS__PREFIX (create topics \
             with `redstream-producer topics`)",
            kafka.brokers
        );
    }

    // Read each partition up to its high watermark as of now.
    let mut remaining: BTreeMap<i32, i64> = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for p in meta.partitions() {
        let (low, high) = consumer
            .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
            .with_context(|| format!("cannot read the offsets of {topic}/{}", p.id()))?;
        if high > low {
            remaining.insert(p.id(), high);
            assignment.add_partition_offset(topic, p.id(), Offset::Offset(low))?;
        }
    }
    let mut letters = Vec::new();
    if remaining.is_empty() {
        return Ok(letters);
    }
    consumer
        .assign(&assignment)
        .with_context(|| format!("cannot read {topic}"))?;

    let deadline = Instant::now() + READ_TIMEOUT;
    while !remaining.is_empty() {
        if Instant::now() > deadline {
            bail!(
                "read {} letters of {topic} but not the rest within {READ_TIMEOUT:?}; is Kafka \
                 at {} overloaded?",
                letters.len(),
                kafka.brokers
            );
        }
        let Some(result) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let m = result.with_context(|| format!("error while reading {topic}"))?;
        if let Some(&high) = remaining.get(&m.partition()) {
            if m.offset() + 1 >= high {
                remaining.remove(&m.partition());
            }
            if m.offset() >= high {
                continue;
            }
        } else {
            continue;
        }
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|x| {
                        (
                            x.key.to_string(),
                            String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        letters.push(Letter {
            dlq_topic: topic.to_string(),
            dlq_partition: m.partition(),
            dlq_offset: m.offset(),
            key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
            key_bytes: m.key().map(<[u8]>::to_vec),
            value: m.payload().unwrap_or_default().to_vec(),
            value_bytes: m.payload_len(),
            headers,
        });
    }
    letters.sort_by_key(|l| (l.dlq_partition, l.dlq_offset));
    Ok(letters)
}

/// Which letters a command acts on. Every given condition must hold; none given means all.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `redstream.reason.kind` values (`decode`, `rejected`, ...).
    pub kinds: Vec<String>,
    /// Source coordinates `topic/partition/offset` of the original records.
    pub sources: Vec<String>,
    /// Offsets of the letters in their dead-letter topic.
    pub dlq_offsets: Vec<i64>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty() && self.sources.is_empty() && self.dlq_offsets.is_empty()
    }

    pub fn matches(&self, letter: &Letter) -> bool {
        (self.kinds.is_empty() || self.kinds.iter().any(|k| k == letter.kind()))
            && (self.sources.is_empty() || self.sources.iter().any(|s| *s == letter.source()))
            && (self.dlq_offsets.is_empty() || self.dlq_offsets.contains(&letter.dlq_offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(kind: &str, offset: i64) -> Letter {
        let mut headers = BTreeMap::new();
        headers.insert(header::KIND.to_string(), kind.to_string());
        headers.insert(header::SOURCE_TOPIC.to_string(), "p.enriched".to_string());
        headers.insert(header::SOURCE_PARTITION.to_string(), "2".to_string());
        headers.insert(header::SOURCE_OFFSET.to_string(), "40".to_string());
        Letter {
            dlq_topic: "p.dlq.sink-scylla".into(),
            dlq_partition: 0,
            dlq_offset: offset,
            key: None,
            key_bytes: None,
            value: Vec::new(),
            value_bytes: 0,
            headers,
        }
    }

    #[test]
    fn filters_by_kind_source_and_offset() {
        let l = letter("too_large", 7);
        assert_eq!(l.source(), "p.enriched/2/40");
        assert!(Filter::default().matches(&l));
        let by_kind = Filter {
            kinds: vec!["too_large".into()],
            ..Filter::default()
        };
        assert!(by_kind.matches(&l));
        assert!(!by_kind.matches(&letter("decode", 7)));
        let by_source = Filter {
            sources: vec!["p.enriched/2/41".into()],
            ..Filter::default()
        };
        assert!(!by_source.matches(&l));
        let by_offset = Filter {
            dlq_offsets: vec![7],
            kinds: vec!["too_large".into()],
            ..Filter::default()
        };
        assert!(by_offset.matches(&l));
        assert!(!by_offset.matches(&letter("too_large", 8)));
    }
}
