//! `Sandbox`: the public face. Start (init), invoke, shut down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::api::server;
use crate::config::{Config, InitializationType};
use crate::environment::output::{OutputLine, Source};
use crate::environment::process;
use crate::error::SandboxError;
use crate::lifecycle::invoke::{self, Cold, NoRuntime};
use crate::lifecycle::outcome::{
    InitOutcome, InvokeOptions, InvokeOutcome, ShutdownOutcome, ShutdownReason, Status,
};
use crate::lifecycle::phases::{self, live_pids};
use crate::lifecycle::state::Shared;
use crate::lifecycle::{managed, restore};
use crate::telemetry::records::TelemetryRecord;
use crate::telemetry::{Delivery, Subscription, TelemetryHub};

/// A local Lambda execution environment running real processes.
pub struct Sandbox {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    /// The echo peer outside a private network.
    echo: Option<crate::environment::network::EchoPeer>,
    /// The environment was torn down (failed init, or a reset): the next invoke re-runs init.
    needs_init: bool,
    /// SnapStart: the environment is at its snapshot point; the next invoke restores it.
    needs_restore: bool,
    /// `initDurationMs` for the next report.
    pending_init_ms: Option<f64>,
    inits: Vec<InitOutcome>,
    closed: bool,
    /// Proactive initialisation: the first invoke waits until then (`Config::init_gap`).
    first_invoke_at: Option<Instant>,
    /// Tenant isolation mode: the tenant of the environment's first invoke (`Some(None)`: the
    /// function has none). An environment serves one tenant only.
    tenant: Option<Option<String>>,
}

impl Sandbox {
    /// Binds the API listener and runs the init phase. An init that fails is not an error: it is
    /// reported in telemetry and in [`Sandbox::init_outcomes`], and the first invoke re-runs it,
    /// as Lambda does.
    pub async fn start(config: Config) -> Result<Self, SandboxError> {
        config.validate()?;
        let env = crate::lifecycle::state::Environment::create(&config);
        let net = env
            .network
            .as_ref()
            .map(crate::environment::network::PrivateNetwork::sockets);
        // In a private network the APIs listen on the namespace's loopback, as on Lambda.
        let listener = match &net {
            Some(ns) => ns.listen(config.bind).await,
            None => tokio::net::TcpListener::bind(config.bind).await,
        }
        .map_err(|source| SandboxError::Bind {
            addr: config.bind,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
            addr: config.bind,
            source,
        })?;
        let echo = match &env.network {
            Some(n) => Some(
                crate::environment::network::EchoPeer::start(n.host_ip())
                    .await
                    .map_err(|source| SandboxError::Bind {
                        addr: SocketAddr::new(n.host_ip().into(), 0),
                        source,
                    })?,
            ),
            None => None,
        };
        let hub = TelemetryHub::build(config.telemetry_queue_limit, config.duplicate_every, net);
        let shared = Arc::new(Shared::new(config, env, addr, hub));
        let server = server::serve(listener, Arc::clone(&shared));
        let mut sandbox = Self {
            shared,
            server,
            echo,
            needs_init: false,
            needs_restore: false,
            pending_init_ms: None,
            inits: Vec::new(),
            closed: false,
            first_invoke_at: None,
            tenant: None,
        };
        let limit = sandbox.shared.config.init_timeout;
        sandbox.run_init("init", limit).await?;
        // Proactive initialisation (a, the lifecycle guide: Lambda may initialise an on-demand
        // environment ahead of demand): the first invoke comes `init_gap` after the init ended,
        // the environment frozen meanwhile as between invocations. Waited for by the first
        // invoke, so that a caller who does something else meanwhile does not wait twice.
        let gap = sandbox.shared.config.init_gap;
        sandbox.first_invoke_at = (!gap.is_zero()).then(|| Instant::now() + gap);
        Ok(sandbox)
    }

