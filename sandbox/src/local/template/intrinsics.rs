//! The intrinsic functions a template's values can hold, resolved offline: `Ref` (parameters,
//! pseudo parameters, the template's own resources), `Fn::Sub`, `Fn::If` with the `Conditions`,
//! `Fn::Join`, `Fn::Select`, `Fn::FindInMap`, and the condition functions. Anything else needs
//! a deployed stack and is [`Unresolved`].

use serde_json::{Map, Value};

use super::{
    FUNCTION_TYPES, LAYER_TYPES, LOCAL_LAYER, Template, Unresolved, is_no_value, no_value, scalar_string,
};

impl Template {
    /// Resolves the intrinsics in `v`. `AWS::NoValue` removes a key or a list item.
    pub(super) fn resolve(&self, v: &Value) -> Result<Value, Unresolved> {
        match v {
            Value::Object(m) if m.len() == 1 => {
                let Some((key, arg)) = m.iter().next() else {
                    return Ok(Value::Null);
                };
                match key.as_str() {
                    "Ref" => self.reference(arg),
                    "Fn::Sub" => self.sub(arg),
                    "Fn::If" => self.fn_if(arg),
                    "Fn::Join" => self.join(arg),
                    "Fn::Select" => self.select(arg),
                    "Fn::FindInMap" => self.find_in_map(arg),
                    "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" | "Condition" => {
                        self.condition_value(v).map(Value::Bool)
                    }
                    k if k.starts_with("Fn::") => Err(Unresolved(format!(
                        "{k} needs a deployed stack; give the value with --env-vars or --parameter-overrides"
                    ))),
                    _ => self.resolve_map(m),
                }
            }
            Value::Object(m) => self.resolve_map(m),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let r = self.resolve(item)?;
                    if !is_no_value(&r) {
                        out.push(r);
                    }
                }
                Ok(Value::Array(out))
            }
            other => Ok(other.clone()),
        }
    }

    fn resolve_map(&self, m: &Map<String, Value>) -> Result<Value, Unresolved> {
        let mut out = Map::new();
        for (k, v) in m {
            let r = self.resolve(v)?;
            if !is_no_value(&r) {
                out.insert(k.clone(), r);
            }
        }
        Ok(Value::Object(out))
    }

    fn reference(&self, arg: &Value) -> Result<Value, Unresolved> {
        let name = arg
            .as_str()
            .ok_or_else(|| Unresolved(format!("Ref of {arg}, not a name")))?;
        if let Some(v) = self.parameters.get(name) {
            return Ok(v.clone());
        }
        let pseudo = match name {
            "AWS::Region" => Some(self.region.clone()),
            "AWS::AccountId" => Some(self.account_id.clone()),
            "AWS::Partition" => Some("aws".to_owned()),
            "AWS::URLSuffix" => Some("amazonaws.com".to_owned()),
            "AWS::StackName" => Some("local".to_owned()),
            "AWS::StackId" => Some(format!(
                "arn:aws:cloudformation:{}:{}:stack/local/local",
                self.region, self.account_id
            )),
            "AWS::NoValue" => return Ok(no_value()),
            _ => None,
        };
        if let Some(p) = pseudo {
            return Ok(Value::String(p));
        }
        match self.type_of(name) {
            Some(t) if LAYER_TYPES.contains(&t) => {
                let mut m = Map::new();
                m.insert(LOCAL_LAYER.to_owned(), Value::String(name.to_owned()));
                Ok(Value::Object(m))
            }
            // A function's Ref is its name.
            Some(t) if FUNCTION_TYPES.contains(&t) => Ok(Value::String(
                self.properties(name)
                    .get("FunctionName")
                    .and_then(Value::as_str)
                    .unwrap_or(name)
                    .to_owned(),
            )),
            Some(t) => Err(Unresolved(format!(
                "Ref {name} is a {t}, known only once deployed; give the value with --env-vars"
            ))),
            None => Err(Unresolved(format!("Ref {name}: no such parameter or resource"))),
        }
    }

    fn sub(&self, arg: &Value) -> Result<Value, Unresolved> {
        let (text, vars) = match arg {
            Value::String(s) => (s.as_str(), Map::new()),
            Value::Array(a) => match a.as_slice() {
                [Value::String(s), Value::Object(vars)] => (s.as_str(), vars.clone()),
                _ => return Err(Unresolved(format!("Fn::Sub of {arg}"))),
            },
            _ => return Err(Unresolved(format!("Fn::Sub of {arg}"))),
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let (before, after) = rest.split_at(start);
            out.push_str(before);
            let body = after.get(2..).unwrap_or_default();
            // `${!Literal}` writes `${Literal}`.
            if let Some(lit) = body.strip_prefix('!') {
                out.push_str("${");
                rest = lit;
                continue;
            }
            let end = body
                .find('}')
                .ok_or_else(|| Unresolved(format!("Fn::Sub: unclosed ${{ in {text:?}")))?;
            let name = body.get(..end).unwrap_or_default();
            let value = match vars.get(name) {
                Some(v) => self.resolve(v)?,
                None if name.contains('.') => {
                    return Err(Unresolved(format!(
                        "Fn::Sub ${{{name}}} is an attribute known only once deployed"
                    )));
                }
                None => self.reference(&Value::String(name.to_owned()))?,
            };
            out.push_str(&scalar_string(&value).ok_or_else(|| Unresolved(format!("Fn::Sub ${{{name}}}")))?);
            rest = body.get(end + 1..).unwrap_or_default();
        }
        out.push_str(rest);
        Ok(Value::String(out))
    }

    fn fn_if(&self, arg: &Value) -> Result<Value, Unresolved> {
        let [Value::String(cond), yes, no] = arg.as_array().map(Vec::as_slice).unwrap_or_default() else {
            return Err(Unresolved(format!("Fn::If of {arg}")));
        };
        if self.condition(cond)? {
            self.resolve(yes)
        } else {
            self.resolve(no)
        }
    }

    fn condition(&self, name: &str) -> Result<bool, Unresolved> {
        let c = self
            .conditions
            .get(name)
            .ok_or_else(|| Unresolved(format!("no condition {name}")))?;
        self.condition_value(c)
    }

    fn condition_value(&self, v: &Value) -> Result<bool, Unresolved> {
        let Some((key, arg)) = v.as_object().and_then(|m| m.iter().next()) else {
            return Err(Unresolved(format!("{v} is not a condition")));
        };
        let args = || arg.as_array().map(Vec::as_slice).unwrap_or_default();
        match key.as_str() {
            "Condition" => self.condition(arg.as_str().unwrap_or_default()),
            "Fn::Equals" => match args() {
                [a, b] => Ok(scalar_string(&self.resolve(a)?) == scalar_string(&self.resolve(b)?)),
                _ => Err(Unresolved(format!("Fn::Equals of {arg}"))),
            },
            "Fn::Not" => match args() {
                [c] => Ok(!self.condition_value(c)?),
                _ => Err(Unresolved(format!("Fn::Not of {arg}"))),
            },
            "Fn::And" => args()
                .iter()
                .try_fold(true, |acc, c| Ok(acc & self.condition_value(c)?)),
            "Fn::Or" => args()
                .iter()
                .try_fold(false, |acc, c| Ok(acc | self.condition_value(c)?)),
            _ => Err(Unresolved(format!("{key} is not a condition function"))),
        }
    }

    fn join(&self, arg: &Value) -> Result<Value, Unresolved> {
        let [Value::String(sep), list] = arg.as_array().map(Vec::as_slice).unwrap_or_default() else {
            return Err(Unresolved(format!("Fn::Join of {arg}")));
        };
        let Value::Array(items) = self.resolve(list)? else {
            return Err(Unresolved(format!("Fn::Join of {arg}")));
        };
        let parts: Option<Vec<String>> = items.iter().map(scalar_string).collect();
        parts
            .map(|p| Value::String(p.join(sep)))
            .ok_or_else(|| Unresolved(format!("Fn::Join of {arg}")))
    }

    fn select(&self, arg: &Value) -> Result<Value, Unresolved> {
        let [index, list] = arg.as_array().map(Vec::as_slice).unwrap_or_default() else {
            return Err(Unresolved(format!("Fn::Select of {arg}")));
        };
        let i = scalar_string(&self.resolve(index)?).and_then(|s| s.parse::<usize>().ok());
        match (i, self.resolve(list)?) {
            (Some(i), Value::Array(items)) => items
                .get(i)
                .cloned()
                .ok_or_else(|| Unresolved(format!("Fn::Select: no item {i}"))),
            _ => Err(Unresolved(format!("Fn::Select of {arg}"))),
        }
    }

    fn find_in_map(&self, arg: &Value) -> Result<Value, Unresolved> {
        let [map, top, second] = arg.as_array().map(Vec::as_slice).unwrap_or_default() else {
            return Err(Unresolved(format!("Fn::FindInMap of {arg}")));
        };
        let key = |v: &Value| -> Result<String, Unresolved> {
            scalar_string(&self.resolve(v)?).ok_or_else(|| Unresolved(format!("Fn::FindInMap of {arg}")))
        };
        let (map, top, second) = (key(map)?, key(top)?, key(second)?);
        self.mappings
            .get(&map)
            .and_then(|m| m.get(&top))
            .and_then(|m| m.get(&second))
            .cloned()
            .ok_or_else(|| Unresolved(format!("Fn::FindInMap: no {map}.{top}.{second}")))
    }
}
