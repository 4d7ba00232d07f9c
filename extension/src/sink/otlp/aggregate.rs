//! Records to OTLP metrics: which lambda-lens value becomes which OpenTelemetry metric (the
//! FaaS semantic conventions' names and units where one exists, `lambda_lens.*` for the rest),
//! and the window's aggregation: sums and explicit-bucket histograms kept per series (metric and
//! data-point attributes) in memory, bounded, until the window is exported.

use super::OtlpLabels;
use crate::sink::Observed;

/// What an instrument is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// A monotonic sum of whole numbers (`asInt`).
    Count,
    /// A monotonic sum of real numbers (`asDouble`).
    Total,
    /// An explicit-bucket histogram with these upper bounds.
    Histogram(&'static [f64]),
    /// The last value seen (`asDouble`).
    Gauge,
}

/// Which data-point attributes a metric carries (those the configuration turns on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Labelled {
    /// None: the resource says it all.
    No,
    /// The invocation's: `faas.coldstart`, `lambda_lens.tenant_id`.
    Invocation,
    /// The invocation's and `error.type`.
    Error,
}

/// One OpenTelemetry metric made from one lambda-lens value.
#[derive(Debug, PartialEq)]
pub(crate) struct Instrument {
    /// The catalogue name of the value it is made from.
    pub(crate) from: &'static str,
    pub(crate) name: &'static str,
    /// UCUM.
    pub(crate) unit: &'static str,
    pub(crate) description: &'static str,
    pub(crate) kind: Kind,
    /// The value times this is the metric's value (milliseconds to seconds, megabytes to bytes).
    pub(crate) scale: f64,
    pub(crate) labelled: Labelled,
}

/// Seconds: the semantic conventions' recommended boundaries for `faas.invoke_duration` (5 ms
/// to 10 s), extended to Lambda's 900 s limit (class a) so that a long invocation is not lost
/// in the overflow bucket. 21 buckets: a few bytes each on the wire.
pub(crate) const SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0,
    300.0, 600.0, 900.0,
];

/// Bytes of memory: Lambda's sizes run from 128 MB to 10,240 MB (class a); powers of two
/// between, so a utilisation can be read against the configured size.
pub(crate) const MEMORY_BYTES: &[f64] = &[
    16.0 * MIB,
    32.0 * MIB,
    64.0 * MIB,
    128.0 * MIB,
    256.0 * MIB,
    512.0 * MIB,
    1024.0 * MIB,
    2048.0 * MIB,
    4096.0 * MIB,
    8192.0 * MIB,
    10240.0 * MIB,
];

/// Bytes on the network in one invocation: decades from 1 KiB to 1 GiB.
pub(crate) const NET_BYTES: &[f64] = &[
    1024.0,
    10.0 * 1024.0,
    100.0 * 1024.0,
    MIB,
    10.0 * MIB,
    100.0 * MIB,
    1024.0 * MIB,
];

const MIB: f64 = 1024.0 * 1024.0;
const MS: f64 = 0.001;

macro_rules! instruments {
    ($($from:literal => $name:literal, $unit:literal, $kind:expr, $scale:expr, $labelled:ident, $about:literal;)*) => {
        /// Every metric the OTLP sink writes, in the order it writes them.
        pub(crate) static INSTRUMENTS: &[Instrument] = &[$(Instrument {
            from: $from,
            name: $name,
            unit: $unit,
            description: $about,
            kind: $kind,
            scale: $scale,
            labelled: Labelled::$labelled,
        }),*];
    };
}

