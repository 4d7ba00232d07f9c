//! Every metric lambda-lens emits. The metric table of `docs/metrics.md` is made from this list.

use super::{Group, MetricDef, Unit};

/// Declares the catalogue: a static for each metric, numbered by its place (the discriminant
/// of its variant of `Place`, in the order declared), and [`ALL`], in the same order. No index
/// is written by hand, so none can be wrong or shared.
macro_rules! catalogue {
    ($($ident:ident, $name:literal, $unit:ident, $group:ident, $about:literal;)*) => {
        /// Each metric's place in the catalogue: its discriminant is the metric's index (and a
        /// 257th metric would not fit the `u8` index: it does not compile).
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[repr(u8)]
        enum Place {
            $($ident),*
        }

        $(
            pub static $ident: MetricDef = MetricDef {
                index: Place::$ident as u8,
                name: $name,
                unit: Unit::$unit,
                group: Group::$group,
                about: $about,
            };
        )*

        /// The whole catalogue, in the order of the metric table in `docs/metrics.md`.
        pub static ALL: &[&MetricDef] = &[$(&$ident),*];
    };
}

catalogue! {
    // Core and detail: per invocation, from the platform events.
    INVOCATIONS, "Invocations", Count, Core,
    "1 per invocation (`platform.start`, or any of its events).";

    ERRORS, "Errors", Count, Core,
    "1 when the status is `error` or `failure` (`platform.runtimeDone` / `platform.report`), else 0. Unlike `AWS/Lambda` `Errors`, timeouts are counted apart, in `Timeouts`.";

    TIMEOUTS, "Timeouts", Count, Core,
    "1 when the status is `timeout`, or the invocation was in flight at a SHUTDOWN for `timeout` with no `runtimeDone`, else 0.";

    OUT_OF_MEMORY, "OutOfMemory", Count, Core,
    "1 when `errorType` is `Runtime.OutOfMemory`, or a failed invocation's peak memory reached its size, else 0 (once per request).";

    COLD_STARTS, "ColdStarts", Count, Core,
    "1 on the first invocation after an init phase it waited for, else 0 (a proactive init that ended 10 s or more before that invocation, a SnapStart restore and its replayed init events are not a cold start).";

    CONCURRENT_INVOCATIONS, "ConcurrentInvocations", Count, Core,
    "Invocations running in the environment when this one started, itself included (overlapping `platform.start`/`platform.runtimeDone`): above 1 only on Lambda Managed Instances.";

    DURATION, "Duration", Milliseconds, Core,
    "`platform.report` `durationMs`: the invocation, including the extensions' work after the response.";

    BILLED_DURATION, "BilledDuration", Milliseconds, Core,
    "`platform.report` `billedDurationMs`.";

    RUNTIME_DURATION, "RuntimeDuration", Milliseconds, Detail,
    "`platform.runtimeDone` `metrics.durationMs`: the runtime's own work.";

    POST_RUNTIME_DURATION, "PostRuntimeDuration", Milliseconds, Detail,
    "What the extensions cost the invocation after the runtime was done: the report's `extensionOverhead` span where Lambda sends it, else `Duration` − `RuntimeDuration`.";

    RESPONSE_LATENCY, "ResponseLatency", Milliseconds, Detail,
    "`platform.runtimeDone` span `responseLatency` (on Managed Instances, which send no runtimeDone, the `platform.report` span): from the invocation to the first byte of the response.";

    RESPONSE_DURATION, "ResponseDuration", Milliseconds, Detail,
    "`platform.runtimeDone` span `responseDuration` (on Managed Instances, the `platform.report` span): sending the response.";

    RUNTIME_OVERHEAD, "RuntimeOverhead", Milliseconds, Detail,
    "`platform.runtimeDone` span `runtimeOverhead`: the runtime's work after the response, until its next `/invocation/next`.";

    PRODUCED_BYTES, "ProducedBytes", Bytes, Detail,
    "`platform.runtimeDone` `metrics.producedBytes`: size of the response.";

    INIT_DURATION, "InitDuration", Milliseconds, Core,
    "`platform.initReport` `metrics.durationMs` (or `report.initDurationMs`), on cold starts; for an init no invocation waited for (provisioned concurrency, Managed Instances, proactive), in the init's environment document. The init type is the `InitType` property.";

    RESTORE_DURATION, "RestoreDuration", Milliseconds, Core,
    "SnapStart `platform.restoreReport` `metrics.durationMs` (or `report.restoreDurationMs`), on the first invocation after a restore.";

    INIT_ERRORS, "InitErrors", Count, Core,
    "1 per init (or restore) phase whose status is not `success` (`platform.initReport`), with its `errorType` as a property.";

    MEMORY_SIZE, "MemorySize", Megabytes, Detail,
    "`platform.report` `memorySizeMB`: memory configured.";

    MAX_MEMORY_USED, "MaxMemoryUsed", Megabytes, Core,
    "`platform.report` `maxMemoryUsedMB`: peak memory of the environment.";

    MEMORY_UTILIZATION, "MemoryUtilization", Percent, Core,
    "`MaxMemoryUsed` ÷ `MemorySize` × 100.";

    // Cost.
    ESTIMATED_COST, "EstimatedCost", None, Cost,
    "US dollars: `BilledDuration` × `MemorySize` × the region's and architecture's price per GB-second, plus the request charge (a dated price table in the code, overridable).";

    // Resources: sampled from /proc at invocation boundaries.
    CPU_USER_TIME, "CpuUserTime", Milliseconds, Resources,
    "CPU time in user mode of the function's processes during the invocation (`/proc/<pid>/stat` deltas).";

    CPU_SYSTEM_TIME, "CpuSystemTime", Milliseconds, Resources,
    "CPU time in kernel mode of the function's processes during the invocation (`/proc/<pid>/stat` deltas).";

    CPU_TOTAL_TIME, "CpuTotalTime", Milliseconds, Resources,
    "`CpuUserTime` + `CpuSystemTime`.";

    NETWORK_RX_BYTES, "NetworkRxBytes", Bytes, Resources,
    "Bytes received on the network interfaces, loopback excluded, during the invocation (`/proc/net/dev` deltas).";

    NETWORK_TX_BYTES, "NetworkTxBytes", Bytes, Resources,
    "Bytes sent on the network interfaces, loopback excluded, during the invocation (`/proc/net/dev` deltas).";

    TMP_USED, "TmpUsed", Bytes, Resources,
    "Bytes used on `/tmp` at the end of the invocation (`statfs`).";

    FILE_DESCRIPTORS, "FileDescriptors", Count, Resources,
    "Open file descriptors of the function's processes at the end of the invocation (`/proc/<pid>/fd`).";

    THREADS, "Threads", Count, Resources,
    "Threads of the function's processes at the end of the invocation (`/proc/<pid>/stat`).";

    // Per environment, and the extension itself.
    SHUTDOWNS, "Shutdowns", Count, Extension,
    "1 per environment shutdown (SHUTDOWN event), with its reason as the `ShutdownReason` property.";

    LOGS_DROPPED_RECORDS, "LogsDroppedRecords", Count, Extension,
    "Records Lambda dropped because a subscriber fell behind (`platform.logsDropped` `droppedRecords`).";

    LOGS_DROPPED_BYTES, "LogsDroppedBytes", Bytes, Extension,
    "Bytes Lambda dropped (`platform.logsDropped` `droppedBytes`).";

    EXTENSION_MEMORY, "ExtensionMemory", Megabytes, Extension,
    "The extension's own peak resident memory (`/proc/self/status` `VmHWM`).";

    TELEMETRY_RECORDS_REJECTED, "TelemetryRecordsRejected", Count, Extension,
    "Telemetry records the extension could not use (malformed, or of an unknown type), plus refused oversized batches (each counted once), since its previous report.";

    EMF_DOCUMENTS_WRITTEN, "EmfDocumentsWritten", Count, Extension,
    "EMF documents the extension wrote since its previous report.";

    // The PutMetricData sink (`LAMBDA_LENS_SINK` with `put-metric-data`); absent with the EMF sink.
    API_REQUESTS, "ApiRequests", Count, Extension,
    "PutMetricData requests the extension made (every attempt) since its previous report; only when `LAMBDA_LENS_SINK` names `put-metric-data`.";

    API_DATA_POINTS_SENT, "ApiDataPointsSent", Count, Extension,
    "Data points sent with PutMetricData since its previous report (those of requests with an unknown outcome included).";

    API_RETRIES, "ApiRetries", Count, Extension,
    "PutMetricData attempts after the first (throttling, 5xx, no connection) since its previous report.";

    API_FALLBACK_DATA_POINTS, "ApiFallbackDataPoints", Count, Extension,
    "Data points of PutMetricData requests that failed for good, written as EMF to stdout instead, since its previous report.";

    API_UNKNOWN_OUTCOMES, "ApiUnknownOutcomes", Count, Extension,
    "PutMetricData requests sent that got no answer in time: counted as sent, neither retried nor written as EMF (never stored twice).";

    // The OTLP sink (`LAMBDA_LENS_SINK` with `otlp`); absent without it.
    OTLP_REQUESTS, "OtlpRequests", Count, Extension,
    "OTLP export requests the extension made (every attempt) since its previous report; only when `LAMBDA_LENS_SINK` names `otlp`.";

    OTLP_DATA_POINTS_SENT, "OtlpDataPointsSent", Count, Extension,
    "OTLP data points sent since its previous report (those of exports with an unknown outcome included, those rejected excluded).";

    OTLP_RETRIES, "OtlpRetries", Count, Extension,
    "OTLP attempts after the first (429, 502, 503, 504, no connection) since its previous report.";

    OTLP_FALLBACK_RECORDS, "OtlpFallbackRecords", Count, Extension,
    "Records of OTLP exports that failed for good, written as EMF to stdout instead, since its previous report.";

    OTLP_UNKNOWN_OUTCOMES, "OtlpUnknownOutcomes", Count, Extension,
    "OTLP exports sent that got no answer in time: counted as sent, neither retried nor written as EMF (never stored twice).";

    OTLP_REJECTED_DATA_POINTS, "OtlpRejectedDataPoints", Count, Extension,
    "Data points the OTLP endpoint said it rejected in an accepted export (`partial_success.rejected_data_points`) since its previous report.";
}

