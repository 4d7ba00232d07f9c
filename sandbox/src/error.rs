//! Typed errors of the sandbox.

use std::path::PathBuf;

/// Everything that can stop the sandbox from doing what a caller asked.
///
/// A failing *function* (timeout, crash, out of memory) is not an error: it is reported in
/// [`crate::InvokeOutcome`], as Lambda reports it in telemetry.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The configuration cannot describe a Lambda environment.
    #[error("invalid sandbox configuration: {0}")]
    Config(String),
    /// A mode of Lambda that this sandbox does not play yet.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The listener for the Runtime, Extensions and Telemetry APIs could not be bound.
    #[error("cannot bind the sandbox API listener on {addr}: {source}")]
    Bind {
        /// Address that was asked for (set `Config::bind` to another one).
        addr: std::net::SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A process (bootstrap or extension) could not be started.
    #[error("cannot start {path}: {source} (is it an executable file?)")]
    Spawn {
        /// The executable.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The layer directory could not be read.
    #[error("cannot read the extensions of layer {path}: {source}")]
    Layer {
        /// The `extensions/` folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// `invoke` or `shutdown` was called after `shutdown`.
    #[error("the sandbox has been shut down; start a new one")]
    ShutDown,
}
