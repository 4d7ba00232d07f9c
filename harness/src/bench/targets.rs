//! The bench's targets, each judged against the floor or a peer measured in the same run, and
//! lambda-lens's ratio to every peer.

use std::fmt::Write as _;

use super::summary::Summary;

/// Judged targets: what, lambda-lens's figure, the reference's, the ratio, met or not
/// (`None`: a figure is missing).
#[derive(Debug, Clone)]
pub struct Target {
    pub what: String,
    pub measured: String,
    pub reference: String,
    pub met: Option<bool>,
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".to_owned(),
    }
}

fn ms(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "—".to_owned(), |x| format!("{x:.decimals$}"))
}

fn rate(d: (usize, usize)) -> Option<f64> {
    (d.1 > 0).then(|| d.0 as f64 / d.1 as f64)
}

/// The bench's targets for `lens` against `floor`, `telemetry` (the telemetry floor, for the
/// whole-process CPU) and (for the flood) `pattern`, the crate pattern; `zip` is lambda-lens's
/// layer zip in bytes.
pub fn judge(
    lens: &Summary,
    floor: Option<&Summary>,
    telemetry: Option<&Summary>,
    pattern: Option<&Summary>,
    zip: Option<u64>,
) -> Vec<Target> {
    let f = floor.cloned().unwrap_or_default();
    let p = pattern.cloned().unwrap_or_default();
    let within = |a: Option<f64>, b: Option<f64>, slack: f64| a.zip(b).map(|(a, b)| a <= b + slack);
    let at_most = |a: Option<f64>, limit: f64| a.map(|a| a <= limit);
    let mib = |v: Option<f64>| ms(v, 2) + " MiB";
    let mb = |b: Option<u64>| b.map_or_else(|| "—".to_owned(), |b| format!("{:.2} MB", b as f64 / 1e6));
    let t = telemetry.cloned().unwrap_or_default();
    let gap = |reference: Option<f64>| lens.cpu_per_invocation_us.zip(reference).map(|(a, b)| a - b);
    let (cpu_gap, noop_gap) = (gap(t.cpu_per_invocation_us), gap(f.cpu_per_invocation_us));
    let mut targets = post_runtime(lens, floor, telemetry);
    targets.extend([
        Target {
            what: "ready p90 within 1 ms of the floor's".to_owned(),
            measured: format!("{} ms", ms(lens.ready_p90, 2)),
            reference: format!(
                "floor {} ms; {}",
                ms(f.ready_p90, 2),
                ratio(lens.ready_p90, f.ready_p90)
            ),
            met: within(lens.ready_p90, f.ready_p90, 1.0),
        },
        Target {
            what: "CPU per invocation ≤ 5 µs, whole process under a steady stream (above the telemetry floor's: the same deliveries read and answered, nothing done with them)"
                .to_owned(),
            measured: format!(
                "{} µs ({} µs above the telemetry floor; {} µs above the no-op floor)",
                ms(lens.cpu_per_invocation_us, 1),
                ms(cpu_gap, 1),
                ms(noop_gap, 1)
            ),
            reference: format!(
                "telemetry floor {} µs; floor {} µs",
                ms(t.cpu_per_invocation_us, 1),
                ms(f.cpu_per_invocation_us, 1)
            ),
            met: at_most(cpu_gap, 5.0),
        },
        Target {
            what: "CPU per flooded invocation ≤ 5 µs (decode, join, metrics, EMF, HTTP; whole process)"
                .to_owned(),
            measured: format!("{} µs", ms(lens.flood_cpu_per_invocation_us, 2)),
            reference: format!(
                "crate pattern {} µs; {}",
                ms(p.flood_cpu_per_invocation_us, 2),
                ratio(lens.flood_cpu_per_invocation_us, p.flood_cpu_per_invocation_us)
            ),
            met: at_most(lens.flood_cpu_per_invocation_us, 5.0),
        },
        Target {
            what: "idle RSS ≤ 1.6 MiB".to_owned(),
            measured: mib(lens.idle_mib),
            reference: format!("floor {}; {}", mib(f.idle_mib), ratio(lens.idle_mib, f.idle_mib)),
            met: at_most(lens.idle_mib, 1.6),
        },
        Target {
            what: "flood peak RSS ≤ 4 MiB".to_owned(),
            measured: mib(lens.flood_peak_mib),
            reference: format!(
                "crate pattern {}; {}",
                mib(p.flood_peak_mib),
                ratio(lens.flood_peak_mib, p.flood_peak_mib)
            ),
            met: at_most(lens.flood_peak_mib, 4.0),
        },
        Target {
            what: "stripped binary ≤ 1.8 MB".to_owned(),
            measured: mb(lens.binary_bytes),
            reference: format!(
                "floor {}; {}",
                mb(f.binary_bytes),
                ratio(
                    lens.binary_bytes.map(|b| b as f64),
                    f.binary_bytes.map(|b| b as f64)
                )
            ),
            met: lens.binary_bytes.map(|b| b <= 1_800_000),
        },
        Target {
            what: "layer zip ≤ 1 MB".to_owned(),
            measured: mb(zip),
            reference: "—".to_owned(),
            met: zip.map(|b| b <= 1_000_000),
        },
        Target {
            what: "exit ≤ 50 ms after SHUTDOWN (earlier target)".to_owned(),
            measured: format!("{} ms", ms(lens.exit_p50, 2)),
            reference: format!(
                "floor {} ms; {}",
                ms(f.exit_p50, 2),
                ratio(lens.exit_p50, f.exit_p50)
            ),
            met: at_most(lens.exit_p50, 50.0).map(|ok| ok && lens.killed == 0),
        },
        Target {
            what:
                "correct on the scripted life (cold start kept, one record per invocation, exits at SHUTDOWN)"
                    .to_owned(),
            measured: format!(
                "records right in {} of {} lives; exited in {} of {}",
                lens.correct_records,
                lens.lives,
                lens.lives - lens.killed,
                lens.lives
            ),
            reference: "—".to_owned(),
            met: Some(lens.lives > 0 && lens.correct_records == lens.lives && lens.killed == 0),
        },
    ]);
    targets
}

