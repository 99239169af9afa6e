//! The consumer loop every Kafka-reading stage shares.
//!
//! A stage takes a [`Batch`], makes its output durable (produced and acknowledged, or written
//! to the store), then calls [`BatchConsumer::commit`]. Offsets are therefore committed only
//! after the output exists: at-least-once delivery, made exact by idempotent writes.
//!
//! Three known traps of librdkafka consumers shape this loop:
//! - consumers that stall silently after a rebalance (rust-rdkafka #638, #738, Vector #22006):
//!   we use one `StreamConsumer` polled from one task, never split partition queues, and keep
//!   polling between batches, so rebalance callbacks always run;
//! - prefetch memory that grows with lag (Vector #20939): `queued.max.messages.kbytes` bounds it;
//! - stored offsets that go backwards across rebalances (librdkafka #2782): we never use the
//!   offset store; each commit names explicit offsets, only for partitions we still own, and a
//!   batch drops messages of partitions revoked while it was gathered.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaResult;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::config::{BatchConfig, KafkaConfig};
use crate::kafka::consumer_config;
use crate::metrics;
use crate::shutdown::Shutdown;

/// A change of the partitions this process owns, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebalanceEvent {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
}

/// Records rebalances so the stage can react between batches (load or drop per-partition
/// state), and logs them.
pub struct StageContext {
    stage: &'static str,
    events: Mutex<Vec<RebalanceEvent>>,
}

impl ClientContext for StageContext {
    /// librdkafka statistics (every `statistics.interval.ms`): per-partition lag of the
    /// partitions this process fetches, and whether any broker connection is up.
    fn stats(&self, statistics: Statistics) {
        let brokers_up = statistics
            .brokers
            .values()
            .filter(|b| b.state == "UP")
            .count();
        metrics::KAFKA_BROKERS_UP
            .with_label_values(&[self.stage])
            .set(brokers_up as i64);
        metrics::set_kafka_connected(brokers_up > 0);
        for (topic, stats) in &statistics.topics {
            for (partition, p) in &stats.partitions {
                // -1 is librdkafka's bucket for messages without a partition.
                if *partition < 0 {
                    continue;
                }
                let label = partition.to_string();
                let labels = [self.stage, topic.as_str(), label.as_str()];
                match partition_lag(p) {
                    Some(lag) => metrics::CONSUMER_LAG.with_label_values(&labels).set(lag),
                    None => {
                        let _ = metrics::CONSUMER_LAG.remove_label_values(&labels);
                    }
                }
            }
        }
    }
}

fn partitions_of(tpl: &TopicPartitionList) -> Vec<i32> {
    tpl.elements().iter().map(|e| e.partition()).collect()
}

impl ConsumerContext for StageContext {
    /// Result of an asynchronous commit: a failure is not fatal (the messages are read again
    /// and the writes are idempotent) but must be visible.
    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::warn!(
                stage = self.stage,
                partitions = ?partitions_of(offsets),
                error = %e,
                "offset commit failed; those messages will be read again"
            );
        }
    }

    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let partitions = partitions_of(tpl);
            tracing::info!(stage = self.stage, ?partitions, "partitions revoked");
            self.push(RebalanceEvent::Revoked(partitions));
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let partitions = partitions_of(tpl);
                tracing::info!(stage = self.stage, ?partitions, "partitions assigned");
                metrics::ASSIGNED_PARTITIONS
                    .with_label_values(&[self.stage])
                    .set(partitions.len() as i64);
                self.push(RebalanceEvent::Assigned(partitions));
            }
            Rebalance::Revoke(_) => {
                metrics::ASSIGNED_PARTITIONS
                    .with_label_values(&[self.stage])
                    .set(0);
            }
            Rebalance::Error(e) => {
                tracing::warn!(stage = self.stage, error = %e, "rebalance failed")
            }
        }
    }
}

