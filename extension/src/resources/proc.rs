//! Samples from `/proc` (and `statfs` of `/tmp`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::Sampler;
use crate::model::ResourceSample;

/// Clock ticks per second of `/proc/<pid>/stat` times. Linux fixes `USER_HZ` at 100 in its ABI
/// on the architectures Lambda runs (x86_64, arm64), so no `sysconf` call is needed.
const TICKS_PER_SECOND: f64 = 100.0;

/// Reads the processes that belong to the function: every descendant of lambda-lens's parent
/// (on Lambda, the environment's init, which starts the runtime and the extensions; in a local
/// emulator, the emulator) except lambda-lens and what it started.
#[derive(Debug, Clone)]
pub(crate) struct ProcSampler {
    proc_root: PathBuf,
    tmp: PathBuf,
    self_pid: u32,
    /// Processes found outside the function's tree: not read again (on a host with many
    /// processes, reading each one's stat at every sample is most of the cost). Forgotten every
    /// [`FORGET_FOREIGN_EVERY`] samples, in case a pid is reused.
    foreign: HashSet<u32>,
    samples: u64,
}

const FORGET_FOREIGN_EVERY: u64 = 64;

impl ProcSampler {
    pub(crate) fn new() -> Self {
        Self::at("/proc", "/tmp", std::process::id())
    }

    /// A sampler reading another `/proc` tree (tests).
    pub(crate) fn at(proc_root: impl Into<PathBuf>, tmp: impl Into<PathBuf>, self_pid: u32) -> Self {
        Self {
            proc_root: proc_root.into(),
            tmp: tmp.into(),
            self_pid,
            foreign: HashSet::new(),
            samples: 0,
        }
    }
}

impl Default for ProcSampler {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Stat {
    ppid: u32,
    user_ticks: u64,
    system_ticks: u64,
    threads: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may hold spaces and parentheses, so
/// fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = text.get(text.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    // A zombie (or dead) process has exited: it has no descriptors left to count.
    if matches!(f.first(), Some(&("Z" | "X" | "x"))) {
        return None;
    }
    Some(Stat {
        ppid: u32::try_from(num(1)?).ok()?,
        user_ticks: num(11)? + num(13)?,
        system_ticks: num(12)? + num(14)?,
        threads: num(17)?,
    })
}

/// Sums received and sent bytes over the interfaces of `/proc/net/dev`, loopback excluded.
fn parse_net_dev(text: &str) -> (u64, u64) {
    let mut totals = (0, 0);
    for line in text.lines().skip(2) {
        let Some((iface, counters)) = line.split_once(':') else {
            continue;
        };
        if iface.trim() == "lo" {
            continue;
        }
        let c: Vec<u64> = counters
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if let (Some(rx), Some(tx)) = (c.first(), c.get(8)) {
            totals.0 += rx;
            totals.1 += tx;
        }
    }
    totals
}

fn tmp_used(path: &Path) -> Option<u64> {
    let s = nix::sys::statvfs::statvfs(path).ok()?;
    let used_blocks = s.blocks().saturating_sub(s.blocks_free());
    Some(used_blocks.saturating_mul(s.fragment_size()))
}

impl ProcSampler {
    /// Stats of every process not known to be outside the function's tree.
    fn processes(&self) -> HashMap<u32, Stat> {
        let Ok(entries) = std::fs::read_dir(&self.proc_root) else {
            return HashMap::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let pid: u32 = e.file_name().to_str()?.parse().ok()?;
                if self.foreign.contains(&pid) {
                    return None;
                }
                let text = std::fs::read_to_string(e.path().join("stat")).ok()?;
                Some((pid, parse_stat(&text)?))
            })
            .collect()
    }

    /// The function's processes: descendants of our parent, minus our own subtree.
    fn function_pids(&self, all: &HashMap<u32, Stat>) -> Vec<u32> {
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        for (pid, stat) in all {
            children.entry(stat.ppid).or_default().push(*pid);
        }
        let root = all.get(&self.self_pid).map_or(0, |s| s.ppid);
        let mut found = Vec::new();
        let mut queue = vec![root];
        while let Some(pid) = queue.pop() {
            for child in children.get(&pid).into_iter().flatten() {
                if *child == self.self_pid {
                    continue;
                }
                found.push(*child);
                queue.push(*child);
            }
        }
        found
    }
}

/// The extension's own peak resident memory (`VmHWM` of `/proc/self/status`), in bytes.
pub(crate) fn own_peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

