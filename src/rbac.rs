//! `depwait rbac`: the least RBAC for exactly the dependencies given — one namespaced Role and
//! RoleBinding per namespace waited on, narrowed to single objects by name wherever the wait
//! reads one object, named after the service account; cluster-wide rules only for
//! cluster-scoped types.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

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

/// What depwait reads and writes about the pod it runs in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Waiter {
    /// `--emit-events`: `create` on events in the pod's namespace.
    pub events: bool,
    /// `--pod-name`: the pod's name, when it is fixed (a StatefulSet's): its reads (the restart
    /// guard; the UID an Event names) are narrowed to it. `None`: the pod's name is not known
    /// ahead (a Deployment's), so they cover the pods of its namespace.
    pub pod_name: Option<String>,
}

impl Waiter {
    /// From `--emit-events` and `--pod-name`.
    pub fn parse(emit_events: bool, pod_name: Option<&str>) -> Result<Self, ConfigError> {
        if let Some(name) = pod_name {
            let valid = name.len() <= 253 && name.split('.').all(is_dns1123_label);
            if !valid {
                return Err(ConfigError {
                    name: "--pod-name".into(),
                    problem: format!("`{name}` is not a valid pod name"),
                    example: "depwait rbac --service-account db/mysql --pod-name mysql-0 --pods 'db:app=zk'",
                });
            }
        }
        Ok(Self {
            events: emit_events,
            pod_name: pod_name.map(str::to_string),
        })
    }
}

/// The whole of `depwait rbac`: plan the dependencies as a wait would (the same HOST name
/// meanings; the operator's credentials, if any, only to read which namespaces exist and what
/// scope custom types have), then render.
pub async fn generate(
    config: crate::config::Config,
    sa: &ServiceAccount,
    waiter: &Waiter,
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
    render(&plan, sa, waiter)
}

