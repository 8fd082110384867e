//! Each dependency of a gate → what would satisfy it: the workloads whose pods it counts (and
//! how many of their pods it needs), something outside the graph, or nothing in scope.

use std::collections::BTreeSet;

use kube::core::SelectorExt;

use super::objects::{Inventory, Workload, WorkloadKind};
use crate::dependency::{Dependency, ServiceTarget, Target, WaitFor};
use crate::kinds::TypeName;
use crate::names::{self, HostName};
use crate::probe::Check;

/// What one dependency of one workload needs.
#[derive(Debug, Clone)]
pub struct Need {
    /// The waiting workload (an index into the inventory's workloads).
    pub from: usize,
    /// The gate's container.
    pub container: String,
    /// The dependency, as depwait read it.
    pub dependency: Dependency,
    /// What satisfies it.
    pub supply: Supply,
}

/// What satisfies a dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Supply {
    /// Pods of these workloads: every one of their pods (`min: None`) or at least `min`
    /// Ready pods among them. Each supplier comes with how many pods it can offer (`None`:
    /// as many as the cluster has nodes, a DaemonSet).
    Workloads {
        /// (workload index, pods it can supply).
        suppliers: Vec<(usize, Option<u32>)>,
        /// `None`: all of them.
        min: Option<u32>,
    },
    /// Something outside the graph (a DNS name, a TCP port, an ExternalName, a custom
    /// resource): drawn, assumed to come up by itself.
    External(String),
    /// Nothing in scope can satisfy it: why.
    Nothing(String),
    /// A namespace that was not read (`-n`): not judged.
    OutOfScope(String),
}

impl Supply {
    /// Whether the dependency cannot be met without supplier `s`'s pods: every supplier
    /// without `:MIN`; with it, one the others cannot make up for (a DaemonSet's unknown count
    /// can make up for anything).
    pub fn needs(&self, s: usize) -> bool {
        let Supply::Workloads { suppliers, min } = self else {
            return false;
        };
        match min {
            None => suppliers.iter().any(|(o, _)| *o == s),
            Some(min) => {
                suppliers.iter().any(|(o, _)| *o == s)
                    && suppliers
                        .iter()
                        .filter(|(o, _)| *o != s)
                        .map(|(_, n)| *n)
                        .sum::<Option<u32>>()
                        .is_some_and(|n| n < *min)
            }
        }
    }
}

/// What was read, for resolving.
pub struct Scope<'a> {
    /// Everything read.
    pub inventory: &'a Inventory,
    /// `None`: every namespace (manifests, or a whole cluster); else the ones read.
    pub namespaces: Option<&'a BTreeSet<String>>,
    /// The cluster's DNS domain, for host names of `--tcp` and `--http`.
    pub cluster_domain: &'a str,
}

