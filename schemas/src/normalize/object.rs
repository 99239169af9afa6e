//! The fields of one item object that normalization reads, borrowed from the line.
//!
//! Replay normalizes every dump line, and parsing each into a `serde_json::Value` (a map of
//! every field, every string allocated) cost several times the parsing itself. A line is
//! therefore deserialized straight into an [`Object`]: a slot per field that normalization
//! reads, strings borrowed from the line (owned only when they hold escapes), and every other
//! field skipped without allocating. API objects that are already a `Value` are viewed through
//! the same [`Object`], so both paths share one normalization.
//!
//! The line parser accepts exactly what `serde_json::from_slice::<Value>` accepts and fails
//! with the same error at the same position: every value, skipped ones too, goes through the
//! same `deserialize_any` calls a `Value` would (strings are checked for UTF-8 and escapes,
//! numbers for range, nesting against the depth limit). serde_json's own `IgnoredAny` skips
//! faster but checks less, so a line it accepts could be one that the `Value` parse rejected.
//! Repeated keys keep their last value, as a `Value` map does.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

use super::detect::json_type;

macro_rules! keys {
    ($($key:ident = $name:literal,)*) => {
        /// The fields normalization reads (or looks for to tell what a line is).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(super) enum Key {
            $($key,)*
        }

        impl Key {
            const NAMES: [&'static str; Key::COUNT] = [$($name,)*];
            const COUNT: usize = [$($name,)*].len();

            /// The field's name in the JSON object, as error messages show it.
            pub(super) fn name(self) -> &'static str {
                Key::NAMES[self as usize]
            }

            /// The key of that name, if normalization reads it. Every key of every line comes
            /// through here. A `match` compares with constants, which compiles to a length test
            /// and a few loads per name; a hash table was tried and profiled slower.
            fn of_name(name: &str) -> Option<Key> {
                match name {
                    $($name => Some(Key::$key),)*
                    _ => None,
                }
            }
        }
    };
}

keys! {
    // What every item has.
    Id = "id",
    Name = "name",
    Subreddit = "subreddit",
    SubredditId = "subreddit_id",
    Author = "author",
    AuthorFullname = "author_fullname",
    Score = "score",
    Ups = "ups",
    Distinguished = "distinguished",
    Stickied = "stickied",
    CreatedUtc = "created_utc",
    Edited = "edited",
    RetrievedOn = "retrieved_on",
    RetrievedUtc = "retrieved_utc",
    RemovedByCategory = "removed_by_category",
    // Comments.
    Body = "body",
    LinkId = "link_id",
    ParentId = "parent_id",
    IsSubmitter = "is_submitter",
    Controversiality = "controversiality",
    // Posts.
    Title = "title",
    Selftext = "selftext",
    Url = "url",
    Domain = "domain",
    Permalink = "permalink",
    IsSelf = "is_self",
    Over18 = "over_18",
    LinkFlairText = "link_flair_text",
    NumComments = "num_comments",
    UpvoteRatio = "upvote_ratio",
    CrosspostParent = "crosspost_parent",
    // Only looked for, to tell items from the other things a line can hold.
    Kind = "kind",
    Dest = "dest",
    WasComment = "was_comment",
    FirstMessageName = "first_message_name",
    Children = "children",
    Count = "count",
    DisplayName = "display_name",
    Subscribers = "subscribers",
}

/// The name of the object inside a `{"kind": ..., "data": {...}}` thing.
const DATA: &str = "data";

/// Where a key's value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Known(Key),
    Data,
    Other,
}

impl Slot {
    fn of(name: &str) -> Slot {
        match Key::of_name(name) {
            Some(key) => Slot::Known(key),
            None if name == DATA => Slot::Data,
            None => Slot::Other,
        }
    }
}

/// One field's value. Strings and numbers, which is what items are made of, are held without
/// a `Value`; arrays and objects (only `children` of `more` stubs, or odd lines) as a `Value`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Field<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    Nested(Cow<'a, Value>),
}

impl<'a> Field<'a> {
    fn of_value(value: &'a Value) -> Self {
        match value {
            Value::Null => Field::Null,
            Value::Bool(b) => Field::Bool(*b),
            Value::Number(n) => Field::Number(n.clone()),
            Value::String(s) => Field::Str(Cow::Borrowed(s)),
            Value::Array(_) | Value::Object(_) => Field::Nested(Cow::Borrowed(value)),
        }
    }

    /// The field as the `Value` it would have been, for error messages.
    pub(super) fn to_value(&self) -> Value {
        match self {
            Field::Null => Value::Null,
            Field::Bool(b) => Value::Bool(*b),
            Field::Number(n) => Value::Number(n.clone()),
            Field::Str(s) => Value::String(s.to_string()),
            Field::Nested(v) => v.as_ref().clone(),
        }
    }

    pub(super) fn as_nested(&self) -> Option<&Value> {
        match self {
            Field::Nested(v) => Some(v),
            _ => None,
        }
    }
}

/// The fields of one JSON object that normalization looks at. A field that is absent has no
/// slot value; one that is `null` is [`Field::Null`] (detection tells the two apart).
#[derive(Debug, Clone)]
pub(super) struct Object<'a> {
    slots: [Option<Field<'a>>; Key::COUNT],
    /// `data` when it is an object. Only read on the outermost object, where a
    /// `{kind, data}` thing keeps its item; nested objects leave it out.
    pub(super) data: Option<Box<Object<'a>>>,
}

