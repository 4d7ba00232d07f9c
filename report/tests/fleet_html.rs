//! The fleet's HTML page (`--all --html`) in headless Chromium (Debian's `chromium`): made from a
//! fleet report whose figures the test sets (some failing, one killed for memory, one
//! over-provisioned, one near its timeout, one quiet), the page Chromium built has each chart's
//! bars (one per function of the worst few) and the whole ranking, and the screenshot (kept in
//! `target/report-screenshots/fleet.png`) shows each chart's colour.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

mod common;

use common::browser;
use lambda_lens_report::fleet::model::Requests;
use lambda_lens_report::fleet::{Change, FleetReport, Row, SCHEMA, Selection, Totals};
use lambda_lens_report::model::{Recommendation, WindowInfo};
use lambda_lens_report::render::fleet_html::{FLEET_CHARTS, render_html, worst};

fn recommendation(current: f64, recommended: u32, change: f64) -> Recommendation {
    Recommendation {
        current_mb: current,
        recommended_mb: recommended,
        action: if f64::from(recommended) > current {
            "increase"
        } else {
            "decrease"
        },
        observed_peak_mb: current / 4.0,
        headroom_percent: 20.0,
        needed_mb: current / 4.0 * 1.2,
        cost_change_usd: Some(change / 30.0),
        cost_change_percent: None,
        cpu_share_percent_of_current: f64::from(recommended) / current * 100.0,
        reason: String::new(),
        warning: String::new(),
    }
}

/// A fleet of nine: two failing, one killed for memory, one over-provisioned, one near its
/// timeout, one that cold-starts, quiet ones.
fn fleet() -> FleetReport {
    let base = |name: &str, invocations: f64, cost: f64| Row {
        function: name.into(),
        invocations: Some(invocations),
        errors: Some(0.0),
        error_rate_percent: Some(0.0),
        timeouts: Some(0.0),
        out_of_memory: Some(0.0),
        p99_duration_ms: Some(120.0),
        timeout_ms: Some(3000.0),
        p99_of_timeout_percent: Some(4.0),
        cold_starts: Some(invocations * 0.01),
        cold_start_percent: Some(1.0),
        init_p90_ms: Some(180.0),
        max_memory_used_mb: Some(90.0),
        memory_size_mb: Some(256.0),
        memory_used_percent: Some(35.0),
        cost_usd: Some(cost / 30.0),
        monthly_cost_usd: Some(cost),
        ..Row::default()
    };
    let rows = vec![
        Row {
            errors: Some(40.0),
            error_rate_percent: Some(8.0),
            timeouts: Some(12.0),
            p99_duration_ms: Some(2950.0),
            p99_of_timeout_percent: Some(98.3),
            reasons: vec![
                "12 timeouts".into(),
                "8.0 % errors".into(),
                "p99 at 98 % of the timeout".into(),
            ],
            change: Some(Change {
                seen_before: true,
                moved: vec!["p99 duration ×2.4: 1230 → 2950 ms".into()],
                ..Change::default()
            }),
            ..base("orders-api", 500.0, 3.1)
        },
        Row {
            errors: Some(6.0),
            error_rate_percent: Some(6.0),
            out_of_memory: Some(6.0),
            max_memory_used_mb: Some(128.0),
            memory_size_mb: Some(128.0),
            memory_used_percent: Some(100.0),
            recommendation: Some(recommendation(128.0, 256, 0.9)),
            monthly_cost_change_usd: Some(0.9),
            reasons: vec![
                "6 out-of-memory kills".into(),
                "memory used up to 100 % of the size".into(),
            ],
            ..base("thumbnailer", 100.0, 0.9)
        },
        Row {
            max_memory_used_mb: Some(210.0),
            memory_size_mb: Some(3008.0),
            memory_used_percent: Some(7.0),
            recommendation: Some(recommendation(3008.0, 256, -21.6)),
            monthly_cost_change_usd: Some(-21.6),
            reasons: vec!["right-sizing saves 21.60 USD a month".into()],
            ..base("reports-batch", 2000.0, 23.5)
        },
        Row {
            cold_starts: Some(45.0),
            cold_start_percent: Some(45.0),
            init_p90_ms: Some(2400.0),
            reasons: vec!["45 % cold starts".into()],
            ..base("nightly-export", 100.0, 0.4)
        },
        Row {
            errors: Some(2.0),
            error_rate_percent: Some(0.2),
            recommendation: Some(recommendation(1024.0, 512, -3.2)),
            monthly_cost_change_usd: Some(-3.2),
            reasons: vec![
                "0.2 % errors".into(),
                "right-sizing saves 3.20 USD a month".into(),
            ],
            ..base("checkout", 1000.0, 7.4)
        },
        base("search", 3000.0, 4.2),
        base("auth", 8000.0, 1.9),
        base("webhooks", 50.0, 0.2),
        Row {
            cold_starts: Some(0.0),
            cold_start_percent: Some(0.0),
            monthly_cost_usd: None,
            cost_usd: None,
            ..base("quiet", 3.0, 0.0)
        },
    ];
    FleetReport {
        schema: SCHEMA,
        region: "eu-west-1".into(),
        namespace: "LambdaLens".into(),
        window: WindowInfo {
            start: "2026-11-30T00:00:00Z".into(),
            end: "2026-12-07T00:00:00Z".into(),
            period_seconds: 604_800,
        },
        previous_window: Some(WindowInfo {
            start: "2026-11-23T00:00:00Z".into(),
            end: "2026-11-30T00:00:00Z".into(),
            period_seconds: 604_800,
        }),
        selection: Selection::default(),
        sort: "attention",
        totals: Totals {
            functions: rows.len(),
            invocations: rows.iter().filter_map(|r| r.invocations).sum(),
            errors: 48.0,
            timeouts: 12.0,
            out_of_memory: 6.0,
            cost_usd: 41.6 / 30.0,
            monthly_cost_usd: 41.6,
            monthly_saving_usd: 24.8,
            monthly_extra_cost_usd: 0.9,
            functions_without_cost: 1,
            previous_monthly_cost_usd: Some(38.2),
        },
        rows,
        requests: Requests {
            list_metrics: 2,
            get_metric_data: 2,
            queries: 216,
            ..Requests::default()
        },
        notes: Vec::new(),
    }
}

