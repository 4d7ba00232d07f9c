//! The `lambda-lens` executable: read the configuration, set up logging, run.

use std::panic::AssertUnwindSafe;
use std::process::ExitCode;

/// The exit status of a panic, as Rust's own.
const PANICKED: u8 = 101;

fn main() -> ExitCode {
    // Lambda starts an extension without arguments (class d: the Extensions API documents none),
    // so `--version` is for a person or a scanner looking at the layer's file. Any other
    // argument is ignored: nothing given on a command line may keep the extension from running.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == "--version" || arg == "-V")
    {
        return print_version();
    }
    let (config, warnings) = lambda_lens::Config::from_env();
    let logging_warning = lambda_lens::init_logging(&config);
    // The first line: the version, then what lambda-lens does about Lambda's logging controls,
    // at a level Lambda's filter keeps.
    lambda_lens::log_logging_controls(&config);
    // Warnings about the configuration at a level Lambda's filter keeps.
    if let Some(warning) = logging_warning {
        lambda_lens::log_config_warning(&config, &warning);
    }
    for warning in warnings {
        lambda_lens::log_config_warning(&config, &warning.to_string());
    }
    // A panic anywhere (a task, a dependency) is logged as an error line in the extension's log
    // format, naming the part that crashed; it ends the process with a failure, never with 0 or
    // a hang. The release build aborts on panic (`panic = "abort"`: no unwinding code or tables,
    // a smaller binary, BENCHMARKS.md), so there the hook itself ends the process, with
    // the status an unwinding build gives: 1 for the telemetry thread, whose crash `run`
    // reports, 101 for the rest. It exits rather than letting the abort raise SIGABRT, which
    // could leave a core dump behind under a local emulator.
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(ToString::to_string).unwrap_or_default();
        let message = lambda_lens::panic_message(info.payload()).unwrap_or_default();
        let (part, status) = lambda_lens::crashed_part(std::thread::current().name());
        tracing::error!(%location, message = %lambda_lens::clip(message), "lambda-lens panicked: {part} crashed");
        if cfg!(panic = "abort") {
            std::process::exit(status.into());
        }
    }));
    // One thread answers the Extensions API (the telemetry work has a thread of its own, started
    // by `run`): it keeps memory and start-up small.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "could not start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(lambda_lens::run(config))));
    // A write to a stdout nobody reads may still hold a blocking-pool thread: do not wait for it
    // (the last write has had its share of the deadline already).
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            tracing::error!(error = %err, "lambda-lens stopped");
            ExitCode::FAILURE
        }
        Err(_) => ExitCode::from(PANICKED),
    }
}

/// `lambda-lens --version`: the version line on stdout, as command-line tools print it. Only
/// here, outside Lambda, does anything but the stdout sink write to stdout.
fn print_version() -> ExitCode {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{}", lambda_lens::version_line()).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
