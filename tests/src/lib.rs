//! lambda-sandbox: a local AWS Lambda execution environment for testing extensions.
//!
//! It runs a function's `bootstrap` and a layer's extensions as real child processes, serves
//! them the Runtime API (2018-06-01), the Extensions API (2020-01-01) and the Telemetry API
//! (2022-07-01) on one 127.0.0.1 port, follows Lambda's lifecycle (init, invoke, freeze between
//! invocations, reset after a failure, shutdown; for each `InitializationType`: on demand,
//! provisioned concurrency, a SnapStart restore, concurrent invocations on Lambda Managed
//! Instances) and delivers telemetry with real measurements
//! (durations, peak resident memory). It meets the extension only over HTTP and processes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), lambda_sandbox::SandboxError> {
//! use lambda_sandbox::{Config, Sandbox, ShutdownReason};
//! let mut config = Config::new("/path/to/bootstrap");
//! config.layer_dir = Some("/path/to/layer".into());
//! let mut sandbox = Sandbox::start(config).await?;
//! let outcome = sandbox.invoke(serde_json::json!({"hello": "world"})).await?;
//! let shutdown = sandbox.shutdown(ShutdownReason::Spindown).await?;
//! # let _ = (outcome, shutdown); Ok(()) }
//! ```

mod cgroup;
mod config;
mod error;
mod extensions_api;
mod ids;
mod invoke;
mod lifecycle;
mod managed;
mod memory;
mod namespace;
mod network;
mod outcome;
mod output;
mod phases;
mod process;
pub mod records;
mod restore;
mod runtime_api;
mod server;
mod state;
pub mod telemetry;
mod telemetry_api;

pub mod bench;
pub mod cli;
pub mod cloudwatch;
pub mod cost;
pub mod demo;
pub mod emf_spec;
pub mod local;
pub mod rng;
pub mod soak;

pub use cgroup::{Isolation, MB_PER_VCPU, cgroups_available};
pub use config::{Architecture, Config, InitializationType};
pub use error::SandboxError;
pub use lifecycle::Sandbox;
pub use network::PrivateNetwork;
pub use outcome::{
    InitOutcome, InvokeOutcome, ProcessExit, RestoreOutcome, ShutdownOutcome, ShutdownReason, Status,
};
pub use output::{OutputLine, Source, Stream};
pub use records::{Category, TelemetryRecord};
pub use state::ExitKind;
pub use telemetry::{Buffering, Delivery, Subscription};
