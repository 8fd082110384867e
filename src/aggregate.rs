//! The one future that decides: released when every dependency is Ready at the same moment,
//! or ended by the deadline, a signal, or an error waiting cannot fix.
//!
//! [`Board`] is the pure part (phases and verdicts, no I/O) so it can be tested against a
//! reference model; [`wait`] drives it from the watchers' updates.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use crate::api_error::FatalApiError;
use crate::dependency::{Dependency, WatchKey};
use crate::readiness::{Readiness, pod};
use crate::watch::{Phase, PodWatch, Update};

/// How a wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every dependency was Ready at once.
    Ready,
    /// The deadline passed first.
    TimedOut,
    /// A watcher hit an error no retry can fix (403, 401, ...).
    Fatal(FatalApiError),
    /// SIGTERM or SIGINT arrived.
    Interrupted(Signal),
}

/// The signals that end a wait early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C, or `kill -INT`.
    Interrupt,
    /// The kubelet stopping the pod.
    Terminate,
}

/// Each dependency's current verdict, and what each watcher's store can be trusted for.
#[derive(Debug, Clone)]
pub struct Board {
    /// What is waited for.
    deps: Vec<Dependency>,
    /// For each dependency, the index of the watcher that feeds it.
    watch_of: Vec<usize>,
    /// Each watcher's phase; a dependency counts as Ready only while its watcher is live.
    phases: Vec<Phase>,
    /// Each dependency's verdict as last judged.
    verdicts: Vec<Readiness>,
    /// Each dependency's last verdict from a live store, kept to explain outages.
    last_live: Vec<Option<String>>,
}

/// A dependency whose verdict changed, for progress logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Index into the dependencies.
    pub dep: usize,
    /// The new verdict.
    pub readiness: Readiness,
}

impl Board {
    /// A board for `deps`, each fed by the watcher of its key; returns the distinct keys too, in
    /// watcher order.
    pub fn new(deps: Vec<Dependency>) -> (Self, Vec<WatchKey>) {
        let mut keys: Vec<WatchKey> = Vec::new();
        let watch_of = deps
            .iter()
            .map(|d| {
                let key = d.watch_key();
                keys.iter().position(|k| *k == key).unwrap_or_else(|| {
                    keys.push(key);
                    keys.len() - 1
                })
            })
            .collect();
        let verdicts = vec![Readiness::unknown("listing pods".into()); deps.len()];
        let board = Self {
            last_live: vec![None; deps.len()],
            phases: vec![Phase::Listing; keys.len()],
            deps,
            watch_of,
            verdicts,
        };
        (board, keys)
    }

    /// The dependencies, in the order given.
    pub fn dependencies(&self) -> &[Dependency] {
        &self.deps
    }

    /// Record a watcher's new phase.
    pub fn set_phase(&mut self, watch: usize, phase: Phase) {
        self.phases[watch] = phase;
    }

    /// Re-judge every dependency fed by `watch` from that watcher's objects; returns the
    /// dependencies whose verdict changed.
    pub fn rejudge(
        &mut self,
        watch: usize,
        pods: impl Fn() -> Vec<std::sync::Arc<Pod>>,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut snapshot: Option<Vec<std::sync::Arc<Pod>>> = None;
        for dep in 0..self.deps.len() {
            if self.watch_of[dep] != watch {
                continue;
            }
            let readiness = match &self.phases[watch] {
                Phase::Live => {
                    let pods = snapshot.get_or_insert_with(&pods);
                    let r = pod::judge(self.deps[dep].min, pods.iter().map(|p| p.as_ref()));
                    self.last_live[dep] = Some(r.summary.clone());
                    r
                }
                Phase::Listing => Readiness::unknown(self.with_last_live(dep, "listing pods")),
                Phase::Failing(reason) => Readiness::unknown(
                    self.with_last_live(dep, &format!("API error, retrying: {reason}")),
                ),
            };
            if readiness != self.verdicts[dep] {
                self.verdicts[dep] = readiness.clone();
                changes.push(Change { dep, readiness });
            }
        }
        changes
    }

    fn with_last_live(&self, dep: usize, what: &str) -> String {
        match &self.last_live[dep] {
            Some(last) => format!("{what} (last seen: {last})"),
            None => what.to_string(),
        }
    }

    /// True when every dependency is Ready now, each from a live store.
    pub fn all_ready(&self) -> bool {
        self.verdicts.iter().all(|v| v.ready)
    }

    /// Every dependency with its current verdict.
    pub fn verdicts(&self) -> impl Iterator<Item = (&Dependency, &Readiness)> {
        self.deps.iter().zip(&self.verdicts)
    }
}

/// What the waiting loop reports as it goes (progress logs; tests may record instead).
pub trait Progress {
    /// A dependency's verdict changed.
    fn changed(&mut self, dep: &Dependency, readiness: &Readiness);
    /// Still waiting: the periodic sign of life, with the time left (`None`: no deadline).
    fn heartbeat(&mut self, board: &Board, remaining: Option<Duration>);
}

