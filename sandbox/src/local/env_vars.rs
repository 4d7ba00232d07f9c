//! `--env-vars FILE`, in SAM's format: a JSON object whose `Parameters` entry applies to every
//! function and whose other entries are keyed by a function's logical id (or its name):
//!
//! ```json
//! {"Parameters": {"STAGE": "local"}, "SampleFunction": {"LOG_LEVEL": "debug"}}
//! ```
//!
//! As in `sam local invoke`, only variables the template declares for the function are set;
//! the others are reported and left out.

use std::path::Path;

use serde_json::Value;

use super::LocalError;
use super::template::{Environment, FunctionSpec, scalar_string};

/// The function's environment after the overrides, and the override names it does not declare.
pub(crate) fn apply(
    function: &FunctionSpec,
    file: Option<&Path>,
) -> Result<(Environment, Vec<String>), LocalError> {
    let mut env = function.environment.clone();
    let Some(path) = file else {
        return Ok((env, Vec::new()));
    };
    let text = std::fs::read_to_string(path).map_err(|source| LocalError::Read {
        path: path.to_owned(),
        source,
    })?;
    let bad = |message: String| LocalError::EnvVars {
        path: path.to_owned(),
        message,
    };
    let doc: Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let Value::Object(doc) = doc else {
        return Err(bad("expected an object of objects".to_owned()));
    };
    let mut ignored = Vec::new();
    // `Parameters` first, then the function's own entry, which wins.
    for key in ["Parameters", function.id.as_str(), function.name.as_str()] {
        let Some(entry) = doc.get(key) else { continue };
        let Value::Object(vars) = entry else {
            return Err(bad(format!("{key:?} is not an object of variables")));
        };
        for (name, value) in vars {
            let value = scalar_string(value).ok_or_else(|| {
                bad(format!(
                    "{key}.{name}: {value} is not a string, number or boolean"
                ))
            })?;
            match env.get_mut(name) {
                Some(slot) => *slot = Some(value),
                None => ignored.push(name.clone()),
            }
        }
    }
    ignored.sort();
    ignored.dedup();
    Ok((env, ignored))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function() -> FunctionSpec {
        FunctionSpec {
            id: "Fn".into(),
            name: "my-fn".into(),
            runtime: Some("provided.al2023".into()),
            handler: "bootstrap".into(),
            code_uri: None,
            memory_mb: 128,
            timeout_s: 3,
            architecture: "x86_64".into(),
            environment: [("A".to_owned(), Some("a".to_owned())), ("B".to_owned(), None)]
                .into_iter()
                .collect(),
            layers: Vec::new(),
            logging: crate::logs::LoggingConfig::default(),
        }
    }

    fn with(text: &str) -> Result<(Environment, Vec<String>), LocalError> {
        let path = std::env::temp_dir().join(format!("env-vars-{}.json", crate::ids::random_hex(6)));
        std::fs::write(&path, text).unwrap();
        let r = apply(&function(), Some(&path));
        std::fs::remove_file(&path).unwrap();
        r
    }

    #[test]
    fn the_functions_entry_wins_over_parameters_and_undeclared_names_are_left_out() {
        let (env, ignored) =
            with(r#"{"Parameters": {"A": "p", "B": 2, "C": "c"}, "Fn": {"A": "own"}, "Other": {"B": "x"}}"#)
                .unwrap();
        assert_eq!(env.get("A"), Some(&Some("own".to_owned())));
        assert_eq!(env.get("B"), Some(&Some("2".to_owned())));
        assert_eq!(ignored, ["C"]);
        // By function name too.
        let (env, _) = with(r#"{"my-fn": {"B": true}}"#).unwrap();
        assert_eq!(env.get("B"), Some(&Some("true".to_owned())));
    }

    #[test]
    fn bad_files_are_named() {
        for text in ["nope", "[]", r#"{"Fn": 3}"#, r#"{"Fn": {"A": {"x": 1}}}"#] {
            let e = with(text).unwrap_err().to_string();
            assert!(e.contains("env-vars"), "{e}");
        }
    }
}
