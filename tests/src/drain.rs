//! Knowing when a pipeline run is finished: every consumer group has committed up to the end of
//! its input topic, and stays there.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// A consumer group and the topic it reads.
#[derive(Debug, Clone)]
pub struct GroupInput {
    pub group: String,
    pub topic: String,
}

fn client(brokers: &str, group: &str) -> anyhow::Result<BaseConsumer> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .with_context(|| format!("cannot create a Kafka client for {brokers}"))
}

/// Messages in a topic (sum over partitions of high minus low watermark).
pub fn topic_count(brokers: &str, topic: &str) -> anyhow::Result<i64> {
    let consumer = client(brokers, "redstream-counter")?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .with_context(|| format!("cannot read metadata of {topic} from {brokers}"))?;
    let mut total = 0;
    for t in metadata.topics() {
        for p in t.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .with_context(|| format!("cannot read watermarks of {topic}/{}", p.id()))?;
            total += high - low;
        }
    }
    Ok(total)
}

/// Messages the group has not committed yet, over all partitions of its topic.
pub fn group_lag(brokers: &str, input: &GroupInput) -> anyhow::Result<i64> {
    let consumer = client(brokers, &input.group)?;
    let metadata = consumer
        .fetch_metadata(Some(&input.topic), Duration::from_secs(10))
        .with_context(|| format!("cannot read metadata of {} from {brokers}", input.topic))?;
    let mut tpl = TopicPartitionList::new();
    let mut highs = Vec::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            tpl.add_partition(&input.topic, p.id());
            let (_, high) =
                consumer.fetch_watermarks(&input.topic, p.id(), Duration::from_secs(10))?;
            highs.push((p.id(), high));
        }
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .with_context(|| format!("cannot read committed offsets of group {}", input.group))?;
    let mut lag = 0;
    for (partition, high) in highs {
        let done = committed
            .find_partition(&input.topic, partition)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            })
            .unwrap_or(0);
        lag += (high - done).max(0);
    }
    Ok(lag)
}

/// Waits until every group has no lag in two checks in a row (`settle` apart), calling `alive`
/// between checks so that a crashed stage fails the wait at once instead of timing out.
pub fn wait_drained(
    brokers: &str,
    groups: &[GroupInput],
    timeout: Duration,
    settle: Duration,
    mut alive: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut quiet_rounds = 0;
    loop {
        alive()?;
        // Metadata can be briefly unavailable (a new topic's leader not elected yet): such a
        // check counts as "not drained yet", and only the deadline turns it into a failure.
        let lags: anyhow::Result<Vec<(String, i64)>> = groups
            .iter()
            .map(|g| group_lag(brokers, g).map(|lag| (g.group.clone(), lag)))
            .collect();
        match &lags {
            Ok(lags) if lags.iter().all(|(_, lag)| *lag == 0) => {
                quiet_rounds += 1;
                if quiet_rounds >= 2 {
                    return Ok(());
                }
            }
            _ => quiet_rounds = 0,
        }
        if Instant::now() > deadline {
            match lags {
                Ok(lags) => {
                    bail!("pipeline did not drain within {timeout:?}; lag per group: {lags:?}")
                }
                Err(e) => {
                    return Err(e.context(format!("pipeline did not drain within {timeout:?}")))
                }
            }
        }
        std::thread::sleep(settle);
    }
}

/// One message as read back from a topic.
#[derive(Debug, Clone)]
pub struct TopicMessage {
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl TopicMessage {
    /// The value of a header, when present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a whole topic from the beginning.
pub fn read_all(brokers: &str, topic: &str) -> anyhow::Result<Vec<TopicMessage>> {
    let expected = topic_count(brokers, topic)?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("redstream-reader-{}", std::process::id()),
        )
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[topic])?;
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (out.len() as i64) < expected {
        if Instant::now() > deadline {
            bail!(
                "read only {} of {expected} messages from {topic} within 60 s",
                out.len()
            );
        }
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|x| {
                                (
                                    x.key.to_string(),
                                    String::from_utf8_lossy(x.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(TopicMessage {
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().unwrap_or_default().to_vec(),
                    headers,
                });
            }
            Some(Err(e)) => bail!("error reading {topic}: {e}"),
            None => {}
        }
    }
    Ok(out)
}
