//! All configuration, read in one place from environment variables.
//!
//! A bad value never fails the function: it produces a [`ConfigWarning`] naming the variable and
//! what it accepts, and the default is used. `main` logs the warnings once tracing is set up.

pub(crate) mod otlp;
mod output;
pub(crate) mod warn;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

pub(crate) use otlp::OtlpConfig;
pub(crate) use output::{OutputConfig, OutputMode};

/// Names of every variable lambda-lens reads. `docs/configuration.md` lists them all.
pub mod vars {
    pub const RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";
    pub const FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
    pub const FUNCTION_VERSION: &str = "AWS_LAMBDA_FUNCTION_VERSION";
    pub const FUNCTION_MEMORY_SIZE: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";
    pub const REGION: &str = "AWS_REGION";
    pub const INITIALIZATION_TYPE: &str = "AWS_LAMBDA_INITIALIZATION_TYPE";
    /// The function's log stream, the OTLP resource's `faas.instance` where Lambda gives it to
    /// extensions (it sets it for the runtime, class a; for extensions, class d).
    pub const LOG_STREAM_NAME: &str = "AWS_LAMBDA_LOG_STREAM_NAME";
    pub const LOG_LEVEL: &str = "AWS_LAMBDA_LOG_LEVEL";
    pub const LOG_FORMAT: &str = "AWS_LAMBDA_LOG_FORMAT";
    pub const RUST_LOG: &str = "RUST_LOG";

    pub const NAMESPACE: &str = "LAMBDA_LENS_NAMESPACE";
    pub const POWERTOOLS_NAMESPACE: &str = "POWERTOOLS_METRICS_NAMESPACE";
    pub const PORT: &str = "LAMBDA_LENS_PORT";
    pub const LISTENER_HOST: &str = "LAMBDA_LENS_LISTENER_HOST";
    pub const LISTEN_ALL_INTERFACES: &str = "LAMBDA_LENS_LISTEN_ALL_INTERFACES";
    pub const BUFFER_TIMEOUT_MS: &str = "LAMBDA_LENS_BUFFER_TIMEOUT_MS";
    pub const BUFFER_MAX_BYTES: &str = "LAMBDA_LENS_BUFFER_MAX_BYTES";
    pub const BUFFER_MAX_ITEMS: &str = "LAMBDA_LENS_BUFFER_MAX_ITEMS";
    pub const SHUTDOWN_WAIT_MS: &str = "LAMBDA_LENS_SHUTDOWN_WAIT_MS";
    pub const LOG_LEVEL_OVERRIDE: &str = "LAMBDA_LENS_LOG_LEVEL";
    pub const METRICS: &str = "LAMBDA_LENS_METRICS";
    pub const DIMENSIONS: &str = "LAMBDA_LENS_DIMENSIONS";
    pub const STATIC_DIMENSIONS: &str = "LAMBDA_LENS_STATIC_DIMENSIONS";
    pub const OUTPUT: &str = "LAMBDA_LENS_OUTPUT";
    pub const FLUSH_INTERVAL_MS: &str = "LAMBDA_LENS_FLUSH_INTERVAL_MS";
    pub const KEEP_SLOWEST: &str = "LAMBDA_LENS_KEEP_SLOWEST";
    pub const COMPACT_VALUES: &str = "LAMBDA_LENS_COMPACT_VALUES";
    pub const HIGH_RESOLUTION: &str = "LAMBDA_LENS_HIGH_RESOLUTION";
    pub const PRICE_PER_GB_SECOND: &str = "LAMBDA_LENS_PRICE_PER_GB_SECOND";
    pub const PRICE_PER_REQUEST: &str = "LAMBDA_LENS_PRICE_PER_REQUEST";
    pub const SINK: &str = "LAMBDA_LENS_SINK";
    /// The CloudWatch endpoint of the PutMetricData sink (the SDK's own names; the
    /// service-specific one wins), for local testing.
    pub const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
    pub const ENDPOINT_URL_CLOUDWATCH: &str = "AWS_ENDPOINT_URL_CLOUDWATCH";
    /// The OTLP sink: the OpenTelemetry exporter's variables (the metrics-specific form of
    /// each wins over the generic one), and lambda-lens's own two.
    pub const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    pub const OTLP_METRICS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
    pub const OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
    pub const OTLP_METRICS_HEADERS: &str = "OTEL_EXPORTER_OTLP_METRICS_HEADERS";
    pub const OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
    pub const OTLP_METRICS_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL";
    pub const OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
    pub const OTLP_METRICS_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION";
    pub const OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
    pub const OTLP_METRICS_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT";
    pub const OTLP_TEMPORALITY: &str = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
    pub const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
    pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
    /// The OTLP sink's export interval (the OpenTelemetry SDKs' periodic reader's).
    pub const OTEL_METRIC_EXPORT_INTERVAL: &str = "OTEL_METRIC_EXPORT_INTERVAL";
    pub const OTLP_AUTH: &str = "LAMBDA_LENS_OTLP_AUTH";
    pub const OTLP_ATTRIBUTES: &str = "LAMBDA_LENS_OTLP_ATTRIBUTES";

