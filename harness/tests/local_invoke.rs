//! `lambda-sandbox local invoke`, end to end: the binary reads a SAM template and runs its
//! function with the built lambda-lens layer, as a user does after `sam build`, and the
//! extension's metrics come out of a real Telemetry API.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

mod binaries;

use binaries::{emf, local_invoke, path, python, report, scratch};
use lambda_lens_harness::built::workspace;

use std::path::{Path, PathBuf};

use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/local")
}

#[test]
#[ignore = "needs the built layer (make layer): make test runs it"]
fn a_provided_function_runs_from_the_template_with_its_layer_globals_and_env_vars() {
    let (bootstrap, layer) = lambda_lens_harness::built::paths();
    let dir = scratch("provided");
    let template = dir.join("template.yaml");
    std::fs::write(
        &template,
        format!(
            r"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Namespace: {{Type: String, Default: FromTemplate}}
Globals:
  Function:
    MemorySize: 512
    Environment:
      Variables:
        LAMBDA_LENS_OUTPUT: per-invocation
Resources:
  Lens:
    Type: AWS::Serverless::LayerVersion
    Properties: {{ContentUri: {layer}}}
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: orders-local
      Runtime: provided.al2023
      Handler: bootstrap
      CodeUri: {code}
      Timeout: 5
      Layers: [!Ref Lens]
      Environment:
        Variables:
          LAMBDA_LENS_NAMESPACE: !Ref Namespace
          LAMBDA_LENS_METRICS: default,Duration
",
            layer = layer.display(),
            code = bootstrap.parent().unwrap().display()
        ),
    )
    .unwrap();
    let event = dir.join("event.json");
    std::fs::write(&event, r#"{"log_lines": 2, "sleep_ms": 20}"#).unwrap();
    let env_vars = dir.join("env.json");
    std::fs::write(
        &env_vars,
        r#"{"Parameters": {"NOT_DECLARED": "x"}, "Orders": {"LAMBDA_LENS_NAMESPACE": "FromEnvVars"}}"#,
    )
    .unwrap();

    let (out, stdout, stderr) = local_invoke(&[
        "-t",
        path(&template),
        "-e",
        path(&event),
        "--env-vars",
        path(&env_vars),
    ]);
    assert!(out.status.success(), "{stderr}");
    // The response on stdout, alone.
    let response: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(response["lines"], 2, "{stdout}");
    assert!(response["slept_ms"].as_u64().unwrap() >= 20, "{stdout}");
    // The log: what ran, START, the function's lines, END, REPORT.
    assert!(
        stderr.contains("Invoking Orders (provided.al2023, x86_64, 512 MB, timeout 5 s)"),
        "{stderr}"
    );
    assert!(stderr.contains("extensions: lambda-lens"), "{stderr}");
    assert!(
        stderr.contains("--env-vars sets NOT_DECLARED, which the template does not declare"),
        "{stderr}"
    );
    let start = stderr.find("START RequestId: ").unwrap();
    let end = stderr.find("END RequestId: ").unwrap();
    assert!(start < end);
    let report = report(&stderr);
    assert!(report.contains("Memory Size: 512 MB"), "{report}");
    assert!(report.contains("Init Duration: "), "{report}");
    assert!(!report.contains("Status: "), "{report}");
    // The extension ran with the template's variables and the override: its one document
    // for the invocation is in the namespace the env-vars file chose.
    let docs = emf(&stderr);
    assert_eq!(docs.len(), 1, "{stderr}");
    let doc = &docs[0];
    assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "FromEnvVars");
    assert_eq!(doc["FunctionName"], "orders-local");
    assert_eq!(doc["ColdStarts"], 1.0);
    assert_eq!(doc["MemorySize"], 512.0);
    assert!(doc["Duration"].as_f64().unwrap() >= 20.0, "{doc}");
    let request_id = report
        .strip_prefix("REPORT RequestId: ")
        .and_then(|r| r.split('\t').next())
        .unwrap();
    assert_eq!(doc["RequestId"], request_id);
    // The summary names the metrics, with their units.
    assert!(stderr.contains("Metrics (1 EMF document):"), "{stderr}");
    assert!(
        stderr.contains("  FromEnvVars [FunctionName=orders-local]"),
        "{stderr}"
    );
    assert!(stderr.contains("    ColdStarts = 1.0 Count"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "needs SAM's build of template.yaml (make template-check): make test runs it"]
fn the_repositorys_template_runs_after_sam_build() {
    let built = workspace().join(".aws-sam/build");
    assert!(
        built.join("SampleFunction/bootstrap").is_file(),
        "{} is missing: `make template-check` (part of `make test`) runs `sam build` first",
        built.display()
    );
    let dir = scratch("sam-build");
    let event = dir.join("event.json");
    std::fs::write(&event, r#"{"fail": "card declined"}"#).unwrap();
    let (out, stdout, stderr) = local_invoke(&[
        "SampleFunction",
        "-t",
        path(&workspace().join("template.yaml")),
        "-e",
        path(&event),
    ]);
    // A function error is an answer, as in `sam local invoke`: exit 0, the error on stdout.
    assert!(out.status.success(), "{stderr}");
    let response: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(response["errorType"].is_string(), "{stdout}");
    assert!(stderr.contains(".aws-sam/build/SampleFunction"), "{stderr}");
    assert!(stderr.contains(".aws-sam/build/LambdaLensLayer"), "{stderr}");
    let report = report(&stderr);
    assert!(report.contains("Memory Size: 256 MB"), "{report}");
    assert!(report.contains("\tStatus: error\tError Type: "), "{report}");
    // The template's namespace and adaptive output: the failed invocation is a document of
    // its own, with its error.
    let docs = emf(&stderr);
    let failed: Vec<&Value> = docs.iter().filter(|d| d["Status"] == "error").collect();
    assert_eq!(failed.len(), 1, "{stderr}");
    assert_eq!(
        failed[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "LambdaLens"
    );
    assert_eq!(failed[0]["FunctionName"], "SampleFunction");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn python_template(dir: &Path, layer: &Path) -> PathBuf {
    let template = dir.join("template.yaml");
    std::fs::write(
        &template,
        format!(
            r"
Transform: AWS::Serverless-2016-10-31
Resources:
  Lens:
    Type: AWS::Serverless::LayerVersion
    Properties: {{ContentUri: {lens}}}
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties: {{ContentUri: {shared}}}
  Greeter:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: {code}
      MemorySize: 192
      Layers: [!Ref Shared, !Ref Lens]
      Environment:
        Variables:
          STAGE: template
          LAMBDA_LENS_OUTPUT: per-invocation
",
            lens = layer.display(),
            shared = fixtures().join("python-layer").display(),
            code = fixtures().join("python-function").display(),
        ),
    )
    .unwrap();
    template
}

#[test]
#[ignore = "needs the built layer and awslambdaric in .venv: make test runs it"]
fn a_python_function_runs_under_awslambdaric_with_lambda_lens() {
    let (_, layer) = lambda_lens_harness::built::paths();
    let dir = scratch("python");
    let template = python_template(&dir, &layer);
    let event = dir.join("event.json");
    std::fs::write(&event, r#"{"name": "Grace"}"#).unwrap();
    let env_vars = dir.join("env.json");
    std::fs::write(&env_vars, r#"{"Greeter": {"STAGE": "local"}}"#).unwrap();
    let (out, stdout, stderr) = local_invoke(&[
        "-t",
        path(&template),
        "-e",
        path(&event),
        "-n",
        path(&env_vars),
        "--python",
        path(&python()),
    ]);
    assert!(out.status.success(), "{stderr}");
    let response: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(response["greeting"], "Hello, Grace!", "{stdout}");
    assert_eq!(response["execution_env"], "AWS_Lambda_python3.12");
    assert_eq!(response["stage"], "local");
    assert_eq!(response["memory_limit_in_mb"], "192");
    assert_eq!(response["function_name"], "Greeter");
    assert!(
        stderr.contains("runtime: python3.12 under awslambdaric"),
        "{stderr}"
    );
    let request_id = report(&stderr)
        .strip_prefix("REPORT RequestId: ")
        .and_then(|r| r.split('\t').next())
        .unwrap();
    assert!(stderr.contains(&format!("handling {request_id}")), "{stderr}");
    let docs = emf(&stderr);
    assert_eq!(docs.len(), 1, "{stderr}");
    assert_eq!(docs[0]["RequestId"], request_id);
    assert_eq!(docs[0]["ColdStarts"], 1.0);
    assert_eq!(docs[0]["MemorySize"], 192.0);

    // An exception: the runtime reports it, Lambda's way, and lambda-lens sees the error.
    std::fs::write(&event, r#"{"fail": "no such order"}"#).unwrap();
    let (out, stdout, stderr) = local_invoke(&[
        "-t",
        path(&template),
        "-e",
        path(&event),
        "--python",
        path(&python()),
    ]);
    assert!(out.status.success(), "{stderr}");
    let response: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(response["errorMessage"], "no such order", "{stdout}");
    assert_eq!(response["errorType"], "ValueError", "{stdout}");
    assert!(report(&stderr).contains("\tStatus: error"), "{stderr}");
    let docs = emf(&stderr);
    assert_eq!(docs.len(), 1, "{stderr}");
    assert_eq!(docs[0]["Status"], "error");
    assert_eq!(docs[0]["Errors"], 1.0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "needs the arm64 layer and function (make layers) and qemu-user: make test runs it"]
fn an_arm64_build_runs_under_qemu() {
    let layer = lambda_lens_harness::built::arm64_layer();
    let code = lambda_lens_harness::built::arm64_function();
    let dir = scratch("arm64");
    let template = dir.join("template.yaml");
    std::fs::write(
        &template,
        format!(
            r"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Architecture: {{Type: String, Default: x86_64}}
Resources:
  Lens:
    Type: AWS::Serverless::LayerVersion
    Properties: {{ContentUri: {layer}}}
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2
      Handler: bootstrap
      CodeUri: {code}
      Architectures: [!Ref Architecture]
      Layers: [!Ref Lens]
      Environment: {{Variables: {{LAMBDA_LENS_OUTPUT: per-invocation}}}}
",
            layer = layer.display(),
            code = code.display()
        ),
    )
    .unwrap();
    let (out, stdout, stderr) = local_invoke(&[
        "-t",
        path(&template),
        "--parameter-overrides",
        "Architecture=arm64",
    ]);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("\"message\""), "{stdout}");
    assert!(stderr.contains("(provided.al2, arm64, 128 MB"), "{stderr}");
    assert!(
        stderr.contains("bootstrap: arm64 executable, run under"),
        "{stderr}"
    );
    assert!(
        stderr.contains("lambda-lens: arm64 executable, run under"),
        "{stderr}"
    );
    assert!(!stderr.contains("warning:"), "{stderr}");
    let docs = emf(&stderr);
    assert_eq!(docs.len(), 1, "{stderr}");
    assert_eq!(docs[0]["Architecture"], "arm64");

    // The same build under the default parameter: the mismatch is named.
    let (out, _, stderr) = local_invoke(&["-t", path(&template)]);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("is an arm64 executable, but the function's architecture is x86_64"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes `template` (with `{code}` replaced by a folder holding an executable bootstrap) and
/// runs it; returns the exit status and stderr.
fn failing(name: &str, template: &str, extra: &[&str]) -> (Option<i32>, String) {
    let dir = scratch(name);
    let (bootstrap, _) = lambda_lens_harness::built::paths();
    let text = template.replace("{code}", &bootstrap.parent().unwrap().display().to_string());
    let path_ = dir.join("template.yaml");
    std::fs::write(&path_, text).unwrap();
    let mut args = vec!["-t", path(&path_)];
    args.extend_from_slice(extra);
    let (out, stdout, stderr) = local_invoke(&args);
    assert!(stdout.is_empty(), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
    (out.status.code(), stderr)
}

#[test]
#[ignore = "needs the built layer (make layer): make test runs it"]
fn what_cannot_run_is_named_with_the_fix() {
    let function = |props: &str| {
        format!("Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {{{props}}}\n")
    };
    let cases: Vec<(String, Vec<&str>, &str)> = vec![
        (
            function("Runtime: ruby3.3, Handler: app.handler, CodeUri: {code}"),
            vec![],
            "runtime ruby3.3 is not supported; it runs provided.al2023, provided.al2",
        ),
        (
            function("PackageType: Image, ImageUri: x"),
            vec![],
            "Fn.ImageUri: \"x\" is not a local OCI image layout: name one as oci:<dir>:<tag>",
        ),
        (
            function(
                "Runtime: provided.al2023, CodeUri: {code}, Layers: [arn:aws:lambda:us-east-1:123456789012:layer:x:1]",
            ),
            vec![],
            "cannot be fetched offline",
        ),
        (
            function("Runtime: provided.al2023, CodeUri: nowhere"),
            vec![],
            "run `sam build` first",
        ),
        (
            function("Runtime: provided.al2023, CodeUri: {code}"),
            vec!["Other"],
            "no function \"Other\" in the template; the template's functions: Fn",
        ),
        (
            function("Runtime: python3.12, Handler: app.handler, CodeUri: {code}"),
            vec!["--python", "/nonexistent/python3"],
            "needs a Python interpreter with awslambdaric; cannot start /nonexistent/python3",
        ),
        (
            function("Runtime: provided.al2023, CodeUri: {code}, Architectures: [sparc]"),
            vec![],
            "\"sparc\" is not x86_64 or arm64",
        ),
        ("Resources: {}\n".to_owned(), vec![], "it has no `Resources`"),
    ];
    for (i, (template, extra, expected)) in cases.iter().enumerate() {
        let (code, stderr) = failing(&format!("bad-{i}"), template, extra);
        assert_eq!(code, Some(1), "{template}\n{stderr}");
        assert!(stderr.contains(expected), "expected {expected:?} in:\n{stderr}");
        assert!(stderr.starts_with("lambda-sandbox: "), "{stderr}");
    }
}

#[test]
#[ignore = "needs the built layer and .venv's Python: make test runs it"]
fn a_python_without_awslambdaric_is_told_how_to_install_it() {
    // The real interpreter in isolated mode (-I -S: no site-packages), so the import fails as
    // it does for a Python without the package.
    let dir = scratch("no-ric");
    let bare = dir.join("python-bare");
    std::fs::write(
        &bare,
        format!("#!/bin/sh\nexec {} -I -S \"$@\"\n", python().display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bare, std::fs::Permissions::from_mode(0o755)).unwrap();
    let template = python_template(&dir, &lambda_lens_harness::built::paths().1);
    let (out, _, stderr) = local_invoke(&["-t", path(&template), "--python", path(&bare)]);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot import") && stderr.contains("-m pip install awslambdaric"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
