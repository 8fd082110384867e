//! The one table of dependency kinds: for each, its flag, its `--config` field, its help, an
//! example and its parser. The command line ([`crate::cli`]), validation ([`super::Config`])
//! and `--config` files (`config/file.rs`) all iterate [`ENTRIES`], so a kind added here is a
//! flag, a file field and a documented grammar at once, and none of them can be forgotten.

use std::sync::LazyLock;

use super::error::ConfigError;
use super::grammar::{Context, Invalid};
use super::{objects, pods, probes, services};
use crate::dependency::{Dependency, Target};

/// One kind of dependency as the user writes it.
#[derive(Debug)]
pub struct Entry {
    /// The field of a `--config` file (`pods`), also the kind's name in [`super::Input`].
    pub field: &'static str,
    /// The flag without its dashes (`pods`, `service`); `None` for the positional HOST names,
    /// which the command line declares itself (a subcommand takes them too).
    pub flag: Option<&'static str>,
    /// The flag's value in `--help` (`NS:SELECTOR[:MIN]`).
    pub value_name: &'static str,
    /// One line for `-h`.
    pub help: &'static str,
    /// What `--help` adds, if anything.
    pub more_help: Option<&'static str>,
    /// A correct use, shown with every mistake in one.
    pub example: &'static str,
    /// This kind's line of the `--config` example, if it has one.
    pub in_file: Option<&'static str>,
    /// The grammar: one text to what it waits for.
    pub parse: fn(&str, &Context) -> Result<Target, Invalid>,
}

/// Every kind, in the order dependencies are listed (flags, then `--config` entries).
pub static ENTRIES: &[Entry] = &[
    Entry {
        field: "pods",
        flag: Some("pods"),
        value_name: "NS:SELECTOR[:MIN]",
        help: "Pods to wait for, as NAMESPACE:SELECTOR[:MIN]. Repeat for more.",
        more_help: Some(
            "SELECTOR is kubectl's label-selector grammar: `app=web`, `app!=web`, `tier in \
             (a,b)`, `tier notin (a)`, `canary`, `!canary`, joined by commas. Without MIN every \
             matching pod must be Ready (and at least one must exist); with MIN, at least MIN \
             must be Ready, e.g. `db:app=zk:2` for a ZooKeeper quorum.",
        ),
        example: pods::EXAMPLE,
        in_file: Some("['db:app=zk:2']"),
        parse: pods::parse,
    },
    Entry {
        field: "services",
        flag: Some("service"),
        value_name: "NS/NAME[:MIN]",
        help: "A Service with at least MIN (default 1) ready endpoints, as NAMESPACE/NAME[:MIN].",
        more_help: Some(
            "Read from the Service's EndpointSlices by watch. An ExternalName Service is ready \
             when its external name resolves.",
        ),
        example: services::SERVICE_EXAMPLE,
        in_file: Some("[db/mysql-read]"),
        parse: services::parse_service,
    },
    Entry {
        field: "hosts",
        flag: None,
        value_name: "HOST",
        help: "service-precheck's arguments: DNS names to wait for (`mysql-0.mysql.db`, \
               `mysql-read.db`, `api.example.com.`).",
        more_help: Some(
            "A name of cluster form becomes a watch of that Service's ready endpoints (for \
             `host.svc.ns`, the endpoint whose hostname is `host`); any other name is resolved \
             through DNS with a short backoff. A trailing dot makes a name absolute: DNS only.",
        ),
        example: services::HOST_EXAMPLE,
        in_file: Some("[mysql-0.mysql.db]"),
        parse: services::parse_host,
    },
    Entry {
        field: "dns",
        flag: Some("dns"),
        value_name: "HOST",
        help: "Resolve this name through DNS until it resolves, even if it looks like a Service \
               name.",
        more_help: None,
        example: services::DNS_EXAMPLE,
        in_file: None,
        parse: services::parse_dns,
    },
    Entry {
        field: "jobs",
        flag: Some("job"),
        value_name: "NS/NAME",
        help: "A Job that must complete, as NAMESPACE/NAME. A Job that fails (`Failed=True`) \
               ends the wait at once with exit code 4.",
        more_help: None,
        example: objects::JOB_EXAMPLE,
        in_file: Some("[db/migrate]"),
        parse: objects::parse_job,
    },
    Entry {
        field: "rollouts",
        flag: Some("rollout"),
        value_name: "NS/KIND/NAME",
        help: "A rollout that must finish, as NAMESPACE/KIND/NAME; KIND is `deployment`, \
               `statefulset` or `daemonset` (or kubectl's short and plural names). Judged as \
               `kubectl rollout status`.",
        more_help: None,
        example: objects::ROLLOUT_EXAMPLE,
        in_file: Some("[app/deployment/api]"),
        parse: objects::parse_rollout,
    },
    Entry {
        field: "resources",
        flag: Some("resource"),
        value_name: "NS/TYPE/NAME[:FOR]",
        help: "Any object, including custom resources: NAMESPACE/TYPE/NAME[:FOR], or \
               TYPE/NAME[:FOR] for cluster-scoped ones.",
        more_help: Some(
            "TYPE as kubectl takes it: `kind`, `plural`, `plural.group` or \
             `plural.version.group` (`certificates.cert-manager.io`). FOR is kubectl wait's \
             --for: `condition=NAME[=VALUE]` (default `condition=Ready`), \
             `jsonpath=EXPR[=VALUE]`, `create` or `delete`. A type the server does not serve \
             yet (CRD not installed) means: keep waiting.",
        ),
        example: objects::RESOURCE_EXAMPLE,
        in_file: Some("['cert-manager/certificates/web:condition=Ready']"),
        parse: objects::parse_resource,
    },
    Entry {
        field: "tcp",
        flag: Some("tcp"),
        value_name: "HOST:PORT",
        help: "A TCP port that must accept connections, as HOST:PORT (`db.internal:5432`, \
               `[fd00::1]:5432`). Probed with a short capped backoff: a port cannot be watched.",
        more_help: None,
        example: probes::TCP_EXAMPLE,
        in_file: Some("['db.internal:5432']"),
        parse: probes::parse_tcp,
    },
    Entry {
        field: "http",
        flag: Some("http"),
        value_name: "URL[#STATUSES]",
        help: "An HTTP(S) URL whose GET must answer 2xx; `URL#200,3xx` accepts those statuses \
               instead (a fragment is never sent). Probed with a short capped backoff.",
        more_help: Some(
            "HTTPS trusts Mozilla's roots (built in), the cluster CA of the service account, \
             and SSL_CERT_FILE.",
        ),
        example: probes::HTTP_EXAMPLE,
        in_file: Some("['http://api.app.svc:8080/healthz']"),
        parse: probes::parse_http,
    },
];

