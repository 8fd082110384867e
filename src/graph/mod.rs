//! `depwait graph`: what a cluster's (or a set of manifests') depwait gates add up to, found
//! before the next restart finds it: cycles no workload can break, self-waits that cannot be
//! met, dependencies nothing satisfies, and the waves of a cold start.
//!
//! The pipeline, in order: [`manifests`] or [`cluster`] (what exists) → [`objects`] (narrowed
//! into one inventory) → [`gates`] (each depwait init container read with depwait's own
//! parser) → [`resolve`] (each dependency → what would satisfy it) → [`analysis`] (findings and
//! waves) → [`render`] (text, DOT, Mermaid, JSON).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

pub mod analysis;
pub mod cluster;
pub mod gates;
pub mod manifests;
pub mod objects;
pub mod render;
pub mod resolve;
pub mod status;

use crate::config::DEFAULT_CLUSTER_DOMAIN;
use crate::deadline::Deadline;
use crate::output;
use objects::Inventory;
use render::Format;

/// `depwait graph`'s own command line: it reads workloads, not dependencies, so it shares none
/// of the wait's flags.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "depwait graph",
    bin_name = "depwait graph",
    version,
    about = "Draw the startup-dependency graph of a cluster's (or manifests') depwait gates, and \
             find what would deadlock before a restart does",
    after_long_help = GRAPH_HELP
)]
pub struct GraphArgs {
    /// Read these namespaces of the cluster (repeat); without it, every namespace.
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "NS",
        conflicts_with = "files"
    )]
    pub namespaces: Vec<String>,
    /// Read manifests instead of a cluster: a file, a folder's *.yaml/*.yml/*.json, or `-`
    /// for standard input (`kustomize build overlays/prod | depwait graph -f -`). Repeat.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// With -f: read folders' sub-folders too.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Find gates by this image pattern (`*` is any text; repeat). Default: depwait's image
    /// under any registry and tag (`*/depwait:*`, `depwait`, ...).
    #[arg(long = "image", value_name = "PATTERN")]
    pub images: Vec<String>,
    /// Colour each workload and dependency by what is true now, judged as `depwait check`
    /// judges (a live cluster only; reads what check reads: pods, Services' EndpointSlices,
    /// the objects named).
    #[arg(long, conflicts_with = "files")]
    pub status: bool,
    /// How to write the graph.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Format,
    /// The cluster's DNS domain, for host names of `--tcp` and `--http` dependencies.
    #[arg(long, value_name = "DOMAIN", default_value = DEFAULT_CLUSTER_DOMAIN)]
    pub cluster_domain: String,
    /// Give up on the API server after this long (e.g. `30s`, `2m`).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

const GRAPH_HELP: &str = "\
Examples:
  depwait graph                                   # the live cluster, every namespace
  depwait graph -n shop -n db                     # some namespaces
  depwait graph -f k8s/ -f extra.yaml             # manifests, no cluster needed
  kustomize build overlays/prod | depwait graph -f -
  depwait graph --output dot | dot -Tsvg > startup.svg
  depwait graph --output mermaid                  # renders in GitHub/GitLab markdown

Gates are init containers whose image matches --image; their command line and environment
are read with depwait's own parser ($(VAR) expanded, the downward API's namespace filled in,
ConfigMap values and a --config mounted from a ConfigMap looked up). A Secret is never read:
what comes from one is reported as not read, not guessed.

Exit codes:
  0  no cycle, no self-wait that cannot be met, no unsatisfiable dependency, no broken gate
  1  at least one (each named with namespace/kind/name); or --timeout passed
  2  bad usage, or a manifest that does not parse (file and line named)
  3  access denied (the rule named; `depwait rbac --for-graph` prints them), or an API error";

/// How `depwait graph` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphExit {
    /// Nothing found that would deadlock.
    Clean = 0,
    /// A finding (or no answer in time).
    Found = 1,
    /// Bad usage or manifests.
    Usage = 2,
    /// Access denied or another API error.
    Api = 3,
}

