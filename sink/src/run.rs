//! The loop both sinks share, following the delivery contract of `docs/design.md`:
//!
//! 1. take a batch from `{prefix}.enriched` (rebalances first: the sinks keep no state per
//!    partition, so they only log them);
//! 2. decode each message; an undecodable one becomes a dead letter (`decode`,
//!    `unknown_schema`);
//! 3. write the items to the store. Items the store refuses for good become dead letters
//!    (`rejected`, `too_large`) carrying the store's reason; items that failed for a passing
//!    reason (store down, timeouts, throttling) are written again after a capped, jittered
//!    backoff, for as long as it takes: the batch is never dropped and never committed early.
//!    One exception keeps a partition from being held forever by one item: an item the store
//!    answered for with a passing refusal (`429` for that item in a `_bulk` answer) is retried
//!    at most `backoff.max_item_retries` times, then dead-lettered as `retries_exhausted`;
//! 4. send the dead letters (awaited, retried the same way while Kafka is unreachable);
//! 5. commit the batch's offsets.
//!
//! Steps 2 to 4 of a batch run as a task of their own while the next batch is gathered, up to
//! `batch.max_in_flight` batches; step 5 follows batch order, so an offset is committed only
//! once its batch and every batch before it are written.
//!
//! A crash anywhere before 5 means the batch is read again; the stores' version checks make
//! that second write a no-op. On shutdown the batches in flight are finished and committed; if
//! the store is down at that moment the loop stops waiting, commits nothing more and exits
//! cleanly.

use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::CommitMode;
use rdkafka::message::{Message, OwnedMessage};
use redstream_common::metrics::{self, Readiness};
use redstream_common::{
    telemetry, BatchConsumer, BatchOffsets, DeadLetter, DeadLetterSink, DeadLetterSource, Finished,
    InFlight, Shutdown,
};
use redstream_schemas::{Codec, CodecError, EnrichedItem};

use crate::retry::{Backoff, BackoffConfig, WarnLimiter};

/// What became of one item handed to a store.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Stored (or already stored at this very version).
    Written,
    /// The store already holds a newer version: nothing to do.
    Stale,
    /// The store refuses the item for good; it goes to the dead-letter topic.
    Rejected { kind: &'static str, reason: String },
    /// A passing failure; the item is written again after a backoff, for as long as it takes.
    Retry { reason: String },
    /// The store answered for this very item with a passing refusal (throttled, shard busy):
    /// written again after a backoff, at most `backoff.max_item_retries` times, then
    /// dead-lettered (`retries_exhausted`) so that it cannot hold its partition forever.
    RetryItem { reason: String },
}

/// A place the sink writes enriched items to.
pub trait Store: Send + Sync + 'static {
    /// Stage name, as in metrics, logs and the dead-letter topic (`sink-scylla`).
    const STAGE: &'static str;
    /// Metric label of the store (`scylla`, `elasticsearch`).
    const TARGET: &'static str;

    /// The hosts the store is reached at, for log lines that must say where.
    fn hosts(&self) -> &str;

    /// Writes the items; returns one outcome per item, in order.
    fn write(&self, items: &[&EnrichedItem]) -> impl Future<Output = Vec<Outcome>> + Send;
}

/// The loop stopped because shutdown was asked for while waiting to retry.
#[derive(Debug)]
pub struct Interrupted;

/// Everything the loop works with, shared by the batches in flight.
pub struct SinkLoop<S: Store> {
    pub store: S,
    pub dlq: DeadLetterSink,
    pub codec: Codec,
    pub backoff: BackoffConfig,
    pub readiness: Readiness,
}

/// How often a "still failing" warning may be logged.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// What a batch in flight ends with: written (and dead-lettered), or abandoned at shutdown
/// with its message count.
type BatchEnd = Result<(), (Interrupted, usize)>;

