//! The extension's own logs: `tracing` to stderr (Lambda sends it to the function's log group),
//! plain text or JSON as `AWS_LAMBDA_LOG_FORMAT` says. Stdout is reserved for EMF.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::Config;

/// Installs the global subscriber. Returns a warning when the filter text was not understood
/// (the default, INFO, is used then).
pub fn init_logging(config: &Config) -> Option<String> {
    let config = &config.log;
    let (filter, warning) = match config.filter.parse::<Targets>() {
        Ok(filter) => (filter, None),
        Err(err) => (
            Targets::new().with_default(LevelFilter::INFO),
            Some(format!(
                "log filter {:?} is not understood ({err}); expected a level (TRACE, DEBUG, INFO, WARN, ERROR) or target=level list; using INFO",
                config.filter
            )),
        ),
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    let registry = tracing_subscriber::registry().with(filter);
    let installed = if config.json {
        registry.with(layer.json().flatten_event(true)).try_init()
    } else {
        registry.with(layer).try_init()
    };
    if installed.is_err() {
        return Some("a log subscriber was already installed".to_owned());
    }
    warning
}
