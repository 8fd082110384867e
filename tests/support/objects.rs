//! Objects of any type — Jobs, Deployments, StatefulSets, custom resources — created and given
//! a status the way their controllers would (no controllers run here), and CRDs installed
//! mid-test.

use std::time::Duration;

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

use super::{TestEnv, User};

/// A type by apiVersion, kind and plural.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
}

pub const JOB: Kind = Kind {
    api_version: "batch/v1",
    kind: "Job",
    plural: "jobs",
};
pub const DEPLOYMENT: Kind = Kind {
    api_version: "apps/v1",
    kind: "Deployment",
    plural: "deployments",
};
pub const STATEFUL_SET: Kind = Kind {
    api_version: "apps/v1",
    kind: "StatefulSet",
    plural: "statefulsets",
};
pub const DAEMON_SET: Kind = Kind {
    api_version: "apps/v1",
    kind: "DaemonSet",
    plural: "daemonsets",
};
pub const SERVICE: Kind = Kind {
    api_version: "v1",
    kind: "Service",
    plural: "services",
};
pub const CONFIG_MAP: Kind = Kind {
    api_version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
};
pub const PVC: Kind = Kind {
    api_version: "v1",
    kind: "PersistentVolumeClaim",
    plural: "persistentvolumeclaims",
};

impl Kind {
    fn resource(self) -> ApiResource {
        let (group, version) = self
            .api_version
            .split_once('/')
            .unwrap_or(("", self.api_version));
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, self.kind),
            self.plural,
        )
    }
}

/// A pod template a Job accepts (`restartPolicy: Never`).
pub fn pod_template(app: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": app}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
    })
}

/// A pod template for Deployments, StatefulSets and DaemonSets (`restartPolicy: Always`).
pub fn workload_template(app: &str) -> Value {
    let mut template = pod_template(app);
    template["spec"]["restartPolicy"] = json!("Always");
    template
}

impl TestEnv {
    async fn api(&self, ns: Option<&str>, kind: Kind) -> Api<DynamicObject> {
        let client = self.client(User::Admin).await;
        match ns {
            Some(ns) => Api::namespaced_with(client, ns, &kind.resource()),
            None => Api::all_with(client, &kind.resource()),
        }
    }

    /// Create an object (`ns` `None`: cluster-scoped) and return it as the server stored it.
    pub async fn create(&self, ns: Option<&str>, kind: Kind, mut object: Value) -> DynamicObject {
        object["apiVersion"] = json!(kind.api_version);
        object["kind"] = json!(kind.kind);
        let object: DynamicObject = serde_json::from_value(object).unwrap();
        self.api(ns, kind)
            .await
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("create {} in {ns:?}: {e}", kind.kind))
    }

    /// Merge `status` into the object's status through the status subresource, as its
    /// controller would.
    pub async fn set_status(&self, ns: Option<&str>, kind: Kind, name: &str, status: Value) {
        self.api(ns, kind)
            .await
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await
            .unwrap_or_else(|e| panic!("status of {} {name}: {e}", kind.kind));
    }

    /// Merge `patch` into the object (a spec change, as a user's `kubectl patch` would).
    pub async fn merge_patch(&self, ns: Option<&str>, kind: Kind, name: &str, patch: Value) {
        self.api(ns, kind)
            .await
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patch {} {name}: {e}", kind.kind));
    }

    /// Delete an object (foreground deletion is not needed: no finalizers here).
    pub async fn delete(&self, ns: Option<&str>, kind: Kind, name: &str) {
        self.api(ns, kind)
            .await
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("delete {} {name}: {e}", kind.kind));
    }

    /// Install a namespaced CRD `PLURAL.GROUP` (version v1, kind `kind`, status subresource,
    /// any fields) and return once the server serves it.
    pub async fn install_crd(&self, group: &str, kind: &str, plural: &str) {
        let crd_kind = Kind {
            api_version: "apiextensions.k8s.io/v1",
            kind: "CustomResourceDefinition",
            plural: "customresourcedefinitions",
        };
        let name = format!("{plural}.{group}");
        self.create(
            None,
            crd_kind,
            json!({
                "metadata": {"name": name},
                "spec": {
                    "group": group,
                    "scope": "Namespaced",
                    "names": {"kind": kind, "plural": plural, "singular": kind.to_ascii_lowercase(), "listKind": format!("{kind}List")},
                    "versions": [{
                        "name": "v1", "served": true, "storage": true,
                        "subresources": {"status": {}},
                        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                    }],
                },
            }),
        )
        .await;
        let client = self.client(User::Admin).await;
        for _ in 0..300 {
            if client
                .list_api_group_resources(&format!("{group}/v1"))
                .await
                .is_ok_and(|l| l.resources.iter().any(|r| r.name == plural))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("CRD {name} was not served within 30 s");
    }
}
