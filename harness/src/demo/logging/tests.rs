#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests fail loudly")]

use super::*;

/// Four invocations: a cold start, an error, two warm.
fn truth() -> Truth {
    Truth {
        invocations: 4,
        cold_starts: 1,
        errors: 1,
        timeouts: 0,
        out_of_memory: 0,
        durations_ms: vec![3.25, 1.5, 2.0, 1.125],
        billed_ms: vec![4.0, 2.0, 2.0, 2.0],
        init_durations_ms: vec![12.345],
        max_memory_used_mb: vec![20.0, 21.0, 21.0, 22.0],
        memory_mb: 128,
    }
}

/// lambda-lens's documents as the adaptive mode might write them: the cold start and the error
/// alone, the two warm invocations aggregated (arrays, another order).
fn documents(level: &str) -> Vec<String> {
    let head = |metrics: &[&str]| {
        let defs: Vec<String> = metrics
            .iter()
            .map(|m| format!(r#"{{"Name":"{m}","Unit":"Count"}}"#))
            .collect();
        format!(
            r#"{{"_aws":{{"Timestamp":1795600800000,"CloudWatchMetrics":[{{"Namespace":"LambdaLens","Dimensions":[["FunctionName"]],"Metrics":[{}]}}]}},"level":"{level}","FunctionName":"f""#,
            defs.join(",")
        )
    };
    let all = [
        "ColdStarts",
        "Timeouts",
        "OutOfMemory",
        "MaxMemoryUsed",
        "MemoryUtilization",
    ];
    let mut with_init = all.to_vec();
    with_init.push("InitDuration");
    vec![
        format!(
            r#"{},"ColdStarts":1,"Timeouts":0,"OutOfMemory":0,"MaxMemoryUsed":20,"MemoryUtilization":15.63,"InitDuration":12.345}}"#,
            head(&with_init)
        ),
        format!(
            r#"{},"ColdStarts":0,"Timeouts":0,"OutOfMemory":0,"MaxMemoryUsed":21,"MemoryUtilization":16.41}}"#,
            head(&all)
        ),
        "START RequestId: r Version: $LATEST".to_owned(),
        format!(
            r#"{},"ColdStarts":[0,0],"Timeouts":{{"Values":[0],"Counts":[2]}},"OutOfMemory":[0,0],"MaxMemoryUsed":[22,21],"MemoryUtilization":[17.19,16.41]}}"#,
            head(&all)
        ),
    ]
}

#[test]
fn metrics_extracted_equal_to_the_truth_pass() {
    let docs = documents("WARN");
    let x = emf_spec::extract(docs.iter().map(String::as_str));
    assert_eq!((x.not_emf, x.validation_errors), (1, 0));
    let checks = compare(&x, &truth(), "f", DEFAULT_METRICS);
    assert_eq!(checks.len(), DEFAULT_METRICS.len());
    assert!(checks.iter().all(|c| c.equal), "{checks:#?}");
    let cold = checks.iter().find(|c| c.metric == "ColdStarts").unwrap();
    assert_eq!(
        (cold.extracted_values, cold.truth_values, cold.extracted.as_str()),
        (4, 4, "Sum 1 of 4 values")
    );
}

#[test]
fn a_lost_document_a_wrong_value_or_another_function_fails() {
    let docs = documents("INFO");
    // The aggregated document cut (lost), as a 64 KiB cut or a level filter would lose it.
    let lost = emf_spec::extract(docs.iter().take(3).map(String::as_str));
    let checks = compare(&lost, &truth(), "f", DEFAULT_METRICS);
    for name in ["ColdStarts", "Timeouts", "MaxMemoryUsed", "MemoryUtilization"] {
        assert!(!checks.iter().find(|c| c.metric == name).unwrap().equal, "{name}");
    }
    let x = emf_spec::extract(docs.iter().map(String::as_str));
    let mut wrong = truth();
    wrong.init_durations_ms = vec![12.347];
    let checks = compare(&x, &wrong, "f", &["InitDuration"]);
    assert!(!checks[0].equal, "{checks:?}");
    assert!(
        compare(&x, &truth(), "g", &["ColdStarts"])
            .iter()
            .all(|c| !c.equal)
    );
    // A metric not written (a property by default) is missing, not passed.
    assert!(!compare(&x, &truth(), "f", &["Errors"])[0].equal);
}

#[test]
fn a_result_is_as_expected_when_equal_or_when_nothing_is_extracted_away_from_cloudwatch() {
    let docs = documents("WARN");
    let x = emf_spec::extract(docs.iter().map(String::as_str));
    let checks = compare(&x, &truth(), "f", DEFAULT_METRICS);
    let mut result = LoggingResult {
        label: "JSON, WARN".to_owned(),
        group: "/aws/lambda/f".to_owned(),
        extracts: true,
        events: docs.len(),
        extraction: x.clone(),
        truth: truth(),
        checks: checks.clone(),
    };
    assert!(result.as_expected(), "{:?}", result.differences());
    let table = render_results(std::slice::from_ref(&result));
    assert!(table.contains("JSON, WARN"), "{table}");
    assert!(table.contains("21 / 21"), "{table}");
    assert!(table.contains("6 of 6"), "{table}");
    assert!(table.contains("yes"), "{table}");

    // S3: the same events, but nothing is extracted; that is the expected answer.
    result.extracts = false;
    assert!(
        !result.as_expected(),
        "data where CloudWatch Logs extracts nothing"
    );
    result.extraction = Extraction::default();
    result.checks = compare(&result.extraction, &truth(), "f", DEFAULT_METRICS);
    assert!(result.as_expected());
    assert!(render_results(&[result]).contains("0 / 21"));
}
