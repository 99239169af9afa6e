//! `redstream-bench`: measures every stage against the limit of the machine, in one run, on the
//! local stack (method and latest numbers: BENCHMARKS.md).
//!
//! 1. Baselines: kcat producing the dump lines as raw bytes; kcat piping the raw and the unique
//!    topic through (consume and produce); a plain `_bulk` load and a plain prepared-statement
//!    load of the enriched items into the stores.
//! 2. Each stage alone on a pre-filled topic: items/s, CPU seconds per million items, peak RSS.
//! 3. The whole pipeline: items/s end to end, and the latency from produce to visible in both
//!    stores (p50, p99) from probe posts sent while the bulk input flows.
//!
//! Prints a table and writes JSON (`--json`), each stage's rate as a ratio of its baseline and
//! the targets of issue 6 beside them. Topics, keyspaces and indices carry a fresh prefix and
//! are deleted at the end unless `--keep`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use elasticsearch::http::Method;
use redstream_schemas::{normalize_line, Codec, EnrichedItem, Item, SnapshotOrigin};
use serde_json::{json, Value};

use redstream_tests::drain::{group_lag, read_all, topic_count, GroupInput};
use redstream_tests::perf::latency::{self, Latencies, ProbeTarget};
use redstream_tests::perf::measure::{round, watch, Measured};
use redstream_tests::perf::report::{self, Row, Target};
use redstream_tests::perf::{inproc, kcat, procstat, storeload};
use redstream_tests::processes::{bin_path, Stage};
use redstream_tests::run::{RunNames, STAGES};
use redstream_tests::sample;
use redstream_tests::stores::{cql_session, Search, StoreEndpoints};

/// Benchmark every redstream stage against kcat and plain store clients on the local stack.
///
/// Needs the local stack (`scripts/stack up`), kcat (`scripts/setup`) and release binaries
/// (`cargo build --release --workspace --bins`); `make bench` does all three.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Posts in the generated input; each brings `--comments-per-post` comments, and about a
    /// fifth of the lines are repeats or later snapshots, as in overlapping dumps. The default
    /// (527,014 lines, 314 MB) keeps even kcat busy for about a second, so that the 100 ms
    /// polling of progress costs the baselines under a tenth of their rate.
    #[arg(long, default_value_t = 40_000)]
    posts: usize,

    #[arg(long, default_value_t = 10)]
    comments_per_post: usize,

    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// Folder for logs and the generated input.
    #[arg(long, default_value = "target/bench")]
    dir: PathBuf,

    /// Where the JSON report goes.
    #[arg(long, default_value = "target/bench/latest.json")]
    json: PathBuf,

    /// Give up on one measured run after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,

    /// Metrics ports of the stages are this plus 1..=4.
    #[arg(long, default_value_t = 9370)]
    metrics_base: u16,

    /// `_bulk` requests in flight in the search baseline. The sink has one per batch in
    /// flight, so this matches its default `batch.max_in_flight`.
    #[arg(long, default_value_t = 3)]
    search_in_flight: usize,

    /// Inserts in flight in the CQL baseline (the sink's default `scylla.max_concurrency`).
    #[arg(long, default_value_t = 64)]
    cql_in_flight: usize,

    /// One latency probe every this many milliseconds during the whole-pipeline run.
    #[arg(long, default_value_t = 100)]
    probe_every_ms: u64,

    /// Keep the topics, keyspaces and indices of the run (for looking at them afterwards).
    #[arg(long)]
    keep: bool,

    /// Extra environment for every stage process, `KEY=VALUE`, repeatable (for example
    /// `--stage-env REDSTREAM_BATCH__MAX_ITEMS=5000` to see what batch size does).
    #[arg(long, value_name = "KEY=VALUE")]
    stage_env: Vec<String>,

    /// Only delete what the run with this prefix left (an interrupted or `--keep` run), then exit.
    #[arg(long, value_name = "PREFIX")]
    clean_up: Option<String>,
}

/// `--stage-env` pairs, given to every stage process (not to the producer or kcat).
static STAGE_ENV: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();

