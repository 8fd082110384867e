//! `--config FILE`: the same dependencies as the flags, as a YAML (or JSON) document, for lists
//! too long for a command line. Every entry uses its flag's grammar, so nothing new to learn,
//! and is validated while the file is read: a mistake is reported with its field, item, text
//! and line (``jobs: [1] `db/Bad`: ... at line 7, column 3``; the line is the list's). The
//! fields are [`ENTRIES`]' fields: a kind added to the table is a field here too.
//!
//! The path can name anything (`/dev/zero`, a FIFO with no writer, a hung mount): it is read
//! through [`crate::files`], at most [`MAX_FILE_BYTES`] and [`files::READ_TIME_LIMIT`], and its
//! bracket nesting is checked before the YAML parser sees it (a parser's time on deep flow
//! nesting is where YAML readers have gone quadratic: libyaml spent 54 s on 100,000 `[`). The
//! parser is serde-saphyr, as for kubeconfigs: maintained, pure Rust, and its errors carry the
//! line; they are rendered without its source snippet, which would quote the file.

use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::entries::{self, ENTRIES, Entry};
use super::error::ConfigError;
use super::grammar::Context;
use crate::dependency::{Dependency, Target};
use crate::files;

/// Larger files are refused while reading (counted on the bytes read), like an oversized
/// `NAMESPACE_LABEL_DICT`.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Deepest `[`/`{` nesting accepted; a valid file needs 2 (`{pods: [...]}`) plus what an entry's
/// text holds (`jsonpath={.items[0]}`).
pub const MAX_NESTING: usize = 32;

/// Read `path` into dependencies, in [`ENTRIES`]' order (as the flags are); `context` applies
/// as it does to flags (`hosts` and the cluster domain). `name` is `--config` or
/// `DEPWAIT_CONFIG`, whichever gave the path.
pub(super) fn read(
    path: &Path,
    name: &str,
    context: &Context,
    source: &dyn Fn(&Path) -> Result<String, Unread>,
) -> Result<Vec<Dependency>, ConfigError> {
    let err = |problem: String| ConfigError {
        name: format!("{name} {}", path.display()),
        problem,
        example: entries::file_example(),
    };
    let text = source(path).map_err(|e| err(e.to_string()))?;
    let fields = parse(&text, context).map_err(|e| err(e.to_string()))?;
    let mut deps = Vec::new();
    for (entry, targets) in ENTRIES.iter().zip(fields) {
        for (i, target) in targets.into_iter().enumerate() {
            deps.push(Dependency {
                target,
                origin: format!("--config {}[{i}]", entry.field),
            });
        }
    }
    Ok(deps)
}

/// The file, read from this machine's disk, bounded.
pub fn from_disk(path: &Path) -> Result<String, Unread> {
    files::read_to_string(path, MAX_FILE_BYTES, files::READ_TIME_LIMIT).map_err(Unread::File)
}

/// Why a `--config` file's text could not be had; shown after the path, which the message
/// already names.
#[derive(Debug)]
pub enum Unread {
    /// Reading it from disk failed.
    File(files::ReadError),
    /// It is in a container depwait is not in (`depwait graph`), and cannot be read from here:
    /// why.
    Elsewhere(String),
}

impl std::fmt::Display for Unread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let file = match self {
            Unread::Elsewhere(why) => return f.write_str(why),
            Unread::File(file) => file,
        };
        match file {
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

/// The document's dependencies, per kind of [`ENTRIES`], after the nesting check; an empty
/// file is an empty document, not an error of the YAML parser's.
fn parse(text: &str, context: &Context) -> Result<Vec<Vec<Target>>, Unparsed> {
    if text.trim().is_empty() {
        return Ok(vec![Vec::new(); ENTRIES.len()]);
    }
    check_nesting(text)?;
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    serde_saphyr::with_deserializer_from_str_with_options(text, options, |d| {
        Document(context).deserialize(d)
    })
    .map_err(|e| Unparsed::Yaml(described(&e)))
}

/// Why a file's text is not a dependency list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Unparsed {
    /// Refused before parsing: see [`check_nesting`].
    #[error(
        "brackets nest more than {MAX_NESTING} deep at line {line}; a dependency list needs 2 (`pods: [...]`)"
    )]
    TooDeep {
        /// Where the limit was passed.
        line: usize,
    },
    /// The parser's words, with the line, or an entry's mistake with its field and item.
    #[error("{0}")]
    Yaml(String),
}

/// The parser's message, except where it gives advice for a program (which option or function
/// to use instead) rather than for the file's author.
fn described(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::Error as E;
    let e = e.without_snippet();
    let at = e
        .location()
        .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
        .unwrap_or_default();
    match e {
        E::DuplicateMappingKey { .. } => {
            format!("a field is given twice{at}; put all its entries in one list")
        }
        E::MultipleDocuments { .. } => {
            format!("a second YAML document (`---`){at}; put every list in one document")
        }
        other => other.to_string(),
    }
}

/// Each visitor below is its own seed: it carries what it needs (the context, its field, the
/// item's index) and is handed to the parser as it is, asking for `$method`.
macro_rules! seed {
    ($ty:ty, $value:ty, $method:ident) => {
        impl<'de> DeserializeSeed<'de> for $ty {
            type Value = $value;

            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<$value, D::Error> {
                d.$method(self)
            }
        }
    };
}