    /// Every variable a user may set: `docs/configuration.md` must list them all.
    pub const USER_SETTABLE: &[&str] = &[
        NAMESPACE,
        POWERTOOLS_NAMESPACE,
        PORT,
        LISTENER_HOST,
        LISTEN_ALL_INTERFACES,
        BUFFER_TIMEOUT_MS,
        BUFFER_MAX_BYTES,
        BUFFER_MAX_ITEMS,
        SHUTDOWN_WAIT_MS,
        METRICS,
        DIMENSIONS,
        STATIC_DIMENSIONS,
        OUTPUT,
        FLUSH_INTERVAL_MS,
        KEEP_SLOWEST,
        COMPACT_VALUES,
        HIGH_RESOLUTION,
        PRICE_PER_GB_SECOND,
        PRICE_PER_REQUEST,
        SINK,
        ENDPOINT_URL,
        ENDPOINT_URL_CLOUDWATCH,
        OTLP_ENDPOINT,
        OTLP_METRICS_ENDPOINT,
        OTLP_HEADERS,
        OTLP_METRICS_HEADERS,
        OTLP_PROTOCOL,
        OTLP_METRICS_PROTOCOL,
        OTLP_COMPRESSION,
        OTLP_METRICS_COMPRESSION,
        OTLP_TIMEOUT,
        OTLP_METRICS_TIMEOUT,
        OTLP_TEMPORALITY,
        OTEL_RESOURCE_ATTRIBUTES,
        OTEL_SERVICE_NAME,
        OTEL_METRIC_EXPORT_INTERVAL,
        OTLP_AUTH,
        OTLP_ATTRIBUTES,
        LOG_LEVEL_OVERRIDE,
        LOG_LEVEL,
        LOG_FORMAT,
        RUST_LOG,
    ];
}

const DEFAULT_NAMESPACE: &str = "LambdaLens";
const DEFAULT_BUFFER_TIMEOUT_MS: u32 = 25;
const DEFAULT_BUFFER_MAX_BYTES: u32 = 262_144;
const DEFAULT_BUFFER_MAX_ITEMS: u32 = 1_000;
const DEFAULT_SHUTDOWN_WAIT_MS: u64 = 1_000;
const MANAGED_INSTANCES: &str = "lambda-managed-instances";

/// Telemetry API buffering, within the bounds the API accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Buffering {
    pub(crate) timeout_ms: u32,
    pub(crate) max_bytes: u32,
    pub(crate) max_items: u32,
}

impl Default for Buffering {
    fn default() -> Self {
        Self {
            timeout_ms: DEFAULT_BUFFER_TIMEOUT_MS,
            max_bytes: DEFAULT_BUFFER_MAX_BYTES,
            max_items: DEFAULT_BUFFER_MAX_ITEMS,
        }
    }
}

