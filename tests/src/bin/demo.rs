//! `lambda-lens-demo`: runs the demo scenario (see `lambda_sandbox::demo`) and prints what the
//! extension reported per invocation. Writes every EMF line to `OUT/emf.jsonl`.
//!
//! usage: lambda-lens-demo --bootstrap PATH --layer DIR [--out DIR] [--echo]

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line front end: the table and its errors are its output"
)]

use std::path::PathBuf;
use std::process::ExitCode;

use lambda_sandbox::demo::{self, DemoConfig};

fn usage() -> ExitCode {
    eprintln!("usage: lambda-lens-demo --bootstrap PATH --layer DIR [--out DIR] [--echo]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut bootstrap = None;
    let mut layer = None;
    let mut out = PathBuf::from("target/demo");
    let mut echo = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bootstrap" => bootstrap = args.next().map(PathBuf::from),
            "--layer" => layer = args.next().map(PathBuf::from),
            "--out" => match args.next() {
                Some(dir) => out = PathBuf::from(dir),
                None => return usage(),
            },
            "--echo" => echo = true,
            _ => return usage(),
        }
    }
    let (Some(bootstrap), Some(layer)) = (bootstrap, layer) else {
        return usage();
    };
    let mut config = DemoConfig::new(bootstrap, layer);
    config.echo_output = echo;

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("lambda-lens-demo: could not start tokio: {err}");
            return ExitCode::FAILURE;
        }
    };
    let steps = demo::scenario();
    println!(
        "Running the sample function with the lambda-lens layer in the local sandbox: {} invocations, then shutdown.\n",
        steps.len()
    );
    let report = match runtime.block_on(demo::run(&config, &steps)) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("lambda-lens-demo: the sandbox failed: {err}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", demo::render(&report));

    let emf_path = out.join("emf.jsonl");
    let mut text = report.emf_lines.join("\n");
    text.push('\n');
    if let Err(err) = std::fs::create_dir_all(&out).and_then(|()| std::fs::write(&emf_path, text)) {
        eprintln!("lambda-lens-demo: could not write {}: {err}", emf_path.display());
        return ExitCode::FAILURE;
    }
    println!("Every EMF line the extension printed: {}", emf_path.display());

    let missing = report.steps.iter().filter(|s| s.reported.is_empty()).count();
    for (line, problems) in &report.invalid {
        eprintln!("invalid EMF: {problems:?}\n  {line}");
    }
    if missing > 0 || !report.invalid.is_empty() || !report.stray_stdout.is_empty() {
        eprintln!(
            "lambda-lens-demo: {missing} invocations not reported, {} invalid EMF lines, {} stray stdout lines",
            report.invalid.len(),
            report.stray_stdout.len()
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
