//! The environment's shared state: what the API handlers and the lifecycle driver both see.
//!
//! One `std::sync::Mutex` (never held across an `.await`) guards the state; every change bumps a
//! `watch` counter, so any task can wait for a condition on the state with a bounded wait.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::watch;

use crate::config::Config;
use crate::environment::output::OutputStore;
use crate::telemetry::TelemetryHub;
use crate::telemetry::records::{InitInfo, TelemetryRecord};

/// Where the environment is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Processes are starting; registration and subscription are allowed.
    Init,
    /// SnapStart: the environment is being restored from its snapshot.
    Restore,
    /// Between invocations (frozen).
    Idle,
    /// An invocation runs.
    Invoke,
    /// SHUTDOWN was sent (final shutdown or a reset).
    Shutdown,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Unknown (could not be waited for).
    Unknown,
}

/// A process's end, as recorded by its waiter task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exit {
    pub kind: ExitKind,
    pub at: Instant,
}

/// An invocation waiting for the runtime's `next`.
#[derive(Debug, Clone)]
pub(crate) struct PendingInvoke {
    pub request_id: String,
    pub deadline_ms: i64,
    pub function_arn: String,
    pub trace: String,
    pub payload: Bytes,
    /// Tenant isolation mode: `Lambda-Runtime-Aws-Tenant-Id`.
    pub tenant_id: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct RuntimeAgent {
    pub pid: Option<u32>,
    /// Called `next` at least once.
    pub ready: bool,
    /// Invocations waiting for a `next`, oldest first.
    pub pending: VecDeque<PendingInvoke>,
    pub init_error: Option<String>,
    /// SnapStart: waiting in `GET /runtime/restore/next` (the snapshot point).
    pub restore_waiting: bool,
    /// SnapStart: `next` called after the restore started (the after-restore hooks are done).
    pub restored: bool,
    /// SnapStart: what `POST /runtime/restore/error` reported.
    pub restore_error: Option<String>,
    pub exited: Option<Exit>,
    /// The runtime's latest `next` (any worker's).
    pub next_at: Option<(Instant, DateTime<Utc>)>,
}

#[derive(Debug)]
pub(crate) struct ExtensionAgent {
    pub name: String,
    pub pid: Option<u32>,
    pub id: Option<String>,
    pub events: Vec<String>,
    pub ready: bool,
    pub busy: bool,
    pub queue: VecDeque<Value>,
    pub exited: Option<Exit>,
    pub init_error: Option<String>,
    pub exit_error: Option<String>,
}

impl ExtensionAgent {
    pub(crate) fn new(name: String) -> Self {
        Self {
            name,
            pid: None,
            id: None,
            events: Vec::new(),
            ready: false,
            busy: false,
            queue: VecDeque::new(),
            exited: None,
            init_error: None,
            exit_error: None,
        }
    }

    pub(crate) fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }

    /// Finished its events (or is gone).
    pub(crate) fn idle(&self) -> bool {
        self.exited.is_some() || (self.queue.is_empty() && !self.busy)
    }
}

/// What the runtime posted for an invocation.
#[derive(Debug, Clone)]
pub(crate) struct RuntimeResult {
    /// `None` for a response, the error type for an error.
    pub error_type: Option<String>,
    pub body: Bytes,
    pub headers_at: (Instant, DateTime<Utc>),
    pub body_done_at: (Instant, DateTime<Utc>),
}

#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    pub request_id: String,
    /// A `next` of the runtime took it.
    pub taken: bool,
    pub result: Option<RuntimeResult>,
    /// Resident memory passed the limit.
    pub oom: bool,
}

#[derive(Debug)]
pub(crate) struct State {
    pub phase: Phase,
    /// Bumped at each (re)initialisation: requests of older processes are refused.
    pub generation: u64,
    pub runtime: RuntimeAgent,
    pub extensions: Vec<ExtensionAgent>,
    /// Invocations under way: one at a time, several at once on Lambda Managed Instances.
    pub invocations: Vec<Invocation>,
    /// `initializationType` and `phase` of the running init.
    pub init_phase: &'static str,
    pub init_runtime_done_emitted: bool,
}

impl State {
    pub(crate) fn extension_by_id(&mut self, id: &str) -> Option<&mut ExtensionAgent> {
        self.extensions.iter_mut().find(|e| e.id.as_deref() == Some(id))
    }

    /// The invocation under way with this request id.
    pub(crate) fn invocation(&self, request_id: &str) -> Option<&Invocation> {
        self.invocations.iter().find(|i| i.request_id == request_id)
    }

    /// The same, to change it.
    pub(crate) fn invocation_mut(&mut self, request_id: &str) -> Option<&mut Invocation> {
        self.invocations.iter_mut().find(|i| i.request_id == request_id)
    }
}

/// What isolates the environment: made before its APIs listen, since in a private network they
/// listen inside it.
pub(crate) struct Environment {
    pub cgroup: Option<crate::environment::cgroup::EnvCgroup>,
    pub isolation: crate::environment::cgroup::Isolation,
    pub mounts: Option<crate::environment::namespace::PrivateMounts>,
    pub network: Option<crate::environment::network::PrivateNetwork>,
}

/// The loopback address `sandbox.localdomain` names without a private network.
fn hosts_ip(config: &Config) -> IpAddr {
    let ip = config.bind.ip();
    if ip.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        ip
    }
}

