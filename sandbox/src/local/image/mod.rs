//! `PackageType: Image` functions: the template names a local OCI image layout with
//! `ImageUri: oci:<dir>:<tag>` (skopeo's and podman's name for an image in a layout; `<dir>`
//! relative to the template), because `sam local invoke` runs the image `ImageUri` names and
//! the sandbox has no container engine to run a Docker image with.
//!
//! Lambda runs an image's `ENTRYPOINT` followed by its `CMD` as the runtime process, from its
//! `WORKDIR`, with the image's `ENV` under Lambda's own variables, and the executables of the
//! image's `/opt/extensions` as extensions (a: "Working with Lambda container images", "Lambda
//! extensions in container images"); the function's `ImageConfig` (`EntryPoint`, `Command`,
//! `WorkingDirectory`) overrides the image's (a). The sandbox unpacks the image for the
//! function's architecture (layers in order, whiteouts applied) into a root folder and runs
//! that the way it runs a zip function: processes on the host, with the paths Lambda would give
//! them (the entrypoint, the working directory, `/opt/extensions`, `LAMBDA_TASK_ROOT`,
//! `LAMBDA_RUNTIME_DIR` and `PATH`) mapped into the root. A path the image's programs name
//! themselves is not mapped: runtimes that are one static executable (a `provided.al2023`
//! bootstrap, the extension) run as on Lambda; an interpreter or library the image brings is
//! the host's own when the host has one.

mod layout;
mod unpack;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::LocalError;
use super::stage::{Staged, shell_quote, write_executable};
use super::template::{FunctionSpec, Template};

/// Lambda's reserved variables (a: "Defined runtime environment variables"): an image's `ENV`
/// cannot replace them. `LAMBDA_TASK_ROOT` and `LAMBDA_RUNTIME_DIR` are left out: the AWS base
/// images set them with `ENV` (a), and the sandbox maps the image's values into the root.
const RESERVED: [&str; 16] = [
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "TZ",
];
/// The `PATH` of an image that sets none (Docker's default for Linux images).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `oci:<dir>[:<tag>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef {
    pub(crate) dir: PathBuf,
    /// `None`: the layout's only image.
    pub(crate) tag: Option<String>,
}

/// Reads `uri`; `base` is the template's folder.
pub(crate) fn parse_reference(uri: &str, base: &Path) -> Result<ImageRef, String> {
    let Some(rest) = uri.strip_prefix("oci:") else {
        return Err(format!(
            "{uri:?} is not a local OCI image layout: name one as oci:<dir>:<tag> (the sandbox runs no container engine; copy an image there with `skopeo copy docker://{uri} oci:<dir>:<tag>`, or `skopeo copy docker-daemon:<name>:<tag> oci:<dir>:<tag>` for one `sam build` or `docker build` made)"
        ));
    };
    // skopeo's split: the folder ends at the first colon.
    let (dir, tag) = match rest.split_once(':') {
        Some((d, t)) => (d, Some(t.to_owned()).filter(|t| !t.is_empty())),
        None => (rest, None),
    };
    if dir.is_empty() {
        return Err(format!("{uri:?} names no folder: oci:<dir>:<tag>"));
    }
    Ok(ImageRef {
        dir: base.join(dir),
        tag,
    })
}

/// The image-spec's name for a Lambda architecture.
fn oci_architecture(lambda: &str) -> &'static str {
    if lambda == "arm64" { "arm64" } else { "amd64" }
}

/// What the function's `ImageConfig` overrides.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ImageConfig {
    pub(crate) entry_point: Option<Vec<String>>,
    pub(crate) command: Option<Vec<String>>,
    pub(crate) working_directory: Option<String>,
}

/// The process an image runs: ENTRYPOINT + CMD, from WORKDIR, with ENV.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Process {
    pub(crate) argv: Vec<String>,
    pub(crate) working_dir: String,
    pub(crate) env: Vec<(String, String)>,
}

