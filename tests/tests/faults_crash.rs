//! Stages that die or are stopped mid-stream, one after the other, with real dump data in
//! flight: `kill -9` (a crash) and SIGTERM (a deploy). Afterwards both stores hold exactly the
//! distinct items, dedupe has let no repeat through after its restart, and a SIGTERM'd stage
//! has finished and committed its batch in hand (its successor reads none of it again).
//! Runs against the shared default stack: only our own stage processes are stopped.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redstream_tests::drain::{group_lag, topic_count, GroupInput};
use redstream_tests::expect::shared_dump as dump;
use redstream_tests::expect::Expected;
use redstream_tests::faults::{
    committed_total, distinct_changes, metric, small_batch_config, start_stage, wait_until,
};
use redstream_tests::run::{Pipeline, RunNames, STAGES};
use redstream_tests::stack::require_stack;

const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);
/// Small batches, so that a stage is caught with work in hand.
const BATCH: i64 = 20;
/// Batches whose output may be on its way at a crash (`batch.max_in_flight`).
const IN_FLIGHT: i64 = 3;
/// How long a stage may take to exit after SIGTERM (it finishes and commits its batch first).
const SIGTERM_BOUND: Duration = Duration::from_secs(10);

fn run_root() -> PathBuf {
    redstream_tests::expect::test_runs_dir("faults")
}

/// The dump files in the order they are replayed, one producer run each, so that the order in
/// which dedupe sees the snapshots of an item is known.
fn files() -> Vec<PathBuf> {
    [
        "pushshift_multi_era_submissions.ndjson",
        "pushshift_multi_era_comments.ndjson",
        "pushshift_RC_2015-01_sample.ndjson",
        "api_comments.ndjson",
        "api_submissions.ndjson",
    ]
    .iter()
    .map(|f| dump(f))
    .collect()
}

/// A run whose stages take small batches and are noticed gone within seconds.
struct Faulty {
    run: RunNames,
    env: Vec<(String, String)>,
    pipeline: Pipeline,
    next_port: u16,
}

impl Faulty {
    fn start(tag: &str, port_base: u16) -> Self {
        let run = RunNames::fresh(tag, &run_root()).expect("run folder");
        let env = small_batch_config(&run.dir, BATCH, IN_FLIGHT).expect("write stage config");
        run.producer(&["topics"]).expect("topics created");
        let mut stages = Vec::new();
        for (i, (name, _)) in STAGES.iter().enumerate() {
            stages.push(start_stage(&run, name, name, port_base + i as u16, &env).expect("start"));
        }
        Self {
            run,
            env,
            pipeline: Pipeline { stages },
            next_port: port_base + 10,
        }
    }

    fn replay(&self, file: &Path) {
        self.run
            .producer(&["replay", &file.display().to_string()])
            .expect("replay runs");
    }

    fn group(&self, index: usize) -> GroupInput {
        self.run.groups()[index].clone()
    }

    /// Messages the group has committed so far.
    fn committed(&self, index: usize) -> i64 {
        committed_total(&self.run.brokers, &self.group(index)).expect("committed offsets")
    }

    /// Waits until stage `index` has committed past `floor` and still has work left.
    fn wait_mid_stream(&mut self, index: usize, floor: i64) {
        let g = self.group(index);
        let brokers = self.run.brokers.clone();
        let pipeline = &mut self.pipeline;
        wait_until(
            &format!("{} with work in hand", g.group),
            Duration::from_secs(120),
            || {
                pipeline.check_alive()?;
                let lag = group_lag(&brokers, &g)?;
                Ok(lag > 0 && committed_total(&brokers, &g)? > floor)
            },
        )
        .expect("stage caught mid-stream");
    }

    /// Starts a new instance of stage `index` in place of the old one; returns its metrics port.
    fn restart(&mut self, index: usize, suffix: &str) -> u16 {
        let (name, _) = STAGES[index];
        let port = self.next_port;
        self.next_port += 1;
        self.pipeline.stages[index] = start_stage(
            &self.run,
            name,
            &format!("{name}-{suffix}"),
            port,
            &self.env,
        )
        .expect("restart");
        port
    }

    fn check_stores(&self, expected: &Expected) {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        self.run.store_counts(&rt).assert_holds(expected);
        for stage in ["dedupe", "enrich", "sink-scylla", "sink-elasticsearch"] {
            let topic = self.run.topic(&format!("dlq.{stage}"));
            assert_eq!(
                topic_count(&self.run.brokers, &topic).expect("dlq count"),
                0,
                "{stage} dead-lettered real items; see {}",
                self.run.dir.display()
            );
        }
    }
}

fn expected(files: &[PathBuf]) -> Expected {
    let mut expected = Expected::default();
    for f in files {
        expected.add_file(f).expect("expected state");
    }
    expected
}

