//! `lambda-lens-demo`: runs the demo scenario (see `lambda_lens_harness::demo`) and prints what the
//! extension reported per invocation. Writes every EMF line to `OUT/emf.jsonl`.
//!
//! With `--put-metric-data REPORT` (the layer built with `SINK=put-metric-data`): the scenario once, the metrics sent
//! with PutMetricData to a local CloudWatch (ministack), then the report binary `REPORT`
//! (`lambda-lens-report`) reads them back with GetMetricData and prints its table.
//!
//! Run 7 (alone with `--logging-only`): Lambda's advanced logging controls at JSON and WARN, the
//! log group as CloudWatch Logs would hold it (`OUT/log-group-json-warn.jsonl`), and the metrics
//! CloudWatch would extract from it beside the sandbox's reports.
//!
//! `lambda-lens-demo --help` lists the options.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line front end: the table and its errors are its output"
)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use lambda_lens_harness::demo::logging::{self, LoggingCase};
use lambda_lens_harness::demo::{self, DemoConfig, DemoReport};
use lambda_sandbox::{InitializationType, LogLevel, SandboxError};

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
enum DemoError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("could not create {}: {source}", .path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    CloudWatch(#[from] local_cloudwatch::CloudWatchError),
    #[error("could not run {}: {source}", .path.display())]
    Report { path: PathBuf, source: std::io::Error },
    #[error("could not write {}: {source}", .path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// Runs the demo scenario in the local sandbox and prints what lambda-lens reported.
#[derive(Debug, Parser)]
#[command(name = "lambda-lens-demo")]
struct Args {
    /// The sample function's bootstrap.
    #[arg(long, value_name = "PATH")]
    bootstrap: PathBuf,
    /// The layer folder (extensions/lambda-lens).
    #[arg(long, value_name = "DIR")]
    layer: PathBuf,
    /// Where every EMF line is written (emf.jsonl for run 1).
    #[arg(long, value_name = "DIR", default_value = "target/demo")]
    out: PathBuf,
    /// Echo the processes' output live.
    #[arg(long)]
    echo: bool,
    /// The scenario once with the PutMetricData sink (a layer built with SINK=put-metric-data) against a
    /// local CloudWatch, then this lambda-lens-report binary reads the metrics back.
    #[arg(long, value_name = "REPORT")]
    put_metric_data: Option<PathBuf>,
    /// Only run 7: one environment with the logging controls at JSON and WARN, and the metrics
    /// CloudWatch Logs would extract from its log group.
    #[arg(long, conflicts_with = "put_metric_data")]
    logging_only: bool,
}

fn main() -> ExitCode {
    let Args {
        bootstrap,
        layer,
        out,
        echo,
        put_metric_data,
        logging_only,
    } = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("lambda-lens-demo: could not start tokio: {err}");
            return ExitCode::FAILURE;
        }
    };
    let demo = match put_metric_data {
        Some(report) => runtime.block_on(demo_put_metric_data(bootstrap, layer, &report, echo)),
        None if logging_only => runtime.block_on(demo_logging(bootstrap, layer, &out, echo)),
        None => runtime.block_on(demo_all(bootstrap, layer, &out, echo)),
    };
    match demo {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("lambda-lens-demo: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Every metric on, so the demo shows the whole catalogue.
/// Every metric as a metric, in one document per invocation, so that each invocation of runs
/// 1 to 4 can be shown (the default output, adaptive, is in run 6).
fn all_metrics(mut config: DemoConfig) -> DemoConfig {
    config.env.push(("LAMBDA_LENS_METRICS".into(), "all".into()));
    config
        .env
        .push(("LAMBDA_LENS_OUTPUT".into(), "per-invocation".into()));
    config
}

fn write_lines(path: &Path, lines: &[String]) -> Result<(), DemoError> {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).map_err(|source| DemoError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Which `/tmp` the function had, and so what its `TmpUsed` measures.
fn tmp_line(tmp: &Result<u32, String>) -> String {
    match tmp {
        Ok(mb) => format!(
            "/tmp: the function's own ({mb} MB tmpfs, Lambda's default ephemeral storage), so TmpUsed is its own files."
        ),
        Err(why) => format!(
            "/tmp: the host's ({why}; a private one needs root), so TmpUsed is the host disk's use, not the function's."
        ),
    }
}

/// Checks a run; prints what is wrong. Returns whether it is clean.
fn clean(name: &str, report: &DemoReport, batched: bool) -> bool {
    let missing = if batched {
        0
    } else {
        report.steps.iter().filter(|s| s.reported.is_empty()).count()
    };
    for (line, problems) in &report.invalid {
        eprintln!("{name}: invalid EMF: {problems:?}\n  {line}");
    }
    let ok = missing == 0 && report.invalid.is_empty() && report.stray_stdout.is_empty();
    if !ok {
        eprintln!(
            "{name}: {missing} invocations not reported, {} invalid EMF lines, {} stray stdout lines",
            report.invalid.len(),
            report.stray_stdout.len()
        );
    }
    ok
}

/// The demo's settings, and `out` made.
fn base_config(bootstrap: PathBuf, layer: PathBuf, out: &Path, echo: bool) -> Result<DemoConfig, DemoError> {
    std::fs::create_dir_all(out).map_err(|source| DemoError::CreateDir {
        path: out.to_owned(),
        source,
    })?;
    let mut c = DemoConfig::new(bootstrap, layer);
    c.echo_output = echo;
    c.private_network = true;
    Ok(c)
}

async fn demo_logging(bootstrap: PathBuf, layer: PathBuf, out: &Path, echo: bool) -> Result<bool, DemoError> {
    logging_controls(&base_config(bootstrap, layer, out, echo)?, out).await
}

async fn demo_all(bootstrap: PathBuf, layer: PathBuf, out: &Path, echo: bool) -> Result<bool, DemoError> {
    let base = base_config(bootstrap, layer, out, echo)?;
    let mut ok = true;

    let steps = demo::scenario();
    println!(
        "1. On-demand: the sample function with the lambda-lens layer in the local sandbox, {} invocations, then shutdown\n   (runs 1 to 4: every metric, one document per invocation; the defaults are in run 6).\n",
        steps.len()
    );
    let main = demo::run(&all_metrics(base.clone()), &steps).await?;
    println!("   The sandbox's {}", main.isolation);
    println!("   {}\n", tmp_line(&main.tmp));
    print!("{}", demo::render(&main));
    ok &= clean("on-demand", &main, false);
    write_lines(&out.join("emf.jsonl"), &main.emf_lines)?;

    println!("\n2. SnapStart: an environment restored from its snapshot.\n");
    let mut snap = all_metrics(base.clone());
    snap.init_type = InitializationType::SnapStart;
    let snap = demo::run(&snap, &demo::snapstart_scenario()).await?;
    print!("{}", demo::render(&snap));
    ok &= clean("snap-start", &snap, false);
    write_lines(&out.join("emf-snapstart.jsonl"), &snap.emf_lines)?;

    println!("\n3. Lambda Managed Instances: four invocations at once in one environment.\n");
    let mut managed = all_metrics(base.clone());
    managed.init_type = InitializationType::LambdaManagedInstances;
    managed.concurrent = true;
    let managed = demo::run(&managed, &demo::managed_instances_scenario()).await?;
    let rows: Vec<[String; 4]> =
        std::iter::once(["step", "request", "ConcurrentInvocations", "Duration"].map(String::from))
            .chain(managed.steps.iter().map(|s| {
                [
                    s.label.to_owned(),
                    s.outcome.request_id.chars().take(8).collect(),
                    demo::reported(s, "ConcurrentInvocations").map_or("-".into(), |v| format!("{v:.0}")),
                    demo::reported(s, "Duration").map_or("-".into(), |v| format!("{v:.1}")),
                ]
            }))
            .collect();
    print!("{}", demo::table(&rows));
    ok &= clean("managed-instances", &managed, false);
    write_lines(&out.join("emf-managed-instances.jsonl"), &managed.emf_lines)?;

    println!("\n4. Lambda drops telemetry when a subscriber falls behind (a 3-record queue here).\n");
    let mut dropping = all_metrics(base.clone());
    dropping.telemetry_queue_limit = Some(3);
    let dropped = demo::run(&dropping, &demo::volume_scenario(4)).await?;
    let lost: f64 = dropped
        .emf_lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(l).ok())
        .filter_map(|d| demo::metric(&d, "LogsDroppedRecords"))
        .sum();
    let reported = dropped.steps.iter().filter(|s| !s.reported.is_empty()).count();
    println!(
        "{lost:.0} records dropped; {reported} of {} invocations still reported (from what arrived).",
        dropped.steps.len()
    );
    ok &= clean("logs-dropped", &dropped, false);
    write_lines(&out.join("emf-logs-dropped.jsonl"), &dropped.emf_lines)?;

    println!("\n5. Every metric lambda-lens wrote in runs 1 to 4:\n");
    let all_lines: Vec<&String> = [&main, &snap, &managed, &dropped]
        .into_iter()
        .flat_map(|r| &r.emf_lines)
        .collect();
    print!("{}", demo::render_summary(&demo::summarize(all_lines)));

    let n = 50;
    println!(
        "\n6. Log volume: {n} invocations (a cold start, then warm), default metrics, in each output mode.\n"
    );
    let mut rows = vec![["output mode", "EMF documents", "bytes per invocation"].map(String::from)];
    for (mode, env) in [
        ("adaptive (default)", vec![]),
        ("per-invocation", vec![("LAMBDA_LENS_OUTPUT", "per-invocation")]),
        ("batched", vec![("LAMBDA_LENS_OUTPUT", "batched")]),
        (
            "batched, compact",
            vec![
                ("LAMBDA_LENS_OUTPUT", "batched"),
                ("LAMBDA_LENS_COMPACT_VALUES", "true"),
            ],
        ),
    ] {
        let mut config = base.clone();
        config.env = env
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let report = demo::run(&config, &demo::volume_scenario(n)).await?;
        ok &= clean(mode, &report, mode != "per-invocation");
        rows.push([
            mode.to_owned(),
            report.emf_lines.len().to_string(),
            format!("{:.0}", demo::bytes_per_invocation(&report)),
        ]);
        let file = format!(
            "emf-volume-{}.jsonl",
            mode.replace(" (default)", "").replace(", ", "-")
        );
        write_lines(&out.join(file), &report.emf_lines)?;
    }
    print!("{}", demo::table(&rows));

    ok &= logging_controls(&base, out).await?;
    println!(
        "\nEvery EMF line the extension printed: {}/emf*.jsonl",
        out.display()
    );
    Ok(ok)
}

/// Run 7: one environment with Lambda's advanced logging controls at JSON and WARN, its log group
/// as CloudWatch Logs would hold it, and the metrics CloudWatch would extract from it beside the
/// sandbox's reports. Returns whether they are equal.
async fn logging_controls(base: &DemoConfig, out: &Path) -> Result<bool, DemoError> {
    let case = LoggingCase::new("JSON, WARN", logging::json_at(LogLevel::Warn));
    let steps = logging::logging_scenario();
    println!(
        "\n7. Logging controls: LogFormat JSON, ApplicationLogLevel WARN (lines below WARN are not sent; a JSON line \
         without a level is INFO), lambda-lens's defaults; {} invocations: {}.\n",
        steps.len(),
        steps.iter().map(|s| s.label).collect::<Vec<_>>().join("; ")
    );
    let (result, report) = logging::run_case(base, &case, &steps).await?;
    let group = &report.log_group;
    let file = out.join("log-group-json-warn.jsonl");
    std::fs::write(&file, group.to_json_lines()).map_err(|source| DemoError::Write {
        path: file.clone(),
        source,
    })?;
    println!(
        "   The log group {} holds {} events ({}): {} EMF documents, {} other lines (the function's INFO \
         lines are not among them).\n",
        group.name,
        group.events.len(),
        file.display(),
        (group.events.len() as u64).saturating_sub(result.extraction.not_emf),
        result.extraction.not_emf,
    );
    print!("{}", logging::render_checks(&result));
    let ok = result.as_expected();
    if ok {
        println!("\n   Every metric CloudWatch Logs would extract equals the sandbox's reports.");
    } else {
        eprintln!("logging controls: {}", result.differences().join("; "));
    }
    Ok(ok)
}

/// The scenario with the PutMetricData sink against a local CloudWatch, then the report read
/// back from it.
async fn demo_put_metric_data(
    bootstrap: PathBuf,
    layer: PathBuf,
    report: &Path,
    echo: bool,
) -> Result<bool, DemoError> {
    let cloudwatch = local_cloudwatch::LocalCloudWatch::start()?;
    let mut config = DemoConfig::new(bootstrap, layer);
    config.echo_output = echo;
    config.env = cloudwatch.client_env();
    config
        .env
        .push(("LAMBDA_LENS_SINK".into(), "put-metric-data".into()));
    config.env.push(("LAMBDA_LENS_METRICS".into(), "all".into()));
    println!(
        "The demo scenario with the PutMetricData sink (LAMBDA_LENS_SINK=put-metric-data), sending to a local CloudWatch \
         (ministack, {}):\n",
        cloudwatch.endpoint_url()
    );
    let steps = demo::scenario();
    let run = demo::run(&config, &steps).await?;
    let labels: Vec<&str> = steps.iter().map(|s| s.label).collect();
    println!("{} invocations: {}.", run.steps.len(), labels.join("; "));
    println!(
        "{} EMF documents on the extension's stdout (the fallback, when a request fails).\n\n\
         lambda-lens-report, reading the local CloudWatch with GetMetricData (it holds no AWS/Lambda, so \
         what only Lambda publishes is not answered):\n",
        run.emf_lines.len()
    );
    let status = std::process::Command::new(report)
        .args([
            "--function",
            &config.function_name,
            "--since",
            "1h",
            "--timeout",
            "1s",
        ])
        .envs(cloudwatch.client_env())
        .status()
        .map_err(|source| DemoError::Report {
            path: report.to_owned(),
            source,
        })?;
    Ok(status.success())
}
