//! From what the user typed (flags, the seed's environment) to validated dependencies.
//!
//! All validation lives here and runs before any request: a bad value is exit 2 with a message
//! that names the flag or variable, says what is wrong and shows a correct example.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

mod file;
mod objects;

use crate::cli::{Input, LogFormat, Sourced};
use crate::dependency::{Dependency, ServiceTarget, Target};
use crate::names::{self, HostName};
use crate::probe::Check;
use crate::selector::{LabelSelector, is_dns1123_label};

/// Larger JSON is refused before parsing: no legitimate dependency list comes near it, and an
/// init container should not spend memory on a runaway value.
pub const MAX_DICT_BYTES: usize = 64 * 1024;

/// Longest accepted timeout; past this, `0` (forever) is what the user means.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Shortest `--heartbeat`: a line per millisecond would drown every other line.
pub const MIN_HEARTBEAT: Duration = Duration::from_secs(1);

/// A validated run.
#[derive(Debug, Clone)]
pub struct Config {
    /// What to wait for, in the order given (flags first, then the seed's JSON).
    pub dependencies: Vec<Dependency>,
    /// `None` waits forever (`TIMEOUT=0`).
    pub timeout: Option<Duration>,
    /// The seed's poll interval: validated for compatibility, never used to delay anything.
    pub retry_interval: Option<Duration>,
    /// Interval of the "still waiting" line; `None` turns it off.
    pub heartbeat: Option<Duration>,
    /// Record a Kubernetes Event on the waiting pod on failure.
    pub emit_events: bool,
    /// How progress is logged.
    pub log_format: LogFormat,
    /// Where the failure summary goes.
    pub termination_log: PathBuf,
    /// Dependencies given more than once, dropped from `dependencies` (logged once at start).
    pub duplicates: Vec<Duplicate>,
}

/// A dependency given more than once — `--pods a:x=y` twice, or a flag and a `--config` entry
/// or `NAMESPACE_LABEL_DICT` object that say the same after normalisation (`a==b` is `a=b`):
/// waited for, shown and counted once, the first one written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// Where the dropped copy was written (`--pods #2`).
    pub origin: String,
    /// Where the one kept was written (`--pods #1`).
    pub same_as: String,
    /// The dependency, as log lines name it.
    pub dependency: String,
}

/// Drop every dependency equal to an earlier one; returns what was dropped. Candidates are
/// grouped by their sources first, so a long `NAMESPACE_LABEL_DICT` costs no quadratic scan.
fn dedupe(deps: &mut Vec<Dependency>) -> Vec<Duplicate> {
    let mut by_sources: std::collections::HashMap<Vec<crate::dependency::SourceKey>, Vec<usize>> =
        std::collections::HashMap::new();
    let mut kept: Vec<Dependency> = Vec::with_capacity(deps.len());
    let mut dropped = Vec::new();
    for dep in deps.drain(..) {
        let same = by_sources.entry(dep.sources()).or_default();
        match same.iter().find(|&&i| kept[i].target == dep.target) {
            Some(&i) => dropped.push(Duplicate {
                dependency: dep.to_string(),
                origin: dep.origin,
                same_as: kept[i].origin.clone(),
            }),
            None => {
                same.push(kept.len());
                kept.push(dep);
            }
        }
    }
    *deps = kept;
    dropped
}

/// A configuration mistake, phrased so the user can fix it. What the user typed is quoted
/// redacted and escaped ([`crate::text`]): a URL's password or query value (in a flag, or in a
/// `--config` key the parser quotes back) and a control character in an argument cannot reach
/// the terminal or the termination message, whichever parser wrote the words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}: {}\n  example: {example}",
    crate::text::Escaped(crate::text::redact(name)),
    crate::text::Escaped(crate::text::redact(problem))
)]
pub struct ConfigError {
    /// The flag or variable at fault, with position where useful (`--pods #2`).
    pub name: String,
    /// What is wrong.
    pub problem: String,
    /// A correct value for the same flag or variable.
    pub example: &'static str,
}

