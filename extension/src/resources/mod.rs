//! Resource use of the function's processes, sampled at invocation boundaries, never polled.
//!
//! The environment is frozen between invocations, so the difference between the sample taken
//! at INVOKE N and the one taken at INVOKE N+1 (or at SHUTDOWN) is what invocation N used. What
//! that includes: CPU of every process of the environment but lambda-lens itself (the runtime,
//! other extensions, and children they reaped), loopback excluded network bytes of the whole
//! environment (so also other extensions' traffic, and telemetry delivered to extensions), and
//! the few milliseconds between Lambda starting invocation N+1 and lambda-lens taking its
//! sample. Gauges (`/tmp` use, file descriptors, threads) are read at the end sample.
//!
//! A sample reads files (`/proc`, `statfs`): the lifecycle takes it on tokio's blocking pool, so
//! the thread that answers the Extensions API never waits for it.

mod proc;

pub(crate) use proc::{ProcSampler, own_peak_rss_bytes};

use crate::model::ResourceSample;

/// Something that can take a [`ResourceSample`]: `/proc` on Lambda, a script in tests.
pub(crate) trait Sampler: Send {
    fn sample(&mut self) -> ResourceSample;
}
