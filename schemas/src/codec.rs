//! Avro single-object encoding of items, with the writer schema told by its fingerprint.

use serde_avro_fast::ser::SerializerConfig;
use serde_avro_fast::Schema;

use crate::item::{EnrichedComment, EnrichedItem, EnrichedPost, Item, RawComment, RawPost};

pub const RAW_POST_AVSC: &str = include_str!("../avro/raw_post.avsc");
pub const RAW_COMMENT_AVSC: &str = include_str!("../avro/raw_comment.avsc");
pub const ENRICHED_POST_AVSC: &str = include_str!("../avro/enriched_post.avsc");
pub const ENRICHED_COMMENT_AVSC: &str = include_str!("../avro/enriched_comment.avsc");

/// The two bytes that open every single-object encoded message.
const MAGIC: [u8; 2] = [0xC3, 0x01];

/// Why a message could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("message is {len} bytes, shorter than the 10-byte Avro single-object header")]
    TooShort { len: usize },
    #[error(
        "message does not start with the Avro single-object marker C3 01 (starts with {0:02X?})"
    )]
    NotSingleObject([u8; 2]),
    #[error("message was written with an unknown schema (fingerprint {fingerprint}); known: raw_post, raw_comment, enriched_post, enriched_comment")]
    UnknownSchema { fingerprint: String },
    #[error("corrupt {schema} datum: {source}")]
    Corrupt {
        schema: &'static str,
        #[source]
        source: serde_avro_fast::de::DeError,
    },
    #[error("cannot encode {schema}: {source}")]
    Encode {
        schema: &'static str,
        #[source]
        source: serde_avro_fast::ser::SerError,
    },
    #[error("bundled schema {name} does not parse: {message}")]
    BadSchema { name: &'static str, message: String },
}

/// What a message turned out to hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    Raw(Item),
    Enriched(EnrichedItem),
}

/// The four parsed schemas. Parse once per process and share: parsing is not free.
pub struct Codec {
    raw_post: Schema,
    raw_comment: Schema,
    enriched_post: Schema,
    enriched_comment: Schema,
}

fn parse(name: &'static str, json: &str) -> Result<Schema, CodecError> {
    json.parse().map_err(
        |e: serde_avro_fast::schema::SchemaError| CodecError::BadSchema {
            name,
            message: e.to_string(),
        },
    )
}

impl Codec {
    pub fn new() -> Result<Self, CodecError> {
        Ok(Self {
            raw_post: parse("raw_post", RAW_POST_AVSC)?,
            raw_comment: parse("raw_comment", RAW_COMMENT_AVSC)?,
            enriched_post: parse("enriched_post", ENRICHED_POST_AVSC)?,
            enriched_comment: parse("enriched_comment", ENRICHED_COMMENT_AVSC)?,
        })
    }

    /// Appends the single-object encoding of a raw item to `out`.
    pub fn encode_item(&self, item: &Item, out: &mut Vec<u8>) -> Result<(), CodecError> {
        match item {
            Item::Post(p) => encode(&self.raw_post, "raw_post", p, out),
            Item::Comment(c) => encode(&self.raw_comment, "raw_comment", c, out),
        }
    }

    /// Appends the single-object encoding of an enriched item to `out`.
    pub fn encode_enriched(
        &self,
        item: &EnrichedItem,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        match item {
            EnrichedItem::Post(p) => encode(&self.enriched_post, "enriched_post", p, out),
            EnrichedItem::Comment(c) => encode(&self.enriched_comment, "enriched_comment", c, out),
        }
    }

    /// Appends only the Avro datum of a raw item (no header): used to hash content.
    pub fn encode_item_datum(&self, item: &Item, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let result = match item {
            Item::Post(p) => {
                serde_avro_fast::to_datum(p, &mut *out, &mut SerializerConfig::new(&self.raw_post))
                    .map_err(|source| CodecError::Encode {
                        schema: "raw_post",
                        source,
                    })
            }
            Item::Comment(c) => serde_avro_fast::to_datum(
                c,
                &mut *out,
                &mut SerializerConfig::new(&self.raw_comment),
            )
            .map_err(|source| CodecError::Encode {
                schema: "raw_comment",
                source,
            }),
        };
        result.map(|_| ())
    }

    /// Decodes any message written by a redstream stage.
    pub fn decode(&self, bytes: &[u8]) -> Result<Decoded, CodecError> {
        if bytes.len() < 10 {
            return Err(CodecError::TooShort { len: bytes.len() });
        }
        if bytes[..2] != MAGIC {
            return Err(CodecError::NotSingleObject([bytes[0], bytes[1]]));
        }
        let fingerprint = &bytes[2..10];
        let datum = &bytes[10..];

        if fingerprint == self.raw_post.rabin_fingerprint() {
            decode::<RawPost>(&self.raw_post, "raw_post", datum)
                .map(|p| Decoded::Raw(Item::Post(p)))
        } else if fingerprint == self.raw_comment.rabin_fingerprint() {
            decode::<RawComment>(&self.raw_comment, "raw_comment", datum)
                .map(|c| Decoded::Raw(Item::Comment(c)))
        } else if fingerprint == self.enriched_post.rabin_fingerprint() {
            decode::<EnrichedPost>(&self.enriched_post, "enriched_post", datum)
                .map(|p| Decoded::Enriched(EnrichedItem::Post(p)))
        } else if fingerprint == self.enriched_comment.rabin_fingerprint() {
            decode::<EnrichedComment>(&self.enriched_comment, "enriched_comment", datum)
                .map(|c| Decoded::Enriched(EnrichedItem::Comment(c)))
        } else {
            Err(CodecError::UnknownSchema {
                fingerprint: fingerprint.iter().map(|b| format!("{b:02x}")).collect(),
            })
        }
    }

