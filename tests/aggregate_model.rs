//! Property test: the aggregator never releases when it should not, and never misses a release.
//!
//! Random event sequences — lists, list items, adds, updates, deletes, errors followed by a
//! fresh re-list — go through exactly what depwait runs (kube's reflector `Writer`, depwait's
//! `Tracker`, `Board`), and after every event the board's "all ready" is compared with a
//! reference model written the plain way: per watcher, the last complete list plus live
//! changes, trusted only while the watcher is live.

use std::collections::BTreeMap;

use depwait::slim::WatchedPod as Pod;
use kube::runtime::reflector;
use kube::runtime::watcher::Event;
use proptest::prelude::*;
use serde_json::json;

use depwait::aggregate::{Board, View};
use depwait::dependency::{Dependency, SourceKey, Target};
use depwait::selector::LabelSelector;
use depwait::watch::{Tracker, Update};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PodState {
    Ready,
    NotReady,
    /// Ready-looking but with deletionTimestamp set.
    Terminating,
    /// Phase Failed (evicted).
    Evicted,
}

#[derive(Debug, Clone)]
enum Op {
    Init,
    InitApply(u8, PodState),
    InitDone,
    Apply(u8, PodState),
    Delete(u8),
    Error,
}

fn pod(name: u8, state: PodState) -> Pod {
    let ready = if state == PodState::NotReady {
        "False"
    } else {
        "True"
    };
    let phase = if state == PodState::Evicted {
        "Failed"
    } else {
        "Running"
    };
    let mut meta = json!({"name": format!("p{name}"), "namespace": "ns"});
    if state == PodState::Terminating {
        meta["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    }
    serde_json::from_value(json!({
        "metadata": meta,
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]}
    }))
    .unwrap()
}

/// The watchers' stores, as the board reads them.
struct Stores<'a>(&'a [reflector::Store<Pod>]);

impl View for Stores<'_> {
    fn pods(&self, source: usize) -> Vec<std::sync::Arc<Pod>> {
        self.0[source].state()
    }
    fn dynamic(&self, _: usize) -> Vec<std::sync::Arc<kube::api::DynamicObject>> {
        Vec::new()
    }
}

/// The reference: the same rules as the README states them, written without depwait's code.
#[derive(Default, Clone)]
struct ModelWatch {
    live: bool,
    listing: bool,
    buffer: BTreeMap<u8, PodState>,
    store: BTreeMap<u8, PodState>,
}

fn model_ready(min: Option<u32>, w: &ModelWatch) -> bool {
    if !w.live {
        return false;
    }
    let counted: Vec<PodState> = w
        .store
        .values()
        .copied()
        .filter(|s| matches!(s, PodState::Ready | PodState::NotReady))
        .collect();
    let ready = counted.iter().filter(|s| **s == PodState::Ready).count();
    match min {
        None => !counted.is_empty() && ready == counted.len(),
        Some(min) => ready >= min as usize,
    }
}

fn state() -> impl Strategy<Value = PodState> {
    prop_oneof![
        4 => Just(PodState::Ready),
        3 => Just(PodState::NotReady),
        1 => Just(PodState::Terminating),
        1 => Just(PodState::Evicted),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Init),
        3 => (0u8..4, state()).prop_map(|(n, s)| Op::InitApply(n, s)),
        2 => Just(Op::InitDone),
        6 => (0u8..4, state()).prop_map(|(n, s)| Op::Apply(n, s)),
        2 => (0u8..4).prop_map(Op::Delete),
        1 => Just(Op::Error),
    ]
}

/// Dependencies: (watcher, min). Several may share a watcher, as equal keys do in depwait.
fn deps() -> impl Strategy<Value = Vec<(usize, Option<u32>)>> {
    prop::collection::vec((0usize..3, prop::option::of(1u32..4)), 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn board_agrees_with_the_model_after_every_event(
        deps in deps(),
        ops in prop::collection::vec((0usize..3, op()), 0..60),
    ) {
        let dependencies: Vec<Dependency> = deps
            .iter()
            .map(|(w, min)| Dependency {
                target: Target::Pods {
                    namespace: format!("ns{w}"),
                    selector: LabelSelector::parse("app=x").unwrap(),
                    min: *min,
                },
                origin: "model".into(),
            })
            .collect();
        let (mut board, keys) = Board::new(dependencies);
        // Board numbers watchers by first appearance; map the generator's watcher ids to them.
        let index_of = |w: usize| {
            keys.iter().position(|k| matches!(k, SourceKey::Watch(k) if k.namespace == format!("ns{w}")))
        };

        let mut writers: Vec<reflector::store::Writer<Pod>> = Vec::new();
        let mut stores = Vec::new();
        let mut trackers = Vec::new();
        for i in 0..keys.len() {
            let (store, writer) = reflector::store();
            writers.push(writer);
            stores.push(store);
            trackers.push(Tracker::new(i));
        }
        let mut model = vec![ModelWatch::default(); keys.len()];
        // What a real watcher stream can emit next: starts with Init; after an error depwait
        // starts a fresh watcher, which begins with Init again.
        let mut started = vec![false; keys.len()];

        for (w, op) in ops {
            let Some(i) = index_of(w) else { continue };
            let m = &mut model[i];
            // Coerce the random op into one a watcher could emit in its current state.
            let op = match op {
                _ if !started[i] => Op::Init,
                Op::Apply(n, s) if m.listing => Op::InitApply(n, s),
                Op::Delete(_) if m.listing => Op::InitDone,
                Op::InitApply(n, s) if !m.listing => Op::Apply(n, s),
                Op::InitDone if !m.listing => Op::Init,
                op => op,
            };
            let event = match &op {
                Op::Init => Some(Event::Init),
                Op::InitApply(n, s) => Some(Event::InitApply(pod(*n, *s))),
                Op::InitDone => Some(Event::InitDone),
                Op::Apply(n, s) => Some(Event::Apply(pod(*n, *s))),
                Op::Delete(n) => Some(Event::Delete(pod(*n, PodState::NotReady))),
                Op::Error => None,
            };
            // depwait's path.
            let update = match &event {
                Some(event) => {
                    writers[i].apply_watcher_event(event);
                    trackers[i].event(event)
                }
                None => Some(trackers[i].retrying("injected".into())),
            };
            if let Some(update) = update {
                match update {
                    Update::Phase { index, phase } => board.set_phase(index, phase),
                    Update::Changed { .. } => {}
                    Update::Fatal { .. } | Update::Probe { .. } => unreachable!(),
                }
                board.rejudge(i, &Stores(&stores));
            }
            // The model's path.
            match op {
                Op::Init => {
                    started[i] = true;
                    m.live = false;
                    m.listing = true;
                    m.buffer.clear();
                }
                Op::InitApply(n, s) => {
                    m.buffer.insert(n, s);
                }
                Op::InitDone => {
                    m.store = std::mem::take(&mut m.buffer);
                    m.listing = false;
                    m.live = true;
                }
                Op::Apply(n, s) => {
                    m.store.insert(n, s);
                }
                Op::Delete(n) => {
                    m.store.remove(&n);
                }
                Op::Error => {
                    m.live = false;
                    m.listing = false;
                    started[i] = false;
                }
            }
            let want = deps
                .iter()
                .all(|(w, min)| model_ready(*min, &model[index_of(*w).unwrap()]));
            prop_assert_eq!(board.all_ready(), want, "after {:?} on watcher {}", op, i);
        }
    }
}
