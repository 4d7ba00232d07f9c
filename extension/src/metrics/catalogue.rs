//! Every metric lambda-lens emits. The README's metric table follows this list.

use super::{Group, MetricDef, Unit};

macro_rules! metric {
    ($index:literal, $ident:ident, $name:literal, $unit:ident, $group:ident, $about:literal) => {
        pub static $ident: MetricDef = MetricDef {
            index: $index,
            name: $name,
            unit: Unit::$unit,
            group: Group::$group,
            about: $about,
        };
    };
}

// Core and detail: per invocation, from the platform events.
metric!(
    0,
    INVOCATIONS,
    "Invocations",
    Count,
    Core,
    "1 per invocation (`platform.start`, or any of its events)."
);
metric!(
    1,
    ERRORS,
    "Errors",
    Count,
    Core,
    "1 when the status is `error` or `failure` (`platform.runtimeDone` / `platform.report`), else 0. Unlike `AWS/Lambda` `Errors`, timeouts are counted apart, in `Timeouts`."
);
metric!(
    2,
    TIMEOUTS,
    "Timeouts",
    Count,
    Core,
    "1 when the status is `timeout`, or the invocation was in flight at a SHUTDOWN for `timeout` with no `runtimeDone`, else 0."
);
metric!(
    3,
    OUT_OF_MEMORY,
    "OutOfMemory",
    Count,
    Core,
    "1 when `errorType` is `Runtime.OutOfMemory`, or a failed invocation's peak memory reached its size, else 0 (once per request)."
);
metric!(
    4,
    COLD_STARTS,
    "ColdStarts",
    Count,
    Core,
    "1 on the first invocation after an init phase, else 0 (a SnapStart restore, and its replayed init events, are not a cold start)."
);
metric!(
    5,
    CONCURRENT_INVOCATIONS,
    "ConcurrentInvocations",
    Count,
    Core,
    "Invocations running in the environment when this one started, itself included (overlapping `platform.start`/`platform.runtimeDone`): above 1 only on Lambda Managed Instances."
);
metric!(
    6,
    DURATION,
    "Duration",
    Milliseconds,
    Core,
    "`platform.report` `durationMs`: the invocation, including the extensions' work after the response."
);
metric!(
    7,
    BILLED_DURATION,
    "BilledDuration",
    Milliseconds,
    Core,
    "`platform.report` `billedDurationMs`."
);
metric!(
    8,
    RUNTIME_DURATION,
    "RuntimeDuration",
    Milliseconds,
    Detail,
    "`platform.runtimeDone` `metrics.durationMs`: the runtime's own work."
);
metric!(
    9,
    POST_RUNTIME_DURATION,
    "PostRuntimeDuration",
    Milliseconds,
    Detail,
    "What the extensions cost the invocation after the runtime was done: the report's `extensionOverhead` span where Lambda sends it, else `Duration` − `RuntimeDuration`."
);
metric!(
    10,
    RESPONSE_LATENCY,
    "ResponseLatency",
    Milliseconds,
    Detail,
    "`platform.runtimeDone` span `responseLatency`: from the invocation to the first byte of the response."
);
metric!(
    11,
    RESPONSE_DURATION,
    "ResponseDuration",
    Milliseconds,
    Detail,
    "`platform.runtimeDone` span `responseDuration`: sending the response."
);
metric!(
    12,
    RUNTIME_OVERHEAD,
    "RuntimeOverhead",
    Milliseconds,
    Detail,
    "`platform.runtimeDone` span `runtimeOverhead`: the runtime's work after the response, until its next `/invocation/next`."
);
metric!(
    13,
    PRODUCED_BYTES,
    "ProducedBytes",
    Bytes,
    Detail,
    "`platform.runtimeDone` `metrics.producedBytes`: size of the response."
);
metric!(
    14,
    INIT_DURATION,
    "InitDuration",
    Milliseconds,
    Core,
    "`platform.initReport` `metrics.durationMs` (or `report.initDurationMs`), on cold starts only; the init type is the `InitType` property."
);
metric!(
    15,
    RESTORE_DURATION,
    "RestoreDuration",
    Milliseconds,
    Core,
    "SnapStart `platform.restoreReport` `metrics.durationMs` (or `report.restoreDurationMs`), on the first invocation after a restore."
);
metric!(
    16,
    INIT_ERRORS,
    "InitErrors",
    Count,
    Core,
    "1 per init (or restore) phase whose status is not `success` (`platform.initReport`), with its `errorType` as a property."
);
metric!(
    17,
    MEMORY_SIZE,
    "MemorySize",
    Megabytes,
    Detail,
    "`platform.report` `memorySizeMB`: memory configured."
);
metric!(
    18,
    MAX_MEMORY_USED,
    "MaxMemoryUsed",
    Megabytes,
    Core,
    "`platform.report` `maxMemoryUsedMB`: peak memory of the environment."
);
metric!(
    19,
    MEMORY_UTILIZATION,
    "MemoryUtilization",
    Percent,
    Core,
    "`MaxMemoryUsed` ÷ `MemorySize` × 100."
);

