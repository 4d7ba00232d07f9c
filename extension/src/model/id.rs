//! A request id as the extension keeps it: its text without a heap copy (Lambda's ids are
//! 36-character UUIDs, held inline), and its join key, worked out once when the id is read.
//! An invocation's id passes through three events, the join's pending entry and its record;
//! each held a `String` of it, four allocations per invocation.

use std::fmt;
use std::hash::{DefaultHasher, Hasher};

use arrayvec::ArrayString;

/// The text of a UUID in its `8-4-4-4-12` form.
const UUID_LEN: usize = 36;

/// A request id: its text (inline up to a UUID's length, on the heap beyond) and its key.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RequestId {
    key: u128,
    text: Text,
}

#[derive(Clone, PartialEq, Eq)]
enum Text {
    Inline(ArrayString<UUID_LEN>),
    Heap(Box<str>),
}

impl RequestId {
    pub(crate) fn new(id: &str) -> Self {
        let text = ArrayString::from(id).map_or_else(|_| Text::Heap(id.into()), Text::Inline);
        Self { key: key(id), text }
    }

    /// What the join compares and hashes: a UUID's 128 bits (hex digits in any case); any
    /// other text, two 64-bit hashes of it under fixed keys, so two different ids share a key
    /// only by a 2^-128 chance.
    pub(crate) fn key(&self) -> u128 {
        self.key
    }

    pub(crate) fn as_str(&self) -> &str {
        match &self.text {
            Text::Inline(s) => s.as_str(),
            Text::Heap(s) => s,
        }
    }
}

impl From<&str> for RequestId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new("")
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for RequestId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

fn key(id: &str) -> u128 {
    uuid_bits(id).unwrap_or_else(|| {
        // Not Lambda's form (tests, other emulators): rare, so std's SipHash, twice under two
        // fixed seeds.
        let half = |seed: u64| {
            let mut h = DefaultHasher::new();
            h.write_u64(seed);
            h.write(id.as_bytes());
            u128::from(h.finish())
        };
        half(0x9e37_79b9_7f4a_7c15) << 64 | half(0xc2b2_ae3d_27d4_eb4f)
    })
}

/// The 128 bits of a UUID in its 36-character form (`8-4-4-4-12` hex digits, either case).
/// Runs for every event of every invocation: a table lookup per digit, each half of the bits
/// in a 64-bit word (a digit at a time through `char::to_digit` into a `u128` cost several
/// times the instructions).
fn uuid_bits(id: &str) -> Option<u128> {
    let b = id.as_bytes();
    if b.len() != UUID_LEN || [8, 13, 18, 23].iter().any(|&i| b.get(i) != Some(&b'-')) {
        return None;
    }
    let mut bad = 0u8;
    let mut digits = |range: std::ops::Range<usize>, value: u64| {
        b.get(range).unwrap_or_default().iter().fold(value, |v, &c| {
            let d = HEX.get(usize::from(c)).copied().unwrap_or(0xff);
            bad |= d;
            v << 4 | u64::from(d & 0x0f)
        })
    };
    let hi = digits(0..8, 0);
    let hi = digits(9..13, hi);
    let hi = digits(14..18, hi);
    let lo = digits(19..23, 0);
    let lo = digits(24..36, lo);
    (bad & 0xf0 == 0).then_some(u128::from(hi) << 64 | u128::from(lo))
}

/// Each byte's value as a hex digit, or 0xff.
#[allow(
    clippy::indexing_slicing,
    reason = "evaluated when the crate is built: an index out of bounds fails the build"
)]
const HEX: [u8; 256] = {
    let mut table = [0xff_u8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn a_uuid_is_kept_whole_and_other_ids_are_hashed_apart() {
        let id = "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa";
        assert_eq!(RequestId::new(id).key(), 0x6d68ca91_49c9_448d_89b8_7ca3e6dc66aa);
        let upper = RequestId::new(&id.to_uppercase());
        assert_eq!(upper.key(), RequestId::new(id).key(), "hex digits in any case");
        assert_eq!(upper.as_str(), id.to_uppercase(), "the text as it came");
        let keys: HashSet<u128> = [
            "r1",
            "r2",
            "r10",
            "",
            "6d68ca91-49c9-448d-89b8-7ca3e6dc66a",
            "6d68ca91x49c9-448d-89b8-7ca3e6dc66aa",
            "6d68ca91-49c9-448d-89b8-7ca3e6dc66ag",
            "6d68ca91-49c9-448d-89b8-7ca3e6dc6-aa",
            "6d68-a91-49c9-448d-89b8-7ca3e6dc66aa",
        ]
        .iter()
        .map(|i| RequestId::new(i).key())
        .collect();
        assert_eq!(keys.len(), 9);
        assert!(!keys.contains(&RequestId::new(id).key()));
        assert_eq!(
            RequestId::new("r1").key(),
            RequestId::new(&String::from("r1")).key(),
            "the same key every time"
        );
    }

    #[test]
    fn any_text_is_kept_as_it_came_inline_or_not() {
        let long = "x".repeat(100);
        for id in [
            "",
            "r1",
            "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa",
            "é-ü",
            long.as_str(),
        ] {
            let kept = RequestId::new(id);
            assert_eq!(kept.as_str(), id);
            assert_eq!(kept.to_string(), id);
            assert_eq!(kept, RequestId::from(id));
        }
        assert!(matches!(RequestId::new(&long).text, Text::Heap(_)));
        assert!(matches!(
            RequestId::new("6d68ca91-49c9-448d-89b8-7ca3e6dc66aa").text,
            Text::Inline(_)
        ));
    }
}
