//! `depwait rbac`: the least RBAC for exactly the dependencies given — one namespaced Role and
//! RoleBinding per namespace waited on, nothing cluster-wide.

use std::collections::BTreeMap;

use crate::config::ConfigError;
use crate::dependency::Dependency;
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

/// The YAML: per namespace, a Role `depwait` (get/list/watch on pods) and a RoleBinding of it to
/// the service account; with `events`, also what `--emit-events` needs in the pod's namespace.
pub fn render(deps: &[Dependency], sa: &ServiceAccount, events: bool) -> String {
    let mut by_namespace: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for d in deps {
        by_namespace
            .entry(d.namespace.as_str())
            .or_default()
            .push(d.to_string());
    }
    let binding = format!("depwait.{}.{}", sa.namespace, sa.name);
    let mut docs = Vec::new();
    for (ns, waited) in &by_namespace {
        docs.push(format!(
            "# depwait watches pods in namespace {ns} for: {}\n{}{}",
            waited.join("; "),
            role(ns, "depwait", &[("pods", "\"get\", \"list\", \"watch\"")]),
            role_binding(ns, &binding, "depwait", sa)
        ));
    }
    if events {
        let ns = sa.namespace.as_str();
        docs.push(format!(
            "# --emit-events: record Events on the waiting pod (and read its UID) in namespace {ns}\n{}{}",
            role(ns, "depwait-events", &[("events", "\"create\""), ("pods", "\"get\"")]),
            role_binding(ns, &format!("{binding}.events"), "depwait-events", sa)
        ));
    }
    docs.join("---\n")
}

fn role(ns: &str, name: &str, rules: &[(&str, &str)]) -> String {
    let mut out = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: {name}\n  namespace: {ns}\nrules:\n"
    );
    for (resource, verbs) in rules {
        out.push_str(&format!(
            "- apiGroups: [\"\"]\n  resources: [\"{resource}\"]\n  verbs: [{verbs}]\n"
        ));
    }
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
    use crate::selector::LabelSelector;

    fn dep(ns: &str, sel: &str) -> Dependency {
        Dependency {
            namespace: ns.into(),
            selector: LabelSelector::parse(sel).unwrap(),
            min: None,
            origin: "test".into(),
        }
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
