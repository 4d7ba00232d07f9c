//! The command line, and the one `run` the binary calls.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::assemble::{Options, assemble};
use crate::error::ReportError;
use crate::fleet::{Filter, FleetOptions, SortKey};
use crate::model::Report;
use crate::observe::Window;
use crate::source::{Source, cloudwatch::CloudWatch};

pub const USAGE: &str = "\
lambda-lens-report: how a Lambda function is doing over a time window, and what memory size it needs.

usage:
  lambda-lens-report --function NAME [--since 24h | --start TIME --end TIME] [--region REGION]
  lambda-lens-report --emf FILE [--emf FILE ...] [--function NAME]
  lambda-lens-report --all [--functions A,B | --prefix P | --tag KEY=VALUE ...] [--sort KEY] [--compare-to 7d]

where the figures come from:
  (default)            CloudWatch GetMetricData: AWS/Lambda and lambda-lens's namespace, dimension
                       FunctionName. Credentials and region as the AWS CLI finds them (AWS_PROFILE,
                       AWS_ACCESS_KEY_ID, AWS_REGION, ~/.aws/config); needs cloudwatch:GetMetricData.
  --emf FILE           EMF documents lambda-lens wrote (e.g. target/demo/emf.jsonl, or lines exported
                       from the function's log group). Without a window, the documents' own span.
  --namespace NS       lambda-lens's namespace (LambdaLens)
  --region REGION      the region to read (default: the AWS chain's)

window:
  --since DURATION     the last DURATION up to now, e.g. 90m, 24h, 7d (default 24h)
  --start TIME --end TIME   RFC 3339 times, e.g. 2026-12-01T08:00:00Z

what CloudWatch does not hold:
  --timeout DURATION   the function's configured timeout, e.g. 30s or 900s (for duration against it)
  --memory MB          the memory size, when no metric says it
  --headroom PERCENT   headroom kept over the observed peak by the recommendation (20)
  --arm64              arm64 prices when the cost is estimated from durations

the fleet (--all: every function with lambda-lens data in the window; docs/report.md):
  --all                one row per function, ranked, with the totals; needs cloudwatch:ListMetrics too
  --functions A,B,C    only these functions
  --prefix P           only functions whose name starts with P
  --tag KEY=VALUE      only functions with this resource tag (repeatable: all must match; needs
                       tag:GetResources)
  --sort KEY           attention (default: what needs attention first), errors, timeouts, oom,
                       duration, cold-starts, memory, cost, saving, invocations, name
  --compare-to DURATION  also read the previous window of this length (ending where this one
                       starts) and say what moved: new errors, a p99 that doubled, a cost that grew
  --timeout DURATION   with --all, taken as every function's timeout

output:
  (default)            a table
  --json               JSON instead (shape in docs/report.md)
  --html FILE          also write one self-contained HTML page with charts
  -h, --help           this text
";

/// The command line as clap reads it; [`parse`] checks the combinations and builds [`Args`].
#[derive(Debug, clap::Parser)]
#[command(
    name = "lambda-lens-report",
    disable_help_flag = true,
    disable_version_flag = true
)]
struct Cli {
    #[arg(long)]
    function: Option<String>,
    #[arg(long)]
    region: Option<String>,
    #[arg(long, default_value = "LambdaLens")]
    namespace: String,
    #[arg(long)]
    emf: Vec<PathBuf>,
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    start: Option<String>,
    #[arg(long)]
    end: Option<String>,
    #[arg(long)]
    timeout: Option<String>,
    #[arg(long)]
    memory: Option<String>,
    #[arg(long)]
    headroom: Option<String>,
    #[arg(long)]
    arm64: bool,
    #[arg(long)]
    json: bool,
    #[arg(long)]
    html: Option<PathBuf>,
    #[arg(short = 'h', long)]
    help: bool,
    #[arg(long)]
    all: bool,
    #[arg(long, value_delimiter = ',')]
    functions: Vec<String>,
    #[arg(long)]
    prefix: Option<String>,
    #[arg(long)]
    tag: Vec<String>,
    #[arg(long, value_enum)]
    sort: Option<SortKey>,
    #[arg(long)]
    compare_to: Option<String>,
}

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct Args {
    pub function: Option<String>,
    pub source: Source,
    pub window: Option<Window>,
    pub timeout_ms: Option<f64>,
    pub memory_mb: Option<f64>,
    pub headroom_percent: f64,
    pub arm64: bool,
    pub json: bool,
    pub html: Option<PathBuf>,
    pub help: bool,
    /// `--all` (and its options): the fleet report instead of one function's.
    pub fleet: Option<FleetOptions>,
    /// When the command runs: the end of a `--since` window, and what CloudWatch's retention is
    /// measured from (the shortest period it answers for an old window; discovery narrows its
    /// listing to recent metrics when the window lies in the last three hours).
    pub now: DateTime<Utc>,
}