impl Entry {
    /// How messages name a value of this kind: its flag, or `HOST`.
    pub fn label(&self) -> String {
        match self.flag {
            Some(flag) => format!("--{flag}"),
            None => "HOST".into(),
        }
    }

    /// The `index`-th (from 1) text given on the command line, as a dependency, or an error
    /// naming the flag, the position and the text (redacted: a URL's password never shows).
    pub(super) fn read(
        &self,
        text: &str,
        index: usize,
        context: &Context,
    ) -> Result<Dependency, ConfigError> {
        let origin = format!("{} #{index}", self.label());
        match (self.parse)(text, context) {
            Ok(target) => Ok(Dependency { target, origin }),
            Err(Invalid(problem)) => Err(ConfigError {
                name: format!("{origin} `{}`", crate::text::redact(text)),
                problem,
                example: self.example,
            }),
        }
    }
}

/// The kind whose `--config` field is `field`.
pub fn by_field(field: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.field == field)
}

/// Every way to name a dependency, for the message when none was given.
pub(super) fn all_ways() -> &'static str {
    static WAYS: LazyLock<String> = LazyLock::new(|| {
        let flags: Vec<String> = ENTRIES
            .iter()
            .filter_map(|e| e.flag.map(|f| format!("--{f}")))
            .collect();
        format!(
            "{}, --config, HOST names, or set NAMESPACE_LABEL_DICT",
            flags.join(", ")
        )
    });
    &WAYS
}

/// The `--config` fields, as `--help` and an unknown-field error list them (`` `pods`,
/// `services`, ... ``).
pub fn file_fields() -> &'static str {
    static FIELDS: LazyLock<String> = LazyLock::new(|| {
        let fields: Vec<String> = ENTRIES.iter().map(|e| format!("`{}`", e.field)).collect();
        fields.join(", ")
    });
    &FIELDS
}

/// The `--config` example: one line per kind that has one.
pub(super) fn file_example() -> &'static str {
    static EXAMPLE: LazyLock<String> = LazyLock::new(|| {
        let mut text = String::from("--config deps.yaml, a file like:");
        for entry in ENTRIES {
            if let Some(value) = entry.in_file {
                text.push_str(&format!("\n    {}: {value}", entry.field));
            }
        }
        text
    });
    &EXAMPLE
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields and flags name one kind each: a `--config` field or a flag spelled twice would
    /// read as the first kind only.
    #[test]
    fn fields_and_flags_are_unique() {
        let mut fields: Vec<&str> = ENTRIES.iter().map(|e| e.field).collect();
        let mut flags: Vec<&str> = ENTRIES.iter().filter_map(|e| e.flag).collect();
        let (n, m) = (fields.len(), flags.len());
        fields.sort_unstable();
        fields.dedup();
        flags.sort_unstable();
        flags.dedup();
        assert_eq!((fields.len(), flags.len()), (n, m));
    }

    /// Each kind's example is accepted by its own parser: an example that fails its grammar
    /// would teach the mistake.
    #[test]
    fn examples_parse() {
        let context = Context {
            cluster_domain: "cluster.local",
        };
        for entry in ENTRIES {
            let prefix = entry.flag.map(|f| format!("--{f} ")).unwrap_or_default();
            let values: Vec<&str> = if entry.flag.is_none() {
                entry.example.split_whitespace().skip(1).collect()
            } else {
                entry
                    .example
                    .split(prefix.as_str())
                    .skip(1)
                    .map(|v| v.trim().trim_matches('\''))
                    .collect()
            };
            assert!(!values.is_empty(), "{}: {}", entry.field, entry.example);
            for value in values {
                assert!(
                    (entry.parse)(value, &context).is_ok(),
                    "{}: example `{value}` does not parse",
                    entry.field
                );
            }
            if let Some(line) = entry.in_file {
                let value = line.trim_matches(['[', ']']).trim_matches('\'');
                assert!((entry.parse)(value, &context).is_ok(), "{line}");
            }
        }
    }
}
