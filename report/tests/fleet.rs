//! `lambda-lens-report --all` against a local CloudWatch (ministack, with its Lambda and
//! Resource Groups Tagging services for `--tag`), seeded with a fleet whose truths this file
//! computes itself from the invocations it seeds (some failing, one over-provisioned, one
//! killed for memory, one quiet, one slower than last week), with their own `AWS/Lambda`
//! figures: the ranking, the totals, the savings, every `--sort` key, `--compare-to`, the
//! filters, each error, and the JSON against docs/report.md's table (how it reads, and the
//! scale, are `fleet_read.rs`'s).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

mod common;

use std::net::SocketAddr;

use local_cloudwatch::{Fault, FaultProxy};
use serde_json::{Value, json};

use common::ministack::Ministack;
use common::{env_refs, report, stderr, stdout};

/// One function's invocations in one window, as the test seeds them.
#[derive(Clone)]
struct Truth {
    name: &'static str,
    tags: &'static [(&'static str, &'static str)],
    size_mb: f64,
    durations: Vec<f64>,
    used_mb: Vec<f64>,
    errors: usize,
    timeouts: usize,
    oom: usize,
    init: Vec<f64>,
    cost_per_invocation: f64,
}

impl Truth {
    fn n(&self) -> f64 {
        self.durations.len() as f64
    }
    fn cost(&self) -> f64 {
        self.n() * self.cost_per_invocation
    }
    fn peak(&self) -> f64 {
        self.used_mb.iter().copied().fold(0.0, f64::max)
    }
    /// The size the recommendation must name, worked out by hand from docs/report.md's rule (the
    /// smallest standard size holding the peak plus 20 %; after a kill, above the size): not
    /// computed with a copy of recommend.rs.
    fn recommended(&self) -> f64 {
        match self.name {
            "pay-checkout" => 512.0, // peak 300 MB: 360 needed, 512 kept
            "pay-resize" => 256.0,   // killed at 128 MB: one size up
            "ops-report" => 256.0,   // peak 150 MB of 2048: 180 needed
            "ops-quiet" => 128.0,    // peak 100 MB: 120 needed
            "ops-slow" => 256.0,     // peak 180 MB: 216 needed
            other => panic!("no stated recommendation for {other}"),
        }
    }
    /// The recommendation's monthly cost change: the duration part of the cost scales with the
    /// size (requests cost 0.20 USD a million).
    fn monthly_change(&self, month: f64) -> f64 {
        (self.cost() - self.n() * 0.2e-6) * (self.recommended() / self.size_mb - 1.0) * month
    }
}

fn spread(n: usize, from: f64, to: f64) -> Vec<f64> {
    (0..n)
        .map(|i| from + (to - from) * i as f64 / (n.max(2) - 1) as f64)
        .collect()
}

/// The fleet of the current window.
fn fleet() -> Vec<Truth> {
    let mut failing_durations = spread(200, 50.0, 250.0);
    for d in failing_durations.iter_mut().take(5) {
        *d = 3000.0; // the 5 timeouts
    }
    let mut oom_used = spread(100, 80.0, 120.0);
    for u in oom_used.iter_mut().take(3) {
        *u = 128.0;
    }
    vec![
        Truth {
            name: "pay-checkout",
            tags: &[("team", "pay")],
            size_mb: 512.0,
            durations: failing_durations,
            used_mb: spread(200, 200.0, 300.0),
            errors: 30,
            timeouts: 5,
            oom: 0,
            init: spread(4, 300.0, 600.0),
            cost_per_invocation: 2.0e-6,
        },
        Truth {
            name: "pay-resize",
            tags: &[("team", "pay")],
            size_mb: 128.0,
            durations: spread(100, 20.0, 90.0),
            used_mb: oom_used,
            errors: 3,
            timeouts: 0,
            oom: 3,
            init: spread(30, 100.0, 200.0),
            cost_per_invocation: 4.0e-7,
        },
        Truth {
            name: "ops-report",
            tags: &[("team", "ops"), ("env", "prod")],
            size_mb: 2048.0,
            durations: spread(1000, 800.0, 1200.0),
            used_mb: spread(1000, 100.0, 150.0),
            errors: 0,
            timeouts: 0,
            oom: 0,
            init: spread(2, 900.0, 1000.0),
            cost_per_invocation: 3.4e-5,
        },
        Truth {
            name: "ops-quiet",
            tags: &[("team", "ops")],
            size_mb: 128.0,
            durations: spread(10, 5.0, 10.0),
            used_mb: spread(10, 90.0, 100.0),
            errors: 0,
            timeouts: 0,
            oom: 0,
            init: Vec::new(),
            cost_per_invocation: 2.2e-7,
        },
        Truth {
            name: "ops-slow",
            tags: &[("team", "ops")],
            size_mb: 256.0,
            durations: spread(300, 100.0, 400.0),
            used_mb: spread(300, 150.0, 180.0),
            errors: 0,
            timeouts: 0,
            oom: 0,
            init: spread(3, 200.0, 250.0),
            cost_per_invocation: 1.6e-6,
        },
    ]
}

