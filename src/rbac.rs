//! `depwait rbac`: the least RBAC for exactly the dependencies given — one namespaced Role and
//! RoleBinding per namespace waited on, narrowed to single objects by name wherever the wait
//! reads one object, named after the service account; cluster-wide rules only for
//! cluster-scoped types.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::ConfigError;
use crate::dependency::{ObjectTarget, Target};
use crate::kinds::TypeName;
use crate::plan::Plan;
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

/// What `--emit-events` needs besides `create` on events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Events {
    /// No `--emit-events`: nothing.
    Off,
    /// `create` on events; `get` on the one pod named (`--pod-name`), which depwait reads for
    /// its UID when `POD_UID` is not set; `None`: no pod may be read (the pod passes `POD_UID`).
    On {
        /// `--pod-name`.
        pod_name: Option<String>,
    },
}

impl Events {
    /// From `--emit-events` and `--pod-name`.
    pub fn parse(emit_events: bool, pod_name: Option<&str>) -> Result<Self, ConfigError> {
        let err = |problem: String| ConfigError {
            name: "--pod-name".into(),
            problem,
            example: "depwait rbac --service-account db/mysql --emit-events --pod-name mysql-0 --pods 'db:app=zk'",
        };
        match (emit_events, pod_name) {
            (false, None) => Ok(Events::Off),
            (false, Some(_)) => Err(err(
                "is for --emit-events (the pod whose UID depwait reads); add --emit-events or drop it".into(),
            )),
            (true, None) => Ok(Events::On { pod_name: None }),
            (true, Some(name)) => {
                let valid = name.len() <= 253 && name.split('.').all(is_dns1123_label);
                if !valid {
                    return Err(err(format!("`{name}` is not a valid pod name")));
                }
                Ok(Events::On {
                    pod_name: Some(name.to_string()),
                })
            }
        }
    }
}

/// The whole of `depwait rbac`: plan the dependencies as a wait would (the same HOST name
/// meanings; the operator's credentials, if any, only to read which namespaces exist and what
/// scope custom types have), then render.
pub async fn generate(
    config: crate::config::Config,
    sa: &ServiceAccount,
    events: &Events,
) -> Result<String, ConfigError> {
    let deadline = config
        .timeout
        .and_then(|t| tokio::time::Instant::now().checked_add(t));
    let plan = crate::plan::plan(config.dependencies, crate::plan::Purpose::Rbac, deadline)
        .await
        .map_err(|e| ConfigError {
            name: "depwait rbac".into(),
            problem: e.message,
            example: "depwait rbac --service-account shop/web --pods 'db:app=zk:2'",
        })?;
    render(&plan, sa, events)
}

/// The verbs of every read rule: a wait lists and watches; `get` costs nothing more.
const READ: &str = "\"get\", \"list\", \"watch\"";

/// What one namespace ("" for cluster-scoped) needs.
#[derive(Default)]
struct Needs {
    /// What is waited for there, for the comment.
    waited: Vec<String>,
    /// (group, plural) → the object names the rule may be narrowed to; `None`: every object
    /// (a label-selected watch, which RBAC cannot narrow).
    rules: BTreeMap<(String, String), Option<BTreeSet<String>>>,
    /// Comments: what could not be narrowed, where a namespace came from.
    notes: Vec<String>,
}

impl Needs {
    fn add(&mut self, waited: &str, group: &str, plural: &str, name: Option<&str>) {
        if !self.waited.iter().any(|w| w == waited) {
            self.waited.push(waited.to_string());
        }
        let rule = self
            .rules
            .entry((group.to_string(), plural.to_string()))
            .or_insert_with(|| Some(BTreeSet::new()));
        match (rule.as_mut(), name) {
            (Some(names), Some(name)) => {
                names.insert(name.to_string());
            }
            (_, None) => *rule = None,
            (None, Some(_)) => {}
        }
    }

