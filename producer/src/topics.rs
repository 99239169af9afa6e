//! `redstream-producer topics`: creates or deletes every topic of the configured prefix.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use redstream_common::kafka::client_config;
use redstream_common::topics::{delete_topics, ensure_topics};
use redstream_common::{KafkaConfig, TopicNames};

use crate::config::ProducerConfig;

#[derive(Debug, Args)]
pub struct TopicsArgs {
    /// Delete the topics of the prefix instead of creating them (all their data is lost).
    #[arg(long)]
    delete: bool,
}

/// Every topic name of a prefix, in creation order.
fn all_names(prefix: &str) -> Vec<String> {
    let names = TopicNames::new(prefix);
    let mut all = vec![
        names.raw.clone(),
        names.unique.clone(),
        names.enriched.clone(),
        names.dedupe_state.clone(),
        names.producer_cursors.clone(),
        names.producer_coordination.clone(),
    ];
    all.extend(names.all_dlqs());
    all
}

pub async fn run(config: &ProducerConfig, args: &TopicsArgs) -> anyhow::Result<()> {
    let names = all_names(&config.topics.prefix);

    if args.delete {
        let kafka = config.kafka.clone();
        let existing = tokio::task::spawn_blocking(move || existing_topics(&kafka)).await??;
        delete_topics(&config.kafka, &config.topics).await?;
        for name in &names {
            if existing.contains(name) {
                println!("deleted {name}");
            } else {
                println!("absent  {name}");
            }
        }
        return Ok(());
    }

    let created = ensure_topics(&config.kafka, &config.topics).await?;
    for name in &names {
        if created.contains(name) {
            println!("created {name}");
        } else {
            println!("exists  {name}");
        }
    }
    tracing::info!(
        stage = "producer",
        brokers = %config.kafka.brokers,
        prefix = %config.topics.prefix,
        created = created.len(),
        existing = names.len() - created.len(),
        "topics ready"
    );
    Ok(())
}

/// Names of the topics that exist on the cluster, to say which ones a delete removed.
fn existing_topics(kafka: &KafkaConfig) -> anyhow::Result<HashSet<String>> {
    let probe: BaseConsumer = client_config(kafka, "redstream-producer-admin")
        .create()
        .with_context(|| format!("cannot create a Kafka client for {}", kafka.brokers))?;
    let metadata = probe
        .fetch_metadata(None, Duration::from_secs(10))
        .with_context(|| {
            format!(
                "cannot reach Kafka at {}; is it running? Locally: scripts/stack up",
                kafka.brokers
            )
        })?;
    Ok(metadata
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .collect())
}
