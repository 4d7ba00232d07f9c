//! Every metric lambda-lens emits. The README's metric table follows this list.

use super::{Group, MetricDef, Unit};

macro_rules! metric {
    ($ident:ident, $name:literal, $unit:ident, $group:ident, $about:literal) => {
        pub static $ident: MetricDef = MetricDef {
            name: $name,
            unit: Unit::$unit,
            group: Group::$group,
            about: $about,
        };
    };
}

metric!(
    INVOCATIONS,
    "Invocations",
    Count,
    Core,
    "1 per invocation (`platform.start`, or any of its events)."
);
metric!(
    ERRORS,
    "Errors",
    Count,
    Core,
    "1 when the status is `error` or `failure` (`platform.runtimeDone` / `platform.report`), else 0."
);
metric!(
    TIMEOUTS,
    "Timeouts",
    Count,
    Core,
    "1 when the status is `timeout`, or the invocation was in flight at a SHUTDOWN for `timeout`, else 0."
);
metric!(
    OUT_OF_MEMORY,
    "OutOfMemory",
    Count,
    Core,
    "1 when `errorType` is `Runtime.OutOfMemory`, or a failed invocation used all its memory, else 0."
);
metric!(
    COLD_STARTS,
    "ColdStarts",
    Count,
    Core,
    "1 on the first invocation after an init phase, else 0 (a SnapStart restore is not a cold start)."
);
metric!(
    DURATION,
    "Duration",
    Milliseconds,
    Core,
    "`platform.report` `durationMs`: the invocation, including the extensions' work after the response."
);
metric!(
    BILLED_DURATION,
    "BilledDuration",
    Milliseconds,
    Core,
    "`platform.report` `billedDurationMs`."
);
metric!(
    RUNTIME_DURATION,
    "RuntimeDuration",
    Milliseconds,
    Core,
    "`platform.runtimeDone` `metrics.durationMs`: the runtime's own work."
);
metric!(
    MEMORY_SIZE,
    "MemorySize",
    Megabytes,
    Core,
    "`platform.report` `memorySizeMB`: memory configured."
);
metric!(
    MAX_MEMORY_USED,
    "MaxMemoryUsed",
    Megabytes,
    Core,
    "`platform.report` `maxMemoryUsedMB`: peak memory of the environment."
);
metric!(
    INIT_DURATION,
    "InitDuration",
    Milliseconds,
    Core,
    "`platform.initReport` `metrics.durationMs` (or `report.initDurationMs`), on cold starts only."
);
metric!(
    PRODUCED_BYTES,
    "ProducedBytes",
    Bytes,
    Core,
    "`platform.runtimeDone` `metrics.producedBytes`: size of the response."
);

/// The whole catalogue, in README order.
pub static ALL: &[&MetricDef] = &[
    &INVOCATIONS,
    &ERRORS,
    &TIMEOUTS,
    &OUT_OF_MEMORY,
    &COLD_STARTS,
    &DURATION,
    &BILLED_DURATION,
    &RUNTIME_DURATION,
    &MEMORY_SIZE,
    &MAX_MEMORY_USED,
    &INIT_DURATION,
    &PRODUCED_BYTES,
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

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