/// The default set: only what `AWS/Lambda` does not publish for free, chosen so that the two
/// namespaces together answer every monitoring question. `AWS/Lambda` gives how many
/// (`Invocations`), how many failed (`Errors`, timeouts included), how long (`Duration` with
/// percentiles), what the extensions cost (`PostRuntimeExtensionsDuration`), throttles and
/// concurrency; these add how they failed, memory, init and cold starts, and cost. At most 8
/// custom metrics per function with the default dimensions (`RestoreDuration` only ever has
/// values on SnapStart functions). The values of the other metrics stay in each invocation's
/// document as properties.
pub static DEFAULT: &[&MetricDef] = &[
    &TIMEOUTS,
    &OUT_OF_MEMORY,
    &COLD_STARTS,
    &INIT_DURATION,
    &RESTORE_DURATION,
    &MAX_MEMORY_USED,
    &MEMORY_UTILIZATION,
    &ESTIMATED_COST,
];

/// Looks a metric up by its name, ignoring case.
pub fn by_name(name: &str) -> Option<&'static MetricDef> {
    ALL.iter().copied().find(|d| d.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_default_set_is_at_most_8_metrics_of_the_catalogue() {
        assert!(DEFAULT.len() <= 8);
        assert!(DEFAULT.iter().all(|d| ALL.iter().any(|a| std::ptr::eq(*a, *d))));
    }

    /// A selection is a bit set of indexes, and a record's values are checked against the
    /// catalogue by theirs: two metrics sharing one, or an index other than the metric's place,
    /// would switch or write the wrong metric.
    #[test]
    fn each_metric_knows_its_place_in_the_catalogue_and_no_two_share_one() {
        let mut seen = HashSet::new();
        for (i, def) in ALL.iter().enumerate() {
            assert_eq!(usize::from(def.index), i, "{}", def.name);
            assert!(seen.insert(def.index), "{} shares its index", def.name);
        }
        assert_eq!(seen.len(), ALL.len());
    }

    #[test]
    fn names_are_unique_and_valid_for_cloudwatch() {
        let mut seen = HashSet::new();
        for def in ALL {
            assert!(seen.insert(def.name), "duplicate {}", def.name);
            assert!(!def.name.is_empty() && def.name.len() <= 255);
            assert!(
                def.name.chars().all(|c| c.is_ascii_alphanumeric()),
                "{}",
                def.name
            );
            assert!(!def.about.is_empty());
        }
    }
}
