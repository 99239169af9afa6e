//! Turns one NDJSON dump line or one Reddit API object into an [`Item`].
//!
//! Accepted shapes, all seen in real data (`/work/shared/data/reddit/README.md` lists them):
//! - Pushshift dump lines of every era (2005 to 2023), with `created_utc` as a string, an int or
//!   a float, ids from 2 to 7 characters, and HTML-escaped text in the 2015 months;
//! - Arctic Shift re-dumps (2024) with a `_meta` object;
//! - Reddit API objects, either the bare `data` object or the whole thing
//!   `{"kind": "t1" | "t3", "data": {...}}`.
//!
//! Anything else is a [`NormalizeError`] that says what the line was instead (a subreddit, a
//! `more` stub, a message, a Listing) or which field is missing or malformed: the producer
//! dead-letters the line with that reason and goes on.
//!
//! Normalization is a pure function of the line and its [`SnapshotOrigin`], so replaying the
//! same file twice yields identical items, versions included.

mod detect;
mod fields;
mod item;
mod object;
#[cfg(test)]
mod tests;

use crate::item::{Item, ItemKind};
use object::{Object, Shape};

/// Where a snapshot came from, for the fields a line may lack.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotOrigin {
    /// Retrieval time to assume when the line carries no `retrieved_on`: the dump file's
    /// modification time for replays, the fetch time for live polls.
    pub fallback_retrieved_utc: i64,
    /// 1-based line number in the file (or position in a listing): the version tiebreak.
    pub line_no: u64,
}

/// Why a line is not an item. Each variant is a dead-letter reason; [`NormalizeError::kind`]
/// is its short class for headers and metric labels.
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    #[error("empty line: no JSON object on it")]
    Empty,
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a Reddit item: the line holds a JSON {found}, expected an object")]
    NotAnObject { found: &'static str },
    #[error("not a post or comment: {what}")]
    NotAnItem { what: String },
    #[error("{item} has no `{field}` (missing, null or empty); it is required")]
    MissingField {
        item: &'static str,
        field: &'static str,
    },
    #[error("{item} field `{field}` is {found}; expected {expected}")]
    BadField {
        item: &'static str,
        field: &'static str,
        /// The offending value as JSON, shortened.
        found: String,
        expected: &'static str,
    },
}

impl NormalizeError {
    /// Short, stable class of the failure: the `redstream.reason.kind` dead-letter header.
    pub fn kind(&self) -> &'static str {
        match self {
            NormalizeError::Empty => "empty",
            NormalizeError::Json(_) => "parse",
            NormalizeError::NotAnObject { .. } | NormalizeError::NotAnItem { .. } => "not_an_item",
            NormalizeError::MissingField { .. } => "missing_field",
            NormalizeError::BadField { .. } => "bad_field",
        }
    }
}

/// Normalizes one NDJSON line (without its line terminator; surrounding whitespace is fine).
///
/// The line is parsed straight into the few fields normalization reads, borrowed from `line`;
/// the result, errors included, is what [`normalize_value`] gives for the line parsed into a
/// `serde_json::Value`, only without building one.
pub fn normalize_line(line: &[u8], origin: &SnapshotOrigin) -> Result<Item, NormalizeError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(NormalizeError::Empty);
    }
    let mut object = Object::empty();
    let shape = object.read_line(line)?;
    // Only the message for an object that is no item lists its keys: parse the line again,
    // fully, just for that.
    let keys = || match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(line) {
        Ok(map) => detect::some_keys(&map),
        Err(e) => format!("unreadable ({e})"),
    };
    normalize_object(shape, &object, origin, keys)
}

/// Normalizes one parsed JSON value: a dump line, an API `data` object or a `{kind, data}` thing.
pub fn normalize_value(
    value: &serde_json::Value,
    origin: &SnapshotOrigin,
) -> Result<Item, NormalizeError> {
    let keys = || match value {
        serde_json::Value::Object(map) => detect::some_keys(map),
        _ => "none".into(),
    };
    let (shape, object) = Object::of_value(value);
    normalize_object(shape, &object, origin, keys)
}

fn normalize_object(
    shape: Shape,
    object: &Object<'_>,
    origin: &SnapshotOrigin,
    keys: impl FnOnce() -> String,
) -> Result<Item, NormalizeError> {
    let (kind, object) = detect::detect(shape, object, keys)?;
    match kind {
        ItemKind::Comment => item::comment(object, origin).map(Item::Comment),
        ItemKind::Post => item::post(object, origin).map(Item::Post),
    }
}
