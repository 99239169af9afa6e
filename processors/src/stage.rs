//! The loop both stages run, in the order the delivery contract (docs/design.md) asks for:
//! rebalances first, then the batch made durable by the handler, then the commit.
//!
//! A batch is handled in two parts. [`BatchHandler::start`] does the work that must happen in
//! input order (decoding, deciding, enriching, queueing every record to Kafka) and returns
//! what is left: waiting for Kafka's acknowledgements (and, for dedupe, writing the state
//! records after them). That rest runs on its own while the next batch is gathered and
//! started, up to `batch.max_in_flight` batches; offsets are committed oldest batch first, each
//! only once its rest has ended well.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::CommitMode;
use rdkafka::message::OwnedMessage;
use redstream_common::metrics::Readiness;
use redstream_common::{
    telemetry, BatchConsumer, BatchOffsets, Finished, InFlight, KafkaConfig, RebalanceEvent,
    Shutdown,
};
use tracing::Instrument;

/// What is left of a batch once its records are queued: resolves when they are durable.
pub type Rest = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'static>>;

/// What a stage does with what [`BatchConsumer`] hands it.
pub trait BatchHandler {
    /// Reacts to partitions assigned or revoked. Runs only when no batch is in flight, before
    /// any message gathered after the rebalance is started.
    fn on_rebalance(
        &mut self,
        events: &[RebalanceEvent],
    ) -> impl Future<Output = anyhow::Result<()>>;

    /// Does the batch's in-order work and queues its output; returns the rest, which must
    /// make the output durable (acknowledged, or dead-lettered). An error, here or from the
    /// rest, stops the stage without committing, so the batch is read again by the next owner.
    fn start(&mut self, messages: Vec<OwnedMessage>) -> impl Future<Output = anyhow::Result<Rest>>;
}

/// Runs batches until shutdown is asked for (then finishes the batches in flight, commits them
/// and leaves the group) or the handler fails (then leaves the group without committing).
pub async fn consume<H: BatchHandler>(
    consumer: &BatchConsumer,
    handler: &mut H,
    shutdown: &Shutdown,
    readiness: &Readiness,
    max_in_flight: std::num::NonZeroUsize,
) -> anyhow::Result<()> {
    readiness.set(true);
    let mut in_flight = InFlight::new(max_in_flight);
    let mut result = run_batches(consumer, handler, shutdown, &mut in_flight).await;
    if result.is_ok() {
        // Shutdown: what is on its way is finished and committed before leaving the group.
        result = settle_all(consumer, &mut in_flight).await;
    }
    readiness.set(false);
    consumer.close();
    result
}

async fn run_batches<H: BatchHandler>(
    consumer: &BatchConsumer,
    handler: &mut H,
    shutdown: &Shutdown,
    in_flight: &mut InFlight<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    while !shutdown.requested() {
        let idle = (!in_flight.is_empty()).then(|| consumer.max_idle());
        let batch = consumer.next_batch(shutdown, idle).await;

        if !batch.events.is_empty() {
            // Partition state (dedupe's) may only change between whole batches.
            settle_all(consumer, in_flight).await?;
            handler.on_rebalance(&batch.events).await?;
        }
        if batch.messages.is_empty() {
            // No input for a while: nothing to overlap with, so finish what is on its way.
            settle_all(consumer, in_flight).await?;
            continue;
        }

        let offsets = BatchOffsets::of(&batch.messages);
        let span = telemetry::batch_span(consumer.stage(), consumer.topic(), &batch.messages);
        let rest = handler
            .start(batch.messages)
            .instrument(span.clone())
            .await?;
        in_flight.push(offsets, span, rest);

        while let Some(finished) = in_flight.oldest_if_done().await {
            settle(consumer, finished?, CommitMode::Async)?;
        }
        if in_flight.is_full() {
            if let Some(finished) = in_flight.oldest().await {
                settle(consumer, finished?, CommitMode::Async)?;
            }
        }
    }
    Ok(())
}

/// Waits for every batch in flight and commits each, synchronously: after this the group's
/// offsets are where the stage's durable output ends.
async fn settle_all(
    consumer: &BatchConsumer,
    in_flight: &mut InFlight<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    while let Some(finished) = in_flight.oldest().await {
        settle(consumer, finished?, CommitMode::Sync)?;
    }
    Ok(())
}

/// Commits a finished batch if its output is durable; otherwise its error stops the stage.
fn settle(
    consumer: &BatchConsumer,
    finished: Finished<anyhow::Result<()>>,
    mode: CommitMode,
) -> anyhow::Result<()> {
    finished.outcome?;
    finished
        .span
        .in_scope(|| consumer.commit(&finished.offsets, mode));
    Ok(())
}

/// Start-up check run off the async runtime (it blocks on metadata): every topic must exist.
/// Returns each topic's partition count.
pub async fn check_topics(kafka: &KafkaConfig, topics: &[String]) -> anyhow::Result<Vec<usize>> {
    let kafka = kafka.clone();
    let topics = topics.to_vec();
    tokio::task::spawn_blocking(move || {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        redstream_common::kafka::check_topics(&kafka, &names)
    })
    .await
    .context("the topic check panicked")?
}

/// How long a stopping stage waits for records still queued in its producers.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
