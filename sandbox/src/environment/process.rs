//! Child processes: start them with Lambda's environment, capture their output, signal them.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::environment::output::{OutputLine, Source, Stream};
use crate::error::SandboxError;
use crate::lifecycle::state::{Exit, ExitKind, Shared};
use crate::telemetry::records::TelemetryRecord;

/// Lambda's `PATH` for custom runtimes. The host's `PATH` is appended so that scripts with
/// `#!/usr/bin/env python3` find their interpreter wherever the host keeps it.
const LAMBDA_PATH: &str = "/usr/local/bin:/usr/bin/:/bin:/opt/bin";

/// The executables of `<layer>/extensions/`, sorted by name (Lambda starts them in parallel;
/// the order only matters for reproducible logs).
pub(crate) fn layer_extensions(layer: &Path) -> Result<Vec<PathBuf>, SandboxError> {
    let dir = layer.join("extensions");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(SandboxError::Layer { path: dir, source }),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| SandboxError::Layer {
            path: dir.clone(),
            source,
        })?;
        let path = entry.path();
        if is_executable(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Starts one process in its own process group, stdout and stderr captured line by line.
/// Returns its pid. A waiter task records its exit in the state.
pub(crate) fn spawn(
    shared: &Arc<Shared>,
    path: &Path,
    source: Source,
    env: &[(String, String)],
) -> Result<u32, SandboxError> {
    let host_path = std::env::var("PATH").unwrap_or_default();
    let cwd = shared
        .config
        .task_root
        .clone()
        .or_else(|| shared.config.bootstrap.parent().map(PathBuf::from))
        .filter(|p| p.is_dir())
        .unwrap_or_else(|| PathBuf::from("/"));
    let cwd = std::fs::canonicalize(&cwd).unwrap_or(cwd);
    // Absolute, since the process starts in the task root.
    let path = &std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    // In a cgroup environment the process joins the cgroup before it execs, so every byte it
    // allocates is charged there from the start (moving it afterwards would leave its first
    // allocations outside, and a fork before the move would escape). A shell does the joining:
    // the project keeps `unsafe` (a `pre_exec` hook) out.
    // In a private mount namespace, `nsenter` enters it and execs the program.
    let enter = shared.mounts.as_ref().map(|m| m.enter(&cwd)).unwrap_or_default();
    let mut cmd = match (&shared.cgroup, enter.split_first()) {
        (Some(cg), _) => {
            let joins: String = cg
                .procs_files()
                .iter()
                .map(|f| format!("echo $$ > '{}' || exit 126; ", f.display()))
                .collect();
            let mut c = tokio::process::Command::new("/bin/sh");
            c.arg("-c")
                .arg(format!("{joins}exec \"$@\""))
                .arg("lambda-sandbox-spawn")
                .args(&enter)
                .arg(path);
            c
        }
        (None, Some((nsenter, args))) => {
            let mut c = tokio::process::Command::new(nsenter);
            c.args(args).arg(path);
            c
        }
        (None, None) => tokio::process::Command::new(path),
    };
    cmd.env_clear()
        .env("PATH", format!("{LAMBDA_PATH}:{host_path}"))
        .env("LANG", "en_US.UTF-8")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // An executable written a moment ago can still be open for writing in a child that another
    // thread of this process forked meanwhile (until that child execs): exec then fails with
    // "text file busy". The window is microseconds; try again a few times (this function is
    // synchronous, and the wait is short).
    let mut tries = 0;
    let mut child = loop {
        match cmd.spawn() {
            Err(err) if err.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            spawned => {
                break spawned.map_err(|source| SandboxError::Spawn {
                    path: path.to_owned(),
                    source,
                })?;
            }
        }
    };
    let Some(pid) = child.id() else {
        return Err(SandboxError::Spawn {
            path: path.to_owned(),
            source: std::io::Error::other("the process exited before it could be tracked"),
        });
    };
    shared.update(|st| match &source {
        Source::Function => st.runtime.pid = Some(pid),
        Source::Extension(name) => {
            for e in st.extensions.iter_mut().filter(|e| &e.name == name) {
                e.pid = Some(pid);
            }
        }
    });
    let mut captures = Vec::new();
    if let Some(out) = child.stdout.take() {
        captures.push(tokio::spawn(capture(
            Arc::clone(shared),
            out,
            source.clone(),
            Stream::Stdout,
        )));
    }
    if let Some(err) = child.stderr.take() {
        captures.push(tokio::spawn(capture(
            Arc::clone(shared),
            err,
            source.clone(),
            Stream::Stderr,
        )));
    }
    let waiter_shared = Arc::clone(shared);
    tokio::spawn(async move {
        let status = child.wait().await;
        // The exit's time is when it was reaped, not when its pipes were drained below.
        let exited_at = Instant::now();
        // A process's last lines (an extension's final flush) are written just before it exits:
        // read its pipes to the end before saying it exited, so callers see all its output.
        // Bounded, since a child the process left behind may hold the pipes open.
        for handle in captures {
            let _ = tokio::time::timeout(std::time::Duration::from_millis(500), handle).await;
        }
        let kind = match status {
            Ok(s) => match (s.code(), s.signal()) {
                (Some(c), _) => ExitKind::Code(c),
                (None, Some(sig)) => ExitKind::Signal(sig),
                (None, None) => ExitKind::Unknown,
            },
            Err(_) => ExitKind::Unknown,
        };
        let exit = Exit { kind, at: exited_at };
        waiter_shared.update(|st| {
            if st.runtime.pid == Some(pid) {
                st.runtime.exited = Some(exit);
            }
            for e in st.extensions.iter_mut().filter(|e| e.pid == Some(pid)) {
                e.exited = Some(exit);
            }
        });
    });
    Ok(pid)
}

async fn capture(shared: Arc<Shared>, pipe: impl AsyncRead + Unpin, source: Source, stream: Stream) {
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    let json_logs = shared.config.logging.format.is_json();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        let text = String::from_utf8_lossy(&buf).into_owned();
        let time = Utc::now();
        if shared.config.echo_output {
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "[{source} {}] {text}", stream.as_str());
        }
        // With the JSON log format, a line that is a JSON object is delivered as an object.
        let record = match serde_json::from_str::<Value>(&text) {
            Ok(v @ Value::Object(_)) if json_logs => v,
            _ => Value::String(text.clone()),
        };
        let kind = match source {
            Source::Function => "function",
            Source::Extension(_) => "extension",
        };
        shared.hub.publish(TelemetryRecord::new(time, kind, record));
        shared.output.push(OutputLine {
            time,
            source: source.clone(),
            stream,
            text,
        });
    }
}

/// Sends `sig` to the process group led by `pid` (the process and what it started).
/// A group that no longer exists is not an error.
pub(crate) fn signal(pid: u32, sig: Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = killpg(Pid::from_raw(raw), sig);
    }
}

/// Stops (freezes) or continues (thaws) the groups of `pids`. A stop is delivered
/// asynchronously: this waits (at most 100 ms) until the processes are stopped, as the cgroup
/// freezer's state is awaited.
pub(crate) fn set_stopped(pids: &[u32], stopped: bool) {
    let sig = if stopped { Signal::SIGSTOP } else { Signal::SIGCONT };
    for pid in pids {
        signal(*pid, sig);
    }
    if stopped {
        let until = Instant::now() + std::time::Duration::from_millis(100);
        while Instant::now() < until && !pids.iter().all(|p| is_stopped(*p) || !is_alive(*p)) {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }
}

fn is_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether `pid` is stopped (`T` in `/proc/<pid>/stat`): the SIGSTOP freeze.
pub(crate) fn is_stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('T'))
        })
        .unwrap_or(false)
}

/// A regular file with an execute bit: what Lambda starts as an extension or a bootstrap.
pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
