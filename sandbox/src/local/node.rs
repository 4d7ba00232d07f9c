//! Node.js functions (`nodejs20.x`, `nodejs22.x`, `nodejs24.x`) under `aws-lambda-ric`, AWS's
//! runtime interface client for Node.js, as the runtime process: the client's own executable
//! (its package's `bin`, what `npx aws-lambda-ric index.handler` runs), started by the Node.js
//! given with `--node` (default: `node` on `PATH`), from the folder where `npm ci` installed it
//! (`--node-ric`; default: `sandbox/node-ric`, where `make node-ric` puts it).
//!
//! Which Node.js runs which runtime: a runtime's name carries its Node.js major version
//! (`nodejs22.x` is Node.js 22 on Lambda (a)). One Node.js is used, the one given: when its major
//! version is the runtime's, it is the same runtime; when it differs, the function still runs,
//! with a warning that names both versions, because a local invoke is mostly run to see the
//! function and its extensions work, and most machines have one Node.js. A name newer than the
//! runtimes Lambda offers today runs only on a Node.js at least that new; an older one is refused
//! (deprecated on Lambda (a)).

use std::path::{Path, PathBuf};

use super::LocalError;
use super::stage::{Staged, shell_quote, write_executable};

/// The Node.js runtimes Lambda offers today (a: the runtimes page), by major version.
pub(crate) const CURRENT: [u32; 3] = [20, 22, 24];

/// Where `make node-ric` installs the client (the crate's `node-ric` folder).
pub(crate) const DEFAULT_RIC_FOLDER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/node-ric");

/// The client's package, inside the folder.
const RIC_PACKAGE: &str = "node_modules/aws-lambda-ric";

/// What runs a Node.js function: the checked Node.js and client.
#[derive(Debug, Clone)]
pub(crate) struct NodeSetup {
    /// The runtime's name (`nodejs20.x`).
    pub(crate) runtime: String,
    /// Its Node.js major version.
    pub(crate) major: u32,
    /// The Node.js executable, absolute.
    pub(crate) node: PathBuf,
    /// Its `process.version` (`v20.20.2`).
    pub(crate) node_version: String,
    /// The client's executable (its package's `bin`).
    pub(crate) entry: PathBuf,
    /// The client's version.
    pub(crate) ric_version: String,
    /// The folder `npm ci` installed into: `LAMBDA_RUNTIME_DIR`, Lambda's `/var/runtime`.
    pub(crate) runtime_dir: PathBuf,
    /// Set when the Node.js is not the runtime's version, or the runtime is deprecated.
    pub(crate) warnings: Vec<String>,
    /// The experimental features Lambda turns off for this runtime, as (flag that turns it off,
    /// flag in `NODE_OPTIONS` that keeps it on), those this Node.js knows.
    pub(crate) disabled: Vec<(&'static str, &'static str)>,
}

/// The experimental features of Node.js that Lambda turns off in its Node.js runtimes, unless
/// `NODE_OPTIONS` has the flag that turns it back on, in which case Lambda leaves its own flag
/// out (a: "Building Lambda functions with Node.js", its table of disabled features):
/// `require` of ES modules in Node.js 20 and 22, and module type detection in Node.js 22.
fn disabled_features(major: u32) -> &'static [(&'static str, &'static str)] {
    const REQUIRE: (&str, &str) = (
        "--no-experimental-require-module",
        "--experimental-require-module",
    );
    const DETECT: (&str, &str) = ("--no-experimental-detect-module", "--experimental-detect-module");
    match major {
        20 => &[REQUIRE],
        22 => &[REQUIRE, DETECT],
        _ => &[],
    }
}

/// Lambda's deprecation of `nodejs20.x` (a: the Node.js runtimes' table: deprecated on 30 April
/// 2026, after which Lambda blocks creating and then updating functions with it).
const DEPRECATED: &[(u32, &str)] = &[(20, "30 April 2026")];

/// `nodejs22.x` → 22.
pub(crate) fn major(runtime: &str) -> Option<u32> {
    runtime.strip_prefix("nodejs")?.strip_suffix(".x")?.parse().ok()
}

