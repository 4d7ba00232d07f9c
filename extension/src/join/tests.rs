use super::*;
use crate::model::{Report, ReportMetrics, RuntimeDone, RuntimeDoneMetrics};

const T0: i64 = 1_795_600_800_000;

fn ev(dt: i64, kind: EventKind) -> TelemetryEvent {
    TelemetryEvent {
        time_ms: T0 + dt,
        kind,
    }
}

fn on_demand() -> Phase {
    Phase {
        init_type: Some("on-demand".into()),
        phase: Some("init".into()),
        ..Phase::default()
    }
}

fn init_start(dt: i64) -> TelemetryEvent {
    ev(
        dt,
        EventKind::InitStart(Phase {
            runtime_version: Some("provided:al2023".into()),
            ..on_demand()
        }),
    )
}

fn init_report(dt: i64, ms: f64) -> TelemetryEvent {
    ev(
        dt,
        EventKind::InitReport(Phase {
            status: Some(Status::Success),
            duration_ms: Some(ms),
            ..on_demand()
        }),
    )
}

fn start(dt: i64, id: &str) -> TelemetryEvent {
    ev(
        dt,
        EventKind::Start(Start {
            request_id: id.into(),
            version: Some("$LATEST".into()),
            trace_id: None,
            tenant_id: None,
        }),
    )
}

fn runtime_done(dt: i64, id: &str, status: Status) -> TelemetryEvent {
    ev(
        dt,
        EventKind::RuntimeDone(
            id.into(),
            RuntimeDone {
                status: Some(status),
                error_type: None,
                metrics: Some(RuntimeDoneMetrics {
                    duration_ms: 10.0,
                    produced_bytes: Some(20.0),
                }),
                ..RuntimeDone::default()
            },
        ),
    )
}

fn report(dt: i64, id: &str, status: Status, init_ms: Option<f64>) -> TelemetryEvent {
    ev(
        dt,
        EventKind::Report(
            id.into(),
            Report {
                status: Some(status),
                error_type: (status == Status::Error).then(|| "Runtime.OutOfMemory".into()),
                metrics: ReportMetrics {
                    duration_ms: 12.5,
                    billed_duration_ms: Some(13.0),
                    memory_size_mb: Some(128.0),
                    max_memory_used_mb: Some(40.0),
                    init_duration_ms: init_ms,
                    restore_duration_ms: None,
                },
                spans: Default::default(),
                tenant_id: None,
            },
        ),
    )
}

fn invocation(id: &str, dt: i64) -> Vec<TelemetryEvent> {
    vec![
        start(dt, id),
        runtime_done(dt + 10, id, Status::Success),
        report(dt + 12, id, Status::Success, None),
    ]
}

fn feed(j: &mut Joiner, events: Vec<TelemetryEvent>, now: u64) -> Vec<CompletedInvocation> {
    let mut out = Vec::new();
    for e in events {
        j.ingest(e, now, &mut out);
    }
    out
}

fn joiner() -> Joiner {
    Joiner::new(JoinLimits::default())
}

#[test]
fn a_whole_invocation_in_one_batch_completes_with_cold_start() {
    let mut j = joiner();
    let mut batch = vec![init_start(0), init_report(100, 95.5)];
    batch.extend(invocation("a", 120));
    let out = feed(&mut j, batch, 0);
    assert_eq!(out.len(), 1);
    let a = &out[0];
    assert_eq!(a.request_id, "a");
    assert_eq!(a.ending, Ending::Complete);
    assert!(a.cold_start);
    assert_eq!(a.init.as_ref().unwrap().duration_ms, Some(95.5));
    assert_eq!(a.init.as_ref().unwrap().init_type.as_deref(), Some("on-demand"));
    assert_eq!(a.timestamp_ms, T0 + 120);
    assert_eq!(a.status, Some(Status::Success));
    assert_eq!(j.pending(), 0);
}

#[test]
fn only_the_first_invocation_after_init_is_cold() {
    let mut j = joiner();
    let mut batch = vec![init_start(0), init_report(100, 95.5)];
    batch.extend(invocation("a", 120));
    batch.extend(invocation("b", 220));
    let out = feed(&mut j, batch, 0);
    let cold: Vec<bool> = out.iter().map(|i| i.cold_start).collect();
    assert_eq!(cold, [true, false]);
    assert!(out[1].init.is_none());
}