#[test]
#[ignore = "needs Chromium: make test installs it and runs this"]
fn the_fleet_page_in_chromium_has_the_ranking_the_totals_and_a_chart_of_the_worst_few_per_question() {
    let report = fleet();
    let dir = common::scratch("fleet-html");
    let page = dir.join("fleet.html");
    std::fs::write(&page, render_html(&report)).unwrap();
    let shots = common::workspace().join("target/report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let screenshot = shots.join("fleet.png");
    let shown = browser::show(&page, &screenshot, 1900);
    let dom = &shown.dom;

    // The ranking: every function, in the report's order, and the totals.
    let ranking = dom.split("id=\"ranking\"").nth(1).unwrap();
    let names: Vec<&str> = ranking
        .split("<tr class=\"fn\"><td>")
        .skip(1)
        .map(|r| r.split("</td>").next().unwrap())
        .collect();
    let want: Vec<&str> = report.rows.iter().map(|r| r.function.as_str()).collect();
    assert_eq!(names, want);
    for total in [
        "USD 41.60",
        "USD 24.80",
        ">48<",
        ">12<",
        ">6<",
        "before: USD 38.20",
    ] {
        assert!(dom.contains(total), "no {total} in the page");
    }
    assert!(
        dom.contains("<li><b>orders-api</b>: 12 timeouts; 8.0 % errors"),
        "attention list"
    );
    assert!(dom.contains("p99 duration ×2.4"), "what moved");

    // Each chart: one bar per function of its worst few, in its colour on the screen.
    let (image, channels) = (&shown.image[..], shown.channels);
    let mut drawn = Vec::new();
    for chart in FLEET_CHARTS {
        let worst = worst(&report, chart);
        let figure = dom
            .split(&format!("id=\"fleet-{}\"", chart.id))
            .nth(1)
            .and_then(|rest| rest.split("</figure>").next())
            .unwrap_or_else(|| panic!("chart {} is not in the page", chart.id));
        assert_eq!(
            figure.matches("class=\"bar\"").count(),
            worst.len(),
            "chart {}",
            chart.id
        );
        for (row, _) in &worst {
            assert!(
                figure.contains(&format!(">{}</text>", row.function)),
                "chart {}: {}",
                chart.id,
                row.function
            );
        }
        let coloured = browser::pixels_of(image, channels, chart.colour);
        assert!(
            coloured >= 200 * worst.len().min(1),
            "chart {} shows {coloured} pixels of its colour for {} bars",
            chart.id,
            worst.len()
        );
        drawn.push((chart.id, worst.len()));
    }
    // The fleet above has something in every chart: the worst few of each question.
    assert_eq!(
        drawn,
        [
            ("errors", 3),
            ("duration", 8),
            ("coldStarts", 8),
            ("memory", 8),
            ("cost", 8),
            ("saving", 2)
        ]
    );
}
