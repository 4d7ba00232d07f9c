//! lambda-lens-harness: what is specific to lambda-lens around the local sandbox
//! (`lambda_sandbox`, which names no extension).
//!
//! - [`demo`]: the demo scenario (`make demo`, `lambda-lens-demo`): the sample function and the
//!   layer through cold starts, errors, timeouts, crashes, OOM, SnapStart and Managed Instances,
//!   each step's EMF read back;
//! - [`emf_spec`]: the EMF checker, written from the CloudWatch Embedded Metric Format
//!   specification (not from the extension's encoder), used by every suite that reads EMF;
//! - [`cost`]: what lambda-lens costs its users (`make cost`, `lambda-lens-cost`);
//! - [`soak`]: thousands of invocations with faults mixed in (`make soak`, `lambda-lens-soak`);
//! - [`bench`](mod@bench): lambda-lens and its peers measured in the sandbox (`make bench`,
//!   `lambda-lens-bench`); the peers' sources are in `bench/peers/`;
//! - [`cloudwatch`]: a local CloudWatch (ministack) and a fault injector in front of it, for the
//!   PutMetricData sink's suites and the report's.
//!
//! The suites in `tests/` run the built lambda-lens layer and sample function in the sandbox
//! and assert on the EMF lambda-lens wrote.

pub mod bench;
pub mod cloudwatch;
pub mod cost;
pub mod demo;
pub mod emf_spec;
pub mod soak;