impl<S: Store> SinkLoop<S> {
    /// Runs until shutdown; returns once the last batch is committed (or abandoned). Up to
    /// `max_in_flight` batches are written at once; their offsets are committed oldest first,
    /// each only once it and every batch before it are written.
    pub async fn run(
        self: Arc<Self>,
        consumer: &BatchConsumer,
        shutdown: &Shutdown,
        max_in_flight: NonZeroUsize,
    ) -> anyhow::Result<()> {
        self.readiness.set(true);
        let mut in_flight: InFlight<BatchEnd> = InFlight::new(max_in_flight);
        let mut result = self.run_batches(consumer, shutdown, &mut in_flight).await;
        if matches!(result, Ok(true)) {
            // Shutdown: finish and commit what is on its way.
            result = settle_all::<S>(consumer, &mut in_flight).await;
        }
        self.readiness.set(false);
        consumer.close();
        tracing::info!(stage = S::STAGE, "stopped");
        result.map(|_| ())
    }

    /// Ok(true) while every batch so far was written; Ok(false) once one was abandoned.
    async fn run_batches(
        self: &Arc<Self>,
        consumer: &BatchConsumer,
        shutdown: &Shutdown,
        in_flight: &mut InFlight<BatchEnd>,
    ) -> anyhow::Result<bool> {
        while !shutdown.requested() {
            let idle = (!in_flight.is_empty()).then(|| consumer.max_idle());
            let batch = consumer.next_batch(shutdown, idle).await;
            for event in &batch.events {
                tracing::debug!(
                    stage = S::STAGE,
                    ?event,
                    "rebalance; the sink keeps no partition state"
                );
            }
            if batch.messages.is_empty() {
                // No input for a while: nothing to overlap with, so finish what is on its way.
                if !settle_all::<S>(consumer, in_flight).await? {
                    return Ok(false);
                }
                continue;
            }

            let offsets = BatchOffsets::of(&batch.messages);
            let span = telemetry::batch_span(S::STAGE, consumer.topic(), &batch.messages);
            let this = Arc::clone(self);
            let stop = shutdown.clone();
            let messages = batch.messages;
            in_flight.push(offsets, span, async move {
                let count = messages.len();
                this.handle(&messages, &stop)
                    .await
                    .map_err(|interrupted| (interrupted, count))
            });

            while let Some(finished) = in_flight.oldest_if_done().await {
                if !settle::<S>(consumer, finished?, CommitMode::Async) {
                    return Ok(false);
                }
            }
            if in_flight.is_full() {
                if let Some(finished) = in_flight.oldest().await {
                    if !settle::<S>(consumer, finished?, CommitMode::Async) {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }

    /// Steps 2 to 4 for one batch.
    pub async fn handle(
        &self,
        messages: &[OwnedMessage],
        shutdown: &Shutdown,
    ) -> Result<(), Interrupted> {
        let mut letters: Vec<(usize, &'static str, String)> = Vec::new();
        let mut items: Vec<(usize, EnrichedItem)> = Vec::with_capacity(messages.len());
        for (index, message) in messages.iter().enumerate() {
            match message.payload() {
                None => letters.push((index, "decode", "message has no value".to_string())),
                Some(bytes) => match self.codec.decode_enriched(bytes) {
                    Ok(item) => items.push((index, crate::deletion::finalize(item))),
                    Err(e) => letters.push((index, codec_error_kind(&e), e.to_string())),
                },
            }
        }

        let refused = self.write_all(&items, shutdown).await?;
        letters.extend(refused);

        for (index, kind, reason) in letters {
            self.dead_letter(&messages[index], kind, reason, shutdown)
                .await?;
        }
        Ok(())
    }

    /// Writes until every item is written, stale or refused; returns the refused ones with
    /// their message index.
    async fn write_all(
        &self,
        items: &[(usize, EnrichedItem)],
        shutdown: &Shutdown,
    ) -> Result<Vec<(usize, &'static str, String)>, Interrupted> {
        let mut refused = Vec::new();
        let mut pending: Vec<usize> = (0..items.len()).collect();
        // Per item: how often the store refused it for a passing reason.
        let mut item_retries: Vec<u32> = vec![0; items.len()];
        let max_item_retries = self.backoff.max_item_retries;
        let mut backoff = Backoff::new(self.backoff);
        let mut limiter = WarnLimiter::new(WARN_EVERY);

        while !pending.is_empty() {
            let refs: Vec<&EnrichedItem> = pending.iter().map(|&k| &items[k].1).collect();
            let started = Instant::now();
            let outcomes = self.store.write(&refs).await;
            metrics::WRITE_SECONDS
                .with_label_values(&[S::STAGE, S::TARGET])
                .observe(started.elapsed().as_secs_f64());

            let mut again = Vec::new();
            let mut last_reason = String::new();
            let mut progressed = false;
            let mut written = Vec::with_capacity(pending.len());
            let mut stale = 0u64;
            let mut outcomes = outcomes.into_iter();
            for &k in &pending {
                let outcome = outcomes.next().unwrap_or(Outcome::Retry {
                    reason: "the store returned no outcome for this item".into(),
                });
                match outcome {
                    Outcome::Written => {
                        progressed = true;
                        written.push(item_times(&items[k].1));
                    }
                    Outcome::Stale => {
                        progressed = true;
                        stale += 1;
                    }
                    Outcome::Rejected { kind, reason } => {
                        progressed = true;
                        refused.push((items[k].0, kind, reason));
                    }
                    Outcome::Retry { reason } => {
                        again.push(k);
                        last_reason = reason;
                    }
                    Outcome::RetryItem { reason } => {
                        item_retries[k] += 1;
                        if max_item_retries > 0 && item_retries[k] > max_item_retries {
                            refused.push((
                                items[k].0,
                                "retries_exhausted",
                                format!(
                                    "gave up after {max_item_retries} retries (backoff.\
                                     max_item_retries); last refusal: {reason}"
                                ),
                            ));
                        } else {
                            again.push(k);
                            last_reason = reason;
                        }
                    }
                }
            }
            metrics::ITEMS_OUT
                .with_label_values(&[S::STAGE, "written"])
                .inc_by(written.len() as u64);
            metrics::ITEMS_DROPPED
                .with_label_values(&[S::STAGE, "stale"])
                .inc_by(stale);
            metrics::observe_item_ages(S::STAGE, written);
            if again.is_empty() {
                self.readiness.set(true);
                break;
            }

            if progressed {
                backoff.reset();
            } else {
                // Nothing got through: the store is down, and so is this sink, for probes.
                self.readiness.set(false);
            }
            let delay = backoff.next_delay();
            metrics::RETRIES
                .with_label_values(&[S::STAGE, S::TARGET])
                .inc();
            if let Some(held_back) = limiter.check() {
                tracing::warn!(
                    stage = S::STAGE,
                    target = S::TARGET,
                    hosts = self.store.hosts(),
                    items = again.len(),
                    attempt = backoff.attempts(),
                    retry_in_ms = delay.as_millis() as u64,
                    warnings_held_back = held_back,
                    reason = %last_reason,
                    "store write failed; retrying, nothing is committed meanwhile"
                );
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.wait() => return Err(Interrupted),
            }
            pending = again;
        }
        Ok(refused)
    }

    /// Sends one dead letter, retrying while Kafka does not take it.
    async fn dead_letter(
        &self,
        message: &OwnedMessage,
        kind: &'static str,
        reason: String,
        shutdown: &Shutdown,
    ) -> Result<(), Interrupted> {
        let mut backoff = Backoff::new(self.backoff);
        let mut limiter = WarnLimiter::new(WARN_EVERY);
        loop {
            let letter = DeadLetter {
                key: message.key(),
                payload: message.payload().unwrap_or_default(),
                kind,
                reason: reason.clone(),
                source: DeadLetterSource::Kafka {
                    topic: message.topic(),
                    partition: message.partition(),
                    offset: message.offset(),
                },
            };
            let Err(e) = self.dlq.send(letter).await else {
                return Ok(());
            };
            let delay = backoff.next_delay();
            metrics::RETRIES
                .with_label_values(&[S::STAGE, "kafka"])
                .inc();
            if let Some(held_back) = limiter.check() {
                tracing::warn!(
                    stage = S::STAGE,
                    topic = self.dlq.topic(),
                    partition = message.partition(),
                    offset = message.offset(),
                    retry_in_ms = delay.as_millis() as u64,
                    warnings_held_back = held_back,
                    error = format!("{e:#}"),
                    "cannot dead-letter a record; retrying"
                );
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.wait() => return Err(Interrupted),
            }
        }
    }
}

/// Waits for every batch in flight and commits each, synchronously, up to the first one
/// abandoned at shutdown (nothing after it is committed).
async fn settle_all<S: Store>(
    consumer: &BatchConsumer,
    in_flight: &mut InFlight<BatchEnd>,
) -> anyhow::Result<bool> {
    while let Some(finished) = in_flight.oldest().await {
        if !settle::<S>(consumer, finished?, CommitMode::Sync) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Commits a written batch; says so and commits nothing for one abandoned at shutdown.
/// Returns whether later batches may still be committed.
fn settle<S: Store>(
    consumer: &BatchConsumer,
    finished: Finished<BatchEnd>,
    mode: CommitMode,
) -> bool {
    let _entered = finished.span.enter();
    match finished.outcome {
        Ok(()) => {
            consumer.commit(&finished.offsets, mode);
            true
        }
        Err((Interrupted, messages)) => {
            tracing::warn!(
                stage = S::STAGE,
                messages,
                "shutting down before the batch could be written; its offsets (and those of \
                 any later batch) are not committed, so it will be read again"
            );
            false
        }
    }
}

/// When an item was created on Reddit and retrieved by the producer (Unix seconds).
fn item_times(item: &EnrichedItem) -> (i64, i64) {
    match item {
        EnrichedItem::Post(p) => (p.post.created_utc, p.post.retrieved_utc),
        EnrichedItem::Comment(c) => (c.comment.created_utc, c.comment.retrieved_utc),
    }
}

/// The dead-letter class of a message the codec cannot read.
pub fn codec_error_kind(error: &CodecError) -> &'static str {
    match error {
        CodecError::UnknownSchema { .. } => "unknown_schema",
        _ => "decode",
    }
}

/// What a sink binary needs besides its store to start consuming.
pub struct Setup<'a> {
    pub kafka: &'a redstream_common::KafkaConfig,
    pub topics: &'a redstream_common::TopicsConfig,
    pub batch: &'a redstream_common::BatchConfig,
    pub group_id: String,
    pub backoff: BackoffConfig,
    pub readiness: Readiness,
}

/// Joins the group and runs the loop until shutdown.
pub async fn consume<S: Store>(
    store: S,
    setup: Setup<'_>,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let names = redstream_common::TopicNames::new(&setup.topics.prefix);
    let dlq_topic = names.dlq(S::STAGE);
    let codec = Codec::new()?;
    let dlq = DeadLetterSink::new(setup.kafka, S::STAGE, dlq_topic)?;
    let consumer = BatchConsumer::new(
        setup.kafka,
        S::STAGE,
        &setup.group_id,
        &names.enriched,
        setup.batch.clone(),
    )?;
    let sink = Arc::new(SinkLoop {
        store,
        dlq,
        codec,
        backoff: setup.backoff,
        readiness: setup.readiness,
    });
    sink.run(&consumer, shutdown, setup.batch.max_in_flight)
        .await
}

/// Start-up check of Kafka: the broker answers and the stage's input and dead-letter topics
/// exist. Done first, so that a missing topic fails before anything is created in a store.
pub fn check_kafka(
    kafka: &redstream_common::KafkaConfig,
    topics: &redstream_common::TopicsConfig,
    stage: &str,
) -> anyhow::Result<()> {
    let names = redstream_common::TopicNames::new(&topics.prefix);
    redstream_common::kafka::check_topics(kafka, &[&names.enriched, &names.dlq(stage)])?;
    Ok(())
}

/// Ends the process after `main`: exit 0, or the error and its causes on one line (logged and
/// on stderr), exit 1.
pub fn exit(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "stopped by an error");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
