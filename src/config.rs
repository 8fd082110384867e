//! From what the user typed (flags, the seed's environment, a `--config` file) to validated
//! dependencies.
//!
//! All validation lives here and runs before any request: a bad value is exit 2 with a message
//! that names the flag or variable, says what is wrong and shows a correct example. The kinds
//! of dependency are one table, [`entries::ENTRIES`]; each kind's grammar is in the module
//! named for what it waits for.

use std::path::PathBuf;
use std::time::Duration;

mod duplicates;
pub mod entries;
mod error;
mod file;
mod grammar;
mod input;
mod objects;
mod pods;
mod probes;
mod services;
mod settings;

pub use duplicates::Duplicate;
pub use entries::ENTRIES;
pub use error::ConfigError;
pub use file::Unread as ConfigFileUnread;
pub use grammar::{Context, Invalid, Sourced};
pub use input::{
    DEFAULT_CLUSTER_DOMAIN, DEFAULT_HEARTBEAT, DEFAULT_LOG_FORMAT, DEFAULT_TERMINATION_LOG,
    DEFAULT_TIMEOUT, Entries, Input,
};
pub use pods::MAX_DICT_BYTES;
pub use settings::{LogFormat, MIN_HEARTBEAT, log_format};

use crate::dependency::Dependency;

/// A validated run.
#[derive(Debug, Clone)]
pub struct Config {
    /// What to wait for, in the order given: the flags (kind by kind, as [`entries::ENTRIES`]
    /// lists them), then the seed's JSON, then the `--config` file.
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

impl Config {
    /// Validate everything; the first mistake found is reported.
    pub fn from_input(input: Input) -> Result<Self, ConfigError> {
        Self::from_input_reading(input, &file::from_disk)
    }

    /// [`Self::from_input`], with the `--config` file's text from `source` (`depwait graph`
    /// reads it from the ConfigMap the container mounts).
    pub fn from_input_reading(
        input: Input,
        source: &dyn Fn(&std::path::Path) -> Result<String, ConfigFileUnread>,
    ) -> Result<Self, ConfigError> {
        let timeout = settings::timeout(&input.timeout)?;
        let retry_interval = settings::retry_interval(input.retry_interval.as_ref())?;
        let heartbeat = settings::heartbeat(&input.heartbeat)?;
        let emit_events = settings::emit_events(input.emit_events.as_ref())?;
        let log_format = log_format(&input.log_format)?;
        let context = grammar::Context {
            cluster_domain: settings::cluster_domain(&input.cluster_domain)?,
        };

        let mut dependencies = Vec::new();
        for (entry, texts) in input.entries.iter() {
            for (i, text) in texts.iter().enumerate() {
                dependencies.push(entry.read(text, i + 1, &context)?);
            }
        }
        if let Some(dict) = &input.namespace_label_dict {
            dependencies.extend(pods::parse_namespace_label_dict(dict)?);
        }
        if let Some(path) = &input.config {
            dependencies.extend(file::read(&path.text, &path.name, &context, source)?);
        }
        let duplicates = duplicates::dedupe(&mut dependencies);
        if dependencies.is_empty() {
            return Err(ConfigError {
                name: "dependencies".into(),
                problem: format!("nothing to wait for: give {}", entries::all_ways()),
                example: pods::EXAMPLE,
            });
        }
        Ok(Config {
            dependencies,
            timeout,
            retry_interval,
            heartbeat,
            emit_events,
            log_format,
            termination_log: input.termination_log,
            duplicates,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dependency::Target;
    use crate::probe::Check;

    fn sourced(name: &str, text: &str) -> Sourced {
        Sourced {
            name: name.into(),
            text: text.into(),
        }
    }

    fn input() -> Input {
        Input::default()
    }

    fn with_dict(json: &str) -> Result<Config, ConfigError> {
        Config::from_input(Input {
            namespace_label_dict: Some(sourced("NAMESPACE_LABEL_DICT", json)),
            ..input()
        })
    }

    fn with_pods(pods: &[&str]) -> Result<Config, ConfigError> {
        Config::from_input(input().with("pods", pods.iter().copied()))
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
        let c = Config::from_input(
            Input {
                namespace_label_dict: Some(sourced(
                    "NAMESPACE_LABEL_DICT",
                    r#"{"db": [{"app": "zk"}]}"#,
                )),
                config: Some(Sourced {
                    text: file,
                    name: "--config".into(),
                }),
                ..input()
            }
            .with("pods", ["db:app=zk", "db:app==zk", "db:app=zk:1"])
            .with("http", ["http://h/?a=2"]),
        )
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
        let c = Config::from_input(
            input()
                .with("services", ["db/mysql-read", "db/zookeeper-headless:3"])
                .with(
                    "hosts",
                    [
                        "mysql-0.mysql.db",
                        "mysql-read.db.svc.cluster.local",
                        "db.internal.corp.example",
                    ],
                )
                .with("dns", ["mysql.db"]),
        )
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
        let service =
            |spec: &str| Config::from_input(input().with("services", [spec])).unwrap_err();
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
        let host = Config::from_input(input().with("hosts", ["ok.db", "bad_name.db"])).unwrap_err();
        assert_eq!(host.name, "HOST #2 `bad_name.db`");
        assert!(host.problem.contains("`bad_name`"), "{}", host.problem);
    }

    #[test]
    fn flags_and_dict_combine() {
        let c = Config::from_input(
            Input {
                namespace_label_dict: Some(sourced(
                    "NAMESPACE_LABEL_DICT",
                    r#"{"a": [{"x": "y"}]}"#,
                )),
                ..input()
            }
            .with("pods", ["db:app=zk:2"]),
        )
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
            let c = Config::from_input(
                Input {
                    timeout: sourced("TIMEOUT", text),
                    ..input()
                }
                .with("pods", ["a:b=c"]),
            )
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
            Config::from_input(
                Input {
                    timeout: sourced("--timeout", text),
                    ..input()
                }
                .with("pods", ["a:b=c"]),
            )
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
            Config::from_input(
                Input {
                    heartbeat: sourced("DEPWAIT_HEARTBEAT", text),
                    ..input()
                }
                .with("pods", ["a:b=c"]),
            )
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
            Config::from_input(
                Input {
                    emit_events: Some(sourced("DEPWAIT_EMIT_EVENTS", text)),
                    ..input()
                }
                .with("pods", ["a:b=c"]),
            )
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
                i.entries.extend("pods", ["a:b=c"]);
                if name == "TIMEOUT" {
                    i.timeout = sourced(name, text);
                } else {
                    i.retry_interval = Some(sourced(name, text));
                }
                let e = Config::from_input(i).unwrap_err();
                assert!(e.to_string().starts_with(name), "{text}: {e}");
            }
        }
        let e = Config::from_input(
            Input {
                timeout: sourced("TIMEOUT", "-1"),
                ..input()
            }
            .with("pods", ["a:b=c"]),
        )
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
        let c = Config::from_input(
            Input {
                retry_interval: Some(sourced("RETRY_INTERVAL", "15")),
                ..input()
            }
            .with("pods", ["a:b=c"]),
        )
        .unwrap();
        assert_eq!(c.retry_interval, Some(Duration::from_secs(15)));
    }
}
