//! `redstream-producer live`: follows subreddits on the Reddit API and publishes every new post
//! and comment to `{prefix}.raw`, through the same publisher as `replay`.
//!
//! - [`config`]: the `[live]` section and its credentials (file, environment, mounted files);
//! - [`auth`]: OAuth2 tokens for script, app-only and installed apps;
//! - [`budget`] and [`pool`]: Reddit's rate-limit budget per client id, and the pool that
//!   spreads requests over credentials and never overspends one;
//! - [`follow`]: one poll of a feed, paging back to its cursor, and `/api/info` re-polls;
//! - [`cursors`]: checkpoints in the compacted `{prefix}.producer-cursors` topic;
//! - [`replicas`]: which subreddits this replica follows when several run.
//!
//! docs/live.md is the user's guide.

mod auth;
mod budget;
pub mod config;
mod cursors;
mod follow;
mod metrics;
mod pool;
mod replicas;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use rdkafka::producer::FutureProducer;
use redstream_common::kafka::{check_topics, producer_config};
use redstream_common::metrics::{serve, Readiness};
use redstream_common::{DeadLetterSink, Shutdown, TopicNames};
use redstream_schemas::Codec;

use self::follow::{Feed, Follower, Kind};
use self::pool::{FetchError, Pool};
use self::replicas::Ownership;
use crate::config::ProducerConfig;
use crate::replay::input::Input;
use crate::replay::publish::Publisher;
use crate::replay::report::Stats;
use crate::replay::Outcome;

#[derive(Debug, Args)]
pub struct LiveArgs {
    /// Where /metrics, /healthz and /readyz are served.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:9100",
        env = "REDSTREAM_METRICS_ADDR"
    )]
    metrics_addr: SocketAddr,
}

pub async fn run(config: &ProducerConfig, args: &LiveArgs) -> anyhow::Result<Outcome> {
    let live = config.live.clone();
    let creds = live.resolve()?;
    let names = TopicNames::new(&config.topics.prefix);
    let dlq_topic = names.dlq("producer");
    let kafka = config.kafka.clone();
    let wanted = [
        names.raw.clone(),
        dlq_topic.clone(),
        names.producer_cursors.clone(),
        names.producer_coordination.clone(),
    ];
    let partitions = tokio::task::spawn_blocking(move || {
        let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
        check_topics(&kafka, &wanted)
    })
    .await
    .context("topic check did not finish")??;
    let ownership = if live.coordinate {
        Ownership::join(
            &config.kafka,
            &names.producer_coordination,
            &format!("{}.producer-live", config.topics.prefix),
            partitions.last().map_or(1, |p| *p as i32),
            live.replica_session_timeout_ms,
        )?
    } else {
        Ownership::everything()
    };

    let readiness = Readiness::default();
    serve(args.metrics_addr, readiness.clone()).await?;
    let shutdown = Shutdown::install().context("cannot install the SIGTERM/Ctrl-C handler")?;

    let producer: FutureProducer = producer_config(&config.kafka, "redstream-producer-live")
        .create()
        .with_context(|| {
            format!(
                "cannot create a Kafka producer for {}",
                config.kafka.brokers
            )
        })?;
    let dlq = DeadLetterSink::new(&config.kafka, "producer", dlq_topic)?;
    let stats = Stats::new(
        Arc::new(vec![Input::live("reddit-live")]),
        Duration::from_millis(config.replay.progress_interval_ms.max(100)),
    );
    let publisher = Publisher::new(
        producer.clone(),
        names.raw.clone(),
        dlq,
        config.replay.max_in_flight,
        shutdown.clone(),
        stats,
    );

    let now = Instant::now();
    let mut feeds = Vec::new();
    for sub in &live.subreddits {
        let sub = sub.trim().trim_start_matches("r/").to_string();
        let kinds = [(live.posts, Kind::Posts), (live.comments, Kind::Comments)];
        for (on, kind) in kinds {
            if on {
                feeds.push(Feed {
                    subreddit: sub.clone(),
                    kind,
                    cursor: None,
                    interval: Duration::from_secs(live.poll_min_secs),
                    due: now,
                    skipped: false,
                    polls: 0,
                });
            }
        }
    }
    tracing::info!(
        stage = "producer",
        feeds = feeds.len(),
        credentials = creds.len(),
        topic = %names.raw,
        cursors = %names.producer_cursors,
        "live producer starting"
    );

    let pool = Pool::new(&live, creds, shutdown.clone())?;
    let mut follower = Follower {
        pool,
        publisher,
        codec: Codec::new().context("cannot build the Avro codec")?,
        cursor_producer: producer,
        cursor_topic: names.producer_cursors.clone(),
        cfg: live.clone(),
        recent: VecDeque::new(),
    };
    readiness.set(true);

    let outcome = follow_all(&mut follower, &mut feeds, &ownership, config, &shutdown).await;
    drop(ownership);
    follower.publisher.drain().await;
    let totals = follower.publisher.stats.totals();
    tracing::info!(
        stage = "producer",
        produced = totals.produced,
        dead_lettered = totals.dead_lettered,
        failed = totals.failed,
        "live producer stopped"
    );
    outcome
}