fn stage_env() -> Vec<(String, String)> {
    STAGE_ENV.get().cloned().unwrap_or_default()
}

/// Lag per group that counts as drained in the whole-pipeline run, where probes keep arriving.
const DRAINED_LAG: i64 = 20;

/// A run's names under another prefix (same brokers and log folder).
fn derived(run: &RunNames, suffix: &str) -> RunNames {
    let prefix = format!("{}-{suffix}", run.prefix);
    RunNames {
        keyspace: prefix.replace('-', "_"),
        index_prefix: prefix.clone(),
        prefix,
        brokers: run.brokers.clone(),
        dir: run.dir.clone(),
    }
}

fn group(run: &RunNames, name: &str, topic: &str) -> GroupInput {
    GroupInput {
        group: format!("{}.{name}", run.prefix),
        topic: run.topic(topic),
    }
}

/// Waits until `/readyz` on `port` answers 200.
fn wait_ready(name: &str, port: u16, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let ready = TcpStream::connect(("127.0.0.1", port))
            .and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                s.write_all(b"GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
                let mut answer = String::new();
                s.read_to_string(&mut answer)?;
                Ok(answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"))
            })
            .unwrap_or(false);
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("stage {name} was not ready on port {port} within {timeout:?}; see its log");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts the producer's replay of `file` under `run`'s names, logging to the run folder.
fn start_replay(run: &RunNames, file: &Path, log: &str) -> anyhow::Result<Child> {
    let path = bin_path("redstream-producer")?;
    let err = std::fs::File::create(run.dir.join(log))?;
    Command::new(&path)
        .args(["replay", "--summary-json"])
        .arg(file)
        .envs(run.env())
        .env("REDSTREAM_LOG_FORMAT", "text")
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .with_context(|| format!("cannot start {}", path.display()))
}

/// A check for `watch` that fails once the process has been gone for a few polls while the
/// count is still short (one poll of grace: it may exit between the count and this check).
fn exited_early(what: &str, pid: u32) -> impl FnMut() -> anyhow::Result<()> + '_ {
    let mut polls_since_exit = 0;
    move || match procstat::sample(pid) {
        Some(p) if !p.exited => Ok(()),
        _ if polls_since_exit < 10 => {
            polls_since_exit += 1;
            Ok(())
        }
        _ => bail!("{what} exited before it was done; see its log"),
    }
}

