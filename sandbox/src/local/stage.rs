//! What a function of the template needs on disk to run in the sandbox: its code folder (the
//! `sam build` output when there is one), a runtime `bootstrap` (the function's own for
//! `provided.*`, `awslambdaric` for Python), and its layers' extensions in one folder, as Lambda
//! merges the layers into `/opt`. An executable built for the other architecture runs under
//! qemu-user when it is installed.

use std::path::{Path, PathBuf};

use super::LocalError;
use super::template::{FunctionSpec, LayerRef, Template};
use crate::environment::process::is_executable;

/// The runtimes `local invoke` runs, for the error that names them.
pub(crate) const SUPPORTED: &str = "provided.al2023, provided.al2 (the function's bootstrap), python3.9 to python3.14 (under awslambdaric, AWS's runtime interface client) and nodejs20.x, nodejs22.x, nodejs24.x (under aws-lambda-ric, AWS's runtime interface client for Node.js)";

/// A function laid out for the sandbox. The temporary folder goes when it is dropped.
#[derive(Debug)]
pub(crate) struct Staged {
    pub(super) dir: PathBuf,
    /// The executable the sandbox starts as the runtime.
    pub(crate) bootstrap: PathBuf,
    /// `LAMBDA_TASK_ROOT` and the runtime's working directory.
    pub(crate) task_root: PathBuf,
    /// One folder with every layer's extensions (`extensions/NAME`).
    pub(crate) layer_dir: PathBuf,
    /// Variables the runtime needs to find the layers' code (`PYTHONPATH`, `LD_LIBRARY_PATH`).
    pub(crate) env: Vec<(String, String)>,
    /// What was used, for the log: one line each.
    pub(crate) notes: Vec<String>,
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Lays out `function`; `python` is the interpreter for Python runtimes.
pub(crate) fn stage(
    template: &Template,
    function: &FunctionSpec,
    python: &Path,
    node: Option<&super::node::NodeSetup>,
) -> Result<Staged, LocalError> {
    let Some(runtime) = function.runtime.clone() else {
        return super::image::stage(template, function);
    };
    // The code first: a function without it leaves no folder behind.
    let task_root = artifact(template, &function.id, function.code_uri.as_deref())?;
    let dir = new_dir()?;
    let mut staged = Staged {
        bootstrap: dir.join("bootstrap"),
        task_root,
        layer_dir: dir.join("opt"),
        env: Vec::new(),
        notes: Vec::new(),
        dir,
    };
    staged.notes.push(format!("code: {}", staged.task_root.display()));
    let layers = layer_folders(template, function)?;
    for (id, folder) in &layers {
        staged.add_extensions(id, folder, &function.architecture)?;
    }
    match runtime.as_str() {
        "provided.al2023" | "provided.al2" => {
            let own = staged.task_root.join("bootstrap");
            if !is_executable(&own) {
                return Err(LocalError::Runtime {
                    function: function.id.clone(),
                    message: format!(
                        "{} is not an executable file; a {runtime} function's code must hold its `bootstrap` (run `sam build` first)",
                        own.display()
                    ),
                });
            }
            let bootstrap = staged.bootstrap.clone();
            staged.place(&own, &bootstrap, "bootstrap", &function.architecture)?;
        }
        r if super::node::major(r).is_some() => {
            let setup = node.ok_or_else(|| LocalError::Runtime {
                function: function.id.clone(),
                message: format!("runtime {r}: no Node.js was resolved for it"),
            })?;
            super::node::stage(&mut staged, setup, &layers)?;
        }
        r if python_version(r).is_some() => {
            let script = format!(
                "#!/bin/sh\n# AWS's runtime interface client runs the handler, as in Lambda's Python images.\nexec {} -m awslambdaric \"$_HANDLER\"\n",
                shell_quote(&python.display().to_string())
            );
            write_executable(&staged.bootstrap, &script)?;
            staged.env.push((
                "PYTHONPATH".to_owned(),
                python_path(&staged.task_root, &layers, r),
            ));
            staged
                .notes
                .push(format!("runtime: {r} under awslambdaric ({})", python.display()));
        }
        other => {
            return Err(LocalError::Runtime {
                function: function.id.clone(),
                message: format!("runtime {other} is not supported; it runs {SUPPORTED}"),
            });
        }
    }
    // Lambda's LD_LIBRARY_PATH includes /var/task, /var/task/lib and /opt/lib.
    let mut libs = vec![staged.task_root.clone(), staged.task_root.join("lib")];
    libs.extend(layers.iter().rev().map(|(_, f)| f.join("lib")));
    staged.env.push(("LD_LIBRARY_PATH".to_owned(), join_paths(&libs)));
    Ok(staged)
}

/// A new temporary folder of this process with an empty `opt/extensions`, for one function.
fn new_dir() -> Result<PathBuf, LocalError> {
    let dir = std::env::temp_dir().join(format!(
        "lambda-sandbox-local-{}-{}",
        std::process::id(),
        crate::ids::random_hex(4)
    ));
    std::fs::create_dir_all(dir.join("opt/extensions")).map_err(|source| LocalError::Write {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

impl Staged {
    /// A new temporary folder with an empty `opt/extensions`, for an image function's layout.
    pub(super) fn empty() -> Result<Self, LocalError> {
        let dir = new_dir()?;
        Ok(Self {
            bootstrap: dir.join("bootstrap"),
            task_root: dir.clone(),
            layer_dir: dir.join("opt"),
            env: Vec::new(),
            notes: Vec::new(),
            dir,
        })
    }

    /// Adds `folder`'s extensions; a later layer's extension replaces an earlier one of the same
    /// name, as a later layer's files replace an earlier one's in `/opt`.
    pub(super) fn add_extensions(
        &mut self,
        id: &str,
        folder: &Path,
        architecture: &str,
    ) -> Result<(), LocalError> {
        let mut names = Vec::new();
        if let Ok(entries) = std::fs::read_dir(folder.join("extensions")) {
            let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for path in paths.into_iter().filter(|p| is_executable(p)) {
                let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                    continue;
                };
                let dest = self.layer_dir.join("extensions").join(&name);
                let _ = std::fs::remove_file(&dest);
                self.place(&path, &dest, &name, architecture)?;
                names.push(name);
            }
        }
        let listed = if names.is_empty() {
            "no extensions".to_owned()
        } else {
            format!("extensions: {}", names.join(", "))
        };
        self.notes
            .push(format!("layer {id}: {} ({listed})", folder.display()));
        Ok(())
    }

    /// Makes `dest` run `source`: a link when it runs here, a qemu-user wrapper when it is an
    /// executable of the other architecture.
    pub(super) fn place(
        &mut self,
        source: &Path,
        dest: &Path,
        name: &str,
        architecture: &str,
    ) -> Result<(), LocalError> {
        let machine = elf_machine(source);
        if let Some(m) = machine.filter(|m| *m != architecture) {
            self.notes.push(format!(
                "warning: {} is an {m} executable, but the function's architecture is {architecture} (build with the same architecture)",
                source.display()
            ));
        }
        let host = host_architecture();
        match machine {
            Some(m) if m != host => {
                let qemu = find_qemu(m).ok_or_else(|| LocalError::Architecture {
                    path: source.to_owned(),
                    machine: m,
                    host,
                })?;
                self.notes
                    .push(format!("{name}: {m} executable, run under {}", qemu.display()));
                let script = format!(
                    "#!/bin/sh\nexec {} -0 {} {} \"$@\"\n",
                    shell_quote(&qemu.display().to_string()),
                    shell_quote(name),
                    shell_quote(&absolute(source).display().to_string())
                );
                write_executable(dest, &script)
            }
            _ => std::os::unix::fs::symlink(absolute(source), dest).map_err(|source| LocalError::Write {
                path: dest.to_owned(),
                source,
            }),
        }
    }
}

/// A resource's folder: `sam build`'s output for it beside the template when there is one,
/// else its `CodeUri`/`ContentUri`.
fn artifact(template: &Template, id: &str, uri: Option<&str>) -> Result<PathBuf, LocalError> {
    let built = template.dir.join(".aws-sam/build").join(id);
    if built.is_dir() {
        return Ok(absolute(&built));
    }
    let source = uri.map(|u| template.dir.join(u));
    match source {
        Some(p) if p.is_dir() => Ok(absolute(&p)),
        _ => Err(LocalError::Artifact {
            id: id.to_owned(),
            tried: [Some(built), source].into_iter().flatten().collect(),
        }),
    }
}

fn layer_folders(template: &Template, function: &FunctionSpec) -> Result<Vec<(String, PathBuf)>, LocalError> {
    let mut out = Vec::new();
    for layer in &function.layers {
        match layer {
            LayerRef::Local(id) => {
                let spec = template.layer(id)?;
                out.push((id.clone(), artifact(template, id, spec.content_uri.as_deref())?));
            }
            LayerRef::Arn(arn) => {
                return Err(LocalError::Runtime {
                    function: function.id.clone(),
                    message: format!(
                        "layer {arn} is a published version, which cannot be fetched offline; add the layer's folder to the template as an AWS::Serverless::LayerVersion and reference it with !Ref"
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// `python3.12` → `3.12`, for the supported Python runtimes.
pub(crate) fn python_version(runtime: &str) -> Option<&str> {
    let v = runtime.strip_prefix("python")?;
    let minor: u32 = v.strip_prefix("3.")?.parse().ok()?;
    (9..=14).contains(&minor).then_some(v)
}

/// Lambda's Python path: the task root, then each layer's `python` and its site-packages
/// (a later layer first: its files would have replaced an earlier one's in `/opt`).
fn python_path(task_root: &Path, layers: &[(String, PathBuf)], runtime: &str) -> String {
    let mut paths = vec![task_root.to_owned()];
    for (_, layer) in layers.iter().rev() {
        paths.push(layer.join("python/lib").join(runtime).join("site-packages"));
        paths.push(layer.join("python"));
    }
    join_paths(&paths)
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned())
}

pub(crate) fn write_executable(path: &Path, text: &str) -> Result<(), LocalError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text)
        .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)))
        .map_err(|source| LocalError::Write {
            path: path.to_owned(),
            source,
        })
}

pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The Lambda architecture an ELF executable is built for (`None` for a script or another
/// machine).
fn elf_machine(path: &Path) -> Option<&'static str> {
    use std::io::Read;
    let mut head = [0u8; 20];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    if head.get(..4) != Some(b"\x7fELF".as_slice()) {
        return None;
    }
    let machine = u16::from_le_bytes([*head.get(18)?, *head.get(19)?]);
    match machine {
        62 => Some("x86_64"),
        183 => Some("arm64"),
        _ => None,
    }
}

fn host_architecture() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x86_64"
    }
}

fn find_qemu(machine: &str) -> Option<PathBuf> {
    let name = if machine == "arm64" {
        "qemu-aarch64"
    } else {
        "qemu-x86_64"
    };
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_runtimes_and_their_paths() {
        assert_eq!(python_version("python3.12"), Some("3.12"));
        assert_eq!(python_version("python3.9"), Some("3.9"));
        assert_eq!(python_version("python3.8"), None);
        assert_eq!(python_version("python2.7"), None);
        assert_eq!(python_version("nodejs22.x"), None);
        let p = python_path(
            Path::new("/task"),
            &[("A".into(), "/a".into()), ("B".into(), "/b".into())],
            "python3.12",
        );
        assert_eq!(
            p,
            "/task:/b/python/lib/python3.12/site-packages:/b/python:/a/python/lib/python3.12/site-packages:/a/python"
        );
    }

    #[test]
    fn reads_the_architecture_of_an_executable() {
        let exe = std::env::current_exe().unwrap();
        assert_eq!(elf_machine(&exe), Some(host_architecture()));
        let script = std::env::temp_dir().join(format!("script-{}", crate::ids::random_hex(4)));
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        assert_eq!(elf_machine(&script), None);
        std::fs::remove_file(&script).unwrap();
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
