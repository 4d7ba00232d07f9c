//! The init phase, freezing, and the teardown that ends an environment (a reset or shutdown).

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::json;

use crate::environment::output::Source;
use crate::environment::process;
use crate::error::SandboxError;
use crate::lifecycle::outcome::{InitOutcome, ProcessExit, ShutdownOutcome, ShutdownReason, Status};
use crate::lifecycle::state::{ExitKind, ExtensionAgent, Phase, RuntimeAgent, Shared};
use crate::telemetry::records::{self, ms};

/// How long a freeze waits for telemetry POSTs under way.
const FREEZE_WAIT: Duration = Duration::from_millis(500);
/// Time the runtime gets after SIGTERM at spindown (Lambda: up to 300 ms).
const RUNTIME_GRACE: Duration = Duration::from_millis(300);
/// How long the sandbox waits to see a SIGKILLed process end.
const REAP_WAIT: Duration = Duration::from_millis(1000);
/// How long an on-demand init keeps its whole vCPU: the on-demand init limit.
const INIT_BURST_LIMIT: Duration = Duration::from_secs(10);

/// Whether an init phase runs with a whole vCPU instead of the memory size's share.
///
/// - On demand, the init of a new environment: yes, for at most 10 s. AWS's guide "Effectively
///   running Java on Serverless" (written by AWS, on Serverless Land; the Lambda developer
///   guide is silent): "On-demand Lambda functions use a full vCPU (non-throttled) but is
///   limited to 10 seconds during its initialization phase" (a), and widely measured (c).
/// - Provisioned concurrency: no. The same guide: "there is no cpu burst and goes directly to
///   using proportional vCPU based on the memory allocation" (a).
/// - SnapStart's init (the snapshot, made ahead of requests like a provisioned one): no (d,
///   undocumented; taken to be like provisioned concurrency).
/// - Managed Instances: no; their CPU is the instance's, set by the capacity provider's memory
///   to vCPU ratio rather than by phase (d).
/// - The init re-run inside an invoke after a reset: no. It is part of the invocation (bounded
///   by the function's timeout and counted in its duration), so it runs as the invocation does
///   (d, undocumented).
fn init_cpu_burst(init_type: crate::config::InitializationType, phase: &str) -> bool {
    init_type == crate::config::InitializationType::OnDemand && phase == "init"
}

/// The init phase's whole vCPU, while it lasts: the cgroup's CPU cap is lifted to at least one
/// core, and set back to the memory size's share when the init ends (this is dropped) or after
/// [`INIT_BURST_LIMIT`], whichever comes first.
struct InitCpuBurst {
    shared: Arc<Shared>,
    timer: tokio::task::JoinHandle<()>,
}

impl InitCpuBurst {
    /// Lifts the cap, where the environment has one.
    fn start(shared: &Arc<Shared>) -> Option<Self> {
        let cgroup = shared.cgroup.as_ref()?;
        let share = cgroup.cpu_share()?;
        if !cgroup.set_cpu_quota(share.max(1.0)) {
            return None;
        }
        let later = Arc::clone(shared);
        let timer = tokio::spawn(async move {
            tokio::time::sleep(INIT_BURST_LIMIT).await;
            cap_at_share(&later);
        });
        Some(Self {
            shared: Arc::clone(shared),
            timer,
        })
    }
}

impl Drop for InitCpuBurst {
    fn drop(&mut self) {
        self.timer.abort();
        cap_at_share(&self.shared);
    }
}

/// Sets the CPU cap back to the memory size's share.
fn cap_at_share(shared: &Shared) {
    if let Some(c) = shared.cgroup.as_ref()
        && let Some(share) = c.cpu_share()
    {
        let _ = c.set_cpu_quota(share);
    }
}

/// Pids of the processes still running.
pub(crate) fn live_pids(shared: &Shared) -> Vec<u32> {
    shared.read(|st| {
        let rt = st.runtime.pid.filter(|_| st.runtime.exited.is_none());
        rt.into_iter()
            .chain(
                st.extensions
                    .iter()
                    .filter(|e| e.exited.is_none())
                    .filter_map(|e| e.pid),
            )
            .collect()
    })
}