    fn note(&mut self, note: String) {
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }
}

/// The YAML: per namespace, a Role with get/list/watch on exactly what is waited on there —
/// narrowed by `resourceNames` to the one object wherever the wait reads one object by name —
/// and a RoleBinding of it to the service account, both named `depwait.<ns>.<account>` so that
/// the output for several accounts never overwrites another's; a ClusterRole and
/// ClusterRoleBinding only for types kubectl's table or the server's discovery say are
/// cluster-scoped; with `events`, what `--emit-events` needs in the pod's namespace. DNS names,
/// TCP ports and URLs need no RBAC and get none.
///
/// A namespaced type written without a namespace is granted in the service account's
/// namespace (where the wait looks); a type whose scope is unknown (not built in, no answer
/// from discovery) written without a namespace is an error, never a cluster-wide rule.
pub fn render(plan: &Plan, sa: &ServiceAccount, events: &Events) -> Result<String, ConfigError> {
    let mut by_namespace: BTreeMap<String, Needs> = BTreeMap::new();
    let mut notes: Vec<String> = Vec::new();
    for d in &plan.dependencies {
        let waited = d.to_string();
        match &d.target {
            Target::Pods { namespace, .. } => {
                let needs = by_namespace.entry(namespace.clone()).or_default();
                needs.add(&waited, "", "pods", None);
                needs.note(
                    "pods: found by label selector, which RBAC cannot narrow by name: every pod \
                     of the namespace may be read"
                        .into(),
                );
            }
            Target::Service(s) => {
                if s.absolute_fallback.is_some() && plan.unconfirmed.contains(&s.namespace) {
                    notes.push(format!(
                        "# `{waited}` may be Service {} in namespace {} or a name only DNS answers, and \
                         no server confirmed namespace {}: no rule for it (the wait resolves it through \
                         DNS where it may not watch). Write `{}{}.{}.svc` for the watched path.\n",
                        s.name,
                        s.namespace,
                        s.namespace,
                        s.hostname.as_ref().map(|h| format!("{h}.")).unwrap_or_default(),
                        s.name,
                        s.namespace
                    ));
                    continue;
                }
                let needs = by_namespace.entry(s.namespace.clone()).or_default();
                needs.add(&waited, "", "services", Some(&s.name));
                needs.add(&waited, "discovery.k8s.io", "endpointslices", None);
                needs.note(
                    "endpointslices: found by the label kubernetes.io/service-name, which RBAC \
                     cannot narrow by name: every EndpointSlice of the namespace may be read"
                        .into(),
                );
            }
            Target::Object(o) => {
                let (namespace, group, plural) = object_scope(plan, o, sa, &d.origin)?;
                let needs = by_namespace.entry(namespace.clone()).or_default();
                match (group, plural) {
                    (Some(group), plural) => needs.add(&waited, &group, &plural, Some(&o.name)),
                    (None, plural) => {
                        if !needs.waited.contains(&waited) {
                            needs.waited.push(waited.clone());
                        }
                        needs.note(format!(
                            "`{plural}`: its API group is known only to the server, which was not \
                             asked or does not serve it; write the type as PLURAL.GROUP (see \
                             `kubectl api-resources`) to get its rule here"
                        ));
                    }
                }
                if o.namespace.is_none() && !namespace.is_empty() {
                    needs.note(format!(
                        "{} ({}/{}) names no namespace: the wait looks in its own (in a pod, its \
                         service account's namespace; elsewhere, the kubeconfig context's), so \
                         this grants in namespace {namespace}, from --service-account",
                        d.origin, o.resource, o.name
                    ));
                }
            }
            Target::Dns { .. } | Target::Tcp { .. } | Target::Http { .. } => {}
        }
    }
    let name = format!("depwait.{}.{}", sa.namespace, sa.name);
    let mut docs = Vec::new();
    for (ns, needs) in &by_namespace {
        let resources: Vec<&str> = needs.rules.keys().map(|(_, r)| r.as_str()).collect();
        let mut doc = match ns.as_str() {
            "" => format!(
                "# depwait reads cluster-scoped {} for: {}\n",
                resources.join(", "),
                needs.waited.join("; ")
            ),
            _ => format!(
                "# depwait reads {} in namespace {ns} for: {}\n",
                resources.join(", "),
                needs.waited.join("; ")
            ),
        };
        for note in &needs.notes {
            doc.push_str(&format!("# {note}\n"));
        }
        if needs.rules.is_empty() {
            // Comments only: no empty YAML document in the output.
            notes.push(doc);
            continue;
        }
        let rules: Vec<Rule> = needs
            .rules
            .iter()
            .map(|((group, resource), names)| Rule {
                group,
                resource,
                verbs: READ,
                names: names.as_ref(),
            })
            .collect();
        doc.push_str(&match ns.as_str() {
            "" => cluster_role(&name, &rules, sa),
            _ => role(ns, &name, &rules) + &role_binding(ns, &name, &name, sa),
        });
        docs.push(doc);
    }
    if let Events::On { pod_name } = events {
        let ns = sa.namespace.as_str();
        let events_name = format!("{name}.events");
        let mut rules = vec![Rule {
            group: "",
            resource: "events",
            verbs: "\"create\"",
            names: None,
        }];
        let pod: BTreeSet<String> = pod_name.iter().cloned().collect();
        let about_pod = match pod_name {
            Some(pod_name) => {
                rules.push(Rule {
                    group: "",
                    resource: "pods",
                    verbs: "\"get\"",
                    names: Some(&pod),
                });
                format!("# and read pod {pod_name} (its UID, when POD_UID is not set)\n")
            }
            None => "# No pod may be read: give the pod POD_UID from the downward API \
                     (fieldRef metadata.uid) so the Event names it by UID, or print this with \
                     --pod-name NAME for a pod whose name is fixed\n"
                .to_string(),
        };
        docs.push(format!(
            "# --emit-events: record Events on the waiting pod in namespace {ns}\n{about_pod}{}{}",
            role(ns, &events_name, &rules),
            role_binding(ns, &events_name, &events_name, sa)
        ));
    }
    if docs.is_empty() {
        notes.push("# nothing to grant: DNS names, TCP ports and URLs need no RBAC\n".into());
    }
    let mut out = notes.concat();
    out.push_str(&docs.join("---\n"));
    Ok(out)
}

