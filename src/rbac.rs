//! `depwait rbac`: the least RBAC for exactly the dependencies given — one namespaced Role and
//! RoleBinding per namespace waited on, nothing cluster-wide.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::ConfigError;
use crate::dependency::{Dependency, SourceKey};
use crate::selector::is_dns1123_label;

/// The service account the waiting pod runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    /// Its namespace (the waiting pod's).
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ServiceAccount {
    /// Parse `NAMESPACE/NAME`.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let err = |problem: String| ConfigError {
            name: "--service-account".into(),
            problem,
            example: "depwait rbac --service-account shop/web --pods 'db:app=zk:2'",
        };
        let (namespace, name) = text
            .split_once('/')
            .ok_or_else(|| err(format!("expected NAMESPACE/NAME, found `{text}`")))?;
        if !is_dns1123_label(namespace) {
            return Err(err(format!("namespace `{namespace}` is not a valid name")));
        }
        let valid_name = name.len() <= 253 && name.split('.').all(is_dns1123_label);
        if !valid_name {
            return Err(err(format!(
                "service account name `{name}` is not a valid name"
            )));
        }
        Ok(Self {
            namespace: namespace.into(),
            name: name.into(),
        })
    }
}

/// The YAML: per namespace, a Role `depwait` with get/list/watch on exactly the resources
/// waited on there, and a RoleBinding of it to the service account; a ClusterRole and
/// ClusterRoleBinding only for cluster-scoped objects (`--resource TYPE/NAME`), which no Role
/// can grant; with `events`, also what `--emit-events` needs in the pod's namespace. DNS names
/// and TCP ports need no RBAC and get none.
pub fn render(deps: &[Dependency], sa: &ServiceAccount, events: bool) -> String {
    // namespace ("" for cluster-scoped) -> (what is waited for, (group, resource) watched,
    // types whose API group only discovery can tell)
    type Needs = (Vec<String>, BTreeSet<(String, String)>, Vec<String>);
    let mut by_namespace: BTreeMap<String, Needs> = BTreeMap::new();
    for d in deps {
        for key in d.sources() {
            let SourceKey::Watch(w) = key else { continue };
            let entry = by_namespace.entry(w.namespace.clone()).or_default();
            let name = d.to_string();
            if !entry.0.contains(&name) {
                entry.0.push(name);
            }
            match w.rbac_resource() {
                Some(resource) => {
                    entry.1.insert(resource);
                }
                None => entry.2.extend(w.resource.clone()),
            }
        }
    }
    let binding = format!("depwait.{}.{}", sa.namespace, sa.name);
    let mut docs = Vec::new();
    for (ns, (waited, resources, unknown)) in &by_namespace {
        let names: Vec<&str> = resources.iter().map(|(_, r)| r.as_str()).collect();
        let rules: Vec<(&str, &str, &str)> = resources
            .iter()
            .map(|(group, resource)| {
                (
                    group.as_str(),
                    resource.as_str(),
                    "\"get\", \"list\", \"watch\"",
                )
            })
            .collect();
        let mut doc = match ns.as_str() {
            "" => format!(
                "# depwait watches cluster-scoped {} for: {}\n",
                names.join(", "),
                waited.join("; ")
            ),
            _ => format!(
                "# depwait watches {} in namespace {ns} for: {}\n",
                names.join(", "),
                waited.join("; ")
            ),
        };
        for t in unknown {
            doc.push_str(&format!(
                "# `{t}`: its API group is known only to the server; write the type as \
                 PLURAL.GROUP (see `kubectl api-resources`) to get its rule here\n"
            ));
        }
        doc.push_str(&match ns.as_str() {
            "" => cluster_role(&binding, &rules, sa),
            _ => role(ns, "depwait", &rules) + &role_binding(ns, &binding, "depwait", sa),
        });
        docs.push(doc);
    }
    if events {
        let ns = sa.namespace.as_str();
        docs.push(format!(
            "# --emit-events: record Events on the waiting pod (and read its UID) in namespace {ns}\n{}{}",
            role(
                ns,
                "depwait-events",
                &[("", "events", "\"create\""), ("", "pods", "\"get\"")]
            ),
            role_binding(ns, &format!("{binding}.events"), "depwait-events", sa)
        ));
    }
    docs.join("---\n")
}