/// Runs one long-running stage alone until its group has committed `target` messages of its
/// input, then stops it.
#[allow(clippy::too_many_arguments)]
fn stage_alone(
    run: &RunNames,
    name: &str,
    binary: &str,
    input: &GroupInput,
    target: i64,
    port: u16,
    extra_env: &[(&str, &str)],
    timeout: Duration,
) -> anyhow::Result<Measured> {
    let mut env = run.env();
    env.extend(stage_env());
    env.extend(
        extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let log = run.dir.join(format!("alone-{name}.log"));
    let addr = format!("127.0.0.1:{port}");
    let mut stage = Stage::start(name, binary, &["--metrics-addr", &addr], &env, &log)?;
    let pid = stage
        .pid()
        .with_context(|| format!("stage {name} has no pid"))?;
    eprintln!("  {name} alone on {} ({target} messages)", input.topic);
    let measured = watch(
        name,
        target,
        Some(pid),
        timeout,
        || group_lag(&run.brokers, input).map(|lag| target - lag),
        || stage.check_alive(),
    )?;
    match stage.stop(Duration::from_secs(30)) {
        Some(status) if status.success() => Ok(measured),
        other => bail!(
            "stage {name} did not stop cleanly ({other:?}); log {}",
            log.display()
        ),
    }
}

/// kcat piping `from` into `to`, measured by the end offsets of `to`.
fn kcat_pass_through(
    brokers: &str,
    from: &str,
    to: &str,
    log: &Path,
    timeout: Duration,
) -> anyhow::Result<Measured> {
    let target = topic_count(brokers, from)?;
    eprintln!("  kcat pass-through {from} -> {to} ({target} messages)");
    let mut child = kcat::pass_through(brokers, from, to, log)?;
    let measured = watch(
        "kcat pass-through",
        target,
        None,
        timeout,
        || topic_count(brokers, to),
        || match child.try_wait()? {
            Some(status) if !status.success() => {
                bail!("kcat pass-through failed ({status}); log {}", log.display())
            }
            _ => Ok(()),
        },
    )?;
    let _ = child.wait();
    Ok(measured)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let timeout = Duration::from_secs(args.timeout_secs);
    kcat::check_installed()?;
    if !redstream_tests::stack::require_stack("redstream-bench") {
        bail!("redstream-bench needs the local stack; unset REDSTREAM_SKIP_STACK_TESTS");
    }
    let binary = bin_path("redstream-producer")?;
    if !binary.to_string_lossy().contains("release") {
        eprintln!(
            "warning: measuring debug binaries ({}); numbers mean little. Run target/release/redstream-bench",
            binary.display()
        );
    }
    let mut stage_env = Vec::new();
    for pair in &args.stage_env {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("--stage-env {pair:?} is not KEY=VALUE");
        };
        stage_env.push((key.to_string(), value.to_string()));
    }
    let _ = STAGE_ENV.set(stage_env);
    std::fs::create_dir_all(&args.dir)?;
    let mut run = RunNames::fresh("bench", &args.dir)?;
    if let Some(prefix) = &args.clean_up {
        let _ = std::fs::remove_dir(&run.dir);
        run.prefix = prefix.clone();
        run.keyspace = prefix.replace('-', "_");
        run.index_prefix = prefix.clone();
        run.dir = args.dir.clone();
        let rt = tokio::runtime::Runtime::new()?;
        let runs = [
            run.clone(),
            derived(&run, "kcat"),
            derived(&run, "off"),
            derived(&run, "all"),
            derived(&run, "warm"),
        ];
        let refs: Vec<&RunNames> = runs.iter().collect();
        return clean_up(&refs, &StoreEndpoints::from_env(), &rt);
    }
    let base = derived(&run, "kcat");
    let off = derived(&run, "off");
    let whole = derived(&run, "all");
    let warm = derived(&run, "warm");
    let endpoints = StoreEndpoints::from_env();
    let rt = tokio::runtime::Runtime::new()?;
    eprintln!("run {}: logs in {}", run.prefix, run.dir.display());

    let names = Names {
        run: &run,
        base: &base,
        off: &off,
        whole: &whole,
        warm: &warm,
    };
    let result = measure_all(&args, &names, &endpoints, &rt, timeout);

    if !args.keep {
        eprintln!(
            "cleaning up topics, keyspaces and indices of {}",
            run.prefix
        );
        if let Err(e) = clean_up(&[&run, &base, &off, &whole, &warm], &endpoints, &rt) {
            eprintln!("warning: clean-up incomplete: {e:#}");
        }
    }
    let (table, report) = result?;
    println!("{table}");
    if let Some(parent) = args.json.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("cannot write {}", args.json.display()))?;
    eprintln!("JSON report: {}", args.json.display());
    Ok(())
}

/// The names (topics, keyspace, indices) of the run and of its baselines.
struct Names<'a> {
    run: &'a RunNames,
    base: &'a RunNames,
    off: &'a RunNames,
    whole: &'a RunNames,
    /// The store warm-up before the sinks and their baselines.
    warm: &'a RunNames,
}

/// Items written to each store to warm it before the sinks and their baselines are measured.
const WARM_UP_ITEMS: usize = 50_000;

