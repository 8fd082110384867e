//! Kubeconfig files, found and merged as kubectl does, read with bounds.
//!
//! kube's own loader reads each file whole with `std::fs::read` (so `KUBECONFIG=/dev/zero` grows
//! without end), stops at the first missing `KUBECONFIG` entry (kubectl skips it), and its YAML
//! errors quote the offending lines — a token among them. Here every file goes through
//! [`crate::files`] (size and time bounded, off the runtime thread), missing entries are skipped,
//! the parser has a nesting limit, and a mistake is reported by file, line, column and kind only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use kube::config::Kubeconfig;

use super::CredentialError;
use crate::files;
use crate::tls::{self, CaOrigin};

/// The most a kubeconfig file may hold: real ones are a few KiB, or a few hundred with many
/// clusters and CA bundles inlined.
pub const KUBECONFIG_LIMIT: usize = 4 << 20;

/// The most a file a kubeconfig points at may hold (`certificate-authority`,
/// `client-certificate`, `client-key`, `tokenFile`), and the in-cluster token, `ca.crt` and
/// `namespace`: a CA bundle is at most a few hundred KiB.
pub const REFERENCED_FILE_LIMIT: usize = 1 << 20;

/// How deeply mappings and sequences may nest in a kubeconfig (a real one nests 5 deep); also
/// bounds the parser's work on hostile input.
pub const NESTING_LIMIT: usize = 64;

/// The kubeconfig files to read, as kubectl finds them: the entries of `KUBECONFIG` (empty ones
/// ignored), else `~/.kube/config`.
pub fn paths() -> Vec<PathBuf> {
    if let Some(value) = std::env::var_os("KUBECONFIG") {
        let listed: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !listed.is_empty() {
            return listed;
        }
    }
    std::env::var_os("HOME")
        .map(|home| vec![Path::new(&home).join(".kube").join("config")])
        .unwrap_or_default()
}

/// The files of `paths` that exist, merged: the first file to set a value or a named entry
/// wins (kubectl's rules). `None` when not one of them exists.
pub async fn read(
    paths: &[PathBuf],
    within: Duration,
) -> Result<Option<Kubeconfig>, CredentialError> {
    let mut merged: Option<Kubeconfig> = None;
    for path in paths {
        let bytes = match files::read_async(path, KUBECONFIG_LIMIT, within).await {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => {
                tracing::debug!(path = %path.display(), "kubeconfig file does not exist; skipped as kubectl does");
                continue;
            }
            Err(e) => return Err(CredentialError::Read(e)),
        };
        let mut next = Kubeconfig::default();
        for doc in parse(path, &bytes)? {
            next = merge(path, next, doc)?;
        }
        merged = Some(match merged {
            None => next,
            Some(first) => merge(path, first, next)?,
        });
    }
    Ok(merged)
}

fn merge(path: &Path, first: Kubeconfig, next: Kubeconfig) -> Result<Kubeconfig, CredentialError> {
    first.merge(next).map_err(|e| CredentialError::Kubeconfig {
        what: format!(
            "{} cannot be merged with the files before it: {e}",
            path.display()
        ),
    })
}

/// The YAML documents of one kubeconfig file, with the paths in it made absolute against the
/// file's directory (as kubectl resolves them).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<Kubeconfig>, CredentialError> {
    let text = decode(path, bytes)?;
    let mut docs: Vec<Kubeconfig> = serde_saphyr::from_multiple_with_options(&text, yaml_options())
        .map_err(|e| yaml_error(path, &e))?;
    if let Some(dir) = path.parent() {
        for doc in &mut docs {
            absolutize(doc, dir);
        }
    }
    Ok(docs)
}

/// Parser settings for kubeconfigs and plugin output: the nesting limit, and errors without the
/// source snippet (it would quote the file, secrets included).
pub fn yaml_options() -> serde_saphyr::Options {
    crate::files::yaml_options(NESTING_LIMIT)
}

/// Where and what kind of mistake a YAML error is — never its text, which can quote the input.
pub fn yaml_error_parts(e: &serde_saphyr::Error) -> (u64, u64, &'static str) {
    use serde_saphyr::Error as E;
    let e = e.without_snippet();
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    let kind = match e {
        E::Budget { .. }
        | E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. }
        | E::AliasReplayCounterOverflow { .. } => {
            "beyond the parser's limits (nesting deeper than 64 levels, or too many nodes or aliases)"
        }
        E::InvalidUtf8Input => "not UTF-8 text",
        E::Message { .. }
        | E::Unexpected { .. }
        | E::InvalidScalar { .. }
        | E::NullIntoString { .. }
        | E::SerdeInvalidType { .. }
        | E::SerdeInvalidValue { .. }
        | E::SerdeInvalidLength { .. }
        | E::SerdeUnknownVariant { .. }
        | E::SerdeUnknownField { .. }
        | E::SerdeMissingField { .. }
        | E::DuplicateMappingKey { .. } => "a value of the wrong type or shape",
        _ => "a YAML syntax error",
    };
    (line, column, kind)
}