impl From<GraphExit> for std::process::ExitCode {
    fn from(code: GraphExit) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

/// Why the graph could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Manifests that could not be read.
    #[error("{0}")]
    Manifests(#[from] manifests::ManifestError),
    /// No client.
    #[error("{0}")]
    Client(#[from] crate::client::ClientError),
    /// The cluster could not be read.
    #[error("{0}")]
    Cluster(#[from] cluster::ClusterError),
}

impl GraphError {
    fn exit(&self) -> GraphExit {
        match self {
            GraphError::Manifests(_) => GraphExit::Usage,
            GraphError::Client(e) => match e.exit_code() {
                crate::exit::ExitCode::Usage => GraphExit::Usage,
                _ => GraphExit::Found,
            },
            GraphError::Cluster(cluster::ClusterError::NoAnswer(_)) => GraphExit::Found,
            GraphError::Cluster(_) => GraphExit::Api,
        }
    }
}

/// `depwait graph ARGS...` (`args[0]` is `graph`): parse, read, analyse, write; the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> std::process::ExitCode {
    let args = match GraphArgs::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return std::process::ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let outcome = match runtime {
        Ok(rt) => rt.block_on(run(&args)),
        Err(e) => {
            output::stderr_line(&format!(
                "depwait graph: cannot start the async runtime: {e}"
            ));
            return GraphExit::Api.into();
        }
    };
    match outcome {
        Ok((text, code)) => {
            output::stdout(&text);
            code.into()
        }
        Err(e) => {
            output::stderr_line(&format!("depwait graph: {e}"));
            e.exit().into()
        }
    }
}

/// Read, analyse and render: the output and the exit code it means.
pub async fn run(args: &GraphArgs) -> Result<(String, GraphExit), GraphError> {
    let deadline = Deadline::after(Some(args.timeout));
    let patterns: Vec<String> = match args.images.is_empty() {
        true => gates::DEFAULT_IMAGES
            .iter()
            .map(|p| p.to_string())
            .collect(),
        false => args.images.clone(),
    };
    let mut inventory = Inventory::default();
    let mut namespaces: Option<BTreeSet<String>> = None;
    let mut client: Option<kube::Client> = None;
    if args.files.is_empty() {
        let made = crate::client::infer(deadline.instant()).await?;
        let read = cluster::read(&made, &args.namespaces, &deadline, &mut inventory).await?;
        let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for w in &inventory.workloads {
            let names = gates::config_maps_used(w, &patterns);
            if !names.is_empty() {
                wanted.entry(w.namespace.clone()).or_default().extend(names);
            }
        }
        for (namespace, names) in wanted {
            cluster::config_maps(&made, &namespace, &names, &deadline, &mut inventory).await?;
        }
        namespaces = read.namespaces;
        client = Some(made);
    } else {
        manifests::read(&args.files, args.recursive, &mut inventory)?;
    }
    let (inventory, analysis) = analyse(inventory, namespaces.as_ref(), &patterns, args);
    let status = match (&client, args.status) {
        (Some(client), true) => Some(status::judge(client, &inventory, &analysis, deadline).await),
        _ => None,
    };
    let code = match analysis.findings.iter().any(|f| f.kind.is_error()) {
        true => GraphExit::Found,
        false => GraphExit::Clean,
    };
    let text = render::render(args.output, &inventory, &analysis, status.as_ref());
    Ok((text, code))
}

/// The part after reading, the same for a cluster and for manifests: the gates read and
/// analysed, over the workloads in a stable order.
fn analyse(
    mut inventory: Inventory,
    namespaces: Option<&BTreeSet<String>>,
    patterns: &[String],
    args: &GraphArgs,
) -> (Inventory, analysis::Analysis) {
    // The same objects give the same report, whatever order they were read in.
    inventory
        .workloads
        .sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
    let mut found: BTreeMap<usize, Vec<gates::Gate>> = BTreeMap::new();
    for (i, w) in inventory.workloads.iter().enumerate() {
        for container in gates::gated_containers(w, patterns) {
            if let Some(gate) = gates::read(w, container, &inventory) {
                found.entry(i).or_default().push(gate);
            }
        }
    }
    let scope = resolve::Scope {
        inventory: &inventory,
        namespaces,
        cluster_domain: &args.cluster_domain,
    };
    let analysis = analysis::analyse(&scope, found);
    (inventory, analysis)
}
