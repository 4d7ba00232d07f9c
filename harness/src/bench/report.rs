//! The Markdown `make bench` writes: the machine and the run, every figure of every subject side
//! by side, lambda-lens's ratios to each peer, and the bench's targets met or missed.

use std::fmt::Write as _;

use super::Results;
use super::summary::{DELAYED_MS, Summary, summarize};

/// Where and how the run was made.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub date: String,
    pub commit: String,
    pub command: String,
    pub nproc: usize,
    pub cpu: String,
    pub kernel: String,
    pub toolchain: String,
    /// `/proc/loadavg`'s three averages, before and after the run.
    pub load_before: String,
    pub load_after: String,
    /// lambda-lens's layer zip, when given.
    pub layer_zip_bytes: Option<u64>,
    /// The decode benchmark's output, when given.
    pub decode: Option<String>,
    /// The OTLP variant (`lambda-lens-bench --otlp-layer`), when run.
    pub otlp: Option<OtlpRun>,
}

/// The OTLP variant of a run: its subject's name and what the test receiver got from it.
#[derive(Debug, Clone, Default)]
pub struct OtlpRun {
    /// The subject's name in the run.
    pub subject: String,
    /// Export requests the receiver accepted (answered 200) over every life.
    pub exports: usize,
    /// `OTEL_METRIC_EXPORT_INTERVAL` given to it (ms).
    pub interval_ms: u64,
}

fn num(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "—".to_owned(), |x| format!("{x:.decimals$}"))
}

fn pair(a: Option<f64>, b: Option<f64>, decimals: usize) -> String {
    if a.is_none() && b.is_none() {
        return "—".to_owned();
    }
    format!("{} / {}", num(a, decimals), num(b, decimals))
}

fn share(n: usize, of: usize) -> String {
    if of == 0 {
        return "—".to_owned();
    }
    format!("{n} of {of} ({:.2} %)", 100.0 * n as f64 / of as f64)
}

