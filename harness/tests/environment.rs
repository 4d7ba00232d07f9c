//! The sandbox's environment seen from lambda-lens: its listener on `sandbox.localdomain`, a
//! private `/tmp`, and the network counters of a private network, each read from the EMF the
//! built layer wrote.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "integration tests fail loudly"
)]

use lambda_sandbox::{Sandbox, ShutdownReason, Source, Status};
use serde_json::json;

/// Root with cgroups, where a private mount namespace can be made too (CI has them: the
/// sandbox's own environment suite fails there without them, so these never pass by skipping).
fn cgroups() -> bool {
    lambda_sandbox::cgroups_available()
}

/// The built layer and sample function in a sandbox with `edit` applied to its configuration.
async fn lens_sandbox(edit: impl FnOnce(&mut lambda_sandbox::Config)) -> Sandbox {
    let (bootstrap, layer) = lambda_lens_harness::built::paths();
    let mut config = lambda_sandbox::Config::new(bootstrap);
    config.layer_dir = Some(layer);
    config.cpu_limit = false;
    config.env = vec![("LAMBDA_LENS_OUTPUT".into(), "per-invocation".into())];
    edit(&mut config);
    Sandbox::start(config).await.unwrap()
}

fn lens_lines(sb: &Sandbox) -> Vec<String> {
    sb.output_of(&Source::Extension("lambda-lens".into()))
        .into_iter()
        .map(|l| l.text)
        .collect()
}

#[tokio::test]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn sandbox_localdomain_resolves_inside_the_environment_and_lambda_lens_binds_it() {
    let private = cgroups(); // root: the private mount namespace can be made too
    let mut sb = lens_sandbox(|_| {}).await;
    sb.invoke(json!({})).await.unwrap();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let lines = lens_lines(&sb).join("\n");
    if private {
        assert_eq!(
            sb.isolation().mounts,
            Ok("/etc/hosts".to_owned()),
            "{:?}",
            sb.isolation()
        );
        // lambda-lens read sandbox.localdomain from /etc/hosts, bound its listener there and
        // gave that name to the Telemetry API, as on Lambda.
        assert!(
            lines.contains("destination=http://sandbox.localdomain:"),
            "{lines}"
        );
        assert!(!lines.contains("not in /etc/hosts"), "{lines}");
    }
    // Without the namespace (forced), the name is not in the host's /etc/hosts here, and
    // lambda-lens says where it listens instead.
    let mut sb = lens_sandbox(|c| c.private_mounts = false).await;
    sb.invoke(json!({})).await.unwrap();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(sb.isolation().mounts.is_err());
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    if !hosts.contains("sandbox.localdomain") {
        let lines = lens_lines(&sb).join("\n");
        assert!(lines.contains("listening on 127.0.0.1"), "{lines}");
    }
}

#[tokio::test]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn a_private_tmp_is_the_environments_own() {
    if !cgroups() {
        eprintln!("not root: no private /tmp on this machine");
        return;
    }
    // The function and the layer live under the host's /tmp (as a checkout in /tmp, or the
    // staging of `local invoke`, would): they must stay visible inside the private /tmp.
    let (bootstrap, layer) = lambda_lens_harness::built::paths();
    let under_tmp = std::env::temp_dir().join(format!("private-tmp-{}", std::process::id()));
    std::fs::create_dir_all(under_tmp.join("function")).unwrap();
    std::fs::create_dir_all(under_tmp.join("layer/extensions")).unwrap();
    std::fs::copy(&bootstrap, under_tmp.join("function/bootstrap")).unwrap();
    std::fs::copy(
        layer.join("extensions/lambda-lens"),
        under_tmp.join("layer/extensions/lambda-lens"),
    )
    .unwrap();
    let mut sb = lens_sandbox(|c| {
        c.bootstrap = under_tmp.join("function/bootstrap");
        c.layer_dir = Some(under_tmp.join("layer"));
        c.private_tmp_mb = Some(64);
        c.env
            .push(("LAMBDA_LENS_METRICS".into(), "default,TmpUsed".into()));
    })
    .await;
    assert_eq!(
        sb.isolation().mounts,
        Ok("/etc/hosts and /tmp (64 MB tmpfs)".to_owned())
    );
    let out = sb.invoke(json!({"write_tmp_bytes": 3_000_000})).await.unwrap();
    assert_eq!(out.status, Status::Success);
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let response: serde_json::Value = serde_json::from_slice(&out.response).unwrap();
    assert!(response["tmp_file"].as_str().unwrap().starts_with("/tmp/"));
    let doc: serde_json::Value = lens_lines(&sb)
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|d: &serde_json::Value| d["RequestId"] == out.request_id.as_str())
        .unwrap();
    // TmpUsed is the environment's own /tmp: the 3 MB file on its tmpfs, not the usage of the
    // host's disk (tens of GB here).
    let used = doc["TmpUsed"].as_f64().unwrap();
    assert!((3_000_000.0..8_000_000.0).contains(&used), "{used}");
    std::fs::remove_dir_all(&under_tmp).unwrap();
}

