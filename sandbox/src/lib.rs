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
//!
//! # Layout
//!
//! - `src/api/`: the three HTTP APIs the processes call (Runtime,
//!   Extensions, Telemetry) and the server that routes to them;
//! - `src/environment/`: what the sandbox builds and measures: processes, their output, the
//!   cgroup (memory limit, CPU share, freezer), the mount namespace, the private network,
//!   memory, and [`procfs`], the one `/proc` reader;
//! - `src/lifecycle/`: what drives them: [`Sandbox`], the init, invoke, freeze, reset and
//!   shutdown phases, SnapStart's restore, Managed Instances' concurrent invocations, the shared
//!   state and the outcomes returned to the caller;
//! - [`telemetry`]: the Telemetry API's [`records`] and their delivery to subscribers (one
//!   queue and one task each);
//! - `src/logs/`: the log group as Lambda would fill it ([`LoggingConfig`]'s format, levels,
//!   group and destination; [`Sandbox::log_group`]);
//! - [`local`]: `lambda-sandbox local invoke` (a SAM template's function, staged and run);
//! - [`cli`]: the `lambda-sandbox` command line; [`Config`] and [`SandboxError`] beside it;
//! - [`ids`]: request, extension and trace ids, from the kernel's randomness or from a seed;
//! - `src/net.rs`: the accept loop the API server and the echo peer both run.
//!
//! The crate names no particular extension: tools for one extension (its demo, bench, checks of
//! its output) live in a crate of their own that uses this one; this repository's is in
//! `harness/`.

mod api;
mod config;
mod environment;
mod error;
mod lifecycle;
mod logs;
mod net;

pub mod cli;
pub mod ids;
pub mod local;
pub mod telemetry;

pub use config::{Architecture, Config, InitializationType};
pub use environment::cgroup::{Isolation, MB_PER_VCPU, cgroups_available};
pub use environment::network::PrivateNetwork;
pub use environment::output::{OutputLine, Source, Stream};
pub use environment::procfs;
pub use error::SandboxError;
pub use lifecycle::outcome::{
    InitOutcome, InvokeOptions, InvokeOutcome, ProcessExit, RestoreOutcome, ShutdownOutcome, ShutdownReason,
    Status,
};
pub use lifecycle::sandbox::Sandbox;
pub use lifecycle::state::ExitKind;
pub use logs::{
    LogDestination, LogEvent, LogFormat, LogGroup, LogLevel, LoggingConfig, LoggingConfigError,
    MAX_EVENT_BYTES,
};
pub use telemetry::records::{self, Category, TelemetryRecord};
pub use telemetry::{Buffering, Delivery, Subscription};
