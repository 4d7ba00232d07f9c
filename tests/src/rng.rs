//! A small deterministic generator (xorshift64*), so that generated ids and soaks replay from
//! their seed. Shared by the soak and the bench.

/// xorshift64*.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
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

    /// `digits` random hexadecimal digits onto `out`.
    pub fn hex(&mut self, out: &mut String, digits: usize) {
        for _ in 0..digits {
            let d = (self.next_u64() >> 60) as u32;
            out.push(char::from_digit(d, 16).unwrap_or('0'));
        }
    }

    /// A random UUID, version 4 in form.
    pub fn uuid(&mut self) -> String {
        let mut s = String::with_capacity(36);
        for (i, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
            if i > 0 {
                s.push('-');
            }
            self.hex(&mut s, n);
        }
        s.replace_range(14..15, "4");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_ids_and_they_are_v4_uuids() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        let id = a.uuid();
        assert_eq!(id, b.uuid());
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert_ne!(id, a.uuid(), "the next one differs");
    }
}