#[test]
fn the_late_report_completes_the_invocation_in_a_later_batch() {
    let mut j = joiner();
    // Invocation a: start and runtimeDone now; its report comes with invocation b's events.
    let out = feed(
        &mut j,
        vec![start(0, "a"), runtime_done(10, "a", Status::Success)],
        0,
    );
    assert!(out.is_empty());
    assert_eq!(j.outstanding(), 1);
    let out = feed(
        &mut j,
        vec![
            report(12, "a", Status::Success, None),
            start(500, "b"),
            runtime_done(510, "b", Status::Success),
        ],
        5,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].request_id, "a");
    assert_eq!(out[0].report.as_ref().unwrap().metrics.duration_ms, 12.5);
    assert_eq!(j.outstanding(), 1);
}

#[test]
fn events_in_any_order_join_the_same() {
    let orders: [[usize; 3]; 6] = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    for order in orders {
        let mut j = joiner();
        let events = invocation("x", 0);
        let shuffled: Vec<_> = order.iter().map(|&i| events[i].clone()).collect();
        let out = feed(&mut j, shuffled, 0);
        assert_eq!(out.len(), 1, "{order:?}");
        assert_eq!(out[0].ending, Ending::Complete);
        assert_eq!(
            out[0].timestamp_ms, T0,
            "timestamp is the start's time, {order:?}"
        );
    }
}

#[test]
fn a_duplicate_delivery_is_not_counted_twice() {
    let mut j = joiner();
    let mut batch = vec![init_start(0), init_report(100, 95.5)];
    batch.extend(invocation("a", 120));
    let first = feed(&mut j, batch.clone(), 0);
    assert_eq!(first.len(), 1);
    let again = feed(&mut j, batch, 1);
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(j.pending(), 0);
    assert!(j.stats().duplicates >= 3);
    // The replayed init events must not make the next invocation cold either.
    let out = feed(&mut j, invocation("b", 300), 2);
    assert!(!out[0].cold_start);
}

#[test]
fn a_duplicate_of_a_pending_event_changes_nothing() {
    let mut j = joiner();
    let out = feed(
        &mut j,
        vec![start(0, "a"), start(0, "a"), runtime_done(5, "a", Status::Error)],
        0,
    );
    assert!(out.is_empty());
    let out = feed(
        &mut j,
        vec![
            runtime_done(5, "a", Status::Error),
            report(7, "a", Status::Error, None),
        ],
        0,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, Some(Status::Error));
}

#[test]
fn the_last_report_arrives_only_at_shutdown() {
    let mut j = joiner();
    let mut out = Vec::new();
    j.on_invoke(&"last".into(), T0, false, &mut out);
    let out2 = feed(
        &mut j,
        vec![start(0, "last"), runtime_done(10, "last", Status::Success)],
        0,
    );
    assert!(out.is_empty() && out2.is_empty());
    assert_eq!(j.outstanding(), 1);
    let out = feed(&mut j, vec![report(12, "last", Status::Success, None)], 9);
    assert_eq!(out.len(), 1);
    assert_eq!(j.outstanding(), 0);
}

#[test]
fn shutdown_emits_what_is_known_and_marks_a_timed_out_invocation() {
    let mut j = joiner();
    let mut out = Vec::new();
    j.on_invoke(&"slow".into(), T0, false, &mut out);
    feed(&mut j, vec![start(0, "slow")], 0);
    j.on_invoke(&"never-started".into(), T0 + 5, false, &mut out);
    j.drain(Some("Timeout"), &mut out);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|i| i.ending == Ending::Shutdown));
    // Only the latest invocation was running; the older one lost its records.
    assert_eq!(out[0].request_id, "slow");
    assert_eq!(out[0].status, None);
    assert_eq!(out[1].request_id, "never-started");
    assert_eq!(out[1].status, Some(Status::Timeout));
    assert_eq!(out[1].error_type, None, "Lambda gives a timeout no error type");
    assert_eq!(j.pending(), 0);
}

#[test]
fn shutdown_for_spindown_does_not_invent_a_status() {
    let mut j = joiner();
    let mut out = Vec::new();
    feed(
        &mut j,
        vec![start(0, "a"), runtime_done(3, "a", Status::Failure)],
        0,
    );
    j.drain(Some("spindown"), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, Some(Status::Failure));
    assert_eq!(out[0].ending, Ending::Shutdown);
}

#[test]
fn a_report_missing_its_start_is_emitted_after_the_grace_period() {
    let mut j = joiner();
    let out = feed(&mut j, vec![report(12, "orphan", Status::Success, None)], 1_000);
    assert!(out.is_empty());
    assert_eq!(j.next_deadline(), Some(2_000));
    let mut out = Vec::new();
    j.sweep(1_999, &mut out);
    assert!(out.is_empty());
    j.sweep(2_000, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ending, Ending::ReportOnly);
    assert_eq!(out[0].timestamp_ms, T0 + 12);
    assert_eq!(j.next_deadline(), None);
}

