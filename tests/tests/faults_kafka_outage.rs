//! Kafka goes away for 30 s in the middle of a replay, on a broker of our own (`scripts/stack`
//! with its own state folder and ports; the shared broker is never stopped). The producer
//! blocks with its records buffered, every stage waits, nobody crashes, and when the broker is
//! back everything arrives: both stores hold exactly the distinct items.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use redstream_tests::drain::topic_count;
use redstream_tests::expect::shared_dump as dump;
use redstream_tests::expect::Expected;
use redstream_tests::faults::{start_stage, OwnStack};
use redstream_tests::processes::bin_path;
use redstream_tests::run::{Pipeline, RunNames, STAGES};
use redstream_tests::stack::require_stack;

const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);
const OUTAGE: Duration = Duration::from_secs(30);

#[test]
fn kafka_down_30s_nobody_crashes_and_everything_arrives() {
    if !require_stack("kafka_down_30s_nobody_crashes_and_everything_arrives") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let stack = OwnStack::up(Path::new("/tmp/faults-stack-kafka"), 22_000, &["kafka"])
        .expect("our own broker starts");
    let mut run = RunNames::fresh(
        "faults-down-kafka",
        &redstream_tests::expect::test_runs_dir("faults"),
    )
    .expect("run folder");
    run.brokers = format!("127.0.0.1:{}", stack.port("REDSTREAM_KAFKA_PORT"));

    let files = [
        dump("pushshift_multi_era_submissions.ndjson"),
        dump("pushshift_RC_2015-01_sample.ndjson"),
        dump("api_comments.ndjson"),
    ];
    let mut expected = Expected::default();
    for f in &files {
        expected.add_file(f).expect("expected state");
    }

    run.producer(&["topics"]).expect("topics created");
    let mut stages = Vec::new();
    for (i, (name, _)) in STAGES.iter().enumerate() {
        stages.push(start_stage(&run, name, name, 19_921 + i as u16, &[]).expect("start"));
    }
    let mut pipeline = Pipeline { stages };
    run.producer(&["replay", &files[0].display().to_string()])
        .expect("first replay");
    pipeline
        .wait_drained(&run, DRAIN_TIMEOUT)
        .expect("drains with Kafka up");

    // A replay in flight when the broker stops: it must block, not fail. Few records in
    // flight at a time, so that it is still running when the broker goes.
    let producer_run = {
        let env = run.env();
        let log = run.dir.join("producer-replay-outage.log");
        let args: Vec<String> = ["replay".to_string(), "--summary-json".to_string()]
            .into_iter()
            .chain(files[1..].iter().map(|f| f.display().to_string()))
            .collect();
        std::thread::spawn(move || {
            let err = std::fs::File::create(&log).expect("log file");
            Command::new(bin_path("redstream-producer").expect("producer is built"))
                .args(&args)
                .envs(env)
                .env("REDSTREAM_REPLAY__MAX_IN_FLIGHT", "5")
                .env("REDSTREAM_LOG_FORMAT", "text")
                .stderr(err)
                .output()
                .expect("producer runs")
        })
    };
    // Stop the broker once part of the replay is in (bounded wait).
    let raw = run.topic("raw");
    let deadline = Instant::now() + Duration::from_secs(60);
    while topic_count(&run.brokers, &raw).unwrap_or(0) < 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    stack.stop("kafka").expect("our broker stops");
    let down_at = Instant::now();
    while down_at.elapsed() < OUTAGE {
        pipeline
            .check_alive()
            .expect("no stage crashes while Kafka is down");
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        !producer_run.is_finished(),
        "the replay ended while Kafka was down instead of waiting for it"
    );
    stack.start("kafka").expect("our broker starts again");

    let output = producer_run.join().expect("replay thread");
    assert!(
        output.status.success(),
        "the replay failed once Kafka was back: {:?}",
        output.status
    );
    let summary: serde_json::Value = String::from_utf8_lossy(&output.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_default();
    assert_eq!(summary["failed"].as_u64(), Some(0), "{summary}");
    eprintln!("replay summary: {summary}");
    pipeline
        .wait_drained(&run, DRAIN_TIMEOUT)
        .expect("drains after Kafka is back");

    run.store_counts(&rt).assert_holds(&expected);

    // What the operator saw: the producer says all brokers are down, the stages name the
    // broker they cannot reach.
    let producer_log =
        std::fs::read_to_string(run.dir.join("producer-replay-outage.log")).expect("log");
    assert!(
        producer_log.contains("All broker connections are down"),
        "the producer log says Kafka is down"
    );
    let log = std::fs::read_to_string(run.dir.join("dedupe.log")).expect("log");
    assert!(
        log.contains(&run.brokers) && log.to_lowercase().contains("connect"),
        "the dedupe log names the broker it cannot reach"
    );
    pipeline.stop().expect("every stage exits 0 on SIGTERM");
}
