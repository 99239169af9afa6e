//! `redstream-producer`: the entry point of the pipeline.
//!
//! - `topics` creates (or deletes) every topic of a prefix: `{prefix}.raw`, `.unique`,
//!   `.enriched`, `.dedupe-state`, `.producer-cursors`, `.producer-coordination` and one
//!   `.dlq.<stage>` per stage.
//! - `replay` reads NDJSON dump files (plain or zstd), normalizes each line into a post or a
//!   comment and publishes it to `{prefix}.raw`, keyed by fullname; lines that are not items go
//!   to `{prefix}.dlq.producer` with the reason, the file and the line number.
//! - `live` follows subreddits on the Reddit API and publishes what is new the same way
//!   (docs/live.md).
//!
//! Replays are idempotent downstream: an item's version is derived from the line itself (its
//! `retrieved_on`, else the file's modification time) and its line number, so replaying a file
//! again yields the same versions, which dedupe drops and the stores ignore.

mod config;
mod live;
mod replay;
mod topics;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::ProducerConfig;

/// Exit status of a replay stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Parser)]
#[command(
    name = "redstream-producer",
    version,
    about = "Publishes Reddit posts and comments to Kafka for the redstream pipeline",
    long_about = "Publishes Reddit posts and comments to Kafka for the redstream pipeline.\n\n\
        Configuration comes from built-in defaults (the local stack: Kafka at 127.0.0.1:9092, \
        topic prefix `redstream`), then the TOML file given with --config or REDSTREAM_CONFIG, \
        then REDSTREAM_<SECTION>__<KEY> environment variables, e.g. REDSTREAM_KAFKA__BROKERS or \
        REDSTREAM_TOPICS__PREFIX."
)]
struct Cli {
    /// TOML configuration file with [kafka], [topics] and [replay] sections.
    #[arg(long, global = true, value_name = "FILE", env = "REDSTREAM_CONFIG")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create every topic of the configured prefix (or delete them with --delete).
    ///
    /// Creates {prefix}.raw, .unique, .enriched (data, `topics.partitions` partitions),
    /// .dedupe-state (compacted), .producer-cursors (compacted), .producer-coordination and
    /// .dlq.<stage> for each stage. Topics that already exist are
    /// left alone, so running it twice is harmless.
    Topics(topics::TopicsArgs),

    /// Replay NDJSON dump files (plain or zstd-compressed) into {prefix}.raw.
    ///
    /// Each line is normalized into a post or a comment (Pushshift dumps of every era, Arctic
    /// Shift lines, Reddit API objects), Avro-encoded and published keyed by its fullname. Lines
    /// that are not items go to {prefix}.dlq.producer with the reason, the file and the line
    /// number; the replay goes on. Exit status: 0 when every record was delivered, 1 when a
    /// delivery failed or a file could not be read to its end, 130 when interrupted by Ctrl-C
    /// or SIGTERM (what was read is flushed first).
    Replay(replay::ReplayArgs),

    /// Follow subreddits on the Reddit API and publish new posts and comments to {prefix}.raw.
    ///
    /// Settings live in the [live] section (docs/live.md): the API and token URLs, the
    /// User-Agent, the subreddits and the credentials. Cursors are checkpointed in
    /// {prefix}.producer-cursors, so a restart resumes where the last run stopped. Exit status:
    /// 0 after live.max_rounds rounds (when set), 1 on a fatal error or when a poll of such a
    /// run failed, 130 on Ctrl-C or SIGTERM.
    Live(live::LiveArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    redstream_common::telemetry::init("producer");

    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config: ProducerConfig = redstream_common::load_config(cli.config.as_deref())?;
    match cli.command {
        Command::Topics(args) => topics::run(&config, &args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Replay(args) => {
            let outcome = replay::run(&config, &args).await?;
            Ok(match outcome {
                replay::Outcome::Complete => ExitCode::SUCCESS,
                replay::Outcome::Failed => ExitCode::FAILURE,
                replay::Outcome::Interrupted => ExitCode::from(EXIT_INTERRUPTED),
            })
        }
        Command::Live(args) => {
            let outcome = live::run(&config, &args).await?;
            Ok(match outcome {
                replay::Outcome::Complete => ExitCode::SUCCESS,
                replay::Outcome::Failed => ExitCode::FAILURE,
                replay::Outcome::Interrupted => ExitCode::from(EXIT_INTERRUPTED),
            })
        }
    }
}
