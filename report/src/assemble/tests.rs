//! The assembly of a report from observations: which namespace answers, what is derived, and
//! why a figure is missing.
use super::*;
use crate::observe::Key;

fn window() -> Window {
    Window {
        start: chrono::DateTime::from_timestamp(1_796_000_000, 0).unwrap_or_default(),
        end: chrono::DateTime::from_timestamp(1_796_003_600, 0).unwrap_or_default(),
    }
}

fn cloudwatch() -> SourceInfo {
    SourceInfo {
        kind: "cloudwatch",
        region: Some("eu-west-1".into()),
        namespace: "LambdaLens".into(),
        files: Vec::new(),
    }
}

fn options() -> Options {
    Options {
        function: "checkout".into(),
        timeout_ms: None,
        memory_mb: None,
        headroom_percent: 20.0,
        arm64: false,
    }
}

fn with(values: &[(Ns, &'static str, Stat, f64)]) -> Observations {
    let mut obs = Observations {
        period_seconds: 60,
        lambda_data: Some(values.iter().any(|v| v.0 == Ns::Lambda)),
        lens_data: values.iter().any(|v| v.0 == Ns::Lens),
        ..Observations::default()
    };
    for &(ns, metric, stat, v) in values {
        obs.summary.insert(Key { ns, metric, stat }, v);
    }
    obs
}

fn reason<'a>(r: &'a Report, question: &str) -> &'a str {
    r.unanswered
        .iter()
        .find(|u| u.question == question)
        .map_or("", |u| u.reason.as_str())
}

#[test]
fn lambda_only_data_says_the_layer_is_missing_and_what_lambda_does_not_publish() {
    let obs = with(&[
        (Ns::Lambda, "Invocations", Sum, 100.0),
        (Ns::Lambda, "Errors", Sum, 5.0),
        (Ns::Lambda, "Duration", Maximum, 900.0),
        (Ns::Lambda, "Duration", Sum, 10_000.0),
    ]);
    let r = assemble(&obs, &window(), cloudwatch(), &options());
    assert_eq!(r.invocations, Some(100.0));
    assert_eq!(r.errors.error_rate_percent, Some(5.0));
    assert!(reason(&r, "cold starts and cold-start rate").contains("is the layer attached"));
    assert!(reason(&r, "iterator age").contains("stream event sources"));
    assert!(reason(&r, "duration against the timeout").contains("--timeout"));
    assert!(reason(&r, "memory recommendation").contains("memory size"));
    // No EstimatedCost and no memory size: no cost either.
    assert_eq!(r.cost.estimated_usd, None);
}

#[test]
fn the_memory_size_is_derived_from_peak_and_utilisation_and_the_cost_from_durations() {
    let obs = with(&[
        (Ns::Lambda, "Invocations", Sum, 1000.0),
        (Ns::Lambda, "Duration", Maximum, 300.0),
        (Ns::Lambda, "Duration", Sum, 100_000.0),
        (Ns::Lens, "MaxMemoryUsed", Maximum, 200.0),
        (Ns::Lens, "MemoryUtilization", Maximum, 19.53),
        (Ns::Lens, "ColdStarts", Sum, 0.0),
        (Ns::Lens, "ColdStarts", SampleCount, 1000.0),
    ]);
    let r = assemble(&obs, &window(), cloudwatch(), &options());
    assert_eq!(r.memory.size_mb, Some(1024.0));
    assert_eq!(r.init.cold_start_rate_percent, Some(0.0));
    assert_eq!(reason(&r, "init duration"), "no cold start in the window");
    // 100 s at 1 GB, x86_64 price, plus 1000 requests.
    let want = 100.0 * PRICE_PER_GB_SECOND_X86_64 + 1000.0 * recommend::PRICE_PER_REQUEST_USD;
    assert!((r.cost.estimated_usd.unwrap_or_default() - want).abs() < 1e-12);
    let rec = r.recommendation.unwrap_or_else(|| unreachable!());
    assert_eq!((rec.recommended_mb, rec.action), (256, "decrease"));
    assert!(rec.cost_change_usd.is_some_and(|c| c < 0.0));
}