/// Freezes the environment after letting POSTs under way finish, as Lambda does between
/// invocations: with the cgroup freezer where the environment has one, else SIGSTOP to each
/// process group (no privileges needed).
pub(crate) async fn freeze(shared: &Shared) {
    if shared.config.initialization_type == crate::config::InitializationType::LambdaManagedInstances {
        // Managed Instances keep running between invocations.
        return;
    }
    shared.hub.freeze(FREEZE_WAIT).await;
    if !shared.cgroup.as_ref().is_some_and(|c| c.set_frozen(true)) {
        process::set_stopped(&live_pids(shared), true);
    }
}

/// Continues the processes, then lets telemetry flow again.
pub(crate) fn thaw(shared: &Shared) {
    if !shared.cgroup.as_ref().is_some_and(|c| c.set_frozen(false)) {
        process::set_stopped(&live_pids(shared), false);
    }
    shared.hub.thaw();
}

/// Runs an init phase: starts the extensions, then the runtime, and waits (bounded by the
/// init limit) until the runtime and every extension have called next.
pub(crate) async fn init(
    shared: &Arc<Shared>,
    phase: &'static str,
    limit: Duration,
) -> Result<InitOutcome, SandboxError> {
    let config = &shared.config;
    let started = Instant::now();
    let extensions = match &config.layer_dir {
        Some(dir) => process::layer_extensions(dir)?,
        None => Vec::new(),
    };
    let names: Vec<String> = extensions
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let burst = init_cpu_burst(config.initialization_type, phase)
        .then(|| InitCpuBurst::start(shared))
        .flatten();
    shared.hub.mark_init_start();
    shared.update(|st| {
        st.phase = Phase::Init;
        st.generation += 1;
        st.runtime = RuntimeAgent::default();
        st.extensions = names.iter().cloned().map(ExtensionAgent::new).collect();
        st.invocations.clear();
        st.init_phase = phase;
        st.init_runtime_done_emitted = false;
    });
    let info = shared.init_info(phase);
    shared.emit(
        "platform.initStart",
        records::init_start(
            &info,
            &config.runtime,
            &config.function_name,
            &config.version,
            &config.region,
        ),
    );
    let log_stream = format!(
        "{}/[{}]{}",
        chrono::Utc::now().format("%Y/%m/%d"),
        config.version,
        crate::ids::random_hex(16)
    );
    let env = config.process_env(shared.addr, &log_stream);
    let extension_env = config.extension_env(shared.addr, &log_stream);
    // The extensions start first, and the runtime only once every one of them has registered
    // (or one has ended, or the init limit has passed): AWS's Lambda core (rapid) waits for the
    // external agents' registration before it starts the runtime, so an extension sees the
    // whole init phase.
    for (path, name) in extensions.iter().zip(names.iter()) {
        process::spawn(shared, path, Source::Extension(name.clone()), &extension_env)?;
    }
    let deadline = started + limit;
    shared
        .wait_until(Some(deadline), |st| {
            st.extensions
                .iter()
                .all(|e| e.id.is_some() || e.exited.is_some())
                .then_some(())
        })
        .await;
    process::spawn(shared, &config.bootstrap, Source::Function, &env)?;

    let waited = shared
        .wait_until(Some(deadline), |st| {
            if let Some(e) = &st.runtime.init_error {
                return Some(Err(e.clone()));
            }
            if let Some(e) = st.extensions.iter().find_map(|e| e.init_error.clone()) {
                return Some(Err(e));
            }
            if st.runtime.exited.is_some() {
                return Some(Err("Runtime.ExitError".to_owned()));
            }
            // An extension that ends during init fails it (whether or not it registered).
            if st.extensions.iter().any(|e| e.exited.is_some()) {
                return Some(Err("Extension.Crash".to_owned()));
            }
            (st.runtime.ready && st.extensions.iter().all(|e| e.ready)).then_some(Ok(()))
        })
        .await;
    // The init is over: the CPU is the memory size's share from now on.
    drop(burst);
    let (status, error_type) = match waited {
        Some(Ok(())) => (Status::Success, None),
        Some(Err(e)) => (Status::Error, Some(e)),
        // A timeout is status `timeout` with no errorType: "errorType: present only when
        // status is failure or error" (the Telemetry API schema reference).
        None => (Status::Timeout, None),
    };
    let duration_ms = ms(started.elapsed());
    shared.update(|st| {
        if !st.init_runtime_done_emitted {
            st.init_runtime_done_emitted = true;
            shared.emit(
                "platform.initRuntimeDone",
                records::init_runtime_done(&info, status.as_str(), error_type.as_deref()),
            );
        }
        shared.emit(
            "platform.initReport",
            records::init_report(&info, status.as_str(), error_type.as_deref(), duration_ms),
        );
        st.phase = Phase::Idle;
    });
    Ok(InitOutcome {
        phase: phase.to_owned(),
        status,
        error_type,
        duration_ms,
    })
}