/// The post-runtime targets, stated once: what lambda-lens adds after the function's response
/// is judged against the two floors measured in the same run, uncapped and at 128 MB's CPU
/// share. The telemetry floor receives the same deliveries and does nothing with them, so a gap
/// to it is lambda-lens's own work; the no-op floor is what any extension costs.
pub const POST_RUNTIME_TARGETS: &str = "post-runtime p99 within 0.05 ms of the telemetry floor's and within 0.1 ms of the no-op floor's, and no more invocations delayed > 0.5 ms than the telemetry floor plus 1 in 1,000; uncapped and at 128 MB's CPU share";

/// The p99 slack to the telemetry floor's, to the no-op floor's (ms), and the delayed share
/// allowed above the telemetry floor's.
const P99_SLACK_TELEMETRY_MS: f64 = 0.05;
const P99_SLACK_FLOOR_MS: f64 = 0.1;
const DELAYED_SLACK: f64 = 0.001;

/// The post-runtime targets of one lambda-lens subject (six: three uncapped, three at 128 MB's
/// CPU share), against the floors of the same run.
pub fn post_runtime(lens: &Summary, floor: Option<&Summary>, telemetry: Option<&Summary>) -> Vec<Target> {
    let f = floor.cloned().unwrap_or_default();
    let t = telemetry.cloned().unwrap_or_default();
    let within = |a: Option<f64>, b: Option<f64>, slack: f64| a.zip(b).map(|(a, b)| a <= b + slack);
    let delayed = |a: (usize, usize), b: (usize, usize)| {
        rate(a).zip(rate(b)).map(|(a, b)| a <= b + DELAYED_SLACK + 1e-12)
    };
    let share = |d: (usize, usize)| format!("{} of {}", d.0, d.1);
    let mut out = Vec::new();
    for (label, p99, fp99, tp99, d, fd, td) in [
        (
            "",
            lens.post_p99,
            f.post_p99,
            t.post_p99,
            lens.delayed,
            f.delayed,
            t.delayed,
        ),
        (
            "at 128 MB's CPU share: ",
            lens.capped_p99,
            f.capped_p99,
            t.capped_p99,
            lens.capped_delayed,
            f.capped_delayed,
            t.capped_delayed,
        ),
    ] {
        out.push(Target {
            what: format!("{label}post-runtime p99 within 0.05 ms of the telemetry floor's"),
            measured: format!("{} ms", ms(p99, 3)),
            reference: format!("telemetry floor {} ms; {}", ms(tp99, 3), ratio(p99, tp99)),
            met: within(p99, tp99, P99_SLACK_TELEMETRY_MS),
        });
        out.push(Target {
            what: format!("{label}post-runtime p99 within 0.1 ms of the no-op floor's"),
            measured: format!("{} ms", ms(p99, 3)),
            reference: format!("floor {} ms; {}", ms(fp99, 3), ratio(p99, fp99)),
            met: within(p99, fp99, P99_SLACK_FLOOR_MS),
        });
        out.push(Target {
            what: format!(
                "{label}invocations delayed > 0.5 ms: no more than the telemetry floor's plus 1 in 1,000"
            ),
            measured: share(d),
            reference: format!("telemetry floor {} (floor {})", share(td), share(fd)),
            met: delayed(d, td),
        });
    }
    out
}

