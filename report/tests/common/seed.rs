//! Seeds the local CloudWatch with PutMetricData through the harness's own client (botocore,
//! not the SDK the report reads with): lambda-lens's metrics from EMF documents (as CloudWatch
//! extracts them: each directive's metrics, under each dimension set), and the `AWS/Lambda`
//! metrics Lambda would publish for the same invocations.

use local_cloudwatch::{LocalCloudWatch, SeedDatum};
use serde_json::{Map, Value};

fn values(v: &Value) -> (Vec<f64>, Vec<f64>) {
    match v {
        Value::Number(n) => (vec![n.as_f64().unwrap()], vec![1.0]),
        Value::Array(a) => (
            a.iter().map(|x| x.as_f64().unwrap()).collect(),
            vec![1.0; a.len()],
        ),
        Value::Object(o) => (
            o["Values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect(),
            o["Counts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect(),
        ),
        other => panic!("not a metric value: {other}"),
    }
}

fn datum(metric: &str, dims: &[(&str, &str)], secs: i64, values: Vec<f64>, counts: Vec<f64>) -> SeedDatum {
    SeedDatum {
        metric: metric.to_owned(),
        dimensions: dims
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        timestamp: u64::try_from(secs).unwrap(),
        values,
        counts,
        unit: "None".to_owned(),
    }
}

/// The invocation documents, each moved to `base + step × (its position)` seconds: the
/// sandbox runs the scenario in seconds, the seeded window spreads it over minutes.
pub(crate) fn spread(docs: &[Map<String, Value>], base: i64, step: i64) -> Vec<(i64, Map<String, Value>)> {
    docs.iter()
        .filter(|d| d.contains_key("Invocations"))
        .enumerate()
        .map(|(i, d)| (base + step * i64::try_from(i).unwrap(), d.clone()))
        .collect()
}

/// lambda-lens's metrics of `docs`, as CloudWatch extracts them from the EMF.
pub(crate) fn lens(cloudwatch: &LocalCloudWatch, docs: &[(i64, Map<String, Value>)]) {
    let mut data = Vec::new();
    let mut namespace = String::new();
    for (secs, doc) in docs {
        for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            namespace = directive["Namespace"].as_str().unwrap().to_owned();
            for set in directive["Dimensions"].as_array().unwrap() {
                let dims: Vec<(&str, &str)> = set
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| {
                        let k = k.as_str().unwrap();
                        (k, doc[k].as_str().unwrap())
                    })
                    .collect();
                for metric in directive["Metrics"].as_array().unwrap() {
                    let name = metric["Name"].as_str().unwrap();
                    let (v, c) = values(&doc[name]);
                    data.push(datum(name, &dims, *secs, v, c));
                }
            }
        }
    }
    cloudwatch.put_metric_data(&namespace, &data).unwrap();
}

/// What Lambda publishes in `AWS/Lambda` for the invocations of `docs` (documents of one
/// invocation each, with every metric's value): Invocations, Errors (timeouts included),
/// Duration, PostRuntimeExtensionsDuration.
pub(crate) fn lambda(cloudwatch: &LocalCloudWatch, function: &str, docs: &[(i64, Map<String, Value>)]) {
    let dims = [("FunctionName", function)];
    let mut data = Vec::new();
    for (secs, doc) in docs {
        let failed = doc["Status"].as_str().unwrap() != "success";
        data.push(datum("Invocations", &dims, *secs, vec![1.0], vec![1.0]));
        data.push(datum(
            "Errors",
            &dims,
            *secs,
            vec![if failed { 1.0 } else { 0.0 }],
            vec![1.0],
        ));
        for (lambda_name, lens_name) in [
            ("Duration", "Duration"),
            ("PostRuntimeExtensionsDuration", "PostRuntimeDuration"),
        ] {
            if let Some(v) = doc.get(lens_name).and_then(Value::as_f64) {
                data.push(datum(lambda_name, &dims, *secs, vec![v], vec![1.0]));
            }
        }
    }
    cloudwatch.put_metric_data("AWS/Lambda", &data).unwrap();
}

/// `AWS/Lambda` metrics no extension can see, one value a minute from `base`.
pub(crate) fn scaling(
    cloudwatch: &LocalCloudWatch,
    function: &str,
    base: i64,
    metric: &str,
    per_minute: &[f64],
) {
    let dims = [("FunctionName", function)];
    let data: Vec<SeedDatum> = per_minute
        .iter()
        .enumerate()
        .map(|(i, v)| {
            datum(
                metric,
                &dims,
                base + 60 * i64::try_from(i).unwrap(),
                vec![*v],
                vec![1.0],
            )
        })
        .collect();
    cloudwatch.put_metric_data("AWS/Lambda", &data).unwrap();
}
