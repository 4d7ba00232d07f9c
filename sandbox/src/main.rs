//! `lambda-sandbox`: run a Lambda function and its extensions locally (see `--help`).

fn main() -> std::process::ExitCode {
    lambda_sandbox::cli::main()
}
