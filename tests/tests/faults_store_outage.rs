//! A store that goes away for 30 s while data flows: Cassandra in one test, OpenSearch in the
//! other, each a server of our own (`scripts/stack` with its own state folder and ports; the
//! shared stack is never stopped). While the store is down the sink commits nothing, retries
//! with backoff, says so in its log and in `redstream_retries_total`; when the store is back
//! it catches up, and the store holds exactly the distinct items.

use std::path::Path;
use std::time::{Duration, Instant};

use redstream_tests::drain::GroupInput;
use redstream_tests::expect::shared_dump as dump;
use redstream_tests::expect::Expected;
use redstream_tests::faults::{committed_total, metric, start_stage, OwnStack};
use redstream_tests::run::{Pipeline, RunNames, STAGES};
use redstream_tests::stack::require_stack;
use redstream_tests::stores::{count_stores, StoreEndpoints};

const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);
const OUTAGE: Duration = Duration::from_secs(30);

/// Runs the outage scenario against `service` of a stack of our own.
fn outage(service: &str, stage: &str, offset: u16, metrics_base: u16) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let run = RunNames::fresh(
        &format!("faults-down-{service}"),
        &redstream_tests::expect::test_runs_dir("faults"),
    )
    .expect("run folder");
    let stack = OwnStack::up(
        Path::new(&format!("/tmp/faults-stack-{service}")),
        offset,
        &[service],
    )
    .expect("our own server starts");

    // The sink under test talks to our server; everything else to the shared stack.
    let mut endpoints = StoreEndpoints::from_env();
    let (target, mut env) = match service {
        "cassandra" => {
            let node = format!("127.0.0.1:{}", stack.port("REDSTREAM_CASSANDRA_PORT"));
            endpoints.cql = node.clone();
            (
                "scylla",
                vec![("REDSTREAM_SCYLLA__NODES".to_string(), node)],
            )
        }
        _ => {
            let url = format!(
                "http://127.0.0.1:{}",
                stack.port("REDSTREAM_OPENSEARCH_PORT")
            );
            endpoints.search = url.clone();
            (
                "elasticsearch",
                vec![("REDSTREAM_ELASTICSEARCH__URLS".to_string(), url)],
            )
        }
    };
    let section = if target == "scylla" {
        "SCYLLA"
    } else {
        "ELASTICSEARCH"
    };
    env.push((
        format!("REDSTREAM_{section}__BACKOFF__MAX_MS"),
        "3000".to_string(),
    ));

    run.producer(&["topics"]).expect("topics created");
    let mut stages = Vec::new();
    for (i, (name, _)) in STAGES.iter().enumerate() {
        let extra = if *name == stage {
            env.clone()
        } else {
            Vec::new()
        };
        stages.push(start_stage(&run, name, name, metrics_base + i as u16, &extra).expect("start"));
    }
    let sink_port = metrics_base + STAGES.iter().position(|(n, _)| *n == stage).unwrap_or(0) as u16;
    let mut pipeline = Pipeline { stages };
    let group = GroupInput {
        group: format!("{}.{stage}", run.prefix),
        topic: run.topic("enriched"),
    };

    let files = [
        dump("pushshift_multi_era_submissions.ndjson"),
        dump("pushshift_multi_era_comments.ndjson"),
        dump("pushshift_RC_2015-01_sample.ndjson"),
    ];
    let mut expected = Expected::default();
    for f in &files {
        expected.add_file(f).expect("expected state");
    }
    let replay = |file: &Path| {
        run.producer(&["replay", &file.display().to_string()])
            .expect("replay runs")
    };

    // The store works: the first file lands.
    replay(&files[0]);
    pipeline
        .wait_drained(&run, DRAIN_TIMEOUT)
        .expect("drains with the store up");

    // The store goes away; more data arrives meanwhile.
    stack.stop(service).expect("our server stops");
    let down_at = Instant::now();
    let committed_before = committed_total(&run.brokers, &group).expect("offsets");
    replay(&files[1]);
    replay(&files[2]);
    while down_at.elapsed() < OUTAGE {
        pipeline
            .check_alive()
            .expect("nobody crashes while the store is down");
        std::thread::sleep(Duration::from_secs(1));
    }
    let committed_during = committed_total(&run.brokers, &group).expect("offsets");
    assert_eq!(
        committed_during, committed_before,
        "the {stage} sink committed offsets while its store was down"
    );
    let retries = metric(
        sink_port,
        "redstream_retries_total",
        &[("stage", stage), ("target", target)],
    )
    .expect("metrics");
    assert!(
        retries >= 3.0,
        "{stage} retried {retries} times in {OUTAGE:?}"
    );
    let log = std::fs::read_to_string(run.dir.join(format!("{stage}.log"))).expect("log");
    assert!(
        log.contains("store write failed; retrying, nothing is committed meanwhile"),
        "the {stage} log says it is retrying"
    );

    // The store is back: the sink catches up, and everything is there, once.
    stack.start(service).expect("our server starts again");
    pipeline
        .wait_drained(&run, DRAIN_TIMEOUT)
        .expect("the sink catches up");
    let counts = rt
        .block_on(count_stores(&endpoints, &run.keyspace, &run.index_prefix))
        .expect("stores answer");
    counts.assert_holds(&expected);
    pipeline.stop().expect("every stage exits 0 on SIGTERM");
}

#[test]
fn cassandra_down_30s_the_sink_waits_retries_and_catches_up() {
    if !require_stack("cassandra_down_30s_the_sink_waits_retries_and_catches_up") {
        return;
    }
    outage("cassandra", "sink-scylla", 20_000, 19_901);
}

#[test]
fn opensearch_down_30s_the_sink_waits_retries_and_catches_up() {
    if !require_stack("opensearch_down_30s_the_sink_waits_retries_and_catches_up") {
        return;
    }
    outage("opensearch", "sink-elasticsearch", 21_000, 19_911);
}
