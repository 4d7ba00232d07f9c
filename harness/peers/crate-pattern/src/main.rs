//! The `lambda-extension` crate's telemetry-processor pattern, as its telemetry example shows
//! it: a telemetry processor on the crate's listener, the crate's default event loop (nothing
//! special at SHUTDOWN), and one CloudWatch EMF line on stdout per `platform.report`.
//!
//! Buffering is the bench's condition (25 ms, Lambda's largest batches), set as a user would
//! with `with_telemetry_buffering`.

use std::io::Write as _;

use lambda_extension::{
    Error, Extension, LambdaTelemetry, LambdaTelemetryRecord, LogBuffering, SharedService, service_fn,
};
use serde_json::json;

async fn on_telemetry(events: Vec<LambdaTelemetry>) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    for event in events {
        if let LambdaTelemetryRecord::PlatformReport {
            request_id,
            status,
            metrics,
            ..
        } = event.record
        {
            let mut names = vec![
                json!({"Name": "Duration", "Unit": "Milliseconds"}),
                json!({"Name": "BilledDuration", "Unit": "Milliseconds"}),
                json!({"Name": "MaxMemoryUsed", "Unit": "Megabytes"}),
            ];
            let mut doc = json!({
                "_aws": {
                    "Timestamp": event.time.timestamp_millis(),
                    "CloudWatchMetrics": [],
                },
                "FunctionName": std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default(),
                "RequestId": request_id,
                "Status": format!("{status:?}"),
                "Duration": metrics.duration_ms,
                "BilledDuration": metrics.billed_duration_ms,
                "MaxMemoryUsed": metrics.max_memory_used_mb,
            });
            if let Some(init) = metrics.init_duration_ms {
                names.push(json!({"Name": "InitDuration", "Unit": "Milliseconds"}));
                doc["InitDuration"] = json!(init);
            }
            doc["_aws"]["CloudWatchMetrics"] = json!([{
                "Namespace": "CratePattern",
                "Dimensions": [["FunctionName"]],
                "Metrics": names,
            }]);
            writeln!(out, "{doc}")?;
        }
    }
    out.flush()?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    Extension::new()
        .with_telemetry_processor(SharedService::new(service_fn(on_telemetry)))
        .with_telemetry_types(&["platform"])
        .with_telemetry_buffering(LogBuffering {
            timeout_ms: 25,
            max_bytes: 1_048_576,
            max_items: 10_000,
        })
        .run()
        .await
}