const PODS_EXAMPLE: &str = "--pods 'namespace-1:app=MyApp,environment=dev' --pods 'db:app=zk:2'";
const SERVICE_EXAMPLE: &str = "--service db/mysql-read --service db/zookeeper-headless:3";
const HOST_EXAMPLE: &str = "depwait mysql-0.mysql.db mysql-read.db api.example.com.";
const DICT_EXAMPLE: &str = r#"NAMESPACE_LABEL_DICT='{"namespace-1": [{"app": "MyApp", "environment": "dev"}], "namespace-2": [{"app": "MyApp"}]}'"#;

impl Config {
    /// Validate everything; the first mistake found is reported.
    pub fn from_input(input: Input) -> Result<Self, ConfigError> {
        let timeout = parse_duration(
            &input.timeout,
            "TIMEOUT=300, --timeout 5m, or 0 to wait forever",
        )?;
        let retry_interval = input
            .retry_interval
            .as_ref()
            .map(|v| parse_duration(v, "RETRY_INTERVAL=15 or --retry-interval 2s"))
            .transpose()?;
        let heartbeat = parse_duration(&input.heartbeat, HEARTBEAT_EXAMPLE)?;
        if !heartbeat.is_zero() && heartbeat < MIN_HEARTBEAT {
            return Err(ConfigError {
                name: input.heartbeat.name.clone(),
                problem: format!(
                    "`{}` is shorter than {}: a heartbeat that often floods the log; give 1s or more, or 0 to turn it off",
                    input.heartbeat.text.trim(),
                    humantime::format_duration(MIN_HEARTBEAT)
                ),
                example: HEARTBEAT_EXAMPLE,
            });
        }
        let emit_events = input
            .emit_events
            .as_ref()
            .map(|v| parse_bool(v, "--emit-events, or DEPWAIT_EMIT_EVENTS=true"))
            .transpose()?
            .unwrap_or(false);
        let log_format = log_format(&input.log_format)?;
        let cluster_domain = input.cluster_domain.text.as_str();
        if names::validate(cluster_domain).is_err() {
            return Err(ConfigError {
                name: input.cluster_domain.name.clone(),
                problem: format!("`{cluster_domain}` is not a DNS domain"),
                example: "--cluster-domain cluster.local",
            });
        }

        let mut dependencies = Vec::new();
        for (i, spec) in input.pods.iter().enumerate() {
            dependencies.push(parse_pods_flag(spec, i + 1)?);
        }
        if let Some(dict) = &input.namespace_label_dict {
            dependencies.extend(parse_namespace_label_dict(dict)?);
        }
        for (i, spec) in input.services.iter().enumerate() {
            dependencies.push(parse_service_flag(spec, i + 1)?);
        }
        for (i, host) in input.hosts.iter().enumerate() {
            dependencies.push(parse_host(host, i + 1, cluster_domain)?);
        }
        for (i, host) in input.dns.iter().enumerate() {
            let origin = format!("--dns #{}", i + 1);
            dependencies.push(parse_dns(host, origin)?);
        }
        for (i, spec) in input.jobs.iter().enumerate() {
            dependencies.push(objects::parse_job(spec, i + 1)?);
        }
        for (i, spec) in input.rollouts.iter().enumerate() {
            dependencies.push(objects::parse_rollout(spec, i + 1)?);
        }
        for (i, spec) in input.resources.iter().enumerate() {
            dependencies.push(objects::parse_resource(spec, i + 1)?);
        }
        for (i, spec) in input.tcp.iter().enumerate() {
            dependencies.push(objects::parse_tcp(spec, i + 1)?);
        }
        for (i, spec) in input.http.iter().enumerate() {
            dependencies.push(objects::parse_http(spec, i + 1)?);
        }
        if let Some(path) = &input.config {
            dependencies.extend(file::read(&path.text, &path.name, cluster_domain)?);
        }
        let duplicates = dedupe(&mut dependencies);
        if dependencies.is_empty() {
            return Err(ConfigError {
                name: "dependencies".into(),
                problem: "nothing to wait for: give --pods, --service, --job, --rollout, --resource, --tcp, --http, --config, HOST names, or set NAMESPACE_LABEL_DICT".into(),
                example: PODS_EXAMPLE,
            });
        }
        Ok(Config {
            dependencies,
            timeout: (!timeout.is_zero()).then_some(timeout),
            retry_interval,
            heartbeat: (!heartbeat.is_zero()).then_some(heartbeat),
            emit_events,
            log_format,
            termination_log: input.termination_log,
            duplicates,
        })
    }
}

