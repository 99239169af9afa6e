//! Splitting subreddits between live producer replicas. Every replica joins the consumer group
//! `{prefix}.producer-live` on the (empty) topic `{prefix}.producer-coordination` and follows
//! only the subreddits whose name hashes to a partition Kafka assigned to it. Kafka's group
//! protocol does the rest: a new replica takes a share at the next rebalance, and a replica
//! that dies (no heartbeat for `live.replica_session_timeout_ms`) loses its share to the
//! others. A replica that gains a subreddit reloads its cursor from `{prefix}.producer-cursors`
//! first, so it resumes where the previous owner stopped.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use redstream_common::kafka::consumer_config;
use redstream_common::KafkaConfig;

/// The subreddit share of this replica.
pub struct Ownership {
    partitions: i32,
    assigned: Arc<Mutex<HashSet<i32>>>,
    generation: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ownership {
    /// Every subreddit, always: no coordination.
    pub fn everything() -> Self {
        Self {
            partitions: 0,
            assigned: Arc::default(),
            generation: Arc::new(AtomicU64::new(1)),
            stop: Arc::new(AtomicBool::new(true)),
            thread: None,
        }
    }

    /// Joins `group` on `topic` and keeps the assignment current from a thread of its own,
    /// which also sends the heartbeats.
    pub fn join(
        kafka: &KafkaConfig,
        topic: &str,
        group: &str,
        partitions: i32,
        session_timeout_ms: u64,
    ) -> anyhow::Result<Self> {
        let consumer: BaseConsumer = consumer_config(kafka, "redstream-producer-live", group)
            .set("session.timeout.ms", session_timeout_ms.to_string())
            .set(
                "heartbeat.interval.ms",
                (session_timeout_ms / 4).max(100).to_string(),
            )
            .create()
            .with_context(|| format!("cannot create the replica consumer for {}", kafka.brokers))?;
        consumer
            .subscribe(&[topic])
            .with_context(|| format!("cannot join group {group} on {topic}"))?;
        let assigned: Arc<Mutex<HashSet<i32>>> = Arc::default();
        let generation = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (assigned, generation, stop) = (
                Arc::clone(&assigned),
                Arc::clone(&generation),
                Arc::clone(&stop),
            );
            let topic = topic.to_string();
            std::thread::Builder::new()
                .name("live-replicas".into())
                .spawn(move || {
                    let mut last: Option<HashSet<i32>> = None;
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(Err(e)) = consumer.poll(Duration::from_millis(200)) {
                            tracing::warn!(stage = "producer", error = %e, %topic, "replica group error");
                        }
                        let now: HashSet<i32> = consumer
                            .assignment()
                            .map(|tpl| tpl.elements().iter().map(|e| e.partition()).collect())
                            .unwrap_or_default();
                        if last.as_ref() != Some(&now) {
                            let mut sorted: Vec<i32> = now.iter().copied().collect();
                            sorted.sort_unstable();
                            tracing::info!(stage = "producer", partitions = ?sorted, "replica share changed");
                            if let Ok(mut a) = assigned.lock() {
                                a.clone_from(&now);
                            }
                            generation.fetch_add(1, Ordering::SeqCst);
                            last = Some(now);
                        }
                    }
                    // Leave the group now rather than at the session timeout.
                    consumer.unsubscribe();
                })
                .context("cannot start the replica thread")?
        };
        Ok(Self {
            partitions,
            assigned,
            generation,
            stop,
            thread: Some(thread),
        })
    }

    /// Whether this replica follows `subreddit` now.
    pub fn owns(&self, subreddit: &str) -> bool {
        if self.partitions <= 0 {
            return true;
        }
        let partition = (fnv1a(&subreddit.to_ascii_lowercase()) % self.partitions as u64) as i32;
        self.assigned
            .lock()
            .map(|a| a.contains(&partition))
            .unwrap_or(false)
    }

    /// Bumped whenever the share changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

impl Drop for Ownership {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// FNV-1a: a hash that every replica, build and version computes alike.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::fnv1a;

    #[test]
    fn hash_is_stable() {
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