/// Where an object's rule goes (`""`: a ClusterRole) and its `(group, plural)` (group `None`:
/// unknown without the server).
fn object_scope(
    plan: &Plan,
    o: &ObjectTarget,
    sa: &ServiceAccount,
    origin: &str,
) -> Result<(String, Option<String>, String), ConfigError> {
    let type_name = TypeName::parse(&o.resource).map_err(|e| ConfigError {
        name: origin.to_string(),
        problem: e.to_string(),
        example: RESOURCE_EXAMPLE,
    })?;
    let (group, plural, namespaced) = match (type_name.namespaced(), plan.types.get(&o.resource)) {
        (Some(namespaced), _) => (
            type_name.group.clone(),
            type_name.name.clone(),
            Some(namespaced),
        ),
        (None, Some(served)) => (
            Some(served.resource.group.clone()),
            served.resource.plural.clone(),
            Some(served.namespaced),
        ),
        (None, None) => (type_name.group.clone(), type_name.name.clone(), None),
    };
    let namespace = match (namespaced, &o.namespace) {
        // kubectl's rule, and the wait's: a namespace given for a cluster-scoped type is ignored.
        (Some(false), _) => String::new(),
        (_, Some(ns)) => ns.clone(),
        (Some(true), None) => sa.namespace.clone(),
        (None, None) => {
            return Err(ConfigError {
                name: format!("{origin} `{}/{}`", o.resource, o.name),
                problem: format!(
                    "depwait cannot tell whether `{}` is namespaced without the API server, and none \
                     answered; write NAMESPACE/{}/{} for a namespaced type, or run `depwait rbac` \
                     with credentials for the cluster (KUBECONFIG) so discovery can tell",
                    o.resource, o.resource, o.name
                ),
                example: RESOURCE_EXAMPLE,
            });
        }
    };
    Ok((namespace, group, plural))
}