fn measure_all(
    args: &Args,
    names: &Names<'_>,
    endpoints: &StoreEndpoints,
    rt: &tokio::runtime::Runtime,
    timeout: Duration,
) -> anyhow::Result<(String, Value)> {
    let Names {
        run,
        base,
        off,
        whole,
        warm,
    } = *names;
    let brokers = run.brokers.as_str();
    let port = |i: u16| args.metrics_base + i;

    // The input: Reddit-shaped lines, widened to the field set of the real dumps.
    let (lines, stats) =
        sample::generate_dump_shaped(args.seed, args.posts, args.comments_per_post);
    let input = run.dir.join("input.ndjson");
    let input_bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    std::fs::write(&input, lines.join("\n") + "\n")
        .with_context(|| format!("cannot write {}", input.display()))?;
    let item_lines = (stats.lines - stats.malformed) as i64;
    eprintln!(
        "input: {} lines ({} items, {:.1} MB, {:.0} bytes/line), {} posts and {} comments distinct",
        stats.lines,
        item_lines,
        input_bytes as f64 / 1e6,
        input_bytes as f64 / stats.lines.max(1) as f64,
        stats.distinct_posts,
        stats.distinct_comments
    );
    for names in [run, base, off, whole] {
        names.producer(&["topics"])?;
    }

    // 1a. Producer: kcat with the raw lines, then the replay.
    eprintln!("producer");
    let kcat_log = run.dir.join("kcat-produce.log");
    let mut kcat_child = kcat::produce_lines(brokers, &base.topic("raw"), &input, &kcat_log)?;
    let kcat_produce = watch(
        "kcat producer",
        stats.lines as i64,
        None,
        timeout,
        || topic_count(brokers, &base.topic("raw")),
        || match kcat_child.try_wait()? {
            Some(s) if !s.success() => bail!("kcat failed ({s}); log {}", kcat_log.display()),
            _ => Ok(()),
        },
    )?;
    let _ = kcat_child.wait();
    let mut replay = start_replay(run, &input, "alone-producer.log")?;
    let replay_pid = replay.id();
    let producer = watch(
        "producer replay",
        item_lines,
        Some(replay_pid),
        timeout,
        || topic_count(brokers, &run.topic("raw")),
        exited_early("producer replay", replay_pid),
    )?;
    let status = replay.wait()?;
    anyhow::ensure!(
        status.success(),
        "the replay failed ({status}); see {}",
        run.dir.join("alone-producer.log").display()
    );

    // 1b + 2. Kafka-to-Kafka stages, each after kcat on the same topic.
    eprintln!("dedupe");
    let raw_count = topic_count(brokers, &run.topic("raw"))?;
    let kcat_raw = kcat_pass_through(
        brokers,
        &run.topic("raw"),
        &base.topic("unique"),
        &run.dir.join("kcat-raw.log"),
        timeout,
    )?;
    let dedupe = stage_alone(
        run,
        "dedupe",
        "redstream-dedupe",
        &group(run, "dedupe", "raw"),
        raw_count,
        port(1),
        &[],
        timeout,
    )?;

    eprintln!("enrich");
    let unique_count = topic_count(brokers, &run.topic("unique"))?;
    let kcat_unique = kcat_pass_through(
        brokers,
        &run.topic("unique"),
        &off.topic("unique"),
        &run.dir.join("kcat-unique.log"),
        timeout,
    )?;
    let enrich_off = stage_alone(
        off,
        "enrich-off",
        "redstream-enrich",
        &group(off, "enrich", "unique"),
        unique_count,
        port(2),
        &[
            ("REDSTREAM_ENRICHERS__TEXT", "false"),
            ("REDSTREAM_ENRICHERS__LINKS", "false"),
            ("REDSTREAM_ENRICHERS__LANGUAGE", "false"),
            ("REDSTREAM_ENRICHERS__SENTIMENT", "false"),
        ],
        timeout,
    )?;
    let enrich_on = stage_alone(
        run,
        "enrich",
        "redstream-enrich",
        &group(run, "enrich", "unique"),
        unique_count,
        port(2),
        &[],
        timeout,
    )?;

    eprintln!("sinks");
    let enriched_count = topic_count(brokers, &run.topic("enriched"))?;
    let codec = Codec::new()?;
    let enriched: Vec<EnrichedItem> = read_all(brokers, &run.topic("enriched"))?
        .iter()
        .map(|m| codec.decode_enriched(&m.value))
        .collect::<Result<_, _>>()
        .context("an enriched message does not decode")?;

    // The stores' JVMs run slower until warm. Whichever side went first would pay for it, so
    // both stores are warmed with the same plain loads on a slice, into names of their own.
    let slice = &enriched[..enriched.len().min(WARM_UP_ITEMS)];
    eprintln!("  warming the stores ({} items)", slice.len());
    rt.block_on(storeload::cql_prepared(
        endpoints,
        &warm.keyspace,
        slice,
        args.cql_in_flight,
    ))?;
    rt.block_on(storeload::search_bulk(
        endpoints,
        &warm.index_prefix,
        slice,
        1000,
        args.search_in_flight,
    ))?;
    let sink_cql = stage_alone(
        run,
        "sink-scylla",
        "redstream-sink-scylla",
        &group(run, "sink-scylla", "enriched"),
        enriched_count,
        port(3),
        &[],
        timeout,
    )?;
    let sink_search = stage_alone(
        run,
        "sink-elasticsearch",
        "redstream-sink-elasticsearch",
        &group(run, "sink-elasticsearch", "enriched"),
        enriched_count,
        port(4),
        &[],
        timeout,
    )?;

    // 1c. Store baselines on the same enriched items, decoded from the topic.
    eprintln!("store baselines ({enriched_count} items)");
    let cql_base = rt.block_on(storeload::cql_prepared(
        endpoints,
        &base.keyspace,
        &enriched,
        args.cql_in_flight,
    ))?;
    let search_base = rt.block_on(storeload::search_bulk(
        endpoints,
        &base.index_prefix,
        &enriched,
        1000,
        args.search_in_flight,
    ))?;

    // 3. The whole pipeline, with latency probes.
    eprintln!("whole pipeline");
    let mut stages = Vec::new();
    for (i, (name, binary)) in STAGES.iter().enumerate() {
        let addr = format!("127.0.0.1:{}", port(11 + i as u16));
        let log = whole.dir.join(format!("all-{name}.log"));
        stages.push(Stage::start(
            name,
            binary,
            &["--metrics-addr", &addr],
            &[whole.env(), stage_env()].concat(),
            &log,
        )?);
    }
    for (i, (name, _)) in STAGES.iter().enumerate() {
        wait_ready(name, port(11 + i as u16), Duration::from_secs(120))?;
    }
    // Give the four groups time to join before the clock starts.
    std::thread::sleep(Duration::from_secs(5));
    let stop = Arc::new(AtomicBool::new(false));
    let probes = rt.spawn(latency::run(
        ProbeTarget {
            brokers: brokers.to_string(),
            raw_topic: whole.topic("raw"),
            keyspace: whole.keyspace.clone(),
            posts_index: format!("{}-posts", whole.index_prefix),
        },
        endpoints.clone(),
        Duration::from_millis(args.probe_every_ms),
        Arc::clone(&stop),
        Duration::from_secs(60),
    ));
    // Who spends the two cores meanwhile: the stack's JVMs and every stage.
    let mut watched = procstat::stack_pids();
    watched.extend(
        stages
            .iter()
            .filter_map(|s| Some((s.name.clone(), s.pid()?))),
    );
    let mut ledger = procstat::CpuLedger::open(&watched);
    let started = Instant::now();
    let mut replay = start_replay(whole, &input, "all-producer.log")?;
    ledger.add("producer", replay.id());
    // The replay's final CPU reading is taken while it waits to be reaped.
    let mut replay_cpu = 0.0;
    while let Some(p) = procstat::sample(replay.id()) {
        replay_cpu = p.cpu_secs;
        if p.exited {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = replay.wait()?;
    anyhow::ensure!(
        status.success(),
        "the whole-pipeline replay failed ({status})"
    );
    let groups = whole.groups();
    let end_to_end = loop {
        for s in &mut stages {
            s.check_alive()?;
        }
        let lags: anyhow::Result<Vec<i64>> = groups.iter().map(|g| group_lag(brokers, g)).collect();
        // Probes keep arriving every --probe-every-ms, so a group is never idle for long:
        // a lag within a few batches of probes counts as drained.
        if matches!(&lags, Ok(l) if l.iter().all(|&x| x <= DRAINED_LAG)) {
            break started.elapsed();
        }
        if started.elapsed() > timeout {
            bail!("the whole pipeline did not drain within {timeout:?}: {lags:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let pipeline_cpu = ledger.close(&[(replay.id(), replay_cpu)]);
    stop.store(true, Ordering::Relaxed);
    let latencies: Latencies = rt.block_on(probes).context("the probe task panicked")??;
    let pipeline_peaks: Vec<(String, f64)> = stages
        .iter()
        .filter_map(|s| {
            let p = procstat::sample(s.pid()?)?;
            Some((s.name.clone(), p.peak_rss_kib as f64 / 1024.0))
        })
        .collect();
    for mut s in stages {
        if !matches!(s.stop(Duration::from_secs(30)), Some(st) if st.success()) {
            bail!(
                "stage {} did not stop cleanly; log {}",
                s.name,
                s.log.display()
            );
        }
    }
    let whole_run = Measured {
        items: item_lines,
        secs: end_to_end.as_secs_f64(),
        ..Measured::default()
    };

    // In-process numbers: enricher cost per item, dedupe memory per tracked item.
    eprintln!("enricher cost and dedupe memory");
    let items: Vec<Item> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let origin = SnapshotOrigin {
                fallback_retrieved_utc: 0,
                line_no: i as u64 + 1,
            };
            normalize_line(l.as_bytes(), &origin).ok()
        })
        .take(20_000)
        .collect();
    let enricher_us = inproc::enricher_costs(&items);
    let dedupe_bytes = [
        (1_000_000usize, inproc::dedupe_bytes_per_item(1_000_000)),
        (1_835_008, inproc::dedupe_bytes_per_item(1_835_008)),
    ];
    let worst_dedupe_bytes = dedupe_bytes.iter().map(|(_, b)| *b).fold(0.0, f64::max);

    // The verdict.
    let stage_rates = [
        ("producer", producer.rate()),
        ("dedupe", dedupe.rate()),
        ("enrich", enrich_on.rate()),
        ("sink-scylla", sink_cql.rate()),
        ("sink-elasticsearch", sink_search.rate()),
    ];
    let (slowest, slowest_rate) = stage_rates.iter().copied().fold(
        ("none", f64::INFINITY),
        |a, b| if b.1 < a.1 { b } else { a },
    );
    let ratio = |a: &Measured, b: &Measured| (b.rate() > 0.0).then(|| a.rate() / b.rate());
    let targets = vec![
        Target::at_least(
            "producer replay",
            "replay / kcat producing the lines".into(),
            ratio(&producer, &kcat_produce),
            0.7,
        ),
        Target::at_least(
            "dedupe",
            "dedupe / kcat pass-through of raw".into(),
            ratio(&dedupe, &kcat_raw),
            0.8,
        ),
        Target::at_least(
            "enrich, enrichers off",
            "enrich (off) / kcat pass-through of unique".into(),
            ratio(&enrich_off, &kcat_unique),
            0.8,
        ),
        Target::at_least(
            "enrich, enrichers on",
            "enrich / search sink alone".into(),
            ratio(&enrich_on, &sink_search),
            4.0,
        ),
        Target::at_least(
            "sink-scylla",
            "sink / plain prepared-statement load".into(),
            ratio(&sink_cql, &cql_base),
            0.8,
        ),
        Target::at_least(
            "sink-elasticsearch",
            "sink / plain bulk load".into(),
            ratio(&sink_search, &search_base),
            0.8,
        ),
        Target::at_most(
            "dedupe memory",
            "heap bytes per tracked item (worst of 1M, 1.84M)".into(),
            Some(worst_dedupe_bytes),
            64.0,
        ),
        Target::at_least(
            "whole pipeline",
            format!("end to end / slowest stage alone ({slowest})"),
            (slowest_rate.is_finite() && slowest_rate > 0.0)
                .then(|| whole_run.rate() / slowest_rate),
            0.7,
        ),
    ];

    let row = |name: &str, m: &Measured, baseline: Option<(&str, &Measured)>| Row {
        name: name.to_string(),
        items: m.items,
        rate: m.rate(),
        cpu_per_million: m.cpu_per_million(),
        peak_rss_mib: m.peak_rss_kib.map(|k| k as f64 / 1024.0),
        baseline: baseline.map(|(n, b)| (n.to_string(), b.rate())),
    };
    let rows = vec![
        row("baseline: kcat produce lines", &kcat_produce, None),
        row("baseline: kcat pass-through raw", &kcat_raw, None),
        row("baseline: kcat pass-through unique", &kcat_unique, None),
        row("baseline: CQL prepared inserts", &cql_base, None),
        row("baseline: search _bulk", &search_base, None),
        row(
            "producer replay",
            &producer,
            Some(("kcat produce lines", &kcat_produce)),
        ),
        row(
            "dedupe",
            &dedupe,
            Some(("kcat pass-through raw", &kcat_raw)),
        ),
        row(
            "enrich (enrichers off)",
            &enrich_off,
            Some(("kcat pass-through unique", &kcat_unique)),
        ),
        row(
            "enrich (all on)",
            &enrich_on,
            Some(("search sink", &sink_search)),
        ),
        row(
            "sink-scylla",
            &sink_cql,
            Some(("CQL prepared inserts", &cql_base)),
        ),
        row(
            "sink-elasticsearch",
            &sink_search,
            Some(("search _bulk", &search_base)),
        ),
        row(
            "whole pipeline (lines in)",
            &whole_run,
            Some((
                "slowest stage alone",
                &Measured {
                    items: 1,
                    secs: if slowest_rate > 0.0 {
                        1.0 / slowest_rate
                    } else {
                        0.0
                    },
                    ..Measured::default()
                },
            )),
        ),
    ];
    let p50 = latencies.quantile(0.5);
    let p99 = latencies.quantile(0.99);
    let mut table = report::render(&rows, &targets);
    table.push_str(&format!(
        "\nlatency produce -> visible in both stores: p50 {} ms, p99 {} ms ({} of {} probes seen)\n",
        p50.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into()),
        p99.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into()),
        latencies.millis.len(),
        latencies.sent
    ));
    // The whole pipeline's bound: how busy the cores were, and who kept them busy.
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let pipeline_cpu_total: f64 = pipeline_cpu.iter().map(|(_, cpu)| cpu).sum();
    let per_million = |cpu: f64| cpu * 1e6 / item_lines.max(1) as f64;
    table.push_str(&format!(
        "whole pipeline CPU: {:.0}% of {cores} cores busy over {:.1} s; CPU s per 1M lines:",
        100.0 * pipeline_cpu_total / whole_run.secs.max(1e-9) / cores,
        whole_run.secs
    ));
    for (name, cpu) in &pipeline_cpu {
        table.push_str(&format!(" {name} {:.0};", per_million(*cpu)));
    }
    table.push_str(&format!(" all {:.0}\n", per_million(pipeline_cpu_total)));
    table.push_str("enricher CPU per item (µs, above the all-off run):");
    for (name, us) in &enricher_us {
        table.push_str(&format!(" {name} {us:.2};"));
    }
    table.push_str(&format!(
        "\ndedupe state: {} bytes/item at 1M items, {} at 1.84M; dedupe stage peak RSS {:.1} MiB for {} distinct items\n",
        round(dedupe_bytes[0].1, 1),
        round(dedupe_bytes[1].1, 1),
        dedupe.peak_rss_kib.unwrap_or(0) as f64 / 1024.0,
        stats.distinct_posts + stats.distinct_comments
    ));

    let report = json!({
        "run": run.prefix,
        "stage_env": args.stage_env,
        "binaries": bin_path("redstream-producer")?.display().to_string(),
        "machine": machine(),
        "input": {
            "seed": args.seed,
            "posts": args.posts,
            "comments_per_post": args.comments_per_post,
            "lines": stats.lines,
            "item_lines": item_lines,
            "bytes": input_bytes,
            "distinct_items": stats.distinct_posts + stats.distinct_comments,
            "raw_messages": raw_count,
            "unique_messages": unique_count,
            "enriched_messages": enriched_count,
        },
        "baselines": {
            "kcat_produce_lines": kcat_produce.to_json(),
            "kcat_pass_through_raw": kcat_raw.to_json(),
            "kcat_pass_through_unique": kcat_unique.to_json(),
            "cql_prepared_inserts": cql_base.to_json(),
            "search_bulk": search_base.to_json(),
        },
        "stages": {
            "producer": producer.to_json(),
            "dedupe": dedupe.to_json(),
            "enrich_off": enrich_off.to_json(),
            "enrich": enrich_on.to_json(),
            "sink_scylla": sink_cql.to_json(),
            "sink_elasticsearch": sink_search.to_json(),
        },
        "pipeline": {
            "items_per_sec": round(whole_run.rate(), 1),
            "secs": round(whole_run.secs, 3),
            "slowest_stage": slowest,
            "latency_ms": {
                "p50": p50.map(|v| round(v, 1)),
                "p99": p99.map(|v| round(v, 1)),
                "probes_sent": latencies.sent,
                "probes_seen": latencies.millis.len(),
            },
            "cpu_secs_per_million_lines": pipeline_cpu
                .iter()
                .map(|(n, cpu)| (n.clone(), json!(round(per_million(*cpu), 1))))
                .collect::<serde_json::Map<_, _>>(),
            "cores_busy": round(pipeline_cpu_total / whole_run.secs.max(1e-9), 2),
            "peak_rss_mib": pipeline_peaks.iter().map(|(n, m)| (n.clone(), json!(round(*m, 1)))).collect::<serde_json::Map<_, _>>(),
        },
        "enricher_cpu_us_per_item": enricher_us.iter().map(|(n, v)| (n.to_string(), json!(round(*v, 3)))).collect::<serde_json::Map<_, _>>(),
        "dedupe_bytes_per_item": dedupe_bytes.iter().map(|(n, b)| (n.to_string(), json!(round(*b, 1)))).collect::<serde_json::Map<_, _>>(),
        "targets": targets.iter().map(Target::to_json).collect::<Vec<_>>(),
    });
    Ok((table, report))
}

/// CPU model, core count and memory, for the report.
fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: Option<u64> = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
    json!({
        "cpu": model,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory_gib": mem_kib.map(|k| round(k as f64 / 1048576.0, 1)),
    })
}

