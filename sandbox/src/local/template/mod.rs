//! A SAM (or CloudFormation) template, read the way `sam local invoke` reads it: the function's
//! properties with `Globals` merged in, and the intrinsic functions that can be worked out
//! offline (`Ref` to parameters, pseudo parameters and the template's own resources, `Fn::Sub`,
//! `Fn::If` with the `Conditions`, `Fn::Join`, `Fn::Select`, `Fn::FindInMap`, `Fn::Equals`,
//! `Fn::Not`, `Fn::And`, `Fn::Or`). Anything else (`Fn::GetAtt`, `Fn::ImportValue`, ...) needs a
//! deployed stack and is reported as unresolved, as SAM does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::LocalError;
use crate::logs::{LogFormat, LogLevel, LoggingConfig};

mod intrinsics;

/// The resource types that are functions.
const FUNCTION_TYPES: [&str; 2] = ["AWS::Serverless::Function", "AWS::Lambda::Function"];
/// The resource types that are layers.
const LAYER_TYPES: [&str; 2] = ["AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"];
/// The marker a `Ref` to one of the template's layers resolves to, read back by
/// [`Template::function`] (never seen outside this module).
const LOCAL_LAYER: &str = "\u{0}local-layer";
/// The marker `AWS::NoValue` resolves to: the key or list item holding it is dropped.
const NO_VALUE: &str = "\u{0}no-value";

/// A parsed template and what its intrinsics resolve against.
#[derive(Debug)]
pub(crate) struct Template {
    /// The template file's folder: `CodeUri` and `ContentUri` are relative to it.
    pub(crate) dir: PathBuf,
    resources: Map<String, Value>,
    globals: Map<String, Value>,
    parameters: BTreeMap<String, Value>,
    mappings: Map<String, Value>,
    conditions: Map<String, Value>,
    region: String,
    account_id: String,
}

/// A function's environment variables; a value that needs a deployed stack is `None`.
pub(crate) type Environment = BTreeMap<String, Option<String>>;

/// One layer of a function, as the template names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LayerRef {
    /// A layer resource of this template, by logical id.
    Local(String),
    /// A published layer version ARN (cannot be fetched offline).
    Arn(String),
}

/// A function's properties after `Globals` and the intrinsics.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FunctionSpec {
    /// Logical id.
    pub(crate) id: String,
    /// `FunctionName`, or the logical id.
    pub(crate) name: String,
    /// `Runtime`; `None` for an image function (`PackageType: Image`).
    pub(crate) runtime: Option<String>,
    /// `Handler`.
    pub(crate) handler: String,
    /// `CodeUri` (or `Code` of `AWS::Lambda::Function`), a local folder relative to the template.
    pub(crate) code_uri: Option<String>,
    /// `MemorySize` in MB (Lambda's default 128).
    pub(crate) memory_mb: u32,
    /// `Timeout` in seconds (Lambda's default 3).
    pub(crate) timeout_s: u64,
    /// `Architectures` (Lambda's default `x86_64`).
    pub(crate) architecture: String,
    /// `Environment.Variables`.
    pub(crate) environment: Environment,
    /// `Layers`, in order.
    pub(crate) layers: Vec<LayerRef>,
    /// `LoggingConfig` (`LogFormat`, `ApplicationLogLevel`, `SystemLogLevel`, `LogGroup`), with
    /// `Globals` merged key by key; Lambda's defaults for what it leaves out.
    pub(crate) logging: LoggingConfig,
}

/// A layer resource's properties.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LayerSpec {
    /// `ContentUri` (or `Content`), a local folder relative to the template.
    pub(crate) content_uri: Option<String>,
}

/// Why a value could not be worked out offline.
#[derive(Debug)]
struct Unresolved(String);

