//! What the stack tests of both sinks share: the stack check, unique names, hand-built
//! enriched items, Kafka produce and read, and running a sink binary.

#![allow(dead_code)]

use std::future::Future;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use redstream_common::{KafkaConfig, TopicNames, TopicsConfig};
use redstream_schemas::{
    Codec, ContentState, EnrichedComment, EnrichedItem, EnrichedPost, Enrichment, RawComment,
    RawPost,
};

pub const BROKERS: &str = "127.0.0.1:9092";

/// True when the local stack answers. When it does not: a failure that says how to start it,
/// or, with `REDSTREAM_SKIP_STACK_TESTS=1`, a loud skip.
pub fn stack_is_up(test: &str) -> bool {
    let down: Vec<&str> = [
        ("kafka 127.0.0.1:9092", "127.0.0.1:9092"),
        ("cassandra 127.0.0.1:9042", "127.0.0.1:9042"),
        ("opensearch 127.0.0.1:9200", "127.0.0.1:9200"),
    ]
    .into_iter()
    .filter(|(_, addr)| {
        let Some(addr) = addr.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
            return true;
        };
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err()
    })
    .map(|(name, _)| name)
    .collect();
    if down.is_empty() {
        return true;
    }
    if std::env::var("REDSTREAM_SKIP_STACK_TESTS").as_deref() == Ok("1") {
        eprintln!(
            "\n*** SKIPPED {test}: the local stack is down ({}) and REDSTREAM_SKIP_STACK_TESTS=1 ***\n",
            down.join(", ")
        );
        return false;
    }
    panic!(
        "{test} needs the local stack, but {} does not answer: start it with `scripts/stack up` \
         (or set REDSTREAM_SKIP_STACK_TESTS=1 to skip stack tests)",
        down.join(", ")
    );
}

/// A name no other test run uses: lowercase letters, digits and underscores.
pub fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "sinkt_{name}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000
    )
}

pub fn kafka() -> KafkaConfig {
    KafkaConfig {
        brokers: BROKERS.into(),
        ..KafkaConfig::default()
    }
}

pub async fn create_topics(prefix: &str) -> TopicNames {
    let topics = TopicsConfig {
        prefix: prefix.into(),
        partitions: 2,
        ..TopicsConfig::default()
    };
    redstream_common::topics::ensure_topics(&kafka(), &topics)
        .await
        .expect("topics are created");
    TopicNames::new(prefix)
}

pub async fn delete_topics(prefix: &str) {
    let topics = TopicsConfig {
        prefix: prefix.into(),
        ..TopicsConfig::default()
    };
    let _ = redstream_common::topics::delete_topics(&kafka(), &topics).await;
}

fn enrichment(text: &str, created_utc: i64) -> Enrichment {
    Enrichment {
        language: Some("eng".into()),
        language_confidence: 0.75,
        sentiment: 0.25,
        links: vec![
            "https://example.org/a".into(),
            "https://www.rust-lang.org/".into(),
        ],
        domains: vec!["example.org".into(), "rust-lang.org".into()],
        text: text.into(),
        word_count: text.split_whitespace().count() as i64,
        created_at: created_utc * 1000,
    }
}

/// A post in r/`subreddit`, created 2015-01-01 plus `n` minutes.
pub fn post(id: &str, subreddit: &str, title: &str, version: i64) -> EnrichedItem {
    let created_utc = 1_420_070_400 + 60 * id.len() as i64;
    EnrichedItem::Post(EnrichedPost {
        post: RawPost {
            fullname: format!("t3_{id}"),
            id: id.into(),
            subreddit: subreddit.into(),
            subreddit_id: Some("t5_2qh1i".into()),
            author: Some("ferris".into()),
            author_fullname: Some("t2_ferris".into()),
            title: title.into(),
            selftext: format!("{title} body"),
            url: Some(format!(
                "https://www.reddit.com/r/{subreddit}/comments/{id}/"
            )),
            domain: Some(format!("self.{subreddit}")),
            permalink: Some(format!("/r/{subreddit}/comments/{id}/")),
            is_self: true,
            over_18: false,
            link_flair_text: None,
            num_comments: 3,
            upvote_ratio: Some(0.5),
            crosspost_parent: None,
            score: 42,
            distinguished: None,
            stickied: false,
            created_utc,
            edited_utc: None,
            state: ContentState::Present,
            retrieved_utc: version / 1_000_000,
            version,
        },
        enrichment: enrichment(title, created_utc),
    })
}

pub fn comment(id: &str, link_id: &str, body: &str, version: i64) -> EnrichedItem {
    let created_utc = 1_420_074_000 + id.len() as i64;
    EnrichedItem::Comment(EnrichedComment {
        comment: RawComment {
            fullname: format!("t1_{id}"),
            id: id.into(),
            subreddit: "rust".into(),
            subreddit_id: Some("t5_2s7lj".into()),
            author: None,
            author_fullname: None,
            body: body.into(),
            link_id: link_id.into(),
            parent_id: link_id.into(),
            is_submitter: Some(false),
            controversiality: Some(0),
            score: -2,
            distinguished: None,
            stickied: false,
            created_utc,
            edited_utc: Some(created_utc + 30),
            state: ContentState::Present,
            retrieved_utc: version / 1_000_000,
            version,
        },
        enrichment: enrichment(body, created_utc),
    })
}

