//! Reading one input message: its key must be the fullname of the raw item it holds. What
//! fails here is a [`Rejection`], which the stage dead-letters with its kind and reason.

use rdkafka::message::{Message, OwnedMessage};
use redstream_common::{DeadLetter, DeadLetterSink, DeadLetterSource};
use redstream_schemas::{Codec, CodecError, Item};

/// Why a message cannot be handled, as the dead-letter headers say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Short class (`decode`, `unknown_schema`, `no_key`, `key_mismatch`, `encode`).
    pub kind: &'static str,
    pub reason: String,
}

impl Rejection {
    pub fn codec(err: &CodecError) -> Self {
        Self {
            kind: codec_kind(err),
            reason: err.to_string(),
        }
    }
}

/// The dead-letter class of a codec failure.
pub fn codec_kind(err: &CodecError) -> &'static str {
    match err {
        CodecError::UnknownSchema { .. } => "unknown_schema",
        CodecError::Encode { .. } | CodecError::BadSchema { .. } => "encode",
        CodecError::TooShort { .. }
        | CodecError::NotSingleObject(_)
        | CodecError::Corrupt { .. } => "decode",
    }
}

/// Decodes a message that must hold a raw item keyed by its own fullname. Partitioning and the
/// dedupe state both go by the key, so a key that is missing or names another item is refused
/// rather than guessed at.
pub fn decode_keyed(codec: &Codec, message: &OwnedMessage) -> Result<Item, Rejection> {
    let payload = message.payload().unwrap_or_default();
    let item = codec
        .decode_item(payload)
        .map_err(|e| Rejection::codec(&e))?;
    match message.key() {
        None => Err(Rejection {
            kind: "no_key",
            reason: format!(
                "message has no key; every record must be keyed by its fullname ({})",
                item.fullname()
            ),
        }),
        Some(key) if key != item.fullname().as_bytes() => Err(Rejection {
            kind: "key_mismatch",
            reason: format!(
                "message key {:?} is not the item's fullname {}",
                String::from_utf8_lossy(key),
                item.fullname()
            ),
        }),
        Some(_) => Ok(item),
    }
}

/// Sends one message to the stage's dead-letter topic, unchanged, and waits for Kafka to have
/// it (the batch is committed only afterwards).
pub async fn dead_letter(
    sink: &DeadLetterSink,
    message: &OwnedMessage,
    rejection: Rejection,
) -> anyhow::Result<()> {
    sink.send(DeadLetter {
        key: message.key(),
        payload: message.payload().unwrap_or_default(),
        kind: rejection.kind,
        reason: rejection.reason,
        source: DeadLetterSource::Kafka {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
        },
    })
    .await
}
