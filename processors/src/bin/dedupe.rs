//! `redstream-dedupe`: drops exact repeats and stale versions between `{prefix}.raw` and
//! `{prefix}.unique`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use redstream_processors::cli;
use redstream_processors::config::DedupeConfig;
use redstream_processors::dedupe;

/// Reads raw items from {prefix}.raw and passes on to {prefix}.unique only what is new or
/// changed (edited text, deletion, a new score), with the header redstream.change = new |
/// update. Exact repeats and versions older than the last one passed on are dropped.
///
/// The state (one 16-byte record per item) lives in the compacted topic
/// {prefix}.dedupe-state, so restarts and rebalances keep it. Undecodable messages go to
/// {prefix}.dlq.dedupe.
///
/// Configuration: built-in defaults (Kafka at 127.0.0.1:9092, prefix "redstream"), then the
/// TOML file, then REDSTREAM_<SECTION>__<KEY> environment variables, e.g.
/// REDSTREAM_KAFKA__BROKERS, REDSTREAM_TOPICS__PREFIX, REDSTREAM_BATCH__MAX_ITEMS,
/// REDSTREAM_DEDUPE__STATE_LOAD_TIMEOUT_SECS. The consumer group is the top-level
/// group_id of the file (default {prefix}.dedupe).
#[derive(Debug, Parser)]
#[command(name = "redstream-dedupe", version, verbatim_doc_comment)]
struct Args {
    /// TOML config file with [kafka], [topics], [batch], [dedupe] sections and group_id
    /// (also REDSTREAM_CONFIG).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Where to serve /metrics, /healthz and /readyz.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:9101",
        env = "REDSTREAM_METRICS_ADDR"
    )]
    metrics_addr: SocketAddr,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    cli::main::<DedupeConfig, _, _>(
        "redstream-dedupe",
        dedupe::STAGE,
        args.config.as_deref(),
        args.metrics_addr,
        dedupe::run,
    )
    .await
}
