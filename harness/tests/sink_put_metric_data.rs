//! The PutMetricData sink of the real layer (`make layer SINK=put-metric-data`) with the real sample
//! function in the sandbox, against a real local CloudWatch (ministack) and a fault injector in
//! front of it. What CloudWatch answers to `GetMetricData` must be exactly what ran; under
//! faults, every data point ends up in CloudWatch or in the EMF fallback on stdout, never in
//! both and never lost, retries stay bounded, and invocations are never slowed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

mod binaries;

use std::time::Duration;

use binaries::EXTENSION;

use lambda_lens_harness::demo;
use lambda_sandbox::{
    Config, InvokeOutcome, Sandbox, ShutdownOutcome, ShutdownReason, Source, Status, Stream,
};
use local_cloudwatch::{Fault, FaultProxy, LocalCloudWatch, MetricQuery};
use serde_json::{Value, json};

const FUNCTION: &str = "sink-put-metric-data-test";

/// What one sandbox run left behind.
struct Run {
    outcomes: Vec<InvokeOutcome>,
    shutdown: ShutdownOutcome,
    /// EMF documents on the extension's stdout (the fallback, with `put-metric-data` alone).
    emf: Vec<serde_json::Map<String, Value>>,
    /// The extension's log lines.
    log: Vec<String>,
}

impl Run {
    /// The sum of a metric over the EMF documents on stdout.
    fn emf_sum(&self, metric: &str) -> f64 {
        self.emf.iter().filter_map(|d| demo::metric(d, metric)).sum()
    }

    fn logged(&self, text: &str) -> usize {
        self.log.iter().filter(|l| l.contains(text)).count()
    }

    /// The longest an invocation waited after its runtime was done (extensions' share).
    fn max_post_runtime_ms(&self) -> f64 {
        binaries::max_post_runtime_ms(&self.outcomes)
    }

    fn errors(&self) -> f64 {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.status, Status::Error | Status::Failure))
            .count() as f64
    }
}

/// How the run goes.
struct Script {
    namespace: &'static str,
    endpoint: String,
    /// `per-invocation` sends while invocations run; `adaptive` holds values until SHUTDOWN.
    output: &'static str,
    payloads: Vec<Value>,
    /// Time left frozen between invocations.
    frozen_between: Duration,
    metrics: &'static str,
}

impl Script {
    fn new(namespace: &'static str, endpoint: String) -> Self {
        Self {
            namespace,
            endpoint,
            output: "per-invocation",
            payloads: vec![
                json!({}),
                json!({"sleep_ms": 30}),
                json!({"fail": "card declined"}),
                json!({"sleep_ms": 5}),
                json!({"fail": "again"}),
                json!({"cpu_ms": 10}),
            ],
            frozen_between: Duration::ZERO,
            metrics: "Invocations,Errors,Duration",
        }
    }
}

async fn run(script: &Script) -> Run {
    let mut config = binaries::sink_config(
        lambda_lens_harness::built::put_metric_data_layer(),
        FUNCTION,
        local_cloudwatch::REGION,
    );
    config.env = local_cloudwatch::env_for(&script.endpoint);
    for (k, v) in [
        ("LAMBDA_LENS_SINK", "put-metric-data"),
        ("LAMBDA_LENS_NAMESPACE", script.namespace),
        ("LAMBDA_LENS_METRICS", script.metrics),
        ("LAMBDA_LENS_OUTPUT", script.output),
    ] {
        config.env.push((k.to_owned(), v.to_owned()));
    }
    let mut sandbox = Sandbox::start(config).await.expect("sandbox");
    let mut outcomes = Vec::new();
    for payload in &script.payloads {
        outcomes.push(sandbox.invoke(payload.clone()).await.expect("invoke"));
        tokio::time::sleep(script.frozen_between).await;
    }
    let shutdown = sandbox
        .shutdown(ShutdownReason::Spindown)
        .await
        .expect("shutdown");
    let extension = binaries::extension_output(&sandbox);
    let run = Run {
        outcomes,
        shutdown,
        emf: extension.emf.into_iter().map(|(_, doc)| doc).collect(),
        log: extension.log,
    };
    binaries::assert_extension_finished(&run.shutdown, &run.log);
    assert!(
        !run.log
            .iter()
            .any(|l| l.contains("AWS_SECRET_ACCESS_KEY=") || l.contains("\"test\"")),
        "no credential in the log: {:?}",
        run.log
    );
    run
}

