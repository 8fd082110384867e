//! `--config FILE`: the same dependencies as the flags, as a YAML (or JSON) document, for lists
//! too long for a command line. Every entry uses its flag's grammar, so nothing new to learn,
//! and is validated while the file is read: a mistake is reported with its field, item, text
//! and line (``jobs: [1] `db/Bad`: ... at line 7 column 3``; the line is the list's).
//!
//! The path can name anything (`/dev/zero`, a FIFO with no writer, a hung mount): it is read
//! through [`crate::files`], at most [`MAX_FILE_BYTES`] and [`files::READ_TIME_LIMIT`], and its
//! bracket nesting is checked before the YAML parser sees it (libyaml takes quadratic time on
//! deep flow nesting: 100,000 `[` cost 54 s of CPU).

use std::marker::PhantomData;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer};

use super::{ConfigError, objects, parse_host, parse_pods_flag, parse_service_flag};
use crate::dependency::Dependency;
use crate::files;

/// Larger files are refused while reading (counted on the bytes read), like an oversized
/// `NAMESPACE_LABEL_DICT`.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Deepest `[`/`{` nesting accepted; a valid file needs 2 (`{pods: [...]}`) plus what an entry's
/// text holds (`jsonpath={.items[0]}`).
pub const MAX_NESTING: usize = 32;

pub(super) const EXAMPLE: &str = concat!(
    "--config deps.yaml, a file like:\n",
    "    pods: ['db:app=zk:2']\n",
    "    services: [db/mysql-read]\n",
    "    jobs: [db/migrate]\n",
    "    rollouts: [app/deployment/api]\n",
    "    resources: ['cert-manager/certificates/web:condition=Ready']\n",
    "    tcp: ['db.internal:5432']\n",
    "    http: ['http://api.app.svc:8080/healthz']\n",
    "    hosts: [mysql-0.mysql.db]"
);

/// What a file may list: the flags' names, plural, each a list of flag values.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    pods: Entries<Pods>,
    #[serde(default)]
    services: Entries<Services>,
    #[serde(default)]
    hosts: Entries<Hosts>,
    #[serde(default)]
    dns: Entries<Hosts>,
    #[serde(default)]
    jobs: Entries<Jobs>,
    #[serde(default)]
    rollouts: Entries<Rollouts>,
    #[serde(default)]
    resources: Entries<Resources>,
    #[serde(default)]
    tcp: Entries<Tcp>,
    #[serde(default)]
    http: Entries<Http>,
}

/// How one kind of entry is parsed: the flag's own parser.
trait Kind {
    fn parse(text: &str, origin: usize) -> Result<Dependency, ConfigError>;
}

macro_rules! kind {
    ($name:ident, $parse:expr) => {
        #[derive(Debug)]
        struct $name;
        impl Kind for $name {
            fn parse(text: &str, index: usize) -> Result<Dependency, ConfigError> {
                $parse(text, index)
            }
        }
    };
}

kind!(Pods, parse_pods_flag);
kind!(Services, parse_service_flag);
kind!(Hosts, |t: &str, i| parse_host(t, i, "cluster.local"));
kind!(Jobs, objects::parse_job);
kind!(Rollouts, objects::parse_rollout);
kind!(Resources, objects::parse_resource);
kind!(Tcp, objects::parse_tcp);
kind!(Http, objects::parse_http);

/// One field's entries: strings its flag would accept, each checked as it is read so that
/// the error carries the field, the item, its text, and (from serde_yaml) the line.
#[derive(Debug)]
struct Entries<K> {
    texts: Vec<String>,
    kind: PhantomData<K>,
}

impl<K> Default for Entries<K> {
    fn default() -> Self {
        Entries {
            texts: Vec::new(),
            kind: PhantomData,
        }
    }
}

impl<'de, K: Kind> Deserialize<'de> for Entries<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<K>(PhantomData<K>);
        impl<'de, K: Kind> de::Visitor<'de> for Visit<K> {
            type Value = Entries<K>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut texts = Vec::new();
                // serde_yaml's own errors already name the item and its line.
                while let Some(text) = seq.next_element::<String>()? {
                    if let Err(e) = K::parse(&text, 1) {
                        return Err(de::Error::custom(format!(
                            "[{}] `{}`: {}",
                            texts.len(),
                            crate::text::redact(&text),
                            e.problem
                        )));
                    }
                    texts.push(text);
                }
                Ok(Entries {
                    texts,
                    kind: PhantomData,
                })
            }
        }
        d.deserialize_seq(Visit(PhantomData))
    }
}

