//! Auth failures against the replay server: a token request refused with HTTP 200 and
//! `{"error": "invalid_grant"}` (the recorded api/04), a credential whose every token gets a
//! 401 (refreshed once, then broken), and one whose token expires after a request (refreshed,
//! goes on). The producer keeps publishing with what works, names broken credentials in its
//! logs without their secrets, and exits non-zero when no credential is left.
//!
//! Set `REDSTREAM_SKIP_STACK_TESTS=1` to skip when no stack is running.

mod support;

use std::collections::HashSet;

use support::live::{consume, kafka, key_counts, log_lines, names, stack_is_up, Run};
use support::replay_server::{recorded_children, Canned, Client, ReplayServer};

const SECRET_X: &str = "x-secret-0a1b2c3d";
const PASSWORD_X: &str = "x-password-9z8y7x";
const SECRET_Y: &str = "y-secret-4e5f6a7b";
const SECRET_Z: &str = "z-secret-8c9d0e1f";

fn credentials(which: &[&str]) -> String {
    let mut out = String::new();
    for w in which {
        out.push_str(match *w {
            "x" => "[[live.credentials]]\nname = \"script-x\"\nkind = \"script\"\nclient_id = \"client-x\"\nclient_secret_env = \"TEST_SECRET_X\"\nusername = \"someone\"\npassword_env = \"TEST_PASSWORD_X\"\n\n",
            "y" => "[[live.credentials]]\nname = \"app-y\"\nkind = \"app_only\"\nclient_id = \"client-y\"\nclient_secret_env = \"TEST_SECRET_Y\"\n\n",
            _ => "[[live.credentials]]\nname = \"app-z\"\nkind = \"app_only\"\nclient_id = \"client-z\"\nclient_secret_env = \"TEST_SECRET_Z\"\n\n",
        });
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_credentials_are_dropped_and_the_rest_go_on() {
    let kafka = kafka();
    if !stack_is_up(&kafka, "live_auth") {
        return;
    }
    let server = ReplayServer::start().await;
    let mut x = Client::new(SECRET_X);
    x.refuse_with = Some(Canned::recorded("04_auth_token_password_grant_invalid_otp"));
    server.client("client-x", x);
    let mut y = Client::new(SECRET_Y);
    y.token_uses = Some(0);
    server.client("client-y", y);
    let mut z = Client::new(SECRET_Z);
    z.token_uses = Some(1);
    server.client("client-z", z);

    let items = recorded_children("28_listing_r_askreddit_comments");
    server.route(
        "/r/s1/new",
        vec![Canned::listing(items[0..10].to_vec(), None)],
    );
    server.route(
        "/r/s2/new",
        vec![Canned::listing(items[10..20].to_vec(), None)],
    );

    let mut run = Run::new("auth");
    for (k, v) in [
        ("TEST_SECRET_X", SECRET_X),
        ("TEST_PASSWORD_X", PASSWORD_X),
        ("TEST_SECRET_Y", SECRET_Y),
        ("TEST_SECRET_Z", SECRET_Z),
    ] {
        run.env.push((k.into(), v.into()));
    }
    let head = format!(
        "[live]\nauth_url = \"{}\"\napi_url = \"{}\"\nuser_agent = \"linux:redstream-test:v0.1.0 (by /u/redstream_test)\"\nsubreddits = [\"s1\", \"s2\"]\ncomments = false\nmax_rounds = 2\npoll_min_secs = 1\npoll_max_secs = 1\n\n",
        server.auth_url(),
        server.api_url()
    );
    let out = run
        .live(&format!("{head}{}", credentials(&["x", "y", "z"])))
        .await;
    assert!(out.status.success(), "live failed: {:?}", out.status);

    let seen = server.seen();
    let count = |id: &str, token: bool| {
        seen.iter()
            .filter(|s| {
                s.client_id.as_deref() == Some(id) && (s.path == "/api/v1/access_token") == token
            })
            .count()
    };
    assert_eq!(
        (count("client-x", true), count("client-x", false)),
        (1, 0),
        "x: refused once, never used"
    );
    assert_eq!(
        (count("client-y", true), count("client-y", false)),
        (2, 2),
        "y: 401, refresh, 401, broken"
    );
    // z: each token works once; each expiry is a 401, a renewal and a successful retry.
    let z: Vec<u16> = seen
        .iter()
        .filter(|s| s.client_id.as_deref() == Some("client-z") && s.path != "/api/v1/access_token")
        .map(|s| s.status)
        .collect();
    assert_eq!(
        z,
        [200, 401, 200, 401, 200, 401, 200],
        "z served every poll"
    );
    assert_eq!(
        count("client-z", true),
        4,
        "z renewed its token after each expiry"
    );

    let broken = log_lines(&out, "credential broken");
    let named: HashSet<_> = broken
        .iter()
        .map(|l| {
            (
                l["fields"]["credential"].as_str().unwrap_or("").to_string(),
                l["fields"]["client_id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        named,
        HashSet::from([
            ("script-x".to_string(), "client-x".to_string()),
            ("app-y".to_string(), "client-y".to_string())
        ])
    );
    assert!(broken[0]["fields"]["reason"]
        .as_str()
        .unwrap_or("")
        .contains("invalid_grant"));
    let logs = String::from_utf8_lossy(&out.stderr);
    for secret in [SECRET_X, PASSWORD_X, SECRET_Y, SECRET_Z] {
        assert!(!logs.contains(secret), "a secret is in the logs");
    }

    let expected: HashSet<String> = names(&items[0..20]).into_iter().collect();
    let raw = consume(&kafka, &run.topic("raw"), expected.len());
    let counts = key_counts(&raw);
    assert_eq!(counts.keys().cloned().collect::<HashSet<_>>(), expected);
    assert!(counts.values().all(|n| *n == 1));

    // With no working credential left, the producer stops and says why.
    let out = run
        .live(&format!("{head}{}", credentials(&["x", "y"])))
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("every credential is broken"));

    run.cleanup();
}
