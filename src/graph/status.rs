//! `--status`: what is true now, judged as `depwait check` judges it — each dependency of the
//! graph, and each workload drawn (its pods Ready, a Job complete, a Pod Ready). So after a
//! restart one picture shows what everyone is waiting on, and why.
//!
//! Each is judged on its own, all at once and held to `--timeout`: a dependency this identity
//! may not read is shown as not known (access denied), not a failure of the whole graph.

use futures::future::join_all;
use kube::Client;

use super::analysis::Analysis;
use super::objects::{Inventory, Workload, WorkloadKind};
use crate::check::{self, Judgement};
use crate::deadline::Deadline;
use crate::dependency::{Dependency, ObjectTarget, Target, WaitFor};
use crate::selector::LabelSelector;

/// What is true now, aligned with the analysis.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// Per need (as [`Analysis::needs`]).
    pub needs: Vec<Now>,
    /// Per workload (inventory index); `None` where nothing says (a CronJob, no labels).
    pub workloads: Vec<Option<Now>>,
}

/// One judgement, short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Now {
    /// `READY`, `NOT READY`, `FAILED`, `ERROR`, or `UNKNOWN` (could not be read).
    pub state: &'static str,
    /// `2/3`, or empty.
    pub counts: String,
    /// The first reason, or empty.
    pub detail: String,
}

impl Now {
    fn of(judgement: &Judgement) -> Self {
        Now {
            state: judgement.state_name(),
            counts: judgement.counts.clone(),
            detail: judgement.details.first().cloned().unwrap_or_default(),
        }
    }

    /// Whether it is Ready.
    pub fn is_ready(&self) -> bool {
        self.state == "READY"
    }

    /// `READY 2/2`, `NOT READY 0/1: web-1: ContainersNotReady`.
    pub fn line(&self) -> String {
        let mut line = self.state.to_string();
        if !self.counts.is_empty() && self.counts != "-" {
            line.push(' ');
            line.push_str(&self.counts);
        }
        if !self.detail.is_empty() && !self.is_ready() {
            line.push_str(": ");
            line.push_str(&crate::text::ellipsize(&self.detail, 100));
        }
        line
    }
}

/// The dependency that says whether `workload` is up now.
fn up(workload: &Workload) -> Option<Dependency> {
    let origin = format!("graph {}", workload.id());
    let object = |resource: &str, wait_for| {
        Target::Object(ObjectTarget {
            namespace: Some(workload.namespace.clone()),
            resource: resource.into(),
            name: workload.name.clone(),
            wait_for,
        })
    };
    let target = match workload.kind {
        WorkloadKind::CronJob => return None,
        WorkloadKind::Job => object("jobs.batch", WaitFor::JobComplete),
        WorkloadKind::Pod => object(
            "pods",
            WaitFor::Condition {
                name: "Ready".into(),
                value: "True".into(),
            },
        ),
        _ => Target::Pods {
            namespace: workload.namespace.clone(),
            selector: LabelSelector::from_pairs(
                workload
                    .pod_labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .ok()?,
            min: None,
        },
    };
    Some(Dependency { target, origin })
}

/// Judge every need and every drawn workload of `analysis`.
pub async fn judge(
    client: &Client,
    inventory: &Inventory,
    analysis: &Analysis,
    deadline: Deadline,
) -> Status {
    let shown = analysis.shown_workloads();
    let workload_deps: Vec<(usize, Dependency)> = shown
        .iter()
        .filter_map(|&w| up(&inventory.workloads[w]).map(|d| (w, d)))
        .collect();
    let one = |dependency: Dependency| async move {
        match check::judge(vec![dependency], Some(client.clone()), deadline).await {
            Ok(judged) => judged
                .judgements
                .first()
                .map(Now::of)
                .unwrap_or_else(unknown),
            Err(error) => Now {
                state: "UNKNOWN",
                counts: String::new(),
                detail: error.to_string(),
            },
        }
    };
    // Each distinct target once, all at once: many gates wait for the same thing.
    let wanted = analysis
        .needs
        .iter()
        .map(|n| &n.dependency)
        .chain(workload_deps.iter().map(|(_, d)| d));
    let mut distinct: Vec<&Dependency> = Vec::new();
    let at: Vec<usize> = wanted
        .map(
            |d| match distinct.iter().position(|x| x.target == d.target) {
                Some(i) => i,
                None => {
                    distinct.push(d);
                    distinct.len() - 1
                }
            },
        )
        .collect();
    let judged = join_all(distinct.iter().map(|d| one((*d).clone()))).await;
    let (for_needs, for_workloads) = at.split_at(analysis.needs.len());
    let needs = for_needs.iter().map(|&i| judged[i].clone()).collect();
    let mut workloads = vec![None; inventory.workloads.len()];
    for ((w, _), &i) in workload_deps.iter().zip(for_workloads) {
        workloads[*w] = Some(judged[i].clone());
    }
    Status { needs, workloads }
}

fn unknown() -> Now {
    Now {
        state: "UNKNOWN",
        counts: String::new(),
        detail: "no judgement".into(),
    }
}

/// The colour a state is drawn in (fill, stroke).
pub fn colours(now: &Now) -> (&'static str, &'static str) {
    match now.state {
        "READY" => ("#d4edda", "#2e7d32"),
        "NOT READY" => ("#fff3cd", "#b26a00"),
        _ => ("#f8d7da", "#cc0000"),
    }
}
