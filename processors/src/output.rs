//! Writing a batch's records to Kafka the way the delivery contract asks: hand every record to
//! the producer first, then wait for all acknowledgements at once. Waiting per record would cap
//! a stage at one broker round trip per message.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::future::join_all;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use redstream_common::kafka::producer_config;
use redstream_common::KafkaConfig;

/// An idempotent producer shared by every output topic of one stage. Cloning is cheap and
/// shares the producer (a batch's acknowledgements are awaited by a task of its own).
#[derive(Clone)]
pub struct Output {
    producer: FutureProducer,
    /// Broker list and stage name, for error messages.
    origin: Arc<(String, &'static str)>,
}

/// The acknowledgements of the records a batch queued, in queueing order.
#[must_use = "records are durable only once their acknowledgements are awaited"]
pub struct Acks {
    deliveries: Vec<DeliveryFuture>,
    origin: Arc<(String, &'static str)>,
}

impl Output {
    pub fn new(kafka: &KafkaConfig, stage: &'static str) -> anyhow::Result<Self> {
        let producer = producer_config(kafka, &format!("redstream-{stage}"))
            .create()
            .with_context(|| {
                format!(
                    "cannot create the {stage} producer for Kafka at {}",
                    kafka.brokers
                )
            })?;
        Ok(Self {
            producer,
            origin: Arc::new((kafka.brokers.clone(), stage)),
        })
    }

    /// Acknowledgements to collect for about `records` records.
    pub fn acks(&self, records: usize) -> Acks {
        Acks {
            deliveries: Vec::with_capacity(records),
            origin: Arc::clone(&self.origin),
        }
    }

    /// Queues one record without waiting for Kafka and adds its acknowledgement to `acks`.
    /// Waits only while the local queue is full, which keeps records in order (a later record
    /// never overtakes a rejected earlier one).
    pub async fn enqueue(
        &self,
        record: FutureRecord<'_, [u8], [u8]>,
        acks: &mut Acks,
    ) -> anyhow::Result<()> {
        let mut record = record;
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    acks.deliveries.push(delivery);
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, back)) => {
                    return Err(e).with_context(|| {
                        format!(
                            "cannot queue a record for topic {} on Kafka at {}",
                            back.topic, self.origin.0
                        )
                    })
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
    pub fn len(&self) -> usize {
        self.deliveries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deliveries.is_empty()
    }

    /// Waits until Kafka acknowledged every record. The first failure is returned with the
    /// topic its record was bound for; the caller must then not commit the batch.
    pub async fn all(self) -> anyhow::Result<()> {
        let (brokers, stage) = &*self.origin;
        for result in join_all(self.deliveries).await {
            match result {
                Ok(Ok(_)) => {}
                Ok(Err((e, record))) => {
                    return Err(e).with_context(|| {
                        format!(
                            "Kafka at {brokers} did not accept a record for topic {}; the \
                             batch is not committed and will be read again",
                            record.topic()
                        )
                    })
                }
                Err(_) => anyhow::bail!(
                    "the {stage} producer closed before Kafka at {brokers} acknowledged every \
                     record of a batch"
                ),
            }
        }
        Ok(())
    }
}