/// The previous window: ops-quiet is new; pay-checkout had no errors, pay-resize no kill,
/// ops-slow was twice as fast and cost less than half.
fn previous() -> Vec<Truth> {
    let mut before = fleet();
    before.retain(|t| t.name != "ops-quiet");
    for t in &mut before {
        match t.name {
            "pay-checkout" => {
                t.errors = 0;
                t.timeouts = 0;
                t.durations = spread(200, 50.0, 250.0);
            }
            "pay-resize" => {
                t.errors = 0;
                t.oom = 0;
                t.used_mb = spread(100, 80.0, 120.0);
            }
            "ops-slow" => {
                t.durations = spread(300, 50.0, 150.0);
                t.cost_per_invocation = 0.7e-6;
            }
            _ => {}
        }
    }
    before
}

fn datum(metric: &str, function: &str, at: i64, pairs: &[(f64, usize)]) -> Value {
    let pairs: Vec<&(f64, usize)> = pairs.iter().filter(|(_, c)| *c > 0).collect();
    json!({"metric": metric, "function": function, "timestamp": at,
           "values": pairs.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
           "counts": pairs.iter().map(|(_, c)| *c as f64).collect::<Vec<_>>()})
}

/// Values one each, at most 150 to a datum (PutMetricData's limit).
fn each(metric: &str, function: &str, at: i64, values: &[f64], out: &mut Vec<Value>) {
    for chunk in values.chunks(150) {
        let pairs: Vec<(f64, usize)> = chunk.iter().map(|v| (*v, 1)).collect();
        out.push(datum(metric, function, at, &pairs));
    }
}

/// The metrics of `truths` at `at`: AWS/Lambda's and lambda-lens's (`LambdaLens`).
fn metrics(truths: &[Truth], at: i64, lambda: &mut Vec<Value>, lens: &mut Vec<Value>) {
    for t in truths {
        let n = t.durations.len();
        let f = t.name;
        lambda.push(datum("Invocations", f, at, &[(1.0, n)]));
        lambda.push(datum("Errors", f, at, &[(1.0, t.errors), (0.0, n - t.errors)]));
        each("Duration", f, at, &t.durations, lambda);
        lens.push(datum(
            "Timeouts",
            f,
            at,
            &[(1.0, t.timeouts), (0.0, n - t.timeouts)],
        ));
        lens.push(datum("OutOfMemory", f, at, &[(1.0, t.oom), (0.0, n - t.oom)]));
        lens.push(datum(
            "ColdStarts",
            f,
            at,
            &[(1.0, t.init.len()), (0.0, n - t.init.len())],
        ));
        each("InitDuration", f, at, &t.init, lens);
        each("MaxMemoryUsed", f, at, &t.used_mb, lens);
        let util: Vec<f64> = t.used_mb.iter().map(|u| u / t.size_mb * 100.0).collect();
        each("MemoryUtilization", f, at, &util, lens);
        lens.push(datum("EstimatedCost", f, at, &[(t.cost_per_invocation, n)]));
    }
}