impl Scope<'_> {
    fn read(&self, namespace: &str) -> bool {
        self.namespaces.is_none_or(|n| n.contains(namespace))
    }

    fn not_read(&self, namespace: &str) -> Supply {
        match self.inventory.unread_namespaces.get(namespace) {
            Some(why) => {
                Supply::OutOfScope(format!("namespace {namespace} could not be read ({why})"))
            }
            None => Supply::OutOfScope(format!(
                "namespace {namespace} was not read (add `-n {namespace}`)"
            )),
        }
    }

    fn workloads(&self) -> impl Iterator<Item = (usize, &Workload)> {
        self.inventory.workloads.iter().enumerate()
    }

    /// What `dependency` needs.
    pub fn supply(&self, dependency: &Dependency) -> Supply {
        match &dependency.target {
            Target::Pods {
                namespace,
                selector,
                min,
            } => {
                if !self.read(namespace) {
                    return self.not_read(namespace);
                }
                let suppliers: Vec<_> = self
                    .workloads()
                    .filter(|(_, w)| {
                        &w.namespace == namespace && selector.selector().matches(&w.pod_labels)
                    })
                    .map(|(i, w)| (i, w.replicas))
                    .collect();
                if suppliers.is_empty() {
                    return Supply::Nothing(
                        self.no_pods(namespace, &format!("pods matching {selector}")),
                    );
                }
                self.enough(suppliers, *min)
            }
            Target::Service(service) => self.service(service),
            Target::Object(object) => {
                let Some(namespace) = &object.namespace else {
                    return Supply::External(format!("{} {}", object.resource, object.name));
                };
                if object.wait_for == WaitFor::Delete {
                    return Supply::External(format!(
                        "{} {namespace}/{} deleted",
                        object.resource, object.name
                    ));
                }
                let kind = TypeName::parse(&object.resource)
                    .ok()
                    .and_then(|t| t.rbac_resource())
                    .and_then(|(group, plural)| {
                        WorkloadKind::ALL
                            .into_iter()
                            .find(|k| k.resource() == (group.as_str(), plural.as_str()))
                    });
                let Some(kind) = kind else {
                    return Supply::External(format!(
                        "{} {namespace}/{}",
                        object.resource, object.name
                    ));
                };
                if !self.read(namespace) {
                    return self.not_read(namespace);
                }
                match self.workloads().find(|(_, w)| {
                    w.kind == kind && &w.namespace == namespace && w.name == object.name
                }) {
                    Some((i, w)) => Supply::Workloads {
                        suppliers: vec![(i, w.replicas)],
                        min: None,
                    },
                    None => Supply::Nothing(
                        self.no_pods(namespace, &format!("a {kind} named {}", object.name)),
                    ),
                }
            }
            Target::Probe(Check::Dns { host }) => Supply::External(format!("DNS {host}")),
            Target::Probe(Check::Tcp { host, port }) => {
                self.reached(host, &format!("TCP {host}:{port}"))
            }
            Target::Probe(Check::Http { url, .. }) => {
                let host = url
                    .as_sent()
                    .parse::<http::Uri>()
                    .ok()
                    .and_then(|u| u.host().map(str::to_string))
                    .unwrap_or_default();
                self.reached(&host, &format!("HTTP {url}"))
            }
        }
    }

    /// A TCP or HTTP check of `host`: a Service's workloads when the name is one read (any
    /// one Ready endpoint answers), else outside.
    fn reached(&self, host: &str, shown: &str) -> Supply {
        if let HostName::Service {
            namespace, name, ..
        } = names::classify(host, self.cluster_domain)
            && let Some(service) = self.inventory.service(&namespace, &name)
            && let Some(selector) = &service.selector
        {
            let suppliers = self.selected(&namespace, selector);
            if !suppliers.is_empty() {
                return Supply::Workloads {
                    suppliers,
                    min: Some(1),
                };
            }
        }
        Supply::External(shown.to_string())
    }

    fn selected(
        &self,
        namespace: &str,
        selector: &std::collections::BTreeMap<String, String>,
    ) -> Vec<(usize, Option<u32>)> {
        self.workloads()
            .filter(|(_, w)| {
                w.namespace == namespace
                    && selector.iter().all(|(k, v)| w.pod_labels.get(k) == Some(v))
            })
            .map(|(i, w)| (i, w.replicas))
            .collect()
    }

    fn service(&self, target: &ServiceTarget) -> Supply {
        let ServiceTarget {
            namespace,
            name,
            min,
            hostname,
            absolute_fallback,
            ..
        } = target;
        let Some(service) = self.inventory.service(namespace, name) else {
            if let Some(fallback) = absolute_fallback {
                // The resolver's answer when no such Service exists.
                return Supply::External(format!("DNS {fallback}"));
            }
            if !self.read(namespace) {
                return self.not_read(namespace);
            }
            return Supply::Nothing(self.no_pods(namespace, &format!("a Service named {name}")));
        };
        if let Some(external) = &service.external_name {
            return Supply::External(format!("DNS {external} (ExternalName {namespace}/{name})"));
        }
        let Some(selector) = &service.selector else {
            return Supply::External(format!(
                "Service {namespace}/{name}'s endpoints (no selector: kept outside)"
            ));
        };
        let mut suppliers = self.selected(namespace, selector);
        let shown: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Some(host) = hostname {
            // `mysql-0.mysql.db`: the StatefulSet pod of that name, one endpoint.
            suppliers.retain(|(i, _)| {
                let w = &self.inventory.workloads[*i];
                w.kind == WorkloadKind::StatefulSet
                    && host
                        .strip_prefix(&format!("{}-", w.name))
                        .and_then(|n| n.parse::<u32>().ok())
                        .is_some_and(|n| w.replicas.is_none_or(|r| n < r))
            });
            if suppliers.is_empty() {
                return Supply::Nothing(format!(
                    "Service {namespace}/{name} selects {}, but no StatefulSet among them has a pod named {host}",
                    shown.join(",")
                ));
            }
            return Supply::Workloads {
                suppliers: suppliers.into_iter().map(|(i, _)| (i, Some(1))).collect(),
                min: Some(1),
            };
        }
        if suppliers.is_empty() {
            return Supply::Nothing(format!(
                "Service {namespace}/{name} selects {}, which no workload's pods carry",
                shown.join(",")
            ));
        }
        self.enough(suppliers, Some(*min))
    }

    /// `suppliers` for `min`, or why they can never be enough.
    fn enough(&self, suppliers: Vec<(usize, Option<u32>)>, min: Option<u32>) -> Supply {
        if let Some(min) = min {
            let most: Option<u32> = suppliers.iter().map(|(_, n)| *n).sum();
            if let Some(most) = most
                && most < min
            {
                let each: Vec<String> = suppliers
                    .iter()
                    .map(|(i, n)| {
                        format!(
                            "{} has {}",
                            self.inventory.workloads[*i].id(),
                            n.unwrap_or(0)
                        )
                    })
                    .collect();
                return Supply::Nothing(format!(
                    "needs {min} Ready pods, but at most {most} can ever match ({})",
                    each.join(", ")
                ));
            }
        }
        Supply::Workloads { suppliers, min }
    }

    /// Why nothing matched, with the likelier cause.
    fn no_pods(&self, namespace: &str, what: &str) -> String {
        let known = self
            .inventory
            .workloads
            .iter()
            .any(|w| w.namespace == namespace)
            || self
                .inventory
                .services
                .iter()
                .any(|s| s.namespace == namespace);
        if known {
            format!("nothing in namespace {namespace} has {what} (a typo?)")
        } else {
            format!(
                "namespace {namespace} has no workloads at all in what was read (a typo, or a namespace not created?)"
            )
        }
    }
}
