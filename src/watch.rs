//! One kube-runtime watcher and reflector store per distinct watched set (kind, namespace,
//! selector or name).
//!
//! Each watcher runs as its own task, applies events to its store, and tells the aggregator
//! only what can change a verdict: its phase (listing / live / failing) and that live objects
//! changed. The aggregator reads the stores; nothing here judges readiness.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, DefaultBackoff, Event, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::api_error::{self, FatalApiError, Request, Verdict};
use crate::dependency::{WatchKey, WatchKind};
use crate::kinds::{self, TypeName};
use crate::readiness::pod::WatchedPod;

/// Where a watcher is, as far as trusting its store goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// (Re-)listing. The store may still hold the previous list until `InitDone` swaps it in:
    /// nothing judged from it counts.
    Listing,
    /// The list is complete and the watch is open: the store is current.
    Live,
    /// The last request failed; retrying with backoff. The store may be stale.
    Failing(String),
    /// The server does not serve the watched type (yet): a custom resource whose definition is
    /// not installed. Discovery is asked again with a short backoff.
    NotServed(String),
}

/// What a watcher (or probe) task tells the aggregator.
#[derive(Debug)]
pub enum Update {
    /// Source `index` changed phase.
    Phase {
        /// Index into the source list.
        index: usize,
        /// The new phase.
        phase: Phase,
    },
    /// Source `index` applied a live add/modify/delete to its store.
    Changed {
        /// Index into the source list.
        index: usize,
    },
    /// Source `index` hit an error waiting cannot fix.
    Fatal {
        /// Index into the source list.
        index: usize,
        /// The error, ready to show.
        error: FatalApiError,
    },
    /// Probe `index` has a new result.
    Probe {
        /// Index into the source list.
        index: usize,
        /// What it found (`10.0.0.7`) or why not (`NXDOMAIN`).
        status: crate::probe::ProbeStatus,
    },
}

/// The read side of a watcher's reflector store.
#[derive(Clone)]
pub enum Objects {
    /// Pods, typed: their readiness rules read many fields.
    Pods(Store<WatchedPod>),
    /// Everything else, untyped: services and endpoint slices of whichever API version the
    /// server serves.
    Dynamic(Store<DynamicObject>),
}

impl Objects {
    /// The pods in the store (none for a non-pod store).
    pub fn pods(&self) -> Vec<Arc<WatchedPod>> {
        match self {
            Objects::Pods(s) => s.state(),
            Objects::Dynamic(_) => Vec::new(),
        }
    }

    /// The objects in a dynamic store (none for a pod store).
    pub fn dynamic(&self) -> Vec<Arc<DynamicObject>> {
        match self {
            Objects::Pods(_) => Vec::new(),
            Objects::Dynamic(s) => s.state(),
        }
    }
}

/// A running watcher: its key, its store, and the task feeding it.
pub struct Watch {
    /// What is watched.
    pub key: WatchKey,
    /// Read side of the reflector store.
    pub objects: Objects,
    /// Aborted on drop so an early exit leaves no request behind.
    task: JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A type not served yet is looked up again this soon…
const NOT_SERVED_FIRST_RETRY: Duration = Duration::from_millis(250);
/// …and then at most this far apart: a CRD installed during the wait is seen within seconds,
/// at the cost of one or two discovery requests per retry.
const NOT_SERVED_MAX_RETRY: Duration = Duration::from_secs(4);

/// Server-side watch timeout: below the API server's 5-minute cap (kube requires < 295 s) so
/// the watch is renewed by us, not cut by a proxy.
const WATCH_TIMEOUT_SECS: u32 = 290;

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