// `faas.invocations` counts successful invocations (the semantic conventions' definition):
// every invocation is in exactly one of `faas.invocations`, `faas.errors` and `faas.timeouts`,
// and in the count of `faas.invoke_duration` when its report came.
instruments! {
    "Successes" => "faas.invocations", "{invocation}", Kind::Count, 1.0, Invocation, "Number of successful invocations";
    "Errors" => "faas.errors", "{error}", Kind::Count, 1.0, Error, "Number of invocation errors";
    "Timeouts" => "faas.timeouts", "{timeout}", Kind::Count, 1.0, Invocation, "Number of invocation timeouts";
    "ColdStarts" => "faas.coldstarts", "{coldstart}", Kind::Count, 1.0, Invocation, "Number of invocation cold starts";
    "Duration" => "faas.invoke_duration", "s", Kind::Histogram(SECONDS), MS, Invocation, "Duration of the invocation (platform.report durationMs)";
    "InitDuration" => "faas.init_duration", "s", Kind::Histogram(SECONDS), MS, No, "Duration of the function's initialization";
    "MaxMemoryUsed" => "faas.mem_usage", "By", Kind::Histogram(MEMORY_BYTES), MIB, Invocation, "Peak memory of the environment per invocation";
    "CpuTotalTime" => "faas.cpu_usage", "s", Kind::Histogram(SECONDS), MS, Invocation, "CPU time of the function's processes per invocation";
    "NetworkBytes" => "faas.net_io", "By", Kind::Histogram(NET_BYTES), 1.0, Invocation, "Network bytes received and sent per invocation";
    "RuntimeDuration" => "lambda_lens.runtime_duration", "s", Kind::Histogram(SECONDS), MS, Invocation, "The runtime's own work (platform.runtimeDone durationMs)";
    "PostRuntimeDuration" => "lambda_lens.post_runtime_duration", "s", Kind::Histogram(SECONDS), MS, Invocation, "What the extensions cost the invocation after the runtime was done";
    "BilledDuration" => "lambda_lens.billed_duration", "s", Kind::Total, MS, Invocation, "Billed duration";
    "RestoreDuration" => "lambda_lens.restore_duration", "s", Kind::Histogram(SECONDS), MS, No, "SnapStart restore duration";
    "OutOfMemory" => "lambda_lens.oom_kills", "{kill}", Kind::Count, 1.0, Invocation, "Invocations that ran out of memory";
    "EstimatedCost" => "lambda_lens.estimated_cost", "{USD}", Kind::Total, 1.0, Invocation, "Estimated cost of the invocations, US dollars";
    "InitErrors" => "lambda_lens.init_errors", "{error}", Kind::Count, 1.0, No, "Init or restore phases that did not succeed";
    "Shutdowns" => "lambda_lens.shutdowns", "{shutdown}", Kind::Count, 1.0, No, "Environment shutdowns";
    "LogsDroppedRecords" => "lambda_lens.telemetry.dropped_records", "{record}", Kind::Count, 1.0, No, "Telemetry records Lambda dropped";
    "TelemetryRecordsRejected" => "lambda_lens.telemetry.rejected_records", "{record}", Kind::Count, 1.0, No, "Telemetry records the extension could not use";
    "ExtensionMemory" => "lambda_lens.extension.memory", "By", Kind::Gauge, MIB, No, "The extension's own peak resident memory";
    "EmfDocumentsWritten" => "lambda_lens.emf.documents", "{document}", Kind::Count, 1.0, No, "EMF documents the extension wrote";
    "ApiRequests" => "lambda_lens.put_metric_data.requests", "{request}", Kind::Count, 1.0, No, "PutMetricData requests (every attempt)";
    "ApiFallbackDataPoints" => "lambda_lens.put_metric_data.fallback_data_points", "{data_point}", Kind::Count, 1.0, No, "PutMetricData data points written as EMF instead";
    "OtlpRequests" => "lambda_lens.otlp.requests", "{request}", Kind::Count, 1.0, No, "OTLP export requests (every attempt)";
    "OtlpDataPointsSent" => "lambda_lens.otlp.data_points_sent", "{data_point}", Kind::Count, 1.0, No, "OTLP data points sent";
    "OtlpRetries" => "lambda_lens.otlp.retries", "{request}", Kind::Count, 1.0, No, "OTLP attempts after the first";
    "OtlpFallbackRecords" => "lambda_lens.otlp.fallback_records", "{record}", Kind::Count, 1.0, No, "Records of failed exports written as EMF instead";
    "OtlpUnknownOutcomes" => "lambda_lens.otlp.unknown_outcomes", "{request}", Kind::Count, 1.0, No, "OTLP requests sent that got no answer in time";
    "OtlpRejectedDataPoints" => "lambda_lens.otlp.rejected_data_points", "{data_point}", Kind::Count, 1.0, No, "Data points the endpoint rejected (partial success)";
}