/// Wait until every dependency is Ready at once, `deadline` passes, `shutdown` resolves, or a
/// watcher reports a fatal error. `heartbeat` is the interval of [`Progress::heartbeat`].
pub async fn wait(
    board: &mut Board,
    watches: &[PodWatch],
    mut updates: UnboundedReceiver<Update>,
    deadline: Option<Instant>,
    heartbeat: Option<Duration>,
    shutdown: impl Future<Output = Signal>,
    progress: &mut impl Progress,
) -> Outcome {
    let mut shutdown = std::pin::pin!(shutdown);
    let timeout = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    let mut timeout = std::pin::pin!(timeout);
    let mut beat = heartbeat.map(|every| {
        let mut i = tokio::time::interval_at(Instant::now() + every, every);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
    let mut touched = vec![false; watches.len()];
    loop {
        // Signal and deadline first: a flood of updates must not starve them.
        let first = tokio::select! {
            biased;
            signal = &mut shutdown => return Outcome::Interrupted(signal),
            () = &mut timeout => return Outcome::TimedOut,
            _ = async { beat.as_mut().unwrap().tick().await }, if beat.is_some() => {
                progress.heartbeat(board, deadline.map(|d| d.saturating_duration_since(Instant::now())));
                continue;
            }
            update = updates.recv() => update,
        };
        // Take everything already queued, then judge once: a burst of events costs one pass.
        let mut next = first;
        while let Some(update) = next {
            match update {
                Update::Phase { index, phase } => {
                    board.set_phase(index, phase);
                    touched[index] = true;
                }
                Update::Changed { index } => touched[index] = true,
                Update::Fatal { error, .. } => return Outcome::Fatal(error),
            }
            next = updates.try_recv().ok();
        }
        for (index, flag) in touched.iter_mut().enumerate() {
            if std::mem::take(flag) {
                let store = &watches[index].store;
                for change in board.rejudge(index, || store.state()) {
                    progress.changed(&board.deps[change.dep], &change.readiness);
                }
            }
        }
        if board.all_ready() {
            return Outcome::Ready;
        }
        if updates.is_closed() && updates.is_empty() {
            // Every watcher task ended without a fatal error: cannot happen while they loop
            // forever, but never spin on a closed channel.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::LabelSelector;
    use serde_json::json;
    use std::sync::Arc;

    fn dep(ns: &str, sel: &str, min: Option<u32>) -> Dependency {
        Dependency {
            namespace: ns.into(),
            selector: LabelSelector::parse(sel).unwrap(),
            min,
            origin: "test".into(),
        }
    }

    fn pod(name: &str, ready: bool) -> Arc<Pod> {
        let status = if ready { "True" } else { "False" };
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": status}]}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn dependencies_with_the_same_namespace_and_selector_share_a_watcher() {
        let (board, keys) = Board::new(vec![
            dep("a", "app=x", None),
            dep("b", "app=x", None),
            dep("a", "app=x", Some(2)),
        ]);
        assert_eq!(keys.len(), 2);
        assert_eq!(board.watch_of, vec![0, 1, 0]);
    }

    #[test]
    fn ready_only_from_a_live_store() {
        let (mut board, _) = Board::new(vec![dep("a", "app=x", None)]);
        let pods = || vec![pod("p", true)];
        // While listing, a store that still shows a Ready pod does not count.
        board.rejudge(0, pods);
        assert!(!board.all_ready());
        board.set_phase(0, Phase::Live);
        let changes = board.rejudge(0, pods);
        assert_eq!(changes.len(), 1);
        assert!(board.all_ready());
        // An error makes the store untrustworthy until the next complete list.
        board.set_phase(0, Phase::Failing("connection refused".into()));
        board.rejudge(0, pods);
        assert!(!board.all_ready());
        let (_, v) = board.verdicts().next().unwrap();
        assert_eq!(
            v.summary,
            "API error, retrying: connection refused (last seen: 1/1 ready)"
        );
    }

    #[test]
    fn every_dependency_must_be_ready_together() {
        let (mut board, _) = Board::new(vec![dep("a", "app=x", None), dep("b", "app=y", None)]);
        board.set_phase(0, Phase::Live);
        board.set_phase(1, Phase::Live);
        board.rejudge(0, || vec![pod("x", true)]);
        board.rejudge(1, || vec![pod("y", false)]);
        assert!(!board.all_ready());
        board.rejudge(0, || vec![pod("x", false)]);
        board.rejudge(1, || vec![pod("y", true)]);
        assert!(!board.all_ready());
        board.rejudge(0, || vec![pod("x", true)]);
        assert!(board.all_ready());
    }

    #[test]
    fn unchanged_verdicts_are_not_reported_again() {
        let (mut board, _) = Board::new(vec![dep("a", "app=x", None)]);
        board.set_phase(0, Phase::Live);
        assert_eq!(board.rejudge(0, || vec![pod("x", false)]).len(), 1);
        assert_eq!(board.rejudge(0, || vec![pod("x", false)]).len(), 0);
    }
}
