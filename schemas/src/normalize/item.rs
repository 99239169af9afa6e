//! Builds [`RawComment`] and [`RawPost`] from an object already known to be one.

use std::borrow::Cow;

use super::fields::Fields;
use super::object::{Key, Object};
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
    object: &Object<'_>,
    origin: &SnapshotOrigin,
) -> Result<RawComment, NormalizeError> {
    let f = Fields::new(object, "comment");
    let common = common(&f, "t1_", origin)?;

    let body = decode_entities(f.text(Key::Body)?.ok_or_else(|| f.missing(Key::Body))?);
    let link_id = post_fullname(f.required_text(Key::LinkId)?)?;
    let parent_id = f.required_text(Key::ParentId)?.into_owned();
    if !(parent_id.starts_with("t1_") || parent_id.starts_with("t3_")) {
        return Err(NormalizeError::BadField {
            item: "comment",
            field: "parent_id",
            found: format!("string {parent_id:?}"),
            expected: "a t1_ or t3_ fullname",
        });
    }
    let controversiality = match f.int(Key::Controversiality)? {
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
        is_submitter: f.flag(Key::IsSubmitter)?,
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
    object: &Object<'_>,
    origin: &SnapshotOrigin,
) -> Result<RawPost, NormalizeError> {
    let f = Fields::new(object, "post");
    let common = common(&f, "t3_", origin)?;

    let title = decode_entities(f.required_text(Key::Title)?);
    let selftext = decode_entities(f.text(Key::Selftext)?.unwrap_or_default());
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
        url: f.owned_text(Key::Url)?,
        domain: f.owned_text(Key::Domain)?,
        permalink: f.owned_text(Key::Permalink)?,
        is_self: f.flag(Key::IsSelf)?.unwrap_or(false),
        over_18: f.flag(Key::Over18)?.unwrap_or(false),
        link_flair_text: f.owned_text(Key::LinkFlairText)?,
        num_comments: f.int(Key::NumComments)?.unwrap_or(0),
        upvote_ratio: f.float(Key::UpvoteRatio)?,
        crosspost_parent: f.owned_text(Key::CrosspostParent)?,
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
    f: &Fields<'_, '_>,
    prefix: &'static str,
    origin: &SnapshotOrigin,
) -> Result<Common, NormalizeError> {
    let (fullname, id) = identity(f, prefix)?;

    let created_utc = f
        .epoch_seconds(Key::CreatedUtc)?
        .ok_or_else(|| f.missing(Key::CreatedUtc))?;
    // Only dump lines say when they were fetched; API objects and the oldest submission dumps
    // fall back to the file's modification time (or the live fetch time).
    let retrieved_utc = match f.epoch_seconds(Key::RetrievedOn)? {
        Some(t) => t,
        None => f
            .epoch_seconds(Key::RetrievedUtc)?
            .unwrap_or(origin.fallback_retrieved_utc),
    };
    let version = version(retrieved_utc, origin.line_no)?;

    // Score is always recorded in practice; `ups` is the same number in old records.
    let score = match f.int(Key::Score)? {
        Some(s) => s,
        None => f.int(Key::Ups)?.unwrap_or(0),
    };

    Ok(Common {
        fullname,
        id,
        subreddit: f.required_text(Key::Subreddit)?.into_owned(),
        subreddit_id: f.owned_text(Key::SubredditId)?.filter(|s| !s.is_empty()),
        author: f.owned_text(Key::Author)?.filter(|a| is_real_author(a)),
        author_fullname: f.owned_text(Key::AuthorFullname)?.filter(|s| !s.is_empty()),
        score,
        distinguished: f.owned_text(Key::Distinguished)?.filter(|s| !s.is_empty()),
        stickied: f.flag(Key::Stickied)?.unwrap_or(false),
        created_utc,
        edited_utc: f.edited(Key::Edited)?,
        retrieved_utc,
        version,
    })
}

/// The fullname and bare id: `name` when present, else the kind's prefix plus `id`. When both
/// are there they must agree, or the line is suspect.
fn identity(f: &Fields<'_, '_>, prefix: &'static str) -> Result<(String, String), NormalizeError> {
    let id = f.text(Key::Id)?.filter(|s| !s.is_empty());
    let name = f.text(Key::Name)?.filter(|s| !s.is_empty());

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
            (name.into_owned(), id)
        }
        (None, Some(id)) => (format!("{prefix}{id}"), id.into_owned()),
        (None, None) => return Err(f.missing(Key::Id)),
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
        // `_else`: the message is formatted only when it is needed, not for every line.
        .ok_or_else(|| NormalizeError::BadField {
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
fn content_state(f: &Fields<'_, '_>, text: &str) -> Result<ContentState, NormalizeError> {
    Ok(match text {
        "[deleted]" => ContentState::Deleted,
        "[removed]" => ContentState::Removed,
        _ => match f.text(Key::RemovedByCategory)?.as_deref() {
            None | Some("") => ContentState::Present,
            Some("deleted" | "author") => ContentState::Deleted,
            Some(_) => ContentState::Removed,
        },
    })
}

/// `link_id`: `t3_abc` stays; a bare `abc` (seen in some third-party exports) gets its prefix.
fn post_fullname(value: Cow<'_, str>) -> Result<String, NormalizeError> {
    if value.starts_with("t3_") {
        Ok(value.into_owned())
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
fn decode_entities(text: Cow<'_, str>) -> String {
    match html_escape::decode_html_entities(&text) {
        Cow::Borrowed(_) => text.into_owned(),
        Cow::Owned(decoded) => decoded,
    }
}
