//! The credential pool against the replay server: two client ids with a budget of 3 requests
//! per 3-second window each (the server answers with `x-ratelimit-*` of its own in Reddit's
//! `"2.0"` shape and records any request sent while a budget is spent), a recorded 429 with
//! `retry-after: 4`, a recorded 500, a 404 subreddit, paging back to a cursor with `after=`,
//! and a listing that ends before the cursor (a gap).
//!
//! Set `REDSTREAM_SKIP_STACK_TESTS=1` to skip when no stack is running.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use support::live::{consume, kafka, key_counts, log_lines, names, stack_is_up, Run};
use support::replay_server::{recorded_children, Canned, Client, ReplayServer};

fn page(items: &[Value], after: bool) -> Canned {
    let after = after
        .then(|| {
            items
                .last()
                .and_then(|c| c.pointer("/data/name"))
                .and_then(Value::as_str)
        })
        .flatten()
        .map(str::to_string);
    Canned::listing(items.to_vec(), after.as_deref())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_backoffs_paging_and_gaps() {
    let kafka = kafka();
    if !stack_is_up(&kafka, "live_budget") {
        return;
    }
    let server = ReplayServer::start().await;
    for id in ["client-a", "client-b"] {
        let mut client = Client::new(&format!("secret-of-{id}-5e1f"));
        client.budget = Some((3, Duration::from_secs(3)));
        server.client(id, client);
    }

    let comments = recorded_children("33_listing_r_askreddit_comments_page1");
    let ask = recorded_children("26_listing_r_askreddit_new");
    let all = recorded_children("31_listing_r_all_new_page1");

    // s1: a recorded 429 (retry-after: 4) first; s2: a recorded 500 first.
    server.route(
        "/r/s1/new",
        vec![
            Canned::recorded("11_error_429_html_with_retry_after"),
            page(&comments[0..10], false),
        ],
    );
    server.route(
        "/r/s2/new",
        vec![
            Canned::recorded("19_error_500_internal_server_error"),
            page(&comments[10..20], false),
        ],
    );
    // s3: 10 items; then 20 newer over two pages, and the listing ends before the cursor.
    server.route(
        "/r/s3/new",
        vec![page(&ask[60..70], false), page(&ask[0..10], true)],
    );
    let s3_after = names(&ask[9..10])[0].clone();
    server.route(
        &format!("/r/s3/new?after={s3_after}"),
        vec![page(&ask[10..20], false)],
    );
    // s4: 10 items; then 50 newer over two pages, the second reaching the cursor.
    server.route(
        "/r/s4/new",
        vec![page(&all[50..60], false), page(&all[0..25], true)],
    );
    let s4_after = names(&all[24..25])[0].clone();
    server.route(
        &format!("/r/s4/new?after={s4_after}"),
        vec![page(&all[25..60], true)],
    );
    // A private or banned subreddit.
    server.route(
        "/r/private/new",
        vec![Canned::recorded("15_error_404_wiki_page_not_created")],
    );

    let run = Run::new("budget");
    let cfg = format!(
        r#"
[live]
auth_url = "{auth}"
api_url = "{api}"
user_agent = "linux:redstream-test:v0.1.0 (by /u/redstream_test)"
subreddits = ["s1", "s2", "private", "s3", "s4"]
comments = false
max_rounds = 2
poll_min_secs = 1
poll_max_secs = 1
backoff_base_ms = 100

[[live.credentials]]
name = "a"
kind = "app_only"
client_id = "client-a"
client_secret = "secret-of-client-a-5e1f"

[[live.credentials]]
name = "b"
kind = "installed"
client_id = "client-b"
client_secret = "secret-of-client-b-5e1f"
device_id = "redstream-test-device-0001"
"#,
        auth = server.auth_url(),
        api = server.api_url(),
    );
    let out = run.live(&cfg).await;
    assert!(out.status.success(), "live failed: {:?}", out.status);

    // Never a request to a client id whose budget was spent before its reset.
    assert_eq!(server.violations(), Vec::<String>::new());
    let api: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/r/"))
        .collect();
    let clients: HashSet<_> = api.iter().filter_map(|s| s.client_id.clone()).collect();
    assert_eq!(clients.len(), 2, "both client ids used");
    for id in ["client-a", "client-b"] {
        let n = api
            .iter()
            .filter(|s| s.client_id.as_deref() == Some(id))
            .count();
        assert!(n >= 4, "{id} served only {n} of {} requests", api.len());
    }
    // The installed app sent its grant and device id.
    let installed = server
        .seen()
        .into_iter()
        .find(|s| s.path == "/api/v1/access_token" && s.client_id.as_deref() == Some("client-b"))
        .expect("a token request of client-b");
    assert_eq!(
        installed.form.get("grant_type").map(String::as_str),
        Some("https://oauth.reddit.com/grants/installed_client")
    );
    assert_eq!(
        installed.form.get("device_id").map(String::as_str),
        Some("redstream-test-device-0001")
    );

    // After the 429, that client id waited for retry-after (4 s) before its next request.
    let limited = api
        .iter()
        .position(|s| s.status == 429)
        .expect("the 429 was served");
    let who = api[limited].client_id.clone();
    if let Some(next) = api[limited + 1..].iter().find(|s| s.client_id == who) {
        let waited = next.at.duration_since(api[limited].at);
        assert!(
            waited >= Duration::from_millis(3900),
            "waited only {waited:?} after a 429"
        );
    }
    // The 500 was retried.
    let s2: Vec<u16> = api
        .iter()
        .filter(|s| s.path == "/r/s2/new")
        .map(|s| s.status)
        .collect();
    assert_eq!(&s2[..2], &[500, 200]);
    // The 404 subreddit was asked once, logged once, and skipped afterwards.
    assert_eq!(api.iter().filter(|s| s.path == "/r/private/new").count(), 1);
    assert_eq!(log_lines(&out, "subreddit unavailable").len(), 1);
    // Paging: s3 and s4 each fetched page 2 with after=.
    assert!(api
        .iter()
        .any(|s| s.path == "/r/s4/new" && s.query.get("after") == Some(&s4_after)));
    assert!(api
        .iter()
        .any(|s| s.path == "/r/s3/new" && s.query.get("after") == Some(&s3_after)));
    // A gap for s3 (the listing ended before its cursor), none for s4.
    let gaps = log_lines(&out, "gap:");
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["fields"]["subreddit"], "s3");
    assert_eq!(
        gaps[0]["fields"]["after_fullname"],
        names(&ask[60..61])[0].as_str()
    );

    let expected: HashSet<String> = [&comments[0..20], &ask[0..20], &ask[60..70], &all[0..60]]
        .iter()
        .flat_map(|c| names(c))
        .collect();
    assert_eq!(expected.len(), 110);
    let raw = consume(&kafka, &run.topic("raw"), expected.len());
    let counts = key_counts(&raw);
    assert!(counts.values().all(|n| *n == 1), "duplicates on raw");
    let got: HashSet<String> = counts.keys().cloned().collect();
    assert_eq!(got, expected);

    run.cleanup();
}
