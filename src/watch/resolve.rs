//! A watched set → the API requests that read it: the one place that maps a [`WatchKey`] to
//! an API, for the watchers and for `depwait check` alike. Service endpoints and
//! `--job`/`--rollout`/`--resource` objects need discovery; pods and Services do not.

use std::fmt::Debug;
use std::hash::Hash;

use k8s_openapi::api::core::v1::Service;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use super::discovery::{Discovery, EndpointsApi};
use crate::api_error::{self, Request};
use crate::dependency::{WatchKey, WatchKind};
use crate::kinds::{self, TypeName};
use crate::slim::{Slim, WatchedPod};

/// Server-side watch timeout: below the API server's 5-minute cap (kube requires < 295 s) so
/// the watch is renewed by us, not cut by a proxy.
const WATCH_TIMEOUT_SECS: u32 = 290;

/// Where a watched set is read from, once discovery (if any) has said which API serves it.
pub(super) struct Resolved {
    /// The served type.
    resource: ApiResource,
    /// Its namespace; `None` for a cluster-scoped type.
    namespace: Option<String>,
    /// Selectors and timeout.
    pub config: watcher::Config,
    /// What RBAC must allow, for error messages.
    pub request: Request,
}

/// The object types watchers store: pods typed (their rules read many fields), everything
/// else untyped (Services and EndpointSlices of whichever version the server serves, any
/// `--resource` type).
pub(super) trait Stored:
    Resource<DynamicType: Clone + Eq + Hash>
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + Slim
    + 'static
{
    /// The API handle for `resolved`.
    fn api(client: Client, resolved: &Resolved) -> Api<Self>;
    /// An empty store's writer.
    fn writer() -> Writer<Self>;
}

impl Stored for WatchedPod {
    fn api(client: Client, resolved: &Resolved) -> Api<Self> {
        match &resolved.namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::all(client),
        }
    }
    fn writer() -> Writer<Self> {
        Writer::default()
    }
}

impl Stored for DynamicObject {
    fn api(client: Client, resolved: &Resolved) -> Api<Self> {
        match &resolved.namespace {
            Some(ns) => Api::namespaced_with(client, ns, &resolved.resource),
            None => Api::all_with(client, &resolved.resource),
        }
    }
    fn writer() -> Writer<Self> {
        // The store's type tag only shapes its keys; every object in it gets the same one,
        // whichever API version discovery picks.
        Writer::new(ApiResource::erase::<Service>(&()))
    }
}

/// Why a watched set cannot be read yet.
#[derive(Debug)]
pub(super) enum ResolveError {
    /// Discovery failed: retried like a failed list.
    Api(kube::Error),
    /// The type is not served (yet): asked again soon.
    NotServed(String),
}

impl From<kube::Error> for ResolveError {
    fn from(e: kube::Error) -> Self {
        ResolveError::Api(e)
    }
}

impl ResolveError {
    /// Why, as a progress line shows it.
    pub fn reason(&self) -> String {
        match self {
            ResolveError::Api(e) => format!("API discovery failed: {}", api_error::with_causes(e)),
            ResolveError::NotServed(reason) => reason.clone(),
        }
    }
}

/// How to read `key`.
pub(super) async fn resolve(
    client: &Client,
    discovery: &Discovery,
    key: &WatchKey,
    searched: &mut kinds::Searched,
) -> Result<Resolved, ResolveError> {
    let mut config = watcher::Config::default().timeout(WATCH_TIMEOUT_SECS);
    if let Some(labels) = &key.labels {
        config = config.labels(labels);
    }
    let by_name = format!("metadata.name={}", key.name.as_deref().unwrap_or_default());
    let in_namespace = |resource: ApiResource, config, group: &str| Resolved {
        request: Request {
            group: group.into(),
            resource: resource.plural.clone(),
            namespace: key.namespace.clone(),
        },
        resource,
        namespace: Some(key.namespace.clone()),
        config,
    };
    Ok(match key.kind {
        WatchKind::Pods => in_namespace(ApiResource::erase::<WatchedPod>(&()), config, ""),
        WatchKind::Services => in_namespace(
            ApiResource::erase::<Service>(&()),
            config.fields(&by_name),
            "",
        ),
        WatchKind::ServiceEndpoints => {
            let chosen = discovery.endpoints_api(client).await?;
            let resource = chosen.api_resource();
            match chosen {
                EndpointsApi::Endpoints => in_namespace(resource, config.fields(&by_name), ""),
                EndpointsApi::SlicesV1 | EndpointsApi::SlicesV1beta1 => {
                    let name = key.name.as_deref().unwrap_or_default();
                    let config = config.labels(&format!("kubernetes.io/service-name={name}"));
                    in_namespace(resource, config, "discovery.k8s.io")
                }
            }
        }
        WatchKind::Objects => {
            let written = key.resource.as_deref().unwrap_or_default();
            // Validated with the configuration; a failure here would be a bug, shown as-is.
            let type_name =
                TypeName::parse(written).map_err(|e| ResolveError::NotServed(e.to_string()))?;
            let Some(served) = discovery.served(client, &type_name, searched).await? else {
                return Err(ResolveError::NotServed(format!(
                    "the API server does not serve `{written}` (yet): waiting for its CustomResourceDefinition"
                )));
            };
            // kubectl's rules: a namespace given for a cluster-scoped type is ignored; a
            // namespaced type without one lives in the client's default namespace (the pod's
            // own, in a cluster).
            let namespace = served.namespaced.then(|| match key.namespace.as_str() {
                "" => client.default_namespace().to_string(),
                ns => ns.to_string(),
            });
            Resolved {
                request: Request {
                    group: served.resource.group.clone(),
                    resource: served.resource.plural.clone(),
                    namespace: namespace.clone().unwrap_or_default(),
                },
                resource: served.resource,
                namespace,
                config: config.fields(&by_name),
            }
        }
    })
}
