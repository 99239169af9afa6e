//! The content hash: what makes two snapshots of an item "the same".

use redstream_schemas::{Codec, CodecError, Item};

/// Hashes everything an item says, leaving out when it was seen (`retrieved_utc`, `version`):
/// xxh3-64 of the Avro datum with both fields zeroed. `buf` is reused between calls so that
/// hashing allocates nothing once it has grown to the largest item.
pub fn content_hash(codec: &Codec, item: &mut Item, buf: &mut Vec<u8>) -> Result<u64, CodecError> {
    let (retrieved_utc, version) = snapshot(item);
    item.set_snapshot(0, 0);
    buf.clear();
    let encoded = codec.encode_item_datum(item, buf);
    item.set_snapshot(retrieved_utc, version);
    encoded?;
    Ok(xxhash_rust::xxh3::xxh3_64(buf))
}

fn snapshot(item: &Item) -> (i64, i64) {
    match item {
        Item::Post(p) => (p.retrieved_utc, p.version),
        Item::Comment(c) => (c.retrieved_utc, c.version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_items::comment;
    use redstream_schemas::ContentState;

    #[test]
    fn snapshot_fields_do_not_count() {
        let codec = Codec::new().expect("schemas parse");
        let mut buf = Vec::new();
        let mut a = Item::Comment(comment("t1_abc", "hello", 5));
        let mut b = a.clone();
        b.set_snapshot(1_700_000_000, 1_700_000_000_000_042);

        let ha = content_hash(&codec, &mut a, &mut buf).expect("hashes");
        let hb = content_hash(&codec, &mut b, &mut buf).expect("hashes");
        assert_eq!(ha, hb);
        // The item is handed back as it was.
        assert_eq!(b.version(), 1_700_000_000_000_042);
    }

    #[test]
    fn every_real_change_counts() {
        let codec = Codec::new().expect("schemas parse");
        let mut buf = Vec::new();
        let base = comment("t1_abc", "hello", 5);
        let hash = |c: &redstream_schemas::RawComment, buf: &mut Vec<u8>| {
            content_hash(&codec, &mut Item::Comment(c.clone()), buf).expect("hashes")
        };
        let h0 = hash(&base, &mut buf);

        let mut edited = base.clone();
        edited.body = "hello, edited".into();
        edited.edited_utc = Some(1_600_000_100);
        let mut rescored = base.clone();
        rescored.score = 6;
        let mut deleted = base.clone();
        deleted.body = "[deleted]".into();
        deleted.author = None;
        deleted.state = ContentState::Deleted;

        for changed in [&edited, &rescored, &deleted] {
            assert_ne!(hash(changed, &mut buf), h0, "{changed:?}");
        }
    }
}