#[test]
fn counts_are_whole_in_the_report_the_table_the_json_and_the_recommendation() {
    // Sums of CloudWatch statistics carry a float's error.
    let obs = with(&[
        (Ns::Lambda, "Invocations", Sum, 100.000_000_000_000_01),
        (Ns::Lambda, "Errors", Sum, 12.000_000_000_000_002),
        (Ns::Lens, "OutOfMemory", Sum, 12.000_000_000_000_002),
        (Ns::Lens, "Timeouts", Sum, 2.999_999_999_999_999_6),
        (Ns::Lens, "MaxMemoryUsed", Maximum, 256.0),
        (Ns::Lens, "MemorySize", Maximum, 256.0),
    ]);
    let r = assemble(&obs, &window(), cloudwatch(), &options());
    assert_eq!(r.errors.out_of_memory, Some(12.0));
    assert_eq!(r.errors.errors, Some(12.0));
    assert_eq!(r.errors.timeouts, Some(3.0));
    let table = crate::render::table::render(&r);
    let row = |q: &str| {
        table
            .lines()
            .find(|l| l.starts_with(q))
            .map(|l| l[q.len()..].trim().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(row("out-of-memory kills"), "12", "{table}");
    assert_eq!(row("errors (timeouts included)"), "12 (12 %)", "{table}");
    assert_eq!(row("timeouts"), "3", "{table}");
    let json: serde_json::Value = serde_json::from_str(&crate::render::json::render(&r)).unwrap_or_default();
    assert!(json["errors"]["outOfMemory"].is_u64(), "{}", json["errors"]);
    assert_eq!(json["errors"]["outOfMemory"], 12);
    assert_eq!(json["errors"]["errors"], 12);
    assert_eq!(json["invocations"], 100);
    // A figure that is not a count stays a number with its fraction.
    assert_eq!(json["errors"]["errorRatePercent"], 12.0);
    assert!(json["errors"]["errorRatePercent"].is_f64());
    let rec = r.recommendation.unwrap_or_else(|| unreachable!());
    assert!(
        rec.reason.starts_with("12 out-of-memory kills:"),
        "{}",
        rec.reason
    );
}

#[test]
fn the_cold_start_share_is_of_aws_lambda_invocations_not_of_the_samples() {
    // lambda-lens reported 400 invocations (say, one version of two has the layer); Lambda saw 1000.
    let obs = with(&[
        (Ns::Lambda, "Invocations", Sum, 1000.0),
        (Ns::Lens, "ColdStarts", Sum, 10.0),
        (Ns::Lens, "ColdStarts", SampleCount, 400.0),
    ]);
    let r = assemble(&obs, &window(), cloudwatch(), &options());
    assert_eq!(r.init.cold_start_rate_percent, Some(1.0));
    assert!(r.notes.is_empty(), "{:?}", r.notes);
}

#[test]
fn without_aws_lambda_the_cold_start_share_says_what_stands_in() {
    let mut obs = with(&[
        (Ns::Lens, "ColdStarts", Sum, 10.0),
        (Ns::Lens, "ColdStarts", SampleCount, 400.0),
    ]);
    obs.lambda_data = None;
    let emf = SourceInfo {
        kind: "emf",
        region: None,
        files: vec!["run.log".into()],
        ..cloudwatch()
    };
    let r = assemble(&obs, &window(), emf, &options());
    assert_eq!(r.init.cold_start_rate_percent, Some(2.5));
    assert!(
        r.notes.iter().any(
            |n| n.contains("cold-start share is of the invocations lambda-lens reported")
                && n.contains("EMF files do not hold AWS/Lambda")
        ),
        "{:?}",
        r.notes
    );
}
