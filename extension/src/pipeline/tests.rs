use super::*;
use crate::config::Config;
use crate::sink::MemorySink;

/// A pipeline for `vars`, one document per invocation unless they say otherwise.
fn pipeline(vars: &[(&str, &str)]) -> Pipeline<MemorySink> {
    let mut vars = vars.to_vec();
    if !vars.iter().any(|(k, _)| *k == "LAMBDA_LENS_OUTPUT") {
        vars.push(("LAMBDA_LENS_OUTPUT", "per-invocation"));
    }
    let (config, warnings) = Config::from_pairs(&vars);
    assert!(warnings.is_empty(), "{warnings:?}");
    Pipeline::from_config(&config, MemorySink::default())
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// Flushes and returns every document written so far.
fn docs(p: &mut Pipeline<MemorySink>) -> Vec<serde_json::Value> {
    block_on(p.flush()).unwrap();
    p.sink()
        .documents()
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn batch(records: &[(&str, &str)]) -> Batch {
    Batch::of_records(records)
}

const START: (&str, &str) = ("platform.start", r#"{"requestId":"r1"}"#);
const DONE: (&str, &str) = (
    "platform.runtimeDone",
    r#"{"requestId":"r1","status":"success","metrics":{"durationMs":3.0}}"#,
);
const REPORT: (&str, &str) = (
    "platform.report",
    r#"{"requestId":"r1","status":"success","metrics":{"durationMs":4.0,"billedDurationMs":4,"memorySizeMB":128,"maxMemoryUsedMB":20}}"#,
);
const START2: (&str, &str) = ("platform.start", r#"{"requestId":"r2"}"#);
const DONE2: (&str, &str) = (
    "platform.runtimeDone",
    r#"{"requestId":"r2","status":"success","metrics":{"durationMs":3.0}}"#,
);
const REPORT2: (&str, &str) = (
    "platform.report",
    r#"{"requestId":"r2","status":"success","metrics":{"durationMs":4.0,"billedDurationMs":4,"memorySizeMB":128,"maxMemoryUsedMB":20}}"#,
);

#[test]
fn the_pipeline_counts_what_it_could_not_use_and_what_lambda_dropped() {
    let mut p = pipeline(&[]);
    p.on_batch(
        batch(&[
            START,
            ("platform.mystery", "{}"),
            ("platform.report", r#"{"requestId":"x"}"#),
            (
                "platform.logsDropped",
                r#"{"reason":"slow","droppedRecords":5,"droppedBytes":500}"#,
            ),
        ]),
        0,
    );
    p.accept(IntakeMessage::Oversized, 0);
    let s = p.stats();
    assert_eq!((s.records, s.records_unknown, s.records_malformed), (4, 1, 1));
    assert_eq!(
        (s.logs_dropped_records, s.logs_dropped_bytes, s.batches_oversized),
        (5, 500, 1)
    );
    assert_eq!(
        s.rejected(),
        3,
        "the unknown and the malformed record, and the oversized batch"
    );
}

#[test]
fn a_redelivered_batch_is_counted_once_and_its_events_are_counted_as_duplicates() {
    let mut p = pipeline(&[]);
    p.on_batch(batch(&[START, DONE, REPORT]), 0);
    p.on_batch(batch(&[START, DONE, REPORT]), 1);
    let s = p.stats();
    assert_eq!((s.invocations, s.duplicate_events), (1, 3));
}

fn sample(cpu_user_ms: f64) -> Option<ResourceSample> {
    Some(ResourceSample {
        processes: 1,
        cpu_user_ms,
        threads: 3,
        ..ResourceSample::default()
    })
}

#[test]
fn resource_use_is_measured_between_invoke_boundaries() {
    let mut p = pipeline(&[("LAMBDA_LENS_METRICS", "core,resources")]);
    assert!(p.wants_resources());
    p.on_invoke("r1".into(), sample(10.0), 0, 0);
    p.on_batch(batch(&[START, DONE, REPORT]), 1);
    assert!(docs(&mut p).is_empty(), "r1 waits for its closing sample");
    p.on_invoke("r2".into(), sample(25.0), 0, 2);
    p.on_batch(batch(&[START2, DONE2]), 3);
    p.on_shutdown(sample(45.0), 4);
    p.on_batch(batch(&[REPORT2]), 5);
    p.finish("spindown", 0, 6);
    let docs = docs(&mut p);
    assert_eq!(docs[0]["RequestId"], "r1");
    assert_eq!(docs[0]["CpuUserTime"], 15.0);
    assert_eq!(docs[0]["Threads"], 3.0);
    assert_eq!(docs[1]["RequestId"], "r2");
    assert_eq!(docs[1]["CpuUserTime"], 20.0);
}

/// The OTLP sink takes resource samples only when they are selected, as EMF does: a sample at
/// every boundary is CPU spent at the thaw (it showed in the post-runtime tail).
#[cfg(feature = "otlp")]
#[test]
fn the_otlp_sink_samples_resources_only_when_they_are_selected() {
    assert!(!pipeline(&[("LAMBDA_LENS_SINK", "otlp")]).wants_resources());
    assert!(!pipeline(&[("LAMBDA_LENS_SINK", "emf,otlp")]).wants_resources());
    let selected = [
        ("LAMBDA_LENS_SINK", "otlp"),
        ("LAMBDA_LENS_METRICS", "default,resources"),
    ];
    assert!(pipeline(&selected).wants_resources());
}

#[test]
fn without_resource_metrics_no_sample_is_wanted_and_none_is_waited_for() {
    let mut p = pipeline(&[]);
    assert!(!p.wants_resources());
    p.on_invoke("r1".into(), None, 0, 0);
    p.on_batch(batch(&[START, DONE, REPORT]), 1);
    assert_eq!(docs(&mut p).len(), 1);
}

#[test]
fn batched_output_writes_one_document_for_many_invocations() {
    let mut p = pipeline(&[("LAMBDA_LENS_OUTPUT", "batched"), ("LAMBDA_LENS_METRICS", "all")]);
    p.on_batch(batch(&[START, DONE, REPORT, START2, DONE2, REPORT2]), 0);
    assert!(docs(&mut p).is_empty());
    p.finish("spindown", 0, 1);
    let docs = docs(&mut p);
    assert_eq!(docs.len(), 2, "one batch and the shutdown record");
    assert_eq!(docs[0]["Invocations"], serde_json::json!([1.0, 1.0]));
    assert_eq!(docs[0]["RequestIds"], serde_json::json!(["r1", "r2"]));
    assert_eq!(
        docs[1]["Shutdowns"], 1.0,
        "an environment record is never batched"
    );
}

#[test]
fn a_batch_is_written_when_due() {
    let mut p = pipeline(&[
        ("LAMBDA_LENS_OUTPUT", "batched"),
        ("LAMBDA_LENS_FLUSH_INTERVAL_MS", "1000"),
    ]);
    p.on_batch(batch(&[START, DONE, REPORT]), 0);
    assert_eq!(p.next_deadline(), Some(1_000));
    p.sweep(1_000);
    assert!(!docs(&mut p).is_empty());
}

#[test]
fn environment_records_for_init_errors_and_dropped_logs() {
    let mut p = pipeline(&[("LAMBDA_LENS_METRICS", "core,extension")]);
    p.on_batch(
        batch(&[
            (
                "platform.initReport",
                r#"{"initializationType":"on-demand","phase":"init","status":"error","errorType":"Runtime.ExitError","metrics":{"durationMs":12.0}}"#,
            ),
            ("platform.logsDropped", r#"{"reason":"slow","droppedRecords":5,"droppedBytes":500}"#),
        ]),
        0,
    );
    let docs = docs(&mut p);
    assert_eq!(docs[0]["InitErrors"], 1.0);
    assert_eq!(docs[0]["ErrorType"], "Runtime.ExitError");
    assert_eq!(docs[1]["LogsDroppedRecords"], 5.0);
    assert_eq!(docs[1]["LogsDroppedBytes"], 500.0);
}

#[test]
fn the_listeners_slot_goes_back_only_when_the_whole_batch_is_worked() {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
    let slot = std::sync::Arc::clone(&slots).try_acquire_owned().unwrap();
    let mut p = pipeline(&[]);
    p.accept(
        IntakeMessage::Batch(batch(&[START, DONE, REPORT]).holding(slot)),
        0,
    );
    assert!(p.work(0, 2), "one event left");
    assert_eq!(slots.available_permits(), 0, "held while events wait");
    assert!(!p.work(0, 2));
    assert_eq!(slots.available_permits(), 1, "given back");
}

/// The sum of every metric over the documents, whatever their form (number, array, or
/// `Values`/`Counts`).
fn metric_sums(docs: &[serde_json::Value]) -> std::collections::BTreeMap<String, f64> {
    use serde_json::Value;
    let mut sums = std::collections::BTreeMap::new();
    for doc in docs {
        for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                let sum: f64 = match &doc[name] {
                    Value::Number(n) => n.as_f64().unwrap(),
                    Value::Array(values) => values.iter().map(|v| v.as_f64().unwrap()).sum(),
                    Value::Object(o) => o["Values"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .zip(o["Counts"].as_array().unwrap())
                        .map(|(v, c)| v.as_f64().unwrap() * c.as_f64().unwrap())
                        .sum(),
                    other => panic!("{name}: {other}"),
                };
                *sums.entry(name.to_owned()).or_default() += sum;
            }
        }
    }
    sums
}

/// A life with every kind of invocation: a cold start, ordinary ones of varied durations, an
/// error, a timeout, an out-of-memory kill, and one whose report never comes.
fn mixed_life() -> Vec<Batch> {
    let record = |kind: &str, body: String| {
        format!(
            r#"{{"time":"2026-11-25T10:00:{:02}.000Z","type":"{kind}","record":{body}}}"#,
            0
        )
    };
    let mut batches = vec![format!(
        "[{},{}]",
        record("platform.initStart", r#"{"initializationType":"on-demand","phase":"init"}"#.into()),
        record(
            "platform.initReport",
            r#"{"initializationType":"on-demand","phase":"init","status":"success","metrics":{"durationMs":120.5}}"#.into()
        )
    )];
    for i in 0..40 {
        let (status, error) = match i {
            7 => ("error", r#","errorType":"Function.Crash""#),
            13 => ("timeout", ""),
            21 => ("error", r#","errorType":"Runtime.OutOfMemory""#),
            _ => ("success", ""),
        };
        let id = format!("r{i:02}");
        let duration = 3.0 + f64::from((i * 37) % 23);
        let mut records = vec![
            record("platform.start", format!(r#"{{"requestId":"{id}"}}"#)),
            record(
                "platform.runtimeDone",
                format!(
                    r#"{{"requestId":"{id}","status":"{status}"{error},"metrics":{{"durationMs":{}}}}}"#,
                    duration - 0.5
                ),
            ),
        ];
        if i != 33 {
            records.push(record(
                "platform.report",
                format!(
                    r#"{{"requestId":"{id}","status":"{status}"{error},"metrics":{{"durationMs":{duration},"billedDurationMs":{},"memorySizeMB":128,"maxMemoryUsedMB":{}}}}}"#,
                    duration.ceil(),
                    40 + i
                ),
            ));
        }
        batches.push(format!("[{}]", records.join(",")));
    }
    batches
        .into_iter()
        .map(|b| Batch::decode(b.as_bytes(), Batch::TEST_ARRIVAL))
        .collect()
}

fn run_life(vars: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let mut p = pipeline(vars);
    for (i, b) in mixed_life().into_iter().enumerate() {
        p.on_batch(b, i as u64 * 10);
        p.sweep(i as u64 * 10);
    }
    p.finish("spindown", 0, 10_000);
    assert_eq!(p.stats().invocations, 40);
    docs(&mut p)
}

#[test]
fn every_output_mode_counts_every_invocation_once_with_identical_sums() {
    // Every metric of the invocations (the extension group counts documents, which differ).
    let all = ("LAMBDA_LENS_METRICS", "all,-extension");
    let per_invocation = metric_sums(&run_life(&[all, ("LAMBDA_LENS_OUTPUT", "per-invocation")]));
    assert_eq!(per_invocation["Invocations"], 40.0);
    assert_eq!(per_invocation["Timeouts"], 1.0);
    assert_eq!(per_invocation["OutOfMemory"], 1.0);
    for mode in [
        vec![all, ("LAMBDA_LENS_OUTPUT", "adaptive")],
        vec![
            all,
            ("LAMBDA_LENS_OUTPUT", "adaptive"),
            ("LAMBDA_LENS_KEEP_SLOWEST", "0"),
        ],
        vec![
            all,
            ("LAMBDA_LENS_OUTPUT", "adaptive"),
            ("LAMBDA_LENS_FLUSH_INTERVAL_MS", "100"),
        ],
        vec![all, ("LAMBDA_LENS_OUTPUT", "batched")],
        vec![
            all,
            ("LAMBDA_LENS_OUTPUT", "batched"),
            ("LAMBDA_LENS_COMPACT_VALUES", "true"),
        ],
    ] {
        let sums = metric_sums(&run_life(&mode));
        assert_eq!(
            sums.keys().collect::<Vec<_>>(),
            per_invocation.keys().collect::<Vec<_>>(),
            "{mode:?}"
        );
        for (name, expected) in &per_invocation {
            assert!(
                (sums[name] - expected).abs() < 1e-9,
                "{mode:?} {name}: {} vs {expected}",
                sums[name]
            );
        }
    }
}

#[test]
fn adaptive_output_gives_every_notable_invocation_a_document_with_its_request_id() {
    let docs = run_life(&[
        ("LAMBDA_LENS_OUTPUT", "adaptive"),
        ("LAMBDA_LENS_FLUSH_INTERVAL_MS", "100"),
    ]);
    let with_id: Vec<&str> = docs.iter().filter_map(|d| d["RequestId"].as_str()).collect();
    // The cold start, the error, the timeout, the out-of-memory kill, the one without a report.
    for id in ["r00", "r07", "r13", "r21", "r33"] {
        assert_eq!(
            with_id.iter().filter(|i| **i == id).count(),
            1,
            "{id} in {with_id:?}"
        );
    }
    // Every invocation once: in a document of its own, or counted in an aggregate.
    let aggregated: f64 = docs
        .iter()
        .filter(|d| d.get("RequestId").is_none())
        .filter_map(|d| d["Invocations"].as_f64())
        .sum();
    assert_eq!(with_id.len() as f64 + aggregated, 40.0);
    // A window is 100 ms here, 10 ms per batch: 3 slowest kept for each of 4 windows.
    assert_eq!(with_id.len(), 5 + 12, "{with_id:?}");
    assert!(docs.iter().all(|d| d.get("RequestIds").is_none()));
}

#[test]
fn a_value_that_cannot_be_right_costs_that_value_not_the_invocation() {
    let mut p = pipeline(&[("LAMBDA_LENS_METRICS", "all,-extension")]);
    p.on_batch(
        batch(&[
            START,
            DONE,
            (
                "platform.report",
                r#"{"requestId":"r1","status":"success","metrics":{"durationMs":-4.0,"billedDurationMs":4,"memorySizeMB":128,"maxMemoryUsedMB":1e30}}"#,
            ),
        ]),
        0,
    );
    let docs = docs(&mut p);
    assert_eq!(docs.len(), 1);
    let doc = &docs[0];
    assert_eq!(doc["Invocations"], 1.0);
    assert_eq!(doc["BilledDuration"], 4.0);
    for absent in [
        "Duration",
        "PostRuntimeDuration",
        "MaxMemoryUsed",
        "MemoryUtilization",
    ] {
        assert!(doc.get(absent).is_none(), "{absent}: {doc}");
    }
    assert_eq!(p.stats().values_dropped, 2);
}

#[test]
fn a_delivered_body_read_in_slices_gives_what_a_batch_decoded_up_front_gives() {
    let records = |done: &str| {
        [
            START,
            ("platform.mystery", "{}"),
            (DONE.0, done),
            REPORT,
            START2,
            DONE2,
            REPORT2,
        ]
        .iter()
        .map(|(kind, record)| {
            format!(r#"{{"time":"2026-11-25T10:00:00.000Z","type":"{kind}","record":{record}}}"#)
        })
        .collect::<Vec<_>>()
        .join(",")
    };
    // One record that is not its type's schema (a text where a number belongs).
    let body = format!(
        "[{},{}]",
        records(DONE.1),
        r#"{"time":"2026-11-25T10:00:00.000Z","type":"platform.report","record":{"requestId":"r9","metrics":{"durationMs":"slow"}}}"#
    );
    let mut whole = pipeline(&[]);
    whole.on_batch(Batch::decode(body.as_bytes(), Batch::TEST_ARRIVAL), 0);

    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
    let slot = std::sync::Arc::clone(&slots).try_acquire_owned().unwrap();
    let delivery = crate::intake::Delivery::new(body.clone().into(), Batch::TEST_ARRIVAL, slot, None);
    let mut sliced = pipeline(&[]);
    sliced.accept(IntakeMessage::Delivery(delivery), 0);
    let mut slices = 1;
    while sliced.work(0, 2) {
        assert_eq!(slots.available_permits(), 0, "the body is held while it is read");
        slices += 1;
    }
    assert_eq!(slots.available_permits(), 1, "given back at its end");
    assert_eq!(slices, 4, "six events, two at a time, then the end");
    assert_eq!(sliced.stats(), whole.stats());
    let s = sliced.stats();
    assert_eq!(
        (s.records, s.records_used, s.records_unknown, s.records_malformed),
        (8, 6, 1, 1)
    );
    assert_eq!(docs(&mut sliced), docs(&mut whole));
}

/// A body of `(type, record, milliseconds after 2026-11-25T10:00:00Z)`.
fn timed(records: &[(&str, &str, i64)]) -> Vec<u8> {
    let base = chrono::DateTime::from_timestamp_millis(Batch::TEST_ARRIVAL).unwrap();
    let items: Vec<String> = records
        .iter()
        .map(|(kind, record, dt)| {
            let time = (base + chrono::Duration::milliseconds(*dt)).format("%Y-%m-%dT%H:%M:%S%.3fZ");
            format!(r#"{{"time":"{time}","type":"{kind}","record":{record}}}"#)
        })
        .collect();
    format!("[{}]", items.join(",")).into_bytes()
}

const INIT_START: &str =
    r#"{"initializationType":"on-demand","phase":"init","runtimeVersion":"python:3.13"}"#;
const INIT_REPORT: &str =
    r#"{"initializationType":"on-demand","phase":"init","status":"success","metrics":{"durationMs":250.5}}"#;

/// An on-demand init a minute before the first invocation (Lambda's proactive
/// initialisation): no cold start, and the init's record says it was proactive, with its
/// duration.
#[test]
fn a_proactive_init_is_not_a_cold_start_and_its_record_says_so() {
    let mut p = pipeline(&[("LAMBDA_LENS_METRICS", "core")]);
    let at = Batch::TEST_ARRIVAL;
    p.on_body(
        timed(&[
            ("platform.initStart", INIT_START, 0),
            ("platform.initReport", INIT_REPORT, 251),
        ]),
        at,
        0,
    );
    p.on_body(
        timed(&[
            (START.0, START.1, 60_251),
            (DONE.0, DONE.1, 60_255),
            (REPORT.0, REPORT.1, 60_256),
        ]),
        at + 60_256,
        1,
    );
    let docs = docs(&mut p);
    assert_eq!(docs.len(), 2, "{docs:?}");
    let (init, invocation) = (&docs[0], &docs[1]);
    assert_eq!(init["Phase"], "init");
    assert_eq!(init["Proactive"], "true");
    assert_eq!(init["FirstInvokeAfterMs"], 60_000.0);
    assert_eq!(init["InitDuration"], 250.5);
    assert_eq!(init["_aws"]["Timestamp"], at + 251, "the init's own time");
    assert_eq!(invocation["ColdStarts"], 0.0);
    assert_eq!(invocation["ColdStart"], "false");
    assert!(invocation.get("InitDuration").is_none());
}

#[test]
fn an_init_just_before_its_invocation_is_its_cold_start() {
    let mut p = pipeline(&[("LAMBDA_LENS_METRICS", "core")]);
    p.on_body(
        timed(&[
            ("platform.initStart", INIT_START, 0),
            ("platform.initReport", INIT_REPORT, 251),
            (START.0, START.1, 260),
            (DONE.0, DONE.1, 265),
            (REPORT.0, REPORT.1, 266),
        ]),
        Batch::TEST_ARRIVAL,
        0,
    );
    let docs = docs(&mut p);
    assert_eq!(docs[0]["Proactive"], "false");
    assert!(docs[0].get("InitDuration").is_none(), "carried by the cold start");
    assert_eq!(docs[1]["ColdStarts"], 1.0);
    assert_eq!(docs[1]["InitDuration"], 250.5);
}

#[test]
fn a_tenant_is_a_property_of_its_invocation_and_a_dimension_only_when_asked_for() {
    let start = ("platform.start", r#"{"requestId":"r1","tenantId":"blue"}"#);
    let mut p = pipeline(&[]);
    p.on_batch(batch(&[start, DONE, REPORT, START2, DONE2, REPORT2]), 0);
    let written = docs(&mut p);
    assert_eq!(written[0]["TenantId"], "blue");
    assert!(written[1].get("TenantId").is_none(), "no tenant, no bytes");
    assert_eq!(
        written[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["FunctionName"]])
    );

    let mut p = pipeline(&[("LAMBDA_LENS_DIMENSIONS", "FunctionName;FunctionName,TenantId")]);
    p.on_batch(batch(&[start, DONE, REPORT, START2, DONE2, REPORT2]), 0);
    let written = docs(&mut p);
    assert_eq!(
        written[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["FunctionName"], ["FunctionName", "TenantId"]])
    );
    assert_eq!(written[0]["TenantId"], "blue");
    assert_eq!(
        written[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["FunctionName"]])
    );
}

/// Lambda Managed Instances: a start and a report shaped as AWS's Managed Instances code (and
/// the sandbox's `report_managed`) sends it, no runtimeDone: the response spans are the
/// report's.
#[test]
fn managed_instances_response_spans_come_from_the_report() {
    let mut p = pipeline(&[
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "lambda-managed-instances"),
        ("LAMBDA_LENS_METRICS", "default,detail"),
    ]);
    let report = (
        "platform.report",
        r#"{"requestId":"r1","status":"success","metrics":{"durationMs":12.25},"spans":[{"name":"responseLatency","start":"2026-11-25T10:00:00.001Z","durationMs":9.5},{"name":"responseDuration","start":"2026-11-25T10:00:00.011Z","durationMs":0.75}],"tracing":{"spanId":"7f2e5c","type":"X-Amzn-Trace-Id","value":"Root=1-6560;Parent=7f2e5c;Sampled=1"}}"#,
    );
    p.on_batch(batch(&[START, report]), 0);
    let written = docs(&mut p);
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0]["ResponseLatency"], 9.5);
    assert_eq!(written[0]["ResponseDuration"], 0.75);
    assert_eq!(written[0]["Ending"], "complete");
}