impl Sampler for ProcSampler {
    fn sample(&mut self) -> ResourceSample {
        self.samples += 1;
        if self.samples.is_multiple_of(FORGET_FOREIGN_EVERY) {
            self.foreign.clear();
        }
        let all = self.processes();
        let members = self.function_pids(&all);
        let in_tree: HashSet<u32> = members.iter().copied().collect();
        self.foreign.extend(
            all.keys()
                .filter(|p| **p != self.self_pid && !in_tree.contains(p)),
        );
        let mut sample = ResourceSample::default();
        let (mut user, mut system) = (0u64, 0u64);
        for pid in members {
            let Some(stat) = all.get(&pid) else {
                continue;
            };
            sample.processes += 1;
            user += stat.user_ticks;
            system += stat.system_ticks;
            sample.threads += stat.threads;
            let fd_dir = self.proc_root.join(pid.to_string()).join("fd");
            sample.file_descriptors += std::fs::read_dir(fd_dir).map_or(0, |d| d.count() as u64);
        }
        sample.cpu_user_ms = user as f64 * 1000.0 / TICKS_PER_SECOND;
        sample.cpu_system_ms = system as f64 * 1000.0 / TICKS_PER_SECOND;
        let net = std::fs::read_to_string(self.proc_root.join("net/dev")).unwrap_or_default();
        (sample.net_rx_bytes, sample.net_tx_bytes) = parse_net_dev(&net);
        sample.tmp_used_bytes = tmp_used(&self.tmp);
        sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat_line(pid: u32, comm: &str, ppid: u32, utime: u64, stime: u64, threads: u64) -> String {
        format!(
            "{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 100 0 0 0 {utime} {stime} 2 1 20 0 {threads} 0 123 4096 300"
        )
    }

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let s = parse_stat(&stat_line(7, "my ) weird (name", 1, 250, 50, 4)).unwrap();
        assert_eq!(s.ppid, 1);
        assert_eq!(s.user_ticks, 252, "utime + cutime");
        assert_eq!(s.system_ticks, 51, "stime + cstime");
        assert_eq!(s.threads, 4);
        assert!(parse_stat("garbage").is_none());
        let zombie = stat_line(9, "gone", 1, 1, 1, 1).replacen(" S ", " Z ", 1);
        assert!(parse_stat(&zombie).is_none());
    }

    #[test]
    fn net_dev_skips_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 5000 10 0 0 0 0 0 0 5000 10 0 0 0 0 0 0\n  eth0: 1200 3 0 0 0 0 0 0 800 2 0 0 0 0 0 0\n  eth1: 34 1 0 0 0 0 0 0 66 1 0 0 0 0 0 0\n";
        assert_eq!(parse_net_dev(text), (1234, 866));
        assert_eq!(parse_net_dev(""), (0, 0));
    }

    #[test]
    fn samples_the_function_processes_of_a_proc_tree() {
        let root = std::env::temp_dir().join(format!("lens-proc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        // 1: init; 10: runtime (child 11); 20: lambda-lens (child 21, ours); 30: another tree.
        let procs = [
            (1, 0, 0, 0, 1),
            (10, 1, 300, 100, 4),
            (11, 10, 100, 0, 1),
            (20, 1, 999, 999, 2),
            (21, 20, 999, 999, 1),
            (30, 0, 5, 5, 1),
        ];
        for (pid, ppid, u, s, t) in procs {
            let dir = root.join(pid.to_string());
            std::fs::create_dir_all(dir.join("fd")).unwrap();
            std::fs::write(dir.join("stat"), stat_line(pid, "x", ppid, u, s, t)).unwrap();
            for fd in 0..3 {
                std::fs::write(dir.join("fd").join(fd.to_string()), "").unwrap();
            }
        }
        std::fs::create_dir_all(root.join("net")).unwrap();
        std::fs::write(root.join("net/dev"), "h\nh\n eth0: 100 0 0 0 0 0 0 0 200 0\n").unwrap();
        let mut sampler = ProcSampler::at(&root, std::env::temp_dir(), 20);
        let s = sampler.sample();
        assert_eq!(sampler.foreign, HashSet::from([1, 21, 30]), "not read again");
        // The fake tree gives the same figures again; `/tmp` is a real filesystem that other
        // tests write to, so its use is not compared.
        let again = sampler.sample();
        assert_eq!(
            ResourceSample {
                tmp_used_bytes: None,
                ..again
            },
            ResourceSample {
                tmp_used_bytes: None,
                ..s
            },
            "the same figures from the cached tree"
        );
        // Processes 10 and 11 (cutime 2 and cstime 1 each, from stat_line).
        assert_eq!(s.processes, 2);
        assert_eq!(s.cpu_user_ms, (300.0 + 2.0 + 100.0 + 2.0) * 10.0);
        assert_eq!(s.cpu_system_ms, (100.0 + 1.0 + 0.0 + 1.0) * 10.0);
        assert_eq!(s.threads, 5);
        assert_eq!(s.file_descriptors, 6);
        assert_eq!((s.net_rx_bytes, s.net_tx_bytes), (100, 200));
        assert!(s.tmp_used_bytes.is_some());
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// The real `/proc`: this test process plays the environment's init, one child plays
    /// lambda-lens and another the runtime, busy on the CPU. The sampler must find the runtime
    /// (and only it: the "extension" and its subtree are left out) and see its CPU time grow.
    #[test]
    fn the_real_proc_finds_the_function_process_and_its_cpu() {
        use std::process::{Command, Stdio};
        let spawn = |script: &str| {
            Command::new("sh")
                .args(["-c", script])
                .stdin(Stdio::null())
                .spawn()
                .unwrap()
        };
        let mut extension = spawn("exec sleep 30");
        let mut runtime = spawn("while :; do :; done");
        let mut sampler = ProcSampler::at("/proc", "/tmp", extension.id());
        let first = sampler.sample();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut last = first;
        while last.cpu_user_ms + last.cpu_system_ms <= first.cpu_user_ms + first.cpu_system_ms
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
            last = sampler.sample();
        }
        runtime.kill().unwrap();
        extension.kill().unwrap();
        runtime.wait().unwrap();
        extension.wait().unwrap();
        // The test harness may run other children of this process at the same time (other
        // tests): at least the runtime is found, never the "extension".
        assert!(first.processes >= 1, "{first:?}");
        assert!(first.threads >= 1 && first.file_descriptors >= 3, "{first:?}");
        assert!(
            last.cpu_user_ms + last.cpu_system_ms > first.cpu_user_ms + first.cpu_system_ms,
            "the busy runtime's CPU time grew: {first:?} then {last:?}"
        );
        assert!(last.tmp_used_bytes.is_some(), "statfs of /tmp works");
    }
}
