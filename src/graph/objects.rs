//! What `depwait graph` reads of a cluster or of manifests: the workloads (their pod templates
//! and how many pods they can supply), the Services (their selectors) and the ConfigMaps a
//! `--config` file may be mounted from. Narrow types, as [`crate::slim`]'s: the decoder skips
//! everything else, so a manifest with fields these do not know is still read.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kinds of object whose pods can be gated by depwait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum WorkloadKind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` DaemonSet.
    DaemonSet,
    /// `apps/v1` ReplicaSet (one without an owner: a Deployment's own are its Deployment's).
    ReplicaSet,
    /// `batch/v1` Job (one without an owner: a CronJob's are its CronJob's).
    Job,
    /// `batch/v1` CronJob.
    CronJob,
    /// A bare Pod (one no controller owns).
    Pod,
}

impl WorkloadKind {
    /// Every kind, in the order the cluster is listed.
    pub const ALL: [WorkloadKind; 7] = [
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
        WorkloadKind::ReplicaSet,
        WorkloadKind::Job,
        WorkloadKind::CronJob,
        WorkloadKind::Pod,
    ];

    /// The kind as manifests spell it.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
            WorkloadKind::Pod => "Pod",
        }
    }

    /// The API group and plural (`apps`, `deployments`), for listing and for RBAC.
    pub fn resource(self) -> (&'static str, &'static str) {
        match self {
            WorkloadKind::Deployment => ("apps", "deployments"),
            WorkloadKind::StatefulSet => ("apps", "statefulsets"),
            WorkloadKind::DaemonSet => ("apps", "daemonsets"),
            WorkloadKind::ReplicaSet => ("apps", "replicasets"),
            WorkloadKind::Job => ("batch", "jobs"),
            WorkloadKind::CronJob => ("batch", "cronjobs"),
            WorkloadKind::Pod => ("", "pods"),
        }
    }

    fn from_name(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == kind)
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What `depwait graph` lists of a cluster, as (kind, API group, plural): the workload kinds
/// and Services. The one list the cluster reader and `depwait rbac --for-graph` both use, so
/// the role grants exactly what is listed.
pub fn listed() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    WorkloadKind::ALL
        .into_iter()
        .map(|k| {
            let (group, plural) = k.resource();
            (k.name(), group, plural)
        })
        .chain([("Service", "", "services")])
}

/// One workload: what its pods are labelled, how many it runs, and its pod template.
#[derive(Debug, Clone)]
pub struct Workload {
    /// What it is.
    pub kind: WorkloadKind,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The labels its pods carry (the pod template's).
    pub pod_labels: BTreeMap<String, String>,
    /// How many pods it can have Ready at once: `replicas`, a Job's `parallelism`, 1 for a
    /// Pod; `None` where it depends on the cluster (a DaemonSet: one per node).
    pub replicas: Option<u32>,
    /// A StatefulSet under `podManagementPolicy: OrderedReady` (the default): pod N is created
    /// only once pods 0..N-1 are Running and Ready.
    pub ordered: bool,
    /// The pod template's spec.
    pub pod: PodSpec,
}

impl Workload {
    /// `namespace/Kind/name`, how every report names it.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.kind, self.name)
    }
}

/// A pod template's spec, narrowed to what depwait's command line can come from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSpec {
    /// Init containers, in the order they run.
    pub init_containers: Vec<Container>,
    /// Volumes, for `--config` files mounted from a ConfigMap.
    pub volumes: Vec<Volume>,
}

/// A container, narrowed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    /// Its name.
    pub name: String,
    /// Its image reference.
    pub image: String,
    /// The entrypoint override; empty: the image's (depwait's image runs `/depwait`).
    pub command: Vec<String>,
    /// The arguments.
    pub args: Vec<String>,
    /// The environment, in order (later `$(VAR)` may refer to earlier).
    pub env: Vec<EnvVar>,
    /// Whole ConfigMaps or Secrets as variables.
    pub env_from: Vec<EnvFrom>,
    /// Where volumes are mounted.
    pub volume_mounts: Vec<VolumeMount>,
    /// `Always` on an init container makes it a native sidecar: it does not hold the pod.
    pub restart_policy: Option<String>,
}

/// `env[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnvVar {
    /// The variable.
    pub name: String,
    /// A literal value (with `$(VAR)` references).
    pub value: Option<String>,
    /// Or where the value comes from.
    pub value_from: Option<EnvSource>,
}

