//! The graph as text for people, DOT for Graphviz, Mermaid for markdown, JSON for tools. All
//! four show the same nodes, edges and findings, in the same order.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Value, json};

use super::analysis::{Analysis, FindingKind};
use super::objects::Inventory;
use super::resolve::Supply;
use super::status::{self, Now, Status};

/// How the graph is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Findings, then the startup order, for a terminal or a CI log.
    Text,
    /// Graphviz: `depwait graph --output dot | dot -Tsvg > startup.svg`.
    Dot,
    /// A Mermaid flowchart, which GitHub and GitLab render in markdown.
    Mermaid,
    /// One JSON document: nodes, edges, findings, waves.
    Json,
}

/// A node of the drawing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    /// A workload (inventory index).
    Workload(usize),
    /// Something outside the graph.
    External(String),
    /// What a dependency nothing satisfies would need.
    Missing(String),
}

/// One edge of the drawing: a waiting workload, what it waits for, by which dependency.
struct Edge {
    /// The need it draws (an index into the analysis' needs).
    need: usize,
    from: usize,
    to: usize,
    dependency: String,
    container: String,
    hard: bool,
    cycle: bool,
}

/// The nodes and edges, in a stable order: workloads by namespace, kind and name, then
/// what is outside, then what is missing.
struct Drawing {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

impl Drawing {
    fn of(analysis: &Analysis) -> Self {
        let shown = analysis.shown_workloads();
        let index_of: BTreeMap<usize, usize> =
            shown.iter().enumerate().map(|(i, &w)| (w, i)).collect();
        // Outside nodes come after the workloads, numbered in the order first met.
        let base = shown.len();
        let mut others: Vec<Node> = Vec::new();
        let mut edges = Vec::new();
        for (n, need) in analysis.needs.iter().enumerate() {
            let from = index_of[&need.from];
            let edge = |to: usize, hard: bool, cycle: bool| Edge {
                need: n,
                from,
                to,
                dependency: need.dependency.to_string(),
                container: need.container.clone(),
                hard,
                cycle,
            };
            match &need.supply {
                Supply::Workloads { suppliers, .. } => {
                    for (s, _) in suppliers {
                        let cycle = analysis.cycle_edges.contains(&(n, *s));
                        edges.push(edge(index_of[s], need.supply.needs(*s), cycle));
                    }
                }
                Supply::External(text) | Supply::OutOfScope(text) => {
                    let at = place(&mut others, Node::External(text.clone()));
                    edges.push(edge(base + at, false, false));
                }
                Supply::Nothing(text) => {
                    let at = place(&mut others, Node::Missing(text.clone()));
                    edges.push(edge(base + at, true, false));
                }
            }
        }
        let mut nodes: Vec<Node> = shown.into_iter().map(Node::Workload).collect();
        nodes.extend(others);
        Drawing { nodes, edges }
    }
}

fn place(list: &mut Vec<Node>, node: Node) -> usize {
    match list.iter().position(|n| *n == node) {
        Some(i) => i,
        None => {
            list.push(node);
            list.len() - 1
        }
    }
}

/// Write the graph in `format`; with `status` (`--status`), what is true now too.
pub fn render(
    format: Format,
    inventory: &Inventory,
    analysis: &Analysis,
    status: Option<&Status>,
) -> String {
    match format {
        Format::Text => text(inventory, analysis, status),
        Format::Dot => dot(inventory, analysis, status),
        Format::Mermaid => mermaid(inventory, analysis, status),
        Format::Json => {
            let mut out = serde_json::to_string_pretty(&to_json(inventory, analysis, status))
                .expect("a JSON value serializes");
            out.push('\n');
            out
        }
    }
}

fn wave_label(analysis: &Analysis, w: usize) -> String {
    match analysis.waves[w] {
        Some(n) => format!("wave {n}"),
        None => "never starts".into(),
    }
}

fn label(inventory: &Inventory, node: &Node) -> String {
    match node {
        Node::Workload(w) => inventory.workloads[*w].id(),
        Node::External(t) => t.clone(),
        Node::Missing(t) => format!("unsatisfiable: {t}"),
    }
}

fn text(inventory: &Inventory, analysis: &Analysis, status: Option<&Status>) -> String {
    let id = |w: usize| inventory.workloads[w].id();
    let mut out = String::new();
    let gated = analysis.gates.len();
    let deps = analysis.needs.len();
    let _ = writeln!(
        out,
        "depwait graph: {} read, {gated} gated by depwait, {}",
        plural(inventory.workloads.len(), "workload"),
        plural(deps, "dependency"),
    );
    if !inventory.unread_namespaces.is_empty() {
        let _ = writeln!(
            out,
            "not read: {} (this identity may not list them)",
            plural(inventory.unread_namespaces.len(), "namespace")
        );
        for (ns, why) in &inventory.unread_namespaces {
            let _ = writeln!(out, "  {ns}: {why}");
        }
    }
    for f in &analysis.findings {
        out.push('\n');
        let heading = f.kind.name().to_uppercase();
        match f.kind {
            FindingKind::Cycle => {
                let mut path = String::new();
                for (i, (w, dep)) in f.path.iter().enumerate() {
                    if i + 1 == f.path.len() {
                        let _ = write!(path, "{}", id(*w));
                    } else {
                        let _ = write!(path, "{} --[{dep}]--> ", id(*w));
                    }
                }
                let _ = writeln!(out, "{heading}  {path}");
            }
            _ => {
                let dep = f
                    .dependency
                    .as_ref()
                    .map(|d| format!(" [{d}]"))
                    .unwrap_or_default();
                let _ = writeln!(out, "{heading}  {}{dep}", id(f.workload));
            }
        }
        let _ = writeln!(out, "  {}", f.text);
    }
    out.push_str("\nstartup order (a cold start):\n");
    let drawing = Drawing::of(analysis);
    let mut by_wave: BTreeMap<Option<usize>, Vec<usize>> = BTreeMap::new();
    for node in &drawing.nodes {
        if let Node::Workload(w) = node {
            by_wave.entry(analysis.waves[*w]).or_default().push(*w);
        }
    }
    if by_wave.is_empty() {
        out.push_str("  (no workload is gated by depwait)\n");
    }
    for (wave, list) in by_wave
        .iter()
        .filter(|(k, _)| k.is_some())
        .chain(by_wave.get_key_value(&None))
    {
        let name = match wave {
            Some(n) => format!("wave {n}"),
            None => "never".into(),
        };
        for (i, w) in list.iter().enumerate() {
            let head = if i == 0 { name.as_str() } else { "" };
            let waits: Vec<String> = drawing
                .edges
                .iter()
                .filter(|e| drawing.nodes[e.from] == Node::Workload(*w))
                .map(|e| match &drawing.nodes[e.to] {
                    Node::Missing(_) => format!("[{}], which nothing satisfies", e.dependency),
                    node => label(inventory, node),
                })
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let waits = match waits.is_empty() {
                true => String::new(),
                false => format!("  waits for {}", waits.join(", ")),
            };
            let now = match workload_now(status, *w) {
                Some(now) => format!("  [{}]", now.line()),
                None => String::new(),
            };
            let _ = writeln!(out, "  {head:<7} {}{now}{waits}", id(*w));
        }
    }
    if let Some(status) = status {
        out.push_str("\nnow, each dependency (--status):\n");
        for (need, now) in analysis.needs.iter().zip(&status.needs) {
            let _ = writeln!(
                out,
                "  {}  [{}]  {}",
                id(need.from),
                need.dependency,
                now.line()
            );
        }
    }
    let errors: Vec<_> = analysis
        .findings
        .iter()
        .filter(|f| f.kind.is_error())
        .collect();
    let warnings = analysis.findings.len() - errors.len();
    out.push('\n');
    if errors.is_empty() {
        out.push_str("no cycle, no self-wait, no unsatisfiable dependency");
    } else {
        let mut counts: BTreeMap<FindingKind, usize> = BTreeMap::new();
        for f in &errors {
            *counts.entry(f.kind).or_default() += 1;
        }
        let parts: Vec<String> = counts
            .iter()
            .map(|(k, n)| format!("{n} {}", k.name()))
            .collect();
        let _ = write!(
            out,
            "{}: {}",
            plural(errors.len(), "problem"),
            parts.join(", ")
        );
    }
    if warnings > 0 {
        let _ = write!(out, " ({warnings} not judged)");
    }
    out.push('\n');
    out
}

/// `1 workload`, `2 workloads`, `2 dependencies`.
fn plural(n: usize, word: &str) -> String {
    match (n, word.strip_suffix('y')) {
        (1, _) => format!("1 {word}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        (_, None) => format!("{n} {word}s"),
    }
}

fn workload_now(status: Option<&Status>, w: usize) -> Option<&Now> {
    status.and_then(|s| s.workloads[w].as_ref())
}

/// A Mermaid class name for a state.
fn state_class(now: &Now) -> &'static str {
    match now.state {
        "READY" => "ready",
        "NOT READY" => "waiting",
        _ => "failing",
    }
}

fn now_json(now: &Now) -> Value {
    json!({"state": now.state, "counts": now.counts, "detail": now.detail})
}

fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn dot(inventory: &Inventory, analysis: &Analysis, status: Option<&Status>) -> String {
    let drawing = Drawing::of(analysis);
    let mut out = String::from(
        "digraph depwait {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
    );
    for (i, node) in drawing.nodes.iter().enumerate() {
        let name = dot_escape(&label(inventory, node));
        let attrs = match node {
            Node::Workload(w) => {
                let mut text = format!("{name}\\n{}", wave_label(analysis, *w));
                let mut attrs = String::new();
                if let Some(now) = workload_now(status, *w) {
                    let (fill, stroke) = status::colours(now);
                    let _ = write!(text, "\\n{}", dot_escape(&now.line()));
                    let _ = write!(
                        attrs,
                        ", style=\"rounded,filled\", fillcolor=\"{fill}\", color=\"{stroke}\""
                    );
                } else if analysis.waves[*w].is_none() {
                    attrs.push_str(", color=\"#cc0000\"");
                }
                if analysis.waves[*w].is_none() {
                    attrs.push_str(", fontcolor=\"#cc0000\"");
                }
                format!("label=\"{text}\"{attrs}")
            }
            Node::External(_) => format!("label=\"{name}\", shape=ellipse, style=dashed"),
            Node::Missing(_) => {
                format!("label=\"{name}\", shape=octagon, color=\"#cc0000\", fontcolor=\"#cc0000\"")
            }
        };
        let _ = writeln!(out, "  n{i} [{attrs}];");
    }
    for e in &drawing.edges {
        let now = status.map(|s| &s.needs[e.need]);
        let label = match now {
            Some(now) => format!("{}\n{}", e.dependency, now.state),
            None => e.dependency.clone(),
        };
        let mut attrs = format!("label=\"{}\"", dot_escape(&label));
        if let Some(now) = now {
            let (_, stroke) = status::colours(now);
            let _ = write!(attrs, ", color=\"{stroke}\", fontcolor=\"{stroke}\"");
        }
        if e.cycle || matches!(drawing.nodes[e.to], Node::Missing(_)) {
            attrs.push_str(", color=\"#cc0000\", fontcolor=\"#cc0000\", penwidth=2");
        } else if !e.hard {
            attrs.push_str(", style=dashed");
        }
        let _ = writeln!(out, "  n{} -> n{} [{attrs}];", e.from, e.to);
    }
    out.push_str("}\n");
    out
}

fn mermaid_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn mermaid(inventory: &Inventory, analysis: &Analysis, status: Option<&Status>) -> String {
    let drawing = Drawing::of(analysis);
    let mut out = String::from("flowchart LR\n");
    let mut never = Vec::new();
    let mut by_state: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for (i, node) in drawing.nodes.iter().enumerate() {
        let name = mermaid_escape(&label(inventory, node));
        let _ = match node {
            Node::Workload(w) => {
                if analysis.waves[*w].is_none() {
                    never.push(format!("n{i}"));
                }
                let now = match workload_now(status, *w) {
                    Some(now) => {
                        by_state
                            .entry(state_class(now))
                            .or_default()
                            .push(format!("n{i}"));
                        format!("<br/>{}", mermaid_escape(&now.line()))
                    }
                    None => String::new(),
                };
                writeln!(
                    out,
                    "  n{i}[\"{name}<br/>{}{now}\"]",
                    wave_label(analysis, *w)
                )
            }
            Node::External(_) => writeln!(out, "  n{i}([\"{name}\"])"),
            Node::Missing(_) => {
                never.push(format!("n{i}"));
                writeln!(out, "  n{i}{{{{\"{name}\"}}}}")
            }
        };
    }
    let mut red = Vec::new();
    let mut coloured: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for (k, e) in drawing.edges.iter().enumerate() {
        let arrow = if e.hard { "-->" } else { "-.->" };
        let now = status.map(|s| &s.needs[e.need]);
        let label = match now {
            Some(now) => format!("{}<br/>{}", mermaid_escape(&e.dependency), now.state),
            None => mermaid_escape(&e.dependency),
        };
        let _ = writeln!(out, "  n{} {arrow}|\"{label}\"| n{}", e.from, e.to);
        if e.cycle || matches!(drawing.nodes[e.to], Node::Missing(_)) {
            red.push(k.to_string());
        } else if let Some(now) = now {
            coloured
                .entry(status::colours(now).1)
                .or_default()
                .push(k.to_string());
        }
    }
    for (class, nodes) in &by_state {
        let (fill, stroke) = match *class {
            "ready" => ("#d4edda", "#2e7d32"),
            "waiting" => ("#fff3cd", "#b26a00"),
            _ => ("#f8d7da", "#cc0000"),
        };
        let _ = writeln!(out, "  classDef {class} fill:{fill},stroke:{stroke}");
        let _ = writeln!(out, "  class {} {class}", nodes.join(","));
    }
    for (stroke, edges) in &coloured {
        let _ = writeln!(out, "  linkStyle {} stroke:{stroke}", edges.join(","));
    }
    if !never.is_empty() {
        out.push_str("  classDef never stroke:#cc0000,color:#cc0000\n");
        let _ = writeln!(out, "  class {} never", never.join(","));
    }
    if !red.is_empty() {
        let _ = writeln!(
            out,
            "  linkStyle {} stroke:#cc0000,stroke-width:2px",
            red.join(",")
        );
    }
    out
}

fn to_json(inventory: &Inventory, analysis: &Analysis, status: Option<&Status>) -> Value {
    let drawing = Drawing::of(analysis);
    let node_id = |i: usize| match &drawing.nodes[i] {
        Node::Workload(w) => inventory.workloads[*w].id(),
        Node::External(_) | Node::Missing(_) => format!("n{i}"),
    };
    let nodes: Vec<Value> = drawing
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| match node {
            Node::Workload(w) => {
                let wl = &inventory.workloads[*w];
                let mut node = json!({
                    "id": wl.id(),
                    "type": "workload",
                    "namespace": wl.namespace,
                    "kind": wl.kind.name(),
                    "name": wl.name,
                    "replicas": wl.replicas,
                    "gated": analysis.gates.contains_key(w),
                    "wave": analysis.waves[*w],
                });
                if let Some(now) = workload_now(status, *w) {
                    node["status"] = now_json(now);
                }
                node
            }
            Node::External(t) => json!({"id": node_id(i), "type": "external", "label": t}),
            Node::Missing(t) => json!({"id": node_id(i), "type": "missing", "label": t}),
        })
        .collect();
    let edges: Vec<Value> = drawing
        .edges
        .iter()
        .map(|e| {
            let mut edge = json!({
                "from": node_id(e.from),
                "to": node_id(e.to),
                "dependency": e.dependency,
                "container": e.container,
                "hard": e.hard,
                "cycle": e.cycle,
            });
            if let Some(status) = status {
                edge["status"] = now_json(&status.needs[e.need]);
            }
            edge
        })
        .collect();
    let id = |w: usize| inventory.workloads[w].id();
    let findings: Vec<Value> = analysis
        .findings
        .iter()
        .map(|f| {
            let mut v = json!({
                "kind": f.kind.name(),
                "error": f.kind.is_error(),
                "workload": id(f.workload),
                "dependency": f.dependency,
                "text": f.text,
            });
            if !f.path.is_empty() {
                v["path"] = f
                    .path
                    .iter()
                    .map(|(w, d)| json!({"workload": id(*w), "dependency": d}))
                    .collect();
            }
            v
        })
        .collect();
    let mut waves: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut never = Vec::new();
    for node in &drawing.nodes {
        if let Node::Workload(w) = node {
            match analysis.waves[*w] {
                Some(n) => waves.entry(n).or_default().push(id(*w)),
                None => never.push(id(*w)),
            }
        }
    }
    json!({
        "nodes": nodes,
        "edges": edges,
        "findings": findings,
        "waves": waves.into_values().collect::<Vec<_>>(),
        "never": never,
        "ok": !analysis.findings.iter().any(|f| f.kind.is_error()),
        "unread_namespaces": inventory.unread_namespaces,
    })
}
