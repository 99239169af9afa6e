//! Tells a comment from a post, and both from the other things Reddit and the dumps contain
//! (subreddits, accounts, messages, `more` stubs, Listings).

use serde_json::{Map, Value};

use super::object::{Field, Key, Object, Shape};
use super::NormalizeError;
use crate::item::ItemKind;

/// Finds the item object in what a line or value held, and its kind. `keys` lists the keys of
/// the outermost object for the one message that shows them, and is only called for it: a line
/// has no key list until it is parsed again.
///
/// A `{"kind": ..., "data": {...}}` thing is decided by its `kind`. A bare object is decided by
/// the prefix of its `name` when it has one (dump lines before ~2012 have none), else by its
/// fields: `body` or `link_id` make a comment, `title` a post.
pub(super) fn detect<'p, 'a>(
    shape: Shape,
    object: &'p Object<'a>,
    keys: impl FnOnce() -> String,
) -> Result<(ItemKind, &'p Object<'a>), NormalizeError> {
    if let Shape::NotAnObject(found) = shape {
        return Err(NormalizeError::NotAnObject { found });
    }

    if let (Some(Field::Str(kind)), Some(data)) = (object.raw(Key::Kind), object.data.as_deref()) {
        return match kind.as_ref() {
            "t1" => reject_non_items(data).map(|()| (ItemKind::Comment, data)),
            "t3" => reject_non_items(data).map(|()| (ItemKind::Post, data)),
            "more" => Err(more_stub(data)),
            "Listing" => Err(not_an_item(
                "a Listing; put each of its `data.children` on a line of its own".into(),
            )),
            other => Err(not_an_item(format!(
                "{} (kind `{other}`)",
                prefix_meaning(other)
            ))),
        };
    }

    detect_bare(object, keys).map(|kind| (kind, object))
}

/// Things that look like items by name or kind but are not: `more` stubs and inbox messages.
fn reject_non_items(object: &Object<'_>) -> Result<(), NormalizeError> {
    if is_more_stub(object) {
        return Err(more_stub(object));
    }
    // Inbox copies of comments carry a t1_ name (and kind) but are messages, without score or
    // link.
    if let Some(marker) = [Key::Dest, Key::WasComment, Key::FirstMessageName]
        .into_iter()
        .find(|key| object.contains(*key))
    {
        return Err(not_an_item(format!(
            "an inbox message (it has `{}`); replay the comment itself instead",
            marker.name()
        )));
    }
    Ok(())
}

fn detect_bare(
    object: &Object<'_>,
    keys: impl FnOnce() -> String,
) -> Result<ItemKind, NormalizeError> {
    reject_non_items(object)?;

    if let Some(Field::Str(name)) = object.raw(Key::Name) {
        if let Some((prefix, _)) = name.split_once('_') {
            match prefix {
                "t1" => return Ok(ItemKind::Comment),
                "t3" => return Ok(ItemKind::Post),
                "t2" | "t4" | "t5" | "t6" => {
                    return Err(not_an_item(format!(
                        "{} (name `{name}`)",
                        prefix_meaning(prefix)
                    )))
                }
                _ => {}
            }
        }
    }

    if object.contains(Key::Body) || object.contains(Key::LinkId) {
        Ok(ItemKind::Comment)
    } else if object.contains(Key::DisplayName) && object.contains(Key::Subscribers) {
        Err(not_an_item(
            "a subreddit (it has `display_name` and `subscribers`)".into(),
        ))
    } else if object.contains(Key::Title) {
        Ok(ItemKind::Post)
    } else {
        Err(not_an_item(format!(
            "an object with neither `body`/`link_id` (comment) nor `title` (post); its keys: {}",
            keys()
        )))
    }
}

/// `more` stubs stand for unloaded comments: a `t1_` name, `children` ids and a `count`.
fn is_more_stub(object: &Object<'_>) -> bool {
    object
        .raw(Key::Children)
        .and_then(Field::as_nested)
        .is_some_and(Value::is_array)
        && object.contains(Key::Count)
        && !object.contains(Key::Body)
}

fn more_stub(data: &Object<'_>) -> NormalizeError {
    let children = data
        .raw(Key::Children)
        .and_then(Field::as_nested)
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    not_an_item(format!(
        "a `more` stub (a placeholder for {children} unloaded comments), not a comment"
    ))
}

fn not_an_item(what: String) -> NormalizeError {
    NormalizeError::NotAnItem { what }
}

fn prefix_meaning(prefix: &str) -> &'static str {
    match prefix {
        "t2" => "an account",
        "t4" => "a private message",
        "t5" => "a subreddit",
        "t6" => "an award or trophy",
        "LiveUpdate" | "LiveUpdateEvent" => "a live thread update",
        "modaction" => "a moderator log entry",
        _ => "a thing that is neither a comment (t1) nor a post (t3)",
    }
}

/// The first keys of an object in the order a `Value` map keeps them, for error messages.
pub(super) fn some_keys(object: &Map<String, Value>) -> String {
    const SHOWN: usize = 8;
    let mut keys: Vec<&str> = object.keys().take(SHOWN).map(String::as_str).collect();
    if object.len() > SHOWN {
        keys.push("…");
    }
    if keys.is_empty() {
        "none".into()
    } else {
        keys.join(", ")
    }
}

pub(super) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
