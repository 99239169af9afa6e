//! Writing a batch's records to Kafka the way the delivery contract asks: hand every record to
//! the producer first, then wait for all acknowledgements at once. Waiting per record would cap
//! a stage at one broker round trip per message.

use std::time::Duration;

use anyhow::Context;
use futures::future::join_all;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use redstream_common::kafka::producer_config;
use redstream_common::KafkaConfig;

/// An idempotent producer shared by every output topic of one stage.
pub struct Output {
    producer: FutureProducer,
    brokers: String,
    stage: &'static str,
}

/// A record handed to the producer, with the topic it is bound for (for error messages).
pub struct Pending {
    topic: String,
    delivery: DeliveryFuture,
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
            brokers: kafka.brokers.clone(),
            stage,
        })
    }

    /// Queues one record without waiting for Kafka. Waits only while the local queue is full,
    /// which keeps records in order (a later record never overtakes a rejected earlier one).
    pub async fn enqueue(&self, record: FutureRecord<'_, [u8], [u8]>) -> anyhow::Result<Pending> {
        let topic = record.topic.to_string();
        let mut record = record;
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(Pending { topic, delivery }),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => {
                    return Err(e).with_context(|| {
                        format!(
                            "cannot queue a record for topic {topic} on Kafka at {}",
                            self.brokers
                        )
                    })
                }
            }
        }
    }

    /// Waits until Kafka acknowledged every queued record. The first failure is returned with
    /// the topic it was bound for; the caller must then not commit the batch.
    pub async fn await_all(&self, pending: Vec<Pending>) -> anyhow::Result<()> {
        let topics: Vec<String> = pending.iter().map(|p| p.topic.clone()).collect();
        let results = join_all(pending.into_iter().map(|p| p.delivery)).await;
        for (topic, result) in topics.iter().zip(results) {
            match result {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    return Err(e).with_context(|| {
                        format!(
                            "Kafka at {} did not accept a record for topic {topic}; the batch \
                             is not committed and will be read again",
                            self.brokers
                        )
                    })
                }
                Err(_) => anyhow::bail!(
                    "the {} producer closed before Kafka at {} acknowledged a record for \
                     topic {topic}",
                    self.stage,
                    self.brokers
                ),
            }
        }
        Ok(())
    }

    /// Sends whatever is still queued, at shutdown.
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(stage = self.stage, error = %e, "producer flush at shutdown failed");
        }
    }
}
