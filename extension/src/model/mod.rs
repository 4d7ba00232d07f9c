//! The domain model, beside the data path: what the platform told us (events), what one
//! invocation came to (a completed invocation), and what the function's processes used.
//!
//! Intake converts the wire format into these types once; the join stores what it receives;
//! the metrics read the completed invocation. No room of the path defines a type another room
//! needs: they are all here. The numeric parts of the platform's records are the telemetry
//! crate's own structs (owned and `Copy`), carried whole: a new field of `platform.report` is
//! declared in `lambda_lens_telemetry::wire::ReportMetrics` (and read by the telemetry crate's
//! fast reader too) and used where a metric reads it; this model does not change
//! (docs/architecture.md has the recipe).

mod event;
mod id;
mod invocation;
mod resources;

pub(crate) use event::{
    EventKind, FirstInvoke, LogsDropped, Phase, Report, RuntimeDone, Start, Status, TelemetryEvent,
};
// The telemetry crate's measurement structs, as the model's own (tests build events with them).
#[cfg(test)]
pub(crate) use event::{ReportMetrics, ReportSpans, RuntimeDoneMetrics, RuntimeDoneSpans};
pub(crate) use id::RequestId;
pub(crate) use invocation::{CompletedInvocation, Ending};
pub(crate) use resources::{ResourceSample, ResourceUsage};
