//! `--emit-events`: a Warning Event on the waiting pod when the wait fails, so
//! `kubectl describe pod` and event-based alerting see why the pod is stuck in Init.
//!
//! The pod is named by the downward API (`POD_NAME`, `POD_NAMESPACE`, and ideally `POD_UID`:
//! `kubectl describe` matches events by the pod's UID). Needs `create` on `events` in the pod's
//! namespace, and `get` on its own pod when `POD_UID` is not set — which `depwait rbac` grants
//! with the restart guard's rule; without that grant the Event is recorded without the UID.
//!
//! **A core/v1 Event built here, not kube's `Recorder`.** `kube::runtime::events::Recorder`
//! writes `events.k8s.io/v1` Events. For depwait it would cost three things and buy nothing:
//! - **RBAC.** It needs `create` on `events` in the API group `events.k8s.io`. Every grant made
//!   so far — `depwait rbac --emit-events` output, the manifests in `k8s/`, users' own Roles —
//!   is on core `events` (group `""`), which does not authorize the other group: an upgraded
//!   depwait would stop recording Events (one warning line, exit code unchanged) until every
//!   user re-applied RBAC, and `depwait rbac` would have to grant both groups to serve old and
//!   new binaries.
//! - **The log line.** `Recorder::publish` returns `()`, so the line saying which Event was
//!   written (`recorded Warning Event … (events/NAME)`) could no longer name it.
//! - **The bound.** It has no timeout of its own; [`EMIT_LIMIT`] would wrap it as it wraps this.
//!
//! What it adds — a cache of recent Events and `series` counts for a controller that reports the
//! same thing again and again — depwait has no use for: it writes at most one Event and exits.
//! Readers see no difference: both API groups serve the same stored Events, so `kubectl describe
//! pod` and `kubectl get events` show this one as they would the Recorder's.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client};

use crate::aggregate::Outcome;
use crate::text::{Escaped, Limit, truncate};

/// The reason every depwait Event carries, for alert rules to match on.
pub const REASON: &str = "DependenciesNotReady";

/// Events cap messages at 1 KiB in practice (the API server truncates longer ones).
const MESSAGE_LIMIT: usize = 1024;

/// Which pod to put the Event on, from the downward-API variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingPod {
    /// `POD_NAME`.
    pub name: String,
    /// `POD_NAMESPACE`.
    pub namespace: String,
    /// `POD_UID`, when the pod spec passes it.
    pub uid: Option<String>,
}

impl WaitingPod {
    /// From `POD_NAME` / `POD_NAMESPACE` / `POD_UID`; `None` when the first two are not set.
    pub fn from_env() -> Option<Self> {
        let var = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
        Some(Self {
            name: var("POD_NAME")?,
            namespace: var("POD_NAMESPACE")?,
            uid: var("POD_UID"),
        })
    }
}

/// How long recording the Event (finding the pod's UID, creating the Event) may take. It is
/// sent after the wait has ended, often because `--timeout` passed: it gets a bound of its
/// own, so an API server that does not answer cannot hold the exit.
pub const EMIT_LIMIT: Duration = Duration::from_secs(5);

/// Record a Warning Event on `target` saying what is not ready. Best effort: a failure, or no
/// answer within [`EMIT_LIMIT`], is logged and does not change the exit code, and the line says
/// what happened — recorded (and under which name), not recorded because the pod does not
/// exist, or recorded without the pod's UID because it could not be read.
pub async fn emit(client: &Client, target: &WaitingPod, message: &str) {
    if tokio::time::timeout(EMIT_LIMIT, emit_now(client, target, message))
        .await
        .is_err()
    {
        tracing::warn!(
            "could not record an Event on pod {}/{}: the API server did not answer within {}",
            Escaped(&target.namespace),
            Escaped(&target.name),
            humantime::format_duration(EMIT_LIMIT)
        );
    }
}

