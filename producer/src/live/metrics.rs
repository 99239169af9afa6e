//! The live producer's metrics, in the process-wide registry that
//! `redstream_common::metrics::serve` exposes.

use std::sync::LazyLock;

use prometheus::{register_gauge_vec, register_int_counter_vec, GaugeVec, IntCounterVec};

/// API and token requests by credential name and HTTP status (`error` for no response).
pub static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "redstream_producer_requests_total",
        "Reddit requests by credential and status",
        &["credential", "status"]
    )
    .expect("metric registers once")
});

/// `x-ratelimit-remaining` last reported for the credential's client id (-1: unknown).
pub static BUDGET_REMAINING: LazyLock<GaugeVec> = LazyLock::new(|| {
    register_gauge_vec!(
        "redstream_producer_budget_remaining",
        "Requests left in the current rate-limit window, per credential",
        &["credential"]
    )
    .expect("metric registers once")
});

pub static RATE_LIMITED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "redstream_producer_rate_limited_total",
        "429 responses, per credential",
        &["credential"]
    )
    .expect("metric registers once")
});

pub static BROKEN: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "redstream_producer_credentials_broken_total",
        "Credentials taken out of the pool (refused token or repeated 401)",
        &["credential"]
    )
    .expect("metric registers once")
});

pub static PUBLISHED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "redstream_producer_items_published_total",
        "Items handed to Kafka, per subreddit and kind",
        &["subreddit", "kind"]
    )
    .expect("metric registers once")
});

pub static GAPS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "redstream_producer_gaps_total",
        "Polls where the listing cap cut off items between the cursor and now",
        &["subreddit", "kind"]
    )
    .expect("metric registers once")
});
