//! Node.js functions in `lambda-sandbox local invoke`, under `aws-lambda-ric`, AWS's own runtime
//! interface client for Node.js (pinned in sandbox/node-ric, installed there by `make node-ric`,
//! part of `make test`), with the built lambda-lens layer: an ES module handler that succeeds,
//! throws and times out, and a CommonJS handler that finds its layer's module through
//! `NODE_PATH`, each asserted on the response, the log and the EMF lambda-lens wrote.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

mod binaries;

use binaries::{path, scratch};
use lambda_lens_harness::built::workspace;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node")
}

/// The folder `make node-ric` installs aws-lambda-ric into (LAMBDA_SANDBOX_NODE_RIC overrides).
fn node_ric() -> PathBuf {
    let dir = std::env::var_os("LAMBDA_SANDBOX_NODE_RIC")
        .map_or_else(|| workspace().join("sandbox/node-ric"), PathBuf::from);
    assert!(
        dir.join("node_modules/aws-lambda-ric/package.json").is_file(),
        "aws-lambda-ric is not installed in {}: run `make node-ric` (make test does)",
        dir.display()
    );
    std::fs::canonicalize(dir).unwrap()
}

/// The pinned client's version, from the folder's package.json.
fn ric_version() -> String {
    let text = std::fs::read_to_string(workspace().join("sandbox/node-ric/package.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    json["dependencies"]["aws-lambda-ric"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `node`'s version on PATH, as the sandbox's default `--node` finds it.
fn node_version() -> String {
    // The Node.js the sandbox runs (LAMBDA_SANDBOX_NODE, as `make all-tests` sets it, else PATH's).
    let node = std::env::var("LAMBDA_SANDBOX_NODE").unwrap_or_else(|_| "node".to_owned());
    let out = std::process::Command::new(node)
        .args(["-p", "process.version"])
        .output()
        .expect("Node.js 20 or newer (make node installs it when PATH's is older)");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn node_major() -> u32 {
    node_version()
        .trim_start_matches('v')
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Runs `local invoke` with the installed client (unless `args` names another folder).
fn local_invoke(args: &[&str]) -> (Output, String, String) {
    let mut command = binaries::local_invoke_command();
    command.args(args);
    if !args.contains(&"--node-ric") {
        command.arg("--node-ric").arg(node_ric());
    }
    binaries::output_text(&mut command)
}

/// The REPORT line of the log, and its request id.
fn report(stderr: &str) -> (&str, &str) {
    let line = binaries::report(stderr);
    let id = line
        .strip_prefix("REPORT RequestId: ")
        .and_then(|r| r.split('\t').next())
        .unwrap();
    (line, id)
}

/// lambda-lens's one EMF document in the log, checked to be the invocation's.
fn emf(stderr: &str, request_id: &str) -> Value {
    let docs = binaries::emf(stderr);
    assert_eq!(docs.len(), 1, "{stderr}");
    assert_eq!(docs[0]["RequestId"], request_id, "{stderr}");
    docs[0].clone()
}

/// A template with the fixture function under two runtimes and handlers, lambda-lens as a layer.
fn template(dir: &Path) -> PathBuf {
    let (_, lens) = lambda_lens_harness::built::paths();
    let template = dir.join("template.yaml");
    std::fs::write(
        &template,
        format!(
            r"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    CodeUri: {code}
    Environment:
      Variables:
        LAMBDA_LENS_OUTPUT: per-invocation
Resources:
  Lens:
    Type: AWS::Serverless::LayerVersion
    Properties: {{ContentUri: {lens}}}
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties: {{ContentUri: {shared}}}
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: index.handler
      MemorySize: 256
      Timeout: 2
      Layers: [!Ref Lens]
  Greeter:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs22.x
      Handler: orders.handler
      Layers: [!Ref Shared, !Ref Lens]
      Environment:
        Variables:
          NODE_OPTIONS: ''
",
            code = fixtures().join("function").display(),
            lens = lens.display(),
            shared = fixtures().join("layer").display(),
        ),
    )
    .unwrap();
    template
}

fn invoke(template: &Path, function: &str, dir: &Path, event: &str) -> (Output, String, String) {
    let file = dir.join("event.json");
    std::fs::write(&file, event).unwrap();
    local_invoke(&[function, "-t", path(template), "-e", path(&file)])
}

#[test]
#[ignore = "needs the built layer and aws-lambda-ric (make node-ric): make test runs it"]
fn an_es_module_handler_succeeds_throws_and_times_out_under_aws_lambda_ric() {
    let dir = scratch("node-esm");
    let template = template(&dir);
    let code = std::fs::canonicalize(fixtures().join("function")).unwrap();
    let ric = node_ric();

    // Success.
    let (out, stdout, stderr) = invoke(&template, "Orders", &dir, r#"{"name": "Grace"}"#);
    assert!(out.status.success(), "{stderr}");
    let response: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(response["greeting"], "Hello, Grace!", "{stdout}");
    assert_eq!(response["module"], "esm");
    // The variables Lambda's Node.js runtimes set, the handler resolved in the task root.
    assert_eq!(response["execution_env"], "AWS_Lambda_nodejs20.x");
    assert_eq!(response["handler"], "index.handler");
    assert_eq!(response["task_root"], path(&code));
    assert_eq!(response["cwd"], path(&code));
    assert_eq!(response["function_name"], "Orders");
    assert_eq!(response["memory_limit_in_mb"], "256");
    assert_eq!(response["node_version"], node_version().as_str());
    let node_path = response["node_path"].as_str().unwrap();
    assert!(
        node_path.ends_with(&format!(
            ":{ric}/node_modules:{ric}:{code}",
            ric = ric.display(),
            code = code.display()
        )),
        "{node_path}"
    );
    assert!(
        stderr.contains(&format!(
            "runtime: nodejs20.x under aws-lambda-ric {}, Node.js {}",
            ric_version(),
            node_version()
        )),
        "{stderr}"
    );
    assert_eq!(
        stderr.contains("warning: nodejs20.x is Node.js 20 on Lambda"),
        node_major() != 20,
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: nodejs20.x is deprecated on Lambda since 30 April 2026"),
        "{stderr}"
    );
    // Lambda turns off require() of ES modules in its Node.js 20 runtime, and its bootstrap's
    // flags follow: gc(), the header limit, and the heap from the 256 MB (a tenth new space).
    assert_eq!(
        response["exec_argv"],
        serde_json::json!([
            "--no-experimental-require-module",
            "--expose-gc",
            "--max-http-header-size",
            "81920",
            "--max-semi-space-size=12",
            "--max-old-space-size=231"
        ]),
        "{stdout}"
    );
    let (report_line, request_id) = report(&stderr);
    assert_eq!(response["request_id"], request_id);
    assert!(!report_line.contains("Status: "), "{report_line}");
    // The handler's console.log, in the Node.js runtime's format (time, request id, level).
    assert!(
        stderr.contains(&format!("\t{request_id}\tINFO\thandling {request_id}")),
        "{stderr}"
    );
    let doc = emf(&stderr, request_id);
    assert_eq!(doc["ColdStarts"], 1.0);
    assert_eq!(doc["Errors"], 0.0);
    assert_eq!(doc["Timeouts"], 0.0);
    assert_eq!(doc["MemorySize"], 256.0);
    assert_eq!(doc["RuntimeVersion"], "nodejs:20.sandbox");
    assert!(doc["Duration"].as_f64().unwrap() > 0.0, "{doc}");

    // A thrown error: Lambda's answer (errorType, errorMessage, trace), status error.
    let (out, stdout, stderr) = invoke(&template, "Orders", &dir, r#"{"fail": "card declined"}"#);
    assert!(out.status.success(), "{stderr}");
    let response: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(response["errorType"], "OrderError", "{stdout}");
    assert_eq!(response["errorMessage"], "card declined", "{stdout}");
    let trace: Vec<&str> = response["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(trace.first(), Some(&"OrderError: card declined"), "{stdout}");
    assert!(
        trace
            .iter()
            .any(|l| l.contains(&format!("{}/index.mjs:", code.display()))),
        "{stdout}"
    );
    let (report_line, request_id) = report(&stderr);
    assert!(report_line.contains("\tStatus: error"), "{report_line}");
    // The runtime logs the error as Lambda's Node.js runtimes do.
    assert!(
        stderr.contains(&format!("\t{request_id}\tERROR\tInvoke Error ")),
        "{stderr}"
    );
    let doc = emf(&stderr, request_id);
    assert_eq!(doc["Status"], "error");
    // aws-lambda-ric posts the error without Lambda-Runtime-Function-Error-Type (its C++ client's
    // post_failure sends none), so Lambda's rule gives Runtime.Unknown, as the REPORT line says.
    assert_eq!(doc["ErrorType"], "Runtime.Unknown");
    assert!(
        report_line.ends_with("\tError Type: Runtime.Unknown"),
        "{report_line}"
    );
    assert_eq!(doc["Errors"], 1.0);
    assert_eq!(doc["Timeouts"], 0.0);
    assert!(doc["Duration"].as_f64().unwrap() > 0.0, "{doc}");

    // A timeout (2 s): no answer, status timeout.
    let (out, stdout, stderr) = invoke(&template, "Orders", &dir, r#"{"sleep_ms": 5000}"#);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), "", "{stdout}");
    let (report_line, request_id) = report(&stderr);
    assert!(report_line.contains("\tStatus: timeout"), "{report_line}");
    let doc = emf(&stderr, request_id);
    assert_eq!(doc["Status"], "timeout");
    assert_eq!(doc["Timeouts"], 1.0);
    assert_eq!(doc["Errors"], 0.0);
    assert!(doc.get("ErrorType").is_none(), "{doc}");
    let duration = doc["Duration"].as_f64().unwrap();
    assert!((2000.0..3000.0).contains(&duration), "{doc}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "needs the built layer and aws-lambda-ric (make node-ric): make test runs it"]
fn a_commonjs_handler_requires_its_layers_module_through_node_path_with_lambdas_node_flags() {
    let dir = scratch("node-cjs");
    let template = template(&dir);
    let (out, stdout, stderr) = invoke(&template, "Greeter", &dir, r#"{"name": "Ada"}"#);
    assert!(out.status.success(), "{stderr}");
    let response: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(response["greeting"], "Greetings from the layer, Ada!", "{stdout}");
    assert_eq!(response["module"], "commonjs");
    assert_eq!(response["execution_env"], "AWS_Lambda_nodejs22.x");
    // Lambda's Node.js 22 runtime: no require() of ES modules, no module type detection; then
    // its bootstrap's flags, the heap from the default 128 MB.
    assert_eq!(response["require_esm"], "ERR_REQUIRE_ESM", "{stdout}");
    assert_eq!(
        response["exec_argv"],
        serde_json::json!([
            "--no-experimental-require-module",
            "--no-experimental-detect-module",
            "--expose-gc",
            "--max-http-header-size",
            "81920",
            "--max-semi-space-size=6",
            "--max-old-space-size=116"
        ]),
        "{stdout}"
    );
    assert!(!stderr.contains("is deprecated on Lambda"), "{stderr}");
    // nodejs22.x runs under the Node.js given; another major version is named.
    assert_eq!(
        stderr.contains(&format!(
            "warning: nodejs22.x is Node.js 22 on Lambda; it runs here under Node.js {}",
            node_version()
        )),
        node_major() != 22,
        "{stderr}"
    );
    let (_, request_id) = report(&stderr);
    let doc = emf(&stderr, request_id);
    assert_eq!(doc["ColdStarts"], 1.0);
    assert_eq!(doc["Errors"], 0.0);
    assert_eq!(doc["RuntimeVersion"], "nodejs:22.sandbox");

    // NODE_OPTIONS turns require() of ES modules back on: Lambda leaves its flag out; and it sizes
    // the old space, so Lambda leaves both heap sizes out.
    let env_vars = dir.join("env.json");
    std::fs::write(
        &env_vars,
        r#"{"Greeter": {"NODE_OPTIONS": "--experimental-require-module --max_old_space_size=100"}}"#,
    )
    .unwrap();
    let event = dir.join("event.json");
    let (out, stdout, stderr) = local_invoke(&[
        "Greeter",
        "-t",
        path(&template),
        "-e",
        path(&event),
        "-n",
        path(&env_vars),
    ]);
    assert!(out.status.success(), "{stderr}");
    let response: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(response["require_esm"], "loaded", "{stdout}");
    assert_eq!(
        response["exec_argv"],
        serde_json::json!([
            "--no-experimental-detect-module",
            "--expose-gc",
            "--max-http-header-size",
            "81920"
        ]),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "needs the built layer and aws-lambda-ric (make node-ric): make test runs it"]
fn a_node_runtime_that_cannot_run_is_named_with_the_fix() {
    let dir = scratch("node-refused");
    let template = template(&dir);
    let run = |function: &str, extra: &[&str]| {
        let mut args = vec![function, "-t", path(&template)];
        args.extend_from_slice(extra);
        let (out, stdout, stderr) = local_invoke(&args);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(stderr.starts_with("lambda-sandbox: "), "{stderr}");
        stderr
    };
    let e = run("Orders", &["--node", "/nonexistent/node"]);
    assert!(
        e.contains("nodejs20.x runs under Node.js 20: cannot start /nonexistent/node"),
        "{e}"
    );
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = run("Orders", &["--node-ric", path(&empty)]);
    assert!(
        e.contains("aws-lambda-ric, AWS's runtime interface client for Node.js, which is not installed")
            && e.contains("make node-ric"),
        "{e}"
    );
    for (runtime, expected) in [
        (
            "nodejs18.x",
            "Lambda offers nodejs20.x, nodejs22.x and nodejs24.x",
        ),
        ("nodejs40.x", "nodejs40.x needs Node.js 40 or newer"),
    ] {
        let text = std::fs::read_to_string(&template)
            .unwrap()
            .replace("nodejs20.x", runtime);
        let other = dir.join(format!("{runtime}.yaml"));
        std::fs::write(&other, text).unwrap();
        let (out, _, stderr) = local_invoke(&["Orders", "-t", path(&other)]);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected), "expected {expected:?} in:\n{stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