/// The current window: the hour before the last whole minute.
fn window() -> (i64, i64) {
    let now = chrono::Utc::now().timestamp();
    let end = now / 60 * 60;
    (end - 3600, end)
}

fn rfc(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).unwrap().to_rfc3339()
}

/// ministack seeded with the fleet (the current window, and the previous one).
fn seeded() -> (Ministack, [String; 4]) {
    let ms = Ministack::start();
    let (start, end) = window();
    let (mut lambda, mut lens) = (Vec::new(), Vec::new());
    metrics(&fleet(), start + 1800, &mut lambda, &mut lens);
    metrics(&previous(), start - 1800, &mut lambda, &mut lens);
    let functions: Vec<Value> = fleet()
        .iter()
        .map(|t| json!({"name": t.name, "tags": t.tags.iter().map(|(k, v)| ((*k).to_owned(), Value::from(*v))).collect::<serde_json::Map<_, _>>()}))
        .collect();
    ms.seed(&functions, &json!({"AWS/Lambda": lambda, "LambdaLens": lens}));
    (ms, ["--start".into(), rfc(start), "--end".into(), rfc(end)])
}

fn run(ms_url: &str, window: &[String], args: &[&str]) -> std::process::Output {
    let env = local_cloudwatch::env_for(ms_url);
    let mut all: Vec<&str> = vec!["--all"];
    all.extend(window.iter().map(String::as_str));
    all.extend_from_slice(args);
    report(&all, &env_refs(&env))
}

fn json_of(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}{}", stderr(out), stdout(out));
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn pct(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, frac) = (rank.floor() as usize, rank.fract());
    let next = sorted.get(lo + 1).copied().unwrap_or(sorted[lo]);
    sorted[lo] + frac * (next - sorted[lo])
}

fn close(row: &Value, field: &str, want: f64) {
    let got = row[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} missing in {row:#}"));
    assert!(
        (got - want).abs() <= 1e-6 * want.abs().max(1.0),
        "{} {field}: {got}, expected {want}",
        row["function"]
    );
}

/// The attention score docs/report.md defines, from the truths.
fn attention(t: &Truth, moved: usize, month: f64) -> f64 {
    let mut points = 0.0;
    if t.oom > 0 {
        points += 1000.0;
    }
    if t.timeouts > 0 {
        points += 500.0;
    }
    points += t.errors as f64 / t.n() * 100.0 * 10.0;
    if t.peak() / t.size_mb * 100.0 >= 90.0 {
        points += 100.0;
    }
    points += 50.0 * moved as f64;
    if t.init.len() as f64 / t.n() * 100.0 >= 10.0 {
        points += 20.0;
    }
    let change = t.monthly_change(month);
    if change < 0.0 {
        points += (-change).min(100.0);
    }
    points
}

fn ranking(truths: &[Truth], moved: &dyn Fn(&str) -> usize, month: f64) -> Vec<&'static str> {
    let mut scored: Vec<(f64, f64, &'static str)> = truths
        .iter()
        .map(|t| (attention(t, moved(t.name), month), t.cost() * month, t.name))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(b.2)));
    scored.into_iter().map(|s| s.2).collect()
}

const MONTH: f64 = 30.0 * 24.0; // a one-hour window's figures × 720

