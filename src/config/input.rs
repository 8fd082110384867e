//! What the command line and the environment said, before validation: text, each value with
//! the flag or variable that gave it.

use std::path::PathBuf;

use super::entries::{ENTRIES, Entry};
use super::grammar::Sourced;

/// Defaults, shared by the flags' `--help` and [`Input::default`], so a test's input and a bare
/// `depwait` start from the same values.
pub const DEFAULT_TIMEOUT: &str = "300";
/// See [`DEFAULT_TIMEOUT`].
pub const DEFAULT_HEARTBEAT: &str = "30s";
/// See [`DEFAULT_TIMEOUT`].
pub const DEFAULT_LOG_FORMAT: &str = "text";
/// See [`DEFAULT_TIMEOUT`].
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";
/// See [`DEFAULT_TIMEOUT`]: Kubernetes' termination-message file.
pub const DEFAULT_TERMINATION_LOG: &str = "/dev/termination-log";

/// Everything the command line and environment said, before validation. The default is a
/// bare `depwait` with none of its variables set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The dependencies' texts, per kind of [`ENTRIES`], in the order given.
    pub entries: Entries,
    /// `--config` file (or `DEPWAIT_CONFIG`).
    pub config: Option<Sourced<PathBuf>>,
    /// The cluster DNS domain.
    pub cluster_domain: Sourced,
    /// The seed's JSON dependency list.
    pub namespace_label_dict: Option<Sourced>,
    /// Overall deadline.
    pub timeout: Sourced,
    /// The seed's poll interval, validated only.
    pub retry_interval: Option<Sourced>,
    /// Interval of the "still waiting" line.
    pub heartbeat: Sourced,
    /// Record a Kubernetes Event on failure: `--emit-events[=BOOL]` or the variable, unparsed.
    pub emit_events: Option<Sourced>,
    /// Log format, unparsed ([`super::log_format`] reads it).
    pub log_format: Sourced,
    /// Termination-message path.
    pub termination_log: PathBuf,
}

impl Default for Input {
    fn default() -> Self {
        Input {
            entries: Entries::default(),
            config: None,
            cluster_domain: Sourced::new("--cluster-domain", DEFAULT_CLUSTER_DOMAIN),
            namespace_label_dict: None,
            timeout: Sourced::new("--timeout", DEFAULT_TIMEOUT),
            retry_interval: None,
            heartbeat: Sourced::new("--heartbeat", DEFAULT_HEARTBEAT),
            emit_events: None,
            log_format: Sourced::new("--log-format", DEFAULT_LOG_FORMAT),
            termination_log: DEFAULT_TERMINATION_LOG.into(),
        }
    }
}

impl Input {
    /// This input with `values` added to the entries of the kind whose `--config` field is
    /// `field` (`pods`, `services`, `hosts`, ...).
    ///
    /// # Panics
    /// When no kind has that field: a mistake in the calling code, not in user input.
    pub fn with(
        mut self,
        field: &str,
        values: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.entries.extend(field, values);
        self
    }
}

/// The texts given for each kind of dependency, kept in [`ENTRIES`]' order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entries(Vec<Vec<String>>);

impl Default for Entries {
    fn default() -> Self {
        Entries(vec![Vec::new(); ENTRIES.len()])
    }
}

impl Entries {
    /// Add texts to the kind whose `--config` field is `field`.
    ///
    /// # Panics
    /// When no kind has that field (see [`Input::with`]).
    pub fn extend(&mut self, field: &str, values: impl IntoIterator<Item = impl Into<String>>) {
        let at = ENTRIES
            .iter()
            .position(|e| e.field == field)
            .unwrap_or_else(|| panic!("no dependency kind has the field `{field}`"));
        self.0[at].extend(values.into_iter().map(Into::into));
    }

    /// Each kind with its texts, in [`ENTRIES`]' order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static Entry, &[String])> {
        ENTRIES.iter().zip(self.0.iter().map(Vec::as_slice))
    }

    /// Whether no kind has a text.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Vec::is_empty)
    }
}
