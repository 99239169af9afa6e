//! Two `redstream-producer live` replicas following the same eight subreddits: while both run,
//! each subreddit is polled by exactly one of them (the requests are split, not doubled); when
//! one is killed, the other takes over its subreddits after the session timeout.
//!
//! Each replica has a credential of its own, so the replay server tells them apart.
//! Set `REDSTREAM_SKIP_STACK_TESTS=1` to skip when no stack is running.

mod support;

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::live::{kafka, stack_is_up, Run, BINARY};
use support::replay_server::{Canned, Client, ReplayServer, Seen};

const SUBS: [&str; 8] = ["s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"];

fn start(run: &Run, server: &ReplayServer, client: &str, metrics_port: u16) -> Child {
    let config = run.file(
        &format!("{client}.toml"),
        &format!(
            r#"
[live]
auth_url = "{}"
api_url = "{}"
user_agent = "linux:redstream-test:v0.1.0 (by /u/redstream_test)"
subreddits = {:?}
comments = false
poll_min_secs = 1
poll_max_secs = 1
replica_session_timeout_ms = 6000

[[live.credentials]]
name = "{client}"
kind = "app_only"
client_id = "{client}"
client_secret = "secret-{client}-77aa"
"#,
            server.auth_url(),
            server.api_url(),
            SUBS
        ),
    );
    Command::new(BINARY)
        .arg("--config")
        .arg(config)
        .arg("live")
        .env("REDSTREAM_TOPICS__PREFIX", &run.prefix)
        .env(
            "REDSTREAM_METRICS_ADDR",
            format!("127.0.0.1:{metrics_port}"),
        )
        .env("REDSTREAM_LOG_FORMAT", "text")
        .env_remove("REDSTREAM_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(run.dir.join(format!("{client}.log"))).expect("log file"),
        ))
        .spawn()
        .expect("replica starts")
}

/// Which replicas polled each subreddit in `window` before now.
fn pollers(seen: &[Seen], since: Instant) -> HashMap<String, HashSet<String>> {
    let mut by_sub: HashMap<String, HashSet<String>> = HashMap::new();
    for s in seen
        .iter()
        .filter(|s| s.at >= since && s.path.starts_with("/r/"))
    {
        let sub = s
            .path
            .trim_start_matches("/r/")
            .trim_end_matches("/new")
            .to_string();
        by_sub
            .entry(sub)
            .or_default()
            .insert(s.client_id.clone().unwrap_or_default());
    }
    by_sub
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics endpoint");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .expect("request");
    let mut body = String::new();
    stream.read_to_string(&mut body).expect("response");
    body
}

fn series(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .map(|v| v.trim().parse().unwrap_or(-1.0))
        })
        .unwrap_or_else(|| panic!("no series {name} in:\n{metrics}"))
}

async fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_split_the_subreddits_and_take_over() {
    let kafka = kafka();
    if !stack_is_up(&kafka, "live_replicas") {
        return;
    }
    let server = ReplayServer::start().await;
    for sub in SUBS {
        server.route(
            &format!("/r/{sub}/new"),
            vec![Canned::recorded("46_listing_domain_rising_empty")],
        );
    }
    for c in ["replica-a", "replica-b"] {
        let mut client = Client::new(&format!("secret-{c}-77aa"));
        client.budget = Some((1000, Duration::from_secs(600)));
        server.client(c, client);
    }
    let run = Run::new("replicas");
    let port_a = free_port();
    let mut a = start(&run, &server, "replica-a", port_a);
    let mut b = start(&run, &server, "replica-b", free_port());

    // Both joined and settled: over 3 s, every subreddit is polled, and by one replica only.
    let mut settled = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let window = pollers(&server.seen(), Instant::now() - Duration::from_secs(3));
        let replicas: HashSet<_> = window.values().flatten().cloned().collect();
        if window.len() == SUBS.len()
            && replicas.len() == 2
            && window.values().all(|r| r.len() == 1)
        {
            settled = true;
            break;
        }
    }
    assert!(
        settled,
        "the replicas never split the subreddits: {:?}",
        pollers(&server.seen(), Instant::now() - Duration::from_secs(3))
    );
    // And it stays split: no subreddit polled by both in the next 4 s.
    let since = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let window = pollers(&server.seen(), since);
    assert_eq!(window.len(), SUBS.len(), "{window:?}");
    assert!(
        window.values().all(|r| r.len() == 1),
        "polled twice: {window:?}"
    );
    let b_had: Vec<_> = window
        .iter()
        .filter(|(_, r)| r.contains("replica-b"))
        .map(|(s, _)| s.clone())
        .collect();
    assert!(!b_had.is_empty());

    // Kill B without a goodbye; A takes over its subreddits after the session timeout.
    b.kill().expect("kill replica-b");
    let _ = b.wait();
    let killed = Instant::now();
    wait_until(
        "replica-a to poll every subreddit",
        Duration::from_secs(60),
        || {
            let window = pollers(&server.seen(), Instant::now() - Duration::from_secs(2));
            window.len() == SUBS.len()
                && window
                    .values()
                    .all(|r| r.len() == 1 && r.contains("replica-a"))
        },
    )
    .await;
    eprintln!("take-over after {:?}", killed.elapsed());

    // Replica A's metrics: its requests by status and what is left of its budget.
    let metrics = scrape(port_a);
    let ok = series(
        &metrics,
        "redstream_producer_requests_total{credential=\"replica-a\",status=\"200\"}",
    );
    let polled = server
        .seen()
        .iter()
        .filter(|s| {
            s.client_id.as_deref() == Some("replica-a")
                && s.path.starts_with("/r/")
                && s.status == 200
        })
        .count();
    assert!(
        ok >= polled as f64 - 1.0 && ok > 0.0,
        "requests metric {ok}, server saw {polled}"
    );
    let left = series(
        &metrics,
        "redstream_producer_budget_remaining{credential=\"replica-a\"}",
    );
    assert!(left > 0.0 && left < 1000.0, "budget metric {left}");

    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(a.id().to_string())
        .status();
    let status = a.wait().expect("replica-a exits");
    assert_eq!(status.code(), Some(130), "SIGTERM ends a live run with 130");
    run.cleanup();
}
