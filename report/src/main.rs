//! `lambda-lens-report`: see `lambda_lens_report::cli::USAGE`.

use std::io::Write as _;
use std::process::ExitCode;

use lambda_lens_report::{ReportError, cli};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match cli::parse(&args, chrono::Utc::now()) {
        Ok(args) => match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt.block_on(cli::run(&args)),
            Err(e) => Err(ReportError::Usage(format!(
                "could not start the async runtime: {e}"
            ))),
        },
        Err(e) => Err(e),
    };
    match outcome {
        Ok(text) => {
            // Stdout closed (piped into `head`) is not an error worth a message.
            let _ = std::io::stdout().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "lambda-lens-report: {err}");
            ExitCode::from(if matches!(err, ReportError::Usage(_)) {
                2
            } else {
                1
            })
        }
    }
}