/// `env[].valueFrom`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnvSource {
    /// The downward API (`metadata.namespace`, ...).
    pub field_ref: Option<FieldRef>,
    /// A key of a ConfigMap.
    pub config_map_key_ref: Option<KeyRef>,
    /// A key of a Secret: never read.
    pub secret_key_ref: Option<KeyRef>,
    /// Resource limits and requests.
    pub resource_field_ref: Option<Value>,
}

/// `fieldRef`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FieldRef {
    /// `metadata.namespace`, `metadata.name`, ...
    pub field_path: String,
}

/// `configMapKeyRef` / `secretKeyRef`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct KeyRef {
    /// The object's name.
    pub name: String,
    /// The key.
    pub key: String,
    /// A missing key or object is no error for the kubelet.
    pub optional: Option<bool>,
}

/// `envFrom[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnvFrom {
    /// Prefix for every key.
    pub prefix: Option<String>,
    /// A ConfigMap, every key a variable.
    pub config_map_ref: Option<NameRef>,
    /// A Secret: never read.
    pub secret_ref: Option<NameRef>,
}

/// A reference by name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NameRef {
    /// The object's name.
    pub name: String,
}

/// `volumeMounts[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VolumeMount {
    /// The volume.
    pub name: String,
    /// Where in the container.
    pub mount_path: String,
    /// One file or folder of the volume, mounted alone.
    pub sub_path: Option<String>,
}

/// `volumes[]`, narrowed to ConfigMap volumes (also as projected sources).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Volume {
    /// Its name.
    pub name: String,
    /// A ConfigMap volume.
    pub config_map: Option<ConfigMapVolume>,
    /// A projected volume.
    pub projected: Option<Projected>,
}

/// `volumes[].configMap` and a projected `configMap` source.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ConfigMapVolume {
    /// The ConfigMap.
    pub name: String,
    /// Keys mapped to paths; without them every key is a file of its name.
    pub items: Option<Vec<KeyToPath>>,
}

/// `items[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct KeyToPath {
    /// The ConfigMap key.
    pub key: String,
    /// The file's path in the volume.
    pub path: String,
}

/// `volumes[].projected`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Projected {
    /// The sources.
    pub sources: Vec<ProjectedSource>,
}

/// `projected.sources[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProjectedSource {
    /// A ConfigMap source.
    pub config_map: Option<ConfigMapVolume>,
}

/// A Service: what its selector picks.
#[derive(Debug, Clone)]
pub struct Service {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `None`: no selector (its endpoints are kept by someone else).
    pub selector: Option<BTreeMap<String, String>>,
    /// `ExternalName`'s name.
    pub external_name: Option<String>,
}

/// A ConfigMap's data.
#[derive(Debug, Clone)]
pub struct ConfigMap {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its text data.
    pub data: BTreeMap<String, String>,
}

/// Everything read, from wherever.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// The workloads, in the order read.
    pub workloads: Vec<Workload>,
    /// The Services.
    pub services: Vec<Service>,
    /// The ConfigMaps.
    pub config_maps: Vec<ConfigMap>,
    /// The ConfigMaps that could not be read (access denied), by `namespace/name`, so that a
    /// `--config` mounted from one says so instead of "not found".
    pub unreadable_config_maps: BTreeMap<String, String>,
    /// Namespaces that could not be read, and why (a cluster read namespace by namespace).
    pub unread_namespaces: BTreeMap<String, String>,
}

impl Inventory {
    /// Add what `other` read.
    pub fn merge(&mut self, other: Inventory) {
        self.workloads.extend(other.workloads);
        self.services.extend(other.services);
        self.config_maps.extend(other.config_maps);
        self.unreadable_config_maps
            .extend(other.unreadable_config_maps);
        self.unread_namespaces.extend(other.unread_namespaces);
    }

