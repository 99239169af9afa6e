//! A search store that throttles: whole `_bulk` requests answered `429`, and two documents
//! refused item by item on every attempt (a proxy in front of the real OpenSearch does it).
//! The sink retries the throttled requests with backoff until they go through, gives up on the
//! two documents after `backoff.max_item_retries` (dead letters `retries_exhausted`, so their
//! partition moves on), and once the store is healthy, `redstream-dlq replay` puts them in.
//! Runs against the shared default stack: the proxy is ours, OpenSearch is not disturbed.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redstream_tests::drain::read_all;
use redstream_tests::expect::shared_dump as dump;
use redstream_tests::expect::Expected;
use redstream_tests::faults::{metric, start_stage};
use redstream_tests::processes::bin_path;
use redstream_tests::run::{Pipeline, RunNames, STAGES};
use redstream_tests::search_proxy::SearchProxy;
use redstream_tests::stack::require_stack;
use redstream_tests::stores::StoreEndpoints;

const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);
const MAX_ITEM_RETRIES: usize = 3;

#[test]
fn throttled_bulks_are_retried_and_an_item_refused_forever_is_dead_lettered() {
    if !require_stack("throttled_bulks_are_retried_and_an_item_refused_forever_is_dead_lettered") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let run = RunNames::fresh(
        "faults-throttle",
        &redstream_tests::expect::test_runs_dir("faults"),
    )
    .expect("run folder");
    let files = [
        dump("pushshift_multi_era_submissions.ndjson"),
        dump("pushshift_multi_era_comments.ndjson"),
        dump("api_submissions.ndjson"),
    ];
    let mut expected = Expected::default();
    for f in &files {
        expected.add_file(f).expect("expected state");
    }
    let doomed: BTreeSet<String> = [
        expected.latest.keys().find(|k| k.starts_with("t3_")),
        expected.latest.keys().find(|k| k.starts_with("t1_")),
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    assert_eq!(doomed.len(), 2);

    let proxy = SearchProxy::start(&StoreEndpoints::from_env().search).expect("proxy");
    *proxy.faults.doomed.lock().expect("lock") = doomed.clone();
    proxy.faults.throttle_bulks.store(4, Ordering::SeqCst);

    run.producer(&["topics"]).expect("topics created");
    let search_env = vec![
        (
            "REDSTREAM_ELASTICSEARCH__URLS".to_string(),
            proxy.url.clone(),
        ),
        (
            "REDSTREAM_ELASTICSEARCH__BACKOFF__INITIAL_MS".to_string(),
            "50".to_string(),
        ),
        (
            "REDSTREAM_ELASTICSEARCH__BACKOFF__MAX_MS".to_string(),
            "400".to_string(),
        ),
        (
            "REDSTREAM_ELASTICSEARCH__BACKOFF__MAX_ITEM_RETRIES".to_string(),
            MAX_ITEM_RETRIES.to_string(),
        ),
    ];
    let search_port = 19_804;
    let mut stages = Vec::new();
    for (i, (name, _)) in STAGES.iter().enumerate() {
        let env = if *name == "sink-elasticsearch" {
            search_env.clone()
        } else {
            Vec::new()
        };
        stages.push(start_stage(&run, name, name, 19_801 + i as u16, &env).expect("starts"));
    }
    let mut pipeline = Pipeline { stages };

    let mut args = vec!["replay".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run.producer(&refs).expect("replay runs");
    pipeline
        .wait_drained(&run, DRAIN_TIMEOUT)
        .expect("the sink got past the throttling and the doomed items");

    // The throttled requests were retried, the doomed items given up on, the rest written.
    assert_eq!(proxy.faults.throttled_bulks.load(Ordering::SeqCst), 4);
    let retries = metric(
        search_port,
        "redstream_retries_total",
        &[("stage", "sink-elasticsearch"), ("target", "elasticsearch")],
    )
    .expect("metrics");
    assert!(retries >= 4.0, "retries metric says {retries}");
    let log = std::fs::read_to_string(run.dir.join("sink-elasticsearch.log")).expect("log");
    assert!(
        log.contains("store write failed; retrying"),
        "the sink says it retries"
    );

    let before = run.store_counts(&rt);
    assert_eq!(
        before.scylla_posts,
        expected.posts(),
        "Cassandra is not affected"
    );
    assert_eq!(before.scylla_comments, expected.comments());
    assert_eq!(
        before.es_posts,
        expected.posts() - 1,
        "all posts but the doomed one"
    );
    assert_eq!(
        before.es_comments,
        expected.comments() - 1,
        "all comments but one"
    );

    let letters = read_all(&run.brokers, &run.topic("dlq.sink-elasticsearch")).expect("sink DLQ");
    let keys: BTreeSet<String> = letters
        .iter()
        .map(|m| String::from_utf8_lossy(m.key.as_deref().unwrap_or_default()).into_owned())
        .collect();
    assert_eq!(keys, doomed, "exactly the doomed items are dead-lettered");
    for m in &letters {
        assert_eq!(m.header("redstream.reason.kind"), Some("retries_exhausted"));
        let reason = m.header("redstream.reason").unwrap_or_default();
        assert!(
            reason.contains(&format!("gave up after {MAX_ITEM_RETRIES} retries"))
                && reason.contains("429"),
            "{reason}"
        );
    }
    // Each doomed snapshot was tried once plus MAX_ITEM_RETRIES times, not more.
    assert_eq!(
        proxy.faults.refused_items.load(Ordering::SeqCst),
        letters.len() * (MAX_ITEM_RETRIES + 1)
    );

    // The store is healthy again: replay the letters, and they land.
    proxy.faults.doomed.lock().expect("lock").clear();
    let out = Command::new(bin_path("redstream-dlq").expect("redstream-dlq is built"))
        .args([
            "replay",
            "--stage",
            "sink-elasticsearch",
            "--kind",
            "retries_exhausted",
        ])
        .envs(run.env())
        .output()
        .expect("redstream-dlq runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    pipeline.wait_drained(&run, DRAIN_TIMEOUT).expect("drains");
    let after = run.store_counts(&rt);
    assert_eq!(
        after.es_posts,
        expected.posts(),
        "posts in the search store"
    );
    assert_eq!(
        after.es_comments,
        expected.comments(),
        "comments in the search store"
    );
    assert_eq!(after.scylla_posts, expected.posts());
    assert_eq!(after.scylla_comments, expected.comments());

    pipeline.stop().expect("every stage exits 0 on SIGTERM");
}