fn yaml_error(path: &Path, e: &serde_saphyr::Error) -> CredentialError {
    let (line, column, kind) = yaml_error_parts(e);
    CredentialError::Yaml {
        path: path.to_path_buf(),
        line,
        column,
        kind,
    }
}

/// UTF-8, with or without a byte-order mark, or UTF-16 with one (as kube and kubectl accept).
fn decode(path: &Path, bytes: &[u8]) -> Result<String, CredentialError> {
    let not_text = || CredentialError::Yaml {
        path: path.to_path_buf(),
        line: 0,
        column: 0,
        kind: "not UTF-8 or UTF-16 text",
    };
    let utf16 = |rest: &[u8], be: bool| {
        let units: Vec<u16> = rest
            .chunks(2)
            .map(|c| {
                let pair = [c[0], *c.get(1).unwrap_or(&0)];
                if be {
                    u16::from_be_bytes(pair)
                } else {
                    u16::from_le_bytes(pair)
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|_| not_text())
    };
    match bytes {
        [0xFF, 0xFE, rest @ ..] => utf16(rest, false),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, true),
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8(rest.to_vec()).map_err(|_| not_text()),
        _ => String::from_utf8(bytes.to_vec()).map_err(|_| not_text()),
    }
}

fn absolutize(config: &mut Kubeconfig, dir: &Path) {
    let resolve = |field: &mut Option<String>| {
        if let Some(p) = field.as_deref()
            && Path::new(p).is_relative()
            && let Some(abs) = dir.join(p).to_str()
        {
            *field = Some(abs.to_owned());
        }
    };
    for cluster in config
        .clusters
        .iter_mut()
        .filter_map(|c| c.cluster.as_mut())
    {
        resolve(&mut cluster.certificate_authority);
    }
    for user in config
        .auth_infos
        .iter_mut()
        .filter_map(|u| u.auth_info.as_mut())
    {
        resolve(&mut user.client_certificate);
        resolve(&mut user.client_key);
        resolve(&mut user.token_file);
        // A bare command name (`aws`) is looked up on PATH; one with a separator is a path.
        if let Some(exec) = user.exec.as_mut()
            && exec.command.as_deref().is_some_and(|c| c.contains('/'))
        {
            resolve(&mut exec.command);
        }
    }
}

/// The names the current context selects: (cluster, user).
pub fn selected(config: &Kubeconfig) -> Option<(String, Option<String>)> {
    let name = config.current_context.as_ref()?;
    let context = config
        .contexts
        .iter()
        .find(|c| &c.name == name)?
        .context
        .as_ref()?;
    Some((context.cluster.clone(), context.user.clone()))
}

/// Replace the files the selected cluster and user point at by their contents, read with
/// bounds, so that kube never reads a file itself. Only the selected entries are read: a broken
/// path in another context is none of this wait's business, as for kubectl.
///
/// The selected cluster's CA is checked here too, before any request: one that does not parse
/// is a configuration error naming its field, and where it came from is remembered for the
/// messages of fatal TLS errors ([`tls::set_api_ca`]). `kubeconfig_files` names the files, for
/// those messages.
pub async fn inline_referenced_files(
    config: &mut Kubeconfig,
    kubeconfig_files: &str,
    within: Duration,
) -> Result<(), CredentialError> {
    let Some((cluster_name, user_name)) = selected(config) else {
        return Ok(());
    };
    if let Some(cluster) = config
        .clusters
        .iter_mut()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_mut())
    {
        let origin = match (
            cluster.certificate_authority_data.is_some(),
            cluster.certificate_authority.take(),
        ) {
            (true, path) => {
                cluster.certificate_authority = path;
                CaOrigin::KubeconfigData {
                    cluster: cluster_name.clone(),
                    kubeconfig: kubeconfig_files.to_string(),
                }
            }
            (false, Some(path)) => {
                let origin = CaOrigin::KubeconfigFile {
                    cluster: cluster_name.clone(),
                    path: path.clone().into(),
                };
                // A read error names the field that points at the file, as a parse error does.
                let data = read_base64(&path, tls::CA_BUNDLE_LIMIT, within)
                    .await
                    .map_err(|e| match e {
                        CredentialError::Read(source) => CredentialError::Ca(tls::CaError::Read {
                            origin: origin.clone(),
                            source,
                        }),
                        other => other,
                    })?;
                cluster.certificate_authority_data = Some(data);
                origin
            }
            (false, None) => CaOrigin::BuiltInRoots {
                cluster: cluster_name.clone(),
            },
        };
        // With verification off there is nothing to trust, so nothing to check or name.
        if cluster.insecure_skip_tls_verify != Some(true) {
            if let Some(data) = &cluster.certificate_authority_data {
                tls::parse_base64_bundle(data, &origin)?;
            }
            tls::set_api_ca(origin);
        }
    }
    let Some(user_name) = user_name else {
        return Ok(());
    };
    if let Some(user) = config
        .auth_infos
        .iter_mut()
        .find(|u| u.name == user_name)
        .and_then(|u| u.auth_info.as_mut())
    {
        if user.client_certificate_data.is_none()
            && let Some(path) = user.client_certificate.take()
        {
            user.client_certificate_data =
                Some(read_base64(&path, REFERENCED_FILE_LIMIT, within).await?);
        }
        if user.client_key_data.is_none()
            && let Some(path) = user.client_key.take()
        {
            user.client_key_data = Some(
                read_base64(&path, REFERENCED_FILE_LIMIT, within)
                    .await?
                    .into(),
            );
        }
    }
    Ok(())
}

