//! `redstream-sink-scylla` against the local stack: rows in Cassandra, versions, replays,
//! dead letters and offsets, asserted in Cassandra and Kafka themselves.

mod support;

use std::collections::BTreeMap;

use redstream_common::dlq::header as dlq_header;
use redstream_schemas::Codec;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_redstream-sink-scylla");
const V1: i64 = 1_420_080_000_000_001;

async fn count(session: &Session, cql: &str) -> i64 {
    let result = session.query_unpaged(cql, ()).await;
    let Ok(result) = result else { return -1 };
    result
        .into_rows_result()
        .ok()
        .and_then(|rows| rows.single_row::<(i64,)>().ok())
        .map(|(n,)| n)
        .unwrap_or(-1)
}

/// fullname -> (title or body, version, write time of that column).
async fn snapshot(session: &Session, ks: &str) -> BTreeMap<String, (String, i64, i64)> {
    let mut out = BTreeMap::new();
    for cql in [
        format!("SELECT fullname, title, version, WRITETIME(title) FROM {ks}.posts"),
        format!("SELECT fullname, body, version, WRITETIME(body) FROM {ks}.comments"),
    ] {
        let rows = session
            .query_unpaged(cql, ())
            .await
            .expect("select")
            .into_rows_result()
            .expect("rows");
        for row in rows
            .rows::<(String, String, i64, i64)>()
            .expect("typed rows")
        {
            let (fullname, text, version, written) = row.expect("row");
            out.insert(fullname, (text, version, written));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scylla_sink_writes_versions_replays_and_dead_letters() {
    if !stack_is_up("scylla_sink_writes_versions_replays_and_dead_letters") {
        return;
    }
    let prefix = unique("scylla");
    let keyspace = prefix.clone();
    let topics = create_topics(&prefix).await;
    let codec = Codec::new().expect("codec");
    let session = SessionBuilder::new()
        .known_node("127.0.0.1:9042")
        .build()
        .await
        .expect("cassandra session");

    // 20 posts in two subreddits, 30 comments on three of them, one message that is not Avro
    // and a comment without a post (empty link_id, the partition key of comments_by_post).
    let mut first = Vec::new();
    for i in 0..20 {
        let sub = if i % 2 == 0 { "rust" } else { "golang" };
        first.push(encoded(
            &codec,
            &post(&format!("p{i}"), sub, &format!("post {i}"), V1 + i),
        ));
    }
    for i in 0..30 {
        let link = format!("t3_p{}", i % 3);
        first.push(encoded(
            &codec,
            &comment(&format!("c{i}"), &link, &format!("comment {i}"), V1 + i),
        ));
    }
    first.push((
        b"t3_junk".to_vec(),
        b"{\"id\": \"junk\"} is not avro".to_vec(),
    ));
    first.push(encoded(&codec, &comment("orphan", "", "no post", V1)));
    produce(&topics.enriched, &first).await;

    let mut sink = RunningSink::start(
        BIN,
        &prefix,
        &[
            ("REDSTREAM_TOPICS__PREFIX", prefix.clone()),
            ("REDSTREAM_SCYLLA__KEYSPACE", keyspace.clone()),
        ],
    );

    let posts_cql = format!("SELECT COUNT(*) FROM {keyspace}.posts");
    let comments_cql = format!("SELECT COUNT(*) FROM {keyspace}.comments");
    wait_for(&mut sink, "20 posts and 30 comments", || async {
        let (p, c) = (
            count(&session, &posts_cql).await,
            count(&session, &comments_cql).await,
        );
        (p == 20 && c == 30).then_some(())
    })
    .await;

    // The query tables hold the same items, partitioned as documented.
    let by_sub = count(
        &session,
        &format!(
            "SELECT COUNT(*) FROM {keyspace}.posts_by_subreddit WHERE subreddit = 'rust' AND day = '2015-01-01'"
        ),
    )
    .await;
    assert_eq!(by_sub, 10, "posts of r/rust on 2015-01-01");
    let thread = count(
        &session,
        &format!("SELECT COUNT(*) FROM {keyspace}.comments_by_post WHERE link_id = 't3_p0'"),
    )
    .await;
    assert_eq!(thread, 10, "comments of t3_p0");

    // A sample row, field by field.
    let row = session
        .query_unpaged(
            format!(
                "SELECT subreddit, author, title, selftext, language, links, domains, word_count, \
                 retrieved_utc, version, WRITETIME(title) FROM {keyspace}.posts WHERE fullname = 't3_p4'"
            ),
            (),
        )
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows")
        .single_row::<(String, Option<String>, String, String, Option<String>, Vec<String>, Vec<String>, i64, i64, i64, i64)>()
        .expect("one row");
    assert_eq!(row.0, "rust");
    assert_eq!(row.1.as_deref(), Some("ferris"));
    assert_eq!(row.2, "post 4");
    assert_eq!(row.3, "post 4 body");
    assert_eq!(row.4.as_deref(), Some("eng"));
    assert_eq!(
        row.5,
        vec!["https://example.org/a", "https://www.rust-lang.org/"]
    );
    assert_eq!(row.6, vec!["example.org", "rust-lang.org"]);
    assert_eq!(row.7, 2);
    assert_eq!(row.8, (V1 + 4) / 1_000_000);
    assert_eq!(row.9, V1 + 4);
    assert_eq!(row.10, V1 + 4, "the write timestamp is the version");

    // A newer version of t3_p0 replaces it.
    let newer = encoded(
        &codec,
        &post("p0", "rust", "post 0, edited", V1 + 1_000_000),
    );
    produce(&topics.enriched, std::slice::from_ref(&newer)).await;
    let title_cql = format!("SELECT title, version FROM {keyspace}.posts WHERE fullname = 't3_p0'");
    wait_for(&mut sink, "the newer version of t3_p0", || async {
        let rows = session
            .query_unpaged(title_cql.as_str(), ())
            .await
            .ok()?
            .into_rows_result()
            .ok()?;
        let (title, version) = rows.single_row::<(String, i64)>().ok()?;
        (title == "post 0, edited" && version == V1 + 1_000_000).then_some(())
    })
    .await;

    // An older version sent afterwards does not overwrite it (a marker tells when it was read).
    let older = encoded(&codec, &post("p0", "rust", "post 0, stale", V1 + 500_000));
    let marker = encoded(&codec, &post("marker1", "rust", "marker", V1));
    produce(&topics.enriched, &[older.clone(), marker.clone()]).await;
    let marker_cql = format!("SELECT COUNT(*) FROM {keyspace}.posts WHERE fullname = 't3_marker1'");
    wait_for(&mut sink, "marker1", || async {
        (count(&session, &marker_cql).await == 1).then_some(())
    })
    .await;
    let before_replay = snapshot(&session, &keyspace).await;
    assert_eq!(
        before_replay.get("t3_p0"),
        Some(&("post 0, edited".to_string(), V1 + 1_000_000, V1 + 1_000_000)),
        "the older version must not overwrite the newer one"
    );
    assert_eq!(before_replay.len(), 51, "20 posts, 30 comments, 1 marker");

    // Replaying everything changes nothing.
    let mut replay = first.clone();
    replay.push(newer);
    replay.push(older);
    replay.push(encoded(&codec, &post("marker2", "rust", "marker", V1)));
    produce(&topics.enriched, &replay).await;
    let marker_cql = format!("SELECT COUNT(*) FROM {keyspace}.posts WHERE fullname = 't3_marker2'");
    wait_for(&mut sink, "marker2", || async {
        (count(&session, &marker_cql).await == 1).then_some(())
    })
    .await;
    let mut after_replay = snapshot(&session, &keyspace).await;
    after_replay.remove("t3_marker2");
    assert_eq!(after_replay, before_replay, "a replay must change nothing");

    // Dead letters: the junk (twice: first pass and replay) and the orphan comment (twice), with
    // the reason Cassandra gave.
    let letters = read_topic(
        &topics.dlq("sink-scylla"),
        4,
        std::time::Duration::from_secs(30),
    );
    assert_eq!(
        letters.len(),
        4,
        "dead letters: {:?}",
        letters
            .iter()
            .map(|m| header(m, dlq_header::REASON))
            .collect::<Vec<_>>()
    );
    for letter in &letters {
        assert_eq!(
            header(letter, dlq_header::STAGE).as_deref(),
            Some("sink-scylla")
        );
        assert_eq!(
            header(letter, dlq_header::SOURCE_TOPIC).as_deref(),
            Some(topics.enriched.as_str())
        );
        let key =
            String::from_utf8_lossy(rdkafka::Message::key(letter).unwrap_or_default()).into_owned();
        let kind = header(letter, dlq_header::KIND).unwrap_or_default();
        let reason = header(letter, dlq_header::REASON).unwrap_or_default();
        match key.as_str() {
            "t3_junk" => assert_eq!(kind, "decode", "{reason}"),
            "t1_orphan" => {
                assert_eq!(kind, "rejected", "{reason}");
                assert!(reason.contains("comments_by_post"), "{reason}");
                assert!(
                    reason.to_lowercase().contains("key may not be empty"),
                    "{reason}"
                );
            }
            other => panic!("unexpected dead letter {other}: {kind} {reason}"),
        }
    }
    assert_eq!(
        count(
            &session,
            &format!("SELECT COUNT(*) FROM {keyspace}.comments WHERE fullname = 't1_orphan'")
        )
        .await,
        0
    );

    // SIGTERM: a clean exit with every offset committed.
    let status = sink.stop();
    assert!(status.success(), "exit status {status}");
    committed_everything(&format!("{prefix}.sink-scylla"), &topics.enriched)
        .expect("all offsets committed");

    let _ = session
        .query_unpaged(format!("DROP KEYSPACE {keyspace}"), ())
        .await;
    delete_topics(&prefix).await;
}