const RESOURCE_EXAMPLE: &str =
    "depwait rbac --service-account shop/web --resource 'shop/certificates.cert-manager.io/web'";

/// One rule: verbs on one resource, optionally narrowed to some names.
struct Rule<'a> {
    group: &'a str,
    resource: &'a str,
    verbs: &'a str,
    names: Option<&'a BTreeSet<String>>,
}

fn role(ns: &str, name: &str, rules: &[Rule]) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: {name}\n  namespace: {ns}\n{}",
        rules_yaml(rules)
    )
}

/// `rules:` with one entry per rule.
fn rules_yaml(rules: &[Rule]) -> String {
    let mut out = String::from("rules:\n");
    for rule in rules {
        out.push_str(&format!(
            "- apiGroups: [\"{}\"]\n  resources: [\"{}\"]\n",
            rule.group, rule.resource
        ));
        if let Some(names) = rule.names {
            let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
            out.push_str(&format!("  resourceNames: [{}]\n", quoted.join(", ")));
        }
        out.push_str(&format!("  verbs: [{}]\n", rule.verbs));
    }
    out
}

/// For cluster-scoped objects: a ClusterRole and its binding, both named after the service
/// account so that several waiting workloads do not overwrite each other's.
fn cluster_role(name: &str, rules: &[Rule], sa: &ServiceAccount) -> String {
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
    use crate::config::Config;
    use crate::dependency::{Dependency, ServiceTarget, Target};
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

    fn offline(dependencies: Vec<Dependency>) -> Plan {
        Plan {
            dependencies,
            client: None,
            types: Default::default(),
            unconfirmed: Default::default(),
        }
    }

    /// `depwait rbac` as the command line gives it, with no server to ask.
    fn rbac(args: &[&str]) -> Result<String, ConfigError> {
        let mut argv = vec!["depwait", "rbac", "--service-account", "shop/web"];
        argv.extend(args);
        let input = crate::cli::Input::try_from_iter(argv).unwrap();
        let config = Config::from_input(input)?;
        let events = Events::parse(config.emit_events, None)?;
        let plan = offline(config.dependencies);
        render(&plan, &ServiceAccount::parse("shop/web").unwrap(), &events)
    }

    fn sa() -> ServiceAccount {
        ServiceAccount::parse("shop/web").unwrap()
    }

    #[test]
    fn services_need_services_and_endpointslices_and_dns_names_nothing() {
        let service = Dependency {
            target: Target::Service(ServiceTarget {
                namespace: "db".into(),
                name: "mysql".into(),
                min: 1,
                hostname: None,
                written: None,
                absolute_fallback: None,
            }),
            origin: "test".into(),
        };
        let dns = Dependency {
            target: Target::Dns {
                name: "api.example.com".into(),
            },
            origin: "test".into(),
        };
        let plan = offline(vec![service, dns, dep("db", "app=zk")]);
        let yaml = render(&plan, &sa(), &Events::Off).unwrap();
        assert_eq!(yaml.matches("\nkind: Role\n").count(), 1);
        assert!(yaml.contains("# depwait reads pods, services, endpointslices in namespace db"));
        assert!(yaml.contains(
            "- apiGroups: [\"discovery.k8s.io\"]\n  resources: [\"endpointslices\"]\n  verbs: [\"get\", \"list\", \"watch\"]"
        ));
        assert!(yaml.contains(
            "- apiGroups: [\"\"]\n  resources: [\"services\"]\n  resourceNames: [\"mysql\"]\n  verbs: [\"get\", \"list\", \"watch\"]"
        ));
        assert!(yaml.contains("# endpointslices: found by the label kubernetes.io/service-name"));
        assert!(!yaml.contains("api.example.com"));
    }

    #[test]
    fn one_role_and_binding_per_namespace_named_after_the_account() {
        let plan = offline(vec![
            dep("db", "app=zk"),
            dep("db", "app=mysql"),
            dep("cache", "app=redis"),
        ]);
        let yaml = render(&plan, &sa(), &Events::Off).unwrap();
        assert_eq!(yaml.matches("\nkind: Role\n").count(), 2);
        assert_eq!(yaml.matches("\nkind: RoleBinding\n").count(), 2);
        assert_eq!(
            yaml.matches("  name: depwait.shop.web\n").count(),
            6,
            "{yaml}"
        );
        assert!(yaml.contains("# depwait reads pods in namespace db for: db app=zk; db app=mysql"));
        assert!(!yaml.contains("ClusterRole"));
        assert!(!yaml.contains("events"));
        assert!(!yaml.contains("name: depwait\n"), "{yaml}");
    }

    /// The class of issue 14's first bullet: a namespaced type without a namespace is the
    /// pod's namespace, never every namespace.
    #[test]
    fn namespaced_types_without_a_namespace_stay_in_the_accounts_namespace() {
        for resource in [
            "secrets/db-password:create",
            "cm/settings",
            "deployment/api",
            "jobs.batch/m",
            "pvc/data",
        ] {
            let yaml = rbac(&["--resource", resource]).unwrap();
            assert!(!yaml.contains("ClusterRole"), "{resource}:\n{yaml}");
            assert!(
                yaml.contains(
                    "kind: Role\nmetadata:\n  name: depwait.shop.web\n  namespace: shop\n"
                ),
                "{resource}:\n{yaml}"
            );
            assert!(
                yaml.contains("names no namespace: the wait looks in its own"),
                "{yaml}"
            );
            let name = resource.split(['/', ':']).nth(1).unwrap();
            assert!(
                yaml.contains(&format!("resourceNames: [\"{name}\"]")),
                "{yaml}"
            );
        }
        let yaml = rbac(&["--resource", "secrets/db-password:create"]).unwrap();
        assert!(yaml.contains(
            "- apiGroups: [\"\"]\n  resources: [\"secrets\"]\n  resourceNames: [\"db-password\"]\n  verbs: [\"get\", \"list\", \"watch\"]"
        ), "{yaml}");
    }

    #[test]
    fn cluster_scoped_types_get_a_cluster_role_named_after_the_account() {
        let yaml = rbac(&["--resource", "ns/db:create", "--resource", "nodes/n1"]).unwrap();
        assert!(yaml.contains("kind: ClusterRole\nmetadata:\n  name: depwait.shop.web\n"));
        assert!(yaml.contains("resources: [\"namespaces\"]\n  resourceNames: [\"db\"]"));
        assert!(yaml.contains("resources: [\"nodes\"]\n  resourceNames: [\"n1\"]"));
        assert!(!yaml.contains("kind: Role\n"));
        // A namespace given for a cluster-scoped type is ignored, as kubectl and the wait do.
        let yaml = rbac(&["--resource", "x/pv/data"]).unwrap();
        assert!(yaml.contains("kind: ClusterRole\n"), "{yaml}");
    }

    #[test]
    fn unknown_types_without_a_namespace_are_refused_without_a_server() {
        for resource in ["certificates/web", "clusterissuers.cert-manager.io/le"] {
            let e = rbac(&["--resource", resource]).unwrap_err();
            assert!(e.problem.contains("cannot tell whether"), "{e}");
            assert!(e.problem.contains("NAMESPACE/"), "{e}");
        }
        // With a namespace, a custom type of known group is a Role in it.
        let yaml = rbac(&["--resource", "cm1/certificates.cert-manager.io/web"]).unwrap();
        assert!(yaml.contains("namespace: cm1\n"));
        assert!(yaml.contains("apiGroups: [\"cert-manager.io\"]"));
        assert!(!yaml.contains("ClusterRole"));
    }

    #[test]
    fn one_named_object_is_granted_by_name_and_a_selector_is_not() {
        let yaml = rbac(&[
            "--job",
            "db/migrate",
            "--rollout",
            "db/deploy/api",
            "--service",
            "db/mysql",
            "--pods",
            "db:app=zk",
            "--resource",
            "db/pods/zk-0",
        ])
        .unwrap();
        assert!(
            yaml.contains("resources: [\"jobs\"]\n  resourceNames: [\"migrate\"]"),
            "{yaml}"
        );
        assert!(yaml.contains("resources: [\"deployments\"]\n  resourceNames: [\"api\"]"));
        assert!(yaml.contains("resources: [\"services\"]\n  resourceNames: [\"mysql\"]"));
        // A label-selected pod watch reads every pod: the named one adds nothing narrower.
        assert!(yaml.contains("resources: [\"pods\"]\n  verbs:"), "{yaml}");
        assert!(yaml.contains("# pods: found by label selector"));
        let yaml = rbac(&["--job", "db/a", "--job", "db/b"]).unwrap();
        assert!(yaml.contains("resourceNames: [\"a\", \"b\"]"), "{yaml}");
    }

    #[test]
    fn emit_events_reads_no_pod_or_only_the_named_one() {
        let yaml = rbac(&["--emit-events", "--pods", "db:app=zk"]).unwrap();
        assert!(
            yaml.contains("name: depwait.shop.web.events\n  namespace: shop\n"),
            "{yaml}"
        );
        assert!(yaml.contains("resources: [\"events\"]\n  verbs: [\"create\"]"));
        assert!(!yaml.contains("verbs: [\"get\"]"), "{yaml}");
        assert!(yaml.contains("POD_UID"));
        let sa = sa();
        let events = Events::parse(true, Some("web-0")).unwrap();
        let yaml = render(&offline(vec![]), &sa, &events).unwrap();
        assert!(
            yaml.contains(
                "resources: [\"pods\"]\n  resourceNames: [\"web-0\"]\n  verbs: [\"get\"]"
            ),
            "{yaml}"
        );
        assert!(Events::parse(false, Some("web-0")).is_err());
        assert!(Events::parse(true, Some("Web_0")).is_err());
    }

    #[test]
    fn maybe_service_names_get_no_rule_where_no_server_confirmed_the_namespace() {
        let input = crate::cli::Input::try_from_iter([
            "depwait",
            "rbac",
            "--service-account",
            "shop/web",
            "api.example.com",
            "mysql.db.svc",
        ])
        .unwrap();
        let config = Config::from_input(input).unwrap();
        let mut plan = offline(config.dependencies);
        plan.unconfirmed.insert("com".into());
        let yaml = render(&plan, &sa(), &Events::Off).unwrap();
        assert!(!yaml.contains("namespace: com"), "{yaml}");
        assert!(yaml.contains("# `api.example.com` may be Service example in namespace com"));
        assert!(yaml.contains("namespace: db\n"));
    }

    #[test]
    fn dns_names_alone_need_nothing() {
        let yaml = rbac(&["--dns", "example.com", "--tcp", "db:5432"]).unwrap();
        assert!(!yaml.contains("kind:"));
        assert!(yaml.contains("# nothing to grant"));
    }

    #[test]
    fn service_account_must_be_namespace_slash_name() {
        assert!(ServiceAccount::parse("web").is_err());
        assert!(ServiceAccount::parse("Shop/web").is_err());
        assert!(ServiceAccount::parse("shop/").is_err());
        assert_eq!(ServiceAccount::parse("shop/web.v2").unwrap().name, "web.v2");
    }
}