fn role(ns: &str, name: &str, rules: &[(&str, &str, &str)]) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: {name}\n  namespace: {ns}\n{}",
        rules_yaml(rules)
    )
}

/// `rules:` with one entry per (group, resource, verbs).
fn rules_yaml(rules: &[(&str, &str, &str)]) -> String {
    let mut out = String::from("rules:\n");
    for (group, resource, verbs) in rules {
        out.push_str(&format!(
            "- apiGroups: [\"{group}\"]\n  resources: [\"{resource}\"]\n  verbs: [{verbs}]\n"
        ));
    }
    out
}

/// For cluster-scoped objects: a ClusterRole and its binding, both named after the service
/// account so that several waiting workloads do not overwrite each other's.
fn cluster_role(name: &str, rules: &[(&str, &str, &str)], sa: &ServiceAccount) -> String {
    let mut out = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {name}\n{}",
        rules_yaml(rules)
    );
    out.push_str(&format!(
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: {name}\n\
         roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: {name}\n\
         subjects:\n- kind: ServiceAccount\n  name: {}\n  namespace: {}\n",
        sa.name, sa.namespace
    ));
    out
}

fn role_binding(ns: &str, name: &str, role: &str, sa: &ServiceAccount) -> String {
    format!(
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {name}\n  namespace: {ns}\n\
         roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: {role}\n\
         subjects:\n- kind: ServiceAccount\n  name: {}\n  namespace: {}\n",
        sa.name, sa.namespace
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dependency::{ServiceTarget, Target};
    use crate::selector::LabelSelector;

    fn dep(ns: &str, sel: &str) -> Dependency {
        Dependency {
            target: Target::Pods {
                namespace: ns.into(),
                selector: LabelSelector::parse(sel).unwrap(),
                min: None,
            },
            origin: "test".into(),
        }
    }

    #[test]
    fn services_need_services_and_endpointslices_and_dns_names_nothing() {
        let sa = ServiceAccount::parse("shop/web").unwrap();
        let service = Dependency {
            target: Target::Service(ServiceTarget {
                namespace: "db".into(),
                name: "mysql".into(),
                min: 1,
                hostname: None,
                written: None,
                absolute_fallback: Some("mysql.db.".into()),
            }),
            origin: "test".into(),
        };
        let dns = Dependency {
            target: Target::Dns {
                name: "api.example.com".into(),
            },
            origin: "test".into(),
        };
        let yaml = render(&[service, dns, dep("db", "app=zk")], &sa, false);
        assert_eq!(yaml.matches("\nkind: Role\n").count(), 1);
        assert!(yaml.contains("# depwait watches pods, services, endpointslices in namespace db"));
        assert!(yaml.contains(
            "- apiGroups: [\"discovery.k8s.io\"]\n  resources: [\"endpointslices\"]\n  verbs: [\"get\", \"list\", \"watch\"]"
        ));
        assert!(!yaml.contains("api.example.com"));
    }

    #[test]
    fn one_role_and_binding_per_namespace() {
        let sa = ServiceAccount::parse("shop/web").unwrap();
        let yaml = render(
            &[
                dep("db", "app=zk"),
                dep("db", "app=mysql"),
                dep("cache", "app=redis"),
            ],
            &sa,
            false,
        );
        assert_eq!(yaml.matches("\nkind: Role\n").count(), 2);
        assert_eq!(yaml.matches("\nkind: RoleBinding\n").count(), 2);
        assert!(
            yaml.contains("# depwait watches pods in namespace db for: db app=zk; db app=mysql")
        );
        assert!(!yaml.contains("ClusterRole"));
        assert!(!yaml.contains("events"));
        let yaml = render(&[dep("db", "app=zk")], &sa, true);
        assert!(yaml.contains("resources: [\"events\"]\n  verbs: [\"create\"]"));
    }

    #[test]
    fn service_account_must_be_namespace_slash_name() {
        assert!(ServiceAccount::parse("web").is_err());
        assert!(ServiceAccount::parse("Shop/web").is_err());
        assert!(ServiceAccount::parse("shop/").is_err());
        assert_eq!(ServiceAccount::parse("shop/web.v2").unwrap().name, "web.v2");
    }
}
