//! What every kind's grammar shares: the context a parser reads, its error, and the pieces
//! several kinds take (a namespace, a `:MIN`). A leaf: the table ([`super::entries`]) and the
//! kinds' parsers both build on it.

use crate::selector::is_dns1123_label;

/// A value as the user gave it, with the flag or variable it came from, for error messages.
///
/// clap only collects these values: validated by clap, a bad `DEPWAIT_LOG_FORMAT` would be
/// reported as a bad `--log-format`, naming a flag the user never typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T = String> {
    /// The raw text.
    pub text: T,
    /// `--timeout` or `TIMEOUT`: whichever the user actually set.
    pub name: String,
}

impl<T> Sourced<T> {
    /// `text` as `name` gave it.
    pub fn new(name: &str, text: impl Into<T>) -> Self {
        Sourced {
            text: text.into(),
            name: name.into(),
        }
    }
}

/// What a parser may need beyond the text: settings that change how a text reads.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The cluster's DNS domain, for HOST names ending in `.svc.CLUSTER-DOMAIN`.
    pub cluster_domain: &'a str,
}

/// Why one text is not a dependency of its kind; [`super::entries::Entry`] adds which flag or field
/// gave it and an example.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl From<crate::names::BadHostName> for Invalid {
    fn from(e: crate::names::BadHostName) -> Self {
        Invalid(e.0)
    }
}

impl From<BadMin> for Invalid {
    fn from(e: BadMin) -> Self {
        Invalid(e.to_string())
    }
}

/// A namespace: a DNS label, as Kubernetes requires.
pub(super) fn namespace(ns: &str) -> Result<String, Invalid> {
    if is_dns1123_label(ns) {
        Ok(ns.to_string())
    } else {
        Err(Invalid(format!(
            "namespace `{ns}` is not a valid name (1-63 lowercase letters, digits or `-`, starting and ending with a letter or digit)"
        )))
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