impl Process {
    /// From the image's config (`config.config`), with the function's overrides.
    pub(crate) fn of(config: &Value, overrides: &ImageConfig) -> Self {
        let list = |key: &str| -> Vec<String> {
            config
                .pointer(&format!("/config/{key}"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        // (d) An EntryPoint override leaves the image's CMD unless Command is given too: the
        // API documents the three overrides apart.
        let mut argv = overrides
            .entry_point
            .clone()
            .unwrap_or_else(|| list("Entrypoint"));
        argv.extend(overrides.command.clone().unwrap_or_else(|| list("Cmd")));
        let working_dir = overrides
            .working_directory
            .clone()
            .or_else(|| {
                config
                    .pointer("/config/WorkingDir")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".to_owned());
        let env = list("Env")
            .into_iter()
            .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        Self {
            argv,
            working_dir,
            env,
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `path` of the image (absolute, or relative to `cwd` of the image) as a path under `root`.
fn in_root(root: &Path, cwd: &str, path: &str) -> PathBuf {
    let joined = if path.starts_with('/') {
        PathBuf::from(path)
    } else {
        Path::new(cwd).join(path)
    };
    root.join(joined.strip_prefix("/").unwrap_or(&joined))
}

/// Follows symbolic links of the image inside `root` (an absolute target is the image's
/// path, not the host's).
fn resolve_links(root: &Path, mut path: PathBuf) -> PathBuf {
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&path) else {
            return path;
        };
        path = if target.is_absolute() {
            root.join(target.strip_prefix("/").unwrap_or(&target))
        } else {
            path.parent().map_or_else(|| target.clone(), |p| p.join(&target))
        };
    }
    path
}

/// `a:b` of the image's folders as the same folders under `root`.
fn map_path_list(root: &Path, list: &str) -> Vec<PathBuf> {
    list.split(':')
        .filter(|p| p.starts_with('/'))
        .map(|p| in_root(root, "/", p))
        .collect()
}

/// Lays out the image function `function` for the sandbox.
pub(crate) fn stage(template: &Template, function: &FunctionSpec) -> Result<Staged, LocalError> {
    let id = &function.id;
    let property = |key: &str, message: String| LocalError::Property {
        what: format!("{id}.{key}"),
        message,
    };
    if !function.layers.is_empty() {
        return Err(property(
            "Layers",
            "Lambda takes no layers for a container image function (a): copy them into the image (COPY --from=<image> /opt/extensions /opt/extensions)".to_owned(),
        ));
    }
    let uri = match template.function_property(id, "ImageUri")? {
        Some(v) => v,
        None => template
            .function_property(id, "Code")?
            .and_then(|c| c.get("ImageUri").cloned())
            .ok_or_else(|| {
                property(
                    "ImageUri",
                    "PackageType Image needs ImageUri: oci:<dir>:<tag>, a local OCI image layout (building a Dockerfile needs a container engine; `skopeo copy docker-daemon:<name>:<tag> oci:<dir>:<tag>` copies an image it built)".to_owned(),
                )
            })?,
    };
    let uri = super::template::scalar_string(&uri)
        .ok_or_else(|| property("ImageUri", format!("{uri} is not a string")))?;
    let reference = parse_reference(&uri, &template.dir).map_err(|m| property("ImageUri", m))?;
    let overrides = image_config(template, id)?;
    let architecture = oci_architecture(&function.architecture);
    let image = layout::Layout::open(&reference.dir)
        .and_then(|l| {
            let tag = match &reference.tag {
                Some(t) => t.clone(),
                None => l.only_tag()?,
            };
            l.image(&tag, architecture).map(|i| (l, i))
        })
        .map_err(|m| property("ImageUri", format!("{uri}: {m}")))?;
    let (layout, image) = image;
    let configured = image.config.get("architecture").and_then(Value::as_str);
    if configured != Some(architecture) {
        return Err(property(
            "Architectures",
            format!(
                "{uri} is a linux/{} image and the function's architecture is {} (Lambda would fail to start it: build the image for linux/{architecture}, or set Architectures to match)",
                configured.unwrap_or("?"),
                function.architecture
            ),
        ));
    }
    let process = Process::of(&image.config, &overrides);
    if process.argv.is_empty() {
        return Err(property(
            "ImageConfig",
            format!(
                "{uri} has no ENTRYPOINT or CMD, and ImageConfig sets neither: Lambda would have nothing to run"
            ),
        ));
    }

    let mut staged = Staged::empty()?;
    let write_error = |path: &Path, source: std::io::Error| LocalError::Write {
        path: path.to_owned(),
        source,
    };
    let root = staged.dir.join("rootfs");
    std::fs::create_dir_all(&root).map_err(|e| write_error(&root, e))?;
    let mut skipped = 0;
    for layer in &image.layers {
        let blob = layout
            .blob_path(&layer.digest)
            .map_err(|m| property("ImageUri", m))?;
        skipped += unpack::apply(&root, &blob, layer.compression)
            .map_err(|m| property("ImageUri", format!("{uri}: layer {}: {m}", layer.digest)))?;
    }
    staged.notes.push(format!(
        "image: {uri} (linux/{architecture}, {} layers) unpacked into {}{}",
        image.layers.len(),
        root.display(),
        if skipped > 0 {
            format!(" ({skipped} devices, FIFOs or paths outside the root skipped)")
        } else {
            String::new()
        }
    ));
    if image.from_index {
        staged.notes.push(format!(
            "warning: {uri} is an image index (several platforms); the sandbox took its linux/{architecture} image, but Lambda refuses a multi-architecture image for a function (a): push that image alone (skopeo copy --override-arch {architecture} oci:... docker://...)"
        ));
    }

    // The runtime: ENTRYPOINT + CMD from WORKDIR, as a script the sandbox starts as bootstrap.
    let search = process.var("PATH").unwrap_or(DEFAULT_PATH).to_owned();
    let (program, args) = process
        .argv
        .split_first()
        .map(|(p, a)| (p.clone(), a.to_vec()))
        .unwrap_or_default();
    let executable = if program.contains('/') {
        Some(resolve_links(
            &root,
            in_root(&root, &process.working_dir, &program),
        ))
    } else {
        map_path_list(&root, &search)
            .into_iter()
            .map(|d| resolve_links(&root, d.join(&program)))
            .find(|p| crate::environment::process::is_executable(p))
    };
    let command = match executable {
        Some(path) if crate::environment::process::is_executable(&path) => {
            let link = staged.dir.join("entrypoint");
            staged.place(&path, &link, &program, &function.architecture)?;
            link.display().to_string()
        }
        Some(path) => {
            return Err(property(
                "ImageConfig",
                format!(
                    "the entrypoint {program} is not an executable file of the image ({} after unpacking)",
                    path.display()
                ),
            ));
        }
        None => {
            staged.notes.push(format!(
                "warning: {program} is not in the image's PATH ({search}); the host's is run"
            ));
            program.clone()
        }
    };
    let working_dir = in_root(&root, "/", &process.working_dir);
    std::fs::create_dir_all(&working_dir).map_err(|e| write_error(&working_dir, e))?;
    let mut script = String::from(
        "#!/bin/sh\n# The image's ENTRYPOINT and CMD, run from its WORKDIR as Lambda runs them.\n",
    );
    script.push_str(&format!(
        "cd {} || exit 127\n",
        shell_quote(&working_dir.display().to_string())
    ));
    if let Some(libraries) = process.var("LD_LIBRARY_PATH") {
        // Only for the runtime's own program: set for every process, it would load the image's
        // C library into the host's shell that starts them.
        let mapped = map_path_list(&root, libraries);
        script.push_str(&format!(
            "export LD_LIBRARY_PATH={}\n",
            shell_quote(&join(&mapped))
        ));
    }
    script.push_str("exec");
    for word in std::iter::once(&command).chain(&args) {
        script.push(' ');
        script.push_str(&shell_quote(word));
    }
    script.push('\n');
    let bootstrap = staged.bootstrap.clone();
    write_executable(&bootstrap, &script)?;
    staged.notes.push(format!(
        "runtime: {} from {}",
        serde_json::to_string(&process.argv).unwrap_or_default(),
        process.working_dir
    ));

    // LAMBDA_TASK_ROOT: the image's (the base images set /var/task), else Lambda's /var/task.
    staged.task_root = in_root(&root, "/", process.var("LAMBDA_TASK_ROOT").unwrap_or("/var/task"));
    staged.env = image_env(&root, &process);
    staged.add_extensions("(image)", &root.join("opt"), &function.architecture)?;
    Ok(staged)
}

/// The image's `ENV` the processes get: Lambda's reserved variables left to Lambda, the
/// folders of `PATH` and `LAMBDA_RUNTIME_DIR` mapped into the root (`PATH` then goes on with
/// the host's, where the host's shell and tools are).
fn image_env(root: &Path, process: &Process) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, value) in &process.env {
        if RESERVED.contains(&key.as_str()) || key == "LAMBDA_TASK_ROOT" || key == "LD_LIBRARY_PATH" {
            continue;
        }
        let value = match key.as_str() {
            "PATH" => {
                let mut dirs = map_path_list(root, value);
                dirs.extend(std::env::split_paths(
                    &std::env::var_os("PATH").unwrap_or_default(),
                ));
                join(&dirs)
            }
            "LAMBDA_RUNTIME_DIR" if value.starts_with('/') => in_root(root, "/", value).display().to_string(),
            _ => value.clone(),
        };
        out.retain(|(k, _): &(String, String)| k != key);
        out.push((key.clone(), value));
    }
    out
}

fn join(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// The function's `ImageConfig`.
fn image_config(template: &Template, id: &str) -> Result<ImageConfig, LocalError> {
    let what = format!("{id}.ImageConfig");
    let Some(value) = template.function_property(id, "ImageConfig")? else {
        return Ok(ImageConfig::default());
    };
    let bad = |message: String| LocalError::Property {
        what: what.clone(),
        message,
    };
    let Value::Object(map) = value else {
        return Err(bad(format!(
            "{value} is not a mapping of EntryPoint, Command, WorkingDirectory"
        )));
    };
    let list = |key: &str, v: &Value| -> Result<Vec<String>, LocalError> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(super::template::scalar_string)
                    .collect::<Option<Vec<_>>>()
            })
            .and_then(|l| l)
            .ok_or_else(|| bad(format!("{key}: {v} is not a list of strings")))
    };
    let mut out = ImageConfig::default();
    for (key, v) in &map {
        match key.as_str() {
            "EntryPoint" => out.entry_point = Some(list(key, v)?),
            "Command" => out.command = Some(list(key, v)?),
            "WorkingDirectory" => {
                out.working_directory = Some(
                    super::template::scalar_string(v)
                        .ok_or_else(|| bad(format!("WorkingDirectory: {v} is not a string")))?,
                );
            }
            other => {
                return Err(bad(format!(
                    "{other} is not an ImageConfig property (EntryPoint, Command, WorkingDirectory)"
                )));
            }
        }
    }
    Ok(out)
}
