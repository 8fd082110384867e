//! What the API server serves, asked once per run: which API carries Service endpoints, and
//! where `--job`/`--rollout`/`--resource` types live.

use std::collections::HashMap;

use kube::Client;
use kube::api::{ApiResource, GroupVersionKind};
use tokio::sync::OnceCell;

use crate::kinds::{self, TypeName};

/// Which API serves a Service's endpoints on this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointsApi {
    /// `discovery.k8s.io/v1` EndpointSlices (Kubernetes 1.21+).
    SlicesV1,
    /// `discovery.k8s.io/v1beta1` EndpointSlices (Kubernetes 1.17-1.24; the only kind on 1.20).
    SlicesV1beta1,
    /// core/v1 Endpoints: a server that serves no EndpointSlices at all.
    Endpoints,
}

impl EndpointsApi {
    /// Choose from the versions the server lists for `discovery.k8s.io` (`None`: no such
    /// group). The newest served version wins: v1beta1 was removed in 1.25.
    pub fn choose(served: Option<&[String]>) -> Self {
        match served {
            Some(v) if v.iter().any(|v| v == "v1") => EndpointsApi::SlicesV1,
            Some(v) if v.iter().any(|v| v == "v1beta1") => EndpointsApi::SlicesV1beta1,
            _ => EndpointsApi::Endpoints,
        }
    }

    pub(super) fn api_resource(self) -> ApiResource {
        let gvk = |g: &str, v: &str, k: &str| GroupVersionKind::gvk(g, v, k);
        match self {
            EndpointsApi::SlicesV1 => ApiResource::from_gvk_with_plural(
                &gvk("discovery.k8s.io", "v1", "EndpointSlice"),
                "endpointslices",
            ),
            EndpointsApi::SlicesV1beta1 => ApiResource::from_gvk_with_plural(
                &gvk("discovery.k8s.io", "v1beta1", "EndpointSlice"),
                "endpointslices",
            ),
            EndpointsApi::Endpoints => {
                ApiResource::from_gvk_with_plural(&gvk("", "v1", "Endpoints"), "endpoints")
            }
        }
    }
}

/// API discovery shared by every watcher of one run: asked once, on first need.
#[derive(Default)]
pub struct Discovery {
    /// The endpoints API, once a discovery request has succeeded.
    endpoints: OnceCell<EndpointsApi>,
    /// `--job`/`--rollout`/`--resource` types found so far, by the type as written. Held while
    /// a lookup runs, so watchers started together for the same type ask the server once.
    types: tokio::sync::Mutex<HashMap<String, kinds::Served>>,
}

impl Discovery {
    /// The served resource `name` is; `Ok(None)` while the server does not serve it (not
    /// cached: the caller asks again).
    pub(super) async fn served(
        &self,
        client: &Client,
        name: &TypeName,
        searched: &mut kinds::Searched,
    ) -> Result<Option<kinds::Served>, kube::Error> {
        let mut types = self.types.lock().await;
        let key = name.to_string();
        if let Some(found) = types.get(&key) {
            return Ok(Some(found.clone()));
        }
        let found = kinds::discover(client, name, searched).await?;
        if let Some(found) = &found {
            types.insert(key, found.clone());
        }
        Ok(found)
    }

    /// The API that serves Service endpoints here. One request (the API group list); an error
    /// is returned, not cached, so the caller retries.
    pub async fn endpoints_api(&self, client: &Client) -> Result<EndpointsApi, kube::Error> {
        self.endpoints
            .get_or_try_init(|| async {
                let groups = client.list_api_groups().await?;
                let served: Option<Vec<String>> = groups
                    .groups
                    .iter()
                    .find(|g| g.name == "discovery.k8s.io")
                    .map(|g| g.versions.iter().map(|v| v.version.clone()).collect());
                let api = EndpointsApi::choose(served.as_deref());
                tracing::debug!(?api, "endpoints API chosen by discovery");
                Ok(api)
            })
            .await
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_slices_v1_preferred_then_v1beta1_then_core_endpoints() {
        let v = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            EndpointsApi::choose(Some(&v(&["v1", "v1beta1"]))),
            EndpointsApi::SlicesV1
        );
        // Kubernetes 1.20, the test server.
        assert_eq!(
            EndpointsApi::choose(Some(&v(&["v1beta1"]))),
            EndpointsApi::SlicesV1beta1
        );
        assert_eq!(EndpointsApi::choose(Some(&[])), EndpointsApi::Endpoints);
        assert_eq!(EndpointsApi::choose(None), EndpointsApi::Endpoints);
        assert_eq!(EndpointsApi::Endpoints.api_resource().plural, "endpoints");
        assert_eq!(
            EndpointsApi::SlicesV1beta1.api_resource().api_version,
            "discovery.k8s.io/v1beta1"
        );
    }
}
