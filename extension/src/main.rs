//! The `lambda-lens` executable: read the configuration, set up logging, run.

use std::process::ExitCode;

fn main() -> ExitCode {
    let (config, warnings) = lambda_lens::Config::from_env();
    if let Some(warning) = lambda_lens::init_logging(&config) {
        tracing::warn!("{warning}");
    }
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    // One thread is plenty for an extension and keeps its memory and start-up small.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "could not start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(lambda_lens::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "lambda-lens stopped");
            ExitCode::FAILURE
        }
    }
}