/// Lag of a partition this member owns: librdkafka's `consumer_lag` (end of the partition
/// minus the committed offset); with nothing committed yet the group starts from the earliest
/// offset (`auto.offset.reset`), so everything between the watermarks is behind. `None` for a
/// partition this member does not own or whose end is not known yet.
fn partition_lag(p: &rdkafka::statistics::Partition) -> Option<i64> {
    if !p.desired || p.fetch_state == "none" {
        return None;
    }
    if p.consumer_lag >= 0 {
        return Some(p.consumer_lag);
    }
    (p.committed_offset < 0 && p.hi_offset >= 0 && p.lo_offset >= 0)
        .then(|| p.hi_offset - p.lo_offset)
}

impl StageContext {
    fn push(&self, event: RebalanceEvent) {
        match self.events.lock() {
            Ok(mut events) => events.push(event),
            Err(poisoned) => poisoned.into_inner().push(event),
        }
    }

    fn drain(&self) -> Vec<RebalanceEvent> {
        match self.events.lock() {
            Ok(mut events) => std::mem::take(&mut *events),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

/// Messages taken together, and the rebalances that happened while they were gathered.
#[derive(Debug, Default)]
pub struct Batch {
    pub messages: Vec<OwnedMessage>,
    /// Apply these before handling `messages`.
    pub events: Vec<RebalanceEvent>,
}

/// Where each partition of a batch ends: the offsets to commit once its output is durable.
/// Kept apart from the messages so that a batch can be handed on while its offsets wait.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOffsets {
    /// Partition -> offset after the batch's last message in it.
    next: BTreeMap<i32, i64>,
}

impl BatchOffsets {
    pub fn of(messages: &[OwnedMessage]) -> Self {
        messages
            .iter()
            .map(|m| (m.partition(), m.offset() + 1))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.next.is_empty()
    }
}

impl FromIterator<(i32, i64)> for BatchOffsets {
    /// From `(partition, next offset)` pairs; the highest offset of a partition wins.
    fn from_iter<I: IntoIterator<Item = (i32, i64)>>(pairs: I) -> Self {
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for (partition, offset) in pairs {
            let entry = next.entry(partition).or_insert(offset);
            *entry = (*entry).max(offset);
        }
        Self { next }
    }
}

/// How often librdkafka reports statistics, unless `kafka.client` sets
/// `statistics.interval.ms`.
const STATS_INTERVAL_MS: &str = "5000";

/// A group member of one stage reading one topic in bounded batches.
pub struct BatchConsumer {
    consumer: StreamConsumer<StageContext>,
    topic: String,
    stage: &'static str,
    limits: BatchConfig,
}

impl BatchConsumer {
    pub fn new(
        kafka: &KafkaConfig,
        stage: &'static str,
        group_id: &str,
        topic: &str,
        limits: BatchConfig,
    ) -> anyhow::Result<Self> {
        let context = StageContext {
            stage,
            events: Mutex::new(Vec::new()),
        };
        let mut config = consumer_config(kafka, &format!("redstream-{stage}"), group_id);
        if !kafka.client.contains_key("statistics.interval.ms") {
            // Feeds the lag and broker-connection metrics (see `StageContext::stats`).
            config.set("statistics.interval.ms", STATS_INTERVAL_MS);
        }
        let consumer: StreamConsumer<StageContext> = config
            .create_with_context(context)
            .with_context(|| format!("cannot create the {stage} consumer for {}", kafka.brokers))?;
        consumer
            .subscribe(&[topic])
            .with_context(|| format!("cannot subscribe to topic {topic}"))?;
        tracing::info!(stage, topic, group_id, "subscribed");
        Ok(Self {
            consumer,
            topic: topic.to_string(),
            stage,
            limits,
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// How long a stage with batches in flight waits for new input before it finishes them
    /// instead: a pause of the input is when overlapping has nothing to gain.
    pub fn max_idle(&self) -> Duration {
        self.limits.max_idle()
    }

    /// The stage name this consumer was created for (metrics label, log field).
    pub fn stage(&self) -> &'static str {
        self.stage
    }

    /// Waits for the first message (or shutdown, or `idle` without any message), then gathers
    /// more until the batch is full in count or bytes, `max_wait` has passed, or no message
    /// came for `max_idle` (the end of a backlog goes out at once, not after `max_wait`). An empty
    /// batch means shutdown was asked for, the input stayed idle, or only rebalance events
    /// arrived. A stage with batches in flight passes an `idle` limit so that it can finish
    /// and commit them while no new input comes.
    pub async fn next_batch(&self, shutdown: &Shutdown, idle: Option<Duration>) -> Batch {
        let mut messages = Vec::new();
        let mut bytes = 0usize;

        let idle_over = async {
            match idle {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        let first = tokio::select! {
            _ = shutdown.wait() => None,
            _ = idle_over => None,
            msg = self.consumer.recv() => Some(msg),
        };
        if let Some(result) = first {
            match result {
                Ok(m) => {
                    bytes += m.payload_len();
                    messages.push(m.detach());
                }
                Err(e) => tracing::warn!(stage = self.stage, error = %e, "kafka consume error"),
            }
            let deadline = tokio::time::Instant::now() + self.limits.max_wait();
            let max_idle = self.limits.max_idle();
            while messages.len() < self.limits.max_items && bytes < self.limits.max_bytes {
                let until = deadline.min(tokio::time::Instant::now() + max_idle);
                match tokio::time::timeout_at(until, self.consumer.recv()).await {
                    Ok(Ok(m)) => {
                        bytes += m.payload_len();
                        messages.push(m.detach());
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(stage = self.stage, error = %e, "kafka consume error")
                    }
                    Err(_) => break,
                }
            }
        }

        let events = self.consumer.context().drain();
        if !events.is_empty() {
            // Messages of partitions we no longer own go to their new owner; handling them here
            // too would commit offsets over that owner's progress.
            let owned = self.owned_partitions();
            messages.retain(|m| owned.contains(&m.partition()));
        }
        metrics::ITEMS_IN
            .with_label_values(&[self.stage])
            .inc_by(messages.len() as u64);
        if !messages.is_empty() {
            metrics::BATCH_SIZE
                .with_label_values(&[self.stage])
                .observe(messages.len() as f64);
        }
        Batch { messages, events }
    }

    /// Partitions of the input topic this process owns right now.
    pub fn owned_partitions(&self) -> BTreeSet<i32> {
        self.consumer
            .assignment()
            .map(|tpl| {
                tpl.elements_for_topic(&self.topic)
                    .iter()
                    .map(|e| e.partition())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Commits the offsets after a batch, for the partitions still owned. Call only once its
    /// output is durable. `CommitMode::Async` returns at once (the result is logged by
    /// [`StageContext::commit_callback`]); a stage uses `Sync` for its last commit before it
    /// leaves the group. A failed commit is not fatal: the messages come again and the
    /// idempotent writes absorb them.
    pub fn commit(&self, offsets: &BatchOffsets, mode: CommitMode) {
        let owned = self.owned_partitions();
        let mut tpl = TopicPartitionList::new();
        for (&partition, &offset) in offsets.next.iter().filter(|(p, _)| owned.contains(p)) {
            if let Err(e) = tpl.add_partition_offset(&self.topic, partition, Offset::Offset(offset))
            {
                tracing::warn!(stage = self.stage, partition, error = %e, "cannot add offset");
            }
        }
        if tpl.count() == 0 {
            return;
        }
        if let Err(e) = self.consumer.commit(&tpl, mode) {
            tracing::warn!(
                stage = self.stage,
                topic = %self.topic,
                error = %e,
                "offset commit failed; the batch will be read again after the rebalance"
            );
        }
    }

    /// Leaves the group cleanly so partitions move to other members at once.
    pub fn close(&self) {
        self.consumer.unsubscribe();
        // Give librdkafka a moment to send the leave-group request.
        std::thread::sleep(Duration::from_millis(100));
    }
}
