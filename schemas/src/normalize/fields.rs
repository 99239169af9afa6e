//! Lenient typed reads of one item object. Dumps of different eras store the same field as a
//! string, an int or a float, and leave out or null what they did not record; these readers
//! accept every such spelling and turn anything else into a [`NormalizeError::BadField`].

use std::borrow::Cow;

use serde_json::{Number, Value};

use super::detect::json_type;
use super::object::{Field, Key, Object};
use super::NormalizeError;

/// Seconds since the epoch above this are not seconds (milliseconds, most likely): year 5138.
const MAX_EPOCH_SECONDS: i64 = 100_000_000_000;

/// The object of one item, with the item's name for error messages.
pub(super) struct Fields<'o, 'a> {
    object: &'o Object<'a>,
    item: &'static str,
}

impl<'o, 'a> Fields<'o, 'a> {
    pub(super) fn new(object: &'o Object<'a>, item: &'static str) -> Self {
        Self { object, item }
    }

    /// The value of `key`, with `null` read as absent.
    fn get(&self, key: Key) -> Option<&'o Field<'a>> {
        self.object.raw(key).filter(|v| !matches!(v, Field::Null))
    }

    fn bad(&self, key: Key, value: &Field<'_>, expected: &'static str) -> NormalizeError {
        NormalizeError::BadField {
            item: self.item,
            field: key.name(),
            found: shorten(&value.to_value()),
            expected,
        }
    }

    pub(super) fn missing(&self, key: Key) -> NormalizeError {
        NormalizeError::MissingField {
            item: self.item,
            field: key.name(),
        }
    }

    /// A string field, borrowed from the line where it can be. Numbers are accepted and written
    /// out (ids like `87` in some exports).
    pub(super) fn text(&self, key: Key) -> Result<Option<Cow<'o, str>>, NormalizeError> {
        match self.get(key) {
            None => Ok(None),
            Some(Field::Str(s)) => Ok(Some(Cow::Borrowed(s))),
            Some(Field::Number(n)) => Ok(Some(Cow::Owned(n.to_string()))),
            Some(other) => Err(self.bad(key, other, "a string")),
        }
    }

    /// A string field, as the item stores it.
    pub(super) fn owned_text(&self, key: Key) -> Result<Option<String>, NormalizeError> {
        Ok(self.text(key)?.map(Cow::into_owned))
    }

    /// A string field that must be there and not be empty.
    pub(super) fn required_text(&self, key: Key) -> Result<Cow<'o, str>, NormalizeError> {
        self.text(key)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.missing(key))
    }

    /// A whole number, given as an int, a float or a numeric string.
    pub(super) fn int(&self, key: Key) -> Result<Option<i64>, NormalizeError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let parsed = match value {
            Field::Number(n) => number_to_i64(n),
            Field::Str(s) if s.trim().is_empty() => return Ok(None),
            Field::Str(s) => str_to_i64(s.trim()),
            _ => None,
        };
        parsed
            .map(Some)
            .ok_or_else(|| self.bad(key, value, "a whole number (int, float or numeric string)"))
    }

    /// A fraction such as `upvote_ratio`, given as a number or a numeric string.
    pub(super) fn float(&self, key: Key) -> Result<Option<f64>, NormalizeError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let parsed = match value {
            Field::Number(n) => n.as_f64(),
            Field::Str(s) if s.trim().is_empty() => return Ok(None),
            Field::Str(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        parsed
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| self.bad(key, value, "a number"))
    }

    /// A flag, given as a boolean, `0`/`1` or `"true"`/`"false"`.
    pub(super) fn flag(&self, key: Key) -> Result<Option<bool>, NormalizeError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let parsed = match value {
            Field::Bool(b) => Some(*b),
            Field::Number(n) => match n.as_i64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Field::Str(s) => match s.as_ref() {
                "true" | "True" | "1" => Some(true),
                "false" | "False" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        };
        parsed
            .map(Some)
            .ok_or_else(|| self.bad(key, value, "a boolean"))
    }

    /// Seconds since the epoch (int, float or numeric string; fractions are dropped).
    pub(super) fn epoch_seconds(&self, key: Key) -> Result<Option<i64>, NormalizeError> {
        let seconds = self.int(key).map_err(|e| self.as_timestamp_error(e))?;
        match seconds {
            Some(s) if !(0..MAX_EPOCH_SECONDS).contains(&s) => Err(self.bad(
                key,
                self.get(key).unwrap_or(&Field::Null),
                "seconds since the Unix epoch (a non-negative number below 1e11)",
            )),
            other => Ok(other),
        }
    }

    /// `edited`: `false` (never edited), `true` (edited, time unknown: old records) or the
    /// time of the last edit. Only a time can be stored, so `true` reads as unknown.
    pub(super) fn edited(&self, key: Key) -> Result<Option<i64>, NormalizeError> {
        match self.get(key) {
            None | Some(Field::Bool(_)) => Ok(None),
            Some(_) => Ok(self.epoch_seconds(key)?.filter(|s| *s > 0)),
        }
    }

    fn as_timestamp_error(&self, e: NormalizeError) -> NormalizeError {
        match e {
            NormalizeError::BadField {
                item, field, found, ..
            } => NormalizeError::BadField {
                item,
                field,
                found,
                expected: "seconds since the Unix epoch (int, float or numeric string)",
            },
            other => other,
        }
    }
}

fn number_to_i64(n: &Number) -> Option<i64> {
    n.as_i64().or_else(|| n.as_f64().and_then(f64_to_i64))
}

fn str_to_i64(s: &str) -> Option<i64> {
    s.parse::<i64>()
        .ok()
        .or_else(|| s.parse::<f64>().ok().and_then(f64_to_i64))
}

/// Truncates toward zero; rejects NaN, infinities and values outside i64.
fn f64_to_i64(f: f64) -> Option<i64> {
    const LIMIT: f64 = 9_223_372_036_854_775_807.0;
    (f.is_finite() && f.abs() < LIMIT).then_some(f.trunc() as i64)
}

/// The value as compact JSON, cut to a length that fits a log line and a Kafka header.
fn shorten(value: &Value) -> String {
    const MAX: usize = 80;
    let json = value.to_string();
    let kind = json_type(value);
    if json.chars().count() <= MAX {
        format!("{kind} {json}")
    } else {
        let cut: String = json.chars().take(MAX).collect();
        format!("{kind} {cut}…")
    }
}
