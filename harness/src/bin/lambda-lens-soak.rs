//! `lambda-lens-soak`: many invocations of the sample function with lambda-lens in the sandbox,
//! faults mixed in at random, then the checks (see `lambda_lens_harness::soak`). Exits 1 when any
//! check fails.
#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool")]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lambda_lens_harness::soak::{self, MEMORY_BOUND_MIB};

/// Many invocations with faults mixed in at random, then the checks.
#[derive(Debug, Parser)]
#[command(name = "lambda-lens-soak")]
struct Args {
    /// The sample function's bootstrap.
    #[arg(long, value_name = "PATH")]
    bootstrap: PathBuf,
    /// The layer folder (extensions/lambda-lens).
    #[arg(long, value_name = "DIR")]
    layer: PathBuf,
    /// Invocations in all.
    #[arg(long, value_name = "N", default_value_t = 3_000)]
    invocations: usize,
    /// Seed of the fault mix (the same seed gives the same mix).
    #[arg(long, value_name = "N", default_value_t = 0x50a_c0ffee)]
    seed: u64,
}

fn main() -> ExitCode {
    let Args {
        bootstrap,
        layer,
        invocations,
        seed,
    } = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("lambda-lens-soak: could not start tokio: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(soak::soak(&bootstrap, &layer, invocations, seed)) {
        Ok(s) => {
            let faults: Vec<String> = s.faults.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!(
                "soak (seed {seed}): {} invocations in {:.1} s; mix: {}; environment resets {}; duplicated batches every 7th; {} EMF lines; extension peak memory {} (bound {MEMORY_BOUND_MIB} MiB)",
                s.invocations,
                s.took.as_secs_f64(),
                faults.join(", "),
                s.resets,
                s.emf_lines,
                s.peak_memory_mib
                    .map_or("-".to_owned(), |m| format!("{m:.2} MiB")),
            );
            for problem in s.problems.iter().take(20) {
                println!("  problem: {problem}");
            }
            if s.problems.is_empty() {
                println!(
                    "every invocation reported exactly once, every EMF line valid, memory within the bound"
                );
                ExitCode::SUCCESS
            } else {
                println!("{} problems", s.problems.len());
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("lambda-lens-soak: {err}");
            ExitCode::FAILURE
        }
    }
}