impl Buffering {
    /// The largest request body the listener accepts. Lambda documents that one POST can carry
    /// up to about twice `maxBytes`; a margin on top covers the envelope of each record.
    pub(crate) fn max_body_bytes(&self) -> usize {
        (self.max_bytes as usize)
            .saturating_mul(2)
            .saturating_add(64 * 1024)
    }
}

/// One place the metrics can go, as `LAMBDA_LENS_SINK` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    /// EMF on stdout (`emf`): CloudWatch Logs extracts the metrics. No permission, no API call.
    Emf,
    /// CloudWatch `PutMetricData` (`put-metric-data`), with EMF on stdout as the fallback for a
    /// batch the API refused.
    PutMetricData,
    /// OTLP/HTTP (`otlp`): CloudWatch's OpenTelemetry endpoint or any OTLP backend, with EMF on
    /// stdout as the fallback for an export that failed.
    Otlp,
}

impl SinkKind {
    /// Every sink, in the order a list of them is written.
    pub const ALL: [SinkKind; 3] = [Self::Emf, Self::PutMetricData, Self::Otlp];

    /// The name `LAMBDA_LENS_SINK` gives it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Emf => "emf",
            Self::PutMetricData => "put-metric-data",
            Self::Otlp => "otlp",
        }
    }

    /// Whether this binary has it: each networked sink is in the layer variant built with its
    /// cargo feature (`make layer SINK=put-metric-data`, `make layer SINK=otlp`).
    pub fn built_in(self) -> bool {
        match self {
            Self::Emf => true,
            Self::PutMetricData => cfg!(feature = "put-metric-data"),
            Self::Otlp => cfg!(feature = "otlp"),
        }
    }

    /// The layer variant that has it (`make layer SINK=...`, the zip's suffix).
    pub fn layer_variant(self) -> &'static str {
        match self {
            Self::Emf => "emf",
            Self::PutMetricData => "put-metric-data",
            Self::Otlp => "otlp",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The sinks `LAMBDA_LENS_SINK` chose, each at most once: a comma list of [`SinkKind`] names
/// (`emf,put-metric-data` for both; CloudWatch then stores every value twice). Never empty;
/// EMF alone by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sinks {
    bits: u8,
}

impl Default for Sinks {
    fn default() -> Self {
        Self::only(SinkKind::Emf)
    }
}

impl Sinks {
    pub fn only(kind: SinkKind) -> Self {
        Self { bits: kind.bit() }
    }

    pub fn contains(self, kind: SinkKind) -> bool {
        self.bits & kind.bit() != 0
    }

    /// The chosen sinks, in [`SinkKind::ALL`]'s order.
    pub fn kinds(self) -> impl Iterator<Item = SinkKind> {
        SinkKind::ALL.into_iter().filter(move |k| self.contains(*k))
    }
}

impl fmt::Display for Sinks {
    /// The value of `LAMBDA_LENS_SINK` that chooses these sinks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, kind) in self.kinds().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(kind.name())?;
        }
        Ok(())
    }
}

/// Facts about the function, from the variables Lambda sets.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FunctionInfo {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) memory_size_mb: Option<u32>,
    pub(crate) region: Option<String>,
    pub(crate) initialization_type: Option<String>,
    pub(crate) log_stream: Option<String>,
}

impl FunctionInfo {
    /// `AWS_LAMBDA_INITIALIZATION_TYPE`, on-demand when unset.
    pub(crate) fn init_type(&self) -> &str {
        self.initialization_type.as_deref().unwrap_or("on-demand")
    }

    /// On Lambda Managed Instances several invocations share an environment and INVOKE events
    /// are not available to extensions.
    pub(crate) fn is_managed_instances(&self) -> bool {
        self.initialization_type.as_deref() == Some(MANAGED_INSTANCES)
    }
}