// Cost.
metric!(
    20,
    ESTIMATED_COST,
    "EstimatedCost",
    None,
    Cost,
    "US dollars: `BilledDuration` × `MemorySize` × the region's and architecture's price per GB-second, plus the request charge (a dated price table in the code, overridable)."
);

// Resources: sampled from /proc at invocation boundaries (see the README).
metric!(
    21,
    CPU_USER_TIME,
    "CpuUserTime",
    Milliseconds,
    Resources,
    "CPU time in user mode of the function's processes during the invocation (`/proc/<pid>/stat` deltas)."
);
metric!(
    22,
    CPU_SYSTEM_TIME,
    "CpuSystemTime",
    Milliseconds,
    Resources,
    "CPU time in kernel mode of the function's processes during the invocation (`/proc/<pid>/stat` deltas)."
);
metric!(
    23,
    CPU_TOTAL_TIME,
    "CpuTotalTime",
    Milliseconds,
    Resources,
    "`CpuUserTime` + `CpuSystemTime`."
);
metric!(
    24,
    NETWORK_RX_BYTES,
    "NetworkRxBytes",
    Bytes,
    Resources,
    "Bytes received on the network interfaces, loopback excluded, during the invocation (`/proc/net/dev` deltas)."
);
metric!(
    25,
    NETWORK_TX_BYTES,
    "NetworkTxBytes",
    Bytes,
    Resources,
    "Bytes sent on the network interfaces, loopback excluded, during the invocation (`/proc/net/dev` deltas)."
);
metric!(
    26,
    TMP_USED,
    "TmpUsed",
    Bytes,
    Resources,
    "Bytes used on `/tmp` at the end of the invocation (`statfs`)."
);
metric!(
    27,
    FILE_DESCRIPTORS,
    "FileDescriptors",
    Count,
    Resources,
    "Open file descriptors of the function's processes at the end of the invocation (`/proc/<pid>/fd`)."
);
metric!(
    28,
    THREADS,
    "Threads",
    Count,
    Resources,
    "Threads of the function's processes at the end of the invocation (`/proc/<pid>/stat`)."
);

