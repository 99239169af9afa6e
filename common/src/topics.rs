//! Topic names and their creation. The project creates every topic itself, with explicit
//! partition counts and retention; brokers run with auto-create off.

use std::time::Duration;

use anyhow::{bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use crate::config::{KafkaConfig, TopicsConfig};
use crate::kafka::client_config;

/// Every topic of one deployment, derived from the prefix.
#[derive(Debug, Clone)]
pub struct TopicNames {
    /// Raw items from the producer (posts and comments, keyed by fullname).
    pub raw: String,
    /// Items that passed dedupe: new ones and real changes.
    pub unique: String,
    /// Enriched items, read by both sinks.
    pub enriched: String,
    /// Compacted changelog of the dedupe state (fullname -> content hash and version).
    pub dedupe_state: String,
    /// Compacted checkpoints of the live producer: the newest fullname seen per subreddit feed.
    pub producer_cursors: String,
    /// Empty topic whose partitions live producer replicas share through a consumer group:
    /// each replica follows the subreddits that hash to its partitions.
    pub producer_coordination: String,
    prefix: String,
}

/// The stages that dead-letter, each into a topic of its own.
pub const DLQ_STAGES: [&str; 5] = [
    "producer",
    "dedupe",
    "enrich",
    "sink-scylla",
    "sink-elasticsearch",
];

impl TopicNames {
    pub fn new(prefix: &str) -> Self {
        Self {
            raw: format!("{prefix}.raw"),
            unique: format!("{prefix}.unique"),
            enriched: format!("{prefix}.enriched"),
            dedupe_state: format!("{prefix}.dedupe-state"),
            producer_cursors: format!("{prefix}.producer-cursors"),
            producer_coordination: format!("{prefix}.producer-coordination"),
            prefix: prefix.to_string(),
        }
    }

    /// The dead-letter topic of one stage.
    pub fn dlq(&self, stage: &str) -> String {
        format!("{}.dlq.{stage}", self.prefix)
    }

    pub fn all_dlqs(&self) -> Vec<String> {
        DLQ_STAGES.iter().map(|s| self.dlq(s)).collect()
    }
}

/// Partitions of `{prefix}.producer-coordination`: the most live producer replicas that can
/// share the work.
pub const COORDINATION_PARTITIONS: i32 = 12;

struct Spec {
    name: String,
    partitions: i32,
    config: Vec<(&'static str, String)>,
}

fn specs(cfg: &TopicsConfig) -> Vec<Spec> {
    let names = TopicNames::new(&cfg.prefix);
    let retention = (cfg.retention_hours * 3_600_000).to_string();
    let dlq_retention = (cfg.dlq_retention_hours * 3_600_000).to_string();
    let data = |name: &str| Spec {
        name: name.to_string(),
        partitions: cfg.partitions,
        config: vec![
            ("cleanup.policy", "delete".into()),
            ("retention.ms", retention.clone()),
        ],
    };

    let mut specs = vec![data(&names.raw), data(&names.unique), data(&names.enriched)];
    specs.push(Spec {
        name: names.dedupe_state.clone(),
        partitions: cfg.partitions,
        config: vec![
            ("cleanup.policy", "compact".into()),
            ("min.cleanable.dirty.ratio", "0.1".into()),
            ("segment.ms", "3600000".into()),
        ],
    });
    specs.push(Spec {
        name: names.producer_cursors.clone(),
        partitions: 1,
        config: vec![
            ("cleanup.policy", "compact".into()),
            ("min.cleanable.dirty.ratio", "0.1".into()),
            ("segment.ms", "3600000".into()),
        ],
    });
    specs.push(Spec {
        name: names.producer_coordination.clone(),
        partitions: COORDINATION_PARTITIONS,
        config: vec![
            ("cleanup.policy", "delete".into()),
            ("retention.ms", "3600000".into()),
        ],
    });
    for dlq in names.all_dlqs() {
        specs.push(Spec {
            name: dlq,
            partitions: 1,
            config: vec![
                ("cleanup.policy", "delete".into()),
                ("retention.ms", dlq_retention.clone()),
                // Dead letters carry the original message, which may be large.
                ("max.message.bytes", "16777216".into()),
            ],
        });
    }
    specs
}

/// Creates whichever topics are missing; existing ones are left alone. Returns the names of the
/// topics it created.
pub async fn ensure_topics(kafka: &KafkaConfig, cfg: &TopicsConfig) -> anyhow::Result<Vec<String>> {
    let admin: AdminClient<DefaultClientContext> = client_config(kafka, "redstream-admin")
        .create()
        .with_context(|| format!("cannot create a Kafka admin client for {}", kafka.brokers))?;
    let specs = specs(cfg);
    let new_topics: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|s| {
            let mut t = NewTopic::new(
                &s.name,
                s.partitions,
                TopicReplication::Fixed(cfg.replication_factor),
            );
            for (k, v) in &s.config {
                t = t.set(k, v);
            }
            t
        })
        .collect();

    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = tokio::time::timeout(
        Duration::from_secs(60),
        admin.create_topics(new_topics.iter(), &options),
    )
    .await
    .with_context(|| {
        format!(
            "Kafka at {} did not answer within 60 s; is it running?",
            kafka.brokers
        )
    })?
    .with_context(|| format!("cannot create topics on Kafka at {}", kafka.brokers))?;

    let mut created = Vec::new();
    for result in results {
        match result {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("cannot create topic {name} on {}: {code}", kafka.brokers),
        }
    }
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    wait_for_leaders(kafka, &names, Duration::from_secs(30)).await?;
    Ok(created)
}

/// Waits until every partition of `topics` has a leader: a topic that was just created is not
/// usable at once, and a stage started right after `topics` would otherwise fail its first
/// metadata or watermark request (NotLeaderForPartition).
async fn wait_for_leaders(
    kafka: &KafkaConfig,
    topics: &[String],
    timeout: Duration,
) -> anyhow::Result<()> {
    let probe: BaseConsumer = client_config(kafka, "redstream-admin")
        .create()
        .with_context(|| format!("cannot create a Kafka client for {}", kafka.brokers))?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let metadata = probe
            .fetch_metadata(None, Duration::from_secs(10))
            .with_context(|| format!("cannot read metadata from Kafka at {}", kafka.brokers))?;
        let waiting: Vec<&str> = topics
            .iter()
            .map(String::as_str)
            .filter(|name| {
                let topic = metadata.topics().iter().find(|t| t.name() == *name);
                !topic.is_some_and(|t| {
                    !t.partitions().is_empty()
                        && t.error().is_none()
                        && t.partitions()
                            .iter()
                            .all(|p| p.leader() >= 0 && p.error().is_none())
                })
            })
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "topics {waiting:?} have partitions without a leader on {} after {timeout:?}; \
                 check the broker log",
                kafka.brokers
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Deletes every topic of a prefix (used by the demo to start from empty topics).
pub async fn delete_topics(kafka: &KafkaConfig, cfg: &TopicsConfig) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(kafka, "redstream-admin")
        .create()
        .with_context(|| format!("cannot create a Kafka admin client for {}", kafka.brokers))?;
    let specs = specs(cfg);
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.delete_topics(&names, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((name, code)) => bail!("cannot delete topic {name}: {code}"),
        }
    }
    Ok(())
}
