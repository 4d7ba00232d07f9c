//! The metrics in the output: every line that is a CloudWatch Embedded Metric Format document
//! (written by an extension or by the function), summed up as CloudWatch would read it.

use std::io::Write;

use serde_json::Value;

/// Prints a summary of the EMF documents among `lines`, or says there were none.
pub(crate) fn print<'a>(lines: impl Iterator<Item = &'a str>, out: &mut dyn Write) -> std::io::Result<()> {
    let docs: Vec<Value> = lines
        .filter(|l| l.trim_start().starts_with('{'))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|d| d.pointer("/_aws/CloudWatchMetrics").is_some_and(Value::is_array))
        .collect();
    if docs.is_empty() {
        return writeln!(
            out,
            "Metrics: no EMF document in the output (no extension or function wrote metrics)"
        );
    }
    let plural = if docs.len() == 1 { "" } else { "s" };
    writeln!(out, "Metrics ({} EMF document{plural}):", docs.len())?;
    for doc in &docs {
        for line in describe(doc) {
            writeln!(out, "  {line}")?;
        }
    }
    Ok(())
}

/// One document: a heading per directive (namespace and dimensions), a line per metric.
fn describe(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let directives = doc
        .pointer("/_aws/CloudWatchMetrics")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for d in directives {
        let namespace = d.get("Namespace").and_then(Value::as_str).unwrap_or("?");
        let dims: Vec<String> = d
            .get("Dimensions")
            .and_then(Value::as_array)
            .and_then(|sets| sets.first())
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
            .map(|k| format!("{k}={}", text(doc.get(k))))
            .collect();
        out.push(format!("{namespace} [{}]", dims.join(", ")));
        let metrics = d
            .get("Metrics")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for m in metrics {
            let name = m.get("Name").and_then(Value::as_str).unwrap_or("?");
            let unit = m.get("Unit").and_then(Value::as_str).unwrap_or("None");
            out.push(format!("  {name} = {} {unit}", text(doc.get(name))));
        }
    }
    out
}

fn text(v: Option<&Value>) -> String {
    match v {
        None => "(missing)".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(m)) if m.contains_key("Values") => format!(
            "values {} counts {}",
            m.get("Values").map(Value::to_string).unwrap_or_default(),
            m.get("Counts")
                .map(Value::to_string)
                .unwrap_or_else(|| "(ones)".to_owned())
        ),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_up_emf_documents_and_skips_other_lines() {
        let lines = [
            "hello",
            r#"{"not": "emf"}"#,
            r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"NS","Dimensions":[["FunctionName"]],"Metrics":[{"Name":"Duration","Unit":"Milliseconds"},{"Name":"Agg"}]}]},"FunctionName":"fn","Duration":12.5,"Agg":{"Values":[1,2],"Counts":[3,1]}}"#,
        ];
        let mut out = Vec::new();
        print(lines.into_iter(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "Metrics (1 EMF document):\n  NS [FunctionName=fn]\n    Duration = 12.5 Milliseconds\n    Agg = values [1,2] counts [3,1] None\n"
        );
        let mut out = Vec::new();
        print(["plain"].into_iter(), &mut out).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .starts_with("Metrics: no EMF document")
        );
    }
}