async fn emit_now(client: &Client, target: &WaitingPod, message: &str) {
    // POD_NAME and POD_NAMESPACE are the user's text: shown escaped, like everything else.
    let pod = format!("{}/{}", Escaped(&target.namespace), Escaped(&target.name));
    let uid = match &target.uid {
        Some(uid) => Some(uid.clone()),
        None => match Api::<Pod>::namespaced(client.clone(), &target.namespace)
            .get_opt(&target.name)
            .await
        {
            Ok(Some(p)) => p.metadata.uid,
            Ok(None) => {
                tracing::warn!(
                    event = "kubernetes_event",
                    "no Event recorded: pod {pod} (POD_NAMESPACE/POD_NAME) does not exist; set POD_NAME and POD_NAMESPACE from the downward API (fieldPath metadata.name and metadata.namespace)"
                );
                return;
            }
            Err(e) => {
                tracing::warn!(
                    event = "kubernetes_event",
                    "could not read pod {pod} for its UID (set POD_UID from the downward API, fieldPath metadata.uid, or allow `get` on `pods` there): {}; recording the Event without it, which `kubectl describe pod` may not show",
                    Escaped(&e)
                );
                None
            }
        },
    };
    // `message` is the summary, its cluster text already escaped by `report`; its newlines
    // between dependencies are depwait's own.
    let message = truncate(message, Limit::Bytes(MESSAGE_LIMIT)).to_string();
    let event = event(target, uid, message, Time(Timestamp::now()));
    match Api::<Event>::namespaced(client.clone(), &target.namespace)
        .create(&PostParams::default(), &event)
        .await
    {
        Ok(created) => tracing::info!(
            event = "kubernetes_event",
            "recorded Warning Event {REASON} (events/{}) on pod {pod}",
            Escaped(created.metadata.name.as_deref().unwrap_or("?"))
        ),
        Err(e) => tracing::warn!(
            event = "kubernetes_event",
            "could not record an Event on pod {pod} (needs `create` on `events` in namespace \"{}\"): {}",
            Escaped(&target.namespace),
            Escaped(&e)
        ),
    }
}

/// `--emit-events` (`enabled`) after a wait that failed with `outcome`: the Event on the waiting
/// pod saying why (`summary`), or a line saying why none could be recorded. A signal records
/// none: the pod is being stopped on purpose, and its deletion would race the write.
pub async fn on_failure(enabled: bool, outcome: &Outcome, client: Option<&Client>, summary: &str) {
    if !enabled || matches!(outcome, Outcome::Interrupted(_)) {
        return;
    }
    match (WaitingPod::from_env(), client) {
        (Some(target), Some(client)) => emit(client, &target, summary).await,
        (None, _) => tracing::warn!(
            event = "kubernetes_event",
            recorded = false,
            "--emit-events needs POD_NAME and POD_NAMESPACE from the downward API; no Event recorded"
        ),
        (_, None) => tracing::warn!(
            event = "kubernetes_event",
            recorded = false,
            "--emit-events needs Kubernetes credentials; no Event recorded"
        ),
    }
}

/// The Warning Event on `target` (the pod of UID `uid`, when known) saying `message`, as the
/// kubelet writes its own: `kubectl describe pod` shows it under Events, from `depwait`.
fn event(target: &WaitingPod, uid: Option<String>, message: String, now: Time) -> Event {
    Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}.depwait-", target.name)),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(target.name.clone()),
            namespace: Some(target.namespace.clone()),
            uid,
            ..ObjectReference::default()
        },
        reason: Some(REASON.into()),
        message: Some(message),
        type_: Some("Warning".into()),
        source: Some(EventSource {
            component: Some("depwait".into()),
            host: None,
        }),
        reporting_component: Some("depwait".into()),
        reporting_instance: Some(target.name.clone()),
        first_timestamp: Some(now.clone()),
        last_timestamp: Some(now),
        count: Some(1),
        ..Event::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What reaches the API server: the fields `kubectl describe pod` and alert rules read.
    #[test]
    fn the_event_is_a_warning_on_the_pod_from_depwait() {
        let target = WaitingPod {
            name: "web-0".into(),
            namespace: "shop".into(),
            uid: None,
        };
        let now = Time(Timestamp::from_second(1_767_225_600).unwrap());
        let event = event(&target, Some("u-1".into()), "db: 0 of 2 ready".into(), now);
        assert_eq!(
            serde_json::to_value(event).unwrap(),
            json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"generateName": "web-0.depwait-"},
                "involvedObject": {
                    "apiVersion": "v1", "kind": "Pod",
                    "name": "web-0", "namespace": "shop", "uid": "u-1",
                },
                "reason": "DependenciesNotReady",
                "message": "db: 0 of 2 ready",
                "type": "Warning",
                "source": {"component": "depwait"},
                "reportingComponent": "depwait",
                "reportingInstance": "web-0",
                "firstTimestamp": "2026-01-01T00:00:00Z",
                "lastTimestamp": "2026-01-01T00:00:00Z",
                "count": 1,
            })
        );
    }
}