/// For a Node.js runtime: the Node.js and the client, checked; `None` for other runtimes.
pub(crate) fn resolve(
    function: &str,
    runtime: &str,
    node: &Path,
    ric_folder: &Path,
) -> Result<Option<NodeSetup>, LocalError> {
    let Some(wanted) = major(runtime) else {
        return Ok(None);
    };
    let refuse = |message: String| LocalError::Runtime {
        function: function.to_owned(),
        message,
    };
    if wanted < CURRENT[0] || (!CURRENT.contains(&wanted) && wanted % 2 == 1) {
        return Err(refuse(format!(
            "runtime {runtime} is not supported: Lambda offers nodejs20.x, nodejs22.x and nodejs24.x (older Node.js runtimes are deprecated); it runs {}",
            super::stage::SUPPORTED
        )));
    }
    let (node, node_version) = probe(node).map_err(|why| {
        refuse(format!(
            "{runtime} runs under Node.js {wanted}: {why} (install Node.js, or give one with --node)"
        ))
    })?;
    let have = version_major(&node_version).unwrap_or(0);
    let mut warnings = Vec::new();
    if let Some((_, since)) = DEPRECATED.iter().find(|(m, _)| *m == wanted) {
        warnings.push(format!(
            "warning: {runtime} is deprecated on Lambda since {since}: Lambda no longer creates or updates functions with it (use nodejs22.x or nodejs24.x)"
        ));
    }
    if have != wanted {
        if !CURRENT.contains(&wanted) && have < wanted {
            return Err(refuse(format!(
                "{runtime} needs Node.js {wanted} or newer, and {} is Node.js {node_version}: give one with --node",
                node.display()
            )));
        }
        warnings.push(format!(
            "warning: {runtime} is Node.js {wanted} on Lambda; it runs here under Node.js {node_version} ({}), so what differs between the two versions can behave differently here (give a Node.js {wanted} with --node)",
            node.display()
        ));
    }
    // A flag this Node.js does not know would stop it at start: such a version has the feature
    // off anyway (it came later, off by default).
    let disabled = disabled_features(wanted)
        .iter()
        .copied()
        .filter(|(flag, _)| knows(&node, flag))
        .collect();
    let package = ric_folder.join(RIC_PACKAGE);
    let (entry, ric_version) = read_package(&package).map_err(|why| {
        refuse(format!(
            "{runtime} runs under aws-lambda-ric, AWS's runtime interface client for Node.js, which {why} (`make node-ric` installs it into sandbox/node-ric with npm ci; or give the folder npm installed it into with --node-ric)",
        ))
    })?;
    // The client's native part (its Runtime API client) is built by the package's install
    // scripts; `npm ci --ignore-scripts` leaves a package that fails only when it starts.
    if !["dist/rapid-client.node", "rapid-client.node"]
        .iter()
        .any(|p| package.join(p).is_file())
    {
        return Err(refuse(format!(
            "{} has no rapid-client.node: its native client was not built (run npm ci there with its install scripts; they need cmake, autoconf, automake, libtool, make, g++ and python3)",
            package.display()
        )));
    }
    Ok(Some(NodeSetup {
        runtime: runtime.to_owned(),
        major: wanted,
        node,
        node_version,
        entry,
        ric_version,
        runtime_dir: absolute(ric_folder),
        warnings,
        disabled,
    }))
}

/// Writes the runtime's bootstrap and the variables Lambda's Node.js runtimes set.
pub(crate) fn stage(
    staged: &mut Staged,
    setup: &NodeSetup,
    layers: &[(String, PathBuf)],
) -> Result<(), LocalError> {
    let mut script = String::from(
        "#!/bin/sh\n# AWS's runtime interface client for Node.js runs the handler ($_HANDLER, resolved in the task root),\n# with the experimental features Lambda turns off unless NODE_OPTIONS turns them on.\nflags=\n",
    );
    for (off, on) in &setup.disabled {
        script.push_str(&format!(
            "case \" $NODE_OPTIONS \" in *\" {on} \"*) ;; *) flags=\"$flags {off}\" ;; esac\n"
        ));
    }
    // Lambda's Node.js bootstrap (/var/runtime/bootstrap in AWS's nodejs images) adds these after
    // them: the gc() global, an 80 KiB header limit, and a V8 heap sized from the function's
    // memory in whole MB, a tenth for the new space (half of it per semi-space) and the rest for
    // the old space, both left out when NODE_OPTIONS names either size, in `-` or `_` spelling
    // (c: the runtime's bootstrap script, as users extracted and published it).
    script.push_str(concat!(
        "flags=\"$flags --expose-gc --max-http-header-size 81920\"\n",
        "case \"$NODE_OPTIONS\" in *--max[-_]semi[-_]space[-_]size*|*--max[-_]old[-_]space[-_]size*) ;;\n",
        "*) mem=${AWS_LAMBDA_FUNCTION_MEMORY_SIZE:-128}; new_space=$((mem / 10))\n",
        "flags=\"$flags --max-semi-space-size=$((new_space / 2)) --max-old-space-size=$((mem - new_space))\" ;;\n",
        "esac\n",
    ));
    script.push_str(&format!(
        "exec {} $flags {} \"$_HANDLER\"\n",
        shell_quote(&setup.node.display().to_string()),
        shell_quote(&setup.entry.display().to_string())
    ));
    write_executable(&staged.bootstrap, &script)?;
    staged.env.push((
        "NODE_PATH".to_owned(),
        node_path(setup.major, layers, &setup.runtime_dir, &staged.task_root),
    ));
    // Lambda's /var/runtime (a: LAMBDA_RUNTIME_DIR, "the path to runtime libraries").
    staged.env.push((
        "LAMBDA_RUNTIME_DIR".to_owned(),
        setup.runtime_dir.display().to_string(),
    ));
    staged.notes.push(format!(
        "runtime: {} under aws-lambda-ric {}, Node.js {} ({})",
        setup.runtime,
        setup.ric_version,
        setup.node_version,
        setup.node.display()
    ));
    staged.notes.extend(setup.warnings.iter().cloned());
    Ok(())
}

