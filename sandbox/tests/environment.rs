//! The environment as Lambda builds it: with cgroups (root here and in CI) the memory size is
//! the kernel's limit and the environment's peak (the extensions' memory included) is what the
//! report says, the freeze is the cgroup freezer, and the CPU is Lambda's share of a core for
//! the memory size; without them (forced here) the `/proc` and SIGSTOP fallback runs and says
//! so.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "integration tests fail loudly"
)]

mod common;

use common::Fixture;
use lambda_sandbox::{Sandbox, ShutdownReason, Source, Status};
use serde_json::json;

fn cgroups() -> bool {
    let available = lambda_sandbox::cgroups_available();
    // CI runs as root with cgroup controllers: there the cgroup path must be the one tested.
    if std::env::var_os("CI").is_some() {
        assert!(
            available,
            "CI runs as root with cgroups: the cgroup path must be available"
        );
    }
    available
}

#[tokio::test]
async fn memory_is_the_whole_environments_and_the_freeze_is_a_cgroup_freeze() {
    if !cgroups() {
        // Without privileges the fallback test below covers the sandbox; say so loudly.
        eprintln!("no cgroup here: the cgroup path is not tested on this machine");
        return;
    }
    let fx = Fixture::new(&["ext-a"]);
    let mut config = fx.config();
    config.memory_mb = 256;
    config.env.push(("EXT_ALLOC_MB".into(), "40".into()));
    let mut sb = Sandbox::start(config).await.unwrap();
    let iso = sb.isolation().clone();
    assert!(iso.memory.starts_with("cgroup"), "{iso:?}");
    assert!(iso.freezer.starts_with("cgroup"), "{iso:?}");
    assert_eq!(iso.fallback_reason, None);

    // Between invocations the environment is frozen by the cgroup freezer, not by SIGSTOP.
    assert!(sb.is_frozen());
    let out = sb.invoke(json!({"alloc_mb": 64})).await.unwrap();
    assert_eq!(out.status, Status::Success);
    // The runtime's 64 MB, the extension's 40 MB and both interpreters: one peak, as Lambda
    // measures the environment.
    assert!(
        out.max_memory_used_mb >= 64 + 40 && out.max_memory_used_mb < 256,
        "{}",
        out.max_memory_used_mb
    );
    assert!(sb.is_frozen());
    // The next invocation's peak starts again from what is resident.
    let quiet = sb.invoke(json!({})).await.unwrap();
    assert!(
        quiet.max_memory_used_mb < out.max_memory_used_mb,
        "{} then {}",
        out.max_memory_used_mb,
        quiet.max_memory_used_mb
    );
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
}

#[tokio::test]
async fn without_cgroups_the_proc_fallback_runs_and_says_so() {
    let fx = Fixture::new(&["ext-a"]);
    let mut config = fx.config();
    config.memory_mb = 256;
    config.cgroups = false;
    config.env.push(("EXT_ALLOC_MB".into(), "40".into()));
    let mut sb = Sandbox::start(config).await.unwrap();
    let iso = sb.isolation().clone();
    assert_eq!((iso.memory, iso.freezer), ("/proc", "SIGSTOP"));
    assert!(iso.fallback_reason.is_some());
    assert!(iso.describe().contains("no cgroup"), "{}", iso.describe());
    assert!(sb.is_frozen(), "SIGSTOP freeze");
    let out = sb.invoke(json!({"alloc_mb": 64})).await.unwrap();
    assert_eq!(out.status, Status::Success);
    assert!(
        out.max_memory_used_mb >= 64 + 40 && out.max_memory_used_mb < 256,
        "{}",
        out.max_memory_used_mb
    );
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(
        sb.output_of(&Source::Function)
            .iter()
            .any(|l| l.text.starts_with("invoked "))
    );
}

#[tokio::test]
async fn the_cpu_is_lambdas_share_for_the_memory_size() {
    if !cgroups() {
        eprintln!("no cgroup here: the CPU cap is not tested on this machine");
        return;
    }
    let fx = Fixture::new(&[]);
    let mut config = fx.config();
    config.cpu_limit = true;
    config.timeout = std::time::Duration::from_secs(10);
    let mut sb = Sandbox::start(config).await.unwrap();
    let share = sb.isolation().cpu_share.unwrap();
    // 128 MB of 1,769 MB per vCPU: about 7 % of a core.
    assert!((share - 128.0 / 1769.0).abs() < 1e-9, "{share}");
    // 40 ms of CPU at 7 % of a core takes over half a second in theory, and at least a third
    // of one in practice: the kernel throttles at its scheduler tick, so each 100 ms period may
    // run a few milliseconds over the quota, and an environment whose quota was not depleted
    // before the invoke (as after the init's whole vCPU) finishes well before the theory.
    let out = sb.invoke(json!({"cpu_ms": 40})).await.unwrap();
    assert_eq!(out.status, Status::Success);
    let floor = 40.0 / share * 0.6;
    assert!(out.duration_ms >= floor, "{} ms < {floor} ms", out.duration_ms);
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
}