    /// Runs an init phase bounded by `limit`; one that fails ends its environment.
    async fn run_init(&mut self, phase: &'static str, limit: Duration) -> Result<InitOutcome, SandboxError> {
        let outcome = self.init_phase(phase, limit).await?;
        if outcome.status != Status::Success {
            phases::teardown(&self.shared, ShutdownReason::Failure).await;
        }
        Ok(outcome)
    }

    /// Runs an init phase bounded by `limit`. One that fails leaves its environment up, for
    /// the caller to end: an init re-run inside an invoke is reset after the invoke's report.
    async fn init_phase(
        &mut self,
        phase: &'static str,
        limit: Duration,
    ) -> Result<InitOutcome, SandboxError> {
        let outcome = phases::init(&self.shared, phase, limit).await?;
        self.inits.push(outcome.clone());
        let init_type = self.shared.config.initialization_type;
        if outcome.status == Status::Success {
            self.needs_init = false;
            self.needs_restore = init_type == InitializationType::SnapStart;
            // Only the on-demand init of a new environment is reported in the first report
            // (`initDurationMs`): not a provisioned init made ahead of requests, nor a SnapStart
            // snapshot (its REPORT has no Init Duration), nor on Managed Instances (durationMs
            // only), nor an init re-run inside an invoke after a reset (a "suppressed init":
            // "Lambda does not report this init separately"; the invocation's duration
            // includes it). After a proactive init (`Config::init_gap`) the first report still
            // carries it: whether Lambda's does is not documented (d); a reader should judge a
            // cold start by the gap, not by this member.
            self.pending_init_ms =
                (init_type == InitializationType::OnDemand && phase == "init").then_some(outcome.duration_ms);
            phases::freeze(&self.shared).await;
        } else {
            self.needs_init = true;
            self.pending_init_ms = None;
        }
        Ok(outcome)
    }

    /// The `AWS_LAMBDA_RUNTIME_API` address. In a private network it is the environment's own
    /// loopback, which the host cannot reach.
    pub fn api_addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The environment's private network, when one was asked for and made.
    pub fn network(&self) -> Option<&crate::environment::network::PrivateNetwork> {
        self.shared.network.as_ref()
    }

    /// In a private network, the address of a TCP echo peer outside the environment (on the
    /// sandbox's end of its interface): what a function sends there comes back, and moves
    /// `eth0`'s counters both ways.
    pub fn echo_peer(&self) -> Option<SocketAddr> {
        self.echo
            .as_ref()
            .map(crate::environment::network::EchoPeer::addr)
    }

    /// What measures and limits memory, freezes the environment and caps its CPU here.
    pub fn isolation(&self) -> &crate::Isolation {
        &self.shared.isolation
    }

    /// Whether the environment's processes are frozen now (by the cgroup freezer, or by
    /// SIGSTOP in the fallback).
    pub fn is_frozen(&self) -> bool {
        match &self.shared.cgroup {
            Some(c) if self.shared.isolation.freezer != "SIGSTOP" => c.is_frozen(),
            _ => phases::live_pids(&self.shared)
                .iter()
                .all(|p| process::is_stopped(*p)),
        }
    }

    /// Every init phase so far.
    pub fn init_outcomes(&self) -> &[InitOutcome] {
        &self.inits
    }

    /// Every captured output line.
    pub fn output(&self) -> Vec<OutputLine> {
        self.shared.output.all()
    }

    /// Output lines of one source.
    pub fn output_of(&self, source: &Source) -> Vec<OutputLine> {
        self.shared.output.of(source)
    }

    /// The log group as Lambda would fill it so far (`Config::logging`): the processes' lines
    /// after the level filter, cut into events of at most 64 KiB, and the platform's system
    /// lines. The Telemetry API's deliveries do not depend on it.
    pub fn log_group(&self) -> crate::logs::LogGroup {
        let config = &self.shared.config;
        crate::logs::LogGroup::build(
            &config.logging,
            &config.function_name,
            &self.shared.output.all(),
            &self.shared.hub.records(),
        )
    }

