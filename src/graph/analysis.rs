//! What the gates add up to: the cycles nothing can break, the self-waits that cannot be met,
//! the dependencies nothing satisfies, and the waves a cold start goes through.
//!
//! A cold start is simulated, not guessed: wave 0 is every workload whose gates need nothing
//! in the graph; wave N+1 every workload whose every dependency is met by workloads of waves
//! up to N — counting replicas for a `:MIN` (a quorum may be met before every supplier is up),
//! and never counting a workload's own pods for itself (a pod held by its init container is not
//! Ready; under `OrderedReady` a StatefulSet's later pods do not exist yet). What no wave
//! reaches never starts, and the findings say why.

use std::collections::{BTreeMap, BTreeSet};

use super::gates::{Gate, GateProblem};
use super::objects::Inventory;
use super::resolve::{Need, Scope, Supply};

/// The graph and what was found in it.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Every dependency of every gate, resolved.
    pub needs: Vec<Need>,
    /// Most serious first.
    pub findings: Vec<Finding>,
    /// Per workload (inventory index): its wave in a cold start; `None`: it never starts.
    pub waves: Vec<Option<usize>>,
    /// The gated workloads' gates, by workload.
    pub gates: BTreeMap<usize, Vec<Gate>>,
    /// The edges on a cycle or a self-wait, as (need index, supplier).
    pub cycle_edges: BTreeSet<(usize, usize)>,
}

impl Analysis {
    /// The workloads a drawing shows, in inventory order: the gated ones and every one that
    /// supplies something.
    pub fn shown_workloads(&self) -> Vec<usize> {
        let mut shown: Vec<usize> = self.gates.keys().copied().collect();
        for need in &self.needs {
            if let Supply::Workloads { suppliers, .. } = &need.supply {
                shown.extend(suppliers.iter().map(|(s, _)| *s));
            }
        }
        shown.sort();
        shown.dedup();
        shown
    }
}

/// One thing found, about one workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What kind of thing.
    pub kind: FindingKind,
    /// The workload it is about (for a cycle: where its path starts).
    pub workload: usize,
    /// The dependency, as depwait names it, where there is one.
    pub dependency: Option<String>,
    /// The explanation.
    pub text: String,
    /// A cycle's path: workload, then the dependency by which it waits for the next.
    pub path: Vec<(usize, String)>,
}

/// The kinds of finding, most serious first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FindingKind {
    /// Workloads that wait for one another: none of them can ever start.
    Cycle,
    /// A workload whose pods wait for its own pods in a way that can never be met.
    SelfWait,
    /// Nothing in scope can satisfy a dependency.
    Unsatisfiable,
    /// depwait would refuse the gate's configuration: the pod never starts.
    BrokenGate,
    /// Part of a gate could not be read (a Secret, a shell): not judged.
    Unread,
    /// A dependency in a namespace that was not read: not judged.
    OutOfScope,
}

impl FindingKind {
    /// Whether it makes `depwait graph` exit 1.
    pub fn is_error(self) -> bool {
        self <= FindingKind::BrokenGate
    }

    /// The heading of its section, and its name in JSON.
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::Cycle => "cycle",
            FindingKind::SelfWait => "self-wait",
            FindingKind::Unsatisfiable => "unsatisfiable",
            FindingKind::BrokenGate => "broken-gate",
            FindingKind::Unread => "unread",
            FindingKind::OutOfScope => "out-of-scope",
        }
    }
}

/// Analyse the gates of what was read.
pub fn analyse(scope: &Scope<'_>, gates: BTreeMap<usize, Vec<Gate>>) -> Analysis {
    let inventory = scope.inventory;
    let mut needs = Vec::new();
    let mut findings = Vec::new();
    let mut broken = BTreeSet::new();
    for (&w, list) in &gates {
        for gate in list {
            for problem in &gate.problems {
                let (kind, text) = match problem {
                    GateProblem::Invalid(t) => {
                        broken.insert(w);
                        (FindingKind::BrokenGate, t)
                    }
                    GateProblem::Unread(t) => (FindingKind::Unread, t),
                };
                findings.push(Finding {
                    kind,
                    workload: w,
                    dependency: None,
                    text: format!("init container {}: {text}", gate.container),
                    path: Vec::new(),
                });
            }
            for dependency in &gate.dependencies {
                let supply = scope.supply(dependency);
                let about = |kind, text: &String| Finding {
                    kind,
                    workload: w,
                    dependency: Some(dependency.to_string()),
                    text: text.clone(),
                    path: Vec::new(),
                };
                match &supply {
                    Supply::Nothing(why) => findings.push(about(FindingKind::Unsatisfiable, why)),
                    Supply::OutOfScope(why) => findings.push(about(FindingKind::OutOfScope, why)),
                    _ => {}
                }
                needs.push(Need {
                    from: w,
                    container: gate.container.clone(),
                    dependency: dependency.clone(),
                    supply,
                });
            }
        }
    }

    // Hard edges: a supplier without whose pods the dependency cannot be met.
    let mut hard: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
    let mut cycle_edges = BTreeSet::new();
    for (n, need) in needs.iter().enumerate() {
        for s in hard_suppliers(need) {
            if s == need.from {
                findings.push(self_wait(inventory, need));
                cycle_edges.insert((n, s));
            } else {
                hard.entry(need.from).or_default().push((s, n));
            }
        }
    }
    for component in strongly_connected(inventory.workloads.len(), &hard) {
        let path = cycle_path(&component, &hard);
        for window in path.windows(2) {
            cycle_edges.insert((window[0].1, window[1].0));
        }
        let start = path[0].0;
        findings.push(Finding {
            kind: FindingKind::Cycle,
            workload: start,
            dependency: None,
            text: format!(
                "{} workloads wait for one another: none of them can ever start",
                component.len()
            ),
            path: path
                .iter()
                .map(|&(w, n)| (w, needs[n].dependency.to_string()))
                .collect(),
        });
    }
    findings.sort_by_key(|f| (f.kind, f.workload));
    let waves = cold_start(inventory, &needs, &broken);
    Analysis {
        needs,
        findings,
        waves,
        gates,
        cycle_edges,
    }
}

