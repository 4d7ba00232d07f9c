//! The sandbox's configuration: what Lambda would read from the function's settings.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::SandboxError;
use crate::logs::LoggingConfig;

/// How the execution environment is initialised (`AWS_LAMBDA_INITIALIZATION_TYPE`,
/// `initializationType` in telemetry). Set it with [`Config::set_initialization_type`], which
/// also applies that type's init limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitializationType {
    /// Standard Lambda: one invocation at a time; the first report carries `initDurationMs`.
    #[default]
    OnDemand,
    /// Provisioned concurrency: the environment is initialised before any request, so the
    /// first report carries no `initDurationMs` (an init re-run inside an invoke after a reset
    /// still does).
    ProvisionedConcurrency,
    /// SnapStart: the init phase makes the snapshot (processes started, registered, subscribed,
    /// at their first next); the first invoke restores it (`platform.restoreStart`,
    /// `restoreRuntimeDone`, `restoreReport`) and its report carries `restoreDurationMs`.
    SnapStart,
    /// Lambda Managed Instances: SHUTDOWN-only extensions, schema `2025-01-29`, no
    /// `platform.runtimeDone`, reports with only `durationMs`, no freeze, and up to
    /// [`Config::max_concurrency`] invocations at once (see `Sandbox::invoke_concurrent`).
    LambdaManagedInstances,
}

impl InitializationType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnDemand => "on-demand",
            Self::ProvisionedConcurrency => "provisioned-concurrency",
            Self::SnapStart => "snap-start",
            Self::LambdaManagedInstances => "lambda-managed-instances",
        }
    }

    /// Parses the wire value.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::OnDemand,
            Self::ProvisionedConcurrency,
            Self::SnapStart,
            Self::LambdaManagedInstances,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// Instruction set of the function (only reported; the sandbox runs whatever the host runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Architecture {
    /// x86_64
    #[default]
    X86_64,
    /// arm64
    Arm64,
}

impl Architecture {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
        }
    }
}