/// Lambda's log levels (`LoggingConfig`'s `ApplicationLogLevel`), from the most detailed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LambdaLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl LambdaLevel {
    /// Lambda's default application log level (class a, "Log-level filtering").
    pub(crate) const DEFAULT: Self = Self::Info;

    /// A level name in any case, as Lambda reads a line's `"level"` (class a); `WARNING` too.
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        Some(match raw.trim().to_ascii_uppercase().as_str() {
            "TRACE" => Self::Trace,
            "DEBUG" => Self::Debug,
            "INFO" => Self::Info,
            "WARN" | "WARNING" => Self::Warn,
            "ERROR" => Self::Error,
            "FATAL" => Self::Fatal,
            _ => return None,
        })
    }

    /// The name Lambda documents (and reads from a line's `"level"`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Trace => "TRACE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
            Self::Fatal => "FATAL",
        }
    }
}

/// How the extension logs (level filter text and output format), and what Lambda's logging
/// controls are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogConfig {
    /// A `tracing_subscriber::filter::Targets` directive string, e.g. `info` or `lambda_lens=debug`.
    pub(crate) filter: String,
    /// `AWS_LAMBDA_LOG_FORMAT` is `JSON` (any case): Lambda's level filter applies.
    pub(crate) json: bool,
    /// The application log level Lambda filters at under JSON: `AWS_LAMBDA_LOG_LEVEL`, else
    /// [`LambdaLevel::DEFAULT`].
    pub(crate) application_level: LambdaLevel,
    /// Whether `AWS_LAMBDA_LOG_LEVEL` gave [`Self::application_level`] (else it is the default).
    pub(crate) level_from_lambda: bool,
}

impl LogConfig {
    /// The level every EMF line carries, exactly the application level (so the line passes the
    /// filter) under JSON; none under Text, where Lambda filters nothing (class a).
    ///
    /// Unset (or not a level), `AWS_LAMBDA_LOG_LEVEL` gives the documented default, INFO: Lambda
    /// sets the variable whenever an application level is configured (class a), so without it
    /// the filter is at the default. A higher level would pass more thresholds (FATAL passes
    /// every one), and is not chosen: a metrics line labelled WARN, ERROR or FATAL lands, once
    /// per invocation, in every level-based alarm, metric filter and query for real problems,
    /// to guard against a threshold nothing points to. The one case the extension cannot see
    /// (extension lines filtered at another level than the application's, class d) is what the
    /// start-up line's advice covers: a networked sink.
    pub(crate) fn emf_level(&self) -> Option<&'static str> {
        self.json.then(|| self.application_level.name())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub(crate) function: FunctionInfo,
    pub(crate) namespace: String,
    /// Port of the telemetry listener; 0 lets the system choose a free one.
    pub(crate) port: u16,
    /// Address to bind the listener to; `None` means: `sandbox.localdomain`, else 127.0.0.1.
    pub(crate) listener_host: Option<IpAddr>,
    pub(crate) buffering: Buffering,
    /// Longest wait for outstanding reports after SHUTDOWN (always also bounded by its deadline).
    pub(crate) shutdown_wait: Duration,
    pub(crate) log: LogConfig,
    /// What is emitted and how: metrics, dimensions, output mode, prices.
    pub(crate) output: OutputConfig,
    /// Where it goes.
    pub(crate) sink: Sinks,
    /// `AWS_ENDPOINT_URL_CLOUDWATCH`, else `AWS_ENDPOINT_URL`: the PutMetricData sink's
    /// endpoint instead of the region's.
    pub(crate) endpoint_url: Option<String>,
    /// The OTLP sink's settings, when `LAMBDA_LENS_SINK` names it.
    pub(crate) otlp: Option<OtlpConfig>,
}