/// Read `path` into dependencies, in the order of the fields above; `cluster_domain` applies
/// to `hosts` as it does to positional names. `name` is `--config` or `DEPWAIT_CONFIG`,
/// whichever gave the path.
pub(super) fn read(
    path: &Path,
    name: &str,
    cluster_domain: &str,
) -> Result<Vec<Dependency>, ConfigError> {
    let err = |problem: String| ConfigError {
        name: format!("{name} {}", path.display()),
        problem,
        example: EXAMPLE,
    };
    let text = files::read_to_string(path, MAX_FILE_BYTES, files::READ_TIME_LIMIT)
        .map_err(|e| err(format!("{}", Unread(e))))?;
    let file = parse(&text).map_err(err)?;
    let origin = |field: &str, i: usize| format!("--config {field}[{i}]");
    let mut deps = Vec::new();
    // Each entry was validated while reading; parsing again only builds the dependency.
    let mut add = |field: &str, parsed: Vec<Result<Dependency, ConfigError>>| {
        for (i, d) in parsed.into_iter().enumerate() {
            let mut d = d.map_err(|e| err(format!("{field}[{i}]: {}", e.problem)))?;
            d.origin = origin(field, i);
            deps.push(d);
        }
        Ok::<(), ConfigError>(())
    };
    fn all<K: Kind>(entries: &Entries<K>) -> Vec<Result<Dependency, ConfigError>> {
        entries.texts.iter().map(|t| K::parse(t, 1)).collect()
    }
    add("pods", all(&file.pods))?;
    add("services", all(&file.services))?;
    add(
        "hosts",
        file.hosts
            .texts
            .iter()
            .map(|t| parse_host(t, 1, cluster_domain))
            .collect(),
    )?;
    add(
        "dns",
        file.dns
            .texts
            .iter()
            .map(|t| super::parse_dns(t, String::new()))
            .collect(),
    )?;
    add("jobs", all(&file.jobs))?;
    add("rollouts", all(&file.rollouts))?;
    add("resources", all(&file.resources))?;
    add("tcp", all(&file.tcp))?;
    add("http", all(&file.http))?;
    Ok(deps)
}

/// A read error without the path, which the message already names.
struct Unread(files::ReadError);

impl std::fmt::Display for Unread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            files::ReadError::Io { source, .. } => write!(f, "cannot read it: {source}"),
            files::ReadError::TooLarge { limit, .. } => write!(
                f,
                "more than {} KiB (a device or an endless stream?); split the list or use flags",
                limit / 1024
            ),
            files::ReadError::Stalled { within, .. } => write!(
                f,
                "reading it did not finish within {} (a FIFO with no writer, or a hung mount?)",
                humantime::format_duration(*within)
            ),
        }
    }
}

/// The document, after the nesting check; an empty file is an empty document, not an error of
/// the YAML parser's.
fn parse(text: &str) -> Result<File, String> {
    if text.trim().is_empty() {
        return Ok(File::default());
    }
    check_nesting(text)?;
    serde_yaml::from_str(text).map_err(|e| e.to_string())
}

