//! `redstream-sink-elasticsearch` against the local stack (OpenSearch): documents, versions,
//! replays, dead letters, offsets, and an outage, asserted in OpenSearch and Kafka themselves.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use elasticsearch::http::Method;
use redstream_common::dlq::header as dlq_header;
use redstream_schemas::Codec;
use redstream_sink::elasticsearch::client::Http;
use redstream_sink::elasticsearch::config::ElasticsearchConfig;
use serde_json::Value;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_redstream-sink-elasticsearch");
const V1: i64 = 1_420_080_000_000_001;

fn http() -> Http {
    Http::new(&ElasticsearchConfig::default()).expect("client")
}

async fn json(http: &Http, method: Method, path: &str) -> Value {
    let reply = http.send(method, path, &[], None).await.expect("request");
    serde_json::from_slice(&reply.body).unwrap_or_default()
}

/// Documents in an index, after a refresh (the sink does not refresh; searches see writes
/// after the refresh interval).
async fn count(http: &Http, index: &str) -> i64 {
    json(http, Method::Post, &format!("/{index}/_refresh")).await;
    json(http, Method::Get, &format!("/{index}/_count")).await["count"]
        .as_i64()
        .unwrap_or(-1)
}

/// _id -> (_version, _source) of every document of an index.
async fn snapshot(http: &Http, index: &str) -> BTreeMap<String, (i64, Value)> {
    json(http, Method::Post, &format!("/{index}/_refresh")).await;
    let found = json(
        http,
        Method::Get,
        &format!("/{index}/_search?size=1000&version=true"),
    )
    .await;
    found["hits"]["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|hit| {
            (
                hit["_id"].as_str().unwrap_or_default().to_string(),
                (
                    hit["_version"].as_i64().unwrap_or(-1),
                    hit["_source"].clone(),
                ),
            )
        })
        .collect()
}

