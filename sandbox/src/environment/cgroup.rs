//! The environment's control group, as Lambda runs an execution environment: the memory size is
//! the memory cgroup's limit (the kernel's OOM killer ends a function that passes it), the peak
//! of the whole environment (the extensions included) is `maxMemoryUsedMB`, the freeze between
//! invocations is the cgroup freezer, and the CPU is capped in proportion to memory (one vCPU at
//! 1,769 MB). cgroup v1 (one hierarchy per controller) and v2 (one unified hierarchy) are both
//! supported; where no cgroup can be made (no privileges, no controller), the sandbox falls back
//! to `/proc` sampling and SIGSTOP, and says which ran ([`Isolation`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Lambda's CPU allocation: one vCPU at 1,769 MB, proportionally less below ("At 1,769 MB, a
/// function has the equivalent of one vCPU").
pub const MB_PER_VCPU: f64 = 1769.0;
/// The CFS period the quota is expressed in.
const CPU_PERIOD_US: u64 = 100_000;

/// What measures and limits memory, freezes and caps CPU: reported by `Sandbox::isolation` and
/// printed by the CLI.
#[derive(Debug, Clone, PartialEq)]
pub struct Isolation {
    /// `cgroup v1`, `cgroup v2`, or `/proc` (sampled; the limit enforced by the sandbox).
    pub memory: &'static str,
    /// `cgroup v1`, `cgroup v2`, or `SIGSTOP`.
    pub freezer: &'static str,
    /// The CPU quota as a share of one core, when one is applied.
    pub cpu_share: Option<f64>,
    /// Why the cgroup path was not taken, when it was not.
    pub fallback_reason: Option<String>,
    /// The private mounts (`/etc/hosts`, and `/tmp` when asked), or why there are none.
    pub mounts: Result<String, String>,
    /// The private network (`eth0`'s address and its peer), or why there is none (`Ok` only
    /// when one was asked for and made).
    pub network: Result<String, String>,
}

impl Isolation {
    /// Without cgroups.
    pub(crate) fn fallback(reason: String) -> Self {
        Self {
            memory: "/proc",
            freezer: "SIGSTOP",
            cpu_share: None,
            fallback_reason: Some(reason),
            mounts: Err("not made".to_owned()),
            network: Err("not asked for (Config::private_network)".to_owned()),
        }
    }

    /// One line for the CLI.
    pub fn describe(&self) -> String {
        let cpu = self.cpu_share.map_or_else(
            || "no CPU cap".to_owned(),
            |s| {
                format!(
                    "CPU {:.1} % of a core (at least a whole one during an on-demand init)",
                    s * 100.0
                )
            },
        );
        let mut line = format!(
            "environment: memory measured and limited by {}, frozen by {}, {cpu}",
            self.memory, self.freezer
        );
        if let Some(why) = &self.fallback_reason {
            line.push_str(&format!(" (no cgroup: {why})"));
        }
        match &self.mounts {
            Ok(m) => line.push_str(&format!("; private {m}")),
            Err(why) => line.push_str(&format!("; the host's /etc/hosts and /tmp ({why})")),
        }
        match &self.network {
            Ok(n) => line.push_str(&format!("; private network: {n}")),
            Err(why) => line.push_str(&format!("; the host's network ({why})")),
        }
        line
    }
}

#[derive(Debug)]
enum Layout {
    V1 {
        memory: PathBuf,
        freezer: Option<PathBuf>,
        cpu: Option<PathBuf>,
    },
    V2 {
        dir: PathBuf,
    },
}

/// One environment's cgroup(s); removed when dropped.
#[derive(Debug)]
pub(crate) struct EnvCgroup {
    layout: Layout,
    cpu_share: Option<f64>,
}

/// Where the hierarchies are mounted (`/sys/fs/cgroup`); a test may point elsewhere.
const ROOT: &str = "/sys/fs/cgroup";

impl EnvCgroup {
    /// Makes the cgroup of one environment named `name`, limited to `memory_mb`, and with the
    /// CPU share of that memory size when `cap_cpu`. Tries v1, then v2.
    pub(crate) fn create(name: &str, memory_mb: u32, cap_cpu: bool) -> Result<Self, String> {
        let limit = u64::from(memory_mb) * 1024 * 1024;
        let share = cap_cpu.then(|| f64::from(memory_mb) / MB_PER_VCPU);
        let root = Path::new(ROOT);
        let v1_memory = root.join("memory");
        if v1_memory.join("memory.limit_in_bytes").is_file() {
            return Self::create_v1(root, name, limit, share);
        }
        let unified = [root.to_path_buf(), root.join("unified")]
            .into_iter()
            .find(|d| d.join("cgroup.controllers").is_file());
        match unified {
            Some(dir) => Self::create_v2(&dir, name, limit, share),
            None => Err(format!("no cgroup hierarchy under {ROOT}")),
        }
    }