#[test]
fn a_report_with_init_duration_marks_a_cold_start_without_init_events() {
    let mut j = joiner();
    let mut batch = invocation("a", 0);
    batch[2] = report(12, "a", Status::Success, Some(80.0));
    let out = feed(&mut j, batch, 0);
    assert!(out[0].cold_start);
    assert_eq!(out[0].init.as_ref().unwrap().duration_ms, Some(80.0));
}

#[test]
fn snapstart_restore_is_not_a_cold_start_and_carries_restore_duration() {
    let mut j = joiner();
    let mut batch = vec![
        ev(0, EventKind::RestoreStart),
        ev(
            200,
            EventKind::RestoreReport(Phase {
                status: Some(Status::Success),
                duration_ms: Some(199.0),
                ..Phase::default()
            }),
        ),
        // The snapshot's init, replayed after the restore.
        init_start(1),
        init_report(2, 900.0),
    ];
    batch.extend(invocation("a", 300));
    batch.extend(invocation("b", 400));
    let out = feed(&mut j, batch, 0);
    assert_eq!(out.len(), 2);
    assert!(!out[0].cold_start && !out[1].cold_start);
    assert_eq!(out[0].restore_duration_ms, Some(199.0));
    assert_eq!(out[1].restore_duration_ms, None);
}

#[test]
fn pending_state_is_bounded_and_the_oldest_is_evicted() {
    let mut j = Joiner::new(JoinLimits {
        max_pending: 3,
        ..JoinLimits::default()
    });
    let mut out = Vec::new();
    for i in 0..5 {
        j.ingest(start(i, &format!("r{i}")), 0, &mut out);
    }
    assert_eq!(j.pending(), 3);
    let evicted: Vec<&str> = out.iter().map(|i| i.request_id.as_str()).collect();
    assert_eq!(evicted, ["r0", "r1"]);
    assert!(out.iter().all(|i| i.ending == Ending::Evicted));
    assert_eq!(j.stats().evicted, 2);
}

#[test]
fn the_remembered_window_is_bounded() {
    let mut j = Joiner::new(JoinLimits {
        remembered: 2,
        ..JoinLimits::default()
    });
    for i in 0..10 {
        feed(&mut j, invocation(&format!("r{i}"), i * 100), 0);
    }
    assert!(j.recent.len() <= 2 && j.recent_order.len() <= 2);
    assert!(j.order.len() <= 2 * j.limits.max_pending);
}

#[test]
fn an_invocation_waits_for_its_resource_sample() {
    let mut j = joiner();
    let mut out = Vec::new();
    j.on_invoke(&"a".into(), T0, true, &mut out);
    out.extend(feed(&mut j, invocation("a", 0), 0));
    assert!(
        out.is_empty(),
        "complete events, but the resource sample is still to come"
    );
    assert_eq!(j.next_deadline(), None, "nothing for the sweep to do");
    let usage = ResourceUsage {
        cpu_user_ms: 12.0,
        ..ResourceUsage::default()
    };
    j.attach_resources(&"a".into(), usage, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].resources, Some(usage));
    assert_eq!(out[0].ending, Ending::Complete);
}

#[test]
fn drain_emits_an_invocation_still_waiting_for_resources_as_complete() {
    let mut j = joiner();
    let mut out = Vec::new();
    j.on_invoke(&"a".into(), T0, true, &mut out);
    out.extend(feed(&mut j, invocation("a", 0), 0));
    j.drain(Some("spindown"), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ending, Ending::Complete);
}

#[test]
fn overlapping_invocations_count_their_concurrency() {
    let mut j = joiner();
    let out = feed(
        &mut j,
        vec![
            start(0, "a"),
            start(1, "b"),
            start(2, "c"),
            runtime_done(3, "a", Status::Success),
            start(4, "d"),
            runtime_done(5, "b", Status::Success),
            runtime_done(6, "c", Status::Success),
            runtime_done(7, "d", Status::Success),
            report(8, "a", Status::Success, None),
            report(8, "b", Status::Success, None),
            report(8, "c", Status::Success, None),
            report(8, "d", Status::Success, None),
        ],
        0,
    );
    let c: Vec<(String, Option<u32>)> = out
        .into_iter()
        .map(|i| (i.request_id.to_string(), i.concurrency))
        .collect();
    assert_eq!(
        c,
        [
            ("a".into(), Some(1)),
            ("b".into(), Some(2)),
            ("c".into(), Some(3)),
            ("d".into(), Some(3))
        ]
    );
}

