//! Rebalances with data in flight: every processor and sink runs as two instances of one
//! consumer group, a third instance of each joins mid-stream, then one of the first two
//! leaves (SIGTERM), then another dies (`kill -9`). The result is the same as with one
//! instance: both stores hold exactly the distinct items, and dedupe passed each change once
//! (plus at most the batches in flight again for the instance that died).
//! Runs against the shared default stack: only our own stage processes come and go.

use std::path::{Path, PathBuf};
use std::time::Duration;

use redstream_tests::drain::{group_lag, topic_count};
use redstream_tests::expect::shared_dump as dump;
use redstream_tests::expect::Expected;
use redstream_tests::faults::{
    committed_total, distinct_changes, small_batch_config, start_stage, wait_until,
};
use redstream_tests::processes::Stage;
use redstream_tests::run::{Pipeline, RunNames, STAGES};
use redstream_tests::stack::require_stack;

const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);
const BATCH: i64 = 20;
/// Batches whose output may be on its way at a crash (`batch.max_in_flight`).
const IN_FLIGHT: i64 = 3;

#[test]
fn members_joining_and_leaving_mid_stream_change_nothing() {
    if !require_stack("members_joining_and_leaving_mid_stream_change_nothing") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let run = RunNames::fresh(
        "faults-rebalance",
        &redstream_tests::expect::test_runs_dir("faults"),
    )
    .expect("run folder");
    let files: Vec<PathBuf> = [
        "pushshift_multi_era_submissions.ndjson",
        "pushshift_multi_era_comments.ndjson",
        "pushshift_RC_2015-01_sample.ndjson",
        "api_comments.ndjson",
        "api_submissions.ndjson",
    ]
    .iter()
    .map(|f| dump(f))
    .collect();
    let mut expected = Expected::default();
    for f in &files {
        expected.add_file(f).expect("expected state");
    }
    let changes = distinct_changes(&files).expect("distinct changes");

    let env = small_batch_config(&run.dir, BATCH, IN_FLIGHT).expect("stage config");
    run.producer(&["topics"]).expect("topics created");

    // Two instances of each stage: stages[2 * i] and stages[2 * i + 1].
    let mut port = 19_951u16;
    let mut start = |name: &str, n: usize| -> Stage {
        port += 1;
        start_stage(&run, name, &format!("{name}-{n}"), port, &env).expect("start")
    };
    let mut stages = Vec::new();
    for (name, _) in STAGES {
        stages.push(start(name, 1));
        stages.push(start(name, 2));
    }
    let mut pipeline = Pipeline { stages };

    let replay = |file: &Path| {
        run.producer(&["replay", &file.display().to_string()])
            .expect("replay runs")
    };
    let groups = run.groups();
    let mid_stream = |pipeline: &mut Pipeline, floor: &[i64]| {
        // Every group has made progress on the new data and still has some left... or the
        // fastest ones are done already: waiting for the slowest is enough.
        let sinks = &groups[2];
        wait_until(
            "the sinks caught mid-stream",
            Duration::from_secs(120),
            || {
                pipeline.check_alive()?;
                Ok(group_lag(&run.brokers, sinks)? > 0
                    && committed_total(&run.brokers, sinks)? > floor[2])
            },
        )
        .expect("mid-stream");
    };
    let floors = |groups: &[redstream_tests::drain::GroupInput]| -> Vec<i64> {
        groups
            .iter()
            .map(|g| committed_total(&run.brokers, g).expect("offsets"))
            .collect()
    };

    replay(&files[0]);
    replay(&files[1]);

    // A third member of every group joins mid-stream.
    let floor = floors(&groups);
    replay(&files[2]);
    mid_stream(&mut pipeline, &floor);
    for (name, _) in STAGES {
        pipeline.stages.push(start(name, 3));
    }

    // One of the first two leaves cleanly mid-stream.
    let floor = floors(&groups);
    replay(&files[3]);
    mid_stream(&mut pipeline, &floor);
    for i in 0..STAGES.len() {
        let status = pipeline.stages[2 * i].stop(Duration::from_secs(30));
        assert!(
            status.is_some_and(|s| s.success()),
            "{} left with {status:?}",
            pipeline.stages[2 * i].name
        );
    }

    // Another dies mid-stream.
    let floor = floors(&groups);
    replay(&files[4]);
    mid_stream(&mut pipeline, &floor);
    for i in 0..STAGES.len() {
        pipeline.stages[2 * i + 1].kill();
    }

    pipeline
        .wait_drained(&run, DRAIN_TIMEOUT)
        .expect("the remaining members drain");

    run.store_counts(&rt).assert_holds(&expected);

    let unique = topic_count(&run.brokers, &run.topic("unique")).expect("unique");
    eprintln!("unique {unique} for {changes} distinct changes");
    assert!(
        (changes..=changes + BATCH * IN_FLIGHT).contains(&unique),
        "unique holds {unique} records for {changes} distinct changes"
    );
    for stage in ["dedupe", "enrich", "sink-scylla", "sink-elasticsearch"] {
        let topic = run.topic(&format!("dlq.{stage}"));
        assert_eq!(
            topic_count(&run.brokers, &topic).expect("dlq"),
            0,
            "{stage} DLQ"
        );
    }

    // Killed members are gone already; the rest leave cleanly.
    pipeline.stages.retain_mut(|s| s.pid().is_some());
    pipeline
        .stop()
        .expect("the remaining members exit 0 on SIGTERM");
}
