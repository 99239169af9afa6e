//! `redstream-producer live` with two credentials against the local replay server (recorded
//! r/all/new and r/askreddit/comments pages) and the local Kafka: every recorded item lands on
//! `{prefix}.raw` exactly once across a restart, the restart fetches one page per feed, the
//! requests spread over both client ids, and the logs never carry a secret.
//!
//! Set `REDSTREAM_SKIP_STACK_TESTS=1` to skip when no stack is running.

mod support;

use std::collections::HashSet;

use rdkafka::message::Message;
use redstream_schemas::Codec;
use serde_json::Value;
use support::live::{consume, kafka, key_counts, log_lines, names, stack_is_up, Run};
use support::replay_server::{recorded_children, Canned, Client, ReplayServer};

const SECRET_A: &str = "sEcReT-app-only-7f3a91";
const SECRET_B: &str = "sEcReT-script-c0ffee42";
const PASSWORD_B: &str = "pAsSwOrD-script-feed99";
const USER_AGENT: &str = "linux:redstream-test:v0.1.0 (by /u/redstream_test)";

fn config(server: &ReplayServer, secret_file: &str) -> String {
    format!(
        r#"
[live]
auth_url = "{auth}"
api_url = "{api}"
user_agent = "{USER_AGENT}"
subreddits = ["all", "askreddit"]
max_rounds = 1
poll_min_secs = 1
backoff_base_ms = 50

[[live.credentials]]
name = "app-only-a"
kind = "app_only"
client_id = "client-a"
client_secret_file = "{secret_file}"

[[live.credentials]]
name = "script-b"
kind = "script"
client_id = "client-b"
client_secret_env = "TEST_LIVE_SECRET_B"
username = "redstream_test"
password = "{PASSWORD_B}"
"#,
        auth = server.auth_url(),
        api = server.api_url(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recorded_item_lands_once_across_a_restart() {
    let kafka = kafka();
    if !stack_is_up(&kafka, "live_restart") {
        return;
    }
    let server = ReplayServer::start().await;
    server.client("client-a", Client::new(SECRET_A));
    server.client("client-b", Client::new(SECRET_B));

    // Before the restart: the recorded first pages; nothing new elsewhere.
    let all_page1 = recorded_children("31_listing_r_all_new_page1");
    let ask_page1 = recorded_children("33_listing_r_askreddit_comments_page1");
    server.route(
        "/r/all/new",
        vec![Canned::recorded("31_listing_r_all_new_page1")],
    );
    server.route(
        "/r/askreddit/comments",
        vec![Canned::recorded("33_listing_r_askreddit_comments_page1")],
    );
    let empty = Canned::recorded("46_listing_domain_rising_empty");
    server.route("/r/all/comments", vec![empty.clone()]);
    server.route("/r/askreddit/new", vec![empty]);

    let mut run = Run::new("restart");
    run.env.push(("TEST_LIVE_SECRET_B".into(), SECRET_B.into()));
    let secret_file = run.file("secret-a", &format!("{SECRET_A}\n"));
    let cfg = config(&server, secret_file.to_str().expect("utf-8 path"));

    let first = run.live(&cfg).await;
    assert!(
        first.status.success(),
        "first run failed: {:?}",
        first.status
    );

    // After the restart: the recorded newer items (api/32, api/34, fetched with before= back
    // then) on top of the first page, as /new shows them now.
    let all_newer = recorded_children("32_listing_r_all_new_page2_before");
    let ask_newer = recorded_children("34_listing_r_askreddit_comments_page2_before");
    let now_page = |newer: &[Value], older: &[Value]| {
        let mut page: Vec<Value> = newer.iter().chain(older).take(100).cloned().collect();
        let after = page
            .last()
            .and_then(|c| c.pointer("/data/name"))
            .and_then(Value::as_str)
            .map(str::to_string);
        page.truncate(100);
        Canned::listing(page, after.as_deref())
    };
    server.route("/r/all/new", vec![now_page(&all_newer, &all_page1)]);
    server.route(
        "/r/askreddit/comments",
        vec![now_page(&ask_newer, &ask_page1)],
    );
    server.clear_seen();

    let second = run.live(&cfg).await;
    assert!(
        second.status.success(),
        "second run failed: {:?}",
        second.status
    );
    let api_after_restart: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/r/"))
        .collect();
    assert_eq!(
        api_after_restart.len(),
        4,
        "a restart fetches one page per feed: {:?}",
        api_after_restart
            .iter()
            .map(|s| &s.path)
            .collect::<Vec<_>>()
    );

    let expected: HashSet<String> = [all_page1, all_newer, ask_page1, ask_newer]
        .iter()
        .flat_map(|c| names(c))
        .collect();
    assert_eq!(expected.len(), 210);
    let raw = consume(&kafka, &run.topic("raw"), expected.len());
    let counts = key_counts(&raw);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "published more than once: {twice:?}");
    let got: HashSet<String> = counts.keys().cloned().collect();
    let missing: Vec<_> = expected.difference(&got).collect();
    let extra: Vec<_> = got.difference(&expected).collect();
    assert!(missing.is_empty(), "never published: {missing:?}");
    assert!(extra.is_empty(), "not in the recordings: {extra:?}");
    let codec = Codec::new().expect("schemas");
    for m in &raw {
        let item = codec
            .decode_item(m.payload().expect("payload"))
            .expect("an item");
        assert_eq!(item.fullname().as_bytes(), m.key().expect("key"));
    }
    let dead = consume(&kafka, &run.topic("dlq.producer"), 0);
    assert!(dead.is_empty(), "{} dead letters", dead.len());

    // Every request carried the configured User-Agent; both grants were sent as configured.
    let seen = server.seen();
    assert!(seen.iter().all(|s| s.user_agent == USER_AGENT));
    let token_requests: Vec<_> = seen
        .iter()
        .filter(|s| s.path == "/api/v1/access_token")
        .collect();
    for t in &token_requests {
        match t.client_id.as_deref() {
            Some("client-a") => assert_eq!(
                t.form.get("grant_type").map(String::as_str),
                Some("client_credentials")
            ),
            Some("client-b") => {
                assert_eq!(
                    t.form.get("grant_type").map(String::as_str),
                    Some("password")
                );
                assert_eq!(
                    t.form.get("username").map(String::as_str),
                    Some("redstream_test")
                );
                assert_eq!(t.form.get("password").map(String::as_str), Some(PASSWORD_B));
            }
            other => panic!("token request from {other:?}"),
        }
    }
    // Spread: both client ids served listing requests in the second run.
    let by_client: HashSet<_> = api_after_restart
        .iter()
        .filter_map(|s| s.client_id.clone())
        .collect();
    assert_eq!(by_client.len(), 2, "requests went to {by_client:?}");

    // The logs name credentials, never their secrets.
    for out in [&first, &second] {
        let logs = String::from_utf8_lossy(&out.stderr);
        for secret in [SECRET_A, SECRET_B, PASSWORD_B] {
            assert!(!logs.contains(secret), "a secret is in the logs");
        }
        assert!(!log_lines(out, "token obtained").is_empty());
    }
    // The cursors topic holds the newest fullname of each feed that had items.
    let cursors = consume(&kafka, &run.topic("producer-cursors"), 4);
    let latest: std::collections::HashMap<String, Value> = cursors
        .iter()
        .map(|m| {
            (
                String::from_utf8_lossy(m.key().expect("key")).to_string(),
                serde_json::from_slice(m.payload().expect("value")).expect("json"),
            )
        })
        .collect();
    assert_eq!(latest["all/posts"]["fullname"], "t3_kzj68x");
    assert_eq!(latest["askreddit/comments"]["fullname"], "t1_hjlzwgw");

    run.cleanup();
}