/// The whole file: a map of [`ENTRIES`]' fields to lists of texts in their flags' grammar.
struct Document<'a>(&'a Context<'a>);

seed!(Document<'_>, Vec<Vec<Target>>, deserialize_map);

impl<'de> Visitor<'de> for Document<'_> {
    type Value = Vec<Vec<Target>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of dependency lists (`pods: [...]`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields: Vec<Option<Vec<Target>>> = vec![None; ENTRIES.len()];
        while let Some(at) = map.next_key_seed(Field)? {
            if fields[at].is_some() {
                // Only reached if the parser lets duplicate keys through; it refuses them.
                return Err(de::Error::custom(format!(
                    "`{}` is given twice",
                    ENTRIES[at].field
                )));
            }
            fields[at] = Some(map.next_value_seed(List(&ENTRIES[at], self.0))?);
        }
        Ok(fields.into_iter().map(Option::unwrap_or_default).collect())
    }
}

/// A field name, checked while the parser is at it so that an unknown one gets its line.
struct Field;

seed!(Field, usize, deserialize_str);

impl<'de> Visitor<'de> for Field {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name (`pods`, `services`, ...)")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
        ENTRIES.iter().position(|e| e.field == key).ok_or_else(|| {
            E::custom(format!(
                "unknown field `{key}`, expected one of {}",
                entries::file_fields()
            ))
        })
    }
}

/// One field's list, each text parsed as it is read, so that a mistake carries the field, the
/// item, its text and (from the parser) the line.
struct List<'a>(&'static Entry, &'a Context<'a>);

// `any`, not `seq`: the parser's own "expected sequence start" would not say which field;
// this visitor's `expecting` does.
seed!(List<'_>, Vec<Target>, deserialize_any);

impl<'de> Visitor<'de> for List<'_> {
    type Value = Vec<Target>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: a list of strings", self.0.field)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let List(entry, context) = self;
        let mut targets = Vec::new();
        while let Some(text) = seq.next_element_seed(Item(entry, targets.len()))? {
            let target = (entry.parse)(&text, context).map_err(|e| {
                de::Error::custom(format!(
                    "{}: [{}] `{}`: {e}",
                    entry.field,
                    targets.len(),
                    crate::text::redact(&text)
                ))
            })?;
            targets.push(target);
        }
        Ok(targets)
    }
}

/// One item of a list: a string, or a mistake that names where it is.
struct Item(&'static Entry, usize);

seed!(Item, String, deserialize_any);

impl<'de> Visitor<'de> for Item {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a string at {}[{}]", self.0.field, self.1)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<String, E> {
        Ok(text.to_string())
    }
}

/// Refuse `[`/`{` nested deeper than [`MAX_NESTING`], in one linear pass. Brackets inside
/// quoted strings count too: a scan that tried to follow YAML's quoting could be fooled into
/// skipping the very brackets that make the parser slow, and no real entry nests that deep.
fn check_nesting(text: &str) -> Result<(), Unparsed> {
    let mut depth = 0usize;
    for (i, line) in text.split('\n').enumerate() {
        for b in line.bytes() {
            match b {
                b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(Unparsed::TooDeep { line: i + 1 });
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

    const CONTEXT: Context = Context {
        cluster_domain: "cluster.local",
    };

    fn read_text(text: &str) -> Result<Vec<Dependency>, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deps.yaml");
        std::fs::write(&path, text).unwrap();
        read(&path, "--config", &CONTEXT, &from_disk)
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
            &CONTEXT,
            &from_disk,
        )
        .unwrap_err();
        assert!(e.problem.contains("cannot read it"), "{e}");
    }

    /// The parser's advice to programs (which option or function to call) is replaced by
    /// advice to the file's author, and every such mistake keeps its line.
    #[test]
    fn parser_mistakes_are_told_to_the_author() {
        let e = read_text("pods: ['db:app=a']\npods: ['db:app=b']\n").unwrap_err();
        assert!(
            e.problem.contains("a field is given twice at line 2"),
            "{e}"
        );
        assert!(!e.problem.contains("Options"), "{e}");
        let e = read_text("pods: ['db:app=a']\n---\njobs: [db/x]\n").unwrap_err();
        assert!(e.problem.contains("a second YAML document"), "{e}");
        assert!(e.problem.contains("line 3"), "{e}");
        assert!(!e.problem.contains("from_str"), "{e}");
        let e = read_text("pods: ['db:app=a']\nservice: [db/x]\n").unwrap_err();
        assert!(e.problem.contains("unknown field `service`"), "{e}");
        assert!(e.problem.contains("line 2"), "{e}");
        for (text, field) in [("pods: ~\n", "pods"), ("hosts: mysql.db\n", "hosts")] {
            let e = read_text(text).unwrap_err();
            assert!(e.problem.contains(&format!("{field}: a list")), "{e}");
        }
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
        let e = read("/dev/zero".as_ref(), "DEPWAIT_CONFIG", &CONTEXT, &from_disk).unwrap_err();
        assert!(e.name.starts_with("DEPWAIT_CONFIG /dev/zero"), "{e}");
        assert!(e.problem.contains("more than 1024 KiB"), "{e}");
    }
}