#[test]
fn kill_9_of_each_stage_mid_stream_loses_and_doubles_nothing() {
    if !require_stack("kill_9_of_each_stage_mid_stream_loses_and_doubles_nothing") {
        return;
    }
    let files = files();
    let expected = expected(&files);
    let changes = distinct_changes(&files).expect("distinct changes");
    let mut run = Faulty::start("faults-kill", 19_600);

    // The two small files, then one more file before each kill, so that every stage has
    // fresh work when its turn comes.
    run.replay(&files[0]);
    run.replay(&files[1]);
    for (index, file) in files[2..].iter().chain([&files[0]]).enumerate() {
        let floor = run.committed(index);
        run.replay(file);
        run.wait_mid_stream(index, floor);
        run.pipeline.stages[index].kill();
        eprintln!(
            "killed {} at {} committed",
            STAGES[index].0,
            run.committed(index)
        );
        run.restart(index, "after-kill");
    }
    run.pipeline
        .wait_drained(&run.run, DRAIN_TIMEOUT)
        .expect("pipeline drains after the crashes");
    run.check_stores(&expected);

    // A crash of dedupe between its output and its state record lets the batches in flight
    // through again, once: at most `max_in_flight` batches of repeats, never more.
    let unique = topic_count(&run.run.brokers, &run.run.topic("unique")).expect("unique");
    assert!(
        (changes..=changes + BATCH * IN_FLIGHT).contains(&unique),
        "unique holds {unique} records for {changes} distinct changes"
    );
    let enriched = topic_count(&run.run.brokers, &run.run.topic("enriched")).expect("enriched");
    assert!(
        (unique..=unique + BATCH * IN_FLIGHT).contains(&enriched),
        "enriched holds {enriched} records for {unique} unique ones"
    );

    // The state survived the crash: replaying everything again passes nothing.
    for f in &files {
        run.replay(f);
    }
    run.pipeline
        .wait_drained(&run.run, DRAIN_TIMEOUT)
        .expect("pipeline drains after the second replay");
    assert_eq!(
        topic_count(&run.run.brokers, &run.run.topic("unique")).expect("unique"),
        unique,
        "a repeat passed dedupe after its restart"
    );
    run.check_stores(&expected);
    run.pipeline.stop().expect("every stage exits 0 on SIGTERM");
}

#[test]
fn sigterm_mid_stream_finishes_commits_and_exits_0_in_time() {
    if !require_stack("sigterm_mid_stream_finishes_commits_and_exits_0_in_time") {
        return;
    }
    let files = files();
    let expected = expected(&files);
    let changes = distinct_changes(&files).expect("distinct changes");
    let mut run = Faulty::start("faults-term", 19_700);

    run.replay(&files[0]);
    run.replay(&files[1]);
    let mut restarted = Vec::new();
    for (index, file) in files[2..].iter().chain([&files[0]]).enumerate() {
        let floor = run.committed(index);
        run.replay(file);
        run.wait_mid_stream(index, floor);
        let started = Instant::now();
        let status = run.pipeline.stages[index].stop(Duration::from_secs(60));
        let took = started.elapsed();
        eprintln!("{} exited {status:?} in {took:?}", STAGES[index].0);
        assert!(
            status.is_some_and(|s| s.success()),
            "{} exited with {status:?} after SIGTERM",
            STAGES[index].0
        );
        assert!(
            took < SIGTERM_BOUND,
            "{} took {took:?} to exit after SIGTERM",
            STAGES[index].0
        );
        // What it had committed when it was gone: its successor must start exactly there.
        let committed = run.committed(index);
        let port = run.restart(index, "after-term");
        restarted.push((index, port, committed));
    }
    run.pipeline
        .wait_drained(&run.run, DRAIN_TIMEOUT)
        .expect("pipeline drains after the stops");
    run.check_stores(&expected);

    // Clean stops repeat nothing: dedupe passed each change once, enrich each record once.
    let unique = topic_count(&run.run.brokers, &run.run.topic("unique")).expect("unique");
    assert_eq!(unique, changes, "records on unique vs distinct changes");
    let enriched = topic_count(&run.run.brokers, &run.run.topic("enriched")).expect("enriched");
    assert_eq!(enriched, unique, "records on enriched vs unique");

    // Each successor read exactly what its predecessor had not committed: the batch in hand
    // at SIGTERM was finished and committed, not left to be read again.
    for (index, port, committed) in restarted {
        let g = run.group(index);
        let total = topic_count(&run.run.brokers, &g.topic).expect("topic count");
        let read = metric(
            port,
            "redstream_items_in_total",
            &[("stage", STAGES[index].0)],
        )
        .expect("metrics");
        assert_eq!(
            read as i64,
            total - committed,
            "{} after SIGTERM read {read} records of {total} with {committed} committed",
            STAGES[index].0
        );
    }
    run.pipeline.stop().expect("every stage exits 0 on SIGTERM");
}
