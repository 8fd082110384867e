//! `depwait check`'s one list of a watched set, no watch: the objects slimmed as a watcher's
//! store would keep them, or the error classified as a watcher's would be.

use std::sync::Arc;

use kube::Client;
use kube::api::{DynamicObject, ListParams};
use kube::runtime::watcher;

use super::Discovery;
use super::resolve::{ResolveError, Resolved, Stored, resolve};
use crate::api_error::{self, Handling};
use crate::dependency::{WatchKey, WatchKind};
use crate::kinds;
use crate::slim::WatchedPod;

/// Objects read once.
#[derive(Debug, Clone)]
pub enum Snapshot {
    /// Pods.
    Pods(Vec<Arc<WatchedPod>>),
    /// Untyped objects.
    Dynamic(Vec<Arc<DynamicObject>>),
}

/// One list of `key`.
pub async fn list_once(
    client: &Client,
    discovery: &Discovery,
    key: &WatchKey,
) -> Result<Snapshot, Handling> {
    let resolved = resolve(client, discovery, key, &mut kinds::Searched::default())
        .await
        .map_err(|e| {
            match &e {
                ResolveError::Api(api) => api_error::tls_fatal(api).map(Handling::Fatal),
                ResolveError::NotServed(_) => None,
            }
            .unwrap_or_else(|| Handling::Retry(e.reason()))
        })?;
    Ok(match key.kind {
        WatchKind::Pods => Snapshot::Pods(list(client, &resolved).await?),
        WatchKind::Services | WatchKind::ServiceEndpoints | WatchKind::Objects => {
            Snapshot::Dynamic(list(client, &resolved).await?)
        }
    })
}

async fn list<K: Stored>(client: &Client, resolved: &Resolved) -> Result<Vec<Arc<K>>, Handling> {
    let params = ListParams {
        label_selector: resolved.config.label_selector.clone(),
        field_selector: resolved.config.field_selector.clone(),
        ..Default::default()
    };
    let list = K::api(client.clone(), resolved)
        .list(&params)
        .await
        .map_err(|e| {
            api_error::classify(&watcher::Error::InitialListFailed(e), &resolved.request)
        })?;
    Ok(list
        .items
        .into_iter()
        .map(|mut o| {
            o.slim();
            Arc::new(o)
        })
        .collect())
}