    /// The Service `namespace/name`, if read.
    pub fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
        self.services
            .iter()
            .find(|s| s.namespace == namespace && s.name == name)
    }

    /// The ConfigMap `namespace/name`, if read.
    pub fn config_map(&self, namespace: &str, name: &str) -> Option<&ConfigMap> {
        self.config_maps
            .iter()
            .find(|c| c.namespace == namespace && c.name == name)
    }

    /// Add one object, as a manifest or an API list item has it (`kind` given for list items,
    /// which do not carry their own). Kinds that gate nothing and satisfy nothing are skipped;
    /// an object a controller owns is its owner's (a Deployment's ReplicaSets, their pods).
    pub fn add(&mut self, kind: &str, object: Value) -> Result<(), BadObject> {
        let meta: Meta = field(&object, "metadata").map_err(|e| e.named(kind))?;
        let bad = |problem: serde_json::Error| BadObject {
            kind: kind.to_string(),
            name: meta.name.clone(),
            problem: problem.to_string(),
        };
        let namespace = meta.namespace.clone().unwrap_or_else(|| "default".into());
        match kind {
            "Service" => {
                let spec: ServiceSpec = field(&object, "spec").map_err(|e| e.named(kind))?;
                let service = Service {
                    namespace,
                    name: meta.name,
                    selector: spec.selector.filter(|s| !s.is_empty()),
                    external_name: match spec.type_.as_deref() {
                        Some("ExternalName") => spec.external_name,
                        _ => None,
                    },
                };
                replace_or_push(&mut self.services, service, |a, b| {
                    (&a.namespace, &a.name) == (&b.namespace, &b.name)
                });
            }
            "ConfigMap" => {
                let data = match object.get("data") {
                    Some(d) if !d.is_null() => serde_json::from_value(d.clone()).map_err(bad)?,
                    _ => BTreeMap::new(),
                };
                let config_map = ConfigMap {
                    namespace,
                    name: meta.name,
                    data,
                };
                replace_or_push(&mut self.config_maps, config_map, |a, b| {
                    (&a.namespace, &a.name) == (&b.namespace, &b.name)
                });
            }
            _ => {
                let Some(kind) = WorkloadKind::from_name(kind) else {
                    return Ok(());
                };
                if meta.owned(kind) {
                    return Ok(());
                }
                let template = |v: &Value| -> Result<Template, BadObject> {
                    match v.pointer("/spec/template") {
                        Some(t) => serde_json::from_value(t.clone()).map_err(bad),
                        None => Ok(Template::default()),
                    }
                };
                let spec = |path: &str| object.pointer(path).cloned().unwrap_or(Value::Null);
                let count = |path: &str, default: u32| match spec(path) {
                    Value::Null => Ok(default),
                    v => serde_json::from_value::<u32>(v).map_err(bad),
                };
                let (template, replicas, ordered) = match kind {
                    WorkloadKind::Deployment | WorkloadKind::ReplicaSet => {
                        (template(&object)?, Some(count("/spec/replicas", 1)?), false)
                    }
                    WorkloadKind::StatefulSet => (
                        template(&object)?,
                        Some(count("/spec/replicas", 1)?),
                        spec("/spec/podManagementPolicy").as_str() != Some("Parallel"),
                    ),
                    WorkloadKind::DaemonSet => (template(&object)?, None, false),
                    WorkloadKind::Job => (
                        template(&object)?,
                        Some(count("/spec/parallelism", 1)?),
                        false,
                    ),
                    WorkloadKind::CronJob => {
                        let job = spec("/spec/jobTemplate");
                        let parallelism = match job.pointer("/spec/parallelism") {
                            Some(v) if !v.is_null() => {
                                serde_json::from_value::<u32>(v.clone()).map_err(bad)?
                            }
                            _ => 1,
                        };
                        (template(&job)?, Some(parallelism), false)
                    }
                    WorkloadKind::Pod => {
                        let pod = Template {
                            metadata: TemplateMeta {
                                labels: meta.labels.clone(),
                            },
                            spec: match object.get("spec") {
                                Some(s) if !s.is_null() => {
                                    serde_json::from_value(s.clone()).map_err(bad)?
                                }
                                _ => PodSpec::default(),
                            },
                        };
                        (pod, Some(1), false)
                    }
                };
                let workload = Workload {
                    kind,
                    namespace,
                    name: meta.name,
                    pod_labels: template.metadata.labels,
                    replicas,
                    ordered,
                    pod: template.spec,
                };
                replace_or_push(&mut self.workloads, workload, |a, b| {
                    (a.kind, &a.namespace, &a.name) == (b.kind, &b.namespace, &b.name)
                });
            }
        }
        Ok(())
    }
}