/// `90s`, `15m`, `24h`, `7d`, `2w` (a bare number is seconds) in seconds.
pub fn parse_duration(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse().ok().filter(|n: &f64| n.is_finite() && *n > 0.0)?;
    let factor = match unit {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "w" => 604_800.0,
        _ => return None,
    };
    Some(n * factor)
}

fn time(flag: &str, text: &str) -> Result<DateTime<Utc>, ReportError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ReportError::Usage(format!(
                "{flag} {text}: not an RFC 3339 time like 2026-12-01T08:00:00Z ({e})"
            ))
        })
}

/// clap's complaint in this tool's words: the argument it did not know, or clap's own line.
fn usage(err: &clap::Error) -> ReportError {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() == ErrorKind::UnknownArgument
        && let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg)
    {
        return ReportError::Usage(format!("unknown argument {arg}"));
    }
    let text = err.to_string();
    let first = text.lines().next().unwrap_or("").trim_start_matches("error: ");
    if let Some(ContextValue::Strings(accepted)) = err.get(ContextKind::ValidValue) {
        return ReportError::Usage(format!("{first}; accepted: {}", accepted.join(", ")));
    }
    ReportError::Usage(first.to_owned())
}

/// Parses the arguments (without the program name); `now` is the end of a `--since` window.
pub fn parse(args: &[String], now: DateTime<Utc>) -> Result<Args, ReportError> {
    use clap::Parser as _;
    let cli =
        Cli::try_parse_from(std::iter::once("lambda-lens-report".to_owned()).chain(args.iter().cloned()))
            .map_err(|e| usage(&e))?;
    let mut a = Args {
        function: None,
        source: Source::Emf {
            files: Vec::new(),
            namespace: String::new(),
        },
        window: None,
        timeout_ms: None,
        memory_mb: None,
        headroom_percent: 20.0,
        arm64: cli.arm64,
        json: cli.json,
        html: cli.html,
        help: cli.help,
        fleet: None,
        now,
    };
    let since =
        match &cli.since {
            Some(v) => Some(parse_duration(v).ok_or_else(|| {
                ReportError::Usage(format!("--since {v}: not a duration like 90m, 24h or 7d"))
            })?),
            None => None,
        };
    let start = cli.start.as_deref().map(|v| time("--start", v)).transpose()?;
    let end = cli.end.as_deref().map(|v| time("--end", v)).transpose()?;
    if let Some(v) = &cli.timeout {
        a.timeout_ms = Some(
            parse_duration(v)
                .ok_or_else(|| ReportError::Usage(format!("--timeout {v}: not a duration like 30s")))?
                * 1000.0,
        );
    }
    if let Some(v) = &cli.memory {
        a.memory_mb = Some(
            v.parse::<f64>()
                .ok()
                .filter(|m| (128.0..=10240.0).contains(m))
                .ok_or_else(|| ReportError::Usage(format!("--memory {v}: megabytes from 128 to 10240")))?,
        );
    }
    if let Some(v) = &cli.headroom {
        a.headroom_percent = v
            .trim_end_matches('%')
            .parse::<f64>()
            .ok()
            .filter(|h| (0.0..=400.0).contains(h))
            .ok_or_else(|| ReportError::Usage(format!("--headroom {v}: a percentage from 0 to 400")))?;
    }
    let emf = cli.emf;
    a.window = match (since, start, end) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(ReportError::Usage("--since or --start/--end, not both".into()));
        }
        (None, Some(s), Some(e)) if s < e => Some(Window { start: s, end: e }),
        (None, Some(_), Some(_)) => return Err(ReportError::Usage("--start must be before --end".into())),
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err(ReportError::Usage("--start and --end go together".into()));
        }
        (Some(secs), None, None) => Some(since_window(now, secs)),
        (None, None, None) if emf.is_empty() => Some(since_window(now, 86_400.0)),
        (None, None, None) => None,
    };
    if !emf.is_empty() && cli.region.is_some() {
        return Err(ReportError::Usage(
            "--region reads CloudWatch, --emf reads files: choose one".into(),
        ));
    }
    let fleet_only = !cli.functions.is_empty()
        || cli.prefix.is_some()
        || !cli.tag.is_empty()
        || cli.sort.is_some()
        || cli.compare_to.is_some();
    if fleet_only && !cli.all {
        return Err(ReportError::Usage(
            "--functions, --prefix, --tag, --sort and --compare-to go with --all (the fleet report)".into(),
        ));
    }
    if cli.all {
        if cli.function.is_some() {
            return Err(ReportError::Usage(
                "--function reads one function, --all the fleet: choose one (--all --functions a,b to pick some)".into(),
            ));
        }
        if !emf.is_empty() {
            return Err(ReportError::Usage(
                "--all reads CloudWatch, not --emf files".into(),
            ));
        }
        if cli.memory.is_some() {
            return Err(ReportError::Usage(
                "--memory states one function's size: with --all each function's comes from its metrics"
                    .into(),
            ));
        }
        let mut tags = Vec::new();
        for t in &cli.tag {
            match t.split_once('=') {
                Some((k, v)) if !k.is_empty() => tags.push((k.to_owned(), v.to_owned())),
                _ => {
                    return Err(ReportError::Usage(format!(
                        "--tag {t}: KEY=VALUE, e.g. --tag team=payments"
                    )));
                }
            }
        }
        let compare_seconds = match &cli.compare_to {
            Some(v) => Some(
                parse_duration(v)
                    .filter(|s| *s >= 60.0)
                    .map(|s| (s / 60.0).round() as i64 * 60)
                    .ok_or_else(|| {
                        ReportError::Usage(format!(
                            "--compare-to {v}: a duration of a minute or more, like 7d"
                        ))
                    })?,
            ),
            None => None,
        };
        a.fleet = Some(FleetOptions {
            filter: Filter {
                functions: cli
                    .functions
                    .iter()
                    .map(|f| f.trim().to_owned())
                    .filter(|f| !f.is_empty())
                    .collect(),
                prefix: cli.prefix,
                tags,
            },
            sort: cli.sort.unwrap_or_default(),
            compare_seconds,
            timeout_ms: a.timeout_ms,
            headroom_percent: a.headroom_percent,
            arm64: a.arm64,
        });
    } else if emf.is_empty() && cli.function.is_none() && !a.help {
        return Err(ReportError::Usage(
            "--function NAME is needed (or --emf FILE, or --all for every function)".into(),
        ));
    }
    a.function = cli.function;
    a.source = if emf.is_empty() {
        Source::CloudWatch(CloudWatch {
            region: cli.region,
            namespace: cli.namespace,
        })
    } else {
        Source::Emf {
            files: emf,
            namespace: cli.namespace,
        }
    };
    Ok(a)
}

