//! One poll of one subreddit feed (`/r/{sub}/new` or `/r/{sub}/comments`): fetch the newest
//! page, page back with `after=` until the cursor (the newest item already published), publish
//! what is new oldest first, wait for Kafka's acknowledgements, then move the cursor.
//!
//! When the listing ends (Reddit keeps about 1000 items) or `live.max_pages` runs out before
//! the cursor is reached, the items in between are lost to the listing: that is a gap, counted
//! and logged with its subreddit and time span. A feed without a cursor starts from its first
//! page rather than paging through all of history.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::producer::FutureProducer;
use redstream_schemas::{normalize_value, Codec, SnapshotOrigin};
use serde_json::Value;

use super::config::LiveConfig;
use super::cursors::{self, Cursor};
use super::metrics;
use super::pool::{FetchError, Pool};
use crate::replay::publish::{Handed, Publisher};

/// Re-polls through `/api/info` take at most this many fullnames a request.
const INFO_BATCH: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Posts,
    Comments,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Posts => "posts",
            Kind::Comments => "comments",
        }
    }
}

/// One subreddit and kind, with its cursor and schedule.
pub struct Feed {
    pub subreddit: String,
    pub kind: Kind,
    pub cursor: Option<Cursor>,
    pub interval: Duration,
    pub due: Instant,
    /// 403 or 404: skipped until the configuration changes.
    pub skipped: bool,
    /// Polls done, successful or not (for `live.max_rounds`).
    pub polls: u64,
}

impl Feed {
    pub fn key(&self) -> String {
        format!("{}/{}", self.subreddit, self.kind.as_str())
    }

    fn path(&self) -> String {
        match self.kind {
            Kind::Posts => format!("/r/{}/new", self.subreddit),
            Kind::Comments => format!("/r/{}/comments", self.subreddit),
        }
    }
}

pub struct Follower {
    pub pool: Pool,
    pub publisher: Publisher,
    pub codec: Codec,
    pub cursor_producer: FutureProducer,
    pub cursor_topic: String,
    pub cfg: LiveConfig,
    /// Published fullnames, newest last, for `/api/info` re-polls.
    pub recent: VecDeque<String>,
}

impl Follower {
    pub async fn poll(&mut self, feed: &mut Feed) -> Result<usize, FetchError> {
        let fetched_at = now_secs();
        let path = feed.path();
        let mut fresh: Vec<Value> = Vec::new(); // newest first
        let mut seen: HashSet<String> = HashSet::new();
        let mut after: Option<String> = None;
        let mut reached = feed.cursor.is_none();
        let mut cut_off = false;
        let mut pages = 0u32;

        while pages < self.cfg.max_pages.max(1) {
            let mut query = vec![
                ("limit", self.cfg.page_limit.clamp(1, 100).to_string()),
                ("raw_json", "1".to_string()),
            ];
            if let Some(a) = &after {
                query.push(("after", a.clone()));
            }
            let listing = self.pool.get(&path, &query).await?;
            pages += 1;
            let children = listing
                .pointer("/data/children")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for child in children {
                let data = child.get("data").unwrap_or(&child);
                let Some(name) = data.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let created = data
                    .get("created_utc")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0) as i64;
                if let Some(c) = &feed.cursor {
                    if name == c.fullname || created < c.created_utc {
                        reached = true;
                        break;
                    }
                }
                if seen.insert(name.to_string()) {
                    fresh.push(child);
                }
            }
            if reached {
                break;
            }
            after = listing
                .pointer("/data/after")
                .and_then(Value::as_str)
                .map(str::to_string);
            if after.is_none() {
                cut_off = true;
                break;
            }
        }
        if !reached && after.is_some() {
            cut_off = true;
        }
        if cut_off {
            if let Some(c) = &feed.cursor {
                let oldest = fresh
                    .last()
                    .and_then(|v| v.pointer("/data/created_utc"))
                    .and_then(Value::as_f64)
                    .map_or(fetched_at, |f| f as i64);
                metrics::GAPS
                    .with_label_values(&[&feed.subreddit, feed.kind.as_str()])
                    .inc();
                tracing::warn!(
                    stage = "producer",
                    subreddit = %feed.subreddit,
                    kind = feed.kind.as_str(),
                    from_utc = c.created_utc,
                    to_utc = oldest,
                    after_fullname = %c.fullname,
                    pages,
                    "gap: the listing ended before the cursor; items in this span were missed"
                );
            }
        }

        let label = format!("live:{path}");
        let published = self.publish(&fresh, fetched_at, &label, true).await?;
        metrics::PUBLISHED
            .with_label_values(&[&feed.subreddit, feed.kind.as_str()])
            .inc_by(published as u64);

