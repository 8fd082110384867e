//! The one future that decides: released when every dependency is Ready at the same moment,
//! or ended by the deadline, a signal, or an error waiting cannot fix.
//!
//! [`Board`] is the pure part (phases and readiness, no I/O) so it can be tested against a
//! reference model; [`wait`] drives it from the watchers' updates.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::shutdown::Signal;
use crate::slim::WatchedPod;
use kube::api::DynamicObject;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use crate::api_error::FatalApiError;
use crate::dependency::{Dependency, Rule, SourceKey};
use crate::probe::{Check, ProbeStatus};
use crate::readiness::service::Step;
use crate::readiness::{self, Readiness, object, pod};
use crate::watch::{Phase, Update};

/// How a wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every dependency was Ready at once.
    Ready,
    /// The deadline passed first.
    TimedOut,
    /// A watcher hit an error no retry can fix (403, 401, ...).
    Fatal(FatalApiError),
    /// A dependency failed for good (a Job's `Failed=True`): dependency `dep` of the board.
    Failed {
        /// Index into the dependencies.
        dep: usize,
    },
    /// SIGTERM or SIGINT arrived.
    Interrupted(Signal),
}

/// What the board knows of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SourceState {
    /// A watcher: whether its store can be trusted.
    Watch(Phase),
    /// A probe: its last result (`None` before the first).
    Probe(Option<ProbeStatus>),
}

/// Read access to the sources' objects (the watchers' stores, or a one-off list in `check`).
pub trait View {
    /// The pods of source `source`.
    fn pods(&self, source: usize) -> Vec<Arc<WatchedPod>>;
    /// The untyped objects of source `source`.
    fn dynamic(&self, source: usize) -> Vec<Arc<DynamicObject>>;
}

/// Each dependency's current verdict, and what each source can be trusted for.
#[derive(Debug, Clone)]
pub struct Board {
    /// What is waited for.
    deps: Vec<Dependency>,
    /// Every distinct source, by index; dependencies with equal keys share one.
    keys: Vec<SourceKey>,
    /// For each dependency, its rule, with its sources' indexes.
    rules: Vec<Rule<usize>>,
    /// For each source, its phase or probe result.
    states: Vec<SourceState>,
    /// Each dependency's verdict as last judged.
    judged: Vec<Readiness>,
    /// Each dependency's last verdict from live stores, kept to explain outages.
    last_live: Vec<Option<String>>,
    /// Probes a judgement needs that no source provides yet (an ExternalName Service's name):
    /// [`Board::settle`] has them started.
    wanted: Vec<Check>,
    /// For each Service dependency last seen as `type: ExternalName`, the probe of its
    /// external name, which feeds the dependency too (once [`Board::settle`] has added it).
    external_of: Vec<Option<Check>>,
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
    /// A board for `deps`; returns the distinct sources too, in index order.
    pub fn new(deps: Vec<Dependency>) -> (Self, Vec<SourceKey>) {
        let mut board = Self {
            keys: Vec::new(),
            rules: Vec::new(),
            states: Vec::new(),
            judged: vec![Readiness::unknown("starting".into()); deps.len()],
            last_live: vec![None; deps.len()],
            wanted: Vec::new(),
            external_of: vec![None; deps.len()],
            deps: Vec::new(),
        };
        for dep in &deps {
            let rule = dep.rule().map(|key| board.source(key));
            board.rules.push(rule);
        }
        board.deps = deps;
        let keys = board.keys.clone();
        (board, keys)
    }

    /// The index of source `key`, added if new.
    fn source(&mut self, key: SourceKey) -> usize {
        if let Some(i) = self.index_of(&key) {
            return i;
        }
        self.states.push(match key {
            SourceKey::Watch(_) => SourceState::Watch(Phase::Listing),
            SourceKey::Probe(_) => SourceState::Probe(None),
        });
        self.keys.push(key);
        self.keys.len() - 1
    }

