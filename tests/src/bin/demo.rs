//! `redstream-demo`: runs the whole pipeline once on the given dump files (or on a generated
//! sample), waits until both stores hold everything, and prints a summary whose last line is
//! one JSON object. Each run uses topics, a keyspace and indices of its own.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

use redstream_tests::drain::{read_all, topic_count};
use redstream_tests::run::{Pipeline, RunNames};
use redstream_tests::sample;
use redstream_tests::stores::{count_by_header, count_stores, StoreEndpoints};

/// Replay dump files through every redstream stage on the local stack and report what landed.
///
/// Needs the local stack (`scripts/stack up`) and built binaries (`cargo build --workspace
/// --bins`); `make demo` does both.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// NDJSON dump files, plain or .zst. Without files, a seeded sample is generated.
    files: Vec<PathBuf>,

    /// Posts in the generated sample.
    #[arg(long, default_value_t = 200)]
    posts: usize,

    /// Comments per post in the generated sample.
    #[arg(long, default_value_t = 5)]
    comments_per_post: usize,

    /// Seed of the generated sample.
    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// Folder for run logs and the generated sample.
    #[arg(long, default_value = ".demo")]
    dir: PathBuf,

    /// Give up when the pipeline has not drained after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,

    /// Metrics ports are this plus 1..4 (dedupe, enrich, sink-scylla, sink-elasticsearch).
    #[arg(long, default_value_t = 9100)]
    metrics_base: u16,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    for f in &args.files {
        anyhow::ensure!(
            f.is_file(),
            "input {} does not exist or is not a file",
            f.display()
        );
    }
    // Fail before anything is created when another run holds the metrics ports.
    for port in (1..=4).map(|i| args.metrics_base + i) {
        std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
            anyhow::anyhow!(
                "metrics port 127.0.0.1:{port} is taken ({e}): another demo or stage runs; \
                 pick other ports with --metrics-base (make demo DEMO_ARGS=\"--metrics-base 9200\")"
            )
        })?;
    }
    let run = RunNames::fresh("demo", &args.dir)?;
    eprintln!("run {}: logs in {}", run.prefix, run.dir.display());

    let files = if args.files.is_empty() {
        let (lines, stats) = sample::generate(args.seed, args.posts, args.comments_per_post);
        let path = run.dir.join("sample.ndjson");
        std::fs::write(&path, lines.join("\n") + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!(
            "generated {} lines (seed {}): {} posts, {} comments, {} malformed -> {}",
            stats.lines,
            args.seed,
            stats.distinct_posts,
            stats.distinct_comments,
            stats.malformed,
            path.display()
        );
        vec![path]
    } else {
        args.files.clone()
    };
    for f in &files {
        anyhow::ensure!(
            f.is_file(),
            "input {} does not exist or is not a file",
            f.display()
        );
    }

    eprintln!("creating topics under prefix {}", run.prefix);
    run.producer(&["topics"])?;

    let mut pipeline = Pipeline::start(&run, args.metrics_base)?;
    for i in 1..=4 {
        eprintln!(
            "  metrics and health: http://127.0.0.1:{}/metrics /healthz /readyz",
            args.metrics_base + i
        );
    }

    eprintln!("replaying {} file(s)", files.len());
    let mut replay_args = vec!["replay".to_string(), "--summary-json".to_string()];
    replay_args.extend(files.iter().map(|f| f.to_string_lossy().into_owned()));
    let replay_refs: Vec<&str> = replay_args.iter().map(String::as_str).collect();
    let out = run.producer(&replay_refs)?;
    let replay: serde_json::Value = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .context("the producer printed no JSON summary")?;

    eprintln!("waiting for every stage to catch up");
    pipeline.wait_drained(&run, Duration::from_secs(args.timeout_secs))?;

    let brokers = &run.brokers;
    let raw = topic_count(brokers, &run.topic("raw"))?;
    let unique_messages = read_all(brokers, &run.topic("unique"))?;
    let unique = unique_messages.len() as i64;
    let changes = count_by_header(&unique_messages, "redstream.change");
    let updates = changes.get("update").copied().unwrap_or(0) as i64;
    let mut dead_lettered = 0;
    let mut dlq_rows = Vec::new();
    for stage in [
        "producer",
        "dedupe",
        "enrich",
        "sink-scylla",
        "sink-elasticsearch",
    ] {
        let n = topic_count(brokers, &run.topic(&format!("dlq.{stage}")))?;
        dead_lettered += n;
        dlq_rows.push((stage, n));
    }
    let enriched = topic_count(brokers, &run.topic("enriched"))?;

    let runtime = tokio::runtime::Runtime::new()?;
    let stores = runtime.block_on(count_stores(
        &StoreEndpoints::from_env(),
        &run.keyspace,
        &run.index_prefix,
    ))?;
    pipeline.stop()?;

    let read = replay["read"].as_i64().unwrap_or(0);
    let produced = replay["produced"].as_i64().unwrap_or(raw);
    eprintln!();
    eprintln!("{:<44} {:>10}", "lines read", read);
    eprintln!(
        "{:<44} {:>10}",
        format!("produced to {}", run.topic("raw")),
        produced
    );
    eprintln!("{:<44} {:>10}", "passed dedupe (new + updates)", unique);
    eprintln!("{:<44} {:>10}", "  of which updates", updates);
    eprintln!(
        "{:<44} {:>10}",
        "dropped by dedupe (repeats, stale)",
        raw - unique
    );
    eprintln!("{:<44} {:>10}", "enriched", enriched);
    for (stage, n) in &dlq_rows {
        eprintln!("{:<44} {:>10}", format!("dead-lettered by {stage}"), n);
    }
    eprintln!(
        "{:<44} {:>10}",
        format!("ScyllaDB {}.posts", run.keyspace),
        stores.scylla_posts
    );
    eprintln!(
        "{:<44} {:>10}",
        format!("ScyllaDB {}.comments", run.keyspace),
        stores.scylla_comments
    );
    eprintln!(
        "{:<44} {:>10}",
        format!("search {}-posts", run.index_prefix),
        stores.es_posts
    );
    eprintln!(
        "{:<44} {:>10}",
        format!("search {}-comments", run.index_prefix),
        stores.es_comments
    );
    eprintln!(
        "done in {:.1} s; logs in {}",
        started.elapsed().as_secs_f64(),
        run.dir.display()
    );

    // Keys in a fixed order, as documented in the README (serde_json would sort them).
    let fields = [
        ("read", read),
        ("produced", produced),
        ("dead_lettered", dead_lettered),
        ("duplicates_dropped", raw - unique),
        ("updates", updates),
        ("scylla_posts", stores.scylla_posts),
        ("scylla_comments", stores.scylla_comments),
        ("es_posts", stores.es_posts),
        ("es_comments", stores.es_comments),
    ];
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    println!("{{{}}}", body.join(","));
    Ok(())
}
