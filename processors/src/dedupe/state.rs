//! The dedupe decision and the per-partition state it is made against.
//!
//! The state of one partition maps the xxh3-64 hash of a fullname to what was last passed on
//! for it: the content hash and the version. An entry is fixed-size (8-byte key + 16-byte
//! [`Seen`] = 24 bytes, plus one control byte per bucket in hashbrown's table), so memory
//! depends only on the number of distinct items, never on their text.
//!
//! **Memory per tracked item**: hashbrown keeps bucket counts at powers of two and fills them
//! to at most 7/8, so one item costs `25 bytes × buckets / items`: 28.6 bytes just before the
//! table grows, 57 bytes just after, about 40 bytes on average. Measured by
//! `tests::memory_per_item_stays_within_bounds`: 52.4 bytes/item at 1,000,000 items (2^21
//! buckets) and 28.6 bytes/item at 1,835,008 items (the same table, full). So 10 million
//! tracked items take 290–570 MB, split across the partitions a process owns.
//!
//! Two fullnames whose 64-bit hashes collide would share an entry; at 100 million items the
//! chance that any pair collides is about 3 in 10,000, and the cost is one change seen as a
//! duplicate (or a duplicate seen as a change) for those two items.

use std::hash::{BuildHasherDefault, Hasher};

use hashbrown::HashMap;

/// Keys are already xxh3-64 hashes: hashing them again would only cost time.
#[derive(Default, Clone, Copy)]
pub struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for keys that are not a single u64, which this map never has.
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Map = HashMap<u64, Seen, BuildHasherDefault<PassThroughHasher>>;

/// What was last passed on for one fullname.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub content_hash: u64,
    pub version: i64,
}

impl Seen {
    /// Size of the changelog value: content hash, then version, both little-endian.
    pub const ENCODED_LEN: usize = 16;

    pub fn to_bytes(self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..8].copy_from_slice(&self.content_hash.to_le_bytes());
        out[8..].copy_from_slice(&self.version.to_le_bytes());
        out
    }

    /// `None` when the value is not exactly 16 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; Self::ENCODED_LEN] = bytes.try_into().ok()?;
        let (hash, version) = bytes.split_at(8);
        Some(Self {
            content_hash: u64::from_le_bytes(hash.try_into().ok()?),
            version: i64::from_le_bytes(version.try_into().ok()?),
        })
    }
}

/// What to do with one observed item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// First time this fullname is seen: pass it on.
    New,
    /// Seen before with other content (edited, deleted, new score): pass it on.
    Update,
    /// Same content as the stored version: drop it.
    Duplicate,
    /// Older than the stored version: drop it, whatever it says.
    Stale,
}

impl Decision {
    pub fn passes(self) -> bool {
        matches!(self, Decision::New | Decision::Update)
    }

    /// The metric label and the `redstream.change` header value.
    pub fn label(self) -> &'static str {
        match self {
            Decision::New => "new",
            Decision::Update => "update",
            Decision::Duplicate => "duplicate",
            Decision::Stale => "stale",
        }
    }
}

/// Dedupe state of one input partition.
#[derive(Default)]
pub struct DedupeState {
    map: Map,
}

impl DedupeState {
    /// Decides about one item and, when it passes, makes it the stored state. An item older
    /// than the stored one is stale even when its content differs: versions order snapshots,
    /// and the sinks would refuse it anyway. An equal version with other content passes (the
    /// same snapshot cannot say two things, so the later message wins).
    pub fn observe(&mut self, key_hash: u64, content_hash: u64, version: i64) -> Decision {
        let seen = Seen {
            content_hash,
            version,
        };
        match self.map.get_mut(&key_hash) {
            None => {
                self.map.insert(key_hash, seen);
                Decision::New
            }
            Some(stored) if version < stored.version => Decision::Stale,
            Some(stored) if content_hash == stored.content_hash => Decision::Duplicate,
            Some(stored) => {
                *stored = seen;
                Decision::Update
            }
        }
    }

    /// Replays one changelog record: the latest record of a key wins, as it did when written.
    pub fn restore(&mut self, key_hash: u64, seen: Seen) {
        self.map.insert(key_hash, seen);
    }

    /// Replays a changelog tombstone.
    pub fn forget(&mut self, key_hash: u64) {
        self.map.remove(&key_hash);
    }