    fn api_resource(self) -> ApiResource {
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
    async fn served(
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

/// Where a watched set is read from, once discovery (if any) has said which API serves it.
struct Resolved {
    /// The API to list and watch.
    api: Endpoint,
    /// Selectors and timeout.
    config: watcher::Config,
    /// What RBAC must allow, for error messages.
    request: Request,
}

/// A typed or untyped API handle.
enum Endpoint {
    Pods(Api<WatchedPod>),
    Dynamic(Api<DynamicObject>),
}

/// Why a watched set cannot be read yet.
#[derive(Debug)]
enum ResolveError {
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
    fn reason(&self) -> String {
        match self {
            ResolveError::Api(e) => format!("API discovery failed: {}", api_error::with_causes(e)),
            ResolveError::NotServed(reason) => reason.clone(),
        }
    }
}

/// How to read `key`: the one place that maps a watched set to API requests, for the watchers
/// and for `depwait check` alike. Service endpoints and `--job`/`--rollout`/`--resource`
/// objects need discovery; pods and Services do not.
async fn resolve(
    client: &Client,
    discovery: &Discovery,
    key: &WatchKey,
    searched: &mut kinds::Searched,
) -> Result<Resolved, ResolveError> {
    let mut config = watcher::Config::default().timeout(WATCH_TIMEOUT_SECS);
    if let Some(labels) = &key.labels {
        config = config.labels(labels);
    }
    let ns = &key.namespace;
    let name = key.name.clone().unwrap_or_default();
    let dynamic =
        |ar: &ApiResource| Endpoint::Dynamic(Api::namespaced_with(client.clone(), ns, ar));
    Ok(match key.kind {
        WatchKind::Pods => Resolved {
            api: Endpoint::Pods(Api::namespaced(client.clone(), ns)),
            config,
            request: request_for(key, "", "pods"),
        },
        WatchKind::Services => Resolved {
            api: dynamic(&ApiResource::erase::<Service>(&())),
            config: config.fields(&format!("metadata.name={name}")),
            request: request_for(key, "", "services"),
        },
        WatchKind::ServiceEndpoints => {
            let chosen = discovery.endpoints_api(client).await?;
            let api = dynamic(&chosen.api_resource());
            match chosen {
                EndpointsApi::Endpoints => Resolved {
                    api,
                    config: config.fields(&format!("metadata.name={name}")),
                    request: request_for(key, "", "endpoints"),
                },
                _ => Resolved {
                    api,
                    config: config.labels(&format!("kubernetes.io/service-name={name}")),
                    request: request_for(key, "discovery.k8s.io", "endpointslices"),
                },
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
            let ar = &served.resource;
            // kubectl's rules: a namespace given for a cluster-scoped type is ignored; a
            // namespaced type without one lives in the client's default namespace (the pod's
            // own, in a cluster).
            let (api, namespace) = if served.namespaced {
                let ns = match ns.as_str() {
                    "" => client.default_namespace().to_string(),
                    ns => ns.to_string(),
                };
                (Api::namespaced_with(client.clone(), &ns, ar), ns)
            } else {
                (Api::all_with(client.clone(), ar), String::new())
            };
            Resolved {
                api: Endpoint::Dynamic(api),
                config: config.fields(&format!("metadata.name={name}")),
                request: Request {
                    group: ar.group.clone(),
                    resource: ar.plural.clone(),
                    namespace,
                },
            }
        }
    })
}

/// Start one watcher per key; source `first_index + i` is `keys[i]`; updates go to `tx`.
pub fn spawn(
    client: &Client,
    discovery: &Arc<Discovery>,
    first_index: usize,
    keys: Vec<WatchKey>,
    tx: &UnboundedSender<Update>,
) -> Vec<Watch> {
    keys.into_iter()
        .enumerate()
        .map(|(i, key)| {
            let index = first_index + i;
            let (objects, task) = match key.kind {
                WatchKind::Pods => {
                    let (store, writer) = reflector::store();
                    let task = tokio::spawn(run(
                        index,
                        client.clone(),
                        discovery.clone(),
                        key.clone(),
                        writer,
                        tx.clone(),
                    ));
                    (Objects::Pods(store), task)
                }
                WatchKind::Services | WatchKind::ServiceEndpoints | WatchKind::Objects => {
                    // The store's type tag only shapes its keys; every object in it gets the
                    // same one, whichever API version discovery picks.
                    let writer = reflector::store::Writer::new(ApiResource::erase::<Service>(&()));
                    let store = writer.as_reader();
                    let task = tokio::spawn(run(
                        index,
                        client.clone(),
                        discovery.clone(),
                        key.clone(),
                        writer,
                        tx.clone(),
                    ));
                    (Objects::Dynamic(store), task)
                }
            };
            Watch { key, objects, task }
        })
        .collect()
}

fn request_for(key: &WatchKey, group: &str, resource: &str) -> Request {
    Request {
        group: group.into(),
        resource: resource.into(),
        namespace: key.namespace.clone(),
    }
}

/// One list of `key`, no watch (`depwait check`): the objects, slimmed as a watcher would, or
/// the error classified as a watcher's would be.
pub async fn list_once(
    client: &Client,
    discovery: &Discovery,
    key: &WatchKey,
) -> Result<Snapshot, Verdict> {
    let resolved = resolve(client, discovery, key, &mut kinds::Searched::default())
        .await
        .map_err(|e| {
            match &e {
                ResolveError::Api(api) => api_error::tls_fatal(api).map(Verdict::Fatal),
                ResolveError::NotServed(_) => None,
            }
            .unwrap_or_else(|| Verdict::Retry(e.reason()))
        })?;
    let params = kube::api::ListParams {
        label_selector: resolved.config.label_selector.clone(),
        field_selector: resolved.config.field_selector.clone(),
        ..Default::default()
    };
    let classify =
        |e| api_error::classify(&watcher::Error::InitialListFailed(e), &resolved.request);
    Ok(match &resolved.api {
        Endpoint::Pods(api) => {
            let list = api.list(&params).await.map_err(classify)?;
            Snapshot::Pods(list.items.into_iter().map(Arc::new).collect())
        }
        Endpoint::Dynamic(api) => {
            let list = api.list(&params).await.map_err(classify)?;
            Snapshot::Dynamic(
                list.items
                    .into_iter()
                    .map(|mut o| {
                        slim_dynamic(&mut o);
                        Arc::new(o)
                    })
                    .collect(),
            )
        }
    })
}

/// Objects read once.
#[derive(Debug, Clone)]
pub enum Snapshot {
    /// Pods.
    Pods(Vec<Arc<WatchedPod>>),
    /// Untyped objects.
    Dynamic(Vec<Arc<DynamicObject>>),
}

/// The annotation `kubectl apply` leaves: a copy of the whole object as applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drop what no readiness rule reads from untyped objects: managed fields and kubectl's
/// last-applied copy, which alone can be larger than the rest of the object. Other annotations
/// stay: a `--resource` JSONPath may read them.
pub fn slim_dynamic(obj: &mut DynamicObject) {
    obj.metadata.managed_fields = None;
    if let Some(annotations) = &mut obj.metadata.annotations {
        annotations.remove(LAST_APPLIED);
    }
}

/// Turns one watcher's events and errors into the updates the aggregator acts on.
///
/// Pure bookkeeping, kept apart from the I/O loop so the property tests drive exactly the
/// phase logic the watcher tasks use.
#[derive(Debug)]
pub struct Tracker {
    /// Index of this watcher in the source list.
    index: usize,
    /// Set by a retryable error, cleared by the next complete list. While set, the phase
    /// stays `Failing` through the new list's `Init`: a retry loop logs one line, not one per
    /// attempt.
    failing: bool,
}

impl Tracker {
    /// A tracker for source `index`.
    pub fn new(index: usize) -> Self {
        Self {
            index,
            failing: false,
        }
    }

    /// The update an event (already applied to the store) calls for, if any.
    pub fn event<K>(&mut self, event: &Event<K>) -> Option<Update> {
        let index = self.index;
        match event {
            Event::Init if self.failing => None,
            Event::Init => Some(Update::Phase {
                index,
                phase: Phase::Listing,
            }),
            Event::InitApply(_) => None,
            Event::InitDone => {
                self.failing = false;
                Some(Update::Phase {
                    index,
                    phase: Phase::Live,
                })
            }
            Event::Apply(_) | Event::Delete(_) => Some(Update::Changed { index }),
        }
    }

    /// The update a retryable error calls for. The caller then starts a fresh watcher: one
    /// resumed from its resourceVersion would give no sign of when the store is current again.
    pub fn retrying(&mut self, reason: String) -> Update {
        self.failing = true;
        Update::Phase {
            index: self.index,
            phase: Phase::Failing(reason),
        }
    }
}

/// Resolve the API (retrying discovery like a failed list), then list and watch for good.
async fn run<K>(
    index: usize,
    client: Client,
    discovery: Arc<Discovery>,
    key: WatchKey,
    writer: reflector::store::Writer<K>,
    tx: UnboundedSender<Update>,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Clone + Eq + Hash,
    Endpoint: Into<Option<Api<K>>>,
    K: Slim,
{
    let mut tracker = Tracker::new(index);
    let mut backoff = DefaultBackoff::default();
    let mut not_served_delay = NOT_SERVED_FIRST_RETRY;
    let mut searched = kinds::Searched::default();
    let resolved = loop {
        let (update, delay) = match resolve(&client, &discovery, &key, &mut searched).await {
            Ok(r) => break r,
            Err(ResolveError::Api(e)) => {
                if let Some(error) = api_error::tls_fatal(&e) {
                    let _ = tx.send(Update::Fatal { index, error });
                    return;
                }
                let reason = format!("API discovery failed: {}", api_error::with_causes(&e));
                let delay = backoff.next().unwrap_or(Duration::from_secs(30));
                (tracker.retrying(reason), delay)
            }
            Err(e @ ResolveError::NotServed(_)) => {
                let delay = not_served_delay;
                not_served_delay = (not_served_delay * 2).min(NOT_SERVED_MAX_RETRY);
                let phase = Phase::NotServed(e.reason());
                (Update::Phase { index, phase }, delay)
            }
        };
        if tx.send(update).is_err() {
            return;
        }
        tokio::time::sleep(delay).await;
    };
    let Resolved {
        api,
        config,
        request,
    } = resolved;
    // `spawn` pairs each kind with the store type its API returns.
    let Some(api) = api.into() else {
        unreachable!("watch of {key} started with the wrong store type")
    };
    watch_forever(index, api, config, writer, request, tracker, backoff, tx).await;
}

/// Objects slimmed before they are cached: only what readiness reads is kept.
pub trait Slim {
    /// Drop what no readiness rule reads.
    fn slim(&mut self);
}

/// Narrow as decoded: nothing left to drop.
impl Slim for WatchedPod {
    fn slim(&mut self) {}
}

impl Slim for DynamicObject {
    fn slim(&mut self) {
        slim_dynamic(self);
    }
}

impl From<Endpoint> for Option<Api<WatchedPod>> {
    fn from(e: Endpoint) -> Self {
        match e {
            Endpoint::Pods(api) => Some(api),
            Endpoint::Dynamic(_) => None,
        }
    }
}

impl From<Endpoint> for Option<Api<DynamicObject>> {
    fn from(e: Endpoint) -> Self {
        match e {
            Endpoint::Dynamic(api) => Some(api),
            Endpoint::Pods(_) => None,
        }
    }
}

#[allow(clippy::too_many_arguments)] // one call site; the state of a single loop
async fn watch_forever<K>(
    index: usize,
    api: Api<K>,
    config: watcher::Config,
    mut writer: reflector::store::Writer<K>,
    request: Request,
    mut tracker: Tracker,
    mut backoff: DefaultBackoff,
    tx: UnboundedSender<Update>,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static + Slim,
    K::DynamicType: Clone + Eq + Hash,
{
    // The receiver is gone only when the wait is over: then stop quietly.
    let send = |update| tx.send(update).is_ok();
    loop {
        let mut events =
            std::pin::pin!(watcher(api.clone(), config.clone()).modify(|o: &mut K| o.slim()));
        while let Some(item) = events.next().await {
            let update = match item {
                Ok(event) => {
                    writer.apply_watcher_event(&event);
                    if matches!(event, Event::InitDone) {
                        backoff.reset();
                    }
                    match tracker.event(&event) {
                        Some(update) => update,
                        None => continue,
                    }
                }
                Err(err) => match api_error::classify(&err, &request) {
                    Verdict::Fatal(error) => {
                        send(Update::Fatal { index, error });
                        return;
                    }
                    Verdict::Retry(reason) => {
                        if !send(tracker.retrying(reason)) {
                            return;
                        }
                        break;
                    }
                },
            };
            if !send(update) {
                return;
            }
        }
        let delay = backoff.next().unwrap_or(Duration::from_secs(30));
        tokio::time::sleep(delay).await;
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