/// The verbs of every read rule: a wait lists and watches; `get` costs nothing more.
const READ: [&str; 3] = ["get", "list", "watch"];

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
pub fn render(plan: &Plan, sa: &ServiceAccount, waiter: &Waiter) -> Result<String, ConfigError> {
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
            Target::Probe(_) => {}
        }
    }
    // The restart guard reads the pod depwait runs in, in its service account's namespace,
    // when anything is watched (probes read no pod status).
    if !by_namespace.is_empty() {
        let own = by_namespace.entry(sa.namespace.clone()).or_default();
        let waited = match &waiter.pod_name {
            Some(pod) => format!("pod {pod} itself (the restart guard)"),
            None => "the waiting pod itself (the restart guard)".to_string(),
        };
        own.add(&waited, "", "pods", waiter.pod_name.as_deref());
        if waiter.pod_name.is_none() {
            own.note(
                "pods: after a node restart depwait waits until the kubelet has reported its own \
                 pod (the restart guard). A Deployment's pod names are not known ahead, so this \
                 covers every pod of the namespace; for a fixed name (a StatefulSet's) print this \
                 with --pod-name NAME, or drop the rule and the guard is off (logged)"
                    .into(),
            );
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
        let rules: Vec<PolicyRule> = needs
            .rules
            .iter()
            .map(|((group, resource), names)| rule(group, resource, &READ, names.as_ref()))
            .collect();
        match ns.as_str() {
            "" => {
                doc.push_str(&yaml(&cluster_role(&name, rules)));
                doc.push_str("---\n");
                doc.push_str(&yaml(&cluster_role_binding(&name, sa)));
            }
            _ => {
                doc.push_str(&yaml(&role(ns, &name, rules)));
                doc.push_str("---\n");
                doc.push_str(&yaml(&role_binding(ns, &name, sa)));
            }
        }
        docs.push(doc);
    }
    if waiter.events {
        let ns = sa.namespace.as_str();
        let events_name = format!("{name}.events");
        // Core (`""`) events, the API `crate::events` writes to (and says why).
        let rules = vec![rule("", "events", &["create"], None)];
        docs.push(format!(
            "# --emit-events: record Events on the waiting pod in namespace {ns} (its UID, when \
             POD_UID is not set, is read through the pods rule above)\n{}---\n{}",
            yaml(&role(ns, &events_name, rules)),
            yaml(&role_binding(ns, &events_name, sa))
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

/// `depwait rbac --for-graph`: the read-only ClusterRole `depwait graph` needs on a live
/// cluster — `list` on the kinds it reads, exactly the ones it lists — and, for a service
/// account, its binding. A gate's `--config` mounted from a ConfigMap is read with `get`, which
/// is left as a comment: without it that gate's file is reported as not read.
pub fn for_graph(sa: Option<&ServiceAccount>) -> String {
    let name = "depwait-graph";
    let mut by_group: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (_, group, plural) in crate::graph::objects::listed() {
        by_group.entry(group).or_default().push(plural);
    }
    let rules = by_group
        .into_iter()
        .map(|(group, mut plurals)| {
            plurals.sort();
            PolicyRule {
                api_groups: Some(vec![group.to_string()]),
                resources: Some(plurals.into_iter().map(str::to_string).collect()),
                verbs: vec!["list".into()],
                ..PolicyRule::default()
            }
        })
        .collect();
    let mut out = String::from(
        "# Read-only access for `depwait graph` on a live cluster: list, nothing else.\n\
         # To let it read a gate's --config mounted from a ConfigMap (else reported as not read),\n\
         # add: {apiGroups: [\"\"], resources: [configmaps], verbs: [get]}\n",
    );
    out.push_str(&yaml(&cluster_role(name, rules)));
    if let Some(sa) = sa {
        out.push_str("---\n");
        out.push_str(&yaml(&cluster_role_binding(name, sa)));
    }
    out
}

const RESOURCE_EXAMPLE: &str =
    "depwait rbac --service-account shop/web --resource 'shop/certificates.cert-manager.io/web'";

/// One rule: `verbs` on one resource, narrowed to `names` when given.
fn rule(
    group: &str,
    resource: &str,
    verbs: &[&str],
    names: Option<&BTreeSet<String>>,
) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(vec![resource.to_string()]),
        resource_names: names.map(|names| names.iter().cloned().collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..PolicyRule::default()
    }
}

fn role(ns: &str, name: &str, rules: Vec<PolicyRule>) -> Role {
    Role {
        metadata: meta(name, Some(ns)),
        rules: Some(rules),
    }
}

/// `name`'s binding to the service account; the Role it binds has the same name.
fn role_binding(ns: &str, name: &str, sa: &ServiceAccount) -> RoleBinding {
    RoleBinding {
        metadata: meta(name, Some(ns)),
        role_ref: role_ref("Role", name),
        subjects: Some(vec![subject(sa)]),
    }
}

/// For cluster-scoped objects: a ClusterRole, named after the service account so that several
/// waiting workloads do not overwrite each other's.
fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        metadata: meta(name, None),
        rules: Some(rules),
        ..ClusterRole::default()
    }
}

fn cluster_role_binding(name: &str, sa: &ServiceAccount) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(name, None),
        role_ref: role_ref("ClusterRole", name),
        subjects: Some(vec![subject(sa)]),
    }
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        ..ObjectMeta::default()
    }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: "rbac.authorization.k8s.io".into(),
        kind: kind.into(),
        name: name.into(),
    }
}

fn subject(sa: &ServiceAccount) -> Subject {
    Subject {
        kind: "ServiceAccount".into(),
        name: sa.name.clone(),
        namespace: Some(sa.namespace.clone()),
        api_group: None,
    }
}

