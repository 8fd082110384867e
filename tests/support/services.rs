//! Services and their endpoints, written as the endpoint-slice controller would (no controllers
//! run here). The EndpointSlice API version is found by discovery, as depwait does: the 1.20
//! test server serves only `discovery.k8s.io/v1beta1`.

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

use super::objects::SERVICE;
use super::{TestEnv, User};

/// One endpoint of a slice: (pod hostname or none, ready).
pub type EndpointSpec<'a> = (Option<&'a str>, bool);

impl TestEnv {
    /// Create a ClusterIP Service (`headless`: clusterIP None) selecting `app=NAME`.
    pub async fn create_service(&self, ns: &str, name: &str, headless: bool) {
        let mut spec = json!({"selector": {"app": name}, "ports": [{"port": 80}]});
        if headless {
            spec["clusterIP"] = json!("None");
        }
        self.create(
            Some(ns),
            SERVICE,
            json!({"metadata": {"name": name}, "spec": spec}),
        )
        .await;
    }

    /// Create an ExternalName Service aliasing `external`.
    pub async fn create_external_name_service(&self, ns: &str, name: &str, external: &str) {
        let spec = json!({"type": "ExternalName", "externalName": external});
        self.create(
            Some(ns),
            SERVICE,
            json!({"metadata": {"name": name}, "spec": spec}),
        )
        .await;
    }

    /// The served EndpointSlice API, newest first (by discovery, not hard-coded).
    pub async fn endpoint_slice_api(&self) -> ApiResource {
        let groups = self
            .client(User::Admin)
            .await
            .list_api_groups()
            .await
            .unwrap();
        let group = groups
            .groups
            .iter()
            .find(|g| g.name == "discovery.k8s.io")
            .expect("the test server serves discovery.k8s.io");
        let version = ["v1", "v1beta1"]
            .into_iter()
            .find(|v| group.versions.iter().any(|s| s.version == *v))
            .expect("EndpointSlice v1 or v1beta1");
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("discovery.k8s.io", version, "EndpointSlice"),
            "endpointslices",
        )
    }

    /// Create or replace the EndpointSlice `slice` of Service `service` with these endpoints
    /// (addresses 10.0.0.1, 10.0.0.2, ... in order).
    pub async fn set_endpoint_slice(
        &self,
        ns: &str,
        service: &str,
        slice: &str,
        endpoints: &[EndpointSpec<'_>],
    ) {
        let ar = self.endpoint_slice_api().await;
        let endpoints: Vec<Value> = endpoints
            .iter()
            .enumerate()
            .map(|(i, (host, ready))| {
                let mut e = json!({
                    "addresses": [format!("10.0.{}.{}", slice.len() % 200, i + 1)],
                    "conditions": {"ready": ready},
                    "targetRef": {"kind": "Pod", "namespace": ns, "name": format!("{slice}-{i}"), "uid": format!("{slice}-{i}")},
                });
                if let Some(h) = host {
                    e["hostname"] = json!(h);
                }
                e
            })
            .collect();
        let object = json!({
            "apiVersion": ar.api_version, "kind": "EndpointSlice",
            "metadata": {"name": slice, "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4",
            "ports": [{"port": 80, "protocol": "TCP"}],
            "endpoints": endpoints,
        });
        let api: Api<DynamicObject> = Api::namespaced_with(self.client(User::Admin).await, ns, &ar);
        api.patch(
            slice,
            &PatchParams::apply("depwait-tests").force(),
            &Patch::Apply(&object),
        )
        .await
        .unwrap_or_else(|e| panic!("apply EndpointSlice {ns}/{slice}: {e}"));
    }
}