/// The run's noise band for a post-runtime p99: the widest spread (largest − smallest) of one
/// floor's per-round p99 between the rounds of this run. A floor does the same nothing in every
/// round, so how far its p99 moves from round to round is what this machine's noise alone moves
/// a p99 by; a gap smaller than that cannot be told from noise. `per_round` holds each floor's
/// per-round p99s; a floor with fewer than two measured rounds has no spread (`None` when no
/// floor has one).
pub fn noise_band(per_round: &[Vec<Option<f64>>]) -> Option<f64> {
    per_round
        .iter()
        .filter_map(|rounds| {
            let v: Vec<f64> = rounds
                .iter()
                .flatten()
                .copied()
                .filter(|x| x.is_finite())
                .collect();
            (v.len() >= 2).then(|| {
                let hi = v.iter().copied().fold(f64::MIN, f64::max);
                let lo = v.iter().copied().fold(f64::MAX, f64::min);
                hi - lo
            })
        })
        .reduce(f64::max)
}

/// "Sending adds nothing to post-runtime": the OTLP variant's post-runtime p99 no more than the
/// run's noise band ([`noise_band`]) above the default layer's. Not judged when the variant
/// exported nothing (`exports`: the requests the receiver accepted): a variant that never sent
/// says nothing about sending.
pub fn sending_adds_nothing(default: &Summary, otlp: &Summary, band: Option<f64>, exports: usize) -> Target {
    let what = "sending adds nothing to post-runtime: the OTLP variant's p99 within the run's noise band of the default layer's".to_owned();
    let reference = format!(
        "default layer {} ms; noise band {} ms",
        ms(default.post_p99, 3),
        ms(band, 3)
    );
    if exports == 0 {
        return Target {
            what,
            measured: format!(
                "{} ms, but the variant did not export (the receiver accepted no request)",
                ms(otlp.post_p99, 3)
            ),
            reference,
            met: None,
        };
    }
    let gap = otlp.post_p99.zip(default.post_p99).map(|(o, d)| o - d);
    Target {
        what,
        measured: format!(
            "{} ms ({} ms above the default layer's; {exports} exports received)",
            ms(otlp.post_p99, 3),
            gap.map_or_else(|| "—".to_owned(), |g| format!("{g:+.3}"))
        ),
        reference,
        met: gap.zip(band).map(|(g, b)| g <= b + 1e-12),
    }
}

/// The in-process half of the CPU target: the decode benchmark's decode+join+EMF per invocation
/// on its 1 MiB batch.
pub fn in_process(us: Option<f64>) -> Target {
    Target {
        what:
            "CPU per invocation ≤ 5 µs in-process (decode benchmark, 1 MiB mix: join, metrics and EMF where it measures them apart, else with the decode)"
                .to_owned(),
        measured: format!("{} µs", ms(us, 2)),
        reference: "—".to_owned(),
        met: us.map(|us| us <= 5.0),
    }
}

/// The targets as a table.
pub fn render(out: &mut String, targets: &[Target]) {
    let _ = writeln!(out, "| target | lambda-lens | reference, ratio | status |");
    let _ = writeln!(out, "|---|---|---|---|");
    for t in targets {
        let status = match t.met {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "not measured",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {status} |",
            t.what, t.measured, t.reference
        );
    }
}