    fn index_of(&self, key: &SourceKey) -> Option<usize> {
        self.keys.iter().position(|k| k == key)
    }

    /// The dependencies, in the order given.
    pub fn dependencies(&self) -> &[Dependency] {
        &self.deps
    }

    /// Every source, by index.
    pub fn sources(&self) -> &[SourceKey] {
        &self.keys
    }

    /// Dependency `dep`'s rule, with its sources' indexes.
    pub fn rule(&self, dep: usize) -> &Rule<usize> {
        &self.rules[dep]
    }

    /// Record a watcher's new phase.
    pub fn set_phase(&mut self, source: usize, phase: Phase) {
        self.states[source] = SourceState::Watch(phase);
    }

    /// Record a probe's new result.
    pub fn set_probe(&mut self, source: usize, status: ProbeStatus) {
        self.states[source] = SourceState::Probe(Some(status));
    }

    /// Re-judge every dependency that reads `source`; returns those whose verdict changed.
    pub fn rejudge(&mut self, source: usize, view: &dyn View) -> Vec<Change> {
        let mut changes = Vec::new();
        for dep in 0..self.deps.len() {
            if !self.reads(dep, source) {
                continue;
            }
            let readiness = self.judge(dep, view);
            if readiness != self.judged[dep] {
                self.judged[dep] = readiness.clone();
                changes.push(Change { dep, readiness });
            }
        }
        changes
    }

    /// The one judging step of a wait and of `depwait check`: re-judge what reads the
    /// `touched` sources, start the probes those judgements asked for (as new sources, judged
    /// at once as "resolving", and again when their first result comes), and report each
    /// verdict that changed. `touched` is indexed like [`Board::sources`], grown for new ones,
    /// and left all false.
    pub fn settle(
        &mut self,
        touched: &mut Vec<bool>,
        sources: &mut impl Sources,
        mut changed: impl FnMut(&Dependency, &Readiness),
    ) {
        while touched.iter().any(|t| *t) {
            for (index, flag) in touched.iter_mut().enumerate() {
                if std::mem::take(flag) {
                    for change in self.rejudge(index, sources) {
                        changed(&self.deps[change.dep], &change.readiness);
                    }
                }
            }
            for check in std::mem::take(&mut self.wanted) {
                let key = SourceKey::Probe(check.clone());
                // Two Services may alias one name: one probe, which feeds both.
                if self.index_of(&key).is_some() {
                    continue;
                }
                let index = self.source(key);
                sources.start_probe(index, &check);
                touched.resize(self.keys.len(), false);
                touched[index] = true;
            }
        }
    }

    /// Whether dependency `dep` reads `source`, directly or through the probe its
    /// ExternalName Service asked for.
    fn reads(&self, dep: usize, source: usize) -> bool {
        self.rules[dep].reads(&source)
            || matches!((&self.keys[source], &self.external_of[dep]),
                (SourceKey::Probe(probe), Some(external)) if probe == external)
    }

    fn judge(&mut self, dep: usize, view: &dyn View) -> Readiness {
        let r = match self.rules[dep].clone() {
            Rule::Probe { probe } => return readiness::probe::judge(self.probe(probe)),
            Rule::Pods { min, pods } => match self.not_live(dep, pods, "listing pods") {
                Some(waiting) => return waiting,
                None => pod::judge(min, view.pods(pods).iter().map(|p| p.as_ref())),
            },
            Rule::Object { target, object } => match self.not_live(dep, object, "listing") {
                Some(waiting) => return waiting,
                None => object::judge(&target, &view.dynamic(object)),
            },
            Rule::Service {
                target,
                service,
                endpoints,
                fallback,
            } => {
                if let Some(waiting) = self.not_live(dep, service, "listing services") {
                    return waiting;
                }
                let seen = view.dynamic(service).into_iter().next();
                self.external_of[dep] = None;
                let fallback = fallback.map(|f| self.probe(f));
                match readiness::service::judge(&target, seen.as_deref(), fallback) {
                    Step::Done(r) => r,
                    Step::Endpoints => match self.not_live(dep, endpoints, "listing endpoints") {
                        Some(waiting) => return waiting,
                        None => readiness::endpoints::judge(
                            target.min,
                            target.hostname.as_deref(),
                            &view.dynamic(endpoints),
                        ),
                    },
                    Step::Resolve(check) => {
                        let probe = self.index_of(&SourceKey::Probe(check.clone()));
                        if probe.is_none() {
                            self.wanted.push(check.clone());
                        }
                        self.external_of[dep] = Some(check.clone());
                        readiness::service::external_name(&check, probe.and_then(|p| self.probe(p)))
                    }
                }
            }
        };
        self.last_live[dep] = Some(r.summary.clone());
        r
    }