/// One object as a YAML document (ending in a newline). Strings YAML 1.1 would read as
/// something else (a namespace `no` or `123`, which kubectl's YAML 1.1 reader takes for a
/// boolean or a number) come out quoted. Long names stay plain scalars rather than folded
/// blocks, for people reading the output.
fn yaml<T: Serialize>(object: &T) -> String {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    // Cannot fail: the writer is a String, the options are valid, and k8s-openapi's RBAC types
    // serialize to maps with string keys, strings and lists of strings only — none of the
    // tags, anchors or wrappers serde-saphyr's other errors are about.
    serde_saphyr::to_string_with_options(object, options).expect("RBAC objects serialize to YAML")
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
        let input = crate::config::Input::try_from_iter(argv).unwrap();
        let config = Config::from_input(input)?;
        let waiter = Waiter::parse(config.emit_events, None)?;
        let plan = offline(config.dependencies);
        render(&plan, &ServiceAccount::parse("shop/web").unwrap(), &waiter)
    }

    /// The README's RBAC example is the Role this command writes for one pod set, word for
    /// word: the documentation cannot drift from the output.
    #[test]
    fn the_readme_example_is_the_output() {
        let yaml = rbac(&["--pods", "db:app=zk"]).unwrap();
        let role = yaml
            .split("---\n")
            .next()
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let readme = include_str!("../README.md");
        assert!(
            readme.contains(&format!("```yaml\n{role}\n```")),
            "README's RBAC example differs from:\n{role}"
        );
    }

    fn sa() -> ServiceAccount {
        ServiceAccount::parse("shop/web").unwrap()
    }

    /// The output as kubectl reads it: one value per document.
    fn documents(yaml: &str) -> Vec<serde_json::Value> {
        serde_saphyr::from_multiple(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }

    /// `(kind, namespace, name)` of every document, in order.
    fn objects(yaml: &str) -> Vec<(String, Option<String>, String)> {
        documents(yaml)
            .iter()
            .map(|d| {
                let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
                (
                    text(&d["kind"]).unwrap(),
                    text(&d["metadata"]["namespace"]),
                    text(&d["metadata"]["name"]).unwrap(),
                )
            })
            .collect()
    }

    /// The rules of the Role `name` in `namespace`, or of the ClusterRole `name` (`None`).
    fn rules_of(yaml: &str, namespace: Option<&str>, name: &str) -> Vec<PolicyRule> {
        let kind = if namespace.is_some() {
            "Role"
        } else {
            "ClusterRole"
        };
        let doc = documents(yaml)
            .into_iter()
            .find(|d| {
                d["kind"] == kind
                    && d["metadata"]["namespace"].as_str() == namespace
                    && d["metadata"]["name"] == name
            })
            .unwrap_or_else(|| panic!("no {kind} {name} in {namespace:?}:\n{yaml}"));
        serde_json::from_value(doc["rules"].clone()).unwrap()
    }

    /// A rule as kubectl reads it: `verbs` on `group`/`resource`, narrowed to `names` if any.
    fn expected(group: &str, resource: &str, names: &[&str], verbs: &[&str]) -> PolicyRule {
        PolicyRule {
            api_groups: Some(vec![group.into()]),
            resources: Some(vec![resource.into()]),
            resource_names: (!names.is_empty())
                .then(|| names.iter().map(|n| n.to_string()).collect()),
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
            non_resource_urls: None,
        }
    }

    fn read(group: &str, resource: &str, names: &[&str]) -> PolicyRule {
        expected(group, resource, names, &["get", "list", "watch"])
    }

    /// Role and binding (or ClusterRole and ClusterRoleBinding) of one name, in one namespace
    /// or cluster-wide.
    fn pair(
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> [(String, Option<String>, String); 2] {
        let object = |k: &str| {
            (
                k.to_string(),
                namespace.map(str::to_string),
                name.to_string(),
            )
        };
        [object(kind), object(&format!("{kind}Binding"))]
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
            target: Target::Probe(crate::probe::Check::dns("api.example.com")),
            origin: "test".into(),
        };
        let plan = offline(vec![service, dns, dep("db", "app=zk")]);
        let yaml = render(&plan, &sa(), &Waiter::default()).unwrap();
        // db's, and the restart guard's in the account's namespace.
        assert_eq!(
            objects(&yaml),
            [
                pair("Role", Some("db"), "depwait.shop.web"),
                pair("Role", Some("shop"), "depwait.shop.web"),
            ]
            .concat(),
            "{yaml}"
        );
        assert!(yaml.contains("# depwait reads pods, services, endpointslices in namespace db"));
        assert_eq!(
            rules_of(&yaml, Some("db"), "depwait.shop.web"),
            [
                read("", "pods", &[]),
                read("", "services", &["mysql"]),
                read("discovery.k8s.io", "endpointslices", &[]),
            ]
        );
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
        let yaml = render(&plan, &sa(), &Waiter::default()).unwrap();
        // cache's, db's, and the restart guard's in the account's namespace (shop), each bound
        // to the account.
        assert_eq!(
            objects(&yaml),
            [
                pair("Role", Some("cache"), "depwait.shop.web"),
                pair("Role", Some("db"), "depwait.shop.web"),
                pair("Role", Some("shop"), "depwait.shop.web"),
            ]
            .concat(),
            "{yaml}"
        );
        for binding in documents(&yaml)
            .iter()
            .filter(|d| d["kind"] == "RoleBinding")
        {
            assert_eq!(
                binding["roleRef"],
                serde_json::json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "depwait.shop.web"})
            );
            assert_eq!(
                binding["subjects"],
                serde_json::json!([{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}])
            );
        }
        assert!(yaml.contains("# depwait reads pods in namespace db for: db app=zk; db app=mysql"));
        assert!(!yaml.contains("ClusterRole"));
        assert!(!yaml.contains("events"));
    }

    /// The class of issue 14's first bullet: a namespaced type without a namespace is the
    /// pod's namespace, never every namespace.
    #[test]
    fn namespaced_types_without_a_namespace_stay_in_the_accounts_namespace() {
        for (resource, group, plural) in [
            ("secrets/db-password:create", "", "secrets"),
            ("cm/settings", "", "configmaps"),
            ("deployment/api", "apps", "deployments"),
            ("jobs.batch/m", "batch", "jobs"),
            ("pvc/data", "", "persistentvolumeclaims"),
        ] {
            let yaml = rbac(&["--resource", resource]).unwrap();
            assert_eq!(
                objects(&yaml),
                pair("Role", Some("shop"), "depwait.shop.web"),
                "{resource}:\n{yaml}"
            );
            assert!(
                yaml.contains("names no namespace: the wait looks in its own"),
                "{yaml}"
            );
            let name = resource.split(['/', ':']).nth(1).unwrap();
            // Beside the restart guard's pods rule.
            assert!(
                rules_of(&yaml, Some("shop"), "depwait.shop.web").contains(&read(
                    group,
                    plural,
                    &[name]
                )),
                "{resource}:\n{yaml}"
            );
        }
    }

    #[test]
    fn cluster_scoped_types_get_a_cluster_role_named_after_the_account() {
        let yaml = rbac(&["--resource", "ns/db:create", "--resource", "nodes/n1"]).unwrap();
        // The one Role is the restart guard's, in the account's namespace.
        assert_eq!(
            objects(&yaml),
            [
                pair("ClusterRole", None, "depwait.shop.web"),
                pair("Role", Some("shop"), "depwait.shop.web"),
            ]
            .concat(),
            "{yaml}"
        );
        assert_eq!(
            rules_of(&yaml, None, "depwait.shop.web"),
            [read("", "namespaces", &["db"]), read("", "nodes", &["n1"])]
        );
        assert_eq!(
            rules_of(&yaml, Some("shop"), "depwait.shop.web"),
            [read("", "pods", &[])]
        );
        let binding = &documents(&yaml)[1];
        assert_eq!(binding["roleRef"]["kind"], "ClusterRole", "{yaml}");
        assert_eq!(binding["subjects"][0]["namespace"], "shop", "{yaml}");
        // A namespace given for a cluster-scoped type is ignored, as kubectl and the wait do.
        let yaml = rbac(&["--resource", "x/pv/data"]).unwrap();
        assert_eq!(
            rules_of(&yaml, None, "depwait.shop.web"),
            [read("", "persistentvolumes", &["data"])]
        );
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
        assert_eq!(
            rules_of(&yaml, Some("cm1"), "depwait.shop.web"),
            [read("cert-manager.io", "certificates", &["web"])]
        );
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
        assert_eq!(
            rules_of(&yaml, Some("db"), "depwait.shop.web"),
            [
                // A label-selected pod watch reads every pod: the named one adds nothing
                // narrower.
                read("", "pods", &[]),
                read("", "services", &["mysql"]),
                read("apps", "deployments", &["api"]),
                read("batch", "jobs", &["migrate"]),
                read("discovery.k8s.io", "endpointslices", &[]),
            ],
            "{yaml}"
        );
        assert!(yaml.contains("# pods: found by label selector"));
        let yaml = rbac(&["--job", "db/a", "--job", "db/b"]).unwrap();
        assert_eq!(
            rules_of(&yaml, Some("db"), "depwait.shop.web"),
            [read("batch", "jobs", &["a", "b"])]
        );
    }

    #[test]
    fn the_waiting_pod_is_read_in_its_namespace_narrowed_by_pod_name() {
        // The restart guard: the pods of the account's namespace (a Deployment's pod names
        // are not known ahead), next to what is waited for elsewhere.
        let yaml = rbac(&["--pods", "db:app=zk"]).unwrap();
        assert!(
            yaml.contains("# depwait reads pods in namespace shop for: the waiting pod itself (the restart guard)\n"),
            "{yaml}"
        );
        assert_eq!(
            rules_of(&yaml, Some("shop"), "depwait.shop.web"),
            [read("", "pods", &[])]
        );
        // --emit-events adds only `create` on (core) events; the UID is read through the pods
        // rule.
        let yaml = rbac(&["--emit-events", "--pods", "db:app=zk"]).unwrap();
        assert_eq!(
            rules_of(&yaml, Some("shop"), "depwait.shop.web.events"),
            [expected("", "events", &[], &["create"])]
        );
        assert!(
            objects(&yaml).ends_with(&pair("Role", Some("shop"), "depwait.shop.web.events")),
            "{yaml}"
        );
        // A fixed name narrows the read to that pod, with or without --emit-events.
        let plan = offline(vec![dep("db", "app=zk")]);
        for events in [false, true] {
            let waiter = Waiter::parse(events, Some("web-0")).unwrap();
            let yaml = render(&plan, &sa(), &waiter).unwrap();
            assert_eq!(
                rules_of(&yaml, Some("shop"), "depwait.shop.web"),
                [read("", "pods", &["web-0"])]
            );
        }
        // A pod dependency in the account's namespace already covers its pods.
        let yaml = rbac(&["--pods", "shop:app=zk"]).unwrap();
        assert_eq!(
            rules_of(&yaml, Some("shop"), "depwait.shop.web"),
            [read("", "pods", &[])],
            "{yaml}"
        );
        assert_eq!(objects(&yaml).len(), 2, "{yaml}");
        assert!(Waiter::parse(true, Some("Web_0")).is_err());
    }

    /// Names YAML 1.1 (kubectl's reader) would take for booleans, numbers or null come out
    /// quoted, so they stay strings.
    #[test]
    fn names_that_look_like_other_yaml_types_stay_strings() {
        let odd = [
            "no", "n", "y", "on", "yes", "true", "null", "123", "1e3", "0x1f", "0o17",
        ];
        for name in odd {
            let sa = ServiceAccount::parse(&format!("{name}/{name}")).unwrap();
            let job = Dependency {
                target: Target::Object(ObjectTarget {
                    namespace: Some(name.to_string()),
                    resource: "jobs".into(),
                    name: name.into(),
                    wait_for: crate::dependency::WaitFor::JobComplete,
                }),
                origin: "test".into(),
            };
            let waiter = Waiter::parse(true, Some(name)).unwrap();
            let yaml = render(&offline(vec![job]), &sa, &waiter).unwrap();
            // Every value that is the name, with or without quotes: `namespace: X`,
            // `name: X`, `- X` (a resourceNames entry).
            let values: Vec<&str> = yaml
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| l.rsplit([':', '-']).next().unwrap().trim())
                .filter(|v| v.trim_matches(['"', '\'']) == name)
                .collect();
            // Namespaces and subjects of 4 objects, 2 resourceNames, the subject's name.
            assert!(values.len() >= 7, "{name}: {values:?}\n{yaml}");
            for value in values {
                assert!(value.starts_with(['"', '\'']), "{name} unquoted:\n{yaml}");
            }
            assert_eq!(
                rules_of(&yaml, Some(name), &format!("depwait.{name}.{name}")),
                [read("", "pods", &[name]), read("batch", "jobs", &[name])],
                "{yaml}"
            );
        }
    }

    #[test]
    fn maybe_service_names_get_no_rule_where_no_server_confirmed_the_namespace() {
        let input = crate::config::Input::try_from_iter([
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
        let yaml = render(&plan, &sa(), &Waiter::default()).unwrap();
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