const HEARTBEAT_EXAMPLE: &str = "--heartbeat 30s, or 0 to turn it off";

/// `--log-format` / `DEPWAIT_LOG_FORMAT`: `text` or `json`, in any case. Read on its own by
/// `main`, which sets up logging before the rest is validated.
pub fn log_format(value: &Sourced) -> Result<LogFormat, ConfigError> {
    LogFormat::from_text(&value.text).ok_or_else(|| ConfigError {
        name: value.name.clone(),
        problem: format!("`{}` is not a log format; use text or json", value.text),
        example: "--log-format json, or DEPWAIT_LOG_FORMAT=json",
    })
}

/// The usual spellings of a switch, in any case: true/false, 1/0, yes/no, on/off; empty (a
/// variable set to `""`) is off.
fn parse_bool(value: &Sourced, example: &'static str) -> Result<bool, ConfigError> {
    match value.text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(ConfigError {
            name: value.name.clone(),
            problem: format!(
                "`{}` is not a boolean; use true or false (also 1/0, yes/no, on/off)",
                value.text
            ),
            example,
        }),
    }
}

/// Units humantime accepts that surprise in a timeout: `M` is months (`5M` is 5 months, not 5
/// minutes), and months and years are humantime's averages (30.44 and 365.25 days).
const SURPRISING_UNITS: &[&str] = &["M", "month", "months", "y", "yr", "yrs", "year", "years"];

/// Bare seconds (`300`, `2.5`) as the seed's variables take them, or humantime (`90s`, `5m`).
fn parse_duration(value: &Sourced, example: &'static str) -> Result<Duration, ConfigError> {
    let err = |problem: String| ConfigError {
        name: value.name.clone(),
        problem,
        example,
    };
    let text = value.text.trim();
    if text.is_empty() {
        return Err(err("empty; give a duration".into()));
    }
    if text.starts_with('-') {
        return Err(err(format!(
            "`{text}` is negative; a duration must be 0 or more"
        )));
    }
    let parsed = if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        text.parse::<f64>()
            .ok()
            .filter(|s| s.is_finite())
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .ok_or_else(|| err(format!("`{text}` is not a number of seconds")))?
    } else {
        // Each run of letters is a unit (`1h30m`: `h`, `m`).
        if let Some(unit) = text
            .split(|c: char| !c.is_alphabetic())
            .find(|u| SURPRISING_UNITS.contains(u) || u.chars().any(char::is_uppercase))
        {
            let hint = if unit == "M" {
                "`M` would be months; write `m` for minutes"
            } else if unit.chars().any(char::is_uppercase) {
                "units are lowercase"
            } else {
                "months and years are not accepted; use days (`30d`) or weeks"
            };
            return Err(err(format!(
                "`{text}`: unit `{unit}` refused: {hint} (units: ms, s, m, h, d, w)"
            )));
        }
        humantime::parse_duration(text).map_err(|e| {
            err(format!(
                "`{text}` is not a duration ({e}); use seconds or units like 90s, 5m, 1h30m"
            ))
        })?
    };
    if parsed > MAX_DURATION {
        return Err(err(format!(
            "`{text}` is longer than 100 years; use 0 to wait forever"
        )));
    }
    Ok(parsed)
}

fn parse_namespace(ns: &str, name: &str, example: &'static str) -> Result<String, ConfigError> {
    if is_dns1123_label(ns) {
        Ok(ns.to_string())
    } else {
        Err(ConfigError {
            name: name.to_string(),
            problem: format!(
                "namespace `{ns}` is not a valid name (1-63 lowercase letters, digits or `-`, starting and ending with a letter or digit)"
            ),
            example,
        })
    }
}

