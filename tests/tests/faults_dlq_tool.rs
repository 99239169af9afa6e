//! `redstream-dlq` end to end: a sink refuses real items (its size limit set too low), the
//! operator lists them with their reason, fixes the limit, replays them by reason kind, and
//! they land in the store; nothing else changes. Runs against the shared default stack.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use redstream_tests::drain::topic_count;
use redstream_tests::expect::shared_dump as dump;
use redstream_tests::expect::Expected;
use redstream_tests::faults::start_stage;
use redstream_tests::processes::bin_path;
use redstream_tests::run::{Pipeline, RunNames};
use redstream_tests::stack::require_stack;

const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

fn run_root() -> PathBuf {
    redstream_tests::expect::test_runs_dir("faults")
}

/// Runs `redstream-dlq` for this run; returns (success, stdout, stderr).
fn dlq(run: &RunNames, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin_path("redstream-dlq").expect("redstream-dlq is built"))
        .args(args)
        .envs(run.env())
        .output()
        .expect("redstream-dlq runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn refused_items_are_listed_fixed_and_replayed_into_the_store() {
    if !require_stack("refused_items_are_listed_fixed_and_replayed_into_the_store") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let run = RunNames::fresh("faults-dlq", &run_root()).expect("run folder");
    let files = [
        dump("pushshift_multi_era_submissions.ndjson"),
        dump("pushshift_multi_era_comments.ndjson"),
        dump("api_submissions.ndjson"),
    ];
    let mut expected = Expected::default();
    for f in &files {
        expected.add_file(f).expect("expected state");
    }
    run.producer(&["topics"]).expect("topics created");

    // A Cassandra sink whose item limit is far too low: long posts are refused (`too_large`).
    let small = [(
        "REDSTREAM_SCYLLA__MAX_ITEM_BYTES".to_string(),
        "3000".to_string(),
    )];
    let mut stages = Vec::new();
    for (i, stage) in ["dedupe", "enrich", "sink-elasticsearch"]
        .iter()
        .enumerate()
    {
        stages.push(start_stage(&run, stage, stage, 19_501 + i as u16, &[]).expect("starts"));
    }
    stages.push(
        start_stage(&run, "sink-scylla", "sink-scylla-small", 19_505, &small).expect("starts"),
    );
    let mut pipeline = Pipeline { stages };

    let mut args = vec!["replay".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run.producer(&refs).expect("replay runs");
    pipeline.wait_drained(&run, DRAIN_TIMEOUT).expect("drains");

    let before = run.store_counts(&rt);
    let dlq_topic = run.topic("dlq.sink-scylla");
    let refused = topic_count(&run.brokers, &dlq_topic).expect("DLQ count");
    assert!(
        refused > 0,
        "the low limit refused nothing; the test proves nothing"
    );
    // Letters count snapshots (an item may have several), so only the shortfall is exact.
    assert!(
        before.scylla_posts < expected.posts(),
        "the refused posts are missing from Cassandra: {before:?}"
    );
    assert_eq!(before.es_posts, expected.posts(), "search store posts");
    assert_eq!(
        before.es_comments,
        expected.comments(),
        "search store comments"
    );

    // list: one line per letter, with kind, source and reason.
    let (ok, out, err) = dlq(&run, &["list", "--stage", "sink-scylla"]);
    assert!(ok, "list failed: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len() as i64, refused, "list output:\n{out}");
    for line in &lines {
        assert!(line.contains("kind=too_large"), "{line}");
        assert!(
            line.contains(&format!("source={}/", run.topic("enriched"))),
            "{line}"
        );
        assert!(line.contains("scylla.max_item_bytes"), "{line}");
    }
    let (ok, json, _) = dlq(&run, &["list", "--json"]);
    assert!(ok);
    let parsed: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(
        parsed.len() as i64,
        refused,
        "only the sink refused anything"
    );
    assert_eq!(parsed[0]["headers"]["redstream.stage"], "sink-scylla");

    // replay needs a choice, and refuses to guess.
    let (ok, _, err) = dlq(&run, &["replay"]);
    assert!(!ok && err.contains("--all"), "{err}");

    // The fix: a sink with the normal limit. Then the replay, by reason kind.
    let old = pipeline.stages.pop().expect("scylla sink");
    drop(old);
    pipeline
        .stages
        .push(start_stage(&run, "sink-scylla", "sink-scylla-fixed", 19_506, &[]).expect("starts"));
    let (ok, out, err) = dlq(
        &run,
        &["replay", "--stage", "sink-scylla", "--kind", "too_large"],
    );
    assert!(ok, "replay failed: {err}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("replayed ")).count() as i64,
        refused,
        "{out}"
    );
    pipeline.wait_drained(&run, DRAIN_TIMEOUT).expect("drains");

    let after = run.store_counts(&rt);
    assert_eq!(after.scylla_posts, expected.posts(), "posts in Cassandra");
    assert_eq!(
        after.scylla_comments,
        expected.comments(),
        "comments in Cassandra"
    );
    assert_eq!(after.es_posts, expected.posts(), "search store posts");
    assert_eq!(
        after.es_comments,
        expected.comments(),
        "search store comments"
    );
    assert_eq!(
        topic_count(&run.brokers, &dlq_topic).expect("DLQ count"),
        refused,
        "the replayed items were not refused again, and the letters stay for the record"
    );
    pipeline.stop().expect("every stage exits 0 on SIGTERM");
}
