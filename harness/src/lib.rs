//! lambda-lens-harness: what is specific to lambda-lens around the local sandbox
//! (`lambda_sandbox`, which names no extension).
//!
//! - [`demo`]: the demo scenario (`make demo`, `lambda-lens-demo`): the sample function and the
//!   layer through cold starts, errors, timeouts, crashes, OOM, SnapStart and Managed Instances,
//!   each step's EMF read back;
//! - [`built`]: where the built layers and sample function are, for the suites that run them;
//! - [`cost`]: what lambda-lens costs its users (`make cost`, `lambda-lens-cost`);
//! - [`otlp`]: the OTLP test receiver (`otlp-receiver/receiver.py`) as a child process, for the
//!   OTLP sink's suite and `make cost`'s OTLP rows;
//! - [`soak`]: thousands of invocations with faults mixed in (`make soak`, `lambda-lens-soak`);
//! - [`bench`](mod@bench): lambda-lens and its peers measured in the sandbox (`make bench`,
//!   `lambda-lens-bench`); the peers' sources are in `peers/`.
//!
//! Beside it: `emf-spec/` (the EMF checker, written from the specification) and
//! `local-cloudwatch/` (ministack and a fault injector), small crates of their own so that the
//! extension and the report use them without the sandbox. The suites in `tests/` run the built
//! lambda-lens layer and sample function in the sandbox and assert on the EMF lambda-lens wrote.

pub mod bench;
pub mod built;
pub mod cost;
pub mod demo;
pub mod otlp;
pub mod soak;