/// A figure's name and how to read it from a summary.
type Figure = (&'static str, fn(&Summary) -> Option<f64>);

/// lambda-lens ÷ each peer, for the figures where lower is better.
pub fn ratios(out: &mut String, lens: &Summary, peers: &[(&str, &Summary)]) {
    let figures: [Figure; 10] = [
        ("ready p90", |s| s.ready_p90),
        ("idle RSS", |s| s.idle_mib),
        ("flood peak RSS", |s| s.flood_peak_mib),
        ("post-runtime p50", |s| s.post_p50),
        ("post-runtime p99", |s| s.post_p99),
        ("CPU per invocation (dense)", |s| s.cpu_per_invocation_us),
        ("CPU per 1 MiB batch", |s| s.cpu_per_batch_ms),
        ("flood intake (higher is better)", |s| s.flood_mb_per_s),
        ("exit after SHUTDOWN p50", |s| s.exit_p50),
        ("stripped binary", |s| s.binary_bytes.map(|b| b as f64)),
    ];
    let _ = write!(out, "| lambda-lens ÷ |");
    for (name, _) in peers {
        let _ = write!(out, " {name} |");
    }
    let _ = write!(out, "\n|---|");
    for _ in peers {
        let _ = write!(out, "---:|");
    }
    let _ = writeln!(out);
    for (what, get) in figures {
        let _ = write!(out, "| {what} |");
        for (_, peer) in peers {
            let _ = write!(out, " {} |", ratio(get(lens), get(peer)));
        }
        let _ = writeln!(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(p99: f64, delayed: usize, capped_p99: f64, capped_delayed: usize) -> Summary {
        Summary {
            post_p99: Some(p99),
            delayed: (delayed, 1000),
            capped_p99: Some(capped_p99),
            capped_delayed: (capped_delayed, 500),
            ..Summary::default()
        }
    }

    #[test]
    fn post_runtime_targets_are_judged_against_both_floors() {
        let floor = summary(0.12, 1, 0.14, 1);
        let telemetry = summary(0.17, 2, 0.30, 1);
        let met = |lens: &Summary| -> Vec<Option<bool>> {
            post_runtime(lens, Some(&floor), Some(&telemetry))
                .iter()
                .map(|t| t.met)
                .collect()
        };
        // Within both slacks, one more delayed in 1,000 (and none more in 500).
        let within = summary(0.22, 3, 0.24, 1);
        assert_eq!(met(&within), vec![Some(true); 6]);
        // Over the telemetry floor's p99 by more than 0.05 ms, though within the floor's 0.1.
        assert_eq!(
            met(&summary(0.221, 3, 0.24, 1))[..3],
            [Some(false), Some(false), Some(true)]
        );
        // Two more delayed than the telemetry floor: missed; capped: 1 more in 500 is 2 in 1,000.
        assert_eq!(met(&summary(0.2, 4, 0.2, 2))[2], Some(false));
        assert_eq!(met(&summary(0.2, 3, 0.2, 2))[5], Some(false));
        // No floors measured: not judged.
        assert!(post_runtime(&within, None, None).iter().all(|t| t.met.is_none()));
    }

    #[test]
    fn the_noise_band_is_the_widest_spread_of_a_floors_p99_between_rounds() {
        let floor = vec![Some(0.12), Some(0.15), None, Some(0.13)];
        let telemetry = vec![Some(0.20), Some(0.18)];
        let band = noise_band(&[floor, telemetry]).unwrap_or_default();
        assert!((band - 0.03).abs() < 1e-9, "{band}");
        // One round: no spread, no band.
        assert_eq!(noise_band(&[vec![Some(0.12)], vec![None, Some(0.2)]]), None);
        assert_eq!(noise_band(&[]), None);
    }

    #[test]
    fn sending_adds_nothing_within_the_noise_band_of_the_default_layers_p99() {
        let default = summary(0.20, 0, 0.2, 0);
        let judge = |p99: f64, band: Option<f64>, exports: usize| {
            sending_adds_nothing(&default, &summary(p99, 0, 0.2, 0), band, exports)
        };
        // Within the band (and below the default's): met.
        assert_eq!(judge(0.229, Some(0.03), 12).met, Some(true));
        assert_eq!(judge(0.15, Some(0.03), 12).met, Some(true));
        // Above it by more than the band: missed.
        let over = judge(0.231, Some(0.03), 12);
        assert_eq!(over.met, Some(false));
        assert!(over.measured.contains("+0.031"), "{}", over.measured);
        // No band (one round, or no floors): not judged.
        assert_eq!(judge(0.2, None, 12).met, None);
        // No export received: not judged, and the row says why.
        let silent = judge(0.2, Some(0.03), 0);
        assert_eq!(silent.met, None);
        assert!(silent.measured.contains("did not export"), "{}", silent.measured);
    }
}
