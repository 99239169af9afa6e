//! Metrics of the processor stages beyond the shared ones in `redstream_common::metrics`.

use std::sync::LazyLock;

use prometheus::{register_int_gauge, IntGauge};

/// Distinct items whose state this dedupe process holds (over its owned partitions).
pub static DEDUPE_TRACKED_ITEMS: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "redstream_dedupe_tracked_items",
        "Distinct items in the dedupe state of the owned partitions"
    )
    .expect("metric registers once")
});

/// Heap bytes of the dedupe state tables.
pub static DEDUPE_STATE_BYTES: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "redstream_dedupe_state_bytes",
        "Heap bytes held by the dedupe state tables"
    )
    .expect("metric registers once")
});