    /// Every telemetry record generated so far, in order.
    pub fn telemetry(&self) -> Vec<TelemetryRecord> {
        self.shared.hub.records()
    }

    /// Every telemetry POST attempt so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.hub.deliveries()
    }

    /// Current telemetry subscriptions.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.shared.hub.subscriptions()
    }

    /// Invokes the function with `payload` and waits (bounded by the timeout and the shutdown
    /// deadline) until the invocation ends. On SnapStart the first invoke of an environment
    /// restores it first; on Managed Instances this is `invoke_concurrent` with one payload.
    pub async fn invoke(&mut self, payload: Value) -> Result<InvokeOutcome, SandboxError> {
        self.invoke_with(payload, InvokeOptions::default()).await
    }

    /// [`Sandbox::invoke`] with options: a tenant id (tenant isolation mode). An environment
    /// serves one tenant: every invoke of a sandbox gives the same tenant id, or none (a
    /// [`SandboxError::Config`] otherwise); a tenant id is refused on provisioned concurrency,
    /// SnapStart and Managed Instances ([`SandboxError::Unsupported`]), or when Lambda would
    /// refuse it ([`SandboxError::Config`]).
    pub async fn invoke_with(
        &mut self,
        payload: Value,
        options: InvokeOptions,
    ) -> Result<InvokeOutcome, SandboxError> {
        if self.closed {
            return Err(SandboxError::ShutDown);
        }
        self.check_tenant(options.tenant_id.as_deref())?;
        self.wait_for_first_invoke().await;
        if self.shared.config.initialization_type == InitializationType::LambdaManagedInstances {
            let mut outcomes = self.invoke_managed(vec![payload]).await?;
            return outcomes
                .pop()
                .ok_or_else(|| SandboxError::Unsupported("the invocation task was lost".to_owned()));
        }
        self.invoke_one(payload, options.tenant_id).await
    }

    /// Tenant isolation mode: Lambda routes an invoke to an environment of its tenant (a, the
    /// tenant isolation guide), so one environment never sees two tenants, nor a tenant and
    /// invokes without one.
    fn check_tenant(&mut self, tenant_id: Option<&str>) -> Result<(), SandboxError> {
        if let Some(t) = tenant_id {
            check_tenant(t, self.shared.config.initialization_type)?;
        }
        match &self.tenant {
            None => {
                self.tenant = Some(tenant_id.map(str::to_owned));
                Ok(())
            }
            Some(known) if known.as_deref() == tenant_id => Ok(()),
            Some(known) => Err(SandboxError::Config(format!(
                "this environment serves {}, not {}: Lambda runs each tenant in environments of \
                 its own; start another sandbox for it",
                known.as_deref().map_or_else(
                    || "invokes without a tenant id".to_owned(),
                    |t| format!("tenant {t:?}")
                ),
                tenant_id.map_or_else(
                    || "an invoke without a tenant id".to_owned(),
                    |t| format!("tenant {t:?}")
                ),
            ))),
        }
    }

    /// Proactive initialisation: the first invoke comes `Config::init_gap` after the init.
    async fn wait_for_first_invoke(&mut self) {
        if let Some(at) = self.first_invoke_at.take() {
            tokio::time::sleep_until(at.into()).await;
        }
    }

    async fn invoke_one(
        &mut self,
        payload: Value,
        tenant_id: Option<String>,
    ) -> Result<InvokeOutcome, SandboxError> {
        let snap_start = self.shared.config.initialization_type == InitializationType::SnapStart;
        let mut init = None;
        // A suppressed init is part of the invocation: it starts its clock and its timeout.
        let mut invoke_started = None;
        if self.needs_init {
            // A SnapStart environment after a reset is restored from a new snapshot (its init
            // phase is `init`); otherwise the init is re-run inside the invoke, bounded by the
            // function's timeout (the documentation: the re-init "runs within the function's
            // timeout").
            init = Some(if snap_start {
                let limit = self.shared.config.init_timeout;
                self.run_init("init", limit).await?
            } else {
                invoke_started = Some((Instant::now(), chrono::Utc::now()));
                let limit = self.shared.config.timeout;
                self.init_phase("invoke", limit).await?
            });
        }
        let mut restore = None;
        let mut restore_ms = None;
        let mut unavailable = None;
        if self.needs_init {
            unavailable = Some(match &init {
                // The init re-run inside this invoke failed: its environment is still up, and
                // the invocation reports and resets it as rapid does.
                Some(i) if !snap_start => NoRuntime::InlineInitFailed {
                    timed_out: i.status == Status::Timeout,
                },
                // SnapStart's new snapshot failed (and its environment is gone): the
                // invocation reports its status (a timeout carries no errorType).
                Some(i) if i.status == Status::Timeout => NoRuntime::Gone(Status::Timeout, None),
                Some(i) => NoRuntime::Gone(
                    Status::Error,
                    Some(
                        i.error_type
                            .clone()
                            .unwrap_or_else(|| "Runtime.InitError".to_owned()),
                    ),
                ),
                None => NoRuntime::Gone(Status::Error, Some("Runtime.InitError".to_owned())),
            });
        } else if self.needs_restore {
            self.needs_restore = false;
            let r = restore::restore(&self.shared).await;
            if r.status == Status::Success {
                restore_ms = Some(r.duration_ms);
            } else {
                unavailable = Some(NoRuntime::Gone(r.status, r.error_type.clone()));
            }
            restore = Some(r);
        }
        let restore_failed = restore.is_some() && unavailable.is_some();
        let cold = Cold {
            init,
            restore,
            init_ms: self.pending_init_ms.take(),
            restore_ms,
            unavailable,
        };
        let mut outcome = invoke::run(&self.shared, payload, cold, invoke_started, tenant_id).await;
        if restore_failed {
            // The failed restore's environment is discarded, after the invocation's report.
            outcome.reset = Some(phases::teardown(&self.shared, ShutdownReason::Failure).await);
        }
        if outcome.reset.is_some() {
            self.needs_init = true;
            self.needs_restore = false;
        }
        Ok(outcome)
    }

    /// Invokes the function with every payload at once and waits until they have all ended;
    /// the outcomes come in the payloads' order. On Lambda Managed Instances the invocations
    /// run concurrently in this one environment (see `Config::max_concurrency`); any other
    /// environment serves one invocation at a time, so the payloads run one after another,
    /// as they would in one on-demand environment.
    pub async fn invoke_concurrent(
        &mut self,
        payloads: Vec<Value>,
    ) -> Result<Vec<InvokeOutcome>, SandboxError> {
        if self.closed {
            return Err(SandboxError::ShutDown);
        }
        self.check_tenant(None)?;
        self.wait_for_first_invoke().await;
        if self.shared.config.initialization_type != InitializationType::LambdaManagedInstances {
            let mut out = Vec::with_capacity(payloads.len());
            for p in payloads {
                out.push(self.invoke_one(p, None).await?);
            }
            return Ok(out);
        }
        self.invoke_managed(payloads).await
    }

    async fn invoke_managed(&mut self, payloads: Vec<Value>) -> Result<Vec<InvokeOutcome>, SandboxError> {
        let mut init = None;
        if self.needs_init {
            let limit = self.shared.config.init_timeout;
            init = Some(self.run_init("invoke", limit).await?);
        }
        if self.needs_init {
            let e = init
                .as_ref()
                .and_then(|i| i.error_type.clone())
                .unwrap_or_else(|| "Runtime.InitError".to_owned());
            let mut out: Vec<InvokeOutcome> = payloads
                .iter()
                .map(|_| managed::unavailable(&self.shared, &e))
                .collect();
            if let Some(first) = out.first_mut() {
                first.init = init;
            }
            return Ok(out);
        }
        let ended = managed::invoke_all(&self.shared, payloads).await;
        let reason = ended.iter().find_map(|(_, r)| *r);
        let reset = match reason {
            Some(r) => {
                self.needs_init = true;
                Some(phases::teardown(&self.shared, r).await)
            }
            None => None,
        };
        let mut out: Vec<InvokeOutcome> = Vec::with_capacity(ended.len());
        for (mut o, r) in ended {
            if r.is_some() {
                o.reset.clone_from(&reset);
            }
            out.push(o);
        }
        if let Some(first) = out.first_mut() {
            first.init = init;
        }
        Ok(out)
    }

    /// Shuts the environment down: SIGTERM to the runtime, SHUTDOWN to the extensions, telemetry
    /// delivered until they exit or the deadline passes, then SIGKILL for what is left.
    pub async fn shutdown(&mut self, reason: ShutdownReason) -> Result<ShutdownOutcome, SandboxError> {
        if self.closed {
            return Err(SandboxError::ShutDown);
        }
        self.closed = true;
        let outcome = if self.needs_init {
            ShutdownOutcome {
                reason,
                processes: Vec::new(),
            }
        } else {
            phases::teardown(&self.shared, reason).await
        };
        self.shared.hub.stop();
        self.server.abort();
        Ok(outcome)
    }

    /// Waits until a delivered batch satisfies `pred`, at most `timeout`.
    pub async fn wait_for_delivery(&self, timeout: Duration, pred: impl Fn(&Delivery) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.deliveries().iter().any(&pred) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Lambda's rules for a tenant identifier: 1 to 256 characters of `[a-zA-Z0-9._:/=+\-@ ]`
/// (the API reference's `TenantId` (a)); tenant isolation is incompatible with provisioned
/// concurrency and SnapStart (a); Managed Instances' Lambda core has no tenant identifier
/// (b: the emulator's Managed Instances code carries none), so the sandbox refuses it there.
fn check_tenant(id: &str, init_type: InitializationType) -> Result<(), SandboxError> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || "._:/=+-@ ".contains(c);
    if id.is_empty() || id.chars().count() > 256 || !id.chars().all(valid_char) {
        return Err(SandboxError::Config(format!(
            "tenant id {id:?}: Lambda accepts 1 to 256 characters of letters, digits and ._:/=+-@ and space"
        )));
    }
    match init_type {
        InitializationType::OnDemand => Ok(()),
        other => Err(SandboxError::Unsupported(format!(
            "a tenant id with initialization type {}: tenant isolation mode runs on-demand \
             environments only (not with provisioned concurrency, SnapStart or Managed Instances)",
            other.as_str()
        ))),
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for pid in live_pids(&self.shared) {
            process::signal(pid, Signal::SIGCONT);
            process::signal(pid, Signal::SIGKILL);
        }
        self.shared.hub.stop();
        self.server.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::InitializationType;

    #[test]
    fn tenant_ids_follow_lambdas_rules() {
        let od = InitializationType::OnDemand;
        for ok in ["blue", "a.b_c:d/e=f+g-h@i j", &"x".repeat(256)] {
            assert!(check_tenant(ok, od).is_ok(), "{ok}");
        }
        for bad in ["", "é", "a;b", &"x".repeat(257)] {
            assert!(check_tenant(bad, od).is_err(), "{bad}");
        }
        assert!(check_tenant("blue", InitializationType::ProvisionedConcurrency).is_err());
        assert!(check_tenant("blue", InitializationType::SnapStart).is_err());
        assert!(check_tenant("blue", InitializationType::LambdaManagedInstances).is_err());
        assert_eq!(InvokeOptions::tenant("blue").tenant_id.as_deref(), Some("blue"));
    }
}