/// The suppliers a need cannot do without ([`Supply::needs`]).
fn hard_suppliers(need: &Need) -> Vec<usize> {
    match &need.supply {
        Supply::Workloads { suppliers, .. } => suppliers
            .iter()
            .map(|(s, _)| *s)
            .filter(|s| need.supply.needs(*s))
            .collect(),
        _ => Vec::new(),
    }
}

fn self_wait(inventory: &Inventory, need: &Need) -> Finding {
    let w = &inventory.workloads[need.from];
    let Supply::Workloads { suppliers, min } = &need.supply else {
        unreachable!("only a workload supply has suppliers")
    };
    let others: u32 = suppliers
        .iter()
        .filter(|(s, _)| *s != need.from)
        .map(|(_, n)| n.unwrap_or(0))
        .sum();
    let elsewhere = match others {
        0 => "no other workload runs pods that match".to_string(),
        n => format!("other workloads can supply only {n}"),
    };
    let text = match min {
        None => "its own pods match, and every matching pod must be Ready: a pod held by its \
                 init container is not, so none of them can start"
            .to_string(),
        Some(min) if w.ordered => format!(
            "under OrderedReady {name}-1 is created only once {name}-0 is Ready, and {name}-0 \
             waits for {min} Ready pods; {elsewhere}",
            name = w.name
        ),
        Some(min) => format!(
            "all its pods wait for {min} Ready pods matching themselves, and {elsewhere}: none \
             of them can start"
        ),
    };
    Finding {
        kind: FindingKind::SelfWait,
        workload: need.from,
        dependency: Some(need.dependency.to_string()),
        text,
        path: Vec::new(),
    }
}

/// The cold start, wave by wave (see the module's docs).
fn cold_start(
    inventory: &Inventory,
    needs: &[Need],
    broken: &BTreeSet<usize>,
) -> Vec<Option<usize>> {
    let count = inventory.workloads.len();
    let mut waves: Vec<Option<usize>> = vec![None; count];
    let mut by_workload: Vec<Vec<&Need>> = vec![Vec::new(); count];
    for need in needs {
        by_workload[need.from].push(need);
    }
    for wave in 0.. {
        let up: Vec<bool> = waves.iter().map(Option::is_some).collect();
        let mut started = false;
        for w in 0..count {
            if waves[w].is_some() || broken.contains(&w) {
                continue;
            }
            if by_workload[w].iter().all(|n| met(n, &up)) {
                waves[w] = Some(wave);
                started = true;
            }
        }
        if !started {
            break;
        }
    }
    waves
}

/// Whether `need` is met once the workloads marked in `up` are Ready.
fn met(need: &Need, up: &[bool]) -> bool {
    match &need.supply {
        Supply::External(_) | Supply::OutOfScope(_) => true,
        Supply::Nothing(_) => false,
        Supply::Workloads { suppliers, min } => {
            // A workload's own pods never count for it (see the module's docs).
            let ready = |s: usize| s != need.from && up[s];
            match min {
                None => suppliers.iter().all(|(s, _)| ready(*s)),
                Some(min) => {
                    let mut have: u64 = 0;
                    for (s, n) in suppliers {
                        if ready(*s) {
                            match n {
                                None => return true,
                                Some(n) => have += u64::from(*n),
                            }
                        }
                    }
                    have >= u64::from(*min)
                }
            }
        }
    }
}

/// Tarjan's strongly connected components of more than one workload.
fn strongly_connected(
    count: usize,
    edges: &BTreeMap<usize, Vec<(usize, usize)>>,
) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a BTreeMap<usize, Vec<(usize, usize)>>,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        stack: Vec<usize>,
        on_stack: Vec<bool>,
        next: usize,
        found: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &(w, _) in s.edges.get(&v).map(Vec::as_slice).unwrap_or_default() {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(i) if s.on_stack[w] => s.low[v] = s.low[v].min(i),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: vec![None; count],
        low: vec![0; count],
        stack: Vec::new(),
        on_stack: vec![false; count],
        next: 0,
        found: Vec::new(),
    };
    for v in 0..count {
        if state.index[v].is_none() {
            visit(&mut state, v);
        }
    }
    state.found.sort();
    state.found
}

/// One cycle through a component, from its first workload back to it: each step is
/// (workload, the need by which it waits for the next); the last step repeats the first
/// workload.
fn cycle_path(
    component: &[usize],
    edges: &BTreeMap<usize, Vec<(usize, usize)>>,
) -> Vec<(usize, usize)> {
    let inside: BTreeSet<usize> = component.iter().copied().collect();
    let start = component[0];
    // Breadth-first from start, to the shortest way back.
    let mut came: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut last = None;
    'search: while let Some(v) = queue.pop_front() {
        for &(w, n) in edges.get(&v).map(Vec::as_slice).unwrap_or_default() {
            if !inside.contains(&w) {
                continue;
            }
            if w == start {
                last = Some((v, n));
                break 'search;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = came.entry(w) {
                e.insert((v, n));
                queue.push_back(w);
            }
        }
    }
    let (mut v, n) = last.expect("a strongly connected component has a cycle through each node");
    let mut steps = vec![(v, n)];
    while v != start {
        let (prev, n) = came[&v];
        steps.push((prev, n));
        v = prev;
    }
    steps.reverse();
    let first_need = steps[0].1;
    steps.push((start, first_need));
    steps
}