    fn create_v1(root: &Path, name: &str, limit: u64, share: Option<f64>) -> Result<Self, String> {
        let make = |controller: &str| -> Result<PathBuf, String> {
            let dir = root.join(controller).join("lambda-sandbox").join(name);
            std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            Ok(dir)
        };
        let memory = make("memory")?;
        write(&memory.join("memory.limit_in_bytes"), &limit.to_string())?;
        // No swap either, where the kernel accounts it: the limit is the memory size.
        let _ = std::fs::write(memory.join("memory.memsw.limit_in_bytes"), limit.to_string());
        // The freezer hierarchy's root has no freezer.state; its children do.
        let freezer = root
            .join("freezer/cgroup.procs")
            .is_file()
            .then(|| make("freezer"))
            .transpose()?;
        let cpu = match share {
            Some(s) if root.join("cpu/cpu.cfs_quota_us").is_file() => {
                let dir = make("cpu")?;
                write(&dir.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
                write(&dir.join("cpu.cfs_quota_us"), &quota_us(s).to_string())?;
                Some(dir)
            }
            _ => None,
        };
        let cpu_share = cpu.as_ref().and(share);
        Ok(Self {
            layout: Layout::V1 { memory, freezer, cpu },
            cpu_share,
        })
    }

    fn create_v2(unified: &Path, name: &str, limit: u64, share: Option<f64>) -> Result<Self, String> {
        let parent = unified.join("lambda-sandbox");
        std::fs::create_dir_all(&parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        let available = std::fs::read_to_string(unified.join("cgroup.controllers")).unwrap_or_default();
        if !available.split_whitespace().any(|c| c == "memory") {
            return Err(format!(
                "the memory controller is not enabled in {} (it is held by a v1 hierarchy, or not delegated)",
                unified.display()
            ));
        }
        let mut enable = "+memory".to_owned();
        if share.is_some() && available.split_whitespace().any(|c| c == "cpu") {
            enable.push_str(" +cpu");
        }
        write(&unified.join("cgroup.subtree_control"), &enable)?;
        write(&parent.join("cgroup.subtree_control"), &enable)?;
        let dir = parent.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        write(&dir.join("memory.max"), &limit.to_string())?;
        let _ = std::fs::write(dir.join("memory.swap.max"), "0");
        let cpu_share = match share {
            Some(s) if dir.join("cpu.max").is_file() => {
                write(&dir.join("cpu.max"), &format!("{} {CPU_PERIOD_US}", quota_us(s)))?;
                Some(s)
            }
            _ => None,
        };
        Ok(Self {
            layout: Layout::V2 { dir },
            cpu_share,
        })
    }

    /// What this cgroup does, for the caller.
    pub(crate) fn isolation(&self) -> Isolation {
        let (memory, freezer) = match &self.layout {
            Layout::V1 { freezer, .. } => (
                "cgroup v1",
                if freezer.is_some() { "cgroup v1" } else { "SIGSTOP" },
            ),
            Layout::V2 { .. } => ("cgroup v2", "cgroup v2"),
        };
        Isolation {
            memory,
            freezer,
            cpu_share: self.cpu_share,
            fallback_reason: None,
            mounts: Err("not made".to_owned()),
            network: Err("not asked for (Config::private_network)".to_owned()),
        }
    }

    fn dirs(&self) -> Vec<&Path> {
        match &self.layout {
            Layout::V1 { memory, freezer, cpu } => std::iter::once(memory.as_path())
                .chain(freezer.as_deref())
                .chain(cpu.as_deref())
                .collect(),
            Layout::V2 { dir } => vec![dir.as_path()],
        }
    }

    /// The `cgroup.procs` files a process writes its pid to, to join the environment (its
    /// children then follow it).
    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs().iter().map(|d| d.join("cgroup.procs")).collect()
    }

    fn memory_file(&self, v1: &str, v2: &str) -> PathBuf {
        match &self.layout {
            Layout::V1 { memory, .. } => memory.join(v1),
            Layout::V2 { dir } => dir.join(v2),
        }
    }

    /// Starts a new peak: the next [`EnvCgroup::peak_bytes`] is the highest usage from now.
    pub(crate) fn reset_peak(&self) {
        // v1: writing 0 resets the high-water mark; v2: writing to memory.peak resets it for
        // this writer (Linux 6.12 and later), earlier kernels refuse, and the peak is then the
        // cgroup's lifetime peak.
        let _ = std::fs::write(self.memory_file("memory.max_usage_in_bytes", "memory.peak"), "0");
    }

    /// The highest memory usage of the environment since the last reset, in bytes.
    pub(crate) fn peak_bytes(&self) -> Option<u64> {
        read_number(&self.memory_file("memory.max_usage_in_bytes", "memory.peak"))
    }

    /// How many processes the kernel's OOM killer has ended in this environment.
    pub(crate) fn oom_kills(&self) -> u64 {
        let text = std::fs::read_to_string(self.memory_file("memory.oom_control", "memory.events"))
            .unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Freezes (or thaws) every process of the environment and waits, briefly, until the kernel
    /// says it is done. False when this cgroup has no freezer (the caller uses signals).
    pub(crate) fn set_frozen(&self, frozen: bool) -> bool {
        let (file, value, state, done) = match &self.layout {
            Layout::V1 {
                freezer: Some(dir), ..
            } => (
                dir.join("freezer.state"),
                if frozen { "FROZEN" } else { "THAWED" },
                dir.join("freezer.state"),
                if frozen { "FROZEN" } else { "THAWED" },
            ),
            Layout::V1 { freezer: None, .. } => return false,
            Layout::V2 { dir } => (
                dir.join("cgroup.freeze"),
                if frozen { "1" } else { "0" },
                dir.join("cgroup.events"),
                if frozen { "frozen 1" } else { "frozen 0" },
            ),
        };
        if std::fs::write(&file, value).is_err() {
            return false;
        }
        // The kernel freezes asynchronously; a few milliseconds at most.
        let until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < until {
            let text = std::fs::read_to_string(&state).unwrap_or_default();
            if text.lines().any(|l| l.trim() == done) {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        true
    }

    /// The environment's CPU share of one core, when this cgroup caps the CPU.
    pub(crate) fn cpu_share(&self) -> Option<f64> {
        self.cpu_share
    }

    /// Sets the CPU quota to `share` of one core, where this cgroup caps the CPU: the init
    /// phase's burst lifts it, and the end of the init sets it back to the memory size's
    /// share. False when there is no cap to change.
    pub(crate) fn set_cpu_quota(&self, share: f64) -> bool {
        if self.cpu_share.is_none() {
            return false;
        }
        let quota = quota_us(share);
        match &self.layout {
            Layout::V1 { cpu: Some(dir), .. } => {
                write(&dir.join("cpu.cfs_quota_us"), &quota.to_string()).is_ok()
            }
            Layout::V1 { cpu: None, .. } => false,
            Layout::V2 { dir } => write(&dir.join("cpu.max"), &format!("{quota} {CPU_PERIOD_US}")).is_ok(),
        }
    }

    /// Whether the environment's processes are frozen now (for tests and the CLI).
    pub(crate) fn is_frozen(&self) -> bool {
        match &self.layout {
            Layout::V1 {
                freezer: Some(dir), ..
            } => std::fs::read_to_string(dir.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN"),
            Layout::V1 { freezer: None, .. } => false,
            Layout::V2 { dir } => std::fs::read_to_string(dir.join("cgroup.events"))
                .is_ok_and(|s| s.lines().any(|l| l.trim() == "frozen 1")),
        }
    }
}

impl Drop for EnvCgroup {
    fn drop(&mut self) {
        let _ = self.set_frozen(false);
        for dir in self.dirs() {
            // Whatever is left (a process that outlived the sandbox's kills) goes too.
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Whether this process may make an environment's cgroup here (what the sandbox tries first):
/// for tests that expect the cgroup path where it exists and the fallback elsewhere.
pub fn cgroups_available() -> bool {
    let name = format!("probe-{}-{}", std::process::id(), crate::ids::random_hex(4));
    EnvCgroup::create(&name, 128, false).is_ok()
}

/// The CFS quota for `share` of one core, per [`CPU_PERIOD_US`] (at least 1 ms, the kernel's
/// minimum).
fn quota_us(share: f64) -> u64 {
    let q = (share * CPU_PERIOD_US as f64).round();
    if q.is_finite() && q >= 1000.0 {
        q as u64
    } else {
        1000
    }
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("cannot write {value:?} to {}: {e}", path.display()))
}

fn read_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_follows_memory_as_on_lambda() {
        // 128 MB: about 7 % of a core; 1,769 MB: one core; the kernel's 1 ms minimum below.
        assert_eq!(quota_us(128.0 / MB_PER_VCPU), 7236);
        assert_eq!(quota_us(1769.0 / MB_PER_VCPU), 100_000);
        assert_eq!(quota_us(3538.0 / MB_PER_VCPU), 200_000);
        assert_eq!(quota_us(0.001), 1000);
        let iso = Isolation::fallback("not root".into());
        assert!(iso.describe().contains("/proc") && iso.describe().contains("not root"));
    }
}