/// The largest number of series a window keeps. Beyond it, a new series' label values are
/// replaced by [`OTHER`] (its values merge into that series): nothing is dropped, and memory
/// stays bounded whatever the tenants or error types.
pub(crate) const MAX_SERIES: usize = 2_000;
/// The most bytes of label values a window keeps, for the same reason.
pub(crate) const MAX_LABEL_BYTES: usize = 256 * 1024;
/// The value of a label when the window is full.
pub(crate) const OTHER: &str = "_other";
/// Longest label value kept (a tenant id or error type is cut there).
const MAX_LABEL_VALUE: usize = 256;

/// A data-point attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Text(String),
    Bool(bool),
}

/// One series' accumulated values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Point {
    Sum(f64),
    Histogram {
        count: u64,
        sum: f64,
        min: f64,
        max: f64,
        buckets: Vec<u64>,
    },
    Gauge(f64),
}

impl Point {
    /// Whether it says anything a delta export needs: a sum that is not zero, a histogram
    /// with a value, any gauge (its last value is the measurement).
    pub(crate) fn moved(&self) -> bool {
        match self {
            Self::Sum(v) => *v != 0.0,
            Self::Histogram { count, .. } => *count > 0,
            Self::Gauge(_) => true,
        }
    }
}

/// One series: an instrument and its data-point attributes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    /// One of [`INSTRUMENTS`].
    pub(crate) instrument: &'static Instrument,
    pub(crate) attributes: Vec<(&'static str, Value)>,
    pub(crate) point: Point,
}

/// The values observed since the window opened.
#[derive(Debug, Default)]
pub(crate) struct Window {
    pub(crate) series: Vec<Series>,
    /// Earliest record time seen, epoch milliseconds.
    pub(crate) first_ms: Option<i64>,
    /// Records observed.
    pub(crate) records: u64,
    /// Values that were not finite, left out.
    pub(crate) non_finite: u64,
    pub(crate) label_bytes: usize,
}