/// A `:MIN` suffix that is not a count of at least 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadMin {
    /// Not digits (or nothing after the `:`).
    #[error("MIN after `:` must be a whole number, found `{0}`")]
    NotWhole(String),
    /// Digits beyond what a count can be.
    #[error("MIN `{0}` is too large (at most {max})", max = u32::MAX)]
    TooLarge(String),
    /// `:0`: leave the suffix out instead.
    #[error("MIN must be at least 1 (leave out `:MIN` for the default)")]
    Zero,
}

/// The one parser of every `:MIN` suffix (`--pods`, `--service`), so one bad MIN gets one
/// message whichever flag carries it.
pub fn parse_min(text: &str) -> Result<u32, BadMin> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadMin::NotWhole(text.into()));
    }
    match text.parse::<u32>() {
        Ok(0) => Err(BadMin::Zero),
        Ok(min) => Ok(min),
        Err(_) => Err(BadMin::TooLarge(text.into())),
    }
}

/// `NAMESPACE:SELECTOR[:MIN]`. Label keys and values cannot contain `:`, so the first `:` ends
/// the namespace and a trailing `:digits` is MIN.
fn parse_pods_flag(spec: &str, index: usize) -> Result<Dependency, ConfigError> {
    let name = format!("--pods #{index} `{spec}`");
    let err = |problem: String| ConfigError {
        name: name.clone(),
        problem,
        example: PODS_EXAMPLE,
    };
    let Some((ns, rest)) = spec.split_once(':') else {
        return Err(err(
            "expected NAMESPACE:SELECTOR[:MIN], found no `:` after the namespace".into(),
        ));
    };
    let namespace = parse_namespace(ns.trim(), &name, PODS_EXAMPLE)?;
    let (selector_text, min) = match rest.rsplit_once(':') {
        Some((sel, min)) => {
            let min = parse_min(min).map_err(|e| err(e.to_string()))?;
            (sel, Some(min))
        }
        None => (rest, None),
    };
    if selector_text.contains(':') {
        return Err(err(
            "too many `:`; expected NAMESPACE:SELECTOR[:MIN] (label keys and values cannot contain `:`)"
                .into(),
        ));
    }
    let selector =
        LabelSelector::parse(selector_text).map_err(|e| err(format!("bad selector: {e}")))?;
    Ok(Dependency {
        target: Target::Pods {
            namespace,
            selector,
            min,
        },
        origin: format!("--pods #{index}"),
    })
}

/// `NAMESPACE/NAME[:MIN]`.
fn parse_service_flag(spec: &str, index: usize) -> Result<Dependency, ConfigError> {
    let name = format!("--service #{index} `{spec}`");
    let err = |problem: String| ConfigError {
        name: name.clone(),
        problem,
        example: SERVICE_EXAMPLE,
    };
    let (reference, min) = match spec.split_once(':') {
        Some((reference, min)) => {
            let parsed = parse_min(min).map_err(|e| err(e.to_string()))?;
            (reference, parsed)
        }
        None => (spec, 1),
    };
    let Some((ns, service)) = reference.split_once('/') else {
        return Err(err("expected NAMESPACE/NAME[:MIN], found no `/`".into()));
    };
    let namespace = parse_namespace(ns.trim(), &name, SERVICE_EXAMPLE)?;
    let service = service.trim();
    if !is_dns1123_label(service) || !service.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(err(format!(
            "`{service}` is not a valid Service name (1-63 lowercase letters, digits or `-`, starting with a letter)"
        )));
    }
    Ok(Dependency {
        target: Target::Service(ServiceTarget {
            namespace,
            name: service.into(),
            min,
            hostname: None,
            written: None,
            absolute_fallback: None,
        }),
        origin: format!("--service #{index}"),
    })
}