/// A variable whose value was not accepted, the default used instead; or a value written with
/// an old name, still accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub(crate) variable: &'static str,
    pub(crate) value: String,
    pub(crate) accepted: String,
    pub(crate) used: String,
    /// The value was accepted under an old name; `used` is its new spelling.
    pub(crate) old_name: bool,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.old_name {
            return write!(
                f,
                "{}={:?} is an old name, still accepted: set {}={} instead",
                self.variable, self.value, self.variable, self.used
            );
        }
        write!(
            f,
            "{}={:?} is not accepted: expected {}; using {}",
            self.variable, self.value, self.accepted, self.used
        )
    }
}

/// Reads variables through a lookup function, so tests need not touch the process environment.
pub(crate) struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    warnings: Vec<ConfigWarning>,
}

impl Reader<'_> {
    /// A set, non-blank value, trimmed. A blank value of one of lambda-lens's own variables is
    /// not silently ignored: it is a warning.
    pub(crate) fn get(&mut self, name: &str) -> Option<String> {
        let raw = (self.lookup)(name)?;
        let value = raw.trim();
        if value.is_empty() {
            if let Some(variable) = vars::USER_SETTABLE
                .iter()
                .find(|v| **v == name && v.starts_with("LAMBDA_LENS_"))
            {
                self.warn(
                    variable,
                    raw.clone(),
                    "a value (it is set but empty)",
                    "the default",
                );
            }
            return None;
        }
        Some(value.to_owned())
    }

    pub(crate) fn warn(
        &mut self,
        variable: &'static str,
        value: String,
        accepted: impl Into<String>,
        used: impl fmt::Display,
    ) {
        self.warnings.push(ConfigWarning {
            variable,
            value,
            accepted: accepted.into(),
            used: used.to_string(),
            old_name: false,
        });
    }

    /// `value` of `variable` was accepted under an old name; `new` is how it is written now.
    pub(crate) fn old_name(&mut self, variable: &'static str, value: String, new: impl fmt::Display) {
        self.warnings.push(ConfigWarning {
            variable,
            value,
            accepted: String::new(),
            used: new.to_string(),
            old_name: true,
        });
    }

    /// `true`/`false` (also 1/0, yes/no, on/off); unset is false.
    pub(crate) fn flag(&mut self, name: &'static str) -> bool {
        let Some(raw) = self.get(name) else {
            return false;
        };
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => {
                self.warn(name, raw, "true or false", false);
                false
            }
        }
    }

    pub(crate) fn int_in<T>(&mut self, name: &'static str, min: T, max: T, default: T) -> T
    where
        T: std::str::FromStr + PartialOrd + Copy + fmt::Display,
    {
        let Some(raw) = self.get(name) else {
            return default;
        };
        match raw.parse::<T>() {
            Ok(v) if v >= min && v <= max => v,
            _ => {
                self.warn(name, raw, format!("an integer from {min} to {max}"), default);
                default
            }
        }
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> (Self, Vec<ConfigWarning>) {
        let (config, mut warnings) = Self::from_lookup(&|name| std::env::var(name).ok());
        // A value that is not UTF-8 reads as unset: say so.
        for variable in vars::USER_SETTABLE {
            if let Some(raw) = std::env::var_os(variable)
                && raw.to_str().is_none()
            {
                warnings.push(ConfigWarning {
                    variable,
                    value: raw.to_string_lossy().into_owned(),
                    accepted: "valid UTF-8 text".to_owned(),
                    used: "the default".to_owned(),
                    old_name: false,
                });
            }
        }
        (config, warnings)
    }

    /// Reads the configuration through `lookup` (a variable name to its value, if set).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> (Self, Vec<ConfigWarning>) {
        let mut r = Reader {
            lookup,
            warnings: Vec::new(),
        };

        let function = FunctionInfo {
            name: r.get(vars::FUNCTION_NAME).unwrap_or_else(|| "unknown".to_owned()),
            version: r
                .get(vars::FUNCTION_VERSION)
                .unwrap_or_else(|| "$LATEST".to_owned()),
            memory_size_mb: r.get(vars::FUNCTION_MEMORY_SIZE).and_then(|v| v.parse().ok()),
            region: r.get(vars::REGION),
            initialization_type: r.get(vars::INITIALIZATION_TYPE),
            log_stream: r.get(vars::LOG_STREAM_NAME),
        };

        let namespace = read_namespace(&mut r);

        let port = match r.get(vars::PORT) {
            None => 0,
            Some(raw) => match raw.parse::<u16>() {
                Ok(p) if p != 9001 => p,
                _ => {
                    r.warn(
                        vars::PORT,
                        raw,
                        "a TCP port from 0 to 65535 other than 9001 (0 picks a free port)",
                        0,
                    );
                    0
                }
            },
        };

        let listener_host = read_listener_host(&mut r);

        let buffering = Buffering {
            timeout_ms: r.int_in(vars::BUFFER_TIMEOUT_MS, 25, 30_000, DEFAULT_BUFFER_TIMEOUT_MS),
            max_bytes: r.int_in(
                vars::BUFFER_MAX_BYTES,
                262_144,
                1_048_576,
                DEFAULT_BUFFER_MAX_BYTES,
            ),
            max_items: r.int_in(vars::BUFFER_MAX_ITEMS, 1_000, 10_000, DEFAULT_BUFFER_MAX_ITEMS),
        };

        let shutdown_wait =
            Duration::from_millis(r.int_in(vars::SHUTDOWN_WAIT_MS, 0, 1_800, DEFAULT_SHUTDOWN_WAIT_MS));

        let log = read_log_config(&mut r);
        let output = output::read(&mut r);
        let sink = read_sink(&mut r);
        let endpoint_url = r
            .get(vars::ENDPOINT_URL_CLOUDWATCH)
            .or_else(|| r.get(vars::ENDPOINT_URL));
        let otlp = if sink.contains(SinkKind::Otlp) {
            Some(otlp::read(&mut r, function.region.as_deref()))
        } else {
            otlp::check_unused(&mut r);
            None
        };

        let config = Config {
            function,
            namespace,
            port,
            listener_host,
            buffering,
            shutdown_wait,
            log,
            output,
            sink,
            endpoint_url,
            otlp,
        };
        (config, r.warnings)
    }
}

