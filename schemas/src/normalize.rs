//! Turns one NDJSON dump line or one Reddit API object into an [`Item`].
//! (Being written: see the normalization work item.)

use crate::item::Item;

/// Where a snapshot came from, for the fields a line may lack.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotOrigin {
    /// Retrieval time to assume when the line carries no `retrieved_on`: the dump file's
    /// modification time for replays, the fetch time for live polls.
    pub fallback_retrieved_utc: i64,
    /// 1-based line number in the file (or position in a listing): the version tiebreak.
    pub line_no: u64,
}

/// Why a line is not an item. Each variant is a dead-letter reason.
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not yet implemented")]
    Unimplemented,
}

pub fn normalize_line(line: &[u8], origin: &SnapshotOrigin) -> Result<Item, NormalizeError> {
    let value: serde_json::Value = serde_json::from_slice(line)?;
    normalize_value(&value, origin)
}

pub fn normalize_value(
    _value: &serde_json::Value,
    _origin: &SnapshotOrigin,
) -> Result<Item, NormalizeError> {
    Err(NormalizeError::Unimplemented)
}