/// Lambda's `NODE_PATH` for Node.js `major`: the layers' `nodejs/node<major>/node_modules`, then
/// their `nodejs/node_modules` (a: the layers page's paths for Node.js), the runtime's modules, the
/// runtime's folder and the task root, in the order the Node.js runtimes' bootstrap sets (c: the
/// runtime image's `bootstrap`, as extracted and published by users:
/// `/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task`).
/// Each layer is its own folder here, where Lambda merges them into `/opt`: a later layer comes
/// first, as its files would have replaced an earlier one's. CommonJS's `require` reads it; ES
/// modules' `import` does not (Node.js's rule, as on Lambda).
pub(crate) fn node_path(
    major: u32,
    layers: &[(String, PathBuf)],
    runtime_dir: &Path,
    task_root: &Path,
) -> String {
    let mut paths: Vec<PathBuf> = layers
        .iter()
        .rev()
        .map(|(_, l)| l.join(format!("nodejs/node{major}/node_modules")))
        .collect();
    paths.extend(layers.iter().rev().map(|(_, l)| l.join("nodejs/node_modules")));
    paths.extend([
        runtime_dir.join("node_modules"),
        runtime_dir.to_owned(),
        task_root.to_owned(),
    ]);
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// Runs `node` once: its absolute path and `process.version`.
fn probe(node: &Path) -> Result<(PathBuf, String), String> {
    let out = std::process::Command::new(node)
        .args(["-p", "process.version + ' ' + process.execPath"])
        .output()
        .map_err(|e| format!("cannot start {}: {e}", node.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.trim().split_once(' ') {
        Some((version, path)) if out.status.success() && version.starts_with('v') => {
            Ok((PathBuf::from(path), version.to_owned()))
        }
        _ => Err(format!(
            "{} did not answer as Node.js does ({})",
            node.display(),
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .lines()
                .last()
                .unwrap_or_default()
        )),
    }
}

/// Whether `node` starts with `flag`.
fn knows(node: &Path, flag: &str) -> bool {
    std::process::Command::new(node)
        .args([flag, "-e", "0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `v20.20.2` → 20.
fn version_major(version: &str) -> Option<u32> {
    version.strip_prefix('v')?.split('.').next()?.parse().ok()
}

/// The package's executable (its `bin`) and version.
fn read_package(package: &Path) -> Result<(PathBuf, String), String> {
    let manifest = package.join("package.json");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("is not installed in {} ({e})", package.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("has an unreadable {}: {e}", manifest.display()))?;
    let bin = match json.get("bin") {
        Some(serde_json::Value::String(s)) => Some(s.as_str()),
        Some(serde_json::Value::Object(m)) => m.get("aws-lambda-ric").and_then(serde_json::Value::as_str),
        _ => None,
    };
    let entry = bin
        .map(|b| absolute(&package.join(b)))
        .filter(|p| p.is_file())
        .ok_or_else(|| format!("has no executable (`bin`) in {}", manifest.display()))?;
    let version = json
        .get("version")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("(unknown version)")
        .to_owned();
    Ok((entry, version))
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_names_carry_the_node_major_version() {
        assert_eq!(major("nodejs20.x"), Some(20));
        assert_eq!(major("nodejs24.x"), Some(24));
        assert_eq!(major("nodejs"), None);
        assert_eq!(major("python3.12"), None);
        assert_eq!(version_major("v22.11.0"), Some(22));
        assert_eq!(version_major("22"), None);
    }

    #[test]
    fn node_path_is_lambdas_order() {
        let p = node_path(
            22,
            &[("A".into(), "/a".into()), ("B".into(), "/b".into())],
            Path::new("/ric"),
            Path::new("/task"),
        );
        assert_eq!(
            p,
            "/b/nodejs/node22/node_modules:/a/nodejs/node22/node_modules:/b/nodejs/node_modules:/a/nodejs/node_modules:/ric/node_modules:/ric:/task"
        );
    }

    /// A folder with a stand-in `node` that reports `version`, and a client package.
    fn fake(version: &str, with_addon: bool) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("node-ric-{}", crate::ids::random_hex(6)));
        let package = dir.join(RIC_PACKAGE);
        std::fs::create_dir_all(package.join("bin")).unwrap();
        std::fs::write(
            package.join("package.json"),
            r#"{"version": "9.9.9", "bin": {"aws-lambda-ric": "bin/index.mjs"}}"#,
        )
        .unwrap();
        std::fs::write(package.join("bin/index.mjs"), "").unwrap();
        if with_addon {
            std::fs::write(package.join("rapid-client.node"), "").unwrap();
        }
        let node = dir.join("node");
        std::fs::write(&node, format!("#!/bin/sh\necho {version} /usr/bin/node\n")).unwrap();
        std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    fn try_with(runtime: &str, version: &str, with_addon: bool) -> Result<Option<NodeSetup>, String> {
        let dir = fake(version, with_addon);
        let r = resolve("Fn", runtime, &dir.join("node"), &dir).map_err(|e| e.to_string());
        std::fs::remove_dir_all(&dir).unwrap();
        r
    }

    #[test]
    fn the_node_given_runs_the_runtime_with_a_warning_when_its_version_differs() {
        let same = try_with("nodejs20.x", "v20.20.2", true).unwrap().unwrap();
        assert_eq!(same.node_version, "v20.20.2");
        assert_eq!(same.ric_version, "9.9.9");
        assert!(same.entry.ends_with("bin/index.mjs"));
        // nodejs20.x's only warning: its deprecation.
        assert_eq!(same.warnings.len(), 1, "{:?}", same.warnings);
        assert!(
            same.warnings[0].contains("nodejs20.x is deprecated on Lambda since 30 April 2026"),
            "{:?}",
            same.warnings
        );
        assert_eq!(
            same.disabled,
            [(
                "--no-experimental-require-module",
                "--experimental-require-module"
            )]
        );
        let other = try_with("nodejs22.x", "v20.20.2", true).unwrap().unwrap();
        assert_eq!(other.warnings.len(), 1, "{:?}", other.warnings);
        assert!(
            other.warnings[0]
                .contains("nodejs22.x is Node.js 22 on Lambda; it runs here under Node.js v20.20.2"),
            "{:?}",
            other.warnings
        );
        assert_eq!(other.disabled.len(), 2);
        let newest = try_with("nodejs24.x", "v24.1.0", true).unwrap().unwrap();
        assert!(
            newest.warnings.is_empty() && newest.disabled.is_empty(),
            "{newest:?}"
        );
        // A newer name than Lambda offers today: only on a Node.js that new.
        let e = try_with("nodejs26.x", "v20.20.2", true).unwrap_err();
        assert!(e.contains("nodejs26.x needs Node.js 26 or newer"), "{e}");
        assert!(
            try_with("nodejs26.x", "v26.1.0", true)
                .unwrap()
                .unwrap()
                .warnings
                .is_empty()
        );
        // Deprecated or never offered.
        for old in ["nodejs18.x", "nodejs16.x", "nodejs23.x"] {
            let e = try_with(old, "v20.20.2", true).unwrap_err();
            assert!(
                e.contains("Lambda offers nodejs20.x, nodejs22.x and nodejs24.x"),
                "{e}"
            );
        }
        assert!(try_with("python3.12", "v20.20.2", true).unwrap().is_none());
    }

    #[test]
    fn a_missing_node_or_client_is_named_with_the_fix() {
        let e = try_with("nodejs20.x", "v20.20.2", false).unwrap_err();
        assert!(e.contains("no rapid-client.node"), "{e}");
        let e = try_with("nodejs20.x", "not-node", true).unwrap_err();
        assert!(e.contains("did not answer as Node.js does"), "{e}");
        let e = resolve("Fn", "nodejs20.x", Path::new("/nonexistent/node"), Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot start /nonexistent/node"), "{e}");
        let dir = fake("v20.1.0", true);
        let e = resolve("Fn", "nodejs20.x", &dir.join("node"), &dir.join("empty"))
            .unwrap_err()
            .to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            e.contains("is not installed in") && e.contains("make node-ric"),
            "{e}"
        );
    }
}
