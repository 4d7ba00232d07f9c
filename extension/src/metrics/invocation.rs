//! Values of one completed invocation.

use super::catalogue as m;
use super::{MetricRecord, PropertyValue};
use crate::intake::event::Status;
use crate::join::CompletedInvocation;

const OUT_OF_MEMORY_ERROR: &str = "Runtime.OutOfMemory";

/// Facts of the environment that are the same for every invocation.
#[derive(Debug, Clone, Default)]
pub struct InvocationContext {
    pub function_version: Option<String>,
}

fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}

/// Derives the metric values and properties of one invocation.
pub fn invocation_record(inv: &CompletedInvocation, ctx: &InvocationContext) -> MetricRecord {
    let mut r = MetricRecord::new(inv.timestamp_ms);
    let status = inv.status;
    let report = inv.report.as_ref();
    let runtime = inv.runtime.as_ref();

    r.value(&m::INVOCATIONS, 1.0);
    r.value(&m::ERRORS, flag(status.is_some_and(Status::is_error)));
    r.value(&m::TIMEOUTS, flag(status == Some(Status::Timeout)));
    r.value(&m::OUT_OF_MEMORY, flag(is_out_of_memory(inv)));
    r.value(&m::COLD_STARTS, flag(inv.cold_start));
    r.maybe(&m::DURATION, report.map(|r| r.duration_ms));
    r.maybe(&m::BILLED_DURATION, report.and_then(|r| r.billed_duration_ms));
    r.maybe(&m::RUNTIME_DURATION, runtime.and_then(|r| r.duration_ms));
    r.maybe(&m::MEMORY_SIZE, report.and_then(|r| r.memory_size_mb));
    r.maybe(&m::MAX_MEMORY_USED, report.and_then(|r| r.max_memory_used_mb));
    if inv.cold_start {
        r.maybe(&m::INIT_DURATION, inv.init.as_ref().and_then(|i| i.duration_ms));
    }
    r.maybe(&m::PRODUCED_BYTES, runtime.and_then(|r| r.produced_bytes));

    r.text("RequestId", Some(&inv.request_id));
    r.text("Status", status.map(Status::as_str));
    r.text("ErrorType", inv.error_type.as_deref());
    r.text("TraceId", inv.trace_id.as_deref());
    r.text(
        "FunctionVersion",
        inv.version.as_deref().or(ctx.function_version.as_deref()),
    );
    r.properties
        .push(("ColdStart", PropertyValue::Bool(inv.cold_start)));
    if let Some(init) = inv.init.as_ref().filter(|_| inv.cold_start) {
        r.text("InitType", init.init_type.as_deref());
        r.text("InitPhase", init.phase.as_deref());
        r.text("RuntimeVersion", init.runtime_version.as_deref());
    }
    r.text("Ending", Some(inv.ending.as_str()));
    r
}

/// `Runtime.OutOfMemory`, or a failed invocation whose peak memory reached its size.
fn is_out_of_memory(inv: &CompletedInvocation) -> bool {
    if inv.error_type.as_deref() == Some(OUT_OF_MEMORY_ERROR) {
        return true;
    }
    let failed = inv.status.is_some_and(|s| s != Status::Success);
    let full = inv
        .report
        .as_ref()
        .and_then(|r| Some(r.max_memory_used_mb? >= r.memory_size_mb?))
        .unwrap_or(false);
    failed && full
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::join::{Ending, InitFacts, ReportFacts};

    fn inv() -> CompletedInvocation {
        CompletedInvocation {
            request_id: "r1".into(),
            timestamp_ms: 1_000,
            version: Some("7".into()),
            trace_id: None,
            cold_start: false,
            init: None,
            restore_duration_ms: None,
            runtime: None,
            report: Some(ReportFacts {
                duration_ms: 10.0,
                billed_duration_ms: Some(11.0),
                memory_size_mb: Some(128.0),
                max_memory_used_mb: Some(60.0),
                ..ReportFacts::default()
            }),
            status: Some(Status::Success),
            error_type: None,
            ending: Ending::Complete,
        }
    }

    #[test]
    fn a_successful_warm_invocation() {
        let r = invocation_record(&inv(), &InvocationContext::default());
        assert_eq!(r.get("Invocations"), Some(1.0));
        assert_eq!(r.get("Errors"), Some(0.0));
        assert_eq!(r.get("ColdStarts"), Some(0.0));
        assert_eq!(r.get("Duration"), Some(10.0));
        assert_eq!(r.get("MaxMemoryUsed"), Some(60.0));
        assert_eq!(r.get("InitDuration"), None);
        assert_eq!(r.timestamp_ms, 1_000);
        assert!(
            r.properties
                .contains(&("RequestId", PropertyValue::Text("r1".into())))
        );
    }

    #[test]
    fn cold_start_carries_init_duration() {
        let mut i = inv();
        i.cold_start = true;
        i.init = Some(InitFacts {
            duration_ms: Some(88.0),
            init_type: Some("on-demand".into()),
            ..InitFacts::default()
        });
        let r = invocation_record(&i, &InvocationContext::default());
        assert_eq!(r.get("ColdStarts"), Some(1.0));
        assert_eq!(r.get("InitDuration"), Some(88.0));
        assert!(
            r.properties
                .contains(&("InitType", PropertyValue::Text("on-demand".into())))
        );
    }

    #[test]
    fn failures_timeouts_and_out_of_memory() {
        let mut i = inv();
        i.status = Some(Status::Error);
        i.error_type = Some("Runtime.OutOfMemory".into());
        let r = invocation_record(&i, &InvocationContext::default());
        assert_eq!(
            (r.get("Errors"), r.get("OutOfMemory"), r.get("Timeouts")),
            (Some(1.0), Some(1.0), Some(0.0))
        );

        let mut i = inv();
        i.status = Some(Status::Failure);
        i.report.as_mut().unwrap().max_memory_used_mb = Some(128.0);
        let r = invocation_record(&i, &InvocationContext::default());
        assert_eq!(
            r.get("OutOfMemory"),
            Some(1.0),
            "a failure at full memory is out of memory"
        );

        let mut i = inv();
        i.status = Some(Status::Timeout);
        let r = invocation_record(&i, &InvocationContext::default());
        assert_eq!(
            (r.get("Errors"), r.get("Timeouts"), r.get("OutOfMemory")),
            (Some(0.0), Some(1.0), Some(0.0))
        );
    }

    #[test]
    fn no_report_means_no_duration_but_still_one_invocation() {
        let mut i = inv();
        i.report = None;
        i.ending = Ending::Shutdown;
        let r = invocation_record(&i, &InvocationContext::default());
        assert_eq!(r.get("Invocations"), Some(1.0));
        assert_eq!(r.get("Duration"), None);
        assert!(
            r.properties
                .contains(&("Ending", PropertyValue::Text("shutdown".into())))
        );
    }
}
