//! The loop both stages run, in the order the delivery contract (docs/design.md) asks for:
//! rebalances first, then the batch made durable by the handler, then the commit.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use rdkafka::message::OwnedMessage;
use redstream_common::metrics::Readiness;
use redstream_common::{telemetry, BatchConsumer, KafkaConfig, RebalanceEvent, Shutdown};
use tracing::Instrument;

/// What a stage does with what [`BatchConsumer`] hands it.
pub trait BatchHandler {
    /// Reacts to partitions assigned or revoked, before any message of the batch is handled.
    fn on_rebalance(
        &mut self,
        events: &[RebalanceEvent],
    ) -> impl Future<Output = anyhow::Result<()>>;

    /// Makes the batch's output durable (written and acknowledged, or dead-lettered). An error
    /// stops the stage without committing, so the batch is read again by the next owner.
    fn handle(&mut self, messages: &[OwnedMessage]) -> impl Future<Output = anyhow::Result<()>>;
}

/// Runs batches until shutdown is asked for (then finishes the batch in hand, commits it and
/// leaves the group) or the handler fails (then leaves the group without committing).
pub async fn consume<H: BatchHandler>(
    consumer: &BatchConsumer,
    handler: &mut H,
    shutdown: &Shutdown,
    readiness: &Readiness,
) -> anyhow::Result<()> {
    readiness.set(true);
    let result = run_batches(consumer, handler, shutdown).await;
    readiness.set(false);
    consumer.close();
    result
}

async fn run_batches<H: BatchHandler>(
    consumer: &BatchConsumer,
    handler: &mut H,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    while !shutdown.requested() {
        let batch = consumer.next_batch(shutdown).await;

        if !batch.events.is_empty() {
            handler.on_rebalance(&batch.events).await?;
        }
        if batch.messages.is_empty() {
            continue;
        }

        let span = telemetry::batch_span(consumer.stage(), consumer.topic(), &batch.messages);
        handler
            .handle(&batch.messages)
            .instrument(span.clone())
            .await?;

        span.in_scope(|| consumer.commit(&batch.messages));
    }
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