/// What `LAMBDA_LENS_SINK` accepts, for the warning about a value it does not.
const SINKS_ACCEPTED: &str =
    "a comma list of sinks, each at most once: emf, put-metric-data, otlp (e.g. emf,otlp)";

/// `LAMBDA_LENS_SINK`: a comma list of sink names, in any order, each at most once. The old
/// names `api` (put-metric-data) and `both` (emf,put-metric-data) are still accepted, with a
/// warning that names the new value. A binary built without a sink it names says so and writes
/// EMF.
fn read_sink(r: &mut Reader<'_>) -> Sinks {
    let Some(raw) = r.get(vars::SINK) else {
        return Sinks::default();
    };
    let mut sinks = Sinks { bits: 0 };
    let mut old_name = false;
    for word in raw.split(',').map(str::trim) {
        let kinds: &[SinkKind] = match word.to_ascii_lowercase().as_str() {
            "emf" => &[SinkKind::Emf],
            "put-metric-data" => &[SinkKind::PutMetricData],
            "otlp" => &[SinkKind::Otlp],
            "api" => {
                old_name = true;
                &[SinkKind::PutMetricData]
            }
            "both" => {
                old_name = true;
                &[SinkKind::Emf, SinkKind::PutMetricData]
            }
            _ => &[],
        };
        if kinds.is_empty() || kinds.iter().any(|k| sinks.contains(*k)) {
            r.warn(vars::SINK, raw, SINKS_ACCEPTED, Sinks::default());
            return Sinks::default();
        }
        for kind in kinds {
            sinks.bits |= kind.bit();
        }
    }
    if old_name {
        r.old_name(vars::SINK, raw.clone(), sinks);
    }
    if let Some(missing) = sinks.kinds().find(|k| !k.built_in()) {
        let variant = missing.layer_variant();
        r.warn(
            vars::SINK,
            raw,
            format!(
                "emf in this layer: {} is in the layer variant lambda-lens-layer-<arch>-{variant}.zip (`make layer SINK={variant}`)",
                missing.name(),
            ),
            Sinks::default(),
        );
        return Sinks::default();
    }
    sinks
}