fn init_report_of(dt: i64, init_type: &str, phase: &str) -> TelemetryEvent {
    ev(
        dt,
        EventKind::InitReport(Phase {
            init_type: Some(init_type.into()),
            phase: Some(phase.into()),
            status: Some(Status::Success),
            duration_ms: Some(50.0),
            ..Phase::default()
        }),
    )
}

#[test]
fn inits_ahead_of_traffic_are_not_cold_starts_but_a_re_init_inside_an_invoke_is() {
    for (init_type, phase, cold) in [
        ("provisioned-concurrency", "init", false),
        ("lambda-managed-instances", "init", false),
        ("provisioned-concurrency", "invoke", true),
        ("on-demand", "init", true),
        ("on-demand", "invoke", true),
    ] {
        let mut j = joiner();
        let mut batch = vec![init_report_of(0, init_type, phase)];
        batch.extend(invocation("a", 10));
        let out = feed(&mut j, batch, 0);
        assert_eq!(out[0].cold_start, cold, "{init_type} {phase}");
    }
}

#[test]
fn managed_instances_complete_without_runtime_done_and_count_overlap_until_the_report() {
    let mut j = Joiner::new(JoinLimits {
        runtime_done_expected: false,
        ..JoinLimits::default()
    });
    let out = feed(
        &mut j,
        vec![
            start(0, "a"),
            start(1, "b"),
            report(5, "a", Status::Success, None),
            start(6, "c"),
            report(7, "b", Status::Success, None),
            report(8, "c", Status::Success, None),
        ],
        0,
    );
    let c: Vec<(String, Option<u32>, Ending)> = out
        .into_iter()
        .map(|i| (i.request_id.to_string(), i.concurrency, i.ending))
        .collect();
    assert_eq!(
        c,
        [
            ("a".into(), Some(1), Ending::Complete),
            ("b".into(), Some(2), Ending::Complete),
            ("c".into(), Some(2), Ending::Complete)
        ]
    );
}

#[test]
fn on_managed_instances_every_invocation_without_a_report_timed_out() {
    let mut j = Joiner::new(JoinLimits {
        runtime_done_expected: false,
        ..JoinLimits::default()
    });
    let mut out = feed(&mut j, vec![start(0, "a"), start(1, "b"), start(2, "c")], 0);
    out.extend(feed(&mut j, vec![report(3, "c", Status::Success, None)], 0));
    j.drain(Some("timeout"), &mut out);
    let s: Vec<(String, Option<Status>)> = out
        .into_iter()
        .map(|i| (i.request_id.to_string(), i.status))
        .collect();
    assert_eq!(
        s,
        [
            ("c".into(), Some(Status::Success)),
            ("a".into(), Some(Status::Timeout)),
            ("b".into(), Some(Status::Timeout))
        ]
    );
}

/// The init reports the join let go, with what the first invocation found of each.
fn phase_reports(j: &mut Joiner) -> Vec<(i64, Phase)> {
    let mut out = Vec::new();
    j.take_phase_reports(&mut out);
    out
}

/// An on-demand init that ended 10 s or more (on the platform's clock) before the first
/// invocation started was proactive: that invocation waited for nothing, so it is not a cold
/// start, even though its report carries the init's duration; the init's report says it was
/// proactive and keeps its duration.
#[test]
fn an_init_long_before_the_first_invocation_is_proactive_not_a_cold_start() {
    let mut j = joiner();
    let mut batch = vec![init_start(0), init_report(100, 95.5)];
    assert!(feed(&mut j, batch.clone(), 0).is_empty());
    assert!(phase_reports(&mut j).is_empty(), "held until the first start");
    let gap = PROACTIVE_GAP_MS;
    batch = vec![
        start(100 + gap, "a"),
        runtime_done(110 + gap, "a", Status::Success),
        report(112 + gap, "a", Status::Success, Some(95.5)),
    ];
    let out = feed(&mut j, batch, 1);
    assert_eq!(out.len(), 1);
    assert!(!out[0].cold_start, "a proactive init is not a cold start");
    assert!(out[0].init.is_none());
    let reports = phase_reports(&mut j);
    assert_eq!(reports.len(), 1);
    let (time_ms, phase) = &reports[0];
    assert_eq!(*time_ms, T0 + 100);
    assert_eq!(phase.duration_ms, Some(95.5));
    assert_eq!(
        phase.first_invoke,
        Some(FirstInvoke {
            proactive: true,
            after_ms: gap
        })
    );
    // The next invocation is warm as ever.
    let out = feed(&mut j, invocation("b", 30_000), 2);
    assert!(!out[0].cold_start);
}