/// Deletes the topics, keyspaces and indices of every prefix of the run.
fn clean_up(
    runs: &[&RunNames],
    endpoints: &StoreEndpoints,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    let mut failures = Vec::new();
    for r in runs {
        if let Err(e) = r.producer(&["topics", "--delete"]) {
            failures.push(format!("topics of {}: {e:#}", r.prefix));
        }
    }
    let outcome: anyhow::Result<()> = rt.block_on(async {
        let session = cql_session(endpoints).await?;
        let search = Search::new(endpoints)?;
        for r in runs {
            session
                .query_unpaged(format!("DROP KEYSPACE IF EXISTS {}", r.keyspace), ())
                .await
                .with_context(|| format!("cannot drop keyspace {}", r.keyspace))?;
            for kind in ["posts", "comments"] {
                let index = format!("{}-{kind}", r.index_prefix);
                // Missing indices and templates are fine: not every prefix made both.
                let _ = search
                    .call(Method::Delete, &format!("/{index}"), None)
                    .await;
                let _ = search
                    .call(Method::Delete, &format!("/_index_template/{index}"), None)
                    .await;
            }
        }
        Ok(())
    });
    if let Err(e) = outcome {
        failures.push(format!("{e:#}"));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        bail!("{}", failures.join("; "))
    }
}