/// The document lambda-lens wrote for one invocation.
fn lens_doc(sb: &Sandbox, request_id: &str) -> serde_json::Value {
    lens_lines(sb)
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|d: &serde_json::Value| d["RequestId"] == request_id)
        .unwrap_or_else(|| panic!("no document for {request_id}: {:?}", lens_lines(sb)))
}

#[tokio::test]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn in_a_private_network_the_counters_move_only_for_traffic_that_leaves_the_environment() {
    if !cgroups() {
        eprintln!("not root: no private network on this machine");
        return;
    }
    let mut sb = lens_sandbox(|c| {
        c.private_network = true;
        c.env
            .push(("LAMBDA_LENS_METRICS".into(), "default,resources".into()));
    })
    .await;
    let network = sb.network().expect("a private network (root, iproute2)");
    let (env_ip, iface) = (network.env_ip(), network.host_interface().to_owned());
    let described = sb.isolation().network.clone().unwrap();
    assert!(described.starts_with(&format!("eth0 {env_ip}/30")), "{described}");
    // The APIs listen on the environment's own loopback, as Lambda's 127.0.0.1:9001.
    assert!(sb.api_addr().ip().is_loopback());
    let peer = sb.echo_peer().unwrap();
    assert_eq!(peer.ip(), network.host_ip());

    let out = sb
        // The function waits before it sends, so lambda-lens's sample at INVOKE (taken as the
        // function starts, on Lambda too) comes before the traffic, not after it.
        .invoke(json!({"wait_ms": 300, "network_bytes": 500_000, "network_peer": peer.to_string()}))
        .await
        .unwrap();
    assert_eq!(out.status, Status::Success, "{:?}", out);
    let looped = sb.invoke(json!({"network_bytes": 500_000})).await.unwrap();
    assert_eq!(looped.status, Status::Success);
    let sub = sb.subscriptions().into_iter().next().unwrap();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();

    // Through the peer, 500,000 bytes went out of eth0 and came back in, plus TCP/IP headers
    // (and the ACKs of the other direction: at most a tenth more here).
    let doc = lens_doc(&sb, &out.request_id);
    for name in ["NetworkTxBytes", "NetworkRxBytes"] {
        let bytes = doc[name].as_f64().unwrap_or_else(|| panic!("{name}: {doc}"));
        assert!((500_000.0..600_000.0).contains(&bytes), "{name} {bytes}: {doc}");
    }
    // Over loopback nothing crossed eth0, and nothing else in the environment uses it (IPv6 is
    // off on both ends): the host's own traffic is not counted, as it was without the
    // namespace.
    let doc = lens_doc(&sb, &looped.request_id);
    assert_eq!(doc["NetworkTxBytes"], 0.0, "{doc}");
    assert_eq!(doc["NetworkRxBytes"], 0.0, "{doc}");
    // lambda-lens bound sandbox.localdomain (eth0's address) and the sandbox delivered its
    // telemetry there from inside the environment: the documents above are that telemetry.
    let lines = lens_lines(&sb).join("\n");
    assert!(
        lines.contains("destination=http://sandbox.localdomain:"),
        "{lines}"
    );
    assert!(sub.target.starts_with(&format!("http://{env_ip}:")), "{sub:?}");
    assert!(sb.deliveries().iter().all(|d| d.outcome == Ok(200)));
    // The pair goes with the sandbox (once its aborted tasks have let go of it).
    drop(sb);
    let gone = std::path::Path::new("/sys/class/net").join(&iface);
    for _ in 0..100 {
        if !gone.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!gone.exists(), "{iface} left behind");
}

#[tokio::test]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn a_private_network_without_private_mounts_falls_back_and_says_why() {
    let mut sb = lens_sandbox(|c| {
        c.private_network = true;
        c.private_mounts = false;
        c.env
            .push(("LAMBDA_LENS_METRICS".into(), "default,resources".into()));
    })
    .await;
    assert!(sb.network().is_none() && sb.echo_peer().is_none());
    let why = sb.isolation().network.clone().unwrap_err();
    assert!(why.contains("Config::private_mounts"), "{why}");
    assert!(
        sb.isolation()
            .describe()
            .contains(&format!("the host's network ({why})"))
    );
    let out = sb.invoke(json!({"network_bytes": 1000})).await.unwrap();
    assert_eq!(out.status, Status::Success);
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(lens_doc(&sb, &out.request_id)["NetworkRxBytes"].is_number());
}