/// Sum of a metric in CloudWatch for the test function.
fn stored(cloudwatch: &LocalCloudWatch, namespace: &str, metric: &str, stat: &str) -> Option<f64> {
    let query = MetricQuery::new(namespace, metric, stat).dimension("FunctionName", FUNCTION);
    cloudwatch.get_metric_data(&[query]).expect("GetMetricData")[0]
}

/// Waits for the proxy's forwards to end, and checks that none failed and no request arrived
/// cut short. A failed forward is a fault of the environment (the local CloudWatch behind the
/// proxy); a request cut short is either that or the extension dropping a half-written request.
/// Either way the run says so by name, rather than as a count that does not add up.
async fn settled(proxy: &FaultProxy) {
    assert!(
        proxy.settled(Duration::from_secs(30)).await,
        "a forward to the local CloudWatch never ended"
    );
    assert_eq!(
        (proxy.failed_forwards(), proxy.incomplete()),
        (0, 0),
        "failed forwards to the local CloudWatch (an environment fault) or requests cut short (the environment, or the extension dropping a half-written request)"
    );
}

fn invocations_everywhere(cloudwatch: &LocalCloudWatch, namespace: &str, run: &Run) -> (f64, f64) {
    let in_cloudwatch = stored(cloudwatch, namespace, "Invocations", "Sum").unwrap_or(0.0);
    (in_cloudwatch, run.emf_sum("Invocations"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the put-metric-data layer and the local CloudWatch (.venv-cloudwatch): make test runs it"]
async fn get_metric_data_returns_exactly_what_ran() {
    let cloudwatch = LocalCloudWatch::start().expect("local CloudWatch");
    // Sent while the invocations run, and (adaptive: aggregated values) at SHUTDOWN.
    for (namespace, output) in [
        ("SinkPutMetricData/PerInvocation", "per-invocation"),
        ("SinkPutMetricData/Adaptive", "adaptive"),
    ] {
        let mut script = Script::new(namespace, cloudwatch.endpoint_url());
        script.output = output;
        let run = run(&script).await;
        assert!(
            run.emf.is_empty(),
            "{output}: nothing on stdout with put-metric-data alone: {:?}",
            run.emf
        );
        assert_eq!(
            run.logged("cloudwatch:PutMetricData"),
            0,
            "{output}: {:?}",
            run.log
        );
        let n = run.outcomes.len() as f64;
        assert_eq!(
            stored(&cloudwatch, namespace, "Invocations", "Sum"),
            Some(n),
            "{output}"
        );
        assert_eq!(
            stored(&cloudwatch, namespace, "Invocations", "SampleCount"),
            Some(n),
            "{output}"
        );
        assert_eq!(
            stored(&cloudwatch, namespace, "Errors", "Sum"),
            Some(run.errors()),
            "{output}"
        );
        assert_eq!(run.errors(), 2.0);
        let durations: Vec<f64> = run.outcomes.iter().map(|o| o.duration_ms).collect();
        assert_eq!(
            stored(&cloudwatch, namespace, "Duration", "SampleCount"),
            Some(n),
            "{output}"
        );
        let sum = stored(&cloudwatch, namespace, "Duration", "Sum").unwrap();
        assert!(
            (sum - durations.iter().sum::<f64>()).abs() < 0.01 * n,
            "{output}: {sum} vs {durations:?}"
        );
        let max = stored(&cloudwatch, namespace, "Duration", "Maximum").unwrap();
        assert!(
            (max - durations.iter().copied().fold(0.0, f64::max)).abs() < 0.01,
            "{output}: {max}"
        );
        let min = stored(&cloudwatch, namespace, "Duration", "Minimum").unwrap();
        assert!(
            (min - durations.iter().copied().fold(f64::MAX, f64::min)).abs() < 0.01,
            "{output}: {min}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the put-metric-data layer and the local CloudWatch (.venv-cloudwatch): make test runs it"]
async fn under_faults_every_data_point_lands_once_and_invocations_are_not_slowed() {
    let cloudwatch = LocalCloudWatch::start().expect("local CloudWatch");

    // The endpoint is down: nothing listens there. Everything falls back to EMF.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut script = Script::new("Faults/Down", format!("http://{closed}"));
    script.metrics =
        "Invocations,Errors,Duration,ApiRequests,ApiRetries,ApiFallbackDataPoints,ApiDataPointsSent";
    let run_down = run(&script).await;
    let n = run_down.outcomes.len() as f64;
    assert_eq!(run_down.emf_sum("Invocations"), n, "{:?}", run_down.log);
    assert_eq!(run_down.emf_sum("Errors"), run_down.errors());
    assert_eq!(
        run_down.logged("cloudwatch:PutMetricData failed"),
        1,
        "one line: {:?}",
        run_down.log
    );
    assert!(run_down.logged("Remedy:") == 1, "{:?}", run_down.log);

    // 500 on every request: bounded attempts, then the fallback; CloudWatch has nothing.
    let proxy = FaultProxy::start(cloudwatch.addr(), Fault::Status(500))
        .await
        .unwrap();
    let run_500 = run(&Script::new("Faults/500", proxy.endpoint_url())).await;
    settled(&proxy).await;
    assert_eq!(
        invocations_everywhere(&cloudwatch, "Faults/500", &run_500),
        (0.0, n)
    );
    // Three attempts of the first request; later ones go straight to the fallback for 10 s
    // (twice that if the run is slow).
    assert!(proxy.requests() <= 6, "{} requests", proxy.requests());
    assert_eq!(proxy.forwarded(), 0);
    assert!(
        run_500
            .log
            .iter()
            .any(|l| l.contains("InternalServiceFault") && l.contains("HTTP 500")),
        "{:?}",
        run_500.log
    );

    // Throttling that lasts: the same.
    proxy.set(Fault::Throttle);
    let before = proxy.requests();
    let throttled = run(&Script::new("Faults/Throttled", proxy.endpoint_url())).await;
    settled(&proxy).await;
    assert_eq!(
        invocations_everywhere(&cloudwatch, "Faults/Throttled", &throttled),
        (0.0, n)
    );
    assert!(proxy.requests() - before <= 6);
    assert!(
        throttled.log.iter().any(|l| l.contains("Throttling")),
        "{:?}",
        throttled.log
    );

    // Throttling twice, then through: retried with jitter, everything stored, nothing on stdout.
    proxy.set(Fault::First(2, Box::new(Fault::Throttle)));
    let (before, forwarded) = (proxy.requests(), proxy.forwarded());
    let recovered = run(&Script::new("Faults/Recovered", proxy.endpoint_url())).await;
    settled(&proxy).await;
    assert_eq!(
        invocations_everywhere(&cloudwatch, "Faults/Recovered", &recovered),
        (n, 0.0),
        "{:?}",
        recovered.log
    );
    assert_eq!(proxy.requests() - before, proxy.forwarded() - forwarded + 2);

    // Slow beyond the SHUTDOWN deadline (adaptive: most values are sent at SHUTDOWN): a request
    // reaches CloudWatch and its answer comes too late. Unknown outcome: counted as sent, not
    // written as EMF; what could not be sent before the deadline is written as EMF. Every
    // invocation once, in one place or the other; the extension still exits in time.
    proxy.set(Fault::AnswerLate(Duration::from_secs(4)));
    let forwarded = proxy.forwarded();
    let mut script = Script::new("Faults/Slow", proxy.endpoint_url());
    script.output = "adaptive";
    let slow = run(&script).await;
    settled(&proxy).await;
    let (in_cloudwatch, emf) = invocations_everywhere(&cloudwatch, "Faults/Slow", &slow);
    assert_eq!(
        in_cloudwatch + emf,
        n,
        "none lost, none twice: {in_cloudwatch} + {emf}; {:?}",
        slow.log
    );
    assert!(
        in_cloudwatch >= 1.0 && proxy.forwarded() > forwarded,
        "a late request was stored: {:?}",
        slow.log
    );
    assert!(slow.logged("no answer came back in time") >= 1, "{:?}", slow.log);

    // Frozen between a request and its answer: each invocation's document is sent when its
    // report arrives, the answer is held back, and the environment is frozen meanwhile. The
    // freeze can also come before the request went out (the sender works on after the
    // extension's next): at the thaw its deadline has passed, and it is sent again, not taken
    // for a request whose outcome is unknown. One that went out before the freeze has its answer
    // waiting at the thaw, and takes it; one whose answer comes later still is an unknown
    // outcome, counted as sent: it reached the endpoint.
    proxy.set(Fault::AnswerLate(Duration::from_millis(700)));
    let mut script = Script::new("Faults/Frozen", proxy.endpoint_url());
    script.frozen_between = Duration::from_millis(2_500);
    script.payloads.truncate(4);
    let frozen = run(&script).await;
    settled(&proxy).await;
    let (in_cloudwatch, emf) = invocations_everywhere(&cloudwatch, "Faults/Frozen", &frozen);
    assert_eq!(
        in_cloudwatch + emf,
        frozen.outcomes.len() as f64,
        "none lost, none twice: {in_cloudwatch} + {emf}; {:?}",
        frozen.log
    );

    // Invocations were never slowed by the sink: the extension's share of every invocation
    // stays small whatever the endpoint did (the sandbox measures it as Lambda does).
    for (name, r) in [
        ("down", &run_down),
        ("500", &run_500),
        ("throttled", &throttled),
        ("recovered", &recovered),
        ("slow", &slow),
        ("frozen", &frozen),
    ] {
        let post = r.max_post_runtime_ms();
        assert!(post < 100.0, "{name}: post-runtime {post} ms");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn the_default_layer_asked_for_put_metric_data_says_so_once_and_writes_emf() {
    let (bootstrap, layer) = lambda_lens_harness::built::paths();
    let mut config = Config::new(bootstrap);
    config.layer_dir = Some(layer);
    config.env = vec![
        ("LAMBDA_LENS_SINK".to_owned(), "put-metric-data".to_owned()),
        ("LAMBDA_LENS_OUTPUT".to_owned(), "per-invocation".to_owned()),
    ];
    let mut sandbox = Sandbox::start(config).await.expect("sandbox");
    sandbox.invoke(json!({})).await.expect("invoke");
    sandbox
        .shutdown(ShutdownReason::Spindown)
        .await
        .expect("shutdown");
    let lines = sandbox.output_of(&Source::Extension(EXTENSION.to_owned()));
    // The line that refuses the value (the start-up line on Lambda's logging controls names
    // LAMBDA_LENS_SINK=put-metric-data too, as advice).
    let said: Vec<&str> = lines
        .iter()
        .filter(|l| l.stream != Stream::Stdout && l.text.contains("LAMBDA_LENS_SINK=\"put-metric-data\""))
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].contains("make layer SINK=put-metric-data") && said[0].contains("using emf"),
        "{}",
        said[0]
    );
    let emf = lines.iter().filter(|l| l.stream == Stream::Stdout).count();
    assert!(emf >= 1, "EMF written instead");
}

#[test]
#[ignore = "needs the local CloudWatch (.venv-cloudwatch): make test runs it"]
fn seeded_data_comes_back_from_get_metric_data() {
    use local_cloudwatch::SeedDatum;
    let cloudwatch = LocalCloudWatch::start().expect("local CloudWatch");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let throttles = SeedDatum {
        metric: "Throttles".to_owned(),
        dimensions: vec![("FunctionName".to_owned(), "seeded".to_owned())],
        timestamp: now - 30,
        values: vec![1.0, 3.0],
        counts: vec![2.0, 1.0],
        unit: "Count".to_owned(),
    };
    cloudwatch.put_metric_data("AWS/Lambda", &[throttles]).unwrap();
    let q = |stat| MetricQuery::new("AWS/Lambda", "Throttles", stat).dimension("FunctionName", "seeded");
    let got = cloudwatch
        .get_metric_data(&[q("Sum"), q("SampleCount"), q("Maximum")])
        .unwrap();
    assert_eq!(got, [Some(5.0), Some(3.0), Some(3.0)]);
}
