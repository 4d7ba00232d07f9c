//! lambda-lens: an AWS Lambda external extension that joins the Telemetry API's platform events
//! of each invocation and writes CloudWatch metrics as Embedded Metric Format.
//!
//! The data path runs one way, one room each, and each room imports only the `model` (and
//! the configuration) and the rooms before it:
//!
//! ```text
//! intake ──▶ join ──▶ metrics ──▶ emf ──▶ sink
//!   │ (listener, subscription, wire → model)        resources (the /proc sampler)
//!   └──────────── pipeline (the synchronous core that runs the rooms in order)
//!                    ▲
//!                 lifecycle (Extensions API: register, INVOKE, SHUTDOWN; drives the pipeline)
//! beside every room: model (the domain types), config (read once at start), text (clipping
//! outside values for the log), kept (a buffer kept from one use to the next)
//! ```
//!
//! - `intake`: the Telemetry API subscription, the HTTP listener, and the conversion of each
//!   batch from the wire (the `lambda-lens-telemetry` crate) into `model` events, once.
//! - `join`: platform events in, completed invocations out; keyed by request id, any order.
//! - `metrics`: the catalogue, and the records of values derived from completed invocations
//!   and from events of the environment.
//! - `emf`: records to EMF documents, within the format's limits; batching.
//! - `sink`: where documents go (stdout; with the feature `put-metric-data`, PutMetricData).
//! - `resources`: samples of the function's processes at invocation boundaries.
//! - `pipeline`: the synchronous core that runs the rooms in order for each batch and boundary.
//! - `lifecycle`: registers, subscribes, drives the pipeline from INVOKE and SHUTDOWN.
//!
//! `tests/architecture.rs` checks that the imports keep to this graph.
//!
//! Unit tests are a `#[cfg(test)]` child module of the code they test (`tests`; property tests
//! `proptests`): at the end of the file while it stays short, else in a file of their own where
//! `mod tests;` finds it without `#[path]` (`foo/tests.rs` for `foo.rs` or `foo/mod.rs`).

mod config;
mod emf;
mod intake;
mod join;
mod kept;
mod lifecycle;
mod logging;
mod metrics;
mod model;
mod pipeline;
mod resources;
mod sink;
mod text;

pub use text::{clip, panic_message};

pub use config::warn::log_config_warning;
pub use config::{Config, ConfigWarning, SinkKind, Sinks, vars};
pub use intake::Batch;
pub use lifecycle::{ExtensionsApiError, RunError, crashed_part, run};
pub use logging::{VERSION, init_logging, log_logging_controls, version_line};
pub use metrics::{ARCHITECTURE, Group, MetricDef, Unit, catalogue};
pub use pipeline::{Pipeline, PipelineStats};
pub use sink::{MemorySink, Sink, SinkHealth};
