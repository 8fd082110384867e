//! What depwait waits for.

use std::fmt;

use crate::selector::LabelSelector;

/// One thing that must be Ready before the pod may start: the pods in `namespace` matching
/// `selector`, all of them Ready (no `min`) or at least `min` of them (a quorum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// Namespace the pods live in; it need not exist yet.
    pub namespace: String,
    /// Server-side label selector for the pods.
    pub selector: LabelSelector,
    /// `None`: at least one counted pod and every counted pod Ready. `Some(n)`: n Ready pods.
    pub min: Option<u32>,
    /// Where the user wrote it (`--pods #2`, `NAMESPACE_LABEL_DICT["db"][0]`), for messages.
    pub origin: String,
}

impl Dependency {
    /// The watch this dependency is judged from; dependencies with equal keys share one watcher.
    pub fn watch_key(&self) -> WatchKey {
        WatchKey {
            namespace: self.namespace.clone(),
            selector: self.selector.as_str().to_string(),
        }
    }
}

impl fmt::Display for Dependency {
    /// `namespace-1 app=MyApp` or `db app=zk (min 2)`: the name used in every log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.namespace, self.selector)?;
        if let Some(min) = self.min {
            write!(f, " (min {min})")?;
        }
        Ok(())
    }
}

/// Identity of a watched pod set: one watcher and one store per distinct key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WatchKey {
    /// Namespace watched.
    pub namespace: String,
    /// Canonical selector text sent to the server.
    pub selector: String,
}

impl fmt::Display for WatchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pods in namespace {} matching {}",
            self.namespace, self.selector
        )
    }
}
