//! `redstream-sink-scylla`: reads `{prefix}.enriched` (group `{prefix}.sink-scylla`) and writes
//! every item into ScyllaDB or Cassandra, dead-lettering into `{prefix}.dlq.sink-scylla`.
//!
//! - Commits: after the batch's rows are written and its dead letters sent (see [`crate::run`]).
//! - Idempotent: every insert uses `USING TIMESTAMP <version>` ([`write`]).
//! - Start-up: connects, creates the keyspace and tables when missing ([`schema`]), checks the
//!   Kafka topics, then consumes.

pub mod config;
pub mod encode;
pub mod schema;
pub mod session;
pub mod write;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use redstream_common::metrics::{self, Readiness};
use redstream_common::{telemetry, Shutdown};

use crate::run::{check_kafka, consume, Setup, Store};
use config::ScyllaSinkConfig;
use write::ScyllaStore;

/// Writes enriched Reddit items from Kafka into ScyllaDB/Cassandra.
///
/// Reads {prefix}.enriched, writes tables posts, posts_by_subreddit, comments and
/// comments_by_post of the keyspace (created when missing), dead-letters what the cluster
/// refuses into {prefix}.dlq.sink-scylla, and commits offsets only after that. While the
/// cluster is unreachable it retries with backoff and commits nothing.
///
/// Settings come from defaults (the local stack), then --config, then REDSTREAM_* variables,
/// e.g. REDSTREAM_SCYLLA__NODES=10.0.0.5:9042, REDSTREAM_SCYLLA__KEYSPACE=reddit,
/// REDSTREAM_TOPICS__PREFIX=prod, REDSTREAM_KAFKA__BROKERS=kafka:9092.
#[derive(Debug, Parser)]
#[command(name = "redstream-sink-scylla", version)]
pub struct Cli {
    /// TOML config file (sections kafka, topics, batch, scylla); also REDSTREAM_CONFIG.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address of the /metrics, /healthz and /readyz endpoints.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:9103",
        env = "REDSTREAM_METRICS_ADDR"
    )]
    pub metrics_addr: SocketAddr,

    /// Create the keyspace and tables, check the topics, then exit without consuming.
    #[arg(long)]
    pub init_only: bool,
}

/// The whole binary, from parsed arguments to a clean exit.
pub async fn main(cli: Cli) -> anyhow::Result<()> {
    telemetry::init(ScyllaStore::STAGE);
    let cfg: ScyllaSinkConfig = redstream_common::load_config(cli.config.as_deref())?;
    let shutdown = Shutdown::install()?;
    let readiness = Readiness::default();
    metrics::serve(cli.metrics_addr, readiness.clone()).await?;
    check_kafka(&cfg.kafka, &cfg.topics, ScyllaStore::STAGE)?;

    let session = Arc::new(session::connect(&cfg.scylla).await?);
    schema::ensure_schema(
        &session,
        &cfg.scylla.keyspace,
        cfg.scylla.replication_factor,
        &cfg.scylla.nodes,
    )
    .await?;
    let store = ScyllaStore::new(session, &cfg.scylla).await?;
    tracing::info!(
        stage = ScyllaStore::STAGE,
        nodes = %cfg.scylla.nodes,
        keyspace = %cfg.scylla.keyspace,
        "schema ready"
    );

    if cli.init_only {
        tracing::info!(
            stage = ScyllaStore::STAGE,
            "initialised; exiting as asked (--init-only)"
        );
        return Ok(());
    }
    let setup = Setup {
        kafka: &cfg.kafka,
        topics: &cfg.topics,
        batch: &cfg.batch,
        group_id: cfg.group_id(),
        backoff: cfg.scylla.backoff,
        readiness,
    };
    consume(store, setup, &shutdown).await
}