/// A message as the enrich stage writes it: keyed by fullname, Avro single-object value.
pub fn encoded(codec: &Codec, item: &EnrichedItem) -> (Vec<u8>, Vec<u8>) {
    let mut value = Vec::new();
    codec.encode_enriched(item, &mut value).expect("encodes");
    (item.fullname().as_bytes().to_vec(), value)
}

pub async fn produce(topic: &str, messages: &[(Vec<u8>, Vec<u8>)]) {
    let producer: FutureProducer = redstream_common::kafka::producer_config(&kafka(), "sink-test")
        .create()
        .expect("producer");
    let sends: Vec<_> = messages
        .iter()
        .map(|(key, value)| {
            producer.send(
                FutureRecord::to(topic).key(key).payload(value),
                Duration::from_secs(30),
            )
        })
        .collect();
    for result in futures::future::join_all(sends).await {
        result.map_err(|(e, _)| e).expect("produced");
    }
}

/// Every message of a one-partition topic (the DLQs), reading until `expected` arrived or
/// `timeout` passed.
pub fn read_topic(topic: &str, expected: usize, timeout: Duration) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = redstream_common::kafka::client_config(&kafka(), "sink-test")
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < expected && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            out.push(m.detach());
        }
    }
    // A moment more, to catch messages beyond the expected ones.
    let extra_until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < extra_until {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            out.push(m.detach());
        }
    }
    out
}

pub fn header(message: &OwnedMessage, name: &str) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Whether the group committed, on every partition of `topic`, the end of the partition.
pub fn committed_everything(group: &str, topic: &str) -> Result<(), String> {
    let consumer: BaseConsumer = redstream_common::kafka::client_config(&kafka(), "sink-test")
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| e.to_string())?;
    let mut tpl = TopicPartitionList::new();
    for partition in 0..2 {
        tpl.add_partition(topic, partition);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    for element in committed.elements() {
        let (_, high) = consumer
            .fetch_watermarks(topic, element.partition(), Duration::from_secs(10))
            .map_err(|e| e.to_string())?;
        let done = match element.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        };
        if done != high {
            return Err(format!(
                "partition {} committed {done}, end is {high}",
                element.partition()
            ));
        }
    }
    Ok(())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A sink binary running in the background, its log in a file.
pub struct RunningSink {
    pub child: Child,
    pub log: PathBuf,
    pub metrics_port: u16,
}

impl RunningSink {
    pub fn start(binary: &str, name: &str, env: &[(&str, String)]) -> Self {
        let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let metrics_port = free_port();
        let mut command = Command::new(binary);
        command
            .arg("--metrics-addr")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .env_remove("REDSTREAM_CONFIG")
            .env("REDSTREAM_KAFKA__BROKERS", BROKERS)
            .env("REDSTREAM_BATCH__MAX_WAIT_MS", "50")
            .env("REDSTREAM_LOG_FORMAT", "text")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(file));
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("the sink binary starts");
        eprintln!("sink log: {}", log.display());
        Self {
            child,
            log,
            metrics_port,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails the test with the sink's log if it exited early.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "the sink exited early ({status}); its log:\n{}",
                self.log_text()
            );
        }
    }

    /// One metric line's value, e.g. `redstream_retries_total{stage="…",target="…"}`.
    pub fn metric(&self, series: &str) -> f64 {
        metric_at(self.metrics_port, series)
    }

    /// SIGTERM, then the exit status (killed after 30 s).
    pub fn stop(mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "the sink did not stop within 30 s of SIGTERM; its log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RunningSink {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `check` until it returns `Some`, or fails with `what` and the sink's log.
pub async fn wait_for<T, F, Fut>(sink: &mut RunningSink, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        sink.assert_running();
        if Instant::now() > deadline {
            panic!(
                "timed out waiting for {what}; the sink's log:\n{}",
                sink.log_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A TCP forwarder on 127.0.0.1 that the test can cut and restore, to play a store that goes
/// down and comes back without touching the shared server.
pub struct Switch {
    pub port: u16,
    up: tokio::sync::watch::Sender<bool>,
}

impl Switch {
    pub async fn start(target: &'static str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (up, watch) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !*watch.borrow() {
                    drop(inbound);
                    continue;
                }
                let mut watch = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watch.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { port, up }
    }

    pub fn set_up(&self, up: bool) {
        let _ = self.up.send(up);
    }
}

/// One metric line's value from the /metrics endpoint on `port`; 0 when absent.
pub fn metric_at(port: u16, series: &str) -> f64 {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0.0;
    };
    let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
