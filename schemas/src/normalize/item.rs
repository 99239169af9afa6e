//! Builds [`RawComment`] and [`RawPost`] from an object already known to be one.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::fields::Fields;
use super::{NormalizeError, SnapshotOrigin};
use crate::item::{ContentState, RawComment, RawPost};

/// What every item has, read the same way for both kinds.
struct Common {
    fullname: String,
    id: String,
    subreddit: String,
    subreddit_id: Option<String>,
    author: Option<String>,
    author_fullname: Option<String>,
    score: i64,
    distinguished: Option<String>,
    stickied: bool,
    created_utc: i64,
    edited_utc: Option<i64>,
    retrieved_utc: i64,
    version: i64,
}

pub(super) fn comment(
    object: &Map<String, Value>,
    origin: &SnapshotOrigin,
) -> Result<RawComment, NormalizeError> {
    let f = Fields::new(object, "comment");
    let common = common(&f, "t1_", origin)?;

    let body = decode_entities(f.text("body")?.ok_or_else(|| f.missing("body"))?);
    let link_id = post_fullname(f.required_text("link_id")?)?;
    let parent_id = f.required_text("parent_id")?;
    if !(parent_id.starts_with("t1_") || parent_id.starts_with("t3_")) {
        return Err(NormalizeError::BadField {
            item: "comment",
            field: "parent_id",
            found: format!("string {parent_id:?}"),
            expected: "a t1_ or t3_ fullname",
        });
    }
    let controversiality = match f.int("controversiality")? {
        None => None,
        Some(c) => Some(i32::try_from(c).map_err(|_| NormalizeError::BadField {
            item: "comment",
            field: "controversiality",
            found: format!("number {c}"),
            expected: "a small whole number (0 or 1)",
        })?),
    };
    let state = content_state(&f, &body)?;

    Ok(RawComment {
        fullname: common.fullname,
        id: common.id,
        subreddit: common.subreddit,
        subreddit_id: common.subreddit_id,
        author: common.author,
        author_fullname: common.author_fullname,
        body,
        link_id,
        parent_id,
        is_submitter: f.flag("is_submitter")?,
        controversiality,
        score: common.score,
        distinguished: common.distinguished,
        stickied: common.stickied,
        created_utc: common.created_utc,
        edited_utc: common.edited_utc,
        state,
        retrieved_utc: common.retrieved_utc,
        version: common.version,
    })
}

pub(super) fn post(
    object: &Map<String, Value>,
    origin: &SnapshotOrigin,
) -> Result<RawPost, NormalizeError> {
    let f = Fields::new(object, "post");
    let common = common(&f, "t3_", origin)?;

    let title = decode_entities(f.required_text("title")?);
    let selftext = decode_entities(f.text("selftext")?.unwrap_or_default());
    let state = content_state(&f, &selftext)?;

    Ok(RawPost {
        fullname: common.fullname,
        id: common.id,
        subreddit: common.subreddit,
        subreddit_id: common.subreddit_id,
        author: common.author,
        author_fullname: common.author_fullname,
        title,
        selftext,
        url: f.text("url")?,
        domain: f.text("domain")?,
        permalink: f.text("permalink")?,
        is_self: f.flag("is_self")?.unwrap_or(false),
        over_18: f.flag("over_18")?.unwrap_or(false),
        link_flair_text: f.text("link_flair_text")?,
        num_comments: f.int("num_comments")?.unwrap_or(0),
        upvote_ratio: f.float("upvote_ratio")?,
        crosspost_parent: f.text("crosspost_parent")?,
        score: common.score,
        distinguished: common.distinguished,
        stickied: common.stickied,
        created_utc: common.created_utc,
        edited_utc: common.edited_utc,
        state,
        retrieved_utc: common.retrieved_utc,
        version: common.version,
    })
}

fn common(
    f: &Fields<'_>,
    prefix: &'static str,
    origin: &SnapshotOrigin,
) -> Result<Common, NormalizeError> {
    let (fullname, id) = identity(f, prefix)?;

    let created_utc = f
        .epoch_seconds("created_utc")?
        .ok_or_else(|| f.missing("created_utc"))?;
    // Only dump lines say when they were fetched; API objects and the oldest submission dumps
    // fall back to the file's modification time (or the live fetch time).
    let retrieved_utc = match f.epoch_seconds("retrieved_on")? {
        Some(t) => t,
        None => f
            .epoch_seconds("retrieved_utc")?
            .unwrap_or(origin.fallback_retrieved_utc),
    };
    let version = version(retrieved_utc, origin.line_no)?;

    // Score is always recorded in practice; `ups` is the same number in old records.
    let score = match f.int("score")? {
        Some(s) => s,
        None => f.int("ups")?.unwrap_or(0),
    };

    Ok(Common {
        fullname,
        id,
        subreddit: f.required_text("subreddit")?,
        subreddit_id: f.text("subreddit_id")?.filter(|s| !s.is_empty()),
        author: f.text("author")?.filter(|a| is_real_author(a)),
        author_fullname: f.text("author_fullname")?.filter(|s| !s.is_empty()),
        score,
        distinguished: f.text("distinguished")?.filter(|s| !s.is_empty()),
        stickied: f.flag("stickied")?.unwrap_or(false),
        created_utc,
        edited_utc: f.edited("edited")?,
        retrieved_utc,
        version,
    })
}

