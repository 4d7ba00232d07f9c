//! A buffer kept from one use to the next.
//!
//! The layer is linked with musl, whose allocator maps a buffer of a few KiB and more afresh and
//! unmaps it when it is freed: a buffer made for each telemetry delivery, or each write to
//! stdout, cost a `mmap`, its page faults and a `munmap` (which, in a process with several
//! threads, interrupts the other CPUs it ran on) every time. Deliveries and writes come at the
//! thaw, when Lambda and the function want the CPUs; keeping one buffer removes that work.

use std::sync::Mutex;

/// One empty buffer, kept between uses. A buffer larger than its bound is let go instead of
/// kept (a rare burst must not hold its memory for the environment's life). Its user takes it
/// and gives it back from one thread at a time, so the lock is not contended.
#[derive(Debug)]
pub(crate) struct KeptBuffer {
    max_bytes: usize,
    kept: Mutex<Vec<u8>>,
}

impl KeptBuffer {
    /// Keeps buffers of at most `max_bytes`.
    pub(crate) const fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            kept: Mutex::new(Vec::new()),
        }
    }

    /// The kept buffer, empty; an unallocated one when none is kept.
    pub(crate) fn take(&self) -> Vec<u8> {
        self.kept
            .lock()
            .map(|mut kept| std::mem::take(&mut *kept))
            .unwrap_or_default()
    }

    /// Keeps `buffer`, emptied, unless it is over the bound or a larger one is kept.
    pub(crate) fn keep(&self, mut buffer: Vec<u8>) {
        if buffer.capacity() > self.max_bytes {
            return;
        }
        buffer.clear();
        if let Ok(mut kept) = self.kept.lock()
            && kept.capacity() < buffer.capacity()
        {
            *kept = buffer;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_the_next_one_taken_emptied() {
        let kept = KeptBuffer::new(4096);
        let mut buffer = Vec::with_capacity(1024);
        buffer.extend_from_slice(b"a batch");
        let at = buffer.as_ptr();
        kept.keep(buffer);
        let again = kept.take();
        assert!(again.is_empty());
        assert_eq!((again.as_ptr(), again.capacity()), (at, 1024));
        assert_eq!(
            kept.take().capacity(),
            0,
            "taken: none is kept until it comes back"
        );
    }

    #[test]
    fn a_buffer_over_the_bound_is_let_go_and_the_larger_of_two_is_kept() {
        let kept = KeptBuffer::new(4096);
        kept.keep(Vec::with_capacity(4097));
        assert_eq!(kept.take().capacity(), 0);
        kept.keep(Vec::with_capacity(2048));
        kept.keep(Vec::with_capacity(16));
        assert_eq!(kept.take().capacity(), 2048);
    }
}