impl Template {
    /// Reads `path` (YAML or JSON). `overrides` are `--parameter-overrides`; `region` is the
    /// value of `AWS::Region`.
    pub(crate) fn load(
        path: &Path,
        overrides: &[(String, String)],
        region: &str,
    ) -> Result<Self, LocalError> {
        let text = std::fs::read_to_string(path).map_err(|source| LocalError::Read {
            path: path.to_owned(),
            source,
        })?;
        let yaml: yaml_serde::Value = yaml_serde::from_str(&text).map_err(|e| LocalError::Template {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let doc = to_json(yaml);
        let bad = |message: String| LocalError::Template {
            path: path.to_owned(),
            message,
        };
        let section = |name: &str| match doc.get(name) {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(_) => Err(bad(format!("`{name}` is not a mapping"))),
        };
        let resources = section("Resources")?;
        if resources.is_empty() {
            return Err(bad("it has no `Resources`".to_owned()));
        }
        let globals = match section("Globals")?.get("Function") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        let mut parameters = BTreeMap::new();
        for (name, p) in section("Parameters")? {
            if let Some(d) = p.get("Default") {
                parameters.insert(name, scalar_json(d));
            }
        }
        let declared = section("Parameters")?;
        for (k, v) in overrides {
            if !declared.contains_key(k) {
                return Err(bad(format!(
                    "--parameter-overrides names {k:?}, which is not a parameter of the template (it has: {})",
                    declared.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
            parameters.insert(k.clone(), Value::String(v.clone()));
        }
        Ok(Self {
            dir: path.parent().map(PathBuf::from).unwrap_or_default(),
            resources,
            globals,
            parameters,
            mappings: section("Mappings")?,
            conditions: section("Conditions")?,
            region: region.to_owned(),
            account_id: "123456789012".to_owned(),
        })
    }

    /// The logical ids of the template's functions, sorted.
    pub(crate) fn function_ids(&self) -> Vec<String> {
        self.ids_of(&FUNCTION_TYPES)
    }

    fn ids_of(&self, types: &[&str]) -> Vec<String> {
        self.resources
            .iter()
            .filter(|(_, r)| {
                r.get("Type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| types.contains(&t))
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn properties(&self, id: &str) -> Map<String, Value> {
        match self.resources.get(id).and_then(|r| r.get("Properties")) {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        }
    }

    fn type_of(&self, id: &str) -> Option<&str> {
        self.resources.get(id)?.get("Type")?.as_str()
    }

    /// The function `id` (or the template's only function when `id` is `None`).
    pub(crate) fn function(&self, id: Option<&str>) -> Result<FunctionSpec, LocalError> {
        let ids = self.function_ids();
        let id = match (id, ids.as_slice()) {
            (Some(id), _) if ids.iter().any(|i| i == id) => id.to_owned(),
            (None, [only]) => only.clone(),
            (asked, _) => {
                return Err(LocalError::NoSuchFunction {
                    asked: asked.map(str::to_owned),
                    functions: ids,
                });
            }
        };
        let serverless = self.type_of(&id) == Some("AWS::Serverless::Function");
        let mut props = self.properties(&id);
        if serverless {
            props = merge_globals(&self.globals, props);
        }
        let get = |key: &str| -> Result<Option<Value>, LocalError> {
            match props.get(key) {
                None => Ok(None),
                Some(v) => self
                    .resolve(v)
                    .map(non_null)
                    .map_err(|Unresolved(why)| LocalError::Unresolved {
                        what: format!("{id}.{key}"),
                        why,
                    }),
            }
        };
        let text = |key: &str| -> Result<Option<String>, LocalError> {
            Ok(get(key)?.as_ref().and_then(scalar_string))
        };
        let number = |key: &str, default: u64| -> Result<u64, LocalError> {
            match get(key)? {
                None => Ok(default),
                Some(v) => scalar_string(&v)
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| LocalError::Property {
                        what: format!("{id}.{key}"),
                        message: format!("{v} is not a whole number"),
                    }),
            }
        };
        let image = text("PackageType")?.as_deref() == Some("Image");
        let code_key = if serverless { "CodeUri" } else { "Code" };
        let code_uri = match get(code_key)? {
            // An image function's code is its ImageUri (`Code: {ImageUri}` in CloudFormation),
            // read by `local::image`.
            _ if image => None,
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                return Err(LocalError::Property {
                    what: format!("{id}.{code_key}"),
                    message: format!(
                        "{other} is not a local folder; point it at the function's folder (or run `sam build`, whose output is read first)"
                    ),
                });
            }
        };
        let architecture = match get("Architectures")? {
            None => "x86_64".to_owned(),
            Some(Value::Array(a)) if a.len() == 1 => a.first().and_then(scalar_string).unwrap_or_default(),
            Some(other) => {
                return Err(LocalError::Property {
                    what: format!("{id}.Architectures"),
                    message: format!("{other}: Lambda takes a list of exactly one of x86_64, arm64"),
                });
            }
        };
        if !matches!(architecture.as_str(), "x86_64" | "arm64") {
            return Err(LocalError::Property {
                what: format!("{id}.Architectures"),
                message: format!("{architecture:?} is not x86_64 or arm64"),
            });
        }
        let memory = number("MemorySize", 128)?;
        Ok(FunctionSpec {
            name: text("FunctionName")?.unwrap_or_else(|| id.clone()),
            runtime: if image { None } else { text("Runtime")? },
            handler: text("Handler")?.unwrap_or_default(),
            code_uri,
            memory_mb: u32::try_from(memory).unwrap_or(u32::MAX),
            timeout_s: number("Timeout", 3)?,
            architecture,
            environment: self.environment(&id, &props)?,
            layers: self.layers(&id, &props)?,
            logging: self.logging(&id, &props)?,
            id,
        })
    }

    /// Function `id`'s property `key`, with `Globals` merged in and its intrinsics resolved
    /// (`None` when absent), for what `FunctionSpec` does not carry (an image function's
    /// `ImageUri` and `ImageConfig`).
    pub(crate) fn function_property(&self, id: &str, key: &str) -> Result<Option<Value>, LocalError> {
        let mut props = self.properties(id);
        if self.type_of(id) == Some("AWS::Serverless::Function") {
            props = merge_globals(&self.globals, props);
        }
        match props.get(key) {
            None => Ok(None),
            Some(v) => self
                .resolve(v)
                .map(non_null)
                .map_err(|Unresolved(why)| LocalError::Unresolved {
                    what: format!("{id}.{key}"),
                    why,
                }),
        }
    }

    /// `LoggingConfig`. Its values are the API's enumerations, spelled as the API spells them
    /// (a: `Text` | `JSON`; `TRACE` … `FATAL`; `DEBUG` | `INFO` | `WARN` for the system level),
    /// and what the API refuses (a level with `Text`) is refused here with the API's message.
    fn logging(&self, id: &str, props: &Map<String, Value>) -> Result<LoggingConfig, LocalError> {
        let what = format!("{id}.LoggingConfig");
        let mut logging = LoggingConfig::default();
        let Some(raw) = props.get("LoggingConfig") else {
            return Ok(logging);
        };
        let resolved = self
            .resolve(raw)
            .map_err(|Unresolved(why)| LocalError::Unresolved {
                what: what.clone(),
                why,
            })?;
        let Some(Value::Object(config)) = non_null(resolved) else {
            return Err(LocalError::Property {
                what,
                message: "not a mapping of LogFormat, ApplicationLogLevel, SystemLogLevel, LogGroup"
                    .to_owned(),
            });
        };
        let bad = |key: &str, message: String| LocalError::Property {
            what: format!("{what}.{key}"),
            message,
        };
        for (key, value) in config {
            let Some(text) = non_null(value.clone()).as_ref().and_then(scalar_string) else {
                continue;
            };
            let level = |allowed: &[LogLevel]| {
                allowed
                    .iter()
                    .copied()
                    .find(|l| l.as_str() == text)
                    .ok_or_else(|| {
                        let names: Vec<&str> = allowed.iter().map(|l| l.as_str()).collect();
                        bad(&key, format!("{text:?} is not one of {}", names.join(" | ")))
                    })
            };
            match key.as_str() {
                "LogFormat" => {
                    logging.format = [LogFormat::Text, LogFormat::Json]
                        .into_iter()
                        .find(|f| f.as_str() == text)
                        .ok_or_else(|| bad(&key, format!("{text:?} is not one of Text | JSON")))?;
                }
                "ApplicationLogLevel" => logging.application_level = Some(level(&LogLevel::ALL)?),
                "SystemLogLevel" => {
                    logging.system_level = Some(level(&[LogLevel::Debug, LogLevel::Info, LogLevel::Warn])?);
                }
                "LogGroup" => logging.log_group = Some(text),
                other => {
                    return Err(bad(
                        other,
                        "not a LoggingConfig property (LogFormat, ApplicationLogLevel, SystemLogLevel, LogGroup)"
                            .to_owned(),
                    ));
                }
            }
        }
        logging.validate().map_err(|e| LocalError::Property {
            what,
            message: e.to_string(),
        })?;
        Ok(logging)
    }

    fn environment(&self, id: &str, props: &Map<String, Value>) -> Result<Environment, LocalError> {
        let mut out = Environment::new();
        let vars = match props.get("Environment").map(|e| self.resolve_shallow(e)) {
            None => return Ok(out),
            Some(Ok(e)) => e.get("Variables").map(|v| self.resolve_shallow(v)).transpose(),
            Some(Err(e)) => Err(e),
        }
        .map_err(|Unresolved(why)| LocalError::Unresolved {
            what: format!("{id}.Environment"),
            why,
        })?;
        let Some(Value::Object(vars)) = vars else {
            return Ok(out);
        };
        for (name, value) in vars {
            // A value that needs a deployed stack (`Fn::GetAtt` of a table, say) resolves to
            // nothing here, as in `sam local invoke`: give it with --env-vars.
            match self.resolve(&value) {
                Ok(v) if is_no_value(&v) => {}
                Ok(v) => {
                    out.insert(name, scalar_string(&v));
                }
                Err(_) => {
                    out.insert(name, None);
                }
            }
        }
        Ok(out)
    }

    /// Resolves `v` when it is an intrinsic (an `Fn::If` choosing a whole mapping, say), and
    /// leaves a plain mapping's values for the caller to resolve one by one.
    fn resolve_shallow(&self, v: &Value) -> Result<Value, Unresolved> {
        match v {
            Value::Object(m) if is_intrinsic(m) => self.resolve(v),
            other => Ok(other.clone()),
        }
    }

    fn layers(&self, id: &str, props: &Map<String, Value>) -> Result<Vec<LayerRef>, LocalError> {
        let Some(layers) = props.get("Layers") else {
            return Ok(Vec::new());
        };
        let resolved = self
            .resolve(layers)
            .map_err(|Unresolved(why)| LocalError::Unresolved {
                what: format!("{id}.Layers"),
                why,
            })?;
        let Value::Array(items) = resolved else {
            return Err(LocalError::Property {
                what: format!("{id}.Layers"),
                message: "not a list".to_owned(),
            });
        };
        items
            .into_iter()
            .map(|item| match item {
                Value::Object(m) if m.contains_key(LOCAL_LAYER) => Ok(LayerRef::Local(
                    m.get(LOCAL_LAYER).and_then(scalar_string).unwrap_or_default(),
                )),
                Value::String(arn) => Ok(LayerRef::Arn(arn)),
                other => Err(LocalError::Property {
                    what: format!("{id}.Layers"),
                    message: format!("{other} is neither a layer of the template nor an ARN"),
                }),
            })
            .collect()
    }

    /// The layer resource `id`.
    pub(crate) fn layer(&self, id: &str) -> Result<LayerSpec, LocalError> {
        let props = self.properties(id);
        let key = if self.type_of(id) == Some("AWS::Lambda::LayerVersion") {
            "Content"
        } else {
            "ContentUri"
        };
        let content = props
            .get(key)
            .map(|v| self.resolve(v))
            .transpose()
            .map_err(|Unresolved(why)| LocalError::Unresolved {
                what: format!("{id}.{key}"),
                why,
            })?;
        Ok(LayerSpec {
            content_uri: content.as_ref().and_then(Value::as_str).map(str::to_owned),
        })
    }
}

/// `Globals.Function` under a function's own properties, as SAM merges them: the function's
/// scalars win, mappings merge key by key (the function's keys win), lists are concatenated
/// (the globals first).
fn merge_globals(globals: &Map<String, Value>, props: Map<String, Value>) -> Map<String, Value> {
    let mut out = globals.clone();
    for (k, v) in props {
        let merged = match (out.remove(&k), v) {
            (Some(Value::Object(g)), Value::Object(own)) if !is_intrinsic(&own) => {
                Value::Object(merge_globals(&g, own))
            }
            (Some(Value::Array(mut g)), Value::Array(own)) => {
                g.extend(own);
                Value::Array(g)
            }
            (_, own) => own,
        };
        out.insert(k, merged);
    }
    out
}

fn is_intrinsic(m: &Map<String, Value>) -> bool {
    m.len() == 1
        && m.keys()
            .any(|k| k == "Ref" || k == "Condition" || k.starts_with("Fn::"))
}

fn no_value() -> Value {
    let mut m = Map::new();
    m.insert(NO_VALUE.to_owned(), Value::Null);
    Value::Object(m)
}

fn is_no_value(v: &Value) -> bool {
    v.as_object().is_some_and(|m| m.contains_key(NO_VALUE))
}

fn non_null(v: Value) -> Option<Value> {
    if v.is_null() || is_no_value(&v) {
        None
    } else {
        Some(v)
    }
}

/// A scalar as the string CloudFormation would pass (`256`, `true`, `text`).
pub(crate) fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn scalar_json(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::String(
            items
                .iter()
                .filter_map(scalar_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
        other => other.clone(),
    }
}

/// YAML to JSON, with the short forms of the intrinsics (`!Ref X`, `!Sub s`, `!GetAtt A.B`) in
/// their long JSON forms (`{"Ref": "X"}`, `{"Fn::Sub": "s"}`, `{"Fn::GetAtt": ["A", "B"]}`).
fn to_json(v: yaml_serde::Value) -> Value {
    use yaml_serde::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64().map_or(Value::Null, Value::from)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(t.value);
            let (key, arg) = match name {
                "Ref" | "Condition" => (name.to_owned(), inner),
                "GetAtt" => {
                    let arg = match inner {
                        Value::String(s) => {
                            Value::Array(s.splitn(2, '.').map(|p| Value::String(p.to_owned())).collect())
                        }
                        other => other,
                    };
                    ("Fn::GetAtt".to_owned(), arg)
                }
                other => (format!("Fn::{other}"), inner),
            };
            let mut m = Map::new();
            m.insert(key, arg);
            Value::Object(m)
        }
    }
}

#[cfg(test)]
mod tests;
