//! Values of one completed invocation.

use std::sync::Arc;

use super::catalogue as m;
use super::cost::Pricing;
use super::{MetricRecord, PropertyValue, RecordKind, Text};
use crate::model::{CompletedInvocation, Ending, Status};

const OUT_OF_MEMORY_ERROR: &str = "Runtime.OutOfMemory";

/// Facts of the environment that are the same for every invocation (texts shared by every
/// record, not copied into each).
#[derive(Debug, Clone)]
pub(crate) struct InvocationContext {
    pub(crate) function_version: Option<Arc<str>>,
    /// Prices for `EstimatedCost`.
    pub(crate) pricing: Pricing,
    /// `AWS_REGION`.
    pub(crate) region: Option<Arc<str>>,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`.
    pub(crate) memory_size_mb: Option<u32>,
    /// `AWS_LAMBDA_INITIALIZATION_TYPE` (on-demand when unset).
    pub(crate) init_type: Arc<str>,
    /// `TenantId` is a dimension (opt-in, in `LAMBDA_LENS_DIMENSIONS`): each invocation's
    /// tenant is then a dimension value of its record, not only a property.
    pub(crate) tenant_dimension: bool,
}

impl Default for InvocationContext {
    fn default() -> Self {
        Self {
            function_version: None,
            pricing: Pricing::for_region(Some("us-east-1"), super::ARCHITECTURE, None, None),
            region: None,
            memory_size_mb: None,
            init_type: "on-demand".into(),
            tenant_dimension: false,
        }
    }
}

/// Rounds a derived value to `decimals` places (a difference of two millisecond figures carries
/// float noise such as 3.5999999999999943; the inputs have three decimals at most).
fn round_to(value: f64, decimals: i32) -> f64 {
    // Divide by the power of ten (rather than multiply by its inverse): the result is then the
    // double nearest the decimal, which prints as that decimal (0.223, not 0.22300000000000003).
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}

/// Room for an invocation's values and properties (all of the catalogue, the texts below).
const VALUES: usize = 32;
const PROPERTIES: usize = 32;

/// Derives the metric values and properties of one invocation (its texts moved into them), in
/// the room of a spent record when there is one.
pub(crate) fn invocation_record(
    inv: CompletedInvocation,
    ctx: &InvocationContext,
    spent: Option<MetricRecord>,
) -> MetricRecord {
    let mut r = match spent {
        Some(spent) => spent.reuse(RecordKind::Invocation, inv.timestamp_ms),
        None => MetricRecord::with_capacity(RecordKind::Invocation, inv.timestamp_ms, VALUES, PROPERTIES),
    };
    let status = inv.status;
    let report = inv.report.as_ref();
    let runtime = inv.runtime.as_ref();

    let failed = status.is_some_and(Status::is_error);
    let timed_out = status == Some(Status::Timeout);
    let out_of_memory = is_out_of_memory(&inv);
    r.notable = failed || timed_out || out_of_memory || inv.cold_start || inv.ending != Ending::Complete;
    r.value(&m::INVOCATIONS, 1.0);
    r.value(&m::ERRORS, flag(failed));
    r.value(&m::TIMEOUTS, flag(timed_out));
    r.value(&m::OUT_OF_MEMORY, flag(out_of_memory));
    r.value(&m::COLD_STARTS, flag(inv.cold_start));
    r.maybe(&m::CONCURRENT_INVOCATIONS, inv.concurrency.map(f64::from));

    let extension_overhead = report
        .and_then(|r| r.spans.extension_overhead_ms)
        .filter(|d| d.is_finite());
    let report = report.map(|r| r.metrics);
    // A required value intake refused is NaN: absent here, as an optional one would be.
    let duration = report.map(|r| r.duration_ms).filter(|d| d.is_finite());
    let runtime_duration = runtime
        .and_then(|r| r.metrics)
        .map(|m| m.duration_ms)
        .filter(|d| d.is_finite());
    r.maybe(&m::DURATION, duration);
    r.maybe(&m::BILLED_DURATION, report.and_then(|r| r.billed_duration_ms));
    r.maybe(&m::RUNTIME_DURATION, runtime_duration);
    // Lambda's own measure where the report carries it (the `extensionOverhead` span), else
    // the difference of the two durations.
    r.maybe(
        &m::POST_RUNTIME_DURATION,
        extension_overhead.or_else(|| {
            duration
                .zip(runtime_duration)
                .map(|(d, rt)| round_to((d - rt).max(0.0), 3))
        }),
    );
    let spans = runtime.map(|r| r.spans).unwrap_or_default();
    // Lambda Managed Instances send no runtimeDone: their report carries the response spans
    // (b: AWS's Managed Instances code, `invoke/metrics.go`).
    let report_spans = inv.report.as_ref().map(|r| r.spans).unwrap_or_default();
    r.maybe(
        &m::RESPONSE_LATENCY,
        spans.response_latency_ms.or(report_spans.response_latency_ms),
    );
    r.maybe(
        &m::RESPONSE_DURATION,
        spans.response_duration_ms.or(report_spans.response_duration_ms),
    );
    r.maybe(&m::RUNTIME_OVERHEAD, spans.runtime_overhead_ms);
    r.maybe(
        &m::PRODUCED_BYTES,
        runtime.and_then(|r| r.metrics?.produced_bytes),
    );
    if inv.cold_start {
        r.maybe(&m::INIT_DURATION, inv.init.as_ref().and_then(|i| i.duration_ms));
    }
    r.maybe(&m::RESTORE_DURATION, inv.restore_duration_ms);

    let memory_size = report.and_then(|r| r.memory_size_mb);
    let max_used = report.and_then(|r| r.max_memory_used_mb);
    r.maybe(&m::MEMORY_SIZE, memory_size);
    r.maybe(&m::MAX_MEMORY_USED, max_used);
    r.maybe(
        &m::MEMORY_UTILIZATION,
        max_used
            .zip(memory_size.filter(|s| *s > 0.0))
            .map(|(used, size)| round_to(used / size * 100.0, 2)),
    );

    let billed = report.and_then(|r| r.billed_duration_ms);
    if let (Some(billed), Some(size)) = (billed, memory_size) {
        r.value(
            &m::ESTIMATED_COST,
            round_to(ctx.pricing.invocation_cost(billed, size), 13),
        );
        r.text_as("PriceSource", Some(Text::Static(ctx.pricing.source.as_str())));
    }

    if let Some(u) = &inv.resources {
        if u.processes_seen {
            r.value(&m::CPU_USER_TIME, u.cpu_user_ms);
            r.value(&m::CPU_SYSTEM_TIME, u.cpu_system_ms);
            r.value(&m::CPU_TOTAL_TIME, u.cpu_user_ms + u.cpu_system_ms);
            r.value(&m::FILE_DESCRIPTORS, u.file_descriptors as f64);
            r.value(&m::THREADS, u.threads as f64);
        }
        r.value(&m::NETWORK_RX_BYTES, u.net_rx_bytes as f64);
        r.value(&m::NETWORK_TX_BYTES, u.net_tx_bytes as f64);
        r.maybe(&m::TMP_USED, u.tmp_used_bytes.map(|b| b as f64));
    }

    let cold = if inv.cold_start { "true" } else { "false" };
    r.dimensions.push(("ColdStart", cold.into()));
    // A tenant is a property (searchable, free); a dimension only where the user asked for
    // it (each tenant is then a custom metric of its own, billed: the configuration warned).
    if ctx.tenant_dimension
        && let Some(tenant) = inv.tenant_id.as_ref()
    {
        r.dimensions.push(("TenantId", tenant.clone().into()));
    }
    let shared = |s: &Arc<str>| Text::Shared(Arc::clone(s));
    r.text_as("RequestId", Some(Text::Id(inv.request_id)));
    r.text_as("Status", status.map(|s| Text::Static(s.as_str())));
    r.text_as("ErrorType", inv.error_type.map(Text::Owned));
    r.text_as("TraceId", inv.trace_id.map(Text::Owned));
    r.text_as("TenantId", inv.tenant_id.map(Text::Owned));
    r.text_as(
        "FunctionVersion",
        inv.version
            .map(Text::Shared)
            .or_else(|| ctx.function_version.as_ref().map(shared)),
    );
    // Environment facts as properties, for Logs Insights: never dimensions unless configured.
    r.text_as("InitType", Some(shared(&ctx.init_type)));
    r.text_as("RuntimeVersion", inv.runtime_version.map(Text::Shared));
    r.text_as("Region", ctx.region.as_ref().map(shared));
    r.text_as("Architecture", Some(Text::Static(super::ARCHITECTURE)));
    if let Some(mb) = ctx.memory_size_mb {
        r.properties
            .push(("MemorySizeMB", PropertyValue::Number(f64::from(mb))));
    }
    if let Some(init) = inv.init.filter(|_| inv.cold_start) {
        r.text_as("InitPhase", init.phase.map(Text::Owned));
    }
    r.text_as("Ending", Some(Text::Static(inv.ending.as_str())));
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
        .and_then(|r| Some(r.metrics.max_memory_used_mb? >= r.metrics.memory_size_mb?))
        .unwrap_or(false);
    failed && full
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Ending, Phase, Report, ReportMetrics, ReportSpans, ResourceUsage, RuntimeDone, RuntimeDoneMetrics,
        RuntimeDoneSpans,
    };

    fn inv() -> CompletedInvocation {
        CompletedInvocation {
            request_id: "r1".into(),
            timestamp_ms: 1_000,
            version: Some("7".into()),
            trace_id: None,
            tenant_id: None,
            cold_start: false,
            init: None,
            restore_duration_ms: None,
            runtime: None,
            report: Some(Report {
                status: Some(Status::Success),
                error_type: None,
                metrics: ReportMetrics {
                    duration_ms: 10.0,
                    billed_duration_ms: Some(11.0),
                    memory_size_mb: Some(128.0),
                    max_memory_used_mb: Some(60.0),
                    ..ReportMetrics::default()
                },
                spans: ReportSpans::default(),
                tenant_id: None,
            }),
            status: Some(Status::Success),
            error_type: None,
            ending: Ending::Complete,
            concurrency: Some(1),
            resources: None,
            runtime_version: None,
        }
    }

    #[test]
    fn a_successful_warm_invocation() {
        let r = invocation_record(inv(), &InvocationContext::default(), None);
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
        i.init = Some(Box::new(Phase {
            duration_ms: Some(88.0),
            init_type: Some("on-demand".into()),
            ..Phase::default()
        }));
        let r = invocation_record(i, &InvocationContext::default(), None);
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
        let r = invocation_record(i, &InvocationContext::default(), None);
        assert_eq!(
            (r.get("Errors"), r.get("OutOfMemory"), r.get("Timeouts")),
            (Some(1.0), Some(1.0), Some(0.0))
        );

        let mut i = inv();
        i.status = Some(Status::Failure);
        i.report.as_mut().unwrap().metrics.max_memory_used_mb = Some(128.0);
        let r = invocation_record(i, &InvocationContext::default(), None);
        assert_eq!(
            r.get("OutOfMemory"),
            Some(1.0),
            "a failure at full memory is out of memory"
        );

        let mut i = inv();
        i.status = Some(Status::Timeout);
        let r = invocation_record(i, &InvocationContext::default(), None);
        assert_eq!(
            (r.get("Errors"), r.get("Timeouts"), r.get("OutOfMemory")),
            (Some(0.0), Some(1.0), Some(0.0))
        );
    }

    #[test]
    fn derived_values_cost_and_resources() {
        let mut i = inv();
        i.runtime = Some(RuntimeDone {
            metrics: Some(RuntimeDoneMetrics {
                duration_ms: 7.5,
                produced_bytes: None,
            }),
            spans: RuntimeDoneSpans {
                response_latency_ms: Some(7.0),
                response_duration_ms: Some(0.25),
                runtime_overhead_ms: Some(0.5),
            },
            ..RuntimeDone::default()
        });
        i.resources = Some(ResourceUsage {
            processes_seen: true,
            cpu_user_ms: 30.0,
            cpu_system_ms: 10.0,
            net_rx_bytes: 100,
            net_tx_bytes: 50,
            tmp_used_bytes: Some(4096),
            file_descriptors: 9,
            threads: 2,
        });
        // Lambda's extensionOverhead span, where the report has it, is the measure.
        let mut with_span = i.clone();
        if let Some(report) = with_span.report.as_mut() {
            report.spans.extension_overhead_ms = Some(1.75);
        }
        let r = invocation_record(i, &InvocationContext::default(), None);
        assert_eq!(r.get("PostRuntimeDuration"), Some(2.5));
        let r2 = invocation_record(with_span, &InvocationContext::default(), None);
        assert_eq!(r2.get("PostRuntimeDuration"), Some(1.75));
        assert_eq!(r.get("ResponseLatency"), Some(7.0));
        assert_eq!(r.get("MemoryUtilization"), Some(46.88));
        let expected = 0.011 * 0.125 * 0.000_016_666_7 + 0.000_000_2;
        let cost = r.get("EstimatedCost").unwrap();
        assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
        assert_eq!(r.get("CpuTotalTime"), Some(40.0));
        assert_eq!(r.get("TmpUsed"), Some(4096.0));
        assert_eq!(r.get("ConcurrentInvocations"), Some(1.0));
        assert_eq!(r.dimensions, [("ColdStart", "false".into())]);
    }

    /// Lambda Managed Instances: no runtimeDone, the response spans on the report.
    #[test]
    fn the_reports_response_spans_stand_in_for_runtime_dones() {
        let mut i = inv();
        if let Some(report) = i.report.as_mut() {
            report.spans.response_latency_ms = Some(9.5);
            report.spans.response_duration_ms = Some(0.75);
        }
        let r = invocation_record(i.clone(), &InvocationContext::default(), None);
        assert_eq!(r.get("ResponseLatency"), Some(9.5));
        assert_eq!(r.get("ResponseDuration"), Some(0.75));
        // Where runtimeDone has them, its spans are the ones used.
        i.runtime = Some(RuntimeDone {
            spans: RuntimeDoneSpans {
                response_latency_ms: Some(3.0),
                ..RuntimeDoneSpans::default()
            },
            ..RuntimeDone::default()
        });
        let r = invocation_record(i, &InvocationContext::default(), None);
        assert_eq!(r.get("ResponseLatency"), Some(3.0));
        assert_eq!(r.get("ResponseDuration"), Some(0.75));
    }

    #[test]
    fn a_tenant_is_a_property_and_a_dimension_only_when_asked_for() {
        let r = invocation_record(inv(), &InvocationContext::default(), None);
        assert!(r.property_text("TenantId").is_none(), "no tenant, no property");
        let mut i = inv();
        i.tenant_id = Some("blue".into());
        let r = invocation_record(i.clone(), &InvocationContext::default(), None);
        assert_eq!(r.property_text("TenantId"), Some("blue"));
        assert_eq!(r.dimensions, [("ColdStart", "false".into())]);
        let ctx = InvocationContext {
            tenant_dimension: true,
            ..InvocationContext::default()
        };
        let r = invocation_record(i, &ctx, None);
        assert_eq!(
            r.dimensions,
            [("ColdStart", "false".into()), ("TenantId", "blue".into())]
        );
    }

    #[test]
    fn derived_values_print_as_short_decimals() {
        // 0.009, 0.013 and 0.018 printed as 0.009000000000000001 and the like with a multiplication.
        for (a, b) in [(52.3, 52.291), (1.0, 0.987), (10.5, 10.482)] {
            let text = serde_json::json!(round_to(a - b, 3)).to_string();
            assert!(text.len() <= 6, "{a} - {b} printed as {text}");
        }
    }

    #[test]
    fn no_report_means_no_duration_but_still_one_invocation() {
        let mut i = inv();
        i.report = None;
        i.ending = Ending::Shutdown;
        let r = invocation_record(i, &InvocationContext::default(), None);
        assert_eq!(r.get("Invocations"), Some(1.0));
        assert_eq!(r.get("Duration"), None);
        assert!(
            r.properties
                .contains(&("Ending", PropertyValue::Text("shutdown".into())))
        );
    }
}