#[test]
fn an_init_just_before_the_first_invocation_is_a_cold_start() {
    let mut j = joiner();
    let gap = PROACTIVE_GAP_MS - 1;
    let mut batch = vec![init_start(0), init_report(100, 95.5)];
    batch.extend(invocation("a", 100 + gap));
    let out = feed(&mut j, batch, 0);
    assert!(out[0].cold_start);
    assert_eq!(out[0].init.as_ref().and_then(|i| i.duration_ms), Some(95.5));
    let reports = phase_reports(&mut j);
    assert_eq!(
        reports[0].1.first_invoke,
        Some(FirstInvoke {
            proactive: false,
            after_ms: gap
        })
    );
}

/// Without the init's report (lost), its other events give its end.
#[test]
fn the_init_end_is_what_its_events_give() {
    let mut j = joiner();
    let done = ev(80, EventKind::InitRuntimeDone(on_demand()));
    let mut batch = vec![init_start(0), done];
    batch.extend(invocation("a", 80 + PROACTIVE_GAP_MS));
    let out = feed(&mut j, batch, 0);
    assert!(!out[0].cold_start);
    let mut j = joiner();
    let mut batch = vec![init_start(0)];
    batch.extend(invocation("a", PROACTIVE_GAP_MS - 1));
    assert!(feed(&mut j, batch, 0)[0].cold_start);
}

/// Provisioned concurrency and Managed Instances are never cold and never judged; an init
/// re-run inside an invocation is always that invocation's cold start.
#[test]
fn only_an_on_demand_init_may_be_proactive() {
    for (init_type, phase) in [
        ("provisioned-concurrency", "init"),
        ("lambda-managed-instances", "init"),
        ("on-demand", "invoke"),
    ] {
        let mut j = joiner();
        let p = Phase {
            init_type: Some(init_type.into()),
            phase: Some(phase.into()),
            status: Some(Status::Success),
            duration_ms: Some(50.0),
            ..Phase::default()
        };
        let mut batch = vec![
            ev(0, EventKind::InitStart(p.clone())),
            ev(60, EventKind::InitReport(p)),
        ];
        batch.extend(invocation("a", 60 + 5 * PROACTIVE_GAP_MS));
        let out = feed(&mut j, batch, 0);
        assert_eq!(out[0].cold_start, phase == "invoke", "{init_type} {phase}");
        let reports = phase_reports(&mut j);
        assert_eq!(reports.len(), 1, "{init_type} {phase}");
        assert_eq!(reports[0].1.first_invoke, None, "{init_type} {phase}");
    }
}

/// An init no invocation used still has its record, at shutdown.
#[test]
fn an_init_never_used_is_reported_at_shutdown() {
    let mut j = joiner();
    feed(&mut j, vec![init_start(0), init_report(100, 95.5)], 0);
    assert!(phase_reports(&mut j).is_empty());
    let mut out = Vec::new();
    j.drain(Some("spindown"), &mut out);
    assert!(out.is_empty());
    let reports = phase_reports(&mut j);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].1.first_invoke, None);
}

#[test]
fn the_tenant_comes_from_the_start_else_the_report() {
    let mut j = joiner();
    let mut batch = invocation("a", 0);
    if let EventKind::Start(s) = &mut batch[0].kind {
        s.tenant_id = Some("blue".into());
    }
    assert_eq!(feed(&mut j, batch, 0)[0].tenant_id.as_deref(), Some("blue"));
    let mut batch = invocation("b", 100);
    if let EventKind::Report(_, r) = &mut batch[2].kind {
        r.tenant_id = Some("green".into());
    }
    assert_eq!(feed(&mut j, batch, 0)[0].tenant_id.as_deref(), Some("green"));
    assert_eq!(feed(&mut j, invocation("c", 200), 0)[0].tenant_id, None);
}

#[test]
fn an_init_without_its_report_is_outstanding_until_the_report_comes() {
    let mut j = joiner();
    assert_eq!(j.outstanding(), 0);
    feed(&mut j, vec![init_start(0)], 0);
    assert_eq!(
        j.outstanding(),
        1,
        "an init that started waits for its report at SHUTDOWN"
    );
    feed(&mut j, vec![init_report(5, 5.0)], 1);
    assert_eq!(j.outstanding(), 0);
}
