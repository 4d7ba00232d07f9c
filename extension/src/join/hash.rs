//! The hash of the join's request-id maps. std's SipHash costs more than the rest of a lookup
//! on a 36-character id, and an invocation takes about a dozen lookups; this one is a
//! multiply-rotate over 8-byte words (as rustc's FxHash), seeded per map from std's
//! `RandomState` so that no set of ids collides on every environment. The maps are bounded
//! (1,024 pending, 4,096 remembered), and only Lambda delivers to the listener.

use std::hash::{BuildHasher, Hasher, RandomState};

const K: u64 = 0xf135_7aea_2e62_a9c5;

#[derive(Debug, Clone)]
pub(super) struct IdHash {
    seed: u64,
}

impl Default for IdHash {
    fn default() -> Self {
        Self {
            seed: RandomState::new().hash_one(0u64),
        }
    }
}

impl BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher(self.seed)
    }
}

#[derive(Debug)]
pub(super) struct IdHasher(u64);

impl IdHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.add(u64::from_le_bytes(word.try_into().unwrap_or([0; 8])));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            if let Some(head) = last.get_mut(..rest.len()) {
                head.copy_from_slice(rest);
            }
            self.add(u64::from_le_bytes(last) ^ (rest.len() as u64) << 56);
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        // The multiply leaves its best bits at the top; the map takes its tag from the top 7
        // bits and its bucket from the bottom ones.
        self.0.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_spread_over_the_buckets() {
        let hash = IdHash::default();
        // Ids that differ in one character, in every position, and in length.
        let base = "6d68ca91-0c5e-4bd7-9a5e-3b9f27c2a1d0";
        let mut ids: Vec<String> = (0..base.len())
            .flat_map(|i| {
                "0123456789abcdef".chars().map(move |c| {
                    let mut s = base.to_owned();
                    s.replace_range(i..=i, &c.to_string());
                    s
                })
            })
            .collect();
        ids.extend((0..64).map(|n| base.get(..n % base.len()).unwrap_or_default().to_owned()));
        ids.sort_unstable();
        ids.dedup();
        let low_bits: HashSet<u64> = ids.iter().map(|id| hash.hash_one(id) & 1023).collect();
        // 600 ids into 1,024 buckets: a good hash fills about 450 of them.
        assert!(
            low_bits.len() > ids.len() / 2,
            "{} of {} ids in distinct buckets",
            low_bits.len(),
            ids.len()
        );
        let tags: HashSet<u64> = ids.iter().map(|id| hash.hash_one(id) >> 57).collect();
        assert!(tags.len() > 100, "{} distinct tags", tags.len());
    }

    #[test]
    fn equal_ids_hash_alike_and_seeds_differ() {
        let (a, b) = (IdHash::default(), IdHash::default());
        assert_eq!(a.hash_one("r1"), a.hash_one(String::from("r1")));
        assert_ne!(a.hash_one("r1"), b.hash_one("r1"), "each map has its own seed");
    }
}
