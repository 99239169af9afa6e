//! Deletions through the whole pipeline: `redstream-producer live` publishes two comments from
//! a listing, its `/api/info` re-poll finds them deleted and removed (the recorded api/53 and
//! api/51), and both stores end up holding them stripped of text and author with the final
//! deletion version; a later non-deleted snapshot replayed afterwards does not bring the text
//! back. Reddit is the local replay server of `producer/tests/support/`.

#[path = "../../producer/tests/support/replay_server.rs"]
mod replay_server;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use redstream_tests::processes::bin_path;
use redstream_tests::run::{Pipeline, RunNames};
use redstream_tests::stack::require_stack;
use redstream_tests::stores::{cql_session, Search, StoreEndpoints};
use replay_server::{recorded_children, Canned, Client, ReplayServer};
use serde_json::Value;

const DELETION_VERSION: i64 = 1 << 62;
const SECRET: &str = "deletion-test-secret-31f0";

fn run_root() -> PathBuf {
    redstream_tests::expect::test_runs_dir("e2e")
}

/// The comment as it was before its author deleted it (the recording only has it after):
/// text, author and a link put back by hand.
fn before_deletion(deleted: &Value, body: &str) -> Value {
    let mut present = deleted.clone();
    present["data"]["body"] = Value::String(body.into());
    present["data"]["author"] = Value::String("user_0123456789".into());
    present["data"]["author_fullname"] = Value::String("t2_0123456789".into());
    present
}

fn producer(run: &RunNames, args: &[&str], config: &Path) -> std::process::Output {
    let out = Command::new(bin_path("redstream-producer").expect("producer built"))
        .args(args)
        .envs(run.env())
        .env("REDSTREAM_CONFIG", config)
        .env("REDSTREAM_LOG_FORMAT", "text")
        .env("REDSTREAM_METRICS_ADDR", "127.0.0.1:0")
        .env("TEST_DELETION_SECRET", SECRET)
        .output()
        .expect("producer runs");
    std::fs::write(
        run.dir.join(format!("producer-{}.log", args[0])),
        &out.stderr,
    )
    .ok();
    out
}

#[test]
fn deleted_and_removed_items_disappear_from_both_stores() {
    if !require_stack("deleted_and_removed_items_disappear_from_both_stores") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let run = RunNames::fresh("live-del", &run_root()).expect("run folder");
    let server = rt.block_on(ReplayServer::start());
    server.client("client-d", Client::new(SECRET));

    let deleted = recorded_children("53_item_info_deleted_comment").remove(0);
    let removed = recorded_children("51_item_info_removed_comment").remove(0);
    let listing = vec![
        before_deletion(&removed, "this goes away, see https://example.org/gone"),
        before_deletion(&deleted, "this too, by its author"),
    ];
    server.route(
        "/r/deltest/comments",
        vec![Canned::listing(listing.clone(), None)],
    );
    server.route(
        "/api/info",
        vec![Canned::listing(
            vec![deleted.clone(), removed.clone()],
            None,
        )],
    );

    let config = run.dir.join("live.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[live]
auth_url = "{}"
api_url = "{}"
user_agent = "linux:redstream-test:v0.1.0 (by /u/redstream_test)"
subreddits = ["deltest"]
posts = false
max_rounds = 2
poll_min_secs = 1
poll_max_secs = 1
refresh_interval_secs = 1

[[live.credentials]]
name = "deletion-test"
kind = "app_only"
client_id = "client-d"
client_secret_env = "TEST_DELETION_SECRET"
"#,
            server.auth_url(),
            server.api_url()
        ),
    )
    .expect("config");

    assert!(producer(&run, &["topics"], &config).status.success());
    let mut pipeline = Pipeline::start(&run, 19_430).expect("pipeline starts");
    let out = producer(&run, &["live"], &config);
    assert!(
        out.status.success(),
        "live failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.path == "/api/info")
        .collect();
    assert_eq!(info.len(), 1, "one re-poll");
    let ids = info[0].query.get("id").cloned().unwrap_or_default();
    assert!(
        ids.contains("t1_d7ltvl0") && ids.contains("t1_fx1hmwb"),
        "re-polled {ids}"
    );

    // Later, a non-deleted snapshot with a newer version than the deletion's fetch arrives
    // (a dump replayed from elsewhere): it passes dedupe, and must not bring the text back.
    let tomorrow = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 86_400;
    let dump = run.dir.join("late.ndjson");
    let lines: Vec<String> = listing
        .iter()
        .map(|c| {
            let mut data = c["data"].clone();
            data["retrieved_on"] = Value::from(tomorrow);
            data.to_string()
        })
        .collect();
    std::fs::write(&dump, lines.join("\n") + "\n").expect("dump");
    let replay = producer(&run, &["replay", dump.to_str().expect("utf-8")], &config);
    assert!(replay.status.success());

    pipeline
        .wait_drained(&run, Duration::from_secs(300))
        .expect("pipeline drains");

    let endpoints = StoreEndpoints::from_env();
    rt.block_on(async {
        let session = cql_session(&endpoints).await.expect("CQL");
        let search = Search::new(&endpoints).expect("search");
        for (fullname, state) in [("t1_d7ltvl0", "DELETED"), ("t1_fx1hmwb", "REMOVED")] {
            let cql = format!(
                "SELECT body, author, state, version FROM {}.comments WHERE fullname = ?",
                run.keyspace
            );
            let rows = session
                .query_unpaged(cql, (fullname,))
                .await
                .expect("select")
                .into_rows_result()
                .expect("rows");
            let row: (Option<String>, Option<String>, Option<String>, Option<i64>) =
                rows.first_row().expect("a row");
            assert_eq!(
                row,
                (
                    Some(String::new()),
                    None,
                    Some(state.to_string()),
                    Some(DELETION_VERSION)
                ),
                "Cassandra row of {fullname}"
            );
            let index = format!("{}-comments", run.index_prefix);
            search.count(&index).await.expect("refresh");
            let doc = search
                .get(&index, fullname)
                .await
                .expect("search")
                .expect("document");
            assert_eq!(doc["body"], "", "{fullname} body in {index}");
            assert!(
                doc["author"].is_null(),
                "{fullname} author in {index}: {doc}"
            );
            assert_eq!(doc["state"], state);
            assert_eq!(doc["links"], serde_json::json!([]), "{fullname} links");
            assert_eq!(doc["version"].as_i64(), Some(DELETION_VERSION));
        }
    });
    pipeline.stop().expect("stages stop cleanly");
}
