//! The whole pipeline on real dump data, every stage its own process, asserting what a user
//! sees: rows in Cassandra, documents in the search store, messages in dead-letter topics.

use std::path::PathBuf;
use std::time::Duration;

use redstream_schemas::Item;
use redstream_tests::drain::{read_all, topic_count};
use redstream_tests::expect::Expected;
use redstream_tests::run::{Pipeline, RunNames};
use redstream_tests::stack::require_stack;
use redstream_tests::stores::{cql_session, Search, StoreEndpoints};
use scylla::client::session::Session;

const DRAIN_TIMEOUT: Duration = Duration::from_secs(900);

fn dumps_dir() -> PathBuf {
    redstream_tests::expect::shared_dumps_dir()
}

fn run_root() -> PathBuf {
    redstream_tests::expect::test_runs_dir("e2e")
}

fn replay(run: &RunNames, files: &[PathBuf]) -> serde_json::Value {
    let mut args = vec!["replay".to_string(), "--summary-json".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run.producer(&refs).expect("replay runs");
    out.lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("replay prints a JSON summary")
}

/// Score and text as Cassandra holds them.
async fn cql_row(session: &Session, keyspace: &str, item: &Item) -> Option<(i64, String)> {
    let (table, text_col) = match item {
        Item::Post(_) => ("posts", "title"),
        Item::Comment(_) => ("comments", "body"),
    };
    let cql = format!("SELECT score, {text_col} FROM {keyspace}.{table} WHERE fullname = ?");
    let rows = session
        .query_unpaged(cql, (item.fullname(),))
        .await
        .ok()?
        .into_rows_result()
        .ok()?;
    let (score, text): (Option<i64>, Option<String>) = rows.maybe_first_row().ok()??;
    Some((score.unwrap_or_default(), text.unwrap_or_default()))
}

fn expected_fields(item: &Item) -> (i64, String) {
    match item {
        Item::Post(p) => (p.score, p.title.clone()),
        Item::Comment(c) => (c.score, c.body.clone()),
    }
}

/// Checks a spread-out sample of items against both stores.
fn check_sample(run: &RunNames, expected: &Expected, rt: &tokio::runtime::Runtime) {
    let endpoints = StoreEndpoints::from_env();
    rt.block_on(async {
        let session = cql_session(&endpoints).await.expect("CQL session");
        let search = Search::new(&endpoints).expect("search client");
        let step = (expected.latest.len() / 40).max(1);
        for item in expected.latest.values().step_by(step) {
            let want = expected_fields(item);
            let row = cql_row(&session, &run.keyspace, item).await;
            assert_eq!(
                row.as_ref(),
                Some(&want),
                "Cassandra row of {}",
                item.fullname()
            );

            let index = match item {
                Item::Post(_) => format!("{}-posts", run.index_prefix),
                Item::Comment(_) => format!("{}-comments", run.index_prefix),
            };
            let doc = search
                .get(&index, item.fullname())
                .await
                .expect("search answers");
            let doc =
                doc.unwrap_or_else(|| panic!("no document for {} in {index}", item.fullname()));
            assert_eq!(
                doc["score"].as_i64(),
                Some(want.0),
                "score of {} in {index}",
                item.fullname()
            );
            let text_field = if matches!(item, Item::Post(_)) {
                "title"
            } else {
                "body"
            };
            assert_eq!(
                doc[text_field].as_str(),
                Some(want.1.as_str()),
                "{text_field} of {}",
                item.fullname()
            );
        }
    });
}

#[test]
fn real_dumps_land_exactly_once_in_both_stores() {
    if !require_stack("real_dumps_land_exactly_once_in_both_stores") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let run = RunNames::fresh("e2e", &run_root()).expect("run folder");

    // Every shared dump file, plus lines of our own that must be dead-lettered.
    let mut files: Vec<PathBuf> = std::fs::read_dir(dumps_dir())
        .expect("../shared/data/reddit/dumps is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        5,
        "expected the five shared dump files in {}",
        dumps_dir().display()
    );
    let bad = run.dir.join("malformed.ndjson");
    std::fs::write(
        &bad,
        "{\"id\":\"zz1\",\"body\":\"cut short\n\
         {\"kind\":\"t5\",\"data\":{\"display_name\":\"askreddit\"}}\n\
         {\"id\":\"zz2\",\"name\":\"t1_zz2\",\"body\":\"no subreddit\",\"link_id\":\"t3_a\",\"parent_id\":\"t3_a\",\"created_utc\":1}\n",
    )
    .expect("write malformed file");
    files.push(bad.clone());

    let mut expected = Expected::default();
    for f in &files {
        expected.add_file(f).expect("expected state");
    }
    assert_eq!(
        expected.malformed.len(),
        3,
        "the three hand-written lines are not items: {:?}",
        expected.malformed
    );

    run.producer(&["topics"]).expect("topics created");
    let mut pipeline = Pipeline::start(&run, 19_100).expect("stages start");
    let summary = replay(&run, &files);
    assert_eq!(summary["read"].as_u64(), Some(expected.lines));
    assert_eq!(summary["dead_lettered"].as_u64(), Some(3));
    pipeline
        .wait_drained(&run, DRAIN_TIMEOUT)
        .expect("pipeline drains");

    // Both stores hold exactly the distinct items.
    let first = run.store_counts(&rt);
    assert_eq!(
        first.scylla_posts,
        expected.posts(),
        "distinct posts in Cassandra"
    );
    assert_eq!(
        first.scylla_comments,
        expected.comments(),
        "distinct comments in Cassandra"
    );
    assert_eq!(
        first.es_posts,
        expected.posts(),
        "distinct posts in the search store"
    );
    assert_eq!(
        first.es_comments,
        expected.comments(),
        "distinct comments in the search store"
    );
    check_sample(&run, &expected, &rt);

    // The malformed lines are dead-lettered exactly, each with its file, line and reason.
    let dlq = read_all(&run.brokers, &run.topic("dlq.producer")).expect("read producer DLQ");
    let mut got: Vec<(String, u64, String)> = dlq
        .iter()
        .map(|m| {
            let h = |k: &str| m.header(k).unwrap_or_default().to_string();
            (
                h("redstream.source.file"),
                h("redstream.source.line").parse().unwrap_or(0),
                h("redstream.reason"),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got.len(), 3, "dead letters: {got:?}");
    for ((file, line, reason), want_line) in got.iter().zip([1u64, 2, 3]) {
        assert!(file.ends_with("malformed.ndjson"), "file header {file}");
        assert_eq!(*line, want_line);
        assert!(!reason.is_empty(), "line {line} has a reason");
    }
    for stage in ["dedupe", "enrich", "sink-scylla", "sink-elasticsearch"] {
        let n = topic_count(&run.brokers, &run.topic(&format!("dlq.{stage}"))).expect("dlq count");
        assert_eq!(
            n,
            0,
            "real items dead-lettered by {stage}; see {}",
            run.dir.display()
        );
    }

    // Replaying the same files again changes nothing anywhere.
    let unique_before = topic_count(&run.brokers, &run.topic("unique")).expect("unique count");
    replay(&run, &files);
    pipeline
        .wait_drained(&run, DRAIN_TIMEOUT)
        .expect("pipeline drains again");
    let unique_after = topic_count(&run.brokers, &run.topic("unique")).expect("unique count");
    assert_eq!(
        unique_after, unique_before,
        "a replay of the same files passed dedupe"
    );
    let second = run.store_counts(&rt);
    assert_eq!(
        format!("{second:?}"),
        format!("{first:?}"),
        "store counts after the replay"
    );
    check_sample(&run, &expected, &rt);

    pipeline.stop().expect("every stage exits 0 on SIGTERM");
}

/// Writes one comment snapshot in Pushshift shape.
fn comment_line(id: &str, body: &str, score: i64, retrieved_on: i64) -> String {
    serde_json::json!({
        "id": id, "name": format!("t1_{id}"), "link_id": "t3_e2eupd", "parent_id": "t3_e2eupd",
        "subreddit": "redstream_e2e", "author": "someone", "body": body, "score": score,
        "created_utc": "1420070400", "retrieved_on": retrieved_on, "edited": false,
    })
    .to_string()
}

#[test]
fn an_update_replaces_and_an_older_snapshot_does_not() {
    if !require_stack("an_update_replaces_and_an_older_snapshot_does_not") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let run = RunNames::fresh("e2e-upd", &run_root()).expect("run folder");
    run.producer(&["topics"]).expect("topics created");
    let mut pipeline = Pipeline::start(&run, 19_200).expect("stages start");

    let write = |name: &str, line: String| {
        let path = run.dir.join(name);
        std::fs::write(&path, line + "\n").expect("write input");
        path
    };
    let endpoints = StoreEndpoints::from_env();
    let fetch = |rt: &tokio::runtime::Runtime| {
        rt.block_on(async {
            let session = cql_session(&endpoints).await.expect("CQL");
            let probe = Item::Comment(redstream_schemas::RawComment {
                fullname: "t1_e2e1".into(),
                ..sample_comment()
            });
            let row = cql_row(&session, &run.keyspace, &probe).await;
            let doc = Search::new(&endpoints)
                .expect("search")
                .get(&format!("{}-comments", run.index_prefix), "t1_e2e1")
                .await
                .expect("search answers");
            (
                row,
                doc.map(|d| {
                    (
                        d["score"].as_i64().unwrap_or(-1),
                        d["body"].as_str().unwrap_or("").to_string(),
                    )
                }),
            )
        })
    };

    let first = write(
        "v1.ndjson",
        comment_line("e2e1", "first words", 1, 1_500_000_000),
    );
    replay(&run, &[first]);
    pipeline.wait_drained(&run, DRAIN_TIMEOUT).expect("drains");
    assert_eq!(
        fetch(&rt),
        (
            Some((1, "first words".into())),
            Some((1, "first words".into()))
        )
    );

    let newer = write(
        "v3.ndjson",
        comment_line("e2e1", "edited words", 7, 1_500_000_300),
    );
    replay(&run, &[newer]);
    pipeline.wait_drained(&run, DRAIN_TIMEOUT).expect("drains");
    assert_eq!(
        fetch(&rt),
        (
            Some((7, "edited words".into())),
            Some((7, "edited words".into()))
        )
    );

    // Retrieved between the two, but arriving last: it must not win anywhere.
    let older = write(
        "v2.ndjson",
        comment_line("e2e1", "middle words", 4, 1_500_000_100),
    );
    replay(&run, &[older]);
    pipeline.wait_drained(&run, DRAIN_TIMEOUT).expect("drains");
    assert_eq!(
        fetch(&rt),
        (
            Some((7, "edited words".into())),
            Some((7, "edited words".into()))
        )
    );

    pipeline.stop().expect("every stage exits 0 on SIGTERM");
}

fn sample_comment() -> redstream_schemas::RawComment {
    redstream_schemas::RawComment {
        fullname: String::new(),
        id: String::new(),
        subreddit: String::new(),
        subreddit_id: None,
        author: None,
        author_fullname: None,
        body: String::new(),
        link_id: String::new(),
        parent_id: String::new(),
        is_submitter: None,
        controversiality: None,
        score: 0,
        distinguished: None,
        stickied: false,
        created_utc: 0,
        edited_utc: None,
        state: redstream_schemas::ContentState::Present,
        retrieved_utc: 0,
        version: 0,
    }
}
