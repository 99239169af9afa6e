//! `redstream-sink-elasticsearch`: reads `{prefix}.enriched` (group
//! `{prefix}.sink-elasticsearch`) and indexes every item into `{index_prefix}-posts` or
//! `{index_prefix}-comments` of Elasticsearch or OpenSearch, dead-lettering into
//! `{prefix}.dlq.sink-elasticsearch`.
//!
//! - Commits: after the batch's documents are indexed and its dead letters sent
//!   (see [`crate::run`]).
//! - Idempotent: documents are indexed with `version_type=external_gte` ([`bulk`]).
//! - Start-up: checks the cluster, writes the index templates and creates the indices when
//!   missing ([`templates`]), checks the Kafka topics, then consumes.

pub mod bulk;
pub mod client;
pub mod config;
pub mod templates;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use redstream_common::metrics::{self, Readiness};
use redstream_common::{telemetry, Shutdown};

use crate::run::{check_kafka, consume, Setup, Store};
use bulk::ElasticsearchStore;
use client::Http;
use config::ElasticsearchSinkConfig;

/// Indexes enriched Reddit items from Kafka into Elasticsearch/OpenSearch.
///
/// Reads {prefix}.enriched, indexes posts into {index_prefix}-posts and comments into
/// {index_prefix}-comments (templates and indices created when missing), dead-letters what
/// the cluster refuses into {prefix}.dlq.sink-elasticsearch, and commits offsets only after
/// that. While the cluster is unreachable or throttling it retries with backoff and commits
/// nothing.
///
/// Settings come from defaults (the local stack), then --config, then REDSTREAM_* variables,
/// e.g. REDSTREAM_ELASTICSEARCH__URLS=https://es:9200, REDSTREAM_ELASTICSEARCH__INDEX_PREFIX=reddit,
/// REDSTREAM_TOPICS__PREFIX=prod, REDSTREAM_KAFKA__BROKERS=kafka:9092.
#[derive(Debug, Parser)]
#[command(name = "redstream-sink-elasticsearch", version)]
pub struct Cli {
    /// TOML config file (sections kafka, topics, batch, elasticsearch); also REDSTREAM_CONFIG.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address of the /metrics, /healthz and /readyz endpoints.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:9104",
        env = "REDSTREAM_METRICS_ADDR"
    )]
    pub metrics_addr: SocketAddr,

    /// Write the index templates, create the indices, check the topics, then exit.
    #[arg(long)]
    pub init_only: bool,
}

/// The whole binary, from parsed arguments to a clean exit.
pub async fn main(cli: Cli) -> anyhow::Result<()> {
    telemetry::init(ElasticsearchStore::STAGE);
    let cfg: ElasticsearchSinkConfig = redstream_common::load_config(cli.config.as_deref())?;
    let shutdown = Shutdown::install()?;
    let readiness = Readiness::default();
    metrics::serve(cli.metrics_addr, readiness.clone()).await?;
    check_kafka(&cfg.kafka, &cfg.topics, ElasticsearchStore::STAGE)?;

    let http = Http::new(&cfg.elasticsearch)?;
    let server = http.check().await?;
    templates::ensure_indices(&http, &cfg.elasticsearch).await?;
    tracing::info!(
        stage = ElasticsearchStore::STAGE,
        urls = %cfg.elasticsearch.urls,
        server = %server,
        posts = %cfg.elasticsearch.posts_index(),
        comments = %cfg.elasticsearch.comments_index(),
        "indices ready"
    );
    let store = ElasticsearchStore::new(http, &cfg.elasticsearch);

    if cli.init_only {
        tracing::info!(
            stage = ElasticsearchStore::STAGE,
            "initialised; exiting as asked (--init-only)"
        );
        return Ok(());
    }
    let setup = Setup {
        kafka: &cfg.kafka,
        topics: &cfg.topics,
        batch: &cfg.batch,
        group_id: cfg.group_id(),
        backoff: cfg.elasticsearch.backoff,
        readiness,
    };
    consume(store, setup, &shutdown).await
}
