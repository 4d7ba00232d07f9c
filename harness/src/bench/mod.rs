//! `make bench`: lambda-lens and its peers side by side in the sandbox, judged against the
//! bench's targets.
//!
//! Every subject (lambda-lens's layer and each peer's) lives the same scripted life
//! (`life.rs`), in interleaved rounds: each round makes one flood and runs every subject once,
//! in the order of [`order`] (each subject in every place and after every other subject alike),
//! so that a slow spell of this shared machine falls on all of them alike. [`report`] turns the lives into the Markdown that `make bench`
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
        for i in order(round, subjects.len()) {
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

/// The subjects' order in round `round` of `n` subjects: a row of a Williams design. Over `n`
/// rounds (`2n` when `n` is odd, the rows mirrored in the second half) every subject takes
/// every place equally often and follows every other subject equally often. A plain rotation
/// balanced the places but gave each subject the same subject before it in every round, and
/// what one life leaves behind (a process exiting, a flood's memory being reclaimed) fell on
/// the next: an identical build judged after another one differed from it, run after run.
pub fn order(round: usize, n: usize) -> Vec<usize> {
    let first = (0..n).map(|j| match j {
        0 => 0,
        j if j % 2 == 1 => j.div_ceil(2),
        j => n - j / 2,
    });
    let mut row: Vec<usize> = first.map(|s| (s + round) % n).collect();
    if n % 2 == 1 && (round / n) % 2 == 1 {
        row.reverse();
    }
    row
}

#[cfg(test)]
mod tests {
    use super::order;

    #[test]
    fn every_subject_takes_every_place_and_follows_every_other_alike() {
        for n in 1..=8 {
            let rounds = if n % 2 == 0 { n } else { 2 * n };
            let mut places = vec![vec![0; n]; n];
            let mut follows = vec![vec![0; n]; n];
            for round in 0..rounds {
                let row = order(round, n);
                let mut sorted = row.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "n {n} round {round}: {row:?}");
                for (place, &s) in row.iter().enumerate() {
                    places[s][place] += 1;
                }
                for pair in row.windows(2) {
                    follows[pair[1]][pair[0]] += 1;
                }
            }
            let each = rounds / n;
            for s in 0..n {
                assert!(places[s].iter().all(|&c| c == each), "n {n}: places {places:?}");
                for before in (0..n).filter(|&b| b != s) {
                    assert_eq!(
                        follows[s][before],
                        rounds / n,
                        "n {n}: {s} after {before}: {follows:?}"
                    );
                }
            }
        }
    }
}
