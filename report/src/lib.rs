//! `lambda-lens-report`: answers the Lambda monitoring questions for one function over a time
//! window, from CloudWatch (`GetMetricData` on `AWS/Lambda` and lambda-lens's namespace) or from
//! the EMF documents lambda-lens writes, and recommends a memory size.
//!
//! ```text
//! source (CloudWatch | EMF files) ──observations──▶ assemble ──report──▶ table | JSON | HTML
//! ```

pub mod assemble;
pub mod cli;
pub mod error;
pub mod fleet;
pub mod model;
pub mod observe;
pub mod recommend;
pub mod render;
pub mod source;
pub mod stats;

pub use cli::{Args, parse, run};
pub use error::ReportError;
pub use model::Report;
