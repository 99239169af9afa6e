//! The publishing side of a replay: hands records to the idempotent producer without waiting
//! for each acknowledgement, collects acknowledgements as they arrive, and dead-letters lines
//! that are not items.
//!
//! Nothing is dropped: a full librdkafka queue (`QueueFull`) makes the publisher wait for
//! outstanding deliveries and try the same record again; a delivery that fails after
//! librdkafka's own retries (`message.timeout.ms`) is counted and named in the summary, and
//! makes the run exit non-zero.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use redstream_common::{DeadLetter, DeadLetterSink, DeadLetterSource, Shutdown};
use tokio::task::JoinSet;

use super::report::Stats;

/// Dead letters being sent at once; each is awaited by its own task.
const MAX_DEAD_LETTERS_IN_FLIGHT: usize = 256;

/// A delivery future tagged with the file its record came from.
struct Tagged {
    file: usize,
    delivery: DeliveryFuture,
}

impl Future for Tagged {
    type Output = (
        usize,
        Result<OwnedDeliveryResult, futures::channel::oneshot::Canceled>,
    );

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let file = self.file;
        self.delivery.poll_unpin(cx).map(|r| (file, r))
    }
}

pub struct Publisher {
    producer: FutureProducer,
    topic: String,
    dlq: DeadLetterSink,
    max_in_flight: usize,
    pending: FuturesUnordered<Tagged>,
    dead_letters: JoinSet<(usize, anyhow::Result<()>)>,
    shutdown: Shutdown,
    pub stats: Stats,
}

/// Whether a record was handed over, or the wait for room was cut short by a shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handed {
    Yes,
    Interrupted,
}

impl Publisher {
    pub fn new(
        producer: FutureProducer,
        topic: String,
        dlq: DeadLetterSink,
        max_in_flight: usize,
        shutdown: Shutdown,
        stats: Stats,
    ) -> Self {
        Self {
            producer,
            topic,
            dlq,
            max_in_flight: max_in_flight.max(1),
            pending: FuturesUnordered::new(),
            dead_letters: JoinSet::new(),
            shutdown,
            stats,
        }
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len() + self.dead_letters.len()
    }

    /// Hands one item to Kafka. Waits only when too many deliveries are outstanding, and stops
    /// waiting when shutdown is asked for (Kafka may be down: the wait could be long).
    pub async fn publish(&mut self, file: usize, key: &str, value: &[u8]) -> Handed {
        while self.pending.len() >= self.max_in_flight {
            if self.wait_for_one().await == Handed::Interrupted {
                return Handed::Interrupted;
            }
        }
        loop {
            let record = FutureRecord::to(&self.topic).key(key).payload(value);
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    self.pending.push(Tagged { file, delivery });
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if self.shutdown.requested() {
                        return Handed::Interrupted;
                    }
                    if self.pending.is_empty() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    } else if self.wait_for_one().await == Handed::Interrupted {
                        return Handed::Interrupted;
                    }
                }
                Err((e, _)) => {
                    self.stats.failed(
                        file,
                        format!("cannot enqueue {key} for topic {}: {e}", self.topic),
                    );
                    break;
                }
            }
        }
        self.collect_ready();
        Handed::Yes
    }

    /// Sends one line to the dead-letter topic on a task of its own.
    pub async fn dead_letter(
        &mut self,
        file: usize,
        path: Arc<PathBuf>,
        line: u64,
        payload: Vec<u8>,
        kind: &'static str,
        reason: String,
    ) -> Handed {
        while self.dead_letters.len() >= MAX_DEAD_LETTERS_IN_FLIGHT {
            let shutdown = self.shutdown.clone();
            let joined = tokio::select! {
                joined = self.dead_letters.join_next() => joined,
                _ = shutdown.wait() => return Handed::Interrupted,
            };
            if let Some(joined) = joined {
                self.record_dead_letter(joined);
            }
        }
        let sink = self.dlq.clone();
        self.dead_letters.spawn(async move {
            let letter = DeadLetter {
                key: None,
                payload: &payload,
                kind,
                reason,
                source: DeadLetterSource::File { path: &path, line },
            };
            (file, sink.send(letter).await)
        });
        Handed::Yes
    }

    /// Counts the acknowledgements that have already arrived, without waiting.
    pub fn collect_ready(&mut self) {
        while let Some(Some((file, result))) = self.pending.next().now_or_never() {
            self.record_delivery(file, result);
        }
        while let Some(joined) = self.dead_letters.try_join_next() {
            self.record_dead_letter(joined);
        }
    }

    /// Waits until every outstanding record is acknowledged or has failed.
    pub async fn drain(&mut self) {
        while let Some((file, result)) = self.pending.next().await {
            self.record_delivery(file, result);
            self.stats.maybe_report(self.in_flight());
        }
        while let Some(joined) = self.dead_letters.join_next().await {
            self.record_dead_letter(joined);
        }
    }

    /// Records still unacknowledged, counted as failed: used when a drain is cut short.
    pub fn abandon(&mut self) {
        let items = self.pending.len();
        let letters = self.dead_letters.len();
        if items + letters > 0 {
            self.stats.unconfirmed(
                items as u64 + letters as u64,
                format!(
                    "{items} records for {} and {letters} for {} were not confirmed before the \
                     flush timeout (replay.flush_timeout_secs)",
                    self.topic,
                    self.dlq.topic()
                ),
            );
        }
        self.pending = FuturesUnordered::new();
        self.dead_letters.abort_all();
    }

    async fn wait_for_one(&mut self) -> Handed {
        let shutdown = self.shutdown.clone();
        let next = tokio::select! {
            next = self.pending.next() => next,
            _ = shutdown.wait() => return Handed::Interrupted,
        };
        if let Some((file, result)) = next {
            self.record_delivery(file, result);
        }
        self.stats.maybe_report(self.in_flight());
        Handed::Yes
    }

    fn record_delivery(
        &mut self,
        file: usize,
        result: Result<OwnedDeliveryResult, futures::channel::oneshot::Canceled>,
    ) {
        match result {
            Ok(Ok(_)) => self.stats.produced(file),
            Ok(Err((e, _))) => self.stats.failed(
                file,
                format!("delivery to topic {} failed: {e}", self.topic),
            ),
            Err(_) => self.stats.failed(
                file,
                format!(
                    "delivery to topic {} was cancelled: the producer shut down",
                    self.topic
                ),
            ),
        }
    }

    fn record_dead_letter(
        &mut self,
        joined: Result<(usize, anyhow::Result<()>), tokio::task::JoinError>,
    ) {
        match joined {
            Ok((file, Ok(()))) => self.stats.dead_lettered(file),
            Ok((file, Err(e))) => self.stats.failed(file, format!("{e:#}")),
            Err(e) => self.stats.failed(
                0,
                format!(
                    "dead-letter task for {} ended abnormally: {e}",
                    self.dlq.topic()
                ),
            ),
        }
    }
}
