//! lambda-lens: an AWS Lambda external extension that joins the Telemetry API's platform events
//! of each invocation and writes CloudWatch metrics as Embedded Metric Format.
//!
//! The data path, one room each:
//! [`intake`] (subscription, listener, record-by-record decoding) → [`join`] (per-invocation
//! join) → [`metrics`] (catalogue and derived values) → [`emf`] (encoding within the limits) →
//! [`sink`] (stdout). [`lifecycle`] drives it from the Extensions API's INVOKE and SHUTDOWN;
//! [`resources`] samples `/proc` at invocation boundaries.

pub mod config;
pub mod emf;
pub mod intake;
pub mod join;
pub mod lifecycle;
pub mod logging;
pub mod metrics;
pub mod resources;
pub mod sink;

pub use config::Config;
pub use lifecycle::{RunError, run};