        if let Some(newest) = fresh.first().and_then(|v| v.get("data")) {
            let cursor = Cursor {
                fullname: newest
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                created_utc: newest
                    .get("created_utc")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0) as i64,
            };
            cursors::save(
                &self.cursor_producer,
                &self.cursor_topic,
                &feed.key(),
                &cursor,
            )
            .await
            .map_err(|e| FetchError::Failed(format!("{e:#}")))?;
            feed.cursor = Some(cursor);
        }

        feed.interval = self.next_interval(feed.interval, fresh.len(), pages > 1 || cut_off);
        feed.due = Instant::now() + feed.interval;
        tracing::info!(
            stage = "producer",
            subreddit = %feed.subreddit,
            kind = feed.kind.as_str(),
            new = fresh.len(),
            pages,
            next_poll_secs = feed.interval.as_secs(),
            "feed polled"
        );
        Ok(fresh.len())
    }

    /// Re-fetches remembered items through `/api/info` and publishes their current state:
    /// score changes, edits, and deletions (which the sinks turn into final deletion events).
    pub async fn refresh(&mut self) -> Result<usize, FetchError> {
        let names: Vec<String> = self.recent.iter().cloned().collect();
        let mut total = 0;
        for chunk in names.chunks(INFO_BATCH) {
            let query = [("id", chunk.join(",")), ("raw_json", "1".to_string())];
            let listing = self.pool.get("/api/info", &query).await?;
            let children = listing
                .pointer("/data/children")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            total += self
                .publish(children, now_secs(), "live:/api/info", false)
                .await?;
        }
        tracing::info!(
            stage = "producer",
            items = names.len(),
            refreshed = total,
            "items re-polled"
        );
        Ok(total)
    }

    /// Publishes `newest_first` items (as Reddit lists them) oldest first, so that line
    /// numbers, the version tiebreak, grow with age, and waits until Kafka has them all.
    /// `remember` keeps their fullnames for the `/api/info` re-polls (not for re-polled items
    /// themselves).
    async fn publish(
        &mut self,
        newest_first: &[Value],
        fetched_at: i64,
        label: &str,
        remember: bool,
    ) -> Result<usize, FetchError> {
        let failed_before = self.publisher.stats.totals().failed;
        let source = Arc::new(std::path::PathBuf::from(label));
        let mut published = 0;
        for (pos, child) in newest_first.iter().rev().enumerate() {
            let line_no = pos as u64 + 1;
            let origin = SnapshotOrigin {
                fallback_retrieved_utc: fetched_at,
                line_no,
            };
            let handed = match normalize_value(child, &origin) {
                Ok(item) => {
                    let mut bytes = Vec::new();
                    if let Err(e) = self.codec.encode_item(&item, &mut bytes) {
                        let payload = serde_json::to_vec(child).unwrap_or_default();
                        self.publisher
                            .dead_letter(
                                0,
                                Arc::clone(&source),
                                line_no,
                                payload,
                                "encode",
                                e.to_string(),
                            )
                            .await
                    } else {
                        let fullname = item.fullname().to_string();
                        let handed = self.publisher.publish(0, &fullname, &bytes).await;
                        if remember {
                            self.remember(fullname);
                        }
                        published += 1;
                        handed
                    }
                }
                Err(e) => {
                    let payload = serde_json::to_vec(child).unwrap_or_default();
                    self.publisher
                        .dead_letter(
                            0,
                            Arc::clone(&source),
                            line_no,
                            payload,
                            e.kind(),
                            e.to_string(),
                        )
                        .await
                }
            };
            if handed == Handed::Interrupted {
                return Err(FetchError::Shutdown);
            }
        }
        self.publisher.drain().await;
        let failed = self.publisher.stats.totals().failed - failed_before;
        if failed > 0 {
            return Err(FetchError::Failed(format!(
                "{failed} items from {label} were not acknowledged by Kafka; the cursor stays \
                 where it was and the next poll fetches them again"
            )));
        }
        Ok(published)
    }

    fn remember(&mut self, fullname: String) {
        if self.cfg.refresh_interval_secs == 0 {
            return;
        }
        self.recent.push_back(fullname);
        while self.recent.len() > self.cfg.refresh_max_items.max(1) {
            self.recent.pop_front();
        }
    }

    /// Busy feeds are polled more often, quiet ones less, within `poll_min..poll_max`; a feed
    /// that needed more than one page is polled at the minimum.
    fn next_interval(&self, current: Duration, new: usize, overflowed: bool) -> Duration {
        let min = Duration::from_secs(self.cfg.poll_min_secs);
        let max = Duration::from_secs(self.cfg.poll_max_secs.max(self.cfg.poll_min_secs));
        let next = if overflowed {
            min
        } else if new == 0 {
            current.mul_f64(1.5)
        } else {
            current.mul_f64(f64::from(self.cfg.poll_target_items.max(1)) / new as f64)
        };
        next.clamp(min, max)
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
