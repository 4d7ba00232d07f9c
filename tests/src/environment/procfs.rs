//! What the bench reads from `/proc` about an extension's process: its memory, its CPU time,
//! and which of the harness's children it is.

use std::path::Path;

/// One process's memory, from `/proc/<pid>/status`, in kB.
#[derive(Debug, Default, Clone, Copy)]
pub struct Memory {
    /// `VmRSS`.
    pub rss: u64,
    /// `VmHWM` (the peak since start or since the last `clear_refs` reset).
    pub hwm: u64,
    /// `RssAnon`.
    pub anon: u64,
    /// `RssFile`.
    pub file: u64,
}

/// `/proc/<pid>/status`'s memory lines, or `None` when the process is gone.
pub(crate) fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix(':')?;
            rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
        })
    };
    Some(Memory {
        rss: field("VmRSS")?,
        hwm: field("VmHWM")?,
        anon: field("RssAnon").unwrap_or(0),
        file: field("RssFile").unwrap_or(0),
    })
}

/// Resets the process's `VmHWM` to its current RSS (`5` to `clear_refs`, Linux >= 4.0).
/// Returns false where that file is not writable; the caller's sampler is then the only peak.
pub(crate) fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// CPU time the process's threads have run, in nanoseconds: the sum of the first field of
/// `/proc/<pid>/task/*/schedstat` (nanosecond resolution; `/proc/<pid>/stat` counts 10 ms
/// ticks). Threads that have ended are not counted: read it across a span in which the
/// process's threads live on.
pub(crate) fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    let mut any = false;
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        if let Some(ns) = text.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()) {
            total += ns;
            any = true;
        }
    }
    any.then_some(total)
}

/// The pid of this process's child that runs `exe` (the sandbox spawns from this process).
pub(crate) fn child_running(exe: &Path) -> Option<u32> {
    let exe = std::fs::canonicalize(exe).ok()?;
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .find(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == exe))
}
