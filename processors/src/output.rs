//! Writing a batch's records to Kafka the way the delivery contract asks: hand every record to
//! the producer first, then wait for all acknowledgements at once. Waiting per record would cap
//! a stage at one broker round trip per message.
//!
//! A batch's acknowledgements are counted, not collected: every record carries a shared
//! counter (an `Arc`, no allocation per record) that librdkafka's delivery callback counts
//! down, keeping the first failure. One future per record, as `FutureProducer` makes, would
//! cost an allocation and a wake-up per record.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{
    BaseRecord, DeliveryResult, FutureRecord, Producer, ProducerContext, ThreadedProducer,
};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use redstream_common::kafka::producer_config;
use redstream_common::KafkaConfig;
use tokio::sync::Notify;

/// Counts each delivery against the batch its record belongs to.
pub struct AckCounter;

impl ClientContext for AckCounter {}

impl ProducerContext for AckCounter {
    type DeliveryOpaque = Arc<Outstanding>;

    fn delivery(&self, result: &DeliveryResult<'_>, outstanding: Arc<Outstanding>) {
        if let Err((error, record)) = result {
            outstanding.fail(format!(
                "Kafka did not accept a record for topic {} ({error})",
                record.topic()
            ));
        }
        outstanding.done_one();
    }
}

/// Outstanding acknowledgements of one batch. Starts at one, held by the batch itself until
/// every record is queued, so that early acknowledgements cannot bring it to zero too soon.
pub struct Outstanding {
    pending: AtomicUsize,
    failure: Mutex<Option<String>>,
    all_done: Notify,
}

impl Outstanding {
    fn fail(&self, reason: String) {
        let mut failure = match self.failure.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        };
        failure.get_or_insert(reason);
    }

    fn done_one(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Stores a permit when nobody waits yet: the wait that comes later returns at once.
            self.all_done.notify_one();
        }
    }

    fn failure(&self) -> Option<String> {
        match self.failure.lock() {
            Ok(f) => f.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// An idempotent producer shared by every output topic of one stage. Cloning is cheap and
/// shares the producer (a batch's acknowledgements are awaited by a task of its own).
#[derive(Clone)]
pub struct Output {
    producer: Arc<ThreadedProducer<AckCounter>>,
    /// Broker list and stage name, for error messages.
    origin: Arc<(String, &'static str)>,
}

/// The acknowledgements of the records a batch queued.
#[must_use = "records are durable only once their acknowledgements are awaited"]
pub struct Acks {
    outstanding: Arc<Outstanding>,
    queued: usize,
    origin: Arc<(String, &'static str)>,
}

impl Output {
    pub fn new(kafka: &KafkaConfig, stage: &'static str) -> anyhow::Result<Self> {
        let producer = producer_config(kafka, &format!("redstream-{stage}"))
            .create_with_context(AckCounter)
            .with_context(|| {
                format!(
                    "cannot create the {stage} producer for Kafka at {}",
                    kafka.brokers
                )
            })?;
        Ok(Self {
            producer: Arc::new(producer),
            origin: Arc::new((kafka.brokers.clone(), stage)),
        })
    }

    /// A new, empty set of acknowledgements for one batch's records.
    pub fn acks(&self) -> Acks {
        Acks {
            outstanding: Arc::new(Outstanding {
                pending: AtomicUsize::new(1),
                failure: Mutex::new(None),
                all_done: Notify::new(),
            }),
            queued: 0,
            origin: Arc::clone(&self.origin),
        }
    }

    /// Queues one record without waiting for Kafka and counts it in `acks`. Waits only while
    /// the local queue is full, which keeps records in order (a later record never overtakes a
    /// rejected earlier one).
    pub async fn enqueue(
        &self,
        record: FutureRecord<'_, [u8], [u8]>,
        acks: &mut Acks,
    ) -> anyhow::Result<()> {
        let mut record = BaseRecord {
            topic: record.topic,
            partition: record.partition,
            payload: record.payload,
            key: record.key,
            timestamp: record.timestamp,
            headers: record.headers,
            delivery_opaque: Arc::clone(&acks.outstanding),
        };
        // Counted before it is handed over: its acknowledgement may come at once.
        acks.outstanding.pending.fetch_add(1, Ordering::AcqRel);
        loop {
            match self.producer.send(record) {
                Ok(()) => {
                    acks.queued += 1;
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, back)) => {
                    acks.outstanding.pending.fetch_sub(1, Ordering::AcqRel);
                    return Err(e).with_context(|| {
                        format!(
                            "cannot queue a record for topic {} on Kafka at {}",
                            back.topic, self.origin.0
                        )
                    });
                }
            }
        }
    }

    /// Sends whatever is still queued, at shutdown.
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(stage = self.origin.1, error = %e, "producer flush at shutdown failed");
        }
    }
}

impl Acks {
    /// Records queued so far.
    pub fn len(&self) -> usize {
        self.queued
    }

    pub fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Waits until Kafka answered for every record. The first failure is returned with the
    /// topic its record was bound for; the caller must then not commit the batch.
    pub async fn all(self) -> anyhow::Result<()> {
        // Gives up the batch's own count: from here only acknowledgements bring it down.
        self.outstanding.done_one();
        if self.outstanding.pending.load(Ordering::Acquire) != 0 {
            self.outstanding.all_done.notified().await;
        }
        match self.outstanding.failure() {
            None => Ok(()),
            Some(reason) => anyhow::bail!(
                "{reason} at {}; the {} batch is not committed and will be read again",
                self.origin.0,
                self.origin.1
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> Arc<Outstanding> {
        Arc::new(Outstanding {
            pending: AtomicUsize::new(1),
            failure: Mutex::new(None),
            all_done: Notify::new(),
        })
    }

    #[tokio::test]
    async fn waits_for_every_acknowledgement_even_those_that_came_first() {
        let origin = Arc::new(("127.0.0.1:1".to_string(), "test"));
        let t = fresh();
        t.pending.fetch_add(3, Ordering::AcqRel);
        // Two acknowledgements arrive before the batch waits, the last one after.
        t.done_one();
        t.done_one();
        let acks = Acks {
            outstanding: Arc::clone(&t),
            queued: 3,
            origin,
        };
        let waiting = tokio::spawn(acks.all());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "one acknowledgement is still out");
        t.done_one();
        let result = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("done once all are in")
            .expect("no panic");
        assert!(result.is_ok(), "{result:?}");
    }

    #[tokio::test]
    async fn the_first_failure_is_reported() {
        let origin = Arc::new(("127.0.0.1:1".to_string(), "test"));
        let t = fresh();
        t.pending.fetch_add(2, Ordering::AcqRel);
        t.fail("Kafka did not accept a record for topic a".into());
        t.done_one();
        t.fail("Kafka did not accept a record for topic b".into());
        t.done_one();
        let err = Acks {
            outstanding: t,
            queued: 2,
            origin,
        }
        .all()
        .await
        .expect_err("a failed record fails the batch");
        let text = err.to_string();
        assert!(
            text.contains("topic a") && text.contains("127.0.0.1:1"),
            "{text}"
        );
    }
}