/// The same object read twice (two manifests): the later one stands, as `kubectl apply` of
/// both would leave it.
fn replace_or_push<T>(list: &mut Vec<T>, item: T, same: impl Fn(&T, &T) -> bool) {
    match list.iter_mut().find(|x| same(x, &item)) {
        Some(old) => *old = item,
        None => list.push(item),
    }
}

/// An object that does not have the shape its kind must have.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{problem}", self.which())]
pub struct BadObject {
    /// Its kind.
    pub kind: String,
    /// Its name, if it had one.
    pub name: String,
    /// What is wrong.
    pub problem: String,
}

impl BadObject {
    /// `Deployment "web": `, as much of it as is known.
    fn which(&self) -> String {
        match (self.kind.as_str(), self.name.as_str()) {
            ("", "") => String::new(),
            (kind, "") => format!("{kind}: "),
            ("", name) => format!("{name:?}: "),
            (kind, name) => format!("{kind} {name:?}: "),
        }
    }

    fn named(mut self, kind: &str) -> Self {
        self.kind = kind.to_string();
        self
    }
}

fn field<T: serde::de::DeserializeOwned + Default>(
    object: &Value,
    name: &str,
) -> Result<T, BadObject> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            let hint = match e.to_string().contains("invalid type: boolean") {
                // What kubectl's YAML reader does too: `namespace: no` is `false`.
                true => " (YAML reads a bare y, n, yes, no, on or off as a boolean: quote it)",
                false => "",
            };
            BadObject {
                kind: String::new(),
                name: object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                problem: format!("{name}: {e}{hint}"),
            }
        }),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Meta {
    name: String,
    namespace: Option<String>,
    labels: BTreeMap<String, String>,
    owner_references: Vec<OwnerReference>,
}

impl Meta {
    /// Whether a controller that is itself a workload owns this one, so that it is read
    /// through its owner's template (a Deployment's ReplicaSet, a Job's or StatefulSet's pod).
    fn owned(&self, kind: WorkloadKind) -> bool {
        kind != WorkloadKind::Deployment
            && self
                .owner_references
                .iter()
                .any(|o| o.controller == Some(true) && WorkloadKind::from_name(&o.kind).is_some())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OwnerReference {
    kind: String,
    controller: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Template {
    metadata: TemplateMeta,
    spec: PodSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TemplateMeta {
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ServiceSpec {
    selector: Option<BTreeMap<String, String>>,
    #[serde(rename = "type")]
    type_: Option<String>,
    external_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn owned_replica_sets_and_pods_are_their_owners() {
        let mut inv = Inventory::default();
        let owned = |kind: &str| {
            json!({"metadata": {"name": "x", "ownerReferences": [
                {"kind": kind, "controller": true, "name": "o"}]}})
        };
        inv.add("ReplicaSet", owned("Deployment")).unwrap();
        inv.add("Pod", owned("ReplicaSet")).unwrap();
        inv.add("Job", owned("CronJob")).unwrap();
        assert!(inv.workloads.is_empty());
        // An owner that is not a workload (an operator's custom resource) leaves it ours.
        inv.add("Pod", owned("EtcdCluster")).unwrap();
        assert_eq!(inv.workloads.len(), 1);
    }

    #[test]
    fn replicas_default_as_the_api_server_defaults_them() {
        let mut inv = Inventory::default();
        for kind in ["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"] {
            inv.add(kind, json!({"metadata": {"name": "w"}, "spec": {}}))
                .unwrap();
        }
        let replicas: Vec<_> = inv.workloads.iter().map(|w| w.replicas).collect();
        assert_eq!(replicas, [Some(1), Some(1), None, Some(1), Some(1)]);
        assert!(inv.workloads[1].ordered);
        inv.add(
            "StatefulSet",
            json!({"metadata": {"name": "p"}, "spec": {"podManagementPolicy": "Parallel", "replicas": 3}}),
        )
        .unwrap();
        assert!(!inv.workloads[5].ordered);
        assert_eq!(inv.workloads[5].replicas, Some(3));
        assert_eq!(inv.workloads[0].namespace, "default");
    }

    #[test]
    fn a_wrong_shape_names_the_object() {
        let mut inv = Inventory::default();
        let e = inv
            .add(
                "Deployment",
                json!({"metadata": {"name": "web"}, "spec": {"replicas": "three"}}),
            )
            .unwrap_err();
        assert_eq!(e.kind, "Deployment");
        assert_eq!(e.name, "web");
    }
}