fn bytes(b: Option<u64>) -> String {
    b.map_or_else(
        || "—".to_owned(),
        |b| {
            let s = b.to_string();
            let mut out = String::new();
            for (i, c) in s.chars().enumerate() {
                if i > 0 && (s.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            format!("{out} ({:.2} MB)", b as f64 / 1e6)
        },
    )
}

fn exit_cell(s: &Summary) -> String {
    let mut out = pair(s.exit_p50, s.exit_max, 2);
    if s.killed > 0 {
        let _ = write!(
            out,
            "; SIGKILLed at the deadline in {} of {} lives",
            s.killed, s.lives
        );
    }
    out
}

fn correctness_cell(s: &Summary, checked: bool) -> String {
    let exits = format!("exits at SHUTDOWN {} of {}", s.lives - s.killed, s.lives);
    if !checked {
        return format!("{exits}; writes no records");
    }
    let records = s.records.map_or_else(String::new, |(c, e)| {
        format!(" (last life: {c} for {e} invocations)")
    });
    format!(
        "cold start's report kept {} of {}; one record per invocation {} of {}{records}; {exits}",
        s.cold_start_kept, s.lives, s.correct_records, s.lives
    )
}

/// The CPU cap of the capped environments, or why there was none.
fn share_text(summaries: &[Summary]) -> String {
    summaries.iter().find_map(|s| s.capped_share).map_or_else(
        || "not capped here: the sandbox has no cgroup".to_owned(),
        |x| format!("{:.1} % of a core", x * 100.0),
    )
}

/// The rows of the side-by-side table: label, then one cell per subject.
fn rows(results: &Results, summaries: &[Summary]) -> Vec<(String, Vec<String>)> {
    let cells = |f: &dyn Fn(&Summary) -> String| summaries.iter().map(f).collect::<Vec<_>>();
    let plan = &results.plan;
    vec![
        (
            "ready, p50 / p90 (ms)".to_owned(),
            cells(&|s| pair(s.ready_p50, s.ready_p90, 2)),
        ),
        (
            "idle RSS after init (MiB)".to_owned(),
            cells(&|s| num(s.idle_mib, 2)),
        ),
        (
            format!("idle RSS after {} invocations (MiB)", plan.invocations),
            cells(&|s| num(s.idle_after_mib, 2)),
        ),
        (
            "peak RSS under the 1 MiB batch flood (MiB)".to_owned(),
            cells(&|s| num(s.flood_peak_mib, 2)),
        ),
        (
            "post-runtime duration, p50 / p99 (ms)".to_owned(),
            cells(&|s| pair(s.post_p50, s.post_p99, 3)),
        ),
        (
            "post-runtime duration, max (ms)".to_owned(),
            cells(&|s| num(s.post_max, 3)),
        ),
        (
            format!("invocations delayed > {DELAYED_MS} ms after the response"),
            cells(&|s| share(s.delayed.0, s.delayed.1)),
        ),
        (
            format!(
                "post-runtime duration at 128 MB's CPU share ({}), p50 / p99 (ms)",
                share_text(summaries)
            ),
            cells(&|s| pair(s.capped_p50, s.capped_p99, 3)),
        ),
        (
            format!("… delayed > {DELAYED_MS} ms at 128 MB's CPU share"),
            cells(&|s| share(s.capped_delayed.0, s.capped_delayed.1)),
        ),
        (
            "CPU per invocation, dense invocations, whole process (µs)".to_owned(),
            cells(&|s| num(s.cpu_per_invocation_us, 1)),
        ),
        (
            "CPU per 1 MiB flood batch (ms)".to_owned(),
            cells(&|s| num(s.cpu_per_batch_ms, 2)),
        ),
        (
            format!(
                "CPU per flooded invocation (µs; {:.0} invocations a batch)",
                results.invocations_per_batch
            ),
            cells(&|s| num(s.flood_cpu_per_invocation_us, 2)),
        ),
        (
            "flood intake over HTTP (MB/s)".to_owned(),
            cells(&|s| num(s.flood_mb_per_s, 1)),
        ),
        (
            "exit after SHUTDOWN, p50 / max (ms)".to_owned(),
            cells(&exit_cell),
        ),
        (
            "stripped binary (bytes)".to_owned(),
            cells(&|s| bytes(s.binary_bytes)),
        ),
        (
            "flood batches accepted".to_owned(),
            cells(&|s| {
                if s.batches.1 == 0 {
                    "— (no telemetry listener)".to_owned()
                } else if s.flood_outlasted > 0 {
                    format!(
                        "{} of {}; outlasted its invocation in {} lives",
                        s.batches.0, s.batches.1, s.flood_outlasted
                    )
                } else {
                    format!("{} of {}", s.batches.0, s.batches.1)
                }
            }),
        ),
        (
            "correctness on the same life".to_owned(),
            summaries
                .iter()
                .zip(&results.subjects)
                .map(|(s, subject)| correctness_cell(s, subject.output != super::Output::Nothing))
                .collect(),
        ),
    ]
}

/// The decode benchmark's CPU per invocation on its 1 MiB platform mix: the column of
/// join+metrics+EMF (the targets' in-process measure) where the benchmark has one, else its
/// decode+join+EMF "µs per invocation"; in the first row whose label starts with "1 MiB". A cell
/// may read `**4.59** (3.16–6.31)`: its first number.
fn decode_us_per_invocation(decode: &str) -> Option<f64> {
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let header = decode.lines().find(|l| l.contains("µs per invocation"))?;
    let header = cells(header);
    let column = header
        .iter()
        .position(|c| c.contains("join+metrics+EMF") && c.contains("µs per invocation"))
        .or_else(|| header.iter().position(|c| c.contains("µs per invocation")))?;
    let row = decode
        .lines()
        .map(cells)
        .find(|c| c.first().is_some_and(|l| l.starts_with("1 MiB")))?;
    let cell = row.get(column)?.split_whitespace().next()?;
    cell.trim_matches('*').parse().ok()
}

/// Everything `render` and `headline` need, summarized once.
pub struct Rendered {
    pub summaries: Vec<Summary>,
    pub targets: Vec<super::targets::Target>,
}

fn index_of(results: &Results, name: &str) -> Option<usize> {
    results.subjects.iter().position(|s| s.name == name)
}

/// Summarizes every subject and judges the targets (the first subject is lambda-lens; the
/// floor, the telemetry floor and the crate pattern are found by name).
pub fn judge(results: &Results, context: &Context) -> Rendered {
    let summaries: Vec<Summary> = results
        .subjects
        .iter()
        .zip(&results.lives)
        .map(|(subject, lives)| {
            let exe = subject.layer.join("extensions").join(&subject.extension);
            let size = std::fs::metadata(exe).ok().map(|m| m.len());
            summarize(
                lives,
                results.invocations_per_batch,
                size,
                results.plan.flood_batches,
            )
        })
        .collect();
    let by_name = |name: &str| index_of(results, name).and_then(|i| summaries.get(i));
    let mut targets = match summaries.first() {
        Some(lens) => super::targets::judge(
            lens,
            by_name(super::FLOOR),
            by_name(super::TELEMETRY_FLOOR),
            by_name(super::CRATE_PATTERN),
            context.layer_zip_bytes,
        ),
        None => Vec::new(),
    };
    if let Some(decode) = &context.decode {
        let after_ready = targets
            .iter()
            .position(|t| t.what.starts_with("ready p90"))
            .map_or(targets.len(), |i| i + 1);
        targets.insert(
            after_ready,
            super::targets::in_process(decode_us_per_invocation(decode)),
        );
    }
    Rendered { summaries, targets }
}

/// The post-runtime targets of every lambda-lens subject after the first (the variants a lever
/// run compares: `lambda-lens-bench --variant`), against the same run's floors.
pub fn variants(results: &Results, rendered: &Rendered) -> Vec<(String, Vec<super::targets::Target>)> {
    let by_name = |name: &str| index_of(results, name).and_then(|i| rendered.summaries.get(i));
    results
        .subjects
        .iter()
        .zip(&rendered.summaries)
        .skip(1)
        .filter(|(s, _)| s.output == super::Output::LambdaLens)
        .map(|(s, summary)| {
            (
                s.name.clone(),
                super::targets::post_runtime(summary, by_name(super::FLOOR), by_name(super::TELEMETRY_FLOOR)),
            )
        })
        .collect()
}

/// Each named subject's post-runtime p99 per round (dense invocations, uncapped).
fn per_round_p99(results: &Results, name: &str) -> Vec<Option<f64>> {
    index_of(results, name)
        .and_then(|i| results.lives.get(i))
        .map(|lives| {
            lives
                .iter()
                .map(|l| super::stats::quantile(&l.post_runtime_ms, 0.99))
                .collect()
        })
        .unwrap_or_default()
}

/// The run's noise band for a post-runtime p99 ([`super::targets::noise_band`]): the no-op
/// floor's and the telemetry floor's per-round p99s.
pub fn noise_band(results: &Results) -> Option<f64> {
    super::targets::noise_band(&[
        per_round_p99(results, super::FLOOR),
        per_round_p99(results, super::TELEMETRY_FLOOR),
    ])
}

/// "Sending adds nothing to post-runtime" for the OTLP variant of `context`, if it ran: the
/// default layer (the first subject) against it, within the run's noise band.
pub fn otlp_judgement(
    results: &Results,
    context: &Context,
    rendered: &Rendered,
) -> Option<super::targets::Target> {
    let otlp = context.otlp.as_ref()?;
    let default = rendered.summaries.first()?;
    let variant = index_of(results, &otlp.subject).and_then(|i| rendered.summaries.get(i))?;
    Some(super::targets::sending_adds_nothing(
        default,
        variant,
        noise_band(results),
        otlp.exports,
    ))
}

/// The OTLP variant's rows beside the default layer's, and the judgement.
fn otlp_section(out: &mut String, results: &Results, context: &Context, rendered: &Rendered) {
    let (Some(otlp), Some(default), Some(first)) = (
        context.otlp.as_ref(),
        rendered.summaries.first(),
        results.subjects.first(),
    ) else {
        return;
    };
    let Some(variant) = index_of(results, &otlp.subject).and_then(|i| rendered.summaries.get(i)) else {
        return;
    };
    let _ = writeln!(
        out,
        "\n#### The OTLP variant beside the default layer\n\nThe OTLP layer (`make layer SINK=otlp`) exporting to the OTLP test receiver every {} ms (`OTEL_METRIC_EXPORT_INTERVAL`; at 100 ms, the smallest accepted, it sends during the dense invocations), in the same interleaved rounds; its post-runtime targets against the floors are above.\n",
        otlp.interval_ms
    );
    let _ = writeln!(
        out,
        "| figure | {} | {} |\n|---|---|---|",
        first.name, otlp.subject
    );
    let rows: [(String, String, String); 6] = [
        (
            "post-runtime duration, p50 / p99 (ms)".to_owned(),
            pair(default.post_p50, default.post_p99, 3),
            pair(variant.post_p50, variant.post_p99, 3),
        ),
        (
            format!("invocations delayed > {DELAYED_MS} ms after the response"),
            share(default.delayed.0, default.delayed.1),
            share(variant.delayed.0, variant.delayed.1),
        ),
        (
            "post-runtime p99 at 128 MB's CPU share (ms)".to_owned(),
            num(default.capped_p99, 3),
            num(variant.capped_p99, 3),
        ),
        (
            "idle RSS after init / after the invocations (MiB)".to_owned(),
            pair(default.idle_mib, default.idle_after_mib, 2),
            pair(variant.idle_mib, variant.idle_after_mib, 2),
        ),
        (
            "stripped binary (bytes)".to_owned(),
            bytes(default.binary_bytes),
            bytes(variant.binary_bytes),
        ),
        (
            "exports the receiver accepted".to_owned(),
            "— (EMF on stdout)".to_owned(),
            if otlp.exports == 0 {
                "**none: the variant did not export**".to_owned()
            } else {
                format!("{} over {} lives", otlp.exports, variant.lives)
            },
        ),
    ];
    for (label, a, b) in rows {
        let _ = writeln!(out, "| {label} | {a} | {b} |");
    }
    let _ = writeln!(out);
    if let Some(t) = otlp_judgement(results, context, rendered) {
        super::targets::render(out, &[t]);
    }
}

/// The generated section of `BENCHMARKS.md`.
pub fn render(results: &Results, context: &Context, rendered: &Rendered) -> String {
    let plan = &results.plan;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "_Generated by `{}` on {}, commit {}: do not edit between the markers; run the command again._\n",
        context.command, context.date, context.commit
    );
    let _ = writeln!(out, "| machine | |\n|---|---|");
    let _ = writeln!(out, "| CPU | `nproc` = {}; {} |", context.nproc, context.cpu);
    let _ = writeln!(out, "| kernel | {} |", context.kernel);
    let _ = writeln!(out, "| toolchain | {} |", context.toolchain);
    if let Some(isolation) = results.lives.first().and_then(|l| l.first()) {
        let _ = writeln!(out, "| sandbox | {} |", isolation.isolation);
    }
    let _ = writeln!(
        out,
        "| load average (1, 5, 15 min) | {} before the run, {} after |\n",
        context.load_before, context.load_after
    );
    let _ = writeln!(
        out,
        "Plan: interleaved rounds: {}; in each, every subject lives the same life: {} ready-only starts, then init, {} dense invocations of `{{}}` (the first the cold start; 25 ms buffering where the subject lets the bench choose; the CPU not capped), {} more in an environment whose CPU is capped at Lambda's share for 128 MB, a flood of {} batches of ~1 MiB ({:.0} invocations each) POSTed to its telemetry listener during one long invocation, SHUTDOWN (spindown, 2,000 ms deadline).\n",
        plan.rounds,
        plan.ready_samples,
        plan.invocations,
        plan.capped_invocations,
        plan.flood_batches,
        results.invocations_per_batch
    );
    let _ = write!(out, "| figure |");
    for s in &results.subjects {
        let _ = write!(out, " {} |", s.name);
    }
    let _ = write!(out, "\n|---|");
    for _ in &results.subjects {
        let _ = write!(out, "---|");
    }
    let _ = writeln!(out);
    for (label, cells) in rows(results, &rendered.summaries) {
        let _ = writeln!(out, "| {label} | {} |", cells.join(" | "));
    }
    let _ = writeln!(out, "\nSubjects:\n");
    for s in &results.subjects {
        let _ = writeln!(out, "- **{}**: {}", s.name, s.note);
    }
    if let Some((lens, peers)) = rendered.summaries.split_first()
        && !peers.is_empty()
    {
        let named: Vec<(&str, &Summary)> = results
            .subjects
            .iter()
            .skip(1)
            .map(|s| s.name.as_str())
            .zip(peers)
            .collect();
        let _ = writeln!(out, "\n#### Ratios (medians; below 1 is lambda-lens lower)\n");
        super::targets::ratios(&mut out, lens, &named);
    }
    let _ = writeln!(out, "\n#### The targets on this run\n");
    let _ = writeln!(out, "Post-runtime: {}.\n", super::targets::POST_RUNTIME_TARGETS);
    super::targets::render(&mut out, &rendered.targets);
    for (name, targets) in variants(results, rendered) {
        let _ = writeln!(out, "\n#### The post-runtime targets of {name}\n");
        super::targets::render(&mut out, &targets);
    }
    otlp_section(&mut out, results, context, rendered);
    if let Some(decode) = &context.decode {
        let _ = writeln!(out, "\n#### In-process: the decode benchmark, same run\n");
        let _ = writeln!(out, "{}", decode.trim_end());
    }
    out
}

/// The README's few lines: the headline figures and where the rest is.
pub fn headline(results: &Results, context: &Context, rendered: &Rendered) -> String {
    let (Some(lens), Some(floor)) = (
        rendered.summaries.first(),
        index_of(results, super::FLOOR).and_then(|i| rendered.summaries.get(i)),
    ) else {
        return "Run `make bench` with the peers for the headline figures.\n".to_owned();
    };
    let met = rendered.targets.iter().filter(|t| t.met == Some(true)).count();
    format!(
        "Last `make bench` ({}, commit {}, load average {}), lambda-lens beside a no-op extension (the floor): \
post-runtime p99 {} ms (floor {} ms); ready p90 {} ms (floor {} ms); idle RSS {} MiB (floor {} MiB); \
peak RSS under a 1 MiB batch flood {} MiB; CPU {} µs per flooded invocation; exit {} ms after SHUTDOWN; \
stripped binary {:.2} MB. Targets met: {met} of {}. Every figure, the targets and the peers: `BENCHMARKS.md`.\n",
        context.date,
        context.commit,
        context.load_before,
        num(lens.post_p99, 3),
        num(floor.post_p99, 3),
        num(lens.ready_p90, 2),
        num(floor.ready_p90, 2),
        num(lens.idle_mib, 2),
        num(floor.idle_mib, 2),
        num(lens.flood_peak_mib, 2),
        num(lens.flood_cpu_per_invocation_us, 1),
        num(lens.exit_p50, 2),
        lens.binary_bytes.map_or(f64::NAN, |b| b as f64 / 1e6),
        rendered.targets.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_decode_benchmarks_cost_per_invocation() {
        let table = "| batch | bytes | µs per invocation (decode+join+EMF) | heap |\n|---|---:|---:|---:|\n| 1 MiB, platform mix | 1047066 | 23.35 | 1 |\n| 256 KiB | 2 | 33.5 | 1 |\n";
        assert_eq!(decode_us_per_invocation(table), Some(23.35));
        let table = "| batch | µs per invocation (decode+join+EMF) | **join+metrics+EMF CPU µs per invocation** median (min–max) |\n|---|---:|---:|\n| 1 MiB, platform mix | 8.59 | **4.59** (3.16–6.31) |\n";
        assert_eq!(decode_us_per_invocation(table), Some(4.59));
        assert_eq!(decode_us_per_invocation("no table"), None);
    }
}
