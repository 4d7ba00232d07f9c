//! A private mount namespace for the environment, as Lambda gives each one its own filesystem
//! view: an `/etc/hosts` in which `sandbox.localdomain` and `sandbox` are the environment's own
//! address (so an extension's listener binds there, as on Lambda), and optionally its own `/tmp`
//! (a tmpfs of the ephemeral storage size). A holder process made by util-linux's `unshare`
//! keeps the namespace; each process of the environment enters it with `nsenter` before it
//! execs. Needs root (CAP_SYS_ADMIN); elsewhere the sandbox runs without it and says so.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The environment's private mounts, kept by a holder process; gone when dropped.
#[derive(Debug)]
pub(crate) struct PrivateMounts {
    holder: Child,
    hosts: PathBuf,
    /// The size of the private `/tmp`, when there is one.
    pub(crate) tmp_mb: Option<u32>,
    /// Whether the holder also has a network namespace of its own (see `network.rs`).
    net: bool,
}

impl PrivateMounts {
    /// Makes the namespace: `/etc/hosts` naming the environment's address `addr`, and a
    /// private `/tmp` of `tmp_mb` when asked. `keep`: folders the environment needs (its code,
    /// its layer); those under the host's `/tmp` stay visible at the same paths inside the
    /// private one (bind mounts, which the tmpfs's usage does not count). `net`: the holder
    /// gets a network namespace too (empty: `network.rs` gives it its interfaces).
    pub(crate) fn create(
        addr: std::net::IpAddr,
        tmp_mb: Option<u32>,
        keep: &[PathBuf],
        net: bool,
    ) -> Result<Self, String> {
        let hosts = std::env::temp_dir().join(format!(
            "lambda-sandbox-hosts-{}-{}",
            std::process::id(),
            crate::ids::random_hex(4)
        ));
        std::fs::write(
            &hosts,
            format!(
                "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n{addr}\tsandbox.localdomain sandbox\n"
            ),
        )
        .map_err(|e| format!("cannot write {}: {e}", hosts.display()))?;
        let mut script = format!("mount --bind {} /etc/hosts || exit 1; ", quote(&hosts));
        if let Some(mb) = tmp_mb {
            // The tmpfs is made on a staging folder first, the folders to keep are bound into
            // it while the host's /tmp is still visible, then it is moved over /tmp.
            let stage = hosts.with_extension("tmp");
            std::fs::create_dir_all(&stage).map_err(|e| format!("cannot create {}: {e}", stage.display()))?;
            let s = quote(&stage);
            script.push_str(&format!(
                "mount -t tmpfs -o size={mb}m,mode=1777 lambda-tmp {s} || exit 1; "
            ));
            let tmp = std::path::Path::new("/tmp");
            for dir in keep.iter().filter_map(|d| std::fs::canonicalize(d).ok()) {
                let Ok(rel) = dir.strip_prefix(tmp) else { continue };
                let i = quote(&stage.join(rel));
                script.push_str(&format!(
                    "mkdir -p {i} && mount --bind {} {i} || exit 1; ",
                    quote(&dir)
                ));
            }
            script.push_str(&format!("mount --move {s} /tmp || exit 1; "));
        }
        // Ready once the mounts are made; then the holder only keeps the namespace alive, until
        // its standard input closes: the sandbox holds the other end, so a sandbox killed
        // outright (SIGKILL, no drop) does not leave its namespaces, and a private network's
        // interface, behind.
        script.push_str("echo ready; read _line");
        let mut holder = Command::new("unshare")
            .args(if net {
                &["--mount", "--net"][..]
            } else {
                &["--mount"][..]
            })
            .args(["--propagation", "private", "--", "/bin/sh", "-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                let _ = std::fs::remove_file(&hosts);
                format!("cannot run unshare (util-linux): {e}")
            })?;
        let ready = holder.stdout.take().map(BufReader::new).and_then(|mut out| {
            let mut line = String::new();
            out.read_line(&mut line).ok()?;
            (line.trim() == "ready").then_some(())
        });
        if ready.is_none() {
            let _ = holder.kill();
            let err = holder
                .wait_with_output()
                .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
                .unwrap_or_default();
            let _ = std::fs::remove_file(&hosts);
            return Err(format!("no private mount namespace: {err}"));
        }
        Ok(Self {
            holder,
            hosts,
            tmp_mb,
            net,
        })
    }

    /// The holder's pid: a process inside the namespaces.
    pub(crate) fn holder_pid(&self) -> u32 {
        self.holder.id()
    }

    /// The command prefix that runs a program inside the namespace, in `cwd` (entering a
    /// mount namespace resets the working directory). `nsenter` execs the program itself (no
    /// fork without `--pid`), so the pid the sandbox tracks is the program's.
    pub(crate) fn enter(&self, cwd: &std::path::Path) -> Vec<String> {
        let mut prefix = vec![
            "nsenter".to_owned(),
            format!("--target={}", self.holder.id()),
            "--mount".to_owned(),
        ];
        if self.net {
            prefix.push("--net".to_owned());
        }
        prefix.extend([format!("--wd={}", cwd.display()), "--".to_owned()]);
        prefix
    }
}

/// A path quoted for `sh`.
fn quote(p: &std::path::Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

impl Drop for PrivateMounts {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        // The tmpfs goes with the namespace's last process.
        let _ = std::fs::remove_file(&self.hosts);
        let _ = std::fs::remove_dir(self.hosts.with_extension("tmp"));
    }
}