/// Settings of one sandboxed function. `Config::new(bootstrap)` fills Lambda's defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// The runtime executable (`bootstrap` of a custom runtime).
    pub bootstrap: PathBuf,
    /// A layer directory: every executable in `<layer>/extensions/` is started as an extension.
    pub layer_dir: Option<PathBuf>,
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: String,
    /// Memory size in MB (Lambda's MB are MiB); also the limit enforced on resident memory.
    pub memory_mb: u32,
    /// Function timeout (Lambda's default is 3 s).
    pub timeout: Duration,
    /// `AWS_LAMBDA_FUNCTION_VERSION`.
    pub version: String,
    /// `AWS_REGION` and `AWS_DEFAULT_REGION`.
    pub region: String,
    /// Reported architecture.
    pub architecture: Architecture,
    /// Initialization type.
    pub initialization_type: InitializationType,
    /// Account id used in ARNs and in the register answer (when asked for).
    pub account_id: String,
    /// The Lambda runtime identifier (`provided.al2023`, `python3.12`, ...), for
    /// `AWS_EXECUTION_ENV` (`AWS_Lambda_<runtime>`).
    pub runtime: String,
    /// `_HANDLER`.
    pub handler: String,
    /// `LAMBDA_TASK_ROOT`; defaults to the bootstrap's folder.
    pub task_root: Option<PathBuf>,
    /// Lambda's `LoggingConfig` and the log destination: `AWS_LAMBDA_LOG_FORMAT`,
    /// `AWS_LAMBDA_LOG_LEVEL` (JSON only), `AWS_LAMBDA_LOG_GROUP_NAME`, and what
    /// `Sandbox::log_group` keeps.
    pub logging: LoggingConfig,
    /// Extra environment variables for the runtime and the extensions.
    pub env: Vec<(String, String)>,
    /// Echo the processes' output lines to the sandbox's stderr, tagged with their source.
    pub echo_output: bool,
    /// Total time given to extensions after SHUTDOWN (Lambda: 2,000 ms with external extensions).
    pub shutdown_deadline: Duration,
    /// Init phase limit (Lambda: 10 s on demand; for provisioned concurrency and SnapStart,
    /// 130 s or the function timeout, whichever is higher: `set_initialization_type` sets it).
    pub init_timeout: Duration,
    /// SnapStart: limit for the restore (the runtime's after-restore hooks). Lambda: 10 s.
    pub restore_timeout: Duration,
    /// Lambda Managed Instances: `PerExecutionEnvironmentMaxConcurrency`, given to the runtime as
    /// `AWS_LAMBDA_MAX_CONCURRENCY`. Lambda's default depends on the runtime (8 per vCPU for
    /// Rust, 16 for Python, 64 for Node.js); the sandbox's default is 8.
    pub max_concurrency: u32,
    /// Address of the API listener; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Records one subscriber may have queued before the sandbox drops new ones and reports
    /// `platform.logsDropped`. The AWS documentation does not give Lambda's bound; this one is
    /// the sandbox's choice.
    pub telemetry_queue_limit: usize,
    /// Every Nth telemetry batch is delivered twice, as Lambda may when a subscriber's answer
    /// is lost (`None`: never).
    pub duplicate_every: Option<u32>,
    /// Interval of the resident-memory sampler during an invocation (the `/proc` fallback).
    pub memory_sample_interval: Duration,
    /// Run the environment in its own cgroup where the sandbox may (root, or a delegated
    /// cgroup): the memory limit enforced by the kernel, the environment's peak measured by it,
    /// the cgroup freezer. `false` forces the fallback (`/proc` sampling, SIGSTOP).
    pub cgroups: bool,
    /// With cgroups, cap the environment's CPU at Lambda's share for its memory size (one vCPU
    /// at 1,769 MB: about 7 % of a core at 128 MB).
    pub cpu_limit: bool,
    /// Give the environment a private mount namespace where the sandbox may (root): an
    /// `/etc/hosts` in which `sandbox.localdomain` resolves to the environment's address.
    pub private_mounts: bool,
    /// In that namespace, a private `/tmp` (tmpfs) of this many MB (Lambda's ephemeral storage:
    /// 512 MB by default). Off by default: it hides the host's `/tmp`, where callers (tests)
    /// often keep the function, its layer, or files they read back.
    pub private_tmp_mb: Option<u32>,
    /// In that namespace, a network namespace of its own (root, iproute2): a loopback, where
    /// the APIs listen as on Lambda, and a veth interface `eth0` whose other end is the
    /// sandbox's, with an echo peer there; `/proc/net/dev` then counts only the environment's
    /// own traffic. Off by default: the environment cannot reach the host's `127.0.0.1` (a
    /// local endpoint a test runs, say), nor the network beyond the host.
    pub private_network: bool,
    /// Time between the end of the start-up init and the first invoke: Lambda may initialise
    /// an on-demand environment ahead of demand ("proactive initialization", the lifecycle
    /// guide (a)), so its init can end long before the invocation that first uses it. The
    /// environment is frozen during the gap, as between invocations. Zero by default.
    pub init_gap: Duration,
}

