//! `bootstrap`: a Lambda function (custom runtime `provided.al2023`) whose payload makes it
//! exercise every metric lambda-lens measures. See `payload.rs` for the accepted fields.

mod error;
mod handler;
mod order;
mod payload;
mod response;
mod work;

use std::sync::Arc;

use lambda_runtime::{Error, service_fn};

/// Variables `lambda_runtime` needs; it panics without them, so check first and say which.
const REQUIRED_ENV: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

#[derive(Debug, thiserror::Error)]
#[error(
    "environment variable {0} is not set; run this binary inside Lambda or set it (see the Runtime API docs)"
)]
struct MissingEnv(&'static str);

/// Logs to stderr as Lambda shows them: no colour codes, JSON when the function's log format is
/// JSON, level from `AWS_LAMBDA_LOG_LEVEL` (INFO by default).
fn init_logging() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .and_then(|l| l.parse::<tracing::level_filters::LevelFilter>().ok())
        .unwrap_or(tracing::level_filters::LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .without_time()
        .with_max_level(level);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

fn main() -> Result<(), Error> {
    init_logging();
    if let Some(missing) = REQUIRED_ENV
        .into_iter()
        .find(|name| std::env::var_os(name).is_none())
    {
        return Err(MissingEnv(missing).into());
    }
    let settings = Arc::new(handler::Settings::from_env());
    // On Lambda Managed Instances, AWS_LAMBDA_MAX_CONCURRENCY asks one process to serve several
    // invocations at once: then a multi-threaded runtime, so CPU work does not serialise them.
    // Everywhere else one invocation at a time, on one thread.
    let concurrent = std::env::var("AWS_LAMBDA_MAX_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .is_some_and(|n| n > 1);
    let runtime = if concurrent {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    };
    runtime.block_on(lambda_runtime::run_concurrent(service_fn(move |event| {
        handler::handle(event, Arc::clone(&settings))
    })))
}
