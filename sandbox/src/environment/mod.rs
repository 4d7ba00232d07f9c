//! The environment the sandbox builds for a function and its extensions, and what it measures
//! of it:
//!
//! - [`process`]: the runtime and extension processes (spawned, signalled, reaped);
//! - [`output`]: their stdout and stderr, captured line by line;
//! - [`cgroup`]: the memory limit, the CPU share and the freezer (cgroup v1 or v2), or the
//!   `/proc` and `SIGSTOP` fallback without cgroups;
//! - [`namespace`]: the private mounts (`/etc/hosts` with `sandbox.localdomain`, a private
//!   `/tmp`);
//! - [`network`]: the private network (the environment's own network namespace, a veth pair to
//!   the sandbox, the connector that delivers telemetry from inside it);
//! - [`memory`]: resident memory per invocation (peaks, the sampler that enforces the limit
//!   without cgroups);
//! - [`procfs`]: the one reader of `/proc/<pid>` (status memory lines, peaks, CPU time,
//!   children), public for tools that measure processes the sandbox runs.

pub(crate) mod cgroup;
pub(crate) mod memory;
pub(crate) mod namespace;
pub(crate) mod network;
pub(crate) mod output;
pub(crate) mod process;
pub mod procfs;
