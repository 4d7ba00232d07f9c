//! Identifiers in the formats Lambda uses (request ids, extension ids, X-Ray trace ids), from
//! either source of randomness: the kernel's ([`uuid_v4`], [`random_hex`]: what the sandbox
//! gives its environments) or a [`Seeded`] generator, so that a run that makes ids (a soak, a
//! bench's synthetic telemetry) replays from its seed.

use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where an id's random bytes come from.
pub trait Source {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);

    /// A random UUID, version 4 format (`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`).
    fn uuid(&mut self) -> String {
        let mut b = [0u8; 16];
        self.fill(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let (a, rest) = b.split_at(4);
        let (c, rest) = rest.split_at(2);
        let (d, rest) = rest.split_at(2);
        let (e, f) = rest.split_at(2);
        format!("{}-{}-{}-{}-{}", hex(a), hex(c), hex(d), hex(e), hex(f))
    }

    /// `n` random bytes as lowercase hex (`2 * n` digits).
    fn hex(&mut self, n: usize) -> String {
        let mut b = vec![0u8; n];
        self.fill(&mut b);
        hex(&b)
    }
}

/// The kernel's randomness (`/dev/urandom`), falling back to a hash of the clock and a counter
/// when it cannot be read (these ids need uniqueness, not secrecy).
#[derive(Debug, Clone, Copy, Default)]
pub struct Kernel;

impl Source for Kernel {
    fn fill(&mut self, buf: &mut [u8]) {
        let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(buf));
        if read.is_err() {
            use std::hash::{BuildHasher, Hasher};
            static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            for chunk in buf.chunks_mut(8) {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
                h.write_u128(
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or(0),
                );
                let bytes = h.finish().to_le_bytes();
                for (dst, src) in chunk.iter_mut().zip(bytes.iter()) {
                    *dst = *src;
                }
            }
        }
    }
}

/// A small deterministic generator (xorshift64*): the same seed gives the same ids and the same
/// choices.
#[derive(Debug, Clone)]
pub struct Seeded(u64);

impl Seeded {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

impl Source for Seeded {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            for (dst, src) in chunk.iter_mut().zip(bytes.iter()) {
                *dst = *src;
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random UUID from the kernel, version 4 format.
pub fn uuid_v4() -> String {
    Kernel.uuid()
}

/// `n` random bytes from the kernel as lowercase hex.
pub fn random_hex(n: usize) -> String {
    Kernel.hex(n)
}

/// An X-Ray trace header value: `Root=1-<8 hex epoch seconds>-<24 hex>;Parent=<16 hex>;Sampled=0`.
pub fn trace_header(parent: &str) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("Root=1-{:08x}-{};Parent={parent};Sampled=0", secs, random_hex(12))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_version_4_layout() {
        let id = uuid_v4();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"));
        assert_ne!(uuid_v4(), id);
    }

    #[test]
    fn trace_header_layout() {
        let parent = random_hex(8);
        let t = trace_header(&parent);
        let root = t.strip_prefix("Root=1-").unwrap();
        let (time, rest) = root.split_once('-').unwrap();
        assert_eq!(time.len(), 8);
        let (id, rest) = rest.split_once(';').unwrap();
        assert_eq!(id.len(), 24);
        assert_eq!(rest, format!("Parent={parent};Sampled=0"));
        assert_eq!(parent.len(), 16);
    }

    #[test]
    fn the_same_seed_gives_the_same_ids_and_they_are_v4_uuids() {
        let (mut a, mut b) = (Seeded::new(42), Seeded::new(42));
        let id = a.uuid();
        assert_eq!(id, b.uuid());
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert!(matches!(id.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
        assert_ne!(id, a.uuid(), "the next one differs");
        let hex = Seeded::new(7).hex(8);
        assert_eq!(hex, Seeded::new(7).hex(8));
        assert_eq!(hex.len(), 16);
    }
}
