//! A live cluster's workloads and Services, listed (paginated, read-only, bounded by
//! `--timeout`), and the few ConfigMaps gates read their configuration from.

use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::{Api, Client};

use super::objects::{BadObject, Inventory};
use crate::deadline::{Deadline, NoAnswer};

/// Items per list page: large lists arrive in pieces, as kubectl's do.
const PAGE: u32 = 500;

/// Why the cluster could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The identity may not list something `depwait graph` needs (exit 3).
    #[error(
        "access denied: may not {what}; `depwait rbac --for-graph` prints the read-only ClusterRole graph needs ({message})"
    )]
    Forbidden {
        /// `list deployments.apps in namespace shop`.
        what: String,
        /// The API server's message.
        message: String,
    },
    /// Another API error (exit 3).
    #[error("cannot {what}: {}", crate::api_error::with_causes(source))]
    Api {
        /// What was asked.
        what: String,
        /// The error, with its causes.
        source: kube::Error,
    },
    /// No answer before `--timeout` (exit 1).
    #[error("{0}")]
    NoAnswer(#[from] NoAnswer),
    /// An object of a shape no API server sends.
    #[error("the API server sent {0}")]
    Bad(#[from] BadObject),
}

fn resource(kind: &str, group: &str, version: &str, plural: &str) -> ApiResource {
    ApiResource {
        api_version: match group {
            "" => version.to_string(),
            g => format!("{g}/{version}"),
        },
        group: group.to_string(),
        version: version.to_string(),
        kind: kind.to_string(),
        plural: plural.to_string(),
    }
}

/// What was read of the cluster.
#[derive(Debug, Clone, Default)]
pub struct Read {
    /// `None`: every namespace, in one cluster-wide list per kind. Else the namespaces read.
    pub namespaces: Option<std::collections::BTreeSet<String>>,
}

/// List every workload kind and Services in `namespaces` into `inventory`. Without
/// namespaces: the whole cluster if this identity may list it; else every namespace it may
/// list, one by one, the others recorded in `inventory` as not read (why) — "all namespaces it
/// may list", for an identity whose access is per namespace.
pub async fn read(
    client: &Client,
    namespaces: &[String],
    deadline: &Deadline,
    inventory: &mut Inventory,
) -> Result<Read, ClusterError> {
    if !namespaces.is_empty() {
        for ns in namespaces {
            read_scope(client, Some(ns), deadline, inventory).await?;
        }
        return Ok(Read {
            namespaces: Some(namespaces.iter().cloned().collect()),
        });
    }
    let refused = match read_scope(client, None, deadline, inventory).await {
        Ok(()) => return Ok(Read::default()),
        Err(refused @ ClusterError::Forbidden { .. }) => refused,
        Err(other) => return Err(other),
    };
    // Not cluster-wide: namespace by namespace, as far as the namespaces may be listed.
    *inventory = Inventory::default();
    let all = resource("Namespace", "", "v1", "namespaces");
    let mut names = Vec::new();
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &all);
    let what = described("list", &all, None);
    match deadline
        .within(
            &format!("the API server ({what})"),
            api.list_metadata(&ListParams::default()),
        )
        .await?
    {
        Ok(list) => names.extend(list.items.into_iter().filter_map(|n| n.metadata.name)),
        // Neither: the first refusal is the one to fix.
        Err(kube::Error::Api(status)) if status.code == 403 => return Err(refused),
        Err(e) => return Err(refused_with(what, e)),
    }
    let mut read = std::collections::BTreeSet::new();
    for ns in names {
        let mut one = Inventory::default();
        match read_scope(client, Some(&ns), deadline, &mut one).await {
            Ok(()) => {
                inventory.merge(one);
                read.insert(ns);
            }
            Err(ClusterError::Forbidden { what, .. }) => {
                inventory
                    .unread_namespaces
                    .insert(ns, format!("access denied: may not {what}"));
            }
            Err(other) => return Err(other),
        }
    }
    Ok(Read {
        namespaces: Some(read),
    })
}

