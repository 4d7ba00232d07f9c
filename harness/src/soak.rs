//! A soak of lambda-lens in the sandbox: many invocations with faults mixed in at random
//! (function errors, timeouts, out-of-memory kills, crashes and panics, duplicated telemetry
//! batches, dropped telemetry, and the freezes between invocations), then the checks: every
//! invocation in the metrics exactly once, every EMF line valid, the extension's memory under a
//! bound.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::demo::{self, DemoConfig, DemoReport, Step};
use lambda_sandbox::SandboxError;
use lambda_sandbox::ids::Seeded;

/// The extension's peak resident memory may not exceed this (`ExtensionMemory`, MiB).
pub const MEMORY_BOUND_MIB: f64 = 16.0;

/// The kinds of invocation a soak mixes, with their weights (out of 100).
const MIX: &[(&str, u64)] = &[
    ("ok", 56),
    ("cpu", 6),
    ("logs", 10),
    ("error", 10),
    ("timeout", 4),
    ("out of memory", 4),
    ("exit", 3),
    ("panic", 3),
    ("large response", 4),
];

fn payload(kind: &str, rng: &mut Seeded) -> Value {
    match kind {
        "cpu" => json!({"cpu_ms": 1 + rng.below(5)}),
        "logs" => json!({"log_lines": 1 + rng.below(5), "response_bytes": 256}),
        "error" => json!({"fail": "soak"}),
        "timeout" => json!({"timeout": true}),
        "out of memory" => json!({"allocate_mb": 200}),
        "exit" => json!({"exit": 3}),
        "panic" => json!({"panic": "soak"}),
        "large response" => json!({"response_bytes": 65_536}),
        _ => json!({"sleep_ms": rng.below(3)}),
    }
}

/// `invocations` steps drawn from the mix.
pub fn steps(invocations: usize, rng: &mut Seeded) -> Vec<Step> {
    let total: u64 = MIX.iter().map(|(_, w)| w).sum();
    (0..invocations)
        .map(|_| {
            let mut pick = rng.below(total);
            let kind = MIX
                .iter()
                .find(|(_, w)| {
                    let hit = pick < *w;
                    pick = pick.saturating_sub(*w);
                    hit
                })
                .map_or("ok", |(k, _)| *k);
            Step {
                label: kind,
                payload: payload(kind, rng),
            }
        })
        .collect()
}

/// What a soak did and found.
#[derive(Debug)]
pub struct Soak {
    pub invocations: usize,
    pub faults: BTreeMap<&'static str, usize>,
    pub resets: usize,
    pub emf_lines: usize,
    pub took: Duration,
    /// The highest `ExtensionMemory` any extension process reported, MiB.
    pub peak_memory_mib: Option<f64>,
    /// Every broken promise, described; empty when the soak passed.
    pub problems: Vec<String>,
}

/// One invocation as the checks see it: its request id, its kind, and how many documents
/// carried its request id.
#[derive(Debug, Clone)]
pub struct Seen<'a> {
    pub request_id: &'a str,
    pub kind: &'a str,
    pub documents: usize,
}

/// Checks a soak's report.
pub fn check(report: &DemoReport) -> (Vec<String>, Option<f64>) {
    let mut problems = Vec::new();
    for (line, found) in &report.invalid {
        problems.push(format!(
            "invalid EMF ({found:?}): {}",
            line.chars().take(300).collect::<String>()
        ));
    }
    for line in &report.stray_stdout {
        problems.push(format!(
            "not EMF on stdout: {}",
            line.chars().take(300).collect::<String>()
        ));
    }
    let seen: Vec<Seen<'_>> = report
        .steps
        .iter()
        .map(|s| Seen {
            request_id: &s.outcome.request_id,
            kind: s.label,
            documents: s.reported.len(),
        })
        .collect();
    let (more, peak) = check_invocations(&seen, &report.documents());
    problems.extend(more);
    (problems, peak)
}

/// The checks on the invocations: each in exactly one document, `Invocations` summing to their
/// number, and the extension's reported memory under the bound.
pub fn check_invocations(seen: &[Seen<'_>], docs: &[Map<String, Value>]) -> (Vec<String>, Option<f64>) {
    let mut problems = Vec::new();
    for s in seen {
        if s.documents != 1 {
            problems.push(format!(
                "{} ({}): {} documents",
                s.request_id, s.kind, s.documents
            ));
        }
    }
    let counted: f64 = docs.iter().filter_map(|d| demo::metric(d, "Invocations")).sum();
    if counted != seen.len() as f64 {
        problems.push(format!("Invocations sum to {counted}, {} were run", seen.len()));
    }
    let peak = docs
        .iter()
        .filter_map(|d| demo::metric(d, "ExtensionMemory"))
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    if let Some(peak) = peak.filter(|p| *p > MEMORY_BOUND_MIB) {
        problems.push(format!(
            "the extension's memory reached {peak:.2} MiB (bound {MEMORY_BOUND_MIB} MiB)"
        ));
    }
    (problems, peak)
}

/// Runs a soak of `invocations` invocations from `seed`.
pub async fn soak(
    bootstrap: &Path,
    layer: &Path,
    invocations: usize,
    seed: u64,
) -> Result<Soak, SandboxError> {
    let mut rng = Seeded::new(seed);
    let steps = steps(invocations, &mut rng);
    let mut config = DemoConfig::new(bootstrap, layer);
    config.timeout = Duration::from_millis(300);
    config.env = vec![
        ("LAMBDA_LENS_METRICS".to_owned(), "all".to_owned()),
        ("LAMBDA_LENS_OUTPUT".to_owned(), "per-invocation".to_owned()),
    ];
    // Lambda delivering a batch twice, and dropping records when a subscriber falls behind.
    config.duplicate_every = Some(7);
    config.telemetry_queue_limit = Some(400);
    let started = Instant::now();
    let report = demo::run(&config, &steps).await?;
    let took = started.elapsed();
    let mut faults = BTreeMap::new();
    for step in &steps {
        *faults.entry(step.label).or_insert(0) += 1;
    }
    let (problems, peak_memory_mib) = check(&report);
    Ok(Soak {
        invocations,
        faults,
        resets: report.steps.iter().filter(|s| s.outcome.reset.is_some()).count(),
        emf_lines: report.emf_lines.len(),
        took,
        peak_memory_mib,
        problems,
    })
}
