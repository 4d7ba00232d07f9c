//! Golden tests: a fixed telemetry sequence through the whole pipeline (decoding, join, metrics,
//! EMF) in every output mode, compared as JSON values with `tests/fixtures/emf/*.json`.
//! `UPDATE_GOLDEN=1 cargo test --test golden` rewrites the files (review the diff).
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

use std::collections::HashMap;
use std::path::PathBuf;

/// When the test batches arrive: 2026-11-25T10:00:00Z, the time of their records.
const ARRIVED: i64 = 1_795_600_800_000;

use lambda_lens::{ARCHITECTURE, Batch, Config, MemorySink, Pipeline};
use serde_json::Value;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/emf")
        .join(name)
}

/// A captured record, from the decoder's fixtures.
fn record(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../telemetry/tests/fixtures")
        .join(format!("{name}.json"));
    std::fs::read_to_string(path).unwrap()
}

/// Two invocations: a cold start with its init events, and a warm one whose report comes late.
fn batches() -> Vec<String> {
    let second = |s: String| {
        s.replace(
            "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa",
            "0f9c2b7e-1d2a-4c59-9b3e-5a6b7c8d9e0f",
        )
        .replace("2026-11-25T10:00:00.1", "2026-11-25T10:00:01.1")
        .replace("\"initDurationMs\":125.4", "\"initDurationMs\":null")
    };
    let first = [
        "platform.initStart",
        "platform.telemetrySubscription",
        "platform.extension",
        "platform.initRuntimeDone",
        "platform.initReport",
        "platform.start",
        "platform.runtimeDone",
        "platform.report",
    ]
    .map(record)
    .join(",");
    let warm = [
        second(record("platform.start")),
        second(record("platform.runtimeDone")),
    ]
    .join(",");
    vec![
        format!("[{first},{warm}]"),
        format!("[{}]", second(record("platform.report"))),
    ]
}

fn config(extra: &[(&str, &str)]) -> Config {
    let mut env: HashMap<String, String> = [
        ("AWS_LAMBDA_FUNCTION_NAME", "checkout"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "7"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_REGION", "eu-west-1"),
        ("LAMBDA_LENS_DIMENSIONS", "FunctionName;FunctionName,ColdStart"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let (config, warnings) = Config::from_lookup(&move |name| env.get(name).cloned());
    assert!(warnings.is_empty(), "{warnings:?}");
    config
}

fn run(config: &Config) -> Vec<Value> {
    let mut pipeline = Pipeline::from_config(config, MemorySink::default());
    for (i, body) in batches().iter().enumerate() {
        pipeline.on_batch(Batch::decode(body.as_bytes(), ARRIVED), i as u64);
    }
    pipeline.finish("spindown", 1_795_600_900_000, 10);
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(pipeline.flush()).unwrap();
    let docs = pipeline.sink().documents();
    docs.iter()
        .map(|d| {
            let mut doc: Value = serde_json::from_str(d).unwrap();
            // The goldens hold for a build of any architecture.
            if doc.get("Architecture").and_then(Value::as_str) == Some(ARCHITECTURE) {
                doc["Architecture"] = Value::from("(the build's)");
            }
            doc
        })
        .collect()
}

fn check(name: &str, docs: Vec<Value>) {
    let path = golden(name);
    let actual = Value::Array(docs);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
    }
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        actual,
        expected,
        "{} differs:\n{}",
        path.display(),
        serde_json::to_string_pretty(&actual).unwrap()
    );
}

#[test]
fn per_invocation_output() {
    check(
        "per-invocation.json",
        run(&config(&[("LAMBDA_LENS_OUTPUT", "per-invocation")])),
    );
}

/// The default: the cold start in a document of its own, the warm invocation kept as one of
/// the window's slowest (so also in a document of its own, written at shutdown).
#[test]
fn adaptive_output() {
    check("adaptive.json", run(&config(&[])));
}

/// Adaptive with no slowest kept: the warm invocation goes into an aggregate, without its id.
#[test]
fn adaptive_output_keeping_no_slowest() {
    check(
        "adaptive-aggregated.json",
        run(&config(&[("LAMBDA_LENS_KEEP_SLOWEST", "0")])),
    );
}

#[test]
fn batched_output() {
    check("batched.json", run(&config(&[("LAMBDA_LENS_OUTPUT", "batched")])));
}

#[test]
fn batched_compact_output_with_every_metric() {
    let config = config(&[
        ("LAMBDA_LENS_OUTPUT", "batched"),
        ("LAMBDA_LENS_COMPACT_VALUES", "true"),
        ("LAMBDA_LENS_METRICS", "core,detail,cost"),
    ]);
    check("batched-compact.json", run(&config));
}

/// Under Lambda's JSON log format at WARN: the default output's documents, each with
/// `"level":"WARN"` so that Lambda's level filter keeps it, and nothing else changed.
#[test]
fn adaptive_output_under_the_json_log_format_carries_the_level() {
    let docs = run(&config(&[
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
    ]));
    let without: Vec<Value> = docs
        .into_iter()
        .map(|mut doc| {
            let level = doc.as_object_mut().and_then(|o| o.remove("level"));
            assert_eq!(level, Some(Value::from("WARN")), "{doc}");
            doc
        })
        .collect();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(golden("adaptive.json")).unwrap()).unwrap();
    assert_eq!(Value::Array(without), expected);
}