/// The address to bind the listener to. An unspecified address (`0.0.0.0`, `::`) would put the
/// unauthenticated listener on every interface: it needs `LAMBDA_LENS_LISTEN_ALL_INTERFACES`.
fn read_listener_host(r: &mut Reader<'_>) -> Option<IpAddr> {
    let opted_in = r.flag(vars::LISTEN_ALL_INTERFACES);
    let raw = r.get(vars::LISTENER_HOST)?;
    let fallback = "sandbox.localdomain, else 127.0.0.1";
    let Ok(ip) = raw.parse::<IpAddr>() else {
        r.warn(
            vars::LISTENER_HOST,
            raw,
            "an IP address such as 127.0.0.1",
            fallback,
        );
        return None;
    };
    if !ip.is_unspecified() {
        return Some(ip);
    }
    if opted_in {
        // The listener warns when it binds there.
        Some(ip)
    } else {
        r.warn(
            vars::LISTENER_HOST,
            raw,
            format!(
                "a specific address; every interface ({ip}) needs {}=true",
                vars::LISTEN_ALL_INTERFACES
            ),
            fallback,
        );
        None
    }
}

#[cfg(test)]
impl Config {
    /// The configuration `vars` alone would give (tests).
    pub(crate) fn from_pairs(vars: &[(&str, &str)]) -> (Self, Vec<ConfigWarning>) {
        Self::from_lookup(&|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }
}

/// What `LAMBDA_LENS_NAMESPACE` (and the Powertools variable) accepts, for the warning.
const NAMESPACE_ACCEPTED: &str =
    "1 to 255 characters from a-z A-Z 0-9 . _ # : / - (no space), not starting with AWS/";

fn read_namespace(r: &mut Reader<'_>) -> String {
    for name in [vars::NAMESPACE, vars::POWERTOOLS_NAMESPACE] {
        if let Some(raw) = r.get(name) {
            if valid_namespace(&raw) {
                return raw;
            }
            r.warn(name, raw, NAMESPACE_ACCEPTED, DEFAULT_NAMESPACE);
            return DEFAULT_NAMESPACE.to_owned();
        }
    }
    DEFAULT_NAMESPACE.to_owned()
}

/// The namespace rule for EMF: the characters every one of AWS's EMF client libraries
/// accepts, `[a-zA-Z0-9._#:/-]`, and CloudWatch's 255 characters; not the reserved `AWS/`.
///
/// CloudWatch's namespace documentation (and PutMetricData) allows a space too (class a), but
/// AWS's EMF libraries disagree: aws-embedded-metrics-python refuses it
/// (`aws_embedded_metrics/constants.py`, `VALID_NAMESPACE_REGEX`, with at most 256 characters,
/// `MAX_NAMESPACE_LENGTH`, checked in `validator.py`), as the .NET library does, while
/// aws-embedded-metrics-node accepts it since 4.2.1 (`src/Constants.ts`), following that
/// documentation rather than a test of extraction (class b). Whether CloudWatch Logs extracts
/// an EMF namespace with a space is not documented (class d), and a namespace it refuses loses
/// every metric; so a space is refused here, and the default namespace used. The same rule
/// holds with the PutMetricData sink, whose failed batches are written as EMF.
fn valid_namespace(ns: &str) -> bool {
    !ns.is_empty()
        && ns.len() <= 255
        && !ns.starts_with("AWS/")
        && ns
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#' | ':'))
}

const LEVELS: &str = "TRACE, DEBUG, INFO, WARN, ERROR or FATAL";

fn level_directive(raw: &str) -> Option<&'static str> {
    match raw.to_ascii_uppercase().as_str() {
        "TRACE" => Some("trace"),
        "DEBUG" => Some("debug"),
        "INFO" => Some("info"),
        "WARN" | "WARNING" => Some("warn"),
        "ERROR" | "FATAL" => Some("error"),
        "OFF" => Some("off"),
        _ => None,
    }
}