    pub fn get(&self, key_hash: u64) -> Option<Seen> {
        self.map.get(&key_hash).copied()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes the table holds on the heap.
    pub fn allocated_bytes(&self) -> usize {
        self.map.allocation_size()
    }
}

/// The state key of a fullname (a message key or an item's `fullname`).
pub fn key_hash(fullname: impl AsRef<[u8]>) -> u64 {
    xxhash_rust::xxh3::xxh3_64(fullname.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sighting_is_new_and_exact_repeat_is_duplicate() {
        let mut state = DedupeState::default();
        assert_eq!(state.observe(1, 100, 10), Decision::New);
        assert_eq!(state.observe(1, 100, 10), Decision::Duplicate);
        // A later snapshot that says the same thing is still a duplicate.
        assert_eq!(state.observe(1, 100, 20), Decision::Duplicate);
        assert_eq!(state.get(1).map(|s| s.version), Some(10));
    }

    #[test]
    fn a_change_passes_and_becomes_the_state() {
        let mut state = DedupeState::default();
        state.observe(7, 100, 10);
        assert_eq!(state.observe(7, 101, 11), Decision::Update);
        assert_eq!(
            state.get(7),
            Some(Seen {
                content_hash: 101,
                version: 11
            })
        );
        // Reverting to the earlier text is a change too.
        assert_eq!(state.observe(7, 100, 12), Decision::Update);
    }

    #[test]
    fn older_versions_are_stale_whatever_they_say() {
        let mut state = DedupeState::default();
        state.observe(7, 100, 10);
        assert_eq!(state.observe(7, 999, 9), Decision::Stale);
        assert_eq!(state.observe(7, 100, 9), Decision::Stale);
        assert_eq!(state.get(7).map(|s| s.content_hash), Some(100));
    }

    #[test]
    fn same_version_with_other_content_passes() {
        let mut state = DedupeState::default();
        state.observe(7, 100, 10);
        assert_eq!(state.observe(7, 101, 10), Decision::Update);
    }

    #[test]
    fn keys_do_not_interfere() {
        let mut state = DedupeState::default();
        assert_eq!(state.observe(key_hash("t1_a"), 1, 1), Decision::New);
        assert_eq!(state.observe(key_hash("t1_b"), 1, 1), Decision::New);
        assert_eq!(state.observe(key_hash("t3_a"), 1, 1), Decision::New);
        assert_eq!(state.len(), 3);
    }

    #[test]
    fn restored_state_decides_like_the_original() {
        let mut original = DedupeState::default();
        let mut log = Vec::new();
        for (key, content, version) in [(1, 10, 1), (2, 20, 1), (1, 11, 2), (3, 30, 5)] {
            if original.observe(key, content, version).passes() {
                log.push((
                    key,
                    Seen {
                        content_hash: content,
                        version,
                    }
                    .to_bytes(),
                ));
            }
        }

        let mut restored = DedupeState::default();
        for (key, bytes) in &log {
            restored.restore(*key, Seen::from_bytes(bytes).expect("16 bytes"));
        }
        for (key, content, version) in [(1, 11, 2), (1, 10, 1), (2, 20, 3), (3, 31, 6)] {
            assert_eq!(
                restored.observe(key, content, version),
                original.observe(key, content, version)
            );
        }
        restored.forget(2);
        assert_eq!(restored.observe(2, 20, 3), Decision::New);
    }

    #[test]
    fn changelog_value_is_16_little_endian_bytes() {
        let seen = Seen {
            content_hash: 0x0102_0304_0506_0708,
            version: -2,
        };
        let bytes = seen.to_bytes();
        assert_eq!(&bytes[..8], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&bytes[8..], &(-2i64).to_le_bytes());
        assert_eq!(Seen::from_bytes(&bytes), Some(seen));
        assert_eq!(Seen::from_bytes(&bytes[..15]), None);
    }

    /// The number quoted in the module doc: heap bytes per tracked item.
    #[test]
    fn memory_per_item_stays_within_bounds() {
        assert_eq!(std::mem::size_of::<(u64, Seen)>(), 24);

        let mut state = DedupeState::default();
        let mut measured = Vec::new();
        for i in 0..1_835_008u64 {
            state.observe(key_hash(format!("t1_{i:x}")), i, i as i64);
            let n = i + 1;
            if n == 1_000_000 || n == 1_835_008 {
                measured.push(state.allocated_bytes() as f64 / n as f64);
            }
        }

        eprintln!("bytes per tracked item at 1,000,000 and 1,835,008 items: {measured:?}");
        // 2^21 buckets of 25 bytes (+ a group of trailing control bytes).
        assert!((52.0..53.0).contains(&measured[0]), "{measured:?}");
        assert!((28.5..29.0).contains(&measured[1]), "{measured:?}");
    }
}