async fn read_base64(
    path: &str,
    limit: usize,
    within: Duration,
) -> Result<String, CredentialError> {
    let bytes = files::read_async(Path::new(path), limit, within)
        .await
        .map_err(CredentialError::Read)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "s3cr3t-t0ken-value-that-must-not-leak";

    fn error_text(yaml: &str) -> String {
        parse(Path::new("/k/config"), yaml.as_bytes())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_syntax_error_names_place_and_kind_not_text() {
        let yaml =
            format!("apiVersion: v1\nusers:\n- name: u\n  user:\n    token: {TOKEN}\n   bad: [\n");
        let text = error_text(&yaml);
        assert!(!text.contains(TOKEN), "{text}");
        assert!(!text.contains("token"), "{text}");
        assert!(text.contains("/k/config"), "{text}");
        assert!(text.contains("line "), "{text}");
        assert!(text.contains("column "), "{text}");
    }

    #[test]
    fn a_value_of_the_wrong_type_is_not_quoted() {
        let yaml = format!("users: {TOKEN}\n");
        let text = error_text(&yaml);
        assert!(!text.contains(TOKEN), "{text}");
        assert!(text.contains("wrong type"), "{text}");
    }

    #[test]
    fn deep_nesting_is_refused_by_the_limit() {
        // Flow style: stopped by the parser at the limit, as a syntax error.
        let yaml = format!("x: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let text = error_text(&yaml);
        assert!(text.contains("line 1 column"), "{text}");
        // Block style: stopped by the depth budget.
        let yaml: String = (0..100)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        let text = error_text(&format!("{yaml}{}v: 1\n", " ".repeat(100)));
        assert!(text.contains("limits"), "{text}");
    }

    #[test]
    fn relative_paths_are_resolved_against_the_file() {
        let yaml = "clusters:\n- name: c\n  cluster: {server: 'https://x', certificate-authority: ca.crt}\nusers:\n- name: u\n  user:\n    tokenFile: t\n    exec: {command: ./bin/plugin, apiVersion: client.authentication.k8s.io/v1}\n- name: v\n  user:\n    exec: {command: aws}\n";
        let docs = parse(Path::new("/k/config"), yaml.as_bytes()).unwrap();
        let c = docs[0].clusters[0].cluster.as_ref().unwrap();
        assert_eq!(c.certificate_authority.as_deref(), Some("/k/ca.crt"));
        let u = docs[0].auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(u.token_file.as_deref(), Some("/k/t"));
        assert_eq!(
            u.exec.as_ref().unwrap().command.as_deref(),
            Some("/k/./bin/plugin")
        );
        let v = docs[0].auth_infos[1].auth_info.as_ref().unwrap();
        assert_eq!(v.exec.as_ref().unwrap().command.as_deref(), Some("aws"));
    }

    #[tokio::test]
    async fn missing_entries_are_skipped_and_the_first_file_wins() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(
            &a,
            "current-context: one\ncontexts:\n- name: one\n  context: {cluster: c1}\n",
        )
        .unwrap();
        std::fs::write(&b, "current-context: two\ncontexts:\n- name: one\n  context: {cluster: other}\n- name: two\n  context: {cluster: c2}\n").unwrap();
        let paths = [dir.path().join("missing"), a, dir.path().join("gone"), b];
        let merged = read(&paths, files::READ_TIME_LIMIT).await.unwrap().unwrap();
        assert_eq!(merged.current_context.as_deref(), Some("one"));
        assert_eq!(merged.contexts.len(), 2);
        assert_eq!(selected(&merged).unwrap().0, "c1");
        let none = read(&[dir.path().join("missing")], files::READ_TIME_LIMIT)
            .await
            .unwrap();
        assert!(none.is_none());
    }

    #[tokio::test]
    async fn an_endless_kubeconfig_is_cut_at_the_limit() {
        let e = read(&[PathBuf::from("/dev/zero")], files::READ_TIME_LIMIT)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("4 MiB"), "{e}");
    }
}