/// A positional HOST: a Service to watch when it has cluster form, else a DNS name.
fn parse_host(host: &str, index: usize, cluster_domain: &str) -> Result<Dependency, ConfigError> {
    let origin = format!("HOST #{index}");
    names::validate(host).map_err(|e| ConfigError {
        name: format!("{origin} `{host}`"),
        problem: e.0,
        example: HOST_EXAMPLE,
    })?;
    if names::validate(cluster_domain).is_err() {
        return Err(ConfigError {
            name: "--cluster-domain".into(),
            problem: format!("`{cluster_domain}` is not a DNS domain"),
            example: "--cluster-domain cluster.local",
        });
    }
    match names::classify(host, cluster_domain) {
        HostName::Service {
            namespace,
            name,
            hostname,
            ambiguous,
        } => Ok(Dependency {
            target: Target::Service(ServiceTarget {
                namespace,
                name,
                min: 1,
                hostname,
                written: Some(host.to_string()),
                absolute_fallback: ambiguous.then(|| format!("{}.", host.to_ascii_lowercase())),
            }),
            origin,
        }),
        HostName::External => parse_dns(host, origin),
    }
}

/// A name resolved through DNS.
fn parse_dns(host: &str, origin: String) -> Result<Dependency, ConfigError> {
    names::validate(host).map_err(|e| ConfigError {
        name: format!("{origin} `{host}`"),
        problem: e.0,
        example: HOST_EXAMPLE,
    })?;
    Ok(Dependency {
        target: Target::Probe(Check::dns(host)),
        origin,
    })
}