// Per environment, and the extension itself.
metric!(
    29,
    SHUTDOWNS,
    "Shutdowns",
    Count,
    Extension,
    "1 per environment shutdown (SHUTDOWN event), with its reason as the `ShutdownReason` property."
);
metric!(
    30,
    LOGS_DROPPED_RECORDS,
    "LogsDroppedRecords",
    Count,
    Extension,
    "Records Lambda dropped because a subscriber fell behind (`platform.logsDropped` `droppedRecords`)."
);
metric!(
    31,
    LOGS_DROPPED_BYTES,
    "LogsDroppedBytes",
    Bytes,
    Extension,
    "Bytes Lambda dropped (`platform.logsDropped` `droppedBytes`)."
);
metric!(
    32,
    EXTENSION_MEMORY,
    "ExtensionMemory",
    Megabytes,
    Extension,
    "The extension's own peak resident memory (`/proc/self/status` `VmHWM`)."
);
metric!(
    33,
    TELEMETRY_RECORDS_REJECTED,
    "TelemetryRecordsRejected",
    Count,
    Extension,
    "Telemetry records the extension could not use (malformed, or of an unknown type), plus refused oversized batches (each counted once), since its previous report."
);
metric!(
    34,
    EMF_DOCUMENTS_WRITTEN,
    "EmfDocumentsWritten",
    Count,
    Extension,
    "EMF documents the extension wrote since its previous report."
);
// The PutMetricData sink (`LAMBDA_LENS_SINK` with `put-metric-data`); absent with the EMF sink.
metric!(
    35,
    API_REQUESTS,
    "ApiRequests",
    Count,
    Extension,
    "PutMetricData requests the extension made (every attempt) since its previous report; only when `LAMBDA_LENS_SINK` names `put-metric-data`."
);
metric!(
    36,
    API_DATA_POINTS_SENT,
    "ApiDataPointsSent",
    Count,
    Extension,
    "Data points sent with PutMetricData since its previous report (those of requests with an unknown outcome included)."
);
metric!(
    37,
    API_RETRIES,
    "ApiRetries",
    Count,
    Extension,
    "PutMetricData attempts after the first (throttling, 5xx, no connection) since its previous report."
);
metric!(
    38,
    API_FALLBACK_DATA_POINTS,
    "ApiFallbackDataPoints",
    Count,
    Extension,
    "Data points of PutMetricData requests that failed for good, written as EMF to stdout instead, since its previous report."
);
metric!(
    39,
    API_UNKNOWN_OUTCOMES,
    "ApiUnknownOutcomes",
    Count,
    Extension,
    "PutMetricData requests sent that got no answer in time: counted as sent, neither retried nor written as EMF (never stored twice)."
);

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

/// The whole catalogue, in README order.
pub static ALL: &[&MetricDef] = &[
    &INVOCATIONS,
    &ERRORS,
    &TIMEOUTS,
    &OUT_OF_MEMORY,
    &COLD_STARTS,
    &CONCURRENT_INVOCATIONS,
    &DURATION,
    &BILLED_DURATION,
    &RUNTIME_DURATION,
    &POST_RUNTIME_DURATION,
    &RESPONSE_LATENCY,
    &RESPONSE_DURATION,
    &RUNTIME_OVERHEAD,
    &PRODUCED_BYTES,
    &INIT_DURATION,
    &RESTORE_DURATION,
    &INIT_ERRORS,
    &MEMORY_SIZE,
    &MAX_MEMORY_USED,
    &MEMORY_UTILIZATION,
    &ESTIMATED_COST,
    &CPU_USER_TIME,
    &CPU_SYSTEM_TIME,
    &CPU_TOTAL_TIME,
    &NETWORK_RX_BYTES,
    &NETWORK_TX_BYTES,
    &TMP_USED,
    &FILE_DESCRIPTORS,
    &THREADS,
    &SHUTDOWNS,
    &LOGS_DROPPED_RECORDS,
    &LOGS_DROPPED_BYTES,
    &EXTENSION_MEMORY,
    &TELEMETRY_RECORDS_REJECTED,
    &EMF_DOCUMENTS_WRITTEN,
    &API_REQUESTS,
    &API_DATA_POINTS_SENT,
    &API_RETRIES,
    &API_FALLBACK_DATA_POINTS,
    &API_UNKNOWN_OUTCOMES,
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

    #[test]
    fn each_metric_knows_its_place_in_the_catalogue() {
        for (i, def) in ALL.iter().enumerate() {
            assert_eq!(usize::from(def.index), i, "{}", def.name);
        }
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