impl Window {
    pub(crate) fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Adds one record's values.
    pub(crate) fn observe(&mut self, record: &dyn Observed, labels: &OtlpLabels) {
        self.records += 1;
        let t = record.timestamp_ms();
        self.first_ms = Some(self.first_ms.map_or(t, |f| f.min(t)));
        let invocation = record.is_invocation();
        let mut common: Vec<(&'static str, Value)> = Vec::new();
        if invocation {
            if labels.cold_start
                && let Some(cold) = record.text("ColdStart")
            {
                common.push(("faas.coldstart", Value::Bool(cold == "true")));
            }
            if labels.tenant
                && let Some(tenant) = record.text("TenantId")
            {
                common.push(("lambda_lens.tenant_id", Value::Text(clip(tenant))));
            }
        }
        let error_type = (labels.error_type && invocation).then(|| {
            record
                .text("ErrorType")
                .or_else(|| record.text("Status"))
                .map_or_else(|| "error".to_owned(), clip)
        });
        let (mut errors, mut timeouts, mut invocations) = (0.0, 0.0, false);
        let (mut rx, mut tx) = (None, None);
        let mut values: Vec<(&'static str, f64)> = Vec::with_capacity(32);
        record.each_value(&mut |name, value| match name {
            "Invocations" => invocations = value > 0.0,
            "NetworkRxBytes" => rx = Some(value),
            "NetworkTxBytes" => tx = Some(value),
            _ => {
                if name == "Errors" {
                    errors = value;
                }
                if name == "Timeouts" {
                    timeouts = value;
                }
                values.push((name, value));
            }
        });
        if invocations {
            values.push((
                "Successes",
                if errors > 0.0 || timeouts > 0.0 { 0.0 } else { 1.0 },
            ));
        }
        if let (Some(rx), Some(tx)) = (rx, tx) {
            values.push(("NetworkBytes", rx + tx));
        }
        for (name, value) in values {
            let Some(instrument) = INSTRUMENTS.iter().find(|i| i.from == name) else {
                continue;
            };
            if !value.is_finite() {
                self.non_finite += 1;
                continue;
            }
            let mut attributes = match instrument.labelled {
                Labelled::No => Vec::new(),
                Labelled::Invocation => common.clone(),
                Labelled::Error => common.clone(),
            };
            if name == "ColdStarts" {
                // Always true on the cold-start counter: a label billed on each point that
                // says nothing.
                attributes.retain(|(key, _)| *key != "faas.coldstart");
            }
            if instrument.labelled == Labelled::Error
                && value > 0.0
                && let Some(error_type) = &error_type
            {
                attributes.push(("error.type", Value::Text(error_type.clone())));
            }
            self.add(instrument, attributes, value * instrument.scale);
        }
    }

    fn add(
        &mut self,
        instrument: &'static Instrument,
        mut attributes: Vec<(&'static str, Value)>,
        value: f64,
    ) {
        let kind = &instrument.kind;
        let same = |s: &Series, attributes: &[(&'static str, Value)]| {
            std::ptr::eq(s.instrument, instrument) && s.attributes == attributes
        };
        if let Some(s) = self.series.iter_mut().find(|s| same(s, &attributes)) {
            return merge(&mut s.point, value, kind);
        }
        let bytes: usize = attributes.iter().map(|(_, v)| text_len(v)).sum();
        if self.series.len() >= MAX_SERIES || self.label_bytes + bytes > MAX_LABEL_BYTES {
            for (_, v) in attributes.iter_mut() {
                if let Value::Text(t) = v {
                    OTHER.clone_into(t);
                }
            }
            if let Some(s) = self.series.iter_mut().find(|s| same(s, &attributes)) {
                return merge(&mut s.point, value, kind);
            }
        } else {
            self.label_bytes += bytes;
        }
        let mut point = empty(kind);
        merge(&mut point, value, kind);
        self.series.push(Series {
            instrument,
            attributes,
            point,
        });
    }

    /// Adds `other`'s values to this window (cumulative temporality keeps the totals).
    pub(crate) fn absorb(&mut self, other: &Window) {
        for s in &other.series {
            match self
                .series
                .iter_mut()
                .find(|t| std::ptr::eq(t.instrument, s.instrument) && t.attributes == s.attributes)
            {
                Some(t) => combine(&mut t.point, &s.point),
                None => self.series.push(s.clone()),
            }
        }
        self.records += other.records;
        self.first_ms = match (self.first_ms, other.first_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

fn text_len(v: &Value) -> usize {
    match v {
        Value::Text(t) => t.len(),
        Value::Bool(_) => 0,
    }
}

fn clip(text: &str) -> String {
    let mut end = text.len().min(MAX_LABEL_VALUE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_owned()
}

fn empty(kind: &Kind) -> Point {
    match kind {
        Kind::Count | Kind::Total => Point::Sum(0.0),
        Kind::Gauge => Point::Gauge(0.0),
        Kind::Histogram(bounds) => Point::Histogram {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            buckets: vec![0; bounds.len() + 1],
        },
    }
}

fn merge(point: &mut Point, value: f64, kind: &Kind) {
    match (point, kind) {
        (Point::Sum(s), _) => *s += value,
        (Point::Gauge(g), _) => *g = value,
        (
            Point::Histogram {
                count,
                sum,
                min,
                max,
                buckets,
            },
            Kind::Histogram(bounds),
        ) => {
            *count += 1;
            *sum += value;
            *min = min.min(value);
            *max = max.max(value);
            // A bucket holds values up to and including its upper bound (OTLP's rule).
            let i = bounds.iter().position(|b| value <= *b).unwrap_or(bounds.len());
            if let Some(b) = buckets.get_mut(i) {
                *b += 1;
            }
        }
        (Point::Histogram { .. }, _) => {}
    }
}

fn combine(into: &mut Point, from: &Point) {
    match (into, from) {
        (Point::Sum(a), Point::Sum(b)) => *a += b,
        (Point::Gauge(a), Point::Gauge(b)) => *a = *b,
        (
            Point::Histogram {
                count,
                sum,
                min,
                max,
                buckets,
            },
            Point::Histogram {
                count: c2,
                sum: s2,
                min: n2,
                max: x2,
                buckets: b2,
            },
        ) => {
            *count += c2;
            *sum += s2;
            *min = min.min(*n2);
            *max = max.max(*x2);
            for (a, b) in buckets.iter_mut().zip(b2) {
                *a += b;
            }
        }
        _ => {}
    }
}