/// Refuse `[`/`{` nested deeper than [`MAX_NESTING`], in one linear pass. Brackets inside
/// quoted strings count too: a scan that tried to follow YAML's quoting could be fooled into
/// skipping the very brackets that make the parser slow, and no real entry nests that deep.
fn check_nesting(text: &str) -> Result<(), String> {
    let mut depth = 0usize;
    for (i, line) in text.split('\n').enumerate() {
        for b in line.bytes() {
            match b {
                b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(format!(
                            "brackets nest more than {MAX_NESTING} deep at line {}; a dependency list needs 2 (`pods: [...]`)",
                            i + 1
                        ));
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dependency::Target;

    fn read_text(text: &str) -> Result<Vec<Dependency>, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deps.yaml");
        std::fs::write(&path, text).unwrap();
        read(&path, "--config", "cluster.local")
    }

    #[test]
    fn every_kind_reads_with_its_flag_grammar() {
        let deps = read_text(
            "pods: ['db:app=zk:2']\n\
             services: [db/mysql-read]\n\
             hosts: [mysql-0.mysql.db]\n\
             dns: [api.example.com]\n\
             jobs: [db/migrate]\n\
             rollouts: [app/deployment/api]\n\
             resources:\n  - 'db/pvc/data:jsonpath={.status.phase}=Bound'\n\
             tcp: ['db.internal:5432']\n\
             http: ['http://api.app.svc:8080/healthz']\n",
        )
        .unwrap();
        assert_eq!(deps.len(), 9);
        assert!(matches!(deps[0].target, Target::Pods { min: Some(2), .. }));
        assert_eq!(deps[6].origin, "--config resources[0]");
        assert!(matches!(
            deps[8].target,
            Target::Probe(crate::probe::Check::Http { .. })
        ));
        // JSON is YAML.
        let deps = read_text(r#"{"jobs": ["db/migrate"]}"#).unwrap();
        assert_eq!(deps.len(), 1);
        assert!(read_text("").unwrap().is_empty());
    }

    #[test]
    fn mistakes_name_field_item_and_line() {
        let e = read_text("jobs:\n  - db/migrate\n  - db/Bad\n").unwrap_err();
        assert!(e.name.starts_with("--config "), "{e}");
        assert!(e.problem.contains("jobs: [1] `db/Bad`: "), "{e}");
        assert!(e.problem.contains("line 2"), "{e}");
        assert!(e.problem.contains("not an object name"), "{e}");
        let e = read_text("pod: ['db:app=zk']\n").unwrap_err();
        assert!(
            e.problem
                .contains("unknown field `pod`, expected one of `pods`"),
            "{e}"
        );
        let e = read_text("tcp: db:5432\n").unwrap_err();
        assert!(e.problem.contains("tcp"), "{e}");
        let e = read_text("resources: [{a: 1}]\n").unwrap_err();
        assert!(e.problem.contains("resources[0]"), "{e}");
        let e =
            read_text("pods: ['db:app=web']\nhttp:\n  - http://x/\n  - 'ftp://x/'\n").unwrap_err();
        assert!(e.problem.starts_with("http: [1] `ftp://x/`: "), "{e}");
        assert!(e.problem.contains("line 3"), "{e}");
        let e = read_text("'http://u:s3cret@x/?token=t0k': 1\n").unwrap_err();
        assert!(!e.to_string().contains("s3cret") && !e.to_string().contains("t0k"));
        assert!(
            e.to_string()
                .contains("unknown field `http://u:***@x/?token=***`"),
            "{e}"
        );
        let e = read_text("http: ['http://u:s3cret@x:99999/?token=t0k']\n").unwrap_err();
        assert!(
            e.problem.contains("`http://u:***@x:99999/?token=***`"),
            "{e}"
        );
        assert!(!e.to_string().contains("s3cret") && !e.to_string().contains("t0k"));
        let e = read(
            "/nonexistent/deps.yaml".as_ref(),
            "--config",
            "cluster.local",
        )
        .unwrap_err();
        assert!(e.problem.contains("cannot read it"), "{e}");
    }

    /// Each location is said once: the item and the line of the innermost error.
    #[test]
    fn a_location_is_not_repeated() {
        for text in ["pods: [[x]]\n", "pods: [1, {a: 1}]\n", "jobs:\n  - [a]\n"] {
            let e = read_text(text).unwrap_err();
            assert_eq!(e.problem.matches(" at line ").count(), 1, "{text}: {e}");
            assert!(!e.problem.contains("]: pods["), "{text}: {e}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = format!("pods: {}", "[".repeat(100_000));
        let e = read_text(&deep).unwrap_err();
        assert!(e.problem.contains("nest more than 32 deep"), "{e}");
        let ok = format!("pods: ['{}x{}']", "[".repeat(30), "]".repeat(30));
        assert!(check_nesting(&ok).is_ok());
    }

    #[test]
    fn devices_and_fifos_are_bounded() {
        let e = read("/dev/zero".as_ref(), "DEPWAIT_CONFIG", "cluster.local").unwrap_err();
        assert!(e.name.starts_with("DEPWAIT_CONFIG /dev/zero"), "{e}");
        assert!(e.problem.contains("more than 1024 KiB"), "{e}");
    }
}
