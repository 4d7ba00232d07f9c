//! The fleet page from a report made by hand: the ranking, the totals, the worst few per chart.
use super::*;
use crate::fleet::{FleetReport, Row, SCHEMA, Selection, Totals};
use crate::model::WindowInfo;

fn row(name: &str) -> Row {
    Row {
        function: name.into(),
        invocations: Some(1000.0),
        ..Row::default()
    }
}

fn report(rows: Vec<Row>) -> FleetReport {
    FleetReport {
        schema: SCHEMA,
        region: "eu-west-1".into(),
        namespace: "LambdaLens".into(),
        window: WindowInfo {
            start: "2026-12-01T00:00:00Z".into(),
            end: "2026-12-02T00:00:00Z".into(),
            period_seconds: 86_400,
        },
        previous_window: None,
        selection: Selection::default(),
        sort: "attention",
        totals: Totals {
            functions: rows.len(),
            invocations: 1000.0 * 12.0,
            errors: 12.000_000_000_000_002,
            monthly_cost_usd: 41.5,
            monthly_saving_usd: 7.25,
            ..Totals::default()
        },
        rows,
        requests: crate::fleet::model::Requests::default(),
        notes: vec!["a <note>".into()],
    }
}

fn figure<'a>(page: &'a str, id: &str) -> &'a str {
    page.split(&format!("id=\"fleet-{id}\""))
        .nth(1)
        .and_then(|rest| rest.split("</figure>").next())
        .unwrap_or_default()
}

#[test]
fn each_chart_shows_the_worst_few_highest_first_and_an_empty_one_says_why() {
    let rows: Vec<Row> = (0..12)
        .map(|i| Row {
            error_rate_percent: Some(f64::from(i)),
            ..row(&format!("fn-{i:02}"))
        })
        .collect();
    let page = render_html(&report(rows));
    let errors = figure(&page, "errors");
    assert_eq!(errors.matches("class=\"bar\"").count(), WORST);
    // Highest first; fn-00 (0 %) and the three lowest are left out.
    let at = |name: &str| errors.find(&format!(">{name}</text>"));
    assert!(at("fn-11") < at("fn-10") && at("fn-10") < at("fn-04"), "{errors}");
    assert_eq!(at("fn-03"), None);
    let cost = figure(&page, "cost");
    assert!(
        cost.contains("class=\"empty\"") && cost.contains("No cost figures"),
        "{cost}"
    );
    assert_eq!(cost.matches("class=\"bar\"").count(), 0);
}

#[test]
fn the_totals_and_the_ranking_are_whole_counts_and_names_are_escaped() {
    let failing = Row {
        errors: Some(12.0),
        error_rate_percent: Some(1.2),
        timeouts: Some(3.0),
        reasons: vec!["1.2 % errors".into()],
        ..row("<b>checkout</b>")
    };
    let page = render_html(&report(vec![failing, row("quiet")]));
    assert!(
        page.contains("<div class=\"v\">12</div><div class=\"l\">errors</div>"),
        "{page}"
    );
    assert!(page.contains("USD 41.50") && page.contains("USD 7.25"));
    assert!(page.contains("&lt;b&gt;checkout&lt;/b&gt;") && !page.contains("<b>checkout"));
    assert!(
        page.contains("<li><b>&lt;b&gt;checkout&lt;/b&gt;</b>: 1.2 % errors</li>"),
        "{page}"
    );
    assert_eq!(page.matches("<tr class=\"fn\">").count(), 2);
    assert!(page.contains("a &lt;note&gt;"));
    // Self-contained: no script, nothing fetched.
    assert!(!page.contains("<script") && !page.contains("src=") && !page.contains("href="));
}

#[test]
fn percentages_of_a_limit_draw_the_limit() {
    let near = Row {
        memory_used_percent: Some(96.0),
        p99_of_timeout_percent: Some(40.0),
        ..row("near")
    };
    let page = render_html(&report(vec![near]));
    for id in ["memory", "duration"] {
        let f = figure(&page, id);
        assert!(f.contains("stroke-dasharray"), "{id}: {f}");
        assert_eq!(f.matches("class=\"bar\"").count(), 1);
    }
}

#[test]
fn what_needs_attention_is_listed_by_its_score_whatever_the_ranking_is_sorted_by() {
    let flagged = |name: &str, score: f64| Row {
        attention: score,
        reasons: vec![format!("{name} needs a look")],
        ..row(name)
    };
    // Sorted by name, as `--sort name` gives them.
    let mut by_name = report(vec![
        flagged("alpha", 1.0),
        flagged("beta", 30.0),
        flagged("gamma", 7.0),
    ]);
    by_name.sort = "name";
    let page = render_html(&by_name);
    let list = page
        .split("<ol class=\"attention\">")
        .nth(1)
        .and_then(|rest| rest.split("</ol>").next())
        .unwrap();
    let at = |name: &str| list.find(&format!("<b>{name}</b>")).unwrap();
    assert!(at("beta") < at("gamma") && at("gamma") < at("alpha"), "{list}");
}