/// Every kind in one scope: a namespace, or the cluster (`None`).
async fn read_scope(
    client: &Client,
    namespace: Option<&str>,
    deadline: &Deadline,
    inventory: &mut Inventory,
) -> Result<(), ClusterError> {
    for (kind, group, plural) in super::objects::listed() {
        let current = resource(kind, group, "v1", plural);
        match list(client, namespace, &current, deadline, inventory).await {
            // CronJob is batch/v1 from 1.21; 1.20 serves batch/v1beta1.
            Err(ClusterError::Api {
                source: kube::Error::Api(ref e),
                ..
            }) if e.code == 404 && kind == "CronJob" => {
                let old = resource(kind, group, "v1beta1", plural);
                list(client, namespace, &old, deadline, inventory).await?
            }
            other => other?,
        }
    }
    Ok(())
}

fn described(verb: &str, resource: &ApiResource, namespace: Option<&str>) -> String {
    let name = match resource.group.as_str() {
        "" => resource.plural.clone(),
        g => format!("{}.{g}", resource.plural),
    };
    match namespace {
        Some(ns) => format!("{verb} {name} in namespace {ns}"),
        None => format!("{verb} {name} in all namespaces"),
    }
}

fn refused_with(what: String, e: kube::Error) -> ClusterError {
    match e {
        kube::Error::Api(ref status) if status.code == 403 => ClusterError::Forbidden {
            what,
            message: status.message.clone(),
        },
        source => ClusterError::Api { what, source },
    }
}

/// List one kind, page by page, each page narrowed into `inventory` before the next is asked
/// (a cluster's pods are many; only bare ones are kept).
async fn list(
    client: &Client,
    namespace: Option<&str>,
    resource: &ApiResource,
    deadline: &Deadline,
    inventory: &mut Inventory,
) -> Result<(), ClusterError> {
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
        None => Api::all_with(client.clone(), resource),
    };
    let what = described("list", resource, namespace);
    let mut params = ListParams::default().limit(PAGE);
    loop {
        let page = deadline
            .within(&format!("the API server ({what})"), api.list(&params))
            .await?
            .map_err(|e| refused_with(what.clone(), e))?;
        for item in page.items {
            let value = serde_json::to_value(item).map_err(|e| BadObject {
                kind: resource.kind.clone(),
                name: String::new(),
                problem: e.to_string(),
            })?;
            inventory.add(&resource.kind, value)?;
        }
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    Ok(())
}

/// Read the ConfigMaps `names` of `namespace` that gates take their configuration from. One
/// that may not be read or does not exist is recorded as such, not an error: only that
/// gate's part is not shown.
pub async fn config_maps(
    client: &Client,
    namespace: &str,
    names: &[String],
    deadline: &Deadline,
    inventory: &mut Inventory,
) -> Result<(), ClusterError> {
    let resource = resource("ConfigMap", "", "v1", "configmaps");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    for name in names {
        if inventory.config_map(namespace, name).is_some() {
            continue;
        }
        let what = format!("get configmap {name} in namespace {namespace}");
        let got = deadline
            .within(&format!("the API server ({what})"), api.get_opt(name))
            .await?;
        let key = format!("{namespace}/{name}");
        match got {
            Ok(Some(cm)) => {
                let value = serde_json::to_value(cm).map_err(|e| BadObject {
                    kind: "ConfigMap".into(),
                    name: name.clone(),
                    problem: e.to_string(),
                })?;
                inventory.add("ConfigMap", value)?;
            }
            Ok(None) => {
                inventory
                    .unreadable_config_maps
                    .insert(key, "it does not exist".into());
            }
            Err(kube::Error::Api(status)) if status.code == 403 => {
                inventory.unreadable_config_maps.insert(
                    key,
                    "access denied: grant get on configmaps to read it".into(),
                );
            }
            Err(e) => return Err(refused_with(what, e)),
        }
    }
    Ok(())
}