#[test]
#[ignore = "needs the local CloudWatch (.venv-cloudwatch): make test runs it"]
fn the_fleet_is_ranked_with_its_figures_totals_and_savings() {
    let (ms, window) = seeded();
    let out = json_of(&run(&ms.url(), &window, &["--json"]));
    assert_eq!(out["schema"], "lambda-lens-report/fleet/1");
    let truths = fleet();
    let rows = out["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["function"].as_str().unwrap()).collect();
    assert_eq!(names, ranking(&truths, &|_| 0, MONTH), "{out:#}");
    assert_eq!(names[0], "pay-resize", "the out-of-memory kills come first");
    for t in &truths {
        let row = rows.iter().find(|r| r["function"] == t.name).unwrap();
        let n = t.n();
        close(row, "invocations", n);
        close(row, "errors", t.errors as f64);
        close(row, "errorRatePercent", t.errors as f64 / n * 100.0);
        close(row, "timeouts", t.timeouts as f64);
        close(row, "outOfMemory", t.oom as f64);
        for count in ["invocations", "errors", "timeouts", "outOfMemory"] {
            assert!(
                row[count].is_u64(),
                "{}: {count} is a whole number: {}",
                t.name,
                row[count]
            );
        }
        close(row, "p99DurationMs", pct(&t.durations, 99.0));
        close(row, "coldStartPercent", t.init.len() as f64 / n * 100.0);
        if t.init.is_empty() {
            assert!(row["initP90Ms"].is_null());
        } else {
            close(row, "initP90Ms", pct(&t.init, 90.0));
        }
        close(row, "maxMemoryUsedMb", t.peak());
        close(row, "memorySizeMb", t.size_mb);
        close(row, "costUsd", t.cost());
        close(row, "monthlyCostUsd", t.cost() * MONTH);
        close(&row["recommendation"], "recommendedMb", t.recommended());
        close(row, "monthlyCostChangeUsd", t.monthly_change(MONTH));
        assert!(row["p99OfTimeoutPercent"].is_null(), "no --timeout, no timeout");
    }
    let over = rows.iter().find(|r| r["function"] == "ops-report").unwrap();
    assert_eq!(over["recommendation"]["action"], "decrease");
    let killed = rows.iter().find(|r| r["function"] == "pay-resize").unwrap();
    assert_eq!(killed["recommendation"]["action"], "increase");
    assert_eq!(
        rows.iter().find(|r| r["function"] == "ops-quiet").unwrap()["reasons"],
        json!([])
    );

    let totals = &out["totals"];
    assert_eq!(totals["functions"], 5);
    for count in ["invocations", "errors", "timeouts", "outOfMemory"] {
        assert!(
            totals[count].is_u64(),
            "totals' {count} is a whole number: {}",
            totals[count]
        );
    }
    let cost: f64 = truths.iter().map(|t| t.cost() * MONTH).sum();
    close(totals, "monthlyCostUsd", cost);
    let saving: f64 = truths
        .iter()
        .map(|t| t.monthly_change(MONTH))
        .filter(|c| *c < 0.0)
        .map(|c| -c)
        .sum();
    let extra: f64 = truths
        .iter()
        .map(|t| t.monthly_change(MONTH))
        .filter(|c| *c > 0.0)
        .sum();
    assert!(saving > 0.0 && extra > 0.0);
    close(totals, "monthlySavingUsd", saving);
    close(totals, "monthlyExtraCostUsd", extra);
    // 5 functions × 12 queries: one call.
    assert_eq!(out["requests"]["listMetrics"], 1);
    assert_eq!(out["requests"]["getMetricData"], 1);
    assert_eq!(out["requests"]["queries"], 60);
    assert_eq!(out["requests"]["getResources"], 0, "no --tag, no tagging call");

    // The table: the same order, the totals, the reasons.
    let table = run(&ms.url(), &window, &[]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    let positions: Vec<usize> = names
        .iter()
        .map(|n| text.find(&format!("\n{n} ")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(
        text.contains("TOTAL") && text.contains(&format!("{cost:.2}")),
        "{text}"
    );
    assert!(text.contains("3 out-of-memory kills"), "{text}");

    // --html writes the fleet's page too (its content is tested in fleet_html.rs).
    let page = common::scratch("fleet").join("fleet.html");
    let html = run(&ms.url(), &window, &["--html", page.to_str().unwrap()]);
    assert!(html.status.success(), "{}", stderr(&html));
    let text = std::fs::read_to_string(&page).unwrap();
    assert!(
        names.iter().all(|n| text.contains(n)),
        "every function on the page"
    );

    // Every other key: the rows in the order of the key's figure from the truths, the largest
    // first (name: A to Z), ties by monthly cost, then name.
    for key in [
        "errors",
        "timeouts",
        "oom",
        "duration",
        "cold-starts",
        "memory",
        "cost",
        "saving",
        "invocations",
        "name",
    ] {
        let figure = |t: &Truth| -> f64 {
            match key {
                "errors" => t.errors as f64 / t.n(),
                "timeouts" => t.timeouts as f64,
                "oom" => t.oom as f64,
                "duration" => pct(&t.durations, 99.0),
                "cold-starts" => t.init.len() as f64 / t.n(),
                "memory" => t.peak() / t.size_mb,
                "cost" => t.cost(),
                "saving" => -t.monthly_change(MONTH),
                "invocations" => t.n(),
                _ => 0.0,
            }
        };
        let mut want: Vec<&Truth> = truths.iter().collect();
        want.sort_by(|a, b| {
            figure(b)
                .total_cmp(&figure(a))
                .then(b.cost().total_cmp(&a.cost()))
                .then(a.name.cmp(b.name))
        });
        if key == "name" {
            want.sort_by_key(|t| t.name);
        }
        let want: Vec<&str> = want.iter().map(|t| t.name).collect();
        let out = json_of(&run(&ms.url(), &window, &["--json", "--sort", key]));
        let got: Vec<&str> = out["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["function"].as_str().unwrap())
            .collect();
        assert_eq!(got, want, "--sort {key}");
        assert_eq!(out["sort"], key);
    }
    // --timeout for every function: p99 against it.
    let out = json_of(&run(&ms.url(), &window, &["--json", "--timeout", "3s"]));
    let row = out["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["function"] == "pay-checkout")
        .unwrap()
        .clone();
    close(
        &row,
        "p99OfTimeoutPercent",
        pct(&fleet()[0].durations, 99.0) / 3000.0 * 100.0,
    );
}

#[test]
#[ignore = "needs the local CloudWatch (.venv-cloudwatch): make test runs it"]
fn compare_to_says_what_moved() {
    let (ms, window) = seeded();
    let out = json_of(&run(&ms.url(), &window, &["--json", "--compare-to", "1h"]));
    let rows = out["rows"].as_array().unwrap();
    let moved = |name: &str| -> Vec<String> {
        rows.iter().find(|r| r["function"] == name).unwrap()["change"]["moved"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_owned())
            .collect()
    };
    let checkout = moved("pay-checkout");
    assert!(
        checkout.iter().any(|m| m.starts_with("new errors: 30")),
        "{checkout:?}"
    );
    assert!(
        checkout.iter().any(|m| m.starts_with("new timeouts: 5")),
        "{checkout:?}"
    );
    assert!(
        moved("pay-resize")
            .iter()
            .any(|m| m.starts_with("new out-of-memory kills: 3"))
    );
    let slow = moved("ops-slow");
    let (now, before) = (
        pct(&fleet()[4].durations, 99.0),
        pct(&previous()[3].durations, 99.0),
    );
    assert!(now >= 2.0 * before);
    assert!(slow.iter().any(|m| m.starts_with("p99 duration ×")), "{slow:?}");
    assert!(slow.iter().any(|m| m.starts_with("cost +")), "{slow:?}");
    assert_eq!(moved("ops-report"), Vec::<String>::new());
    assert_eq!(
        rows.iter().find(|r| r["function"] == "ops-quiet").unwrap()["change"]["seenBefore"],
        false
    );
    let counts = |name: &str| moved(name).len();
    let names: Vec<&str> = rows.iter().map(|r| r["function"].as_str().unwrap()).collect();
    assert_eq!(names, ranking(&fleet(), &counts, MONTH));
    let previous_cost: f64 = previous().iter().map(|t| t.cost() * MONTH).sum();
    close(&out["totals"], "previousMonthlyCostUsd", previous_cost);
    assert_eq!(out["requests"]["getMetricData"], 2, "one call for each window");
    assert!(out["previousWindow"]["end"] == out["window"]["start"]);
    documented_members_are_the_output(&out);
}

/// docs/report.md's table of `lambda-lens-report/fleet/1` and a run's JSON (with
/// `--compare-to`, so every member has a value) name the same members: each member the table
/// names (first column) is in the output and each member of the output is in the table; each
/// object's members are named in its row (second column), and each name there is one of the
/// output's, somewhere under the member.
fn documented_members_are_the_output(out: &Value) {
    let docs = std::fs::read_to_string(common::workspace().join("docs/report.md")).unwrap();
    let table = docs
        .split("### `--all --json`: `lambda-lens-report/fleet/1`")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .find(|p| p.trim_start().starts_with('|'))
        .unwrap();
    let names = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .filter(|w| {
                w.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && w.chars().all(|c| c.is_ascii_alphanumeric())
                    && !matches!(*w, "null" | "true" | "false")
            })
            .map(str::to_owned)
            .collect()
    };
    fn keys_under(v: &Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(o) => {
                for (k, v) in o {
                    out.insert(k.clone());
                    keys_under(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| keys_under(v, out)),
            _ => {}
        }
    }
    let mut top_documented = std::collections::BTreeSet::new();
    for line in table.lines().skip(2) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let (members, what) = (names(cells[0]), names(cells.get(1).copied().unwrap_or("")));
        for member in &members {
            top_documented.insert(member.clone());
            let value = out
                .get(member)
                .unwrap_or_else(|| panic!("docs/report.md documents `{member}`, the output has none"));
            let mut under = std::collections::BTreeSet::new();
            keys_under(value, &mut under);
            for name in &what {
                assert!(
                    under.contains(name) || members.contains(name),
                    "docs/report.md names `{name}` under `{member}`: not in the output's {under:?}"
                );
            }
            // The member's own members (a row's, and a row's change's): each in its row.
            let objects: Vec<&Value> = match value {
                Value::Array(rows) => rows
                    .iter()
                    .flat_map(|r| [Some(r), r.get("change")])
                    .flatten()
                    .collect(),
                other => vec![other],
            };
            for object in objects {
                for key in object
                    .as_object()
                    .map(|o| o.keys().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    assert!(
                        what.contains(key),
                        "`{member}` has `{key}` in the output; docs/report.md does not name it there"
                    );
                }
            }
        }
    }
    let top: std::collections::BTreeSet<String> = out.as_object().unwrap().keys().cloned().collect();
    assert_eq!(top, top_documented, "the members of fleet/1 and its table");
}

#[test]
#[ignore = "needs the local CloudWatch (.venv-cloudwatch): make test runs it"]
fn filters_choose_the_functions() {
    let (ms, window) = seeded();
    let names = |args: &[&str]| -> (Vec<String>, Value) {
        let mut all = vec!["--json", "--sort", "name"];
        all.extend_from_slice(args);
        let out = json_of(&run(&ms.url(), &window, &all));
        (
            out["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["function"].as_str().unwrap().to_owned())
                .collect(),
            out,
        )
    };
    assert_eq!(names(&["--prefix", "pay-"]).0, ["pay-checkout", "pay-resize"]);
    let (got, out) = names(&["--functions", "ops-quiet,pay-resize,nope"]);
    assert_eq!(got, ["ops-quiet", "pay-resize"]);
    assert!(
        out["notes"][0]
            .as_str()
            .unwrap()
            .starts_with("nope: no lambda-lens data")
    );
    let (got, out) = names(&["--tag", "team=ops"]);
    assert_eq!(got, ["ops-quiet", "ops-report", "ops-slow"]);
    assert_eq!(out["requests"]["getResources"], 1);
    assert_eq!(
        names(&["--tag", "team=ops", "--tag", "env=prod"]).0,
        ["ops-report"]
    );
    assert_eq!(names(&["--tag", "team=ops", "--prefix", "ops-s"]).0, ["ops-slow"]);
    // Nothing left: the filters are named.
    let out = run(&ms.url(), &window, &["--prefix", "web-"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("with the prefix web-"), "{}", stderr(&out));
}

#[test]
fn usage_errors_name_the_fix() {
    for (args, says) in [
        (vec!["--all", "--function", "f"], "choose one"),
        (vec!["--all", "--tag", "team"], "KEY=VALUE"),
        (vec!["--all", "--sort", "bogus"], "accepted: attention, errors"),
        (vec!["--prefix", "p"], "go with --all"),
        (vec!["--all", "--compare-to", "soon"], "--compare-to soon"),
        (vec!["--all", "--emf", "x"], "not --emf"),
    ] {
        let out = report(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn access_denied_names_every_permission() {
    // ministack checks no IAM policy on these requests; the fault injector answers
    // AccessDenied as CloudWatch would.
    let rt = runtime();
    let nowhere = SocketAddr::from(([127, 0, 0, 1], common::closed_port()));
    let proxy = rt.block_on(FaultProxy::start(nowhere, Fault::Deny)).unwrap();
    let env = local_cloudwatch::env_for(&proxy.endpoint_url());
    let out = report(&["--all", "--since", "1h"], &env_refs(&env));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for says in [
        "may not call ListMetrics",
        "cloudwatch:ListMetrics",
        "cloudwatch:GetMetricData",
        "tag:GetResources only with --tag",
    ] {
        assert!(err.contains(says), "{says}: {err}");
    }
    assert_eq!(proxy.requests(), 1, "access denied is not retried");
}

#[test]
#[ignore = "needs the local CloudWatch (.venv-cloudwatch): make test runs it"]
fn throttling_is_retried_within_a_budget_and_said() {
    let (ms, window) = seeded();
    let rt = runtime();
    let proxy = rt
        .block_on(FaultProxy::start(
            ms.addr(),
            Fault::First(2, Box::new(Fault::Throttle)),
        ))
        .unwrap();
    let out = json_of(&run(&proxy.endpoint_url(), &window, &["--json"]));
    assert_eq!(out["requests"]["throttledRetries"], 2);
    assert_eq!(out["rows"].as_array().unwrap().len(), 5);
    assert_eq!(proxy.requests(), 2 + 1 + 1);
    // Throttled for good: the budget (5 retries of the request) ends it, and says so.
    proxy.set(Fault::Throttle);
    let out = run(&proxy.endpoint_url(), &window, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("ListMetrics stayed throttled after 5 retries"),
        "{err}"
    );
}

#[test]
#[ignore = "needs the local CloudWatch (.venv-cloudwatch): make test runs it"]
fn a_request_that_fails_on_the_way_is_retried_within_the_budget() {
    let (ms, window) = seeded();
    let rt = runtime();
    // Two server errors (CloudWatch's InternalServiceFault), then the endpoint answers.
    let proxy = rt
        .block_on(FaultProxy::start(
            ms.addr(),
            Fault::First(2, Box::new(Fault::Status(503))),
        ))
        .unwrap();
    let out = json_of(&run(&proxy.endpoint_url(), &window, &["--json"]));
    assert_eq!(out["requests"]["failedRetries"], 2);
    assert_eq!(out["requests"]["throttledRetries"], 0);
    assert_eq!(out["rows"].as_array().unwrap().len(), 5);
    assert_eq!(proxy.requests(), 2 + 1 + 1);
}

#[test]
#[ignore = "needs the local CloudWatch (.venv-cloudwatch): make test runs it"]
fn get_resources_denied_names_its_permission() {
    let (ms, window) = seeded();
    let rt = runtime();
    let nowhere = SocketAddr::from(([127, 0, 0, 1], common::closed_port()));
    let proxy = rt.block_on(FaultProxy::start(nowhere, Fault::Deny)).unwrap();
    let mut env = local_cloudwatch::env_for(&ms.url());
    // The SDK's service-specific endpoint variable: only the tagging API goes to the injector.
    env.push((
        "AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API".into(),
        proxy.endpoint_url(),
    ));
    let mut args: Vec<&str> = vec!["--all", "--tag", "team=ops"];
    args.extend(window.iter().map(String::as_str));
    let out = report(&args, &env_refs(&env));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("GetResources") && err.contains("tag:GetResources"),
        "{err}"
    );
    assert_eq!(proxy.requests(), 1);
}
