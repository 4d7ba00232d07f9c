//! `Sandbox`: the public face. Start (init), invoke, shut down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::config::{Config, InitializationType};
use crate::error::SandboxError;
use crate::memory::{self, Sampler};
use crate::outcome::{InitOutcome, InvokeOutcome, ShutdownOutcome, ShutdownReason, Status};
use crate::output::{OutputLine, Source};
use crate::phases::{self, live_pids};
use crate::records::{self, ReportMetrics, TelemetryRecord, ms};
use crate::state::{Invocation, PendingInvoke, Phase, Shared};
use crate::telemetry::{Delivery, Subscription, TelemetryHub};
use crate::{ids, process, server};

/// A local Lambda execution environment running real processes.
pub struct Sandbox {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    /// The environment was torn down (failed init, or a reset): the next invoke re-runs init.
    needs_init: bool,
    /// `initDurationMs` for the next report.
    pending_init_ms: Option<f64>,
    inits: Vec<InitOutcome>,
    closed: bool,
}

/// How an invocation's wait ended.
enum End {
    Done,
    Timeout,
    OutOfMemory,
    RuntimeExit,
}

enum Progress {
    RuntimeFinished,
    End(End),
}

impl Sandbox {
    /// Binds the API listener and runs the init phase. An init that fails is not an error: it is
    /// reported in telemetry and in [`Sandbox::init_outcomes`], and the first invoke re-runs it,
    /// as Lambda does.
    pub async fn start(config: Config) -> Result<Self, SandboxError> {
        config.validate()?;
        if matches!(
            config.initialization_type,
            InitializationType::SnapStart | InitializationType::ProvisionedConcurrency
        ) {
            return Err(SandboxError::Unsupported(format!(
                "initialization type {} is not played yet; use on-demand or lambda-managed-instances",
                config.initialization_type.as_str()
            )));
        }
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| SandboxError::Bind {
                addr: config.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
            addr: config.bind,
            source,
        })?;
        let hub = TelemetryHub::new(config.telemetry_queue_limit);
        let shared = Arc::new(Shared::new(config, addr, hub));
        let server = server::serve(listener, Arc::clone(&shared));
        let mut sandbox = Self {
            shared,
            server,
            needs_init: false,
            pending_init_ms: None,
            inits: Vec::new(),
            closed: false,
        };
        sandbox.run_init("init").await?;
        Ok(sandbox)
    }

    async fn run_init(&mut self, phase: &'static str) -> Result<InitOutcome, SandboxError> {
        let outcome = phases::init(&self.shared, phase).await?;
        self.inits.push(outcome.clone());
        if outcome.status == Status::Success {
            self.needs_init = false;
            self.pending_init_ms = Some(outcome.duration_ms);
            phases::freeze(&self.shared).await;
        } else {
            phases::teardown(&self.shared, ShutdownReason::Failure).await;
            self.needs_init = true;
            self.pending_init_ms = None;
        }
        Ok(outcome)
    }

    /// The `AWS_LAMBDA_RUNTIME_API` address.
    pub fn api_addr(&self) -> SocketAddr {
        self.shared.addr
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
    /// deadline) until the invocation ends.
    pub async fn invoke(&mut self, payload: Value) -> Result<InvokeOutcome, SandboxError> {
        if self.closed {
            return Err(SandboxError::ShutDown);
        }
        let shared = Arc::clone(&self.shared);
        let config = &shared.config;
        let mut init = None;
        if self.needs_init {
            init = Some(self.run_init("invoke").await?);
        }
        let init_ms = self.pending_init_ms.take();
        let request_id = ids::uuid_v4();
        let span_id = ids::random_hex(8);
        let trace = ids::trace_header(&span_id);
        let tracing = records::tracing(&span_id, &trace);
        phases::thaw(&shared);
        let start = Instant::now();
        let start_time = Utc::now();
        let deadline = start + config.timeout;
        let deadline_ms =
            start_time.timestamp_millis() + i64::try_from(config.timeout.as_millis()).unwrap_or(0);
        shared.emit(
            "platform.start",
            records::start(&request_id, &config.version, &tracing),
        );

        if self.needs_init {
            // The re-run init failed: there is no runtime to invoke.
            let error_type = init
                .as_ref()
                .and_then(|i| i.error_type.clone())
                .unwrap_or_else(|| "Runtime.InitError".to_owned());
            return Ok(self.finish_without_runtime(request_id, trace, &tracing, error_type, start, init));
        }

        let pids = memory::with_descendants(&live_pids(&shared));
        let peaks_reset = memory::reset_peaks(&pids);
        let limit_kb = u64::from(config.memory_mb) * 1024;
        let sampler = Sampler::start(
            Arc::clone(&shared),
            pids.clone(),
            limit_kb,
            config.memory_sample_interval,
        );
        let payload_bytes = bytes::Bytes::from(payload.to_string());
        let event = json!({
            "eventType": "INVOKE",
            "deadlineMs": deadline_ms,
            "requestId": request_id,
            "invokedFunctionArn": config.function_arn(),
            "tracing": {"type": "X-Amzn-Trace-Id", "value": trace},
        });
        shared.update(|st| {
            st.phase = Phase::Invoke;
            st.invocation = Some(Invocation {
                request_id: request_id.clone(),
                result: None,
                oom: false,
            });
            st.runtime.pending = Some(PendingInvoke {
                request_id: request_id.clone(),
                deadline_ms,
                function_arn: config.function_arn(),
                trace: trace.clone(),
                payload: payload_bytes,
            });
            for e in st
                .extensions
                .iter_mut()
                .filter(|e| e.exited.is_none() && e.wants("INVOKE"))
            {
                e.queue.push_back(event.clone());
            }
        });

        let mut runtime_done: Option<(Status, Option<String>, f64)> = None;
        let end = loop {
            let finished = runtime_done.is_some();
            let progress = shared
                .wait_until(Some(deadline), |st| {
                    let inv = st.invocation.as_ref()?;
                    if inv.oom {
                        return Some(Progress::End(End::OutOfMemory));
                    }
                    if !finished {
                        if st.runtime.exited.is_some() {
                            return Some(Progress::End(End::RuntimeExit));
                        }
                        return (inv.result.is_some() && !st.runtime.busy)
                            .then_some(Progress::RuntimeFinished);
                    }
                    st.extensions
                        .iter()
                        .all(|e| e.idle())
                        .then_some(Progress::End(End::Done))
                })
                .await;
            match progress {
                None => break End::Timeout,
                Some(Progress::End(e)) => break e,
                Some(Progress::RuntimeFinished) => {
                    runtime_done = Some(self.emit_runtime_done(&request_id, start, start_time, &tracing));
                }
            }
        };
        let end_at = Instant::now();
        let all_pids = memory::with_descendants(&pids);
        let hwm = if peaks_reset { memory::hwm_kb(&all_pids) } else { 0 };
        let max_kb = sampler.stop().max(hwm);
        let max_memory_used_mb = memory::kb_to_mb(max_kb);
        let crashed_extension = shared.read(|st| st.extensions.iter().any(|e| e.exited.is_some()));
        let over_limit = max_memory_used_mb > u64::from(config.memory_mb);
        let fail = |s: Status, e: &str, r: ShutdownReason| (s, Some(e.to_owned()), Some(r));
        let (status, error_type, reset) = match end {
            End::OutOfMemory => fail(Status::Error, "Runtime.OutOfMemory", ShutdownReason::Failure),
            // The peak passed the limit between two samples: Lambda would have killed it.
            End::Done if over_limit => fail(Status::Error, "Runtime.OutOfMemory", ShutdownReason::Failure),
            End::Timeout => fail(Status::Timeout, "Sandbox.Timedout", ShutdownReason::Timeout),
            End::RuntimeExit => fail(Status::Failure, "Runtime.ExitError", ShutdownReason::Failure),
            End::Done if crashed_extension => {
                fail(Status::Failure, "Extension.Crash", ShutdownReason::Failure)
            }
            End::Done => match &runtime_done {
                Some((s, e, _)) => (*s, e.clone(), None),
                None => (Status::Success, None, None),
            },
        };
        // The AWS documentation lists the status values without mapping each failure; the
        // sandbox reports an out-of-memory kill as `error` with `Runtime.OutOfMemory`.
        if reset.is_some()
            && let Some(pid) = shared.read(|st| st.runtime.pid.filter(|_| st.runtime.exited.is_none()))
        {
            process::signal(pid, Signal::SIGKILL);
        }
        let duration_ms = ms(end_at.duration_since(start));
        let runtime_duration_ms = match &runtime_done {
            Some((_, _, d)) => Some(*d),
            None => {
                shared.emit(
                    "platform.runtimeDone",
                    records::runtime_done(
                        &request_id,
                        status.as_str(),
                        error_type.as_deref(),
                        duration_ms,
                        None,
                        Vec::new(),
                        &tracing,
                    ),
                );
                None
            }
        };
        let metrics = ReportMetrics {
            duration_ms,
            billed_duration_ms: records::billed_duration_ms(duration_ms, init_ms),
            memory_size_mb: config.memory_mb,
            max_memory_used_mb,
            init_duration_ms: init_ms,
        };
        let report = if managed_instances(config) {
            // Lambda Managed Instances report only durationMs.
            records::report_duration_only(
                &request_id,
                status.as_str(),
                error_type.as_deref(),
                duration_ms,
                &tracing,
            )
        } else {
            records::report(
                &request_id,
                status.as_str(),
                error_type.as_deref(),
                &metrics,
                &tracing,
            )
        };
        shared.emit("platform.report", report);
        let response = shared.update(|st| {
            st.phase = Phase::Idle;
            st.runtime.pending = None;
            st.invocation
                .take()
                .and_then(|i| i.result)
                .map(|r| r.body)
                .unwrap_or_default()
        });
        let reset = match reset {
            Some(reason) => {
                self.needs_init = true;
                Some(phases::teardown(&shared, reason).await)
            }
            None => {
                phases::freeze(&shared).await;
                None
            }
        };
        Ok(InvokeOutcome {
            request_id,
            trace_id: trace,
            status,
            error_type,
            response,
            duration_ms,
            runtime_duration_ms,
            billed_duration_ms: metrics.billed_duration_ms,
            max_memory_used_mb,
            init_duration_ms: init_ms,
            init,
            reset,
        })
    }

    /// Emits `platform.runtimeDone` once the runtime posted its result and called next again.
    fn emit_runtime_done(
        &self,
        request_id: &str,
        start: Instant,
        start_time: chrono::DateTime<Utc>,
        tracing: &Value,
    ) -> (Status, Option<String>, f64) {
        let (result, next_at) = self.shared.read(|st| {
            (
                st.invocation.as_ref().and_then(|i| i.result.clone()),
                st.runtime.next_at,
            )
        });
        let Some(r) = result else {
            return (Status::Failure, None, 0.0);
        };
        let next_at = next_at.unwrap_or(r.body_done_at);
        let status = if r.error_type.is_some() {
            Status::Error
        } else {
            Status::Success
        };
        let spans = vec![
            records::span(
                "responseLatency",
                start_time,
                ms(r.headers_at.0.saturating_duration_since(start)),
            ),
            records::span(
                "responseDuration",
                r.headers_at.1,
                ms(r.body_done_at.0.saturating_duration_since(r.headers_at.0)),
            ),
            records::span(
                "runtimeOverhead",
                r.body_done_at.1,
                ms(next_at.0.saturating_duration_since(r.body_done_at.0)),
            ),
        ];
        let duration = ms(next_at.0.saturating_duration_since(start));
        self.shared.emit(
            "platform.runtimeDone",
            records::runtime_done(
                request_id,
                status.as_str(),
                r.error_type.as_deref(),
                duration,
                Some(r.body.len() as u64),
                spans,
                tracing,
            ),
        );
        (status, r.error_type, duration)
    }

    fn finish_without_runtime(
        &mut self,
        request_id: String,
        trace: String,
        tracing: &Value,
        error_type: String,
        start: Instant,
        init: Option<InitOutcome>,
    ) -> InvokeOutcome {
        let duration_ms = ms(start.elapsed());
        let metrics = ReportMetrics {
            duration_ms,
            billed_duration_ms: records::billed_duration_ms(duration_ms, None),
            memory_size_mb: self.shared.config.memory_mb,
            max_memory_used_mb: 0,
            init_duration_ms: None,
        };
        self.shared.emit(
            "platform.report",
            records::report(
                &request_id,
                Status::Error.as_str(),
                Some(&error_type),
                &metrics,
                tracing,
            ),
        );
        InvokeOutcome {
            request_id,
            trace_id: trace,
            status: Status::Error,
            error_type: Some(error_type),
            response: bytes::Bytes::new(),
            duration_ms,
            runtime_duration_ms: None,
            billed_duration_ms: metrics.billed_duration_ms,
            max_memory_used_mb: 0,
            init_duration_ms: None,
            init,
            reset: None,
        }
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

/// Lambda Managed Instances: long-lived environments that are not frozen between invocations,
/// with SHUTDOWN-only extensions. The sandbox plays their rules one invocation at a time
/// (concurrent invocations are not played yet).
fn managed_instances(config: &Config) -> bool {
    config.initialization_type == InitializationType::LambdaManagedInstances
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