/// The fullname and bare id: `name` when present, else the kind's prefix plus `id`. When both
/// are there they must agree, or the line is suspect.
fn identity(f: &Fields<'_>, prefix: &'static str) -> Result<(String, String), NormalizeError> {
    let id = f.text("id")?.filter(|s| !s.is_empty());
    let name = f.text("name")?.filter(|s| !s.is_empty());

    let (fullname, id) = match (name, id) {
        (Some(name), id) => {
            let Some(from_name) = name.strip_prefix(prefix) else {
                return Err(NormalizeError::BadField {
                    item: item_name(prefix),
                    field: "name",
                    found: format!("string {name:?}"),
                    expected: if prefix == "t1_" {
                        "a t1_ fullname"
                    } else {
                        "a t3_ fullname"
                    },
                });
            };
            if let Some(id) = &id {
                if id != from_name {
                    return Err(NormalizeError::BadField {
                        item: item_name(prefix),
                        field: "name",
                        found: format!("string {name:?} while id is {id:?}"),
                        expected: "the kind prefix followed by the same id",
                    });
                }
            }
            let id = from_name.to_string();
            (name, id)
        }
        (None, Some(id)) => (format!("{prefix}{id}"), id),
        (None, None) => return Err(f.missing("id")),
    };

    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) || id.is_empty() {
        return Err(NormalizeError::BadField {
            item: item_name(prefix),
            field: "id",
            found: format!("string {id:?}"),
            expected: "a base36 id (letters and digits)",
        });
    }
    Ok((fullname, id))
}

fn item_name(prefix: &str) -> &'static str {
    if prefix == "t1_" {
        "comment"
    } else {
        "post"
    }
}

/// `version = retrieved_utc * 1_000_000 + line_no` (see docs/design.md, "Versions").
fn version(retrieved_utc: i64, line_no: u64) -> Result<i64, NormalizeError> {
    i64::try_from(line_no)
        .ok()
        .and_then(|line| retrieved_utc.checked_mul(1_000_000)?.checked_add(line))
        .ok_or(NormalizeError::BadField {
            item: "item",
            field: "retrieved_on",
            found: format!("number {retrieved_utc} (line {line_no})"),
            expected: "a retrieval time whose version fits in 64 bits",
        })
}

/// Reddit shows `[deleted]` for deleted accounts and for deleted or removed items.
fn is_real_author(author: &str) -> bool {
    !matches!(author, "" | "[deleted]" | "[removed]")
}

/// The text markers decide: `[deleted]` is the author's doing, `[removed]` a moderator's or
/// Reddit's. Link posts have no text to replace, so for them Reddit's own
/// `removed_by_category` (2019 on) says whether and by whom the post was taken down.
fn content_state(f: &Fields<'_>, text: &str) -> Result<ContentState, NormalizeError> {
    Ok(match text {
        "[deleted]" => ContentState::Deleted,
        "[removed]" => ContentState::Removed,
        _ => match f.text("removed_by_category")?.as_deref() {
            None | Some("") => ContentState::Present,
            Some("deleted" | "author") => ContentState::Deleted,
            Some(_) => ContentState::Removed,
        },
    })
}

/// `link_id`: `t3_abc` stays; a bare `abc` (seen in some third-party exports) gets its prefix.
fn post_fullname(value: String) -> Result<String, NormalizeError> {
    if value.starts_with("t3_") {
        Ok(value)
    } else if value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(format!("t3_{value}"))
    } else {
        Err(NormalizeError::BadField {
            item: "comment",
            field: "link_id",
            found: format!("string {value:?}"),
            expected: "a t3_ fullname",
        })
    }
}

/// Decodes HTML entities only (`&gt;`, `&amp;`, `&#x200B;`): the 2015 dumps are HTML-escaped,
/// while API text fetched with `raw_json=1` is not and comes through unchanged unless its
/// author typed an entity, which Reddit's Markdown renders as the character anyway.
fn decode_entities(text: String) -> String {
    match html_escape::decode_html_entities(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(decoded) => decoded,
    }
}