/// A level for lambda-lens (its Extensions API calls included); its other dependencies
/// (the HTTP stack) stay at WARN, or quieter when the level asked for is quieter.
fn scoped(level: &str) -> String {
    match level {
        "trace" | "debug" | "info" => format!("warn,lambda_lens={level}"),
        quieter => quieter.to_owned(),
    }
}

fn read_log_config(r: &mut Reader<'_>) -> LogConfig {
    let json = r
        .get(vars::LOG_FORMAT)
        .is_some_and(|v| v.eq_ignore_ascii_case("json"));
    let lambda_level = r.get(vars::LOG_LEVEL);
    let application_level = lambda_level.as_deref().and_then(LambdaLevel::parse);
    let mut filter = None;
    if let Some(raw) = r.get(vars::LOG_LEVEL_OVERRIDE) {
        match level_directive(&raw) {
            Some(level) => filter = Some(scoped(level)),
            None => r.warn(
                vars::LOG_LEVEL_OVERRIDE,
                raw,
                LEVELS,
                "the next source (AWS_LAMBDA_LOG_LEVEL, RUST_LOG, else INFO)",
            ),
        }
    }
    if let Some(raw) = lambda_level {
        match level_directive(&raw) {
            Some(level) => {
                filter = filter.or_else(|| Some(scoped(level)));
            }
            None => {
                let used = if json {
                    "INFO for the level of EMF lines; the next source (RUST_LOG, else INFO) for lambda-lens's own log"
                } else {
                    "the next source (RUST_LOG, else INFO)"
                };
                r.warn(vars::LOG_LEVEL, raw, LEVELS, used);
            }
        }
    }
    let filter = filter.or_else(|| rust_log(r)).unwrap_or_else(|| scoped("info"));
    LogConfig {
        filter,
        json,
        application_level: application_level.unwrap_or(LambdaLevel::DEFAULT),
        level_from_lambda: application_level.is_some(),
    }
}

/// `RUST_LOG`, when every directive is a level or `target=level`. A directive that is neither
/// would silence every line (tracing reads a bare word as a target), so the whole value is
/// refused with a warning. lambda-lens's own errors stay on unless a directive names it (or
/// sets a default level).
fn rust_log(r: &mut Reader<'_>) -> Option<String> {
    let raw = r.get(vars::RUST_LOG)?;
    let level = |text: &str| {
        let text = text.trim();
        text.eq_ignore_ascii_case("off")
            || level_directive(text).is_some() && !text.eq_ignore_ascii_case("fatal")
    };
    let directives: Vec<&str> = raw.split(',').map(str::trim).filter(|d| !d.is_empty()).collect();
    let valid = !directives.is_empty()
        && directives.iter().all(|d| match d.split_once('=') {
            Some((target, lvl)) => {
                !target.trim().is_empty()
                    && target
                        .trim()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-'))
                    && level(lvl)
            }
            None => level(d),
        });
    if !valid {
        r.warn(
            vars::RUST_LOG,
            raw,
            "levels (trace, debug, info, warn, error, off) or target=level pairs, comma-separated",
            "INFO",
        );
        return None;
    }
    let names_us = directives
        .iter()
        .any(|d| !d.contains('=') || d.trim_start().starts_with("lambda_lens"));
    Some(if names_us {
        raw
    } else {
        format!("{raw},lambda_lens=error")
    })
}

#[cfg(test)]
mod tests;