    /// Decodes a message that must hold a raw item.
    pub fn decode_item(&self, bytes: &[u8]) -> Result<Item, CodecError> {
        match self.decode(bytes)? {
            Decoded::Raw(item) => Ok(item),
            Decoded::Enriched(e) => Err(CodecError::UnknownSchema {
                fingerprint: format!(
                    "enriched {} where a raw item was expected",
                    e.kind().as_str()
                ),
            }),
        }
    }

    /// Decodes a message that must hold an enriched item.
    pub fn decode_enriched(&self, bytes: &[u8]) -> Result<EnrichedItem, CodecError> {
        match self.decode(bytes)? {
            Decoded::Enriched(item) => Ok(item),
            Decoded::Raw(r) => Err(CodecError::UnknownSchema {
                fingerprint: format!(
                    "raw {} where an enriched item was expected",
                    r.kind().as_str()
                ),
            }),
        }
    }
}

fn encode<T: serde::Serialize>(
    schema: &Schema,
    name: &'static str,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let mut config = SerializerConfig::new(schema);
    serde_avro_fast::to_single_object(value, &mut *out, &mut config)
        .map(|_| ())
        .map_err(|source| CodecError::Encode {
            schema: name,
            source,
        })
}

fn decode<'a, T: serde::Deserialize<'a>>(
    schema: &Schema,
    name: &'static str,
    datum: &'a [u8],
) -> Result<T, CodecError> {
    serde_avro_fast::from_datum_slice(datum, schema).map_err(|source| CodecError::Corrupt {
        schema: name,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{ContentState, Enrichment};

    fn comment() -> RawComment {
        RawComment {
            fullname: "t1_c13".into(),
            id: "c13".into(),
            subreddit: "reddit.com".into(),
            subreddit_id: Some("t5_6".into()),
            author: None,
            author_fullname: None,
            body: "[deleted]".into(),
            link_id: "t3_87".into(),
            parent_id: "t3_87".into(),
            is_submitter: None,
            controversiality: Some(0),
            score: -3,
            distinguished: None,
            stickied: false,
            created_utc: 1_134_365_188,
            edited_utc: None,
            state: ContentState::Deleted,
            retrieved_utc: 1_420_070_400,
            version: 1_420_070_400_000_007,
        }
    }

    #[test]
    fn raw_comment_round_trips_with_header() {
        let codec = Codec::new().expect("schemas parse");
        let item = Item::Comment(comment());
        let mut buf = Vec::new();
        codec.encode_item(&item, &mut buf).expect("encodes");

        assert_eq!(&buf[..2], &MAGIC);
        assert_eq!(codec.decode(&buf).expect("decodes"), Decoded::Raw(item));
    }

    #[test]
    fn enriched_comment_round_trips() {
        let codec = Codec::new().expect("schemas parse");
        let item = EnrichedItem::Comment(EnrichedComment {
            comment: comment(),
            enrichment: Enrichment {
                language: Some("eng".into()),
                language_confidence: 0.9,
                sentiment: -0.25,
                links: vec!["https://example.org/a".into()],
                domains: vec!["example.org".into()],
                text: "hello".into(),
                word_count: 1,
                created_at: 1_134_365_188_000,
            },
        });
        let mut buf = Vec::new();
        codec.encode_enriched(&item, &mut buf).expect("encodes");

        assert_eq!(codec.decode_enriched(&buf).expect("decodes"), item);
        assert!(matches!(
            codec.decode_item(&buf),
            Err(CodecError::UnknownSchema { .. })
        ));
    }

    #[test]
    fn rejects_garbage_with_a_reason() {
        let codec = Codec::new().expect("schemas parse");
        assert!(matches!(
            codec.decode(b"{}"),
            Err(CodecError::TooShort { len: 2 })
        ));
        assert!(matches!(
            codec.decode(b"{\"id\": \"abc\"}"),
            Err(CodecError::NotSingleObject(_))
        ));
        let unknown = [0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0];
        let err = codec.decode(&unknown).expect_err("unknown fingerprint");
        assert!(err.to_string().contains("0102030405060708"), "{err}");

        let mut buf = Vec::new();
        codec
            .encode_item(&Item::Comment(comment()), &mut buf)
            .expect("encodes");
        buf.truncate(20);
        assert!(matches!(
            codec.decode(&buf),
            Err(CodecError::Corrupt { .. })
        ));
    }

    /// The enriched schemas inline the raw records; they must not drift apart.
    #[test]
    fn enriched_schemas_embed_the_raw_ones() {
        let raw_post: serde_json::Value = serde_json::from_str(RAW_POST_AVSC).expect("json");
        let raw_comment: serde_json::Value = serde_json::from_str(RAW_COMMENT_AVSC).expect("json");
        let enrichment: serde_json::Value =
            serde_json::from_str(include_str!("../avro/enrichment.avsc")).expect("json");
        let ep: serde_json::Value = serde_json::from_str(ENRICHED_POST_AVSC).expect("json");
        let ec: serde_json::Value = serde_json::from_str(ENRICHED_COMMENT_AVSC).expect("json");

        assert_eq!(ep["fields"][0]["type"], raw_post);
        assert_eq!(ec["fields"][0]["type"], raw_comment);
        assert_eq!(ep["fields"][1]["type"], enrichment);
        assert_eq!(ec["fields"][1]["type"], enrichment);
    }
}