/// The last `secs` seconds up to `now`, on whole minutes (as CloudWatch's periods are).
fn since_window(now: DateTime<Utc>, secs: f64) -> Window {
    let end = now.timestamp().div_euclid(60) * 60 + 60;
    #[allow(clippy::cast_possible_truncation, reason = "a window of seconds fits in i64")]
    let start = end - ((secs / 60.0).ceil() as i64).max(1) * 60;
    Window {
        start: DateTime::from_timestamp(start, 0).unwrap_or(now),
        end: DateTime::from_timestamp(end, 0).unwrap_or(now),
    }
}

/// The report the arguments ask for.
pub async fn report(args: &Args) -> Result<Report, ReportError> {
    let answer = args
        .source
        .observe(args.function.as_deref(), args.window, args.now)
        .await?;
    let options = Options {
        function: answer.function.clone(),
        timeout_ms: args.timeout_ms,
        memory_mb: args.memory_mb,
        headroom_percent: args.headroom_percent,
        arm64: args.arm64,
    };
    Ok(assemble(
        &answer.observations,
        &answer.window,
        answer.info,
        &options,
    ))
}

/// What to print, and the HTML page to write: the whole command but the printing.
pub async fn run(args: &Args) -> Result<String, ReportError> {
    if args.help {
        return Ok(USAGE.to_owned());
    }
    if let (Some(opts), Source::CloudWatch(cw), Some(window)) = (&args.fleet, &args.source, args.window) {
        let fleet = crate::fleet::fleet(cw, window, opts, args.now).await?;
        if let Some(path) = &args.html {
            std::fs::write(path, crate::render::fleet_html::render_html(&fleet)).map_err(|source| {
                ReportError::Write {
                    path: path.clone(),
                    source,
                }
            })?;
        }
        return Ok(if args.json {
            crate::fleet::table::json(&fleet)
        } else {
            crate::fleet::table::render(&fleet)
        });
    }
    let report = report(args).await?;
    if let Some(path) = &args.html {
        std::fs::write(path, crate::render::html::render(&report)).map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(if args.json {
        crate::render::json::render(&report)
    } else {
        crate::render::table::render(&report)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, ReportError> {
        let now = DateTime::parse_from_rfc3339("2026-12-01T10:30:20Z")
            .unwrap()
            .with_timezone(&Utc);
        parse(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(), now)
    }

    #[test]
    fn since_ends_on_the_next_whole_minute() {
        let a = args(&["--function", "f", "--since", "24h"]).unwrap();
        let w = a.window.unwrap();
        assert_eq!(w.end.to_rfc3339(), "2026-12-01T10:31:00+00:00");
        assert_eq!(w.seconds(), 86_400);
        assert!(matches!(a.source, Source::CloudWatch(_)));
    }

    #[test]
    fn all_takes_the_fleet_options() {
        let a = args(&[
            "--all",
            "--functions",
            "a, b",
            "--prefix",
            "pay-",
            "--tag",
            "team=pay",
            "--tag",
            "env=prod",
            "--sort",
            "cost",
            "--compare-to",
            "7d",
            "--timeout",
            "3s",
        ])
        .unwrap();
        let f = a.fleet.unwrap();
        assert_eq!(f.filter.functions, ["a", "b"]);
        assert_eq!(f.filter.prefix.as_deref(), Some("pay-"));
        assert_eq!(
            f.filter.tags,
            [("team".into(), "pay".into()), ("env".into(), "prod".into())]
        );
        assert_eq!(f.sort, SortKey::Cost);
        assert_eq!(f.compare_seconds, Some(604_800));
        assert_eq!(f.timeout_ms, Some(3000.0));
        assert_eq!(args(&["--all"]).unwrap().fleet.unwrap().sort, SortKey::Attention);
        assert!(args(&["--function", "f"]).unwrap().fleet.is_none());
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("90m"), Some(5400.0));
        assert_eq!(parse_duration("1.5h"), Some(5400.0));
        assert_eq!(parse_duration("30"), Some(30.0));
        assert_eq!(parse_duration("7x"), None);
        assert_eq!(parse_duration("-1h"), None);
    }

    #[test]
    fn bad_combinations_say_what_is_wrong() {
        for (list, says) in [
            (vec!["--since", "1h"], "--function"),
            (
                vec![
                    "--function",
                    "f",
                    "--since",
                    "1h",
                    "--start",
                    "2026-12-01T00:00:00Z",
                ],
                "not both",
            ),
            (
                vec!["--function", "f", "--start", "2026-12-01T00:00:00Z"],
                "go together",
            ),
            (
                vec![
                    "--function",
                    "f",
                    "--start",
                    "yesterday",
                    "--end",
                    "2026-12-01T00:00:00Z",
                ],
                "RFC 3339",
            ),
            (vec!["--emf", "x", "--region", "us-east-1"], "choose one"),
            (vec!["--function", "f", "--frobnicate"], "unknown argument"),
            (vec!["--function", "f", "--memory", "64"], "128 to 10240"),
        ] {
            let err = args(&list).err().unwrap().to_string();
            assert!(err.contains(says), "{list:?}: {err}");
        }
    }
}