/// The seed's shape: an object of namespace → array of label objects of string → string.
fn parse_namespace_label_dict(value: &Sourced) -> Result<Vec<Dependency>, ConfigError> {
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
        let namespace = parse_namespace(ns, name, DICT_EXAMPLE)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sourced(name: &str, text: &str) -> Sourced {
        Sourced {
            name: name.into(),
            text: text.into(),
        }
    }

    fn input() -> Input {
        Input {
            command: None,
            pods: vec![],
            services: vec![],
            hosts: vec![],
            dns: vec![],
            jobs: vec![],
            rollouts: vec![],
            resources: vec![],
            tcp: vec![],
            http: vec![],
            config: None,
            cluster_domain: sourced("--cluster-domain", "cluster.local"),
            namespace_label_dict: None,
            timeout: sourced("TIMEOUT", "300"),
            retry_interval: None,
            heartbeat: sourced("--heartbeat", "30s"),
            emit_events: None,
            log_format: sourced("--log-format", "text"),
            termination_log: "/dev/termination-log".into(),
        }
    }

    fn with_dict(json: &str) -> Result<Config, ConfigError> {
        Config::from_input(Input {
            namespace_label_dict: Some(sourced("NAMESPACE_LABEL_DICT", json)),
            ..input()
        })
    }

    fn with_pods(pods: &[&str]) -> Result<Config, ConfigError> {
        Config::from_input(Input {
            pods: pods.iter().map(|s| s.to_string()).collect(),
            ..input()
        })
    }

    #[test]
    fn the_seed_example_gives_one_dependency_per_label_object() {
        let c = with_dict(
            r#"{"namespace-1": [{"app": "MyApp", "environment": "dev"}], "namespace-2": [{"app": "MyApp"}, {"app": "db"}]}"#,
        )
        .unwrap();
        let deps: Vec<String> = c.dependencies.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            deps,
            [
                "namespace-1 app=MyApp,environment=dev",
                "namespace-2 app=MyApp",
                "namespace-2 app=db"
            ]
        );
        assert_eq!(
            c.dependencies[2].origin,
            r#"NAMESPACE_LABEL_DICT["namespace-2"][1]"#
        );
        assert_eq!(c.timeout, Some(Duration::from_secs(300)));
    }

    /// The same dependency twice, in any of its spellings or sources, is waited for once; a
    /// different MIN is a different dependency.
    #[test]
    fn duplicates_are_dropped_and_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("deps.yaml");
        std::fs::write(&file, "pods: ['db:app=zk']\nhttp: ['http://h/?a=1']\n").unwrap();
        let c = Config::from_input(Input {
            pods: vec![
                "db:app=zk".into(),
                "db:app==zk".into(),
                "db:app=zk:1".into(),
            ],
            namespace_label_dict: Some(sourced(
                "NAMESPACE_LABEL_DICT",
                r#"{"db": [{"app": "zk"}]}"#,
            )),
            http: vec!["http://h/?a=2".into()],
            config: Some(Sourced {
                text: file,
                name: "--config".into(),
            }),
            ..input()
        })
        .unwrap();
        let shown: Vec<String> = c.dependencies.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            shown,
            [
                "db app=zk",
                "db app=zk (min 1)",
                "http http://h/?a=***",
                "http http://h/?a=***"
            ],
            "query values differ: two dependencies, shown alike"
        );
        let dropped: Vec<(&str, &str)> = c
            .duplicates
            .iter()
            .map(|d| (d.origin.as_str(), d.same_as.as_str()))
            .collect();
        assert_eq!(
            dropped,
            [
                ("--pods #2", "--pods #1"),
                (r#"NAMESPACE_LABEL_DICT["db"][0]"#, "--pods #1"),
                ("--config pods[0]", "--pods #1"),
            ]
        );
        assert_eq!(c.duplicates[0].dependency, "db app=zk");
    }

    #[test]
    fn pods_flags_take_namespace_selector_and_min() {
        let c = with_pods(&[
            "namespace-1:app=MyApp,environment=dev",
            "db:app=zk:2",
            "web:tier in (a,b),!canary",
        ])
        .unwrap();
        let d: Vec<String> = c.dependencies.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            d,
            [
                "namespace-1 app=MyApp,environment=dev",
                "db app=zk (min 2)",
                "web tier in (a,b),!canary"
            ]
        );
        assert_eq!(c.dependencies[1].origin, "--pods #2");
    }

    #[test]
    fn services_hosts_and_dns_names_become_dependencies() {
        let c = Config::from_input(Input {
            services: vec!["db/mysql-read".into(), "db/zookeeper-headless:3".into()],
            hosts: vec![
                "mysql-0.mysql.db".into(),
                "mysql-read.db.svc.cluster.local".into(),
                "db.internal.corp.example".into(),
            ],
            dns: vec!["mysql.db".into()],
            ..input()
        })
        .unwrap();
        let d = &c.dependencies;
        let Target::Service(s) = &d[1].target else {
            panic!("{:?}", d[1])
        };
        assert_eq!(
            (s.namespace.as_str(), s.name.as_str(), s.min),
            ("db", "zookeeper-headless", 3)
        );
        let Target::Service(s) = &d[2].target else {
            panic!("{:?}", d[2])
        };
        assert_eq!(s.hostname.as_deref(), Some("mysql-0"));
        assert_eq!(s.absolute_fallback.as_deref(), Some("mysql-0.mysql.db."));
        let Target::Service(s) = &d[3].target else {
            panic!("{:?}", d[3])
        };
        assert_eq!(s.absolute_fallback, None, "`.svc` names are certain");
        assert_eq!(
            d[4].target,
            Target::Probe(Check::dns("db.internal.corp.example"))
        );
        assert_eq!(d[5].target, Target::Probe(Check::dns("mysql.db")));
        assert_eq!(
            d.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            [
                "service db/mysql-read",
                "service db/zookeeper-headless (min 3)",
                "mysql-0.mysql.db",
                "mysql-read.db.svc.cluster.local",
                "db.internal.corp.example",
                "mysql.db"
            ]
        );
    }

    #[test]
    fn bad_services_and_hosts_are_named() {
        let service = |spec: &str| {
            Config::from_input(Input {
                services: vec![spec.into()],
                ..input()
            })
            .unwrap_err()
        };
        assert!(service("db").problem.contains("no `/`"));
        assert!(service("db/x:0").problem.contains("at least 1"));
        assert!(service("db/x:two").problem.contains("whole number"));
        // One parser: the same bad MIN, the same words, whichever flag carries it.
        for (bad, says) in [
            ("99999999999", "too large"),
            ("x", "whole number"),
            ("", "whole number"),
            ("0", "at least 1"),
            ("-1", "whole number"),
        ] {
            let pods = with_pods(&[&format!("db:app=zk:{bad}")])
                .unwrap_err()
                .problem;
            let svc = service(&format!("db/x:{bad}")).problem;
            assert_eq!(pods, svc, "{bad:?}");
            assert!(pods.contains(says), "{bad:?}: {pods}");
        }
        assert!(
            service("db/1x")
                .problem
                .contains("not a valid Service name")
        );
        assert!(service("DB/x").problem.contains("namespace `DB`"));
        let host = Config::from_input(Input {
            hosts: vec!["ok.db".into(), "bad_name.db".into()],
            ..input()
        })
        .unwrap_err();
        assert_eq!(host.name, "HOST #2 `bad_name.db`");
        assert!(host.problem.contains("`bad_name`"), "{}", host.problem);
    }

    #[test]
    fn flags_and_dict_combine() {
        let c = Config::from_input(Input {
            pods: vec!["db:app=zk:2".into()],
            namespace_label_dict: Some(sourced("NAMESPACE_LABEL_DICT", r#"{"a": [{"x": "y"}]}"#)),
            ..input()
        })
        .unwrap();
        assert_eq!(c.dependencies.len(), 2);
    }

    #[test]
    fn durations_accept_seconds_and_humantime() {
        for (text, want) in [
            ("300", Some(300_000)),
            ("90s", Some(90_000)),
            ("5m", Some(300_000)),
            ("1h30m", Some(5_400_000)),
            ("2.5", Some(2_500)),
            (" 10 ", Some(10_000)),
            ("0", None),
            ("0s", None),
        ] {
            let c = Config::from_input(Input {
                timeout: sourced("TIMEOUT", text),
                pods: vec!["a:b=c".into()],
                ..input()
            })
            .unwrap();
            assert_eq!(
                c.timeout.map(|d| d.as_millis() as u64),
                want,
                "TIMEOUT={text}"
            );
        }
    }

    #[test]
    fn bad_values_name_the_variable_and_show_an_example() {
        let cases: Vec<(Result<Config, ConfigError>, &str, &str)> = vec![
            (
                with_dict("{not json"),
                "NAMESPACE_LABEL_DICT",
                "not valid JSON",
            ),
            (
                with_dict("{'a': []}"),
                "NAMESPACE_LABEL_DICT",
                "double quotes",
            ),
            (with_dict("[]"), "NAMESPACE_LABEL_DICT", "found a list"),
            (with_dict("{}"), "NAMESPACE_LABEL_DICT", "empty object"),
            (
                with_dict(r#"{"a": {"x": "y"}}"#),
                "NAMESPACE_LABEL_DICT",
                "must be a list",
            ),
            (
                with_dict(r#"{"a": []}"#),
                "NAMESPACE_LABEL_DICT",
                "empty list",
            ),
            (
                with_dict(r#"{"a": [{}]}"#),
                "NAMESPACE_LABEL_DICT",
                "empty object",
            ),
            (
                with_dict(r#"{"a": ["x"]}"#),
                "NAMESPACE_LABEL_DICT",
                "must be an object",
            ),
            (
                with_dict(r#"{"a": [{"x": 1}]}"#),
                "NAMESPACE_LABEL_DICT",
                "must be a string",
            ),
            (
                with_dict(r#"{"a": [{"x": "bad value"}]}"#),
                "NAMESPACE_LABEL_DICT",
                "label value",
            ),
            (
                with_dict(r#"{"Bad_NS": [{"x": "y"}]}"#),
                "NAMESPACE_LABEL_DICT",
                "namespace `Bad_NS`",
            ),
            (with_pods(&["app=web"]), "--pods #1", "no `:`"),
            (with_pods(&["db:app=zk:0"]), "--pods #1", "at least 1"),
            (with_pods(&["db:app=zk:x"]), "--pods #1", "whole number"),
            (with_pods(&["db:app=zk:"]), "--pods #1", "whole number"),
            (with_pods(&["db:a:b:3"]), "--pods #1", "too many `:`"),
            (
                with_pods(&["ok:a=b", "db:tier in (a"]),
                "--pods #2",
                "unclosed",
            ),
            (with_pods(&["DB:app=x"]), "--pods #1", "namespace `DB`"),
            (with_pods(&["db:"]), "--pods #1", "empty selector"),
            (
                with_pods(&["db:app=zk:99999999999"]),
                "--pods #1",
                "too large",
            ),
            (
                Config::from_input(input()),
                "dependencies",
                "nothing to wait for",
            ),
        ];
        for (result, name, needle) in cases {
            let e = result.unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with(name), "{msg:?} should name {name}");
            assert!(msg.contains(needle), "{msg:?} should say {needle}");
            assert!(msg.contains("example: "), "{msg:?} should show an example");
        }
    }

    #[test]
    fn surprising_units_and_short_heartbeats_are_refused() {
        let timeout = |text: &str| {
            Config::from_input(Input {
                timeout: sourced("--timeout", text),
                pods: vec!["a:b=c".into()],
                ..input()
            })
        };
        for (text, says) in [
            ("5M", "would be months"),
            ("1h5M", "would be months"),
            ("2months", "months and years"),
            ("1y", "months and years"),
            ("3years", "months and years"),
            ("5S", "units are lowercase"),
        ] {
            let e = timeout(text).unwrap_err();
            assert!(e.problem.contains(says), "{text}: {e}");
        }
        for text in ["5m", "1h30m", "2w", "90s", "250ms", "1d"] {
            assert!(timeout(text).is_ok(), "{text}");
        }
        let heartbeat = |text: &str| {
            Config::from_input(Input {
                heartbeat: sourced("DEPWAIT_HEARTBEAT", text),
                pods: vec!["a:b=c".into()],
                ..input()
            })
        };
        let e = heartbeat("999ms").unwrap_err();
        assert_eq!(e.name, "DEPWAIT_HEARTBEAT");
        assert!(e.problem.contains("shorter than 1s"), "{e}");
        assert_eq!(heartbeat("1s").unwrap().heartbeat, Some(MIN_HEARTBEAT));
        assert_eq!(heartbeat("0").unwrap().heartbeat, None);
    }

    #[test]
    fn switches_and_log_formats_take_the_usual_spellings() {
        let emit = |text: &str| {
            Config::from_input(Input {
                emit_events: Some(sourced("DEPWAIT_EMIT_EVENTS", text)),
                pods: vec!["a:b=c".into()],
                ..input()
            })
        };
        for (text, want) in [
            ("1", true),
            ("Yes", true),
            ("ON", true),
            ("off", false),
            ("0", false),
        ] {
            assert_eq!(emit(text).unwrap().emit_events, want, "{text}");
        }
        assert_eq!(emit("2").unwrap_err().name, "DEPWAIT_EMIT_EVENTS");
        assert_eq!(
            log_format(&sourced("DEPWAIT_LOG_FORMAT", "JSON")).unwrap(),
            LogFormat::Json
        );
        let e = log_format(&sourced("DEPWAIT_LOG_FORMAT", "yaml")).unwrap_err();
        assert_eq!(e.name, "DEPWAIT_LOG_FORMAT");
    }

    #[test]
    fn bad_durations_are_refused() {
        for text in [
            "-5",
            "",
            "abc",
            "5 parsecs",
            "1e3",
            "1.2.3",
            "9999999999999999999999",
        ] {
            for name in ["TIMEOUT", "--retry-interval"] {
                let mut i = input();
                i.pods = vec!["a:b=c".into()];
                if name == "TIMEOUT" {
                    i.timeout = sourced(name, text);
                } else {
                    i.retry_interval = Some(sourced(name, text));
                }
                let e = Config::from_input(i).unwrap_err();
                assert!(e.to_string().starts_with(name), "{text}: {e}");
            }
        }
        let e = Config::from_input(Input {
            timeout: sourced("TIMEOUT", "-1"),
            pods: vec!["a:b=c".into()],
            ..input()
        })
        .unwrap_err();
        assert!(e.problem.contains("negative"));
    }

    #[test]
    fn oversized_dict_is_refused_before_parsing() {
        let huge = format!(r#"{{"a": [{{"x": "{}"}}]}}"#, "y".repeat(MAX_DICT_BYTES));
        let e = with_dict(&huge).unwrap_err();
        assert!(e.problem.contains("KiB limit"), "{e}");
    }

    #[test]
    fn retry_interval_is_validated_but_optional() {
        let c = Config::from_input(Input {
            retry_interval: Some(sourced("RETRY_INTERVAL", "15")),
            pods: vec!["a:b=c".into()],
            ..input()
        })
        .unwrap();
        assert_eq!(c.retry_interval, Some(Duration::from_secs(15)));
    }
}
