//! `-f PATH`: manifests on disk or on standard input (`kustomize build | depwait graph -f -`),
//! read into the same [`Inventory`] a cluster's lists give. A file is YAML with any number of
//! documents, or JSON; `kind: List` (what `kubectl get -o yaml` prints) is opened. A file that
//! does not parse is named with the line; a document of the wrong shape with its number.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::objects::{BadObject, Inventory};
use crate::files;

/// Largest manifest file (or standard input) read: a rendered overlay of a large app is a few
/// MiB; more is a mistake (`-f /dev/zero`), refused instead of read into memory.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024 * 1024;

/// Deepest YAML nesting accepted: CustomResourceDefinitions' schemas nest deep, far deeper
/// than a `--config` file.
const MAX_DEPTH: usize = 256;

/// Why manifests could not be read: exit 2, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{}: cannot read it: {problem}", path.display())]
    Unreadable {
        /// The path given.
        path: PathBuf,
        /// Why.
        problem: String,
    },
    /// Not YAML or JSON; the parser's message has the line.
    #[error("{}: not a YAML or JSON manifest: {problem}", path.display())]
    Unparsed {
        /// The path given.
        path: PathBuf,
        /// Why, with line and column.
        problem: String,
    },
    /// A document that is not a Kubernetes object, or one of the wrong shape.
    #[error("{}: document {document}: {problem}", path.display())]
    BadDocument {
        /// The path given.
        path: PathBuf,
        /// 1-based, in the file.
        document: usize,
        /// What is wrong.
        problem: String,
    },
}

/// Read every path (a file, a folder's `*.yaml`/`*.yml`/`*.json`, with `recursive` its
/// sub-folders' too, or `-`) into `inventory`. Returns how many files were read.
pub fn read(
    paths: &[PathBuf],
    recursive: bool,
    inventory: &mut Inventory,
) -> Result<usize, ManifestError> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, recursive, true, &mut files)?;
    }
    for path in &files {
        let text = if path.as_os_str() == "-" {
            read_stdin().map_err(|problem| ManifestError::Unreadable {
                path: path.clone(),
                problem,
            })?
        } else {
            files::read_to_string(path, MAX_MANIFEST_BYTES, files::READ_TIME_LIMIT).map_err(
                |e| ManifestError::Unreadable {
                    path: path.clone(),
                    problem: e.to_string(),
                },
            )?
        };
        add_text(path, &text, inventory)?;
    }
    Ok(files.len())
}

/// One file's text (also for tests).
pub fn add_text(path: &Path, text: &str, inventory: &mut Inventory) -> Result<(), ManifestError> {
    let options = files::yaml_options(MAX_DEPTH);
    let documents: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, options).map_err(|e| {
            ManifestError::Unparsed {
                path: path.to_path_buf(),
                problem: e.without_snippet().to_string(),
            }
        })?;
    for (i, document) in documents.into_iter().enumerate() {
        let bad = |problem: String| ManifestError::BadDocument {
            path: path.to_path_buf(),
            document: i + 1,
            problem,
        };
        add_object(document, inventory).map_err(|e| bad(e.to_string()))?;
    }
    Ok(())
}

fn add_object(object: Value, inventory: &mut Inventory) -> Result<(), BadObject> {
    let bad = |problem: &str| BadObject {
        kind: String::new(),
        name: String::new(),
        problem: problem.to_string(),
    };
    if object.is_null() {
        return Ok(());
    }
    if !object.is_object() {
        return Err(bad("not a Kubernetes object (a mapping with `kind`)"));
    }
    let Some(kind) = object.get("kind").and_then(Value::as_str) else {
        return Err(bad("no `kind`: not a Kubernetes object"));
    };
    if kind.ends_with("List")
        && let Some(Value::Array(items)) = object.get("items")
    {
        for item in items.clone() {
            add_object(item, inventory)?;
        }
        return Ok(());
    }
    let kind = kind.to_string();
    inventory.add(&kind, object)
}

/// `path` itself, or a folder's manifest files in name order.
fn collect(
    path: &Path,
    recursive: bool,
    top: bool,
    into: &mut Vec<PathBuf>,
) -> Result<(), ManifestError> {
    if path.as_os_str() == "-" || !path.is_dir() {
        if top || is_manifest(path) {
            into.push(path.to_path_buf());
        }
        return Ok(());
    }
    let unreadable = |e: std::io::Error| ManifestError::Unreadable {
        path: path.to_path_buf(),
        problem: e.to_string(),
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(unreadable)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            if recursive {
                collect(&entry, recursive, false, into)?;
            }
        } else if is_manifest(&entry) {
            into.push(entry);
        }
    }
    Ok(())
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

fn read_stdin() -> Result<String, String> {
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_MANIFEST_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() > MAX_MANIFEST_BYTES {
        return Err(format!(
            "more than {} MiB on standard input",
            MAX_MANIFEST_BYTES / 1024 / 1024
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syntax_error_names_the_line() {
        let mut inv = Inventory::default();
        let text = "kind: Deployment\nmetadata:\n  name: a\n---\nkind: [\n";
        let e = add_text(Path::new("x.yaml"), text, &mut inv).unwrap_err();
        let shown = e.to_string();
        assert!(shown.starts_with("x.yaml: not a YAML"), "{shown}");
        assert!(
            shown.contains("line 5") || shown.contains("line 6"),
            "{shown}"
        );
    }

    #[test]
    fn lists_are_opened_and_documents_without_kind_refused() {
        let mut inv = Inventory::default();
        let text = "kind: List\nitems:\n- kind: Service\n  metadata: {name: s, namespace: ns}\n  spec: {selector: {app: a}}\n";
        add_text(Path::new("l.yaml"), text, &mut inv).unwrap();
        assert_eq!(inv.services.len(), 1);
        let e = add_text(Path::new("l.yaml"), "---\nmetadata: {}\n", &mut inv).unwrap_err();
        assert!(e.to_string().contains("document 1: no `kind`"), "{e}");
        let text = "kind: Service\nmetadata: {name: s, namespace: no}\n";
        let e = add_text(Path::new("b.yaml"), text, &mut inv).unwrap_err();
        assert!(
            e.to_string()
                .contains("Service \"s\": metadata: invalid type: boolean"),
            "{e}"
        );
        assert!(e.to_string().contains("quote it"), "{e}");
    }
}
