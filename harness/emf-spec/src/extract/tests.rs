#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests fail loudly")]

use super::*;

/// Two dimension sets, three value forms, a `level` and a request id as properties.
const DOC: &str = r#"{"_aws":{"Timestamp":1795600800000,"CloudWatchMetrics":[{"Namespace":"LambdaLens","Dimensions":[["FunctionName"],["FunctionName","ColdStart"]],"Metrics":[{"Name":"Duration","Unit":"Milliseconds"},{"Name":"Invocations","Unit":"Count"},{"Name":"ColdStarts"}]}]},"level":"WARN","FunctionName":"f","ColdStart":"false","Duration":[1.5,2.5],"Invocations":{"Values":[1,0],"Counts":[3,2]},"ColdStarts":0,"RequestId":"r"}"#;

fn key(name: &str, dims: BTreeMap<String, String>) -> MetricKey {
    MetricKey::new("LambdaLens", name, dims)
}

#[test]
fn each_metric_of_each_dimension_set_is_one_datum_with_its_values() {
    let x = extract([DOC]);
    assert_eq!((x.not_emf, x.validation_errors), (0, 0));
    assert_eq!(x.data.len(), 6, "3 metrics x 2 dimension sets: {:?}", x.data);
    let by_function = dimensions([("FunctionName", "f")]);
    let by_cold = dimensions([("FunctionName", "f"), ("ColdStart", "false")]);
    let duration = &x.data[0];
    assert_eq!(duration.name, "Duration");
    assert_eq!(duration.namespace, "LambdaLens");
    assert_eq!(duration.unit.as_deref(), Some("Milliseconds"));
    assert_eq!(duration.timestamp_ms, 1_795_600_800_000);
    assert_eq!(duration.values, [1.5, 2.5]);
    for dims in [&by_function, &by_cold] {
        assert_eq!(
            x.values(&key("Invocations", dims.clone())),
            [1.0, 1.0, 1.0, 0.0, 0.0]
        );
        assert_eq!(x.values(&key("ColdStarts", dims.clone())), [0.0]);
    }
    assert_eq!(x.data.iter().find(|d| d.name == "ColdStarts").unwrap().unit, None);
    // The `level`, the request id and the dimension members are no metrics.
    let names: std::collections::BTreeSet<&str> = x.data.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["ColdStarts", "Duration", "Invocations"].into());
}

#[test]
fn a_message_that_is_not_one_whole_json_object_with_aws_gives_nothing() {
    let (head, tail) = DOC.split_at(DOC.len() / 2);
    let prefixed = format!("2026-12-07T10:00:00Z\tr\tINFO\t{DOC}");
    let trailing = format!("{DOC} trailing");
    let messages = [
        "START RequestId: r Version: $LATEST",
        r#"{"level":"INFO","message":"hello"}"#,
        "[1,2]",
        head,
        tail,
        prefixed.as_str(),
        trailing.as_str(),
        "",
    ];
    let x = extract(messages);
    assert_eq!(x.not_emf, messages.len() as u64);
    assert_eq!((x.validation_errors, x.data.len()), (0, 0));
}

#[test]
fn a_document_that_breaks_the_specification_gives_no_metric_and_counts_as_a_validation_error() {
    let broken = [
        DOC.replacen(r#""Unit":"Milliseconds""#, r#""Unit":"ms""#, 1),
        DOC.replacen(r#""ColdStarts":0"#, r#""ColdStarts":"0""#, 1),
        DOC.replacen(r#""FunctionName":"f""#, r#""FunctionName":1"#, 1),
        DOC.replacen("1795600800000", "\"now\"", 1),
        DOC.replacen(r#"[["FunctionName"],["FunctionName","ColdStart"]]"#, "[]", 1),
        DOC.replacen(r#""Counts":[3,2]"#, r#""Counts":[3]"#, 1),
        DOC.replacen(r#""Counts":[3,2]"#, r#""Counts":[3,2.5]"#, 1),
        DOC.replacen(r#""Counts":[3,2]"#, r#""Counts":[3,1e12]"#, 1),
        r#"{"_aws":{"Timestamp":1795600800000}}"#.to_owned(),
        r#"{"_aws":"metrics"}"#.to_owned(),
    ];
    for b in &broken {
        assert_ne!(b, DOC);
    }
    let x = extract(broken.iter().map(String::as_str).chain([DOC]));
    assert_eq!(x.validation_errors, broken.len() as u64, "{:?}", x.data);
    assert_eq!(x.not_emf, 0);
    assert_eq!(x.data.len(), 6, "only the good document's data");
}

#[test]
fn an_empty_dimension_set_is_a_metric_without_dimensions_and_every_directive_counts() {
    let doc = r#"{"_aws":{"Timestamp":1795600800000,"CloudWatchMetrics":[{"Namespace":"A","Dimensions":[[]],"Metrics":[{"Name":"M"}]},{"Namespace":"B","Dimensions":[["K"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"K":"v","M":2}"#;
    let x = extract([doc]);
    assert_eq!(x.data.len(), 2);
    assert_eq!(x.data[0].key(), MetricKey::new("A", "M", BTreeMap::new()));
    assert_eq!(
        x.data[1].key(),
        MetricKey::new("B", "M", dimensions([("K", "v")]))
    );
    assert_eq!(
        (x.data[0].values.clone(), x.data[1].values.clone()),
        (vec![2.0], vec![2.0])
    );
}

#[test]
fn an_event_is_read_whole_even_over_several_lines() {
    // One event whose message spans lines (a logger's pretty print) is still one JSON object;
    // the checker's one-line rule is about stdout, where each line is an event.
    let pretty = serde_json::to_string_pretty(&serde_json::from_str::<Value>(DOC).unwrap()).unwrap();
    assert!(pretty.contains('\n'));
    assert!(crate::check_line(&pretty).is_err());
    assert_eq!(extract([pretty.as_str()]).data.len(), 6);
}

#[test]
fn sums_and_counts_go_by_namespace_name_and_dimensions() {
    let other = DOC.replacen(r#""FunctionName":"f""#, r#""FunctionName":"g""#, 1);
    let x = extract([DOC, DOC, other.as_str(), "plain text"]);
    let f = key("Invocations", dimensions([("FunctionName", "f")]));
    let g = key("Invocations", dimensions([("FunctionName", "g")]));
    assert_eq!((x.count(&f), x.sum(&f)), (10, 6.0));
    assert_eq!((x.count(&g), x.sum(&g)), (5, 3.0));
    let none = MetricKey::new("Other", "Invocations", dimensions([("FunctionName", "f")]));
    assert_eq!((x.count(&none), x.sum(&none)), (0, 0.0));
    let all = x.by_metric();
    assert_eq!(
        all.len(),
        12,
        "3 metrics x (f, f+cold, g, g+cold): {:?}",
        all.keys()
    );
    assert_eq!(all[&f].len(), 10);
    assert_eq!(x.value_count(), 3 * (2 + 5 + 1) * 2);
    assert_eq!(x.not_emf, 1);
}