    /// A probe's last result, if it has one.
    fn probe(&self, source: usize) -> Option<&ProbeStatus> {
        match &self.states[source] {
            SourceState::Probe(status) => status.as_ref(),
            SourceState::Watch(_) => None,
        }
    }

    /// The not-ready verdict while `source` is not live; `None` when it is.
    fn not_live(&self, dep: usize, source: usize, listing: &str) -> Option<Readiness> {
        let (what, api_error) = match &self.states[source] {
            SourceState::Watch(Phase::Live) | SourceState::Probe(_) => return None,
            SourceState::Watch(Phase::Listing) => (listing.to_string(), false),
            SourceState::Watch(Phase::Failing(reason)) => {
                (format!("API error, retrying: {reason}"), true)
            }
            SourceState::Watch(Phase::NotServed(reason)) => (reason.clone(), false),
        };
        let summary = match &self.last_live[dep] {
            Some(last) => format!("{what} (last seen: {last})"),
            None => what,
        };
        Some(match api_error {
            true => Readiness::api_error(summary),
            false => Readiness::unknown(summary),
        })
    }

    /// The first dependency that failed for good, if any.
    pub fn failed(&self) -> Option<usize> {
        self.judged.iter().position(Readiness::is_failed)
    }

    /// True when every dependency is Ready now, each from live stores.
    pub fn all_ready(&self) -> bool {
        self.judged.iter().all(Readiness::is_ready)
    }

    /// Every dependency with its current verdict.
    pub fn judged(&self) -> impl Iterator<Item = (&Dependency, &Readiness)> {
        self.deps.iter().zip(&self.judged)
    }
}

/// What the waiting loop reports as it goes (progress logs; tests may record instead).
pub trait Progress {
    /// A dependency's verdict changed.
    fn changed(&mut self, dep: &Dependency, readiness: &Readiness);
    /// Still waiting: the periodic sign of life, with the time left (`None`: no deadline).
    fn heartbeat(&mut self, board: &Board, remaining: Option<Duration>);
}

/// The running sources, as the waiting loop needs them.
pub trait Sources: View {
    /// Start probing `check` as source `index` (an ExternalName Service's name, found while
    /// judging); a wait's results arrive as [`Update::Probe`].
    fn start_probe(&mut self, index: usize, check: &Check);
}

