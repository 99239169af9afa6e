//! Tells a comment from a post, and both from the other things Reddit and the dumps contain
//! (subreddits, accounts, messages, `more` stubs, Listings).

use serde_json::{Map, Value};

use super::NormalizeError;
use crate::item::ItemKind;

type Object = Map<String, Value>;

/// Finds the item object in `value` and its kind.
///
/// A `{"kind": ..., "data": {...}}` thing is decided by its `kind`. A bare object is decided by
/// the prefix of its `name` when it has one (dump lines before ~2012 have none), else by its
/// fields: `body` or `link_id` make a comment, `title` a post.
pub(super) fn detect(value: &Value) -> Result<(ItemKind, &Object), NormalizeError> {
    let object = value.as_object().ok_or(NormalizeError::NotAnObject {
        found: json_type(value),
    })?;

    if let (Some(Value::String(kind)), Some(Value::Object(data))) =
        (object.get("kind"), object.get("data"))
    {
        return match kind.as_str() {
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

    detect_bare(object).map(|kind| (kind, object))
}

/// Things that look like items by name or kind but are not: `more` stubs and inbox messages.
fn reject_non_items(object: &Object) -> Result<(), NormalizeError> {
    if is_more_stub(object) {
        return Err(more_stub(object));
    }
    // Inbox copies of comments carry a t1_ name (and kind) but are messages, without score or
    // link.
    if let Some(marker) = ["dest", "was_comment", "first_message_name"]
        .into_iter()
        .find(|key| object.contains_key(*key))
    {
        return Err(not_an_item(format!(
            "an inbox message (it has `{marker}`); replay the comment itself instead"
        )));
    }
    Ok(())
}

fn detect_bare(object: &Object) -> Result<ItemKind, NormalizeError> {
    reject_non_items(object)?;

    if let Some(Value::String(name)) = object.get("name") {
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

    if object.contains_key("body") || object.contains_key("link_id") {
        Ok(ItemKind::Comment)
    } else if object.contains_key("display_name") && object.contains_key("subscribers") {
        Err(not_an_item(
            "a subreddit (it has `display_name` and `subscribers`)".into(),
        ))
    } else if object.contains_key("title") {
        Ok(ItemKind::Post)
    } else {
        Err(not_an_item(format!(
            "an object with neither `body`/`link_id` (comment) nor `title` (post); its keys: {}",
            some_keys(object)
        )))
    }
}

/// `more` stubs stand for unloaded comments: a `t1_` name, `children` ids and a `count`.
fn is_more_stub(object: &Object) -> bool {
    object.get("children").is_some_and(Value::is_array)
        && object.contains_key("count")
        && !object.contains_key("body")
}

fn more_stub(data: &Object) -> NormalizeError {
    let children = data
        .get("children")
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

fn some_keys(object: &Object) -> String {
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
