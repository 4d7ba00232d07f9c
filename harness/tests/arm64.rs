//! The arm64 layer (`make layers` cross-builds it), run once in the sandbox under qemu-user
//! (`make test` installs Debian's qemu-user): it registers, subscribes and reports every
//! invocation, as the x86_64 layer does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use lambda_lens_harness::demo::{self, DemoConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the arm64 layer (make layers) and qemu-user: make test runs it"]
async fn the_arm64_layer_reports_every_invocation_under_qemu() {
    let binary = lambda_lens_harness::built::arm64_layer().join("extensions/lambda-lens");
    let qemu = ["/usr/bin/qemu-aarch64", "/usr/local/bin/qemu-aarch64"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .expect("qemu-aarch64 is installed (make test installs Debian's qemu-user)");
    // A layer whose extension runs the arm64 binary under qemu, named as Lambda would find it.
    // The binary is copied into the layer and found beside the wrapper: the demo gives the
    // environment a private /tmp, and only the function's and the layer's folders stay
    // visible in it (a checkout under /tmp would hide target/layers/arm64).
    let layer = std::env::temp_dir().join(format!("lambda-lens-arm64-{}", std::process::id()));
    std::fs::create_dir_all(layer.join("extensions")).unwrap();
    std::fs::create_dir_all(layer.join("arm64")).unwrap();
    std::fs::copy(&binary, layer.join("arm64/lambda-lens")).unwrap();
    let wrapper = layer.join("extensions/lambda-lens");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {qemu} -0 lambda-lens \"$(dirname \"$0\")/../arm64/lambda-lens\" \"$@\"\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

    let (bootstrap, _) = lambda_lens_harness::built::paths();
    let mut config = DemoConfig::new(bootstrap, &layer);
    config.env = vec![("LAMBDA_LENS_OUTPUT".into(), "per-invocation".into())];
    let report = demo::run(&config, &demo::volume_scenario(3))
        .await
        .expect("sandbox run");
    std::fs::remove_dir_all(&layer).unwrap();
    assert!(report.invalid.is_empty(), "{:?}", report.invalid);
    for step in &report.steps {
        assert_eq!(step.reported.len(), 1, "{:?}", report.emf_lines);
        let doc = &step.reported[0];
        assert_eq!(
            doc["Architecture"], "arm64",
            "the arm64 build names its architecture"
        );
    }
}
