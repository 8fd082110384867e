//! What depwait keeps of each object it lists and watches: only what a readiness rule or a
//! reason reads. Pods are decoded straight into a narrow type; untyped objects (Services,
//! EndpointSlices, `--resource` types) are trimmed as they arrive.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::DynamicObject;
use kube::core::NamespaceResourceScope;
use serde::{Deserialize, Deserializer};

/// A pod as depwait lists, watches and keeps it: the metadata the store and the watcher need
/// (name, namespace, resourceVersion, deletionTimestamp) and the parts of the status readiness
/// reads. Everything else in the JSON — `spec`, labels, annotations, `managedFields`, addresses,
/// images, timestamps — is skipped by the decoder without being built: with the full `Pod` type
/// a list page of 500 pods decoded every `managedFields` tree before anything could drop it, and
/// each stored pod carried a 2 KB struct, mostly an empty `spec` (measured in
/// `bench/RESULTS.md`). Field names follow the API's, so the rules below read like ones written
/// against `k8s_openapi`'s `Pod`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WatchedPod {
    /// The narrowed metadata.
    #[serde(deserialize_with = "narrow_meta", default)]
    pub metadata: ObjectMeta,
    /// What readiness reads of the status, as the kubelet wrote it.
    #[serde(default)]
    pub status: Option<PodStatus>,
}

/// `status`, narrowed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    /// `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`.
    pub phase: Option<String>,
    /// `Ready`, `PodScheduled`, ...
    pub conditions: Option<Vec<PodCondition>>,
    /// The app containers.
    pub container_statuses: Option<Vec<ContainerStatus>>,
    /// The init containers.
    pub init_container_statuses: Option<Vec<ContainerStatus>>,
}

/// `status.conditions[]`, narrowed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodCondition {
    /// Condition type.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False`, `Unknown`.
    pub status: String,
    /// Machine-readable reason.
    pub reason: Option<String>,
    /// Human-readable message (kept to its first 120 characters).
    #[serde(default, deserialize_with = "short_text")]
    pub message: Option<String>,
}

/// `status.containerStatuses[]`, narrowed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    /// Container name.
    pub name: String,
    /// The container's readiness probe passes.
    #[serde(default)]
    pub ready: bool,
    /// Restarts so far.
    #[serde(default)]
    pub restart_count: i32,
    /// Waiting or terminated (running needs no reason).
    pub state: Option<ContainerState>,
}

/// `state`, narrowed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContainerState {
    /// Not running yet, with why (`CrashLoopBackOff`, `ImagePullBackOff`).
    pub waiting: Option<ContainerStateWaiting>,
    /// Ended, with why and the exit code.
    pub terminated: Option<ContainerStateTerminated>,
}

/// `state.waiting`, narrowed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContainerStateWaiting {
    /// Why it waits.
    pub reason: Option<String>,
}

/// `state.terminated`, narrowed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateTerminated {
    /// Why it ended.
    pub reason: Option<String>,
    /// Its exit code.
    #[serde(default)]
    pub exit_code: i32,
}

/// Messages are shown truncated; a kubelet's can be long (scheduler messages list every node).
fn short_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(|m| crate::text::ellipsize(&m, 120).into_owned()))
}

/// The metadata fields a pod is kept with; serde skips the rest unbuilt.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NarrowMeta {
    name: Option<String>,
    namespace: Option<String>,
    resource_version: Option<String>,
    deletion_timestamp: Option<Time>,
}

fn narrow_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    let m = NarrowMeta::deserialize(d)?;
    Ok(ObjectMeta {
        name: m.name,
        namespace: m.namespace,
        resource_version: m.resource_version,
        deletion_timestamp: m.deletion_timestamp,
        ..ObjectMeta::default()
    })
}

/// Lists and watches go to core/v1 `pods`, like the full type's.
impl kube::Resource for WatchedPod {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "Pod".into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        "".into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        "pods".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// The annotation `kubectl apply` leaves: a copy of the whole object as applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Objects slimmed before they are cached: only what readiness reads is kept.
pub trait Slim {
    /// Drop what no readiness rule reads.
    fn slim(&mut self);
}

/// Narrow as decoded: nothing left to drop.
impl Slim for WatchedPod {
    fn slim(&mut self) {}
}

/// Drop what no readiness rule reads from untyped objects: managed fields and kubectl's
/// last-applied copy, which alone can be larger than the rest of the object. Other annotations
/// stay: a `--resource` JSONPath may read them.
impl Slim for DynamicObject {
    fn slim(&mut self) {
        self.metadata.managed_fields = None;
        if let Some(annotations) = &mut self.metadata.annotations {
            annotations.remove(LAST_APPLIED);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::pod::{PodVerdict, verdict};
    use serde_json::json;

    /// A whole pod as the API server sends it decodes to the narrow type: what readiness needs
    /// is there; spec, labels, annotations and managedFields never are.
    #[test]
    fn a_full_pod_decodes_to_the_fields_readiness_reads() {
        let p: WatchedPod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                "labels": {"app": "web"}, "annotations": {"a": "b"},
                "deletionTimestamp": "2026-01-01T00:00:00Z",
                "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}]},
            "spec": {"containers": [{"name": "app", "image": "app"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1", "qosClass": "BestEffort",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": null},
                               {"type": "PodScheduled", "status": "False", "message": "x".repeat(500)}],
                "containerStatuses": [{"name": "app", "ready": true, "restartCount": 1, "image": "app",
                    "imageID": "sha", "started": true, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                    "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]},
        }))
        .unwrap();
        let status = p.status.as_ref().unwrap();
        assert_eq!(
            status.container_statuses.as_ref().unwrap()[0].restart_count,
            1
        );
        let message = status.conditions.as_ref().unwrap()[1]
            .message
            .as_deref()
            .unwrap();
        assert_eq!(
            message.chars().count(),
            121,
            "120 characters and an ellipsis"
        );
        assert_eq!(p.metadata.name.as_deref(), Some("web-0"));
        assert_eq!(p.metadata.resource_version.as_deref(), Some("7"));
        assert!(p.metadata.deletion_timestamp.is_some());
        assert!(p.metadata.labels.is_none() && p.metadata.annotations.is_none());
        assert!(p.metadata.managed_fields.is_none());
        assert_eq!(verdict(&p), PodVerdict::Ignored("terminating"));
    }
}
