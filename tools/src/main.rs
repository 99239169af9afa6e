//! `redstream-dlq`: what an operator needs for dead letters. `list` shows the records a prefix's
//! stages dead-lettered, with their reason and origin; `replay` sends chosen ones back into the
//! topic they came from, after the cause is fixed.
//!
//! It reads the dead-letter topics without a consumer group, so listing moves nobody's offsets
//! and can be repeated; a replay writes new records and leaves the letters in place (the
//! dead-letter topics keep them for `topics.dlq_retention_hours`).

mod letters;
mod replay;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Parser, Subcommand};
use redstream_common::topics::DLQ_STAGES;
use redstream_common::{load_config, KafkaConfig, TopicNames, TopicsConfig};
use serde::{Deserialize, Serialize};

use letters::{read_topic, Filter, Letter};
use replay::Replayed;

/// The settings this tool reads: the shared `[kafka]` and `[topics]` sections; other sections
/// of a shared config file are ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct DlqConfig {
    kafka: KafkaConfig,
    topics: TopicsConfig,
}

#[derive(Debug, Parser)]
#[command(
    name = "redstream-dlq",
    version,
    about = "Lists dead-lettered records of a redstream deployment and replays chosen ones",
    long_about = "Lists dead-lettered records of a redstream deployment and replays chosen ones.\n\n\
        Reads {prefix}.dlq.<stage> for the stages producer, dedupe, enrich, sink-scylla and \
        sink-elasticsearch. Configuration: built-in defaults (Kafka at 127.0.0.1:9092, prefix \
        `redstream`), then the TOML file (--config or REDSTREAM_CONFIG), then \
        REDSTREAM_<SECTION>__<KEY> variables, e.g. REDSTREAM_KAFKA__BROKERS, \
        REDSTREAM_TOPICS__PREFIX."
)]
struct Cli {
    /// TOML configuration file with [kafka] and [topics] sections.
    #[arg(long, global = true, value_name = "FILE", env = "REDSTREAM_CONFIG")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print dead letters: one line each (or one JSON object each with --json).
    List {
        #[command(flatten)]
        select: Select,
        /// One JSON object per line, with every header.
        #[arg(long)]
        json: bool,
    },
    /// Send chosen dead letters back to the topic they were read from, unchanged.
    ///
    /// Choose at least one of --kind, --source, --offset, or --all. Run it only after the
    /// cause is fixed, or the records come back to the dead-letter topic.
    Replay {
        #[command(flatten)]
        select: Select,
        /// Replay every letter of the chosen stages.
        #[arg(long)]
        all: bool,
        /// Show what would be replayed, send nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
struct Select {
    /// Stages whose dead letters to read (default: all of them).
    #[arg(long = "stage", value_name = "STAGE", value_parser = clap::builder::PossibleValuesParser::new(DLQ_STAGES))]
    stages: Vec<String>,
    /// Only letters of this reason kind (redstream.reason.kind: decode, unknown_schema,
    /// rejected, too_large, retries_exhausted, ...). Repeatable.
    #[arg(long = "kind", value_name = "KIND")]
    kinds: Vec<String>,
    /// Only the letter of this original record, as TOPIC/PARTITION/OFFSET. Repeatable.
    #[arg(long = "source", value_name = "TOPIC/PARTITION/OFFSET")]
    sources: Vec<String>,
    /// Only the letter at this offset of its dead-letter topic. Repeatable; use with one
    /// --stage.
    #[arg(long = "offset", value_name = "OFFSET")]
    offsets: Vec<i64>,
}

impl Select {
    fn filter(&self) -> Filter {
        Filter {
            kinds: self.kinds.clone(),
            sources: self.sources.clone(),
            dlq_offsets: self.offsets.clone(),
        }
    }

    fn stages(&self) -> Vec<String> {
        if self.stages.is_empty() {
            DLQ_STAGES.iter().map(|s| s.to_string()).collect()
        } else {
            self.stages.clone()
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("redstream-dlq: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The chosen letters of the chosen stages, in stage order, then offset order.
fn gather(cfg: &DlqConfig, select: &Select) -> anyhow::Result<Vec<Letter>> {
    if !select.offsets.is_empty() && select.stages.len() != 1 {
        bail!("--offset names a position in one dead-letter topic: give exactly one --stage");
    }
    let names = TopicNames::new(&cfg.topics.prefix);
    let filter = select.filter();
    let mut out = Vec::new();
    for stage in select.stages() {
        let letters = read_topic(&cfg.kafka, &names.dlq(&stage))?;
        out.extend(letters.into_iter().filter(|l| filter.matches(l)));
    }
    Ok(out)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg: DlqConfig = load_config(cli.config.as_deref())?;
    match cli.command {
        Command::List { select, json } => {
            let letters = gather(&cfg, &select)?;
            for l in &letters {
                if json {
                    println!("{}", serde_json::to_string(l)?);
                } else {
                    println!(
                        "{}/{}/{} stage={} kind={} source={} key={} bytes={} reason={}",
                        l.dlq_topic,
                        l.dlq_partition,
                        l.dlq_offset,
                        l.stage(),
                        l.kind(),
                        l.source(),
                        l.key.as_deref().unwrap_or("-"),
                        l.value_bytes,
                        l.reason()
                    );
                }
            }
            eprintln!("{} dead letters", letters.len());
            Ok(())
        }
        Command::Replay {
            select,
            all,
            dry_run,
        } => {
            if !all && select.filter().is_empty() {
                bail!("choose what to replay with --kind, --source or --offset, or pass --all");
            }
            let letters = gather(&cfg, &select)?;
            if dry_run {
                for l in &letters {
                    println!(
                        "would replay {}/{}/{} kind={} to {}",
                        l.dlq_topic,
                        l.dlq_partition,
                        l.dlq_offset,
                        l.kind(),
                        l.source()
                    );
                }
                eprintln!(
                    "{} dead letters chosen, none sent (--dry-run)",
                    letters.len()
                );
                return Ok(());
            }
            let runtime = tokio_runtime()?;
            let results = runtime.block_on(replay::replay(&cfg.kafka, &letters))?;
            let mut sent = 0;
            for (l, r) in letters.iter().zip(&results) {
                match r {
                    Replayed::Sent(topic) => {
                        sent += 1;
                        println!(
                            "replayed {}/{}/{} kind={} to {topic}",
                            l.dlq_topic,
                            l.dlq_partition,
                            l.dlq_offset,
                            l.kind()
                        );
                    }
                    Replayed::Skipped(why) => println!("skipped {why}"),
                }
            }
            eprintln!("{sent} of {} chosen dead letters replayed", letters.len());
            Ok(())
        }
    }
}

fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
