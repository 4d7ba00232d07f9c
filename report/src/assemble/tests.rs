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
