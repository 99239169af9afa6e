//! `redstream-enrich`: adds plain text, links, language and sentiment to the items of
//! `{prefix}.unique` and writes them to `{prefix}.enriched`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use redstream_processors::cli;
use redstream_processors::config::EnrichConfig;
use redstream_processors::enrich;

/// Reads items from {prefix}.unique and writes them, enriched, to {prefix}.enriched (same
/// key, Avro enriched_post / enriched_comment): plain text without markdown, word count,
/// http(s) links and their domains, language (ISO 639-3) and a sentiment score in [-1, 1].
/// Undecodable messages go to {prefix}.dlq.enrich.
///
/// Each enricher can be switched off, e.g. for a benchmark:
///   [enrichers]
///   text = true        # plain text and word count
///   links = true       # links and domains
///   language = false
///   sentiment = false
/// or REDSTREAM_ENRICHERS__LANGUAGE=false.
///
/// Configuration: built-in defaults (Kafka at 127.0.0.1:9092, prefix "redstream"), then the
/// TOML file, then REDSTREAM_<SECTION>__<KEY> environment variables, e.g.
/// REDSTREAM_KAFKA__BROKERS, REDSTREAM_TOPICS__PREFIX, REDSTREAM_BATCH__MAX_ITEMS. The
/// consumer group is the top-level group_id of the file (default {prefix}.enrich).
#[derive(Debug, Parser)]
#[command(name = "redstream-enrich", version, verbatim_doc_comment)]
struct Args {
    /// TOML config file with [kafka], [topics], [batch], [enrichers] sections and group_id
    /// (also REDSTREAM_CONFIG).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Where to serve /metrics, /healthz and /readyz.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:9102",
        env = "REDSTREAM_METRICS_ADDR"
    )]
    metrics_addr: SocketAddr,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    cli::main::<EnrichConfig, _, _>(
        "redstream-enrich",
        enrich::STAGE,
        args.config.as_deref(),
        args.metrics_addr,
        enrich::run,
    )
    .await
}
