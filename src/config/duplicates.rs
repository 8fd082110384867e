//! A dependency given more than once is waited for, shown and counted once.

use std::collections::HashMap;

use crate::dependency::{Dependency, SourceKey};

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
pub(super) fn dedupe(deps: &mut Vec<Dependency>) -> Vec<Duplicate> {
    let mut by_sources: HashMap<Vec<SourceKey>, Vec<usize>> = HashMap::new();
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
