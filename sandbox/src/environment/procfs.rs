//! The one reader of `/proc/<pid>`: a process's memory lines from `status`, the reset of its
//! peak, its CPU time, its children. The sandbox measures its environment with it; tools that
//! measure a process the sandbox runs (the bench) use it too.

use std::path::Path;

/// One process's memory, from `/proc/<pid>/status`, in kB.
#[derive(Debug, Default, Clone, Copy)]
pub struct Memory {
    /// `VmRSS`.
    pub rss: u64,
    /// `VmHWM` (the peak since start or since the last [`reset_peak`]).
    pub hwm: u64,
    /// `RssAnon`.
    pub anon: u64,
    /// `RssFile`.
    pub file: u64,
}

/// The value of a `kB` field (`VmRSS`, `VmHWM`) in a `/proc/<pid>/status` text.
pub fn status_field_kb(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// `/proc/<pid>/status`'s memory lines, or `None` when the process is gone (or is a kernel
/// thread, which has no `VmRSS`).
pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| status_field_kb(&status, name);
    Some(Memory {
        rss: field("VmRSS")?,
        hwm: field("VmHWM")?,
        anon: field("RssAnon").unwrap_or(0),
        file: field("RssFile").unwrap_or(0),
    })
}

/// Resets the process's `VmHWM` to its current RSS (`5` to `clear_refs`, Linux >= 4.0).
/// Returns false where that file is not writable; a sampler is then the only peak.
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// CPU time the process's threads have run, in nanoseconds: the sum of the first field of
/// `/proc/<pid>/task/*/schedstat` (nanosecond resolution; `/proc/<pid>/stat` counts 10 ms
/// ticks). Threads that have ended are not counted: read it across a span in which the
/// process's threads live on.
pub fn cpu_ns(pid: u32) -> Option<u64> {
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

/// The direct children of `pid` (every thread's `/proc/<pid>/task/<tid>/children`).
pub fn children(pid: &str) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `pids` and all their descendants.
pub fn with_descendants(pids: &[u32]) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    let mut todo: Vec<u32> = pids.to_vec();
    while let Some(pid) = todo.pop() {
        if out.contains(&pid) {
            continue;
        }
        out.push(pid);
        todo.extend(children(&pid.to_string()));
    }
    out
}

/// The pid of this process's child that runs `exe` (the sandbox spawns from this process).
pub fn child_running(exe: &Path) -> Option<u32> {
    let exe = std::fs::canonicalize(exe).ok()?;
    children("self")
        .into_iter()
        .find(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == exe))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_fields() {
        let s = "Name:\tpython3\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(status_field_kb(s, "VmHWM"), Some(20480));
        assert_eq!(status_field_kb(s, "VmRSS"), Some(10240));
        assert_eq!(status_field_kb(s, "VmSwap"), None);
    }

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        let m = memory(me).unwrap_or_default();
        assert!(m.rss > 0 && m.hwm >= m.rss / 2, "{m:?}");
        assert!(cpu_ns(me).is_some_and(|ns| ns > 0));
        assert!(with_descendants(&[me]).contains(&me));
    }
}