impl Environment {
    /// Makes the cgroup, the private mounts and the private network the configuration asks
    /// for, each where the sandbox may; what could not be made falls back and says why in
    /// `isolation`.
    pub(crate) fn create(config: &Config) -> Self {
        let cgroup = if config.cgroups {
            let name = format!("env-{}-{}", std::process::id(), crate::ids::random_hex(4));
            crate::environment::cgroup::EnvCgroup::create(&name, config.memory_mb, config.cpu_limit)
        } else {
            Err("turned off (Config::cgroups)".to_owned())
        };
        let (cgroup, mut isolation) = match cgroup {
            Ok(c) => {
                let iso = c.isolation();
                (Some(c), iso)
            }
            Err(why) => (None, crate::environment::cgroup::Isolation::fallback(why)),
        };
        if !config.private_mounts {
            isolation.mounts = Err("turned off (Config::private_mounts)".to_owned());
            if config.private_network {
                isolation.network =
                    Err("it needs the private mount namespace (Config::private_mounts)".to_owned());
            }
            return Self {
                cgroup,
                isolation,
                mounts: None,
                network: None,
            };
        }
        // The environment's own files must stay visible under a private /tmp.
        let keep: Vec<std::path::PathBuf> = [
            config.bootstrap.parent().map(std::path::Path::to_path_buf),
            config.task_root.clone(),
            config.layer_dir.clone(),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mounts = |ip: IpAddr, net: bool| {
            crate::environment::namespace::PrivateMounts::create(ip, config.private_tmp_mb, &keep, net)
        };
        let with_network = || {
            let lease = crate::environment::network::Lease::take()?;
            let m = mounts(IpAddr::V4(lease.env_ip()), true)?;
            // Should the interfaces fail, `m` is dropped: a network namespace without them
            // would cut the environment off from its APIs, so it starts again without one.
            let n = lease.attach(m.holder_pid())?;
            Ok::<_, String>((m, n))
        };
        let (mounts, network) = match config.private_network.then(with_network) {
            Some(Ok((m, n))) => {
                isolation.network = Ok(n.describe());
                (Ok(m), Some(n))
            }
            Some(Err(why)) => {
                isolation.network = Err(why);
                (mounts(hosts_ip(config), false), None)
            }
            None => (mounts(hosts_ip(config), false), None),
        };
        let mounts = match mounts {
            Ok(m) => {
                isolation.mounts = Ok(match m.tmp_mb {
                    Some(mb) => format!("/etc/hosts and /tmp ({mb} MB tmpfs)"),
                    None => "/etc/hosts".to_owned(),
                });
                Some(m)
            }
            Err(why) => {
                isolation.mounts = Err(why);
                None
            }
        };
        Self {
            cgroup,
            isolation,
            mounts,
            network,
        }
    }
}

/// State plus the services every handler needs.
pub(crate) struct Shared {
    pub config: Config,
    /// The environment's cgroup, when one could be made.
    pub cgroup: Option<crate::environment::cgroup::EnvCgroup>,
    /// What measures memory and freezes (the cgroup, or the fallback and why).
    pub isolation: crate::environment::cgroup::Isolation,
    /// The environment's private mount namespace, when one could be made.
    pub mounts: Option<crate::environment::namespace::PrivateMounts>,
    /// The environment's private network, when one was asked for and made.
    pub network: Option<crate::environment::network::PrivateNetwork>,
    pub addr: SocketAddr,
    pub hub: Arc<TelemetryHub>,
    pub output: OutputStore,
    state: Mutex<State>,
    changed: watch::Sender<u64>,
}

impl Shared {
    pub(crate) fn new(config: Config, env: Environment, addr: SocketAddr, hub: Arc<TelemetryHub>) -> Self {
        let Environment {
            cgroup,
            isolation,
            mounts,
            network,
        } = env;
        Self {
            config,
            cgroup,
            isolation,
            mounts,
            network,
            addr,
            hub,
            output: OutputStore::default(),
            state: Mutex::new(State {
                phase: Phase::Init,
                generation: 0,
                runtime: RuntimeAgent::default(),
                extensions: Vec::new(),
                invocations: Vec::new(),
                init_phase: "init",
                init_runtime_done_emitted: false,
            }),
            changed: watch::Sender::new(0),
        }
    }

    /// What `sandbox.localdomain` names inside the environment: `eth0`'s address in a private
    /// network, else the API's loopback address.
    pub(crate) fn sandbox_ip(&self) -> IpAddr {
        self.network
            .as_ref()
            .map_or_else(|| hosts_ip(&self.config), |n| IpAddr::V4(n.env_ip()))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the state.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock())
    }

    /// Changes the state and wakes every waiter.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let r = f(&mut self.lock());
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
        r
    }

    /// Waits until `f` returns `Some` (it may change the state when it does), or until
    /// `deadline` (then `None`).
    pub(crate) async fn wait_until<T>(
        &self,
        deadline: Option<Instant>,
        mut f: impl FnMut(&mut State) -> Option<T>,
    ) -> Option<T> {
        let mut rx = self.changed.subscribe();
        loop {
            rx.borrow_and_update();
            let found = f(&mut self.lock());
            if let Some(v) = found {
                self.changed.send_modify(|g| *g = g.wrapping_add(1));
                return Some(v);
            }
            match deadline {
                Some(d) => match tokio::time::timeout_at(d.into(), rx.changed()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) | Err(_) => return None,
                },
                None => {
                    if rx.changed().await.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    /// Publishes a platform record generated now.
    pub(crate) fn emit(&self, kind: &str, record: Value) {
        self.hub.publish(TelemetryRecord::new(Utc::now(), kind, record));
    }

    /// Init fields for the running init.
    pub(crate) fn init_info(&self, phase: &'static str) -> InitInfo<'static> {
        InitInfo {
            initialization_type: self.config.initialization_type.as_str(),
            phase,
        }
    }
}