async fn follow_all(
    follower: &mut Follower,
    feeds: &mut [Feed],
    ownership: &Ownership,
    config: &ProducerConfig,
    shutdown: &Shutdown,
) -> anyhow::Result<Outcome> {
    let live = &config.live;
    let refresh_every = Duration::from_secs(live.refresh_interval_secs);
    let mut next_refresh = Instant::now() + refresh_every;
    let max_rounds = if live.max_rounds == 0 {
        u64::MAX
    } else {
        live.max_rounds
    };
    let mut owned: Vec<bool> = vec![false; feeds.len()];
    let mut generation = 0;
    let mut failed = false;
    loop {
        if ownership.generation() != generation {
            generation = ownership.generation();
            take_over(feeds, &mut owned, ownership, config).await?;
        }
        if feeds.iter().all(|f| f.skipped) {
            anyhow::bail!(
                "every followed subreddit answered 403 or 404 (private, banned or missing); \
                 fix live.subreddits"
            );
        }
        let mine = |i: usize, f: &Feed| owned[i] && !f.skipped;
        let any_mine = feeds.iter().enumerate().any(|(i, f)| mine(i, f));
        if any_mine
            && feeds
                .iter()
                .enumerate()
                .all(|(i, f)| !mine(i, f) || f.polls >= max_rounds)
        {
            return Ok(if failed {
                Outcome::Failed
            } else {
                Outcome::Complete
            });
        }
        // Wake at least every second to notice a changed share.
        let soon = Instant::now() + Duration::from_secs(1);
        let due = feeds
            .iter()
            .enumerate()
            .filter(|(i, f)| mine(*i, f) && f.polls < max_rounds)
            .map(|(_, f)| f.due)
            .min()
            .map_or(soon, |d| d.min(soon));
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {}
            _ = shutdown.wait() => return Ok(Outcome::Interrupted),
        }
        for (i, feed) in feeds.iter_mut().enumerate() {
            if !owned[i] || feed.skipped || feed.polls >= max_rounds || feed.due > Instant::now() {
                continue;
            }
            if !ownership.owns(&feed.subreddit) {
                continue;
            }
            feed.polls += 1;
            match follower.poll(feed).await {
                Ok(_) => {}
                Err(FetchError::Unavailable { path, status }) => {
                    feed.skipped = true;
                    tracing::warn!(stage = "producer", subreddit = %feed.subreddit, kind = feed.kind.as_str(), %path, status, "subreddit unavailable (private, banned or missing); skipped until the configuration changes");
                }
                Err(FetchError::Failed(msg)) => {
                    failed = true;
                    feed.due = Instant::now() + feed.interval;
                    tracing::warn!(stage = "producer", subreddit = %feed.subreddit, kind = feed.kind.as_str(), error = %msg, "poll failed; trying again at the next poll");
                }
                Err(FetchError::Shutdown) => return Ok(Outcome::Interrupted),
                Err(e @ FetchError::NoCredentials) => return Err(e.into()),
            }
        }
        if !refresh_every.is_zero() && Instant::now() >= next_refresh {
            match follower.refresh().await {
                Ok(_) | Err(FetchError::Unavailable { .. }) => {}
                Err(FetchError::Failed(msg)) => {
                    tracing::warn!(stage = "producer", error = %msg, "re-poll failed; trying again later");
                }
                Err(FetchError::Shutdown) => return Ok(Outcome::Interrupted),
                Err(e @ FetchError::NoCredentials) => return Err(e.into()),
            }
            next_refresh = Instant::now() + refresh_every;
        }
    }
}

/// After the share changed: feeds this replica just gained resume from the cursor their
/// previous owner checkpointed, and are polled right away.
async fn take_over(
    feeds: &mut [Feed],
    owned: &mut [bool],
    ownership: &Ownership,
    config: &ProducerConfig,
) -> anyhow::Result<()> {
    let gained: Vec<usize> = (0..feeds.len())
        .filter(|&i| !owned[i] && ownership.owns(&feeds[i].subreddit))
        .collect();
    for (i, feed) in feeds.iter().enumerate() {
        owned[i] = ownership.owns(&feed.subreddit);
    }
    if gained.is_empty() {
        return Ok(());
    }
    let kafka = config.kafka.clone();
    let topic = TopicNames::new(&config.topics.prefix).producer_cursors;
    let mut saved = tokio::task::spawn_blocking(move || cursors::load(&kafka, &topic))
        .await
        .context("cursor load did not finish")??;
    let now = Instant::now();
    for i in gained {
        let feed = &mut feeds[i];
        if let Some(cursor) = saved.remove(&feed.key()) {
            if feed
                .cursor
                .as_ref()
                .is_none_or(|c| c.created_utc <= cursor.created_utc)
            {
                feed.cursor = Some(cursor);
            }
        }
        feed.due = now;
    }
    tracing::info!(
        stage = "producer",
        following = owned.iter().filter(|o| **o).count(),
        resumed = feeds
            .iter()
            .zip(owned.iter())
            .filter(|(f, o)| **o && f.cursor.is_some())
            .count(),
        "feeds taken over"
    );
    Ok(())
}
