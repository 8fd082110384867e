//! Pods: `--pods NAMESPACE:SELECTOR[:MIN]` and the seed's `NAMESPACE_LABEL_DICT`.

use serde_json::Value;

use super::error::ConfigError;
use super::grammar::{Context, Invalid, Sourced, namespace, parse_min};
use crate::dependency::{Dependency, Target};
use crate::selector::LabelSelector;

/// Larger JSON is refused before parsing: no legitimate dependency list comes near it, and an
/// init container should not spend memory on a runaway value.
pub const MAX_DICT_BYTES: usize = 64 * 1024;

pub(super) const EXAMPLE: &str =
    "--pods 'namespace-1:app=MyApp,environment=dev' --pods 'db:app=zk:2'";
const DICT_EXAMPLE: &str = r#"NAMESPACE_LABEL_DICT='{"namespace-1": [{"app": "MyApp", "environment": "dev"}], "namespace-2": [{"app": "MyApp"}]}'"#;

/// `NAMESPACE:SELECTOR[:MIN]`. Label keys and values cannot contain `:`, so the first `:` ends
/// the namespace and a trailing `:digits` is MIN.
pub(super) fn parse(spec: &str, _: &Context) -> Result<Target, Invalid> {
    let Some((ns, rest)) = spec.split_once(':') else {
        return Err(Invalid(
            "expected NAMESPACE:SELECTOR[:MIN], found no `:` after the namespace".into(),
        ));
    };
    let namespace = namespace(ns.trim())?;
    let (selector_text, min) = match rest.rsplit_once(':') {
        Some((sel, min)) => (sel, Some(parse_min(min)?)),
        None => (rest, None),
    };
    if selector_text.contains(':') {
        return Err(Invalid(
            "too many `:`; expected NAMESPACE:SELECTOR[:MIN] (label keys and values cannot contain `:`)"
                .into(),
        ));
    }
    let selector =
        LabelSelector::parse(selector_text).map_err(|e| Invalid(format!("bad selector: {e}")))?;
    Ok(Target::Pods {
        namespace,
        selector,
        min,
    })
}

/// The seed's shape: an object of namespace → array of label objects of string → string.
pub(super) fn parse_namespace_label_dict(value: &Sourced) -> Result<Vec<Dependency>, ConfigError> {
    let name = &value.name;
    let err = |problem: String| ConfigError {
        name: name.clone(),
        problem,
        example: DICT_EXAMPLE,
    };
    if value.text.len() > MAX_DICT_BYTES {
        return Err(err(format!(
            "{} bytes is more than the {} KiB limit; list fewer dependencies or use several --pods flags",
            value.text.len(),
            MAX_DICT_BYTES / 1024
        )));
    }
    let json: Value = serde_json::from_str(&value.text).map_err(|e| {
        err(format!(
            "not valid JSON ({e}); note the value must use double quotes"
        ))
    })?;
    let Value::Object(namespaces) = json else {
        return Err(err(format!(
            "expected a JSON object of namespace -> list of label objects, found {}",
            kind(&json)
        )));
    };
    if namespaces.is_empty() {
        return Err(err("empty object: name at least one namespace".into()));
    }
    let mut out = Vec::new();
    for (ns, sets) in &namespaces {
        let namespace = namespace(ns).map_err(|e| err(e.0))?;
        let Value::Array(sets) = sets else {
            return Err(err(format!(
                "[\"{ns}\"] must be a list of label objects, found {}",
                kind(sets)
            )));
        };
        if sets.is_empty() {
            return Err(err(format!(
                "[\"{ns}\"] is an empty list: give at least one label object"
            )));
        }
        for (i, set) in sets.iter().enumerate() {
            let at = format!("[\"{ns}\"][{i}]");
            let Value::Object(labels) = set else {
                return Err(err(format!(
                    "{at} must be an object of label -> value, found {}",
                    kind(set)
                )));
            };
            if labels.is_empty() {
                return Err(err(format!(
                    "{at} is an empty object: name at least one label"
                )));
            }
            let mut pairs = Vec::with_capacity(labels.len());
            for (k, v) in labels {
                let Value::String(v) = v else {
                    return Err(err(format!(
                        "{at}[\"{k}\"] must be a string, found {} (quote it: \"{k}\": \"{v}\")",
                        kind(v)
                    )));
                };
                pairs.push((k.as_str(), v.as_str()));
            }
            let selector = LabelSelector::from_pairs(pairs)
                .map_err(|e| err(format!("{at}: {}", e.problem)))?;
            out.push(Dependency {
                target: Target::Pods {
                    namespace: namespace.clone(),
                    selector,
                    min: None,
                },
                origin: format!("{name}{at}"),
            });
        }
    }
    Ok(out)
}

/// A JSON value's kind, as a message names it.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
