//! `allocate_mb`: a resident memory ballast.

use crate::error::SampleError;

/// One mebibyte.
pub(crate) const MIB: usize = 1024 * 1024;
/// The page size the ballast touches (4 KiB on Lambda's x86_64 and arm64).
pub(crate) const PAGE: usize = 4096;

/// Heap memory with every page written, so it counts in the process's resident set (RSS).
/// Freed when dropped.
#[derive(Debug)]
pub(crate) struct Ballast {
    bytes: Vec<u8>,
    pages_touched: u64,
}

impl Ballast {
    /// Allocates `mb` MiB and writes to every 4 KiB page. An allocation the allocator refuses
    /// is a [`SampleError::Resource`]; going past the function's memory size is not caught here:
    /// Lambda stops the sandbox (`Runtime.OutOfMemory`).
    pub(crate) fn allocate(mb: u64) -> Result<Self, SampleError> {
        let len = usize::try_from(mb)
            .ok()
            .and_then(|mb| mb.checked_mul(MIB))
            .ok_or_else(|| {
                SampleError::InvalidPayload(format!("`allocate_mb` {mb} does not fit in memory"))
            })?;
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(len)
            .map_err(|error| SampleError::resource(format!("allocating {mb} MiB"), error))?;
        // Writing the zeros already faults every page in; the stamp below makes each page's
        // content distinct so no layer can treat the buffer as untouched zero pages.
        bytes.resize(len, 0);
        let mut pages_touched: u64 = 0;
        for (index, page) in bytes.chunks_mut(PAGE).enumerate() {
            if let Some(first) = page.first_mut() {
                *first = stamp(index);
                pages_touched += 1;
            }
        }
        std::hint::black_box(&bytes);
        Ok(Self { bytes, pages_touched })
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Pages written while allocating.
    pub(crate) fn pages_touched(&self) -> u64 {
        self.pages_touched
    }
}

/// A non-zero byte derived from the page index.
fn stamp(index: usize) -> u8 {
    (index % 255) as u8 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_the_requested_size_and_stamps_every_page() {
        let ballast = Ballast::allocate(3).unwrap();
        assert_eq!(ballast.len(), 3 * MIB);
        assert_eq!(ballast.pages_touched(), (3 * MIB / PAGE) as u64);
        for (index, page) in ballast.bytes.chunks(PAGE).enumerate() {
            assert_eq!(page[0], stamp(index));
            assert_ne!(page[0], 0);
        }
    }

    #[test]
    fn zero_megabytes_is_an_empty_ballast() {
        let ballast = Ballast::allocate(0).unwrap();
        assert_eq!(ballast.len(), 0);
        assert_eq!(ballast.pages_touched(), 0);
    }

    #[test]
    fn touching_pages_raises_rss() {
        let Some(before) = rss_kib() else { return };
        let ballast = Ballast::allocate(64).unwrap();
        let after = rss_kib().unwrap();
        assert!(
            after >= before + 56 * 1024,
            "RSS went from {before} KiB to {after} KiB"
        );
        drop(ballast);
    }

    fn rss_kib() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}
