//! Shared helpers: temp folders with the Python fixtures laid out as a function and a layer.
#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test loudly"
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use lambda_sandbox::{Config, TelemetryRecord};
use serde_json::Value;

pub(crate) const RUNTIME: &str = include_str!("../fixtures/runtime.py");
pub(crate) const EXTENSION: &str = include_str!("../fixtures/extension.py");

/// A function folder (`bootstrap`), a layer (`layer/extensions/*`) and an output folder.
pub(crate) struct Fixture {
    pub dir: PathBuf,
}

fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

impl Fixture {
    pub(crate) fn new(extensions: &[&str]) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "lambda-sandbox-test-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("function")).unwrap();
        std::fs::create_dir_all(dir.join("layer/extensions")).unwrap();
        std::fs::create_dir_all(dir.join("out")).unwrap();
        write_exec(&dir.join("function/bootstrap"), RUNTIME);
        for name in extensions {
            write_exec(&dir.join("layer/extensions").join(name), EXTENSION);
        }
        Self { dir }
    }

    pub(crate) fn config(&self) -> Config {
        let mut c = Config::new(self.dir.join("function/bootstrap"));
        c.layer_dir = Some(self.dir.join("layer"));
        c.env
            .push(("EXT_OUT_DIR".into(), self.dir.join("out").display().to_string()));
        c.echo_output = std::env::var_os("SANDBOX_ECHO").is_some();
        // The suites' timings are sized for a whole core; `sandbox/tests/environment.rs` checks
        // Lambda's CPU share itself.
        c.cpu_limit = false;
        c
    }

    /// Everything an extension logged, in order.
    pub(crate) fn ext_log(&self, name: &str) -> Vec<Value> {
        let text =
            std::fs::read_to_string(self.dir.join("out").join(format!("{name}.jsonl"))).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// Entries of one kind.
    pub(crate) fn ext_entries(&self, name: &str, kind: &str) -> Vec<Value> {
        self.ext_log(name)
            .into_iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["data"].clone())
            .collect()
    }

    /// Every telemetry record an extension received, in order.
    pub(crate) fn received(&self, name: &str) -> Vec<Value> {
        self.ext_entries(name, "telemetry")
            .into_iter()
            .flat_map(|b| b["records"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn kinds(records: &[TelemetryRecord]) -> Vec<String> {
    records.iter().map(|r| r.kind.clone()).collect()
}

pub(crate) fn of_kind<'a>(records: &'a [TelemetryRecord], kind: &str) -> Vec<&'a TelemetryRecord> {
    records.iter().filter(|r| r.kind == kind).collect()
}

pub(crate) fn position(records: &[TelemetryRecord], kind: &str) -> usize {
    records
        .iter()
        .position(|r| r.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} in {:?}", kinds(records)))
}

pub(crate) const SECOND: Duration = Duration::from_secs(1);