impl<'a> Object<'a> {
    pub(super) fn empty() -> Self {
        Self {
            slots: [const { None }; Key::COUNT],
            data: None,
        }
    }

    /// The field as it appears, `null` included.
    pub(super) fn raw(&self, key: Key) -> Option<&Field<'a>> {
        self.slots[key as usize].as_ref()
    }

    pub(super) fn contains(&self, key: Key) -> bool {
        self.raw(key).is_some()
    }

    fn of_map(map: &'a Map<String, Value>, outermost: bool) -> Self {
        let mut object = Self::empty();
        for (name, value) in map {
            match Slot::of(name) {
                Slot::Known(key) => object.slots[key as usize] = Some(Field::of_value(value)),
                Slot::Data if outermost => {
                    object.data = value
                        .as_object()
                        .map(|data| Box::new(Self::of_map(data, false)));
                }
                Slot::Data | Slot::Other => {}
            }
        }
        object
    }
}

/// What a line or value turned out to hold: an object (its fields are in the [`Object`]), or
/// something else, named by its JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Object,
    NotAnObject(&'static str),
}

impl<'a> Object<'a> {
    /// Views a parsed value; borrows its strings.
    pub(super) fn of_value(value: &'a Value) -> (Shape, Self) {
        match value {
            Value::Object(map) => (Shape::Object, Self::of_map(map, true)),
            other => (Shape::NotAnObject(json_type(other)), Self::empty()),
        }
    }

    /// Parses one line into this object, which must be [`Object::empty`], with the same checks
    /// and errors as `from_slice::<Value>`.
    ///
    /// The object is filled where it stands rather than returned: it is over a kilobyte, and
    /// moving it from frame to frame showed in profiles.
    pub(super) fn read_line(&mut self, line: &'a [u8]) -> Result<Shape, serde_json::Error> {
        match std::str::from_utf8(line) {
            // Checking UTF-8 once for the line is cheaper than string by string.
            Ok(text) => self.read(serde_json::Deserializer::from_str(text)),
            // Fails either way; the byte reader says where, as `from_slice::<Value>` does.
            Err(_) => self.read(serde_json::Deserializer::from_slice(line)),
        }
    }

    fn read<R: serde_json::de::Read<'a>>(
        &mut self,
        mut de: serde_json::Deserializer<R>,
    ) -> Result<Shape, serde_json::Error> {
        let shape = ObjectSeed {
            object: self,
            outermost: true,
        }
        .deserialize(&mut de)?;
        de.end()?;
        Ok(shape)
    }
}

/// Deserializes whatever comes: an object into `object`, anything else into its type.
struct ObjectSeed<'o, 'a> {
    object: &'o mut Object<'a>,
    outermost: bool,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, 'de> {
    type Value = Shape;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_, 'de> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Shape::NotAnObject("null"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Shape::NotAnObject("boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Shape::NotAnObject("number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Shape::NotAnObject("number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Shape::NotAnObject("number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Shape::NotAnObject("string"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Skip.visit_seq(seq)?;
        Ok(Shape::NotAnObject("array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let object = self.object;
        while let Some(slot) = map.next_key_seed(SlotSeed)? {
            match slot {
                Slot::Known(key) => {
                    object.slots[key as usize] = Some(map.next_value_seed(FieldSeed)?);
                }
                Slot::Data if self.outermost => {
                    // A fresh object each time: a repeated `data` replaces, as in a map.
                    let mut data = Box::new(Object::empty());
                    let seed = ObjectSeed {
                        object: &mut data,
                        outermost: false,
                    };
                    object.data = match map.next_value_seed(seed)? {
                        Shape::Object => Some(data),
                        Shape::NotAnObject(_) => None,
                    };
                }
                Slot::Data | Slot::Other => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Shape::Object)
    }
}

struct SlotSeed;

impl<'de> DeserializeSeed<'de> for SlotSeed {
    type Value = Slot;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        // `deserialize_str`, like the `Value` map's own key reader.
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for SlotSeed {
    type Value = Slot;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
        Ok(Slot::of(name))
    }
}

struct FieldSeed;

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Field<'de>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Field::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(Field::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Field::Number(n.into()))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Self::Value, E> {
        // As `Value` does: JSON has no NaN or infinity, so this is always a number.
        Ok(Number::from_f64(f).map_or(Field::Null, Field::Number))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(s)))
    }

    /// A string with escapes, unescaped into serde_json's scratch space: it must be copied.
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let value = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Field::Nested(Cow::Owned(value)))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let value = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Field::Nested(Cow::Owned(value)))
    }
}

/// A value that is read through and dropped. Unlike `IgnoredAny` it is parsed the way a
/// `Value` would be (see the module docs), only nothing is kept.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Skip)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Skip)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Skip)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Skip)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Skip)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Skip)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_key_seed(KeySkip)?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Skip)
    }
}

/// An object key that is read through and dropped.
struct KeySkip;

impl<'de> DeserializeSeed<'de> for KeySkip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_str(Skip).map(|_| ())
    }
}