async fn cleanup(http: &Http, prefix: &str) {
    for kind in ["posts", "comments"] {
        let _ = http
            .send(Method::Delete, &format!("/{prefix}-{kind}"), &[], None)
            .await;
        let _ = http
            .send(
                Method::Delete,
                &format!("/_index_template/{prefix}-{kind}"),
                &[],
                None,
            )
            .await;
    }
    delete_topics(prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_sink_indexes_versions_replays_and_dead_letters() {
    if !stack_is_up("elasticsearch_sink_indexes_versions_replays_and_dead_letters") {
        return;
    }
    let prefix = unique("es").replace('_', "-");
    let (posts, comments) = (format!("{prefix}-posts"), format!("{prefix}-comments"));
    let topics = create_topics(&prefix).await;
    let codec = Codec::new().expect("codec");
    let http = http();

    // 20 posts, 30 comments, one message that is not Avro, and a post whose created_utc is in
    // nanoseconds (a unit mix-up upstream): OpenSearch cannot store it as a date.
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
    let mut nanos = post("nanos", "rust", "created in nanoseconds", V1);
    if let redstream_schemas::EnrichedItem::Post(p) = &mut nanos {
        p.post.created_utc = 1_420_070_400_000_000_000;
    }
    first.push(encoded(&codec, &nanos));
    produce(&topics.enriched, &first).await;

    let mut sink = RunningSink::start(
        BIN,
        &prefix,
        &[
            ("REDSTREAM_TOPICS__PREFIX", prefix.clone()),
            ("REDSTREAM_ELASTICSEARCH__INDEX_PREFIX", prefix.clone()),
            // Small bulks, so that one Kafka batch takes several requests.
            ("REDSTREAM_ELASTICSEARCH__BULK_MAX_ACTIONS", "7".into()),
        ],
    );

    wait_for(&mut sink, "20 posts and 30 comments", || async {
        (count(&http, &posts).await == 20 && count(&http, &comments).await == 30).then_some(())
    })
    .await;

    // The templates applied: plain JSON worked, replicas as configured, mappings typed.
    let settings = json(&http, Method::Get, &format!("/{posts}/_settings")).await;
    assert_eq!(
        settings[&posts]["settings"]["index"]["number_of_replicas"],
        "0"
    );
    let mapping = json(&http, Method::Get, &format!("/{posts}/_mapping")).await;
    let properties = &mapping[&posts]["mappings"]["properties"];
    assert_eq!(properties["subreddit"]["type"], "keyword");
    assert_eq!(properties["title"]["type"], "text");
    assert_eq!(properties["created_at"]["format"], "epoch_millis");
    assert_eq!(properties["created_utc"]["format"], "epoch_second");

    // A sample document, field by field.
    let doc = json(&http, Method::Get, &format!("/{posts}/_doc/t3_p4")).await;
    assert_eq!(doc["_version"], V1 + 4);
    let source = &doc["_source"];
    assert_eq!(source["title"], "post 4");
    assert_eq!(source["subreddit"], "rust");
    assert_eq!(source["language"], "eng");
    assert_eq!(
        source["domains"],
        serde_json::json!(["example.org", "rust-lang.org"])
    );
    assert_eq!(source["state"], "PRESENT");
    assert_eq!(source["version"], V1 + 4);
    let by_field = json(
        &http,
        Method::Get,
        &format!("/{comments}/_count?q=link_id:t3_p0"),
    )
    .await;
    assert_eq!(by_field["count"], 10, "comments of t3_p0 by keyword");

    // A newer version of t3_p0 replaces it.
    let newer = encoded(
        &codec,
        &post("p0", "rust", "post 0, edited", V1 + 1_000_000),
    );
    produce(&topics.enriched, std::slice::from_ref(&newer)).await;
    wait_for(&mut sink, "the newer version of t3_p0", || async {
        let doc = json(&http, Method::Get, &format!("/{posts}/_doc/t3_p0")).await;
        (doc["_source"]["title"] == "post 0, edited" && doc["_version"] == V1 + 1_000_000)
            .then_some(())
    })
    .await;

    // An older version sent afterwards does not overwrite it.
    let older = encoded(&codec, &post("p0", "rust", "post 0, stale", V1 + 500_000));
    let marker = encoded(&codec, &post("marker1", "rust", "marker", V1));
    produce(&topics.enriched, &[older.clone(), marker]).await;
    wait_for(&mut sink, "marker1", || async {
        let doc = json(&http, Method::Get, &format!("/{posts}/_doc/t3_marker1")).await;
        (doc["found"] == true).then_some(())
    })
    .await;
    let before_posts = snapshot(&http, &posts).await;
    let before_comments = snapshot(&http, &comments).await;
    let p0 = &before_posts["t3_p0"];
    assert_eq!(p0.0, V1 + 1_000_000);
    assert_eq!(
        p0.1["title"], "post 0, edited",
        "the older version must not overwrite"
    );
    assert_eq!((before_posts.len(), before_comments.len()), (21, 30));
    let stale = r#"redstream_items_dropped_total{reason="stale",stage="sink-elasticsearch"}"#;
    assert_eq!(sink.metric(stale), 1.0, "the older version counts as stale");

    // Replaying everything changes nothing.
    let mut replay = first.clone();
    replay.push(newer);
    replay.push(older);
    replay.push(encoded(&codec, &post("marker2", "rust", "marker", V1)));
    produce(&topics.enriched, &replay).await;
    wait_for(&mut sink, "marker2", || async {
        let doc = json(&http, Method::Get, &format!("/{posts}/_doc/t3_marker2")).await;
        (doc["found"] == true).then_some(())
    })
    .await;
    let mut after_posts = snapshot(&http, &posts).await;
    after_posts.remove("t3_marker2");
    assert_eq!(after_posts, before_posts, "a replay must change no post");
    assert_eq!(
        snapshot(&http, &comments).await,
        before_comments,
        "nor any comment"
    );
    // t3_p0 at V1 and the older one again are stale; the rest rewrote identical versions.
    // The marker can be visible a moment before the batch's outcomes are counted: poll.
    let port = sink.metrics_port;
    let stale_seen = wait_for(&mut sink, "3 stale items counted", || async move {
        let seen = metric_at(port, stale);
        (seen >= 3.0).then_some(seen)
    })
    .await;
    assert_eq!(stale_seen, 3.0);

    // Dead letters: junk and the nanosecond post, each twice, with OpenSearch's reason.
    let letters = read_topic(
        &topics.dlq("sink-elasticsearch"),
        4,
        Duration::from_secs(30),
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
            Some("sink-elasticsearch")
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
            "t3_nanos" => {
                assert_eq!(kind, "rejected", "{reason}");
                assert!(reason.contains("mapper_parsing_exception"), "{reason}");
                assert!(
                    reason.contains("failed to parse field [created_utc]"),
                    "{reason}"
                );
            }
            other => panic!("unexpected dead letter {other}: {kind} {reason}"),
        }
    }

    let status = sink.stop();
    assert!(status.success(), "exit status {status}");
    committed_everything(&format!("{prefix}.sink-elasticsearch"), &topics.enriched)
        .expect("all offsets committed");
    cleanup(&http, &prefix).await;
}

/// The cluster goes away mid-stream (a forwarder on 127.0.0.1 is cut): the sink retries with
/// backoff, warns naming the host, commits nothing, and catches up once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_sink_waits_out_an_outage() {
    if !stack_is_up("elasticsearch_sink_waits_out_an_outage") {
        return;
    }
    let prefix = unique("esdown").replace('_', "-");
    let posts = format!("{prefix}-posts");
    let topics = create_topics(&prefix).await;
    let codec = Codec::new().expect("codec");
    let http = http();
    let switch = Switch::start("127.0.0.1:9200").await;
    let url = format!("http://127.0.0.1:{}", switch.port);

    let batch = |from: i64, to: i64| -> Vec<(Vec<u8>, Vec<u8>)> {
        (from..to)
            .map(|i| encoded(&codec, &post(&format!("p{i}"), "rust", "t", V1 + i)))
            .collect()
    };
    produce(&topics.enriched, &batch(0, 10)).await;
    let mut sink = RunningSink::start(
        BIN,
        &prefix,
        &[
            ("REDSTREAM_TOPICS__PREFIX", prefix.clone()),
            ("REDSTREAM_ELASTICSEARCH__INDEX_PREFIX", prefix.clone()),
            ("REDSTREAM_ELASTICSEARCH__URLS", url.clone()),
            ("REDSTREAM_ELASTICSEARCH__BACKOFF__INITIAL_MS", "50".into()),
            ("REDSTREAM_ELASTICSEARCH__BACKOFF__MAX_MS", "500".into()),
            ("REDSTREAM_ELASTICSEARCH__REQUEST_TIMEOUT_MS", "2000".into()),
        ],
    );
    wait_for(&mut sink, "the first 10 posts", || async {
        (count(&http, &posts).await == 10).then_some(())
    })
    .await;

    switch.set_up(false);
    produce(&topics.enriched, &batch(10, 20)).await;
    let retries = r#"redstream_retries_total{stage="sink-elasticsearch",target="elasticsearch"}"#;
    let port = sink.metrics_port;
    wait_for(&mut sink, "a few retries", || async {
        (metric_at(port, retries) >= 3.0).then_some(())
    })
    .await;
    assert_eq!(count(&http, &posts).await, 10, "nothing written while down");
    assert!(
        committed_everything(&format!("{prefix}.sink-elasticsearch"), &topics.enriched).is_err(),
        "nothing may be committed while the cluster is down"
    );
    let log = sink.log_text();
    assert!(
        log.contains("store write failed; retrying") && log.contains(&url),
        "a warning naming {url}:\n{log}"
    );

    switch.set_up(true);
    wait_for(&mut sink, "all 20 posts after the outage", || async {
        (count(&http, &posts).await == 20).then_some(())
    })
    .await;
    let status = sink.stop();
    assert!(status.success(), "exit status {status}");
    committed_everything(&format!("{prefix}.sink-elasticsearch"), &topics.enriched)
        .expect("all offsets committed after the outage");
    cleanup(&http, &prefix).await;
}
