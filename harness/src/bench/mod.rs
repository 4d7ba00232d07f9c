//! `make bench`: lambda-lens and its peers side by side in the sandbox, judged against the
//! bench's targets.
//!
//! Every subject (lambda-lens's layer and each peer's) lives the same scripted life
//! (`life.rs`), in interleaved rounds: each round makes one flood and runs every subject once,
//! in an order that rotates from round to round, so that a slow spell of this shared machine
//! falls on all of them alike. [`report`] turns the lives into the Markdown that `make bench`
//! writes into `BENCHMARKS.md`.

mod flood;
mod life;
mod otlp;
mod records;
pub mod report;
mod stats;
pub mod summary;
pub mod targets;

use std::path::PathBuf;

pub use life::Life;
pub use records::{Output, Records};

use lambda_sandbox::SandboxError;
use lambda_sandbox::ids::Seeded;

/// The no-op peer's name: the reference of most targets.
pub const FLOOR: &str = "floor";
/// The telemetry floor's name: the floor subscribed to telemetry, reading each batch and
/// answering 200; the reference of the whole-process CPU target.
pub const TELEMETRY_FLOOR: &str = "telemetry floor";
/// The `lambda-extension` crate's telemetry-processor pattern's name.
pub const CRATE_PATTERN: &str = "crate pattern";

/// One extension measured: a layer folder with one executable in `extensions/`.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The column's name.
    pub name: String,
    /// The layer folder (`extensions/<extension>` inside).
    pub layer: PathBuf,
    /// The executable's file name, which is also the name it registers with.
    pub extension: String,
    /// Variables given to the extension (and the function) on top of Lambda's.
    pub env: Vec<(String, String)>,
    /// How its records are counted.
    pub output: Output,
    /// How it was configured, for the report.
    pub note: String,
}

/// What every life does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The function's `bootstrap` (the sample function).
    pub bootstrap: PathBuf,
    /// Rounds; each runs every subject once.
    pub rounds: usize,
    /// Dense invocations per life (the first is the cold start).
    pub invocations: usize,
    /// ~1 MiB batches per flood.
    pub flood_batches: usize,
    /// Extra starts per life that only time readiness.
    pub ready_samples: usize,
    /// Dense invocations per life in a second environment capped at Lambda's CPU share for
    /// 128 MB (0: none).
    pub capped_invocations: usize,
}

/// Why the bench stopped.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("no running child process is {}: did the extension start?", .0.display())]
    NoProcess(PathBuf),
    #[error("the bench's OTLP collector could not listen: {0}")]
    Sink(std::io::Error),
}

/// Every life of every subject, in the subjects' order.
#[derive(Debug)]
pub struct Results {
    pub plan: Plan,
    pub subjects: Vec<Subject>,
    pub lives: Vec<Vec<Life>>,
    /// Invocations in one flood batch (the batches differ by a few).
    pub invocations_per_batch: f64,
}

/// Runs `plan.rounds` interleaved rounds of every subject; `progress` hears each life start.
pub async fn run(
    plan: Plan,
    subjects: Vec<Subject>,
    mut progress: impl FnMut(usize, &str),
) -> Result<Results, BenchError> {
    let mut rng = Seeded::new(0x9e37_79b9_7f4a_7c15);
    let needs_sink = subjects.iter().any(|s| s.output == Output::Otlp);
    let sink = if needs_sink {
        Some(otlp::Sink::start().await.map_err(BenchError::Sink)?)
    } else {
        None
    };
    let mut lives: Vec<Vec<Life>> = subjects.iter().map(|_| Vec::new()).collect();
    let mut per_batch = Vec::new();
    for round in 0..plan.rounds {
        let batches = flood::batches(plan.flood_batches, &mut rng);
        per_batch.extend(batches.iter().map(|b| b.invocations as f64));
        for k in 0..subjects.len() {
            let i = (k + round) % subjects.len();
            let (Some(subject), Some(out)) = (subjects.get(i), lives.get_mut(i)) else {
                continue;
            };
            progress(round, &subject.name);
            let sink = sink.as_ref().filter(|_| subject.output == Output::Otlp);
            out.push(life::live(&plan, subject, &batches, sink).await?);
        }
    }
    let invocations_per_batch = stats::median(&per_batch).unwrap_or(0.0);
    Ok(Results {
        plan,
        subjects,
        lives,
        invocations_per_batch,
    })
}