impl Config {
    /// A configuration with Lambda's defaults for the given bootstrap.
    pub fn new(bootstrap: impl Into<PathBuf>) -> Self {
        Self {
            bootstrap: bootstrap.into(),
            layer_dir: None,
            function_name: "sandbox-function".to_owned(),
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            version: "$LATEST".to_owned(),
            region: "us-east-1".to_owned(),
            architecture: Architecture::X86_64,
            initialization_type: InitializationType::OnDemand,
            account_id: "123456789012".to_owned(),
            runtime: "provided.al2023".to_owned(),
            handler: "bootstrap".to_owned(),
            task_root: None,
            logging: LoggingConfig::default(),
            env: Vec::new(),
            echo_output: false,
            shutdown_deadline: Duration::from_millis(2000),
            init_timeout: Duration::from_secs(10),
            restore_timeout: Duration::from_secs(10),
            max_concurrency: 8,
            bind: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)),
            telemetry_queue_limit: 20_000,
            duplicate_every: None,
            memory_sample_interval: Duration::from_millis(2),
            cgroups: true,
            cpu_limit: true,
            private_mounts: true,
            private_tmp_mb: None,
            private_network: false,
            init_gap: Duration::ZERO,
        }
    }

    /// Sets the initialization type and that type's init limit (Lambda's documented limits:
    /// 10 s on demand; for provisioned concurrency, SnapStart and Managed Instances, 130 s or
    /// the function timeout, whichever is higher). Set `timeout` first.
    pub fn set_initialization_type(&mut self, t: InitializationType) {
        self.initialization_type = t;
        self.init_timeout = match t {
            InitializationType::OnDemand => Duration::from_secs(10),
            InitializationType::ProvisionedConcurrency
            | InitializationType::SnapStart
            | InitializationType::LambdaManagedInstances => self.timeout.max(Duration::from_secs(130)),
        };
    }

    /// Checks values Lambda would refuse.
    pub fn validate(&self) -> Result<(), SandboxError> {
        if !(128..=10_240).contains(&self.memory_mb) {
            return Err(SandboxError::Config(format!(
                "memory_mb {} is outside Lambda's 128..=10240",
                self.memory_mb
            )));
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(900) {
            return Err(SandboxError::Config(
                "timeout must be between 1 ms and 900 s".to_owned(),
            ));
        }
        if self.function_name.is_empty() {
            return Err(SandboxError::Config("function_name must not be empty".to_owned()));
        }
        if self.max_concurrency == 0 {
            return Err(SandboxError::Config(
                "max_concurrency must be at least 1".to_owned(),
            ));
        }
        self.logging
            .validate()
            .map_err(|e| SandboxError::Config(e.to_string()))?;
        if self.telemetry_queue_limit == 0 {
            return Err(SandboxError::Config(
                "telemetry_queue_limit must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }

    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME`.
    pub fn function_arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account_id, self.function_name
        )
    }

    /// The environment Lambda gives the extensions: the runtime's without the variables only
    /// the runtime gets ("not available to extensions": `AWS_EXECUTION_ENV`,
    /// `AWS_LAMBDA_LOG_GROUP_NAME`, `AWS_LAMBDA_LOG_STREAM_NAME`, `LAMBDA_TASK_ROOT`, `_HANDLER`,
    /// per the Extensions API documentation). The function's own variables are kept.
    pub fn extension_env(&self, api: SocketAddr, log_stream: &str) -> Vec<(String, String)> {
        const RUNTIME_ONLY: [&str; 5] = [
            "AWS_EXECUTION_ENV",
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "LAMBDA_TASK_ROOT",
            "_HANDLER",
        ];
        let own: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        self.process_env(api, log_stream)
            .into_iter()
            .filter(|(k, _)| !RUNTIME_ONLY.contains(&k.as_str()) || own.contains(&k.as_str()))
            .collect()
    }

    /// The environment Lambda gives the runtime.
    pub fn process_env(&self, api: SocketAddr, log_stream: &str) -> Vec<(String, String)> {
        let task_root = self
            .task_root
            .clone()
            .or_else(|| self.bootstrap.parent().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("."));
        let mut env = vec![
            ("AWS_LAMBDA_RUNTIME_API".to_owned(), api.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME".to_owned(), self.function_name.clone()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_owned(),
                self.memory_mb.to_string(),
            ),
            ("AWS_LAMBDA_FUNCTION_VERSION".to_owned(), self.version.clone()),
            ("AWS_REGION".to_owned(), self.region.clone()),
            ("AWS_DEFAULT_REGION".to_owned(), self.region.clone()),
            (
                "AWS_LAMBDA_INITIALIZATION_TYPE".to_owned(),
                self.initialization_type.as_str().to_owned(),
            ),
            (
                "AWS_EXECUTION_ENV".to_owned(),
                format!("AWS_Lambda_{}", self.runtime),
            ),
            ("_HANDLER".to_owned(), self.handler.clone()),
            ("LAMBDA_TASK_ROOT".to_owned(), task_root.display().to_string()),
            ("TZ".to_owned(), ":UTC".to_owned()),
        ];
        match self.initialization_type {
            // "The AWS_LAMBDA_LOG_GROUP_NAME and AWS_LAMBDA_LOG_STREAM_NAME environment
            // variables are not available in Lambda SnapStart functions" (SnapStart monitoring).
            InitializationType::SnapStart => {}
            _ => env.extend([
                (
                    "AWS_LAMBDA_LOG_GROUP_NAME".to_owned(),
                    self.logging.group_name(&self.function_name),
                ),
                ("AWS_LAMBDA_LOG_STREAM_NAME".to_owned(), log_stream.to_owned()),
            ]),
        }
        if self.initialization_type == InitializationType::LambdaManagedInstances {
            // Lambda sets it on Managed Instances: runtimes size their pool of /next pollers
            // with it (aws-lambda-go #600; lambda_runtime 1.5's `run_concurrent`).
            env.push((
                "AWS_LAMBDA_MAX_CONCURRENCY".to_owned(),
                self.max_concurrency.to_string(),
            ));
        }
        env.extend(self.logging.env());
        env.extend(self.env.iter().cloned());
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_has_lambda_variables_and_extras_last() {
        let mut c = Config::new("/fn/bootstrap");
        c.env.push(("FOO".into(), "bar".into()));
        let env = c.process_env("127.0.0.1:9999".parse().unwrap(), "stream");
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("AWS_LAMBDA_RUNTIME_API").as_deref(), Some("127.0.0.1:9999"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_VERSION").as_deref(), Some("$LATEST"));
        assert_eq!(
            get("AWS_LAMBDA_LOG_GROUP_NAME").as_deref(),
            Some("/aws/lambda/sandbox-function")
        );
        assert_eq!(get("LAMBDA_TASK_ROOT").as_deref(), Some("/fn"));
        assert_eq!(get("AWS_LAMBDA_LOG_FORMAT").as_deref(), Some("Text"));
        assert_eq!(get("AWS_LAMBDA_LOG_LEVEL"), None);
        assert_eq!(env.last().map(|(k, _)| k.as_str()), Some("FOO"));
    }

    #[test]
    fn env_follows_the_initialization_type() {
        let get = |c: &Config, k: &str| {
            c.process_env("127.0.0.1:1".parse().unwrap(), "s")
                .into_iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v)
        };
        let mut c = Config::new("/fn/bootstrap");
        assert_eq!(get(&c, "AWS_LAMBDA_MAX_CONCURRENCY"), None);
        assert_eq!(c.init_timeout, Duration::from_secs(10));
        c.set_initialization_type(InitializationType::LambdaManagedInstances);
        c.max_concurrency = 3;
        assert_eq!(get(&c, "AWS_LAMBDA_MAX_CONCURRENCY").as_deref(), Some("3"));
        // Managed Instances, like provisioned concurrency and SnapStart: 130 s or the timeout.
        assert_eq!(c.init_timeout, Duration::from_secs(130));
        c.timeout = Duration::from_secs(300);
        c.set_initialization_type(InitializationType::LambdaManagedInstances);
        assert_eq!(c.init_timeout, Duration::from_secs(300));
        c.timeout = Duration::from_secs(3);
        c.set_initialization_type(InitializationType::SnapStart);
        assert_eq!(
            get(&c, "AWS_LAMBDA_INITIALIZATION_TYPE").as_deref(),
            Some("snap-start")
        );
        assert_eq!(get(&c, "AWS_LAMBDA_LOG_GROUP_NAME"), None);
        assert_eq!(c.init_timeout, Duration::from_secs(130));
        assert_eq!(
            InitializationType::parse("provisioned-concurrency"),
            Some(InitializationType::ProvisionedConcurrency)
        );
    }

    #[test]
    fn validate_rejects_bad_memory() {
        let mut c = Config::new("/x");
        c.memory_mb = 64;
        assert!(c.validate().is_err());
        c.memory_mb = 128;
        assert!(c.validate().is_ok());
    }
}
