//! Container-image functions, end to end. `make image`'s OCI image layout (`target/image`) is
//! read back by tools that are not ours (skopeo, which checks every digest as it copies; GNU
//! tar; sha256sum) and held to the image-spec: one tagged image index, a linux/amd64 and a
//! linux/arm64 manifest, one gzip layer each holding `/opt/extensions/lambda-lens` (0755,
//! root) byte for byte the layer's binary. Then a function image is built the way a Dockerfile
//! would (`FROM` a base with the sample function's `bootstrap` and an entrypoint script in the
//! style of AWS's base images, `COPY --from=<lambda-lens image> /opt/extensions
//! /opt/extensions`, and a later layer that deletes a decoy extension of the base), and
//! `lambda-sandbox local invoke` runs it: the function answers, and lambda-lens, found in the
//! image's `/opt/extensions`, reports the invocations.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

mod binaries;

use binaries::{emf, scratch};
use lambda_lens_harness::built::workspace;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

/// `make image`'s layout (`LAMBDA_LENS_IMAGE` overrides it).
fn image_layout() -> PathBuf {
    let dir =
        std::env::var_os("LAMBDA_LENS_IMAGE").map_or_else(|| workspace().join("target/image"), PathBuf::from);
    assert!(
        dir.join("index.json").is_file(),
        "{} is missing: run `make image` (or `make test`, which builds it) first",
        dir.display()
    );
    dir
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn blob(layout: &Path, descriptor: &Value) -> PathBuf {
    let digest = descriptor["digest"].as_str().unwrap();
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

/// Checks the blob's size and digest with coreutils' sha256sum; returns its path.
fn checked(layout: &Path, descriptor: &Value) -> PathBuf {
    let path = blob(layout, descriptor);
    let size = std::fs::metadata(&path).unwrap().len();
    assert_eq!(Some(size), descriptor["size"].as_u64(), "{descriptor}");
    let sum = run(Command::new("sha256sum").arg(&path));
    let hex = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        descriptor["digest"],
        format!("sha256:{hex}"),
        "{}",
        path.display()
    );
    path
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The layout's one tag.
fn tag(layout: &Path) -> String {
    let index = read_json(&layout.join("index.json"));
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{index}");
    manifests[0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn oci_image_py() -> PathBuf {
    workspace().join("scripts/oci_image.py")
}

#[test]
#[ignore = "needs make image (and the layers it builds): make test runs it"]
fn make_image_writes_a_two_platform_oci_image_of_the_extension() {
    let layout = image_layout();
    assert_eq!(
        read_json(&layout.join("oci-layout")),
        json!({"imageLayoutVersion": "1.0.0"})
    );
    // Tagged with the workspace's version (every member's version is the workspace's).
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(tag(&layout), version);
    let top = &read_json(&layout.join("index.json"))["manifests"][0];
    assert_eq!(top["mediaType"], "application/vnd.oci.image.index.v1+json");
    let index = read_json(&checked(&layout, top));
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    let manifests = index["manifests"].as_array().unwrap();
    let platforms: Vec<String> = manifests
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    let binaries = [
        ("amd64", lambda_lens_harness::built::extension()),
        (
            "arm64",
            lambda_lens_harness::built::arm64_layer().join("extensions/lambda-lens"),
        ),
    ];
    for (descriptor, (architecture, binary)) in manifests.iter().zip(&binaries) {
        assert_eq!(
            descriptor["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        let manifest = read_json(&checked(&layout, descriptor));
        assert_eq!(manifest["schemaVersion"], 2);
        assert_eq!(
            manifest["config"]["mediaType"],
            "application/vnd.oci.image.config.v1+json"
        );
        let config = read_json(&checked(&layout, &manifest["config"]));
        assert_eq!(config["architecture"], *architecture);
        assert_eq!(config["os"], "linux");
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 1, "FROM scratch: one layer");
        assert_eq!(
            layers[0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let layer = checked(&layout, &layers[0]);
        // The diff id is the digest of the uncompressed tar.
        let tar_bytes = run(Command::new("gzip").arg("-dc").arg(&layer)).stdout;
        let tar_path = scratch(&format!("image-tar-{architecture}")).join("layer.tar");
        std::fs::write(&tar_path, &tar_bytes).unwrap();
        let sum = stdout(&run(Command::new("sha256sum").arg(&tar_path)));
        assert_eq!(
            config["rootfs"]["diff_ids"][0],
            format!("sha256:{}", sum.split_whitespace().next().unwrap())
        );
        // GNU tar's reading: the folders and the executable, root's, 0755.
        let listing = stdout(&run(Command::new("tar")
            .args(["--numeric-owner", "-tvf"])
            .arg(&tar_path)));
        let entries: Vec<(String, String, String)> = listing
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[0].to_owned(), f[1].to_owned(), f[f.len() - 1].to_owned())
            })
            .collect();
        let expected = [
            ("drwxr-xr-x", "0/0", "opt/"),
            ("drwxr-xr-x", "0/0", "opt/extensions/"),
            ("-rwxr-xr-x", "0/0", "opt/extensions/lambda-lens"),
        ];
        assert_eq!(entries.len(), expected.len(), "{listing}");
        for (got, want) in entries.iter().zip(expected) {
            assert_eq!(
                (got.0.as_str(), got.1.as_str(), got.2.as_str()),
                want,
                "{listing}"
            );
        }
        let inside = run(Command::new("tar")
            .args(["-xOf"])
            .arg(&tar_path)
            .arg("opt/extensions/lambda-lens"))
        .stdout;
        assert!(
            inside == std::fs::read(binary).unwrap(),
            "the {architecture} image's extension is not {}",
            binary.display()
        );
        // skopeo reads each platform's image by the tag.
        let inspect = stdout(&run(Command::new("skopeo").args([
            "inspect",
            "--override-os",
            "linux",
            "--override-arch",
            architecture,
            &format!("oci:{}:{version}", layout.display()),
        ])));
        let inspect: Value = serde_json::from_str(&inspect).unwrap();
        assert_eq!(inspect["Architecture"], *architecture);
        assert_eq!(inspect["Digest"], top["digest"]);
        std::fs::remove_dir_all(tar_path.parent().unwrap()).unwrap();
    }
    // skopeo copies the whole image (what `skopeo copy --all ... docker://` pushes), checking
    // every blob against its digest on the way.
    let copy = scratch("image-copy");
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--all",
        &format!("oci:{}:{version}", layout.display()),
        &format!("oci:{}:{version}", copy.join("layout").display()),
    ]));
    assert_eq!(tag(&copy.join("layout")), version);
    // Reproducible: the writer given the same binaries writes the same bytes.
    for out in ["a", "b"] {
        run(Command::new("python3")
            .arg(oci_image_py())
            .args(["extension", copy.join(out).to_str().unwrap(), "--tag", version])
            .arg(&binaries[0].1)
            .arg(&binaries[1].1));
    }
    let a = std::fs::read(copy.join("a/index.json")).unwrap();
    assert_eq!(a, std::fs::read(copy.join("b/index.json")).unwrap());
    assert_eq!(
        a,
        std::fs::read(layout.join("index.json")).unwrap(),
        "make image's layout is not what its binaries give"
    );
    std::fs::remove_dir_all(&copy).unwrap();
}

/// The base image's entrypoint, in the style of AWS's base images' `/lambda-entrypoint.sh`:
/// the handler is its argument, the runtime is `$LAMBDA_RUNTIME_DIR/bootstrap`.
const ENTRYPOINT: &str = r#"#!/bin/sh
echo "entrypoint: handler=$1 cwd=$(pwd)" >&2
export _HANDLER="$1"
exec "$LAMBDA_RUNTIME_DIR/bootstrap"
"#;

/// An extension of the base image that a later layer deletes: were it run, the init would fail.
const DECOY: &str = "#!/bin/sh\necho decoy extension ran >&2\nexit 1\n";

/// Builds the function image `oci:<dir>/function-image:test` for Lambda's `architecture`
/// with the sample function's `bootstrap`; with `lens`, lambda-lens copied from `make image`'s
/// image (its layer for the same platform).
///
/// The entrypoint is the script when the image is of this machine's architecture. For the
/// other one the sandbox runs the entrypoint under qemu-user, but what that entrypoint execs
/// would need the host's binfmt_misc: the bootstrap is then the entrypoint itself (as a
/// `provided` image's may be).
fn function_image(dir: &Path, architecture: &str, bootstrap: &Path, lens: bool) -> PathBuf {
    let platform = if architecture == "arm64" { "arm64" } else { "amd64" };
    let entry = if native(architecture) {
        "/lambda-entrypoint.sh"
    } else {
        "/var/runtime/bootstrap"
    };
    let entrypoint = dir.join("lambda-entrypoint.sh");
    std::fs::write(&entrypoint, ENTRYPOINT).unwrap();
    let decoy = dir.join("decoy");
    std::fs::write(&decoy, DECOY).unwrap();
    let source = image_layout();
    let mut layers = vec![json!({"files": {
        "lambda-entrypoint.sh": entrypoint,
        "var/runtime/bootstrap": bootstrap,
        "opt/extensions/decoy": decoy,
    }})];
    if lens {
        layers.push(json!({"from": format!("{}:{}", source.display(), tag(&source))}));
    }
    layers.push(json!({"whiteouts": ["opt/extensions/decoy"]}));
    let spec = json!({
        "tag": "test",
        "index": false,
        "platforms": {platform: {
            "config": {
                "Entrypoint": [entry],
                "Cmd": ["function.handler"],
                "WorkingDir": "/var/task",
                "Env": [
                    "PATH=/usr/local/bin:/usr/bin:/bin",
                    "LAMBDA_TASK_ROOT=/var/task",
                    "LAMBDA_RUNTIME_DIR=/var/runtime",
                    "LAMBDA_LENS_OUTPUT=per-invocation",
                    "LAMBDA_LENS_NAMESPACE=FromImage",
                ],
            },
            "layers": layers,
        }},
    });
    let spec_path = dir.join("spec.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let out = dir.join("function-image");
    run(Command::new("python3")
        .arg(oci_image_py())
        .arg("build")
        .arg(&spec_path)
        .arg(&out));
    out
}

fn template(dir: &Path, architecture: &str, extra: &str) -> PathBuf {
    let path = dir.join("template.yaml");
    std::fs::write(
        &path,
        format!(
            r"
Transform: AWS::Serverless-2016-10-31
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
      ImageUri: oci:function-image:test
      FunctionName: orders-image
      MemorySize: 256
      Timeout: 5
      Architectures: [{architecture}]
      Environment:
        Variables:
          LAMBDA_LENS_NAMESPACE: FromTemplate
{extra}"
        ),
    )
    .unwrap();
    path
}

fn local_invoke(template: &Path, event: &str) -> (Output, String, String) {
    let event_path = template.with_file_name("event.json");
    std::fs::write(&event_path, event).unwrap();
    binaries::output_text(
        binaries::local_invoke_command()
            .arg("-t")
            .arg(template)
            .arg("-e")
            .arg(&event_path),
    )
}

/// Whether Lambda's `architecture` is this machine's.
fn native(architecture: &str) -> bool {
    (architecture == "arm64") == (std::env::consts::ARCH == "aarch64")
}

/// Runs the image function through a success and an error; checks the answers and
/// lambda-lens's metrics.
fn success_and_error(architecture: &str, bootstrap: &Path) {
    let dir = scratch(&format!("image-function-{architecture}"));
    function_image(&dir, architecture, bootstrap, true);
    let template = template(&dir, architecture, "");

    let (out, stdout, stderr) = local_invoke(&template, r#"{"log_lines": 1}"#);
    assert!(out.status.success(), "{stderr}");
    let response: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    assert_eq!(response["lines"], 1, "{stdout}");
    // The image's ENTRYPOINT with its CMD, from its WORKDIR.
    if native(architecture) {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("entrypoint: handler=function.handler cwd=")
                    && l.ends_with("/rootfs/var/task")),
            "{stderr}"
        );
    } else {
        assert!(
            stderr.contains(r#"runtime: ["/var/runtime/bootstrap","function.handler"] from /var/task"#),
            "{stderr}"
        );
    }
    // The image's /opt/extensions: lambda-lens, and not the decoy a later layer deleted.
    assert!(stderr.contains("(extensions: lambda-lens)"), "{stderr}");
    assert!(!stderr.contains("decoy"), "{stderr}");
    assert!(
        stderr.contains("EXTENSION\tName: lambda-lens\tState: Ready"),
        "{stderr}"
    );
    let docs = emf(&stderr);
    assert_eq!(docs.len(), 1, "{stderr}");
    let doc = &docs[0];
    // The image's ENV (per-invocation output) under the template's (the namespace).
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "FromTemplate",
        "{doc}"
    );
    assert_eq!(doc["FunctionName"], "orders-image");
    assert_eq!(doc["Invocations"], 1.0);
    assert_eq!(doc["Errors"], 0.0);
    assert_eq!(doc["ColdStarts"], 1.0);
    assert_eq!(doc["MemorySize"], 256.0);

    let (out, stdout, stderr) = local_invoke(&template, r#"{"fail": "card declined"}"#);
    // A function error is an answer: exit 0, the error on stdout.
    assert!(out.status.success(), "{stderr}");
    let response: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(response["errorType"].is_string(), "{stdout}");
    assert_eq!(response["errorMessage"], "card declined", "{stdout}");
    let docs = emf(&stderr);
    assert_eq!(docs.len(), 1, "{stderr}");
    assert_eq!(docs[0]["Errors"], 1.0, "{}", docs[0]);
    assert_eq!(docs[0]["Status"], "error", "{}", docs[0]);
    assert!(stderr.contains("Metrics (1 EMF document):"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "needs make image (and the layers it builds): make test runs it"]
fn an_image_function_with_the_extension_copied_from_the_image_reports_its_invocations() {
    success_and_error("x86_64", &lambda_lens_harness::built::bootstrap());
}

#[test]
#[ignore = "needs make image, the arm64 build and qemu-user: make test runs them"]
fn the_arm64_image_function_runs_under_qemu_with_the_arm64_extension() {
    success_and_error(
        "arm64",
        &lambda_lens_harness::built::arm64_function().join("bootstrap"),
    );
}

#[test]
#[ignore = "needs make image (and the layers it builds): make test runs it"]
fn without_the_copy_from_the_image_no_extension_runs() {
    // The same function image without the lambda-lens layer: no extension, no metrics. The
    // suite above fails the same way if the image's /opt/extensions is not where Lambda looks.
    let dir = scratch("image-function-bare");
    function_image(&dir, "x86_64", &lambda_lens_harness::built::bootstrap(), false);
    let (out, stdout, stderr) = local_invoke(&template(&dir, "x86_64", ""), "{}");
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("\"lines\""), "{stdout}");
    assert!(stderr.contains("(no extensions)"), "{stderr}");
    assert!(emf(&stderr).is_empty(), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "needs make image (and the layers it builds): make test runs it"]
fn what_lambda_would_refuse_of_an_image_function_is_named() {
    let dir = scratch("image-function-refused");
    function_image(&dir, "x86_64", &lambda_lens_harness::built::bootstrap(), true);
    let cases = [
        (
            "arm64",
            "",
            "Orders.Architectures: oci:function-image:test is a linux/amd64 image and the function's architecture is arm64",
        ),
        (
            "x86_64",
            "      Layers: [arn:aws:lambda:us-east-1:123456789012:layer:x:1]\n",
            "Orders.Layers: Lambda takes no layers for a container image function",
        ),
        (
            "x86_64",
            "      ImageConfig: {EntryPoint: [/nowhere]}\n",
            "the entrypoint /nowhere is not an executable file of the image",
        ),
    ];
    for (architecture, extra, expected) in cases {
        let (out, stdout, stderr) = local_invoke(&template(&dir, architecture, extra), "{}");
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(stderr.contains(expected), "expected {expected:?} in:\n{stderr}");
    }
    // A tag the layout does not have names the ones it has.
    let text = std::fs::read_to_string(template(&dir, "x86_64", "")).unwrap();
    std::fs::write(
        dir.join("template.yaml"),
        text.replace("function-image:test", "function-image:nope"),
    )
    .unwrap();
    let (_, _, stderr) = local_invoke(&dir.join("template.yaml"), "{}");
    assert!(
        stderr.contains("no image tagged \"nope\"") && stderr.contains("its tags: test"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