/// Wait until every dependency is Ready at once, `deadline` passes, `shutdown` resolves, or a
/// watcher reports a fatal error. `heartbeat` is the interval of [`Progress::heartbeat`].
pub async fn wait(
    board: &mut Board,
    sources: &mut impl Sources,
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
    let mut touched = vec![false; board.sources().len()];
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
                Update::Probe { index, status } => {
                    board.set_probe(index, status);
                    touched[index] = true;
                }
                Update::Fatal { error, .. } => return Outcome::Fatal(error),
            }
            next = updates.try_recv().ok();
        }
        board.settle(&mut touched, sources, |dep, readiness| {
            progress.changed(dep, readiness)
        });
        if board.all_ready() {
            return Outcome::Ready;
        }
        if let Some(dep) = board.failed() {
            return Outcome::Failed { dep };
        }
        if updates.is_closed() && updates.is_empty() {
            // Every source task ended without a fatal error: cannot happen while they loop
            // forever, but never spin on a closed channel.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dependency::{ServiceTarget, Target};
    use crate::selector::LabelSelector;
    use serde_json::json;

    fn dep(ns: &str, sel: &str, min: Option<u32>) -> Dependency {
        Dependency {
            target: Target::Pods {
                namespace: ns.into(),
                selector: LabelSelector::parse(sel).unwrap(),
                min,
            },
            origin: "test".into(),
        }
    }

    fn pod(name: &str, ready: bool) -> Arc<WatchedPod> {
        let status = if ready { "True" } else { "False" };
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": status}]}
            }))
            .unwrap(),
        )
    }

    /// Sources as plain vectors, by index; probes started are recorded.
    #[derive(Default)]
    struct Fake {
        pods: Vec<Vec<Arc<WatchedPod>>>,
        dynamic: Vec<Vec<Arc<DynamicObject>>>,
        started: Vec<(usize, Check)>,
    }

    impl Sources for Fake {
        fn start_probe(&mut self, index: usize, check: &Check) {
            self.started.push((index, check.clone()));
        }
    }

    impl Fake {
        fn with_pods(pods: Vec<Vec<Arc<WatchedPod>>>) -> Self {
            Self {
                pods,
                ..Self::default()
            }
        }
    }

    impl View for Fake {
        fn pods(&self, source: usize) -> Vec<Arc<WatchedPod>> {
            self.pods.get(source).cloned().unwrap_or_default()
        }
        fn dynamic(&self, source: usize) -> Vec<Arc<DynamicObject>> {
            self.dynamic.get(source).cloned().unwrap_or_default()
        }
    }

    #[test]
    fn dependencies_with_the_same_namespace_and_selector_share_a_watcher() {
        let (board, keys) = Board::new(vec![
            dep("a", "app=x", None),
            dep("b", "app=x", None),
            dep("a", "app=x", Some(2)),
        ]);
        assert_eq!(keys.len(), 2);
        let pods = |dep| match board.rule(dep) {
            Rule::Pods { pods, .. } => *pods,
            other => panic!("{other:?}"),
        };
        assert_eq!([pods(0), pods(1), pods(2)], [0, 1, 0]);
    }

    #[test]
    fn ready_only_from_a_live_store() {
        let (mut board, _) = Board::new(vec![dep("a", "app=x", None)]);
        let pods = Fake::with_pods(vec![vec![pod("p", true)]]);
        // While listing, a store that still shows a Ready pod does not count.
        board.rejudge(0, &pods);
        assert!(!board.all_ready());
        board.set_phase(0, Phase::Live);
        let changes = board.rejudge(0, &pods);
        assert_eq!(changes.len(), 1);
        assert!(board.all_ready());
        // An error makes the store untrustworthy until the next complete list.
        board.set_phase(0, Phase::Failing("connection refused".into()));
        board.rejudge(0, &pods);
        assert!(!board.all_ready());
        let (_, v) = board.judged().next().unwrap();
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
        let mut view = Fake::with_pods(vec![vec![pod("x", true)], vec![pod("y", false)]]);
        board.rejudge(0, &view);
        board.rejudge(1, &view);
        assert!(!board.all_ready());
        view.pods = vec![vec![pod("x", false)], vec![pod("y", true)]];
        board.rejudge(0, &view);
        board.rejudge(1, &view);
        assert!(!board.all_ready());
        view.pods[0] = vec![pod("x", true)];
        board.rejudge(0, &view);
        assert!(board.all_ready());
    }

    #[test]
    fn unchanged_verdicts_are_not_reported_again() {
        let (mut board, _) = Board::new(vec![dep("a", "app=x", None)]);
        board.set_phase(0, Phase::Live);
        let view = Fake::with_pods(vec![vec![pod("x", false)]]);
        assert_eq!(board.rejudge(0, &view).len(), 1);
        assert_eq!(board.rejudge(0, &view).len(), 0);
    }

    fn service_dep(fallback: Option<&str>) -> Dependency {
        Dependency {
            target: Target::Service(ServiceTarget {
                namespace: "db".into(),
                name: "mysql".into(),
                min: 1,
                hostname: None,
                written: None,
                absolute_fallback: fallback.map(str::to_string),
            }),
            origin: "test".into(),
        }
    }

    fn object(value: serde_json::Value) -> Arc<DynamicObject> {
        Arc::new(serde_json::from_value(value).unwrap())
    }

    fn ready_slice() -> Arc<DynamicObject> {
        object(
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "s"}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": true}}]}),
        )
    }

    #[test]
    fn a_service_needs_both_its_watches_live() {
        let (mut board, keys) = Board::new(vec![service_dep(None)]);
        assert_eq!(keys.len(), 2);
        let view = Fake {
            dynamic: vec![
                vec![object(
                    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "mysql"}, "spec": {}}),
                )],
                vec![ready_slice()],
            ],
            ..Fake::default()
        };
        board.set_phase(0, Phase::Live);
        board.rejudge(0, &view);
        assert!(!board.all_ready(), "endpoint watch still listing");
        board.set_phase(1, Phase::Live);
        board.rejudge(1, &view);
        assert!(board.all_ready());
        // No Service (deleted, or not created yet): keep waiting, whatever slices linger.
        let gone = Fake {
            dynamic: vec![vec![], vec![ready_slice()]],
            ..Fake::default()
        };
        board.rejudge(0, &gone);
        assert!(!board.all_ready());
        assert_eq!(
            board.judged().next().unwrap().1.summary,
            "Service db/mysql does not exist yet"
        );
    }

    #[test]
    fn an_ambiguous_name_without_a_service_counts_when_its_absolute_name_resolves() {
        let (mut board, keys) = Board::new(vec![service_dep(Some("mysql.db."))]);
        assert_eq!(keys[2], SourceKey::Probe(Check::dns("mysql.db.")));
        let view = Fake::default();
        board.set_phase(0, Phase::Live);
        board.set_phase(1, Phase::Live);
        board.set_probe(2, ProbeStatus::NotReady("NXDOMAIN".into()));
        board.rejudge(2, &view);
        assert!(!board.all_ready());
        board.set_probe(2, ProbeStatus::Ready("10.1.2.3".into()));
        board.rejudge(2, &view);
        assert!(board.all_ready());
        // Once the Service exists, only its endpoints count.
        let with_service = Fake {
            dynamic: vec![
                vec![object(
                    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "mysql"}, "spec": {}}),
                )],
                vec![],
            ],
            ..Fake::default()
        };
        board.rejudge(0, &with_service);
        assert!(!board.all_ready());
    }

    #[test]
    fn an_external_name_service_asks_for_a_probe_of_its_name() {
        let (mut board, _) = Board::new(vec![service_dep(None)]);
        let view = Fake {
            dynamic: vec![
                vec![object(json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "mysql"},
                    "spec": {"type": "ExternalName", "externalName": "db.example.com"}}))],
                vec![],
            ],
            ..Fake::default()
        };
        let mut view = view;
        board.set_phase(0, Phase::Live);
        let mut changes = Vec::new();
        board.settle(&mut vec![true, false], &mut view, |_, r| {
            changes.push(r.clone())
        });
        assert_eq!(view.started, vec![(2, Check::dns("db.example.com"))]);
        assert_eq!(changes.len(), 1, "judged once, as resolving: {changes:?}");
        assert_eq!(changes[0].summary, "ExternalName db.example.com: resolving");
        board.set_probe(2, ProbeStatus::Ready("10.9.9.9".into()));
        let changes = board.rejudge(2, &view);
        assert_eq!(changes.len(), 1);
        assert!(board.all_ready());
        assert_eq!(
            changes[0].readiness.summary,
            "ExternalName db.example.com: 10.9.9.9"
        );
    }
}