fn all_exited(st: &crate::lifecycle::state::State) -> bool {
    st.runtime.exited.is_some() && st.extensions.iter().all(|e| e.exited.is_some())
}

/// Ends the environment: stops the runtime (SIGTERM, then SIGKILL after a grace period), sends
/// SHUTDOWN to the extensions registered for it while telemetry keeps
/// flowing, waits for them until the deadline, then SIGKILLs what is left.
pub(crate) async fn teardown(shared: &Arc<Shared>, reason: ShutdownReason) -> ShutdownOutcome {
    let config = &shared.config;
    thaw(shared);
    let t0 = Instant::now();
    let deadline = t0 + config.shutdown_deadline;
    let runtime_pid = shared.update(|st| {
        st.phase = Phase::Shutdown;
        st.runtime.pending.clear();
        st.runtime.pid.filter(|_| st.runtime.exited.is_none())
    });
    let mut killed: Vec<u32> = Vec::new();
    // At a spindown and at a reset alike, the runtime gets SIGTERM and part of the shutdown
    // budget, then SIGKILL (the Lambda documentation's shutdown phase; a reset "behaves like a
    // Shutdown event").
    if let Some(pid) = runtime_pid {
        process::signal(pid, Signal::SIGTERM);
        let gone = shared
            .wait_until(Some(t0 + RUNTIME_GRACE), |st| st.runtime.exited.map(|_| ()))
            .await;
        if gone.is_none() {
            process::signal(pid, Signal::SIGKILL);
            killed.push(pid);
        }
    }
    let shutdown_at = Instant::now();
    let remaining = deadline.saturating_duration_since(shutdown_at);
    let deadline_ms =
        chrono::Utc::now().timestamp_millis() + i64::try_from(remaining.as_millis()).unwrap_or(i64::MAX / 2);
    let event =
        json!({"eventType": "SHUTDOWN", "shutdownReason": reason.as_str(), "deadlineMs": deadline_ms});
    let uninformed: Vec<u32> = shared.update(|st| {
        let mut out = Vec::new();
        for e in st.extensions.iter_mut().filter(|e| e.exited.is_none()) {
            if e.id.is_some() && e.wants("SHUTDOWN") {
                e.queue.push_back(event.clone());
            } else if let Some(pid) = e.pid {
                // Not registered for SHUTDOWN: it cannot be told, so the sandbox does not wait
                // for it (Lambda would kill it at the deadline; the documentation is silent).
                out.push(pid);
            }
        }
        out
    });
    for pid in &uninformed {
        process::signal(*pid, Signal::SIGKILL);
    }
    killed.extend(uninformed);
    shared.hub.flush_all();
    let _ = shared
        .wait_until(Some(deadline), |st| {
            st.extensions.iter().all(|e| e.exited.is_some()).then_some(())
        })
        .await;
    for pid in live_pids(shared) {
        process::signal(pid, Signal::SIGKILL);
        killed.push(pid);
    }
    let _ = shared
        .wait_until(Some(Instant::now() + REAP_WAIT), |st| {
            all_exited(st).then_some(())
        })
        .await;
    let (processes, ids) = shared.read(|st| {
        let mut out = Vec::new();
        if let Some(pid) = st.runtime.pid {
            out.push(ProcessExit {
                source: Source::Function,
                pid,
                exit: st.runtime.exited.map_or(ExitKind::Unknown, |e| e.kind),
                killed: killed.contains(&pid),
                exited_after_shutdown: None,
            });
        }
        for e in &st.extensions {
            let Some(pid) = e.pid else { continue };
            out.push(ProcessExit {
                source: Source::Extension(e.name.clone()),
                pid,
                exit: e.exited.map_or(ExitKind::Unknown, |x| x.kind),
                killed: killed.contains(&pid),
                exited_after_shutdown: e.exited.map(|x| x.at.saturating_duration_since(shutdown_at)),
            });
        }
        let ids: Vec<String> = st.extensions.iter().filter_map(|e| e.id.clone()).collect();
        (out, ids)
    });
    shared.hub.unsubscribe(&ids);
    shared.update(|st| st.phase = Phase::Idle);
    ShutdownOutcome { reason, processes }
}
