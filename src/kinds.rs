//! Resource types as kubectl takes them (`deployment`, `deploy`, `jobs.batch`,
//! `certificates.cert-manager.io`, `deployments.v1.apps`), resolved to an API group, version
//! and plural through the server's discovery documents.
//!
//! kubectl's own resolution (its `RESTMapper`) is what users know, so this mirrors it: a name
//! matches a resource's plural, singular, kind or short name, case-insensitively; without a
//! group the core group wins, then the other groups in the order the server lists them; a
//! group's preferred version wins unless a version is given. Custom resources work the same
//! way, and a type the server does not serve yet (its CRD is not installed) is not an error
//! here: the caller keeps waiting and asks again.

use std::collections::HashSet;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIResource, APIResourceList};
use kube::Client;
use kube::api::{ApiResource, GroupVersionKind};

/// A resource type as written, split into kubectl's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeName {
    /// Plural, singular, kind or short name, lower-cased.
    pub name: String,
    /// The version, when written (`deployments.v1.apps`).
    pub version: Option<String>,
    /// The API group, when written or implied by a well-known name (`""` is core).
    pub group: Option<String>,
}

/// Why a type name is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a resource type; write it as kubectl does: `deployment`, `jobs.batch`, `certificates.cert-manager.io`"
)]
pub struct BadTypeName(pub String);

/// Names every Kubernetes server serves, with their group, plural and scope (`true`:
/// namespaced): so `deploy` or `job` needs no discovery round over every group, and
/// `depwait rbac` can name the group and tell a Role from a ClusterRole without asking a server.
/// Short names are the ones `kubectl api-resources` lists.
const WELL_KNOWN: &[(&[&str], &str, &str, bool)] = &[
    (&["pods", "pod", "po"], "", "pods", true),
    (&["services", "service", "svc"], "", "services", true),
    (&["endpoints", "ep"], "", "endpoints", true),
    (&["configmaps", "configmap", "cm"], "", "configmaps", true),
    (&["secrets", "secret"], "", "secrets", true),
    (
        &["persistentvolumeclaims", "persistentvolumeclaim", "pvc"],
        "",
        "persistentvolumeclaims",
        true,
    ),
    (
        &["persistentvolumes", "persistentvolume", "pv"],
        "",
        "persistentvolumes",
        false,
    ),
    (&["namespaces", "namespace", "ns"], "", "namespaces", false),
    (&["nodes", "node", "no"], "", "nodes", false),
    (
        &["serviceaccounts", "serviceaccount", "sa"],
        "",
        "serviceaccounts",
        true,
    ),
    (
        &["deployments", "deployment", "deploy"],
        "apps",
        "deployments",
        true,
    ),
    (
        &["statefulsets", "statefulset", "sts"],
        "apps",
        "statefulsets",
        true,
    ),
    (
        &["daemonsets", "daemonset", "ds"],
        "apps",
        "daemonsets",
        true,
    ),
    (
        &["replicasets", "replicaset", "rs"],
        "apps",
        "replicasets",
        true,
    ),
    (&["jobs", "job"], "batch", "jobs", true),
    (&["cronjobs", "cronjob", "cj"], "batch", "cronjobs", true),
    (
        &["ingresses", "ingress", "ing"],
        "networking.k8s.io",
        "ingresses",
        true,
    ),
    (
        &["ingressclasses", "ingressclass"],
        "networking.k8s.io",
        "ingressclasses",
        false,
    ),
    (
        &["storageclasses", "storageclass", "sc"],
        "storage.k8s.io",
        "storageclasses",
        false,
    ),
    (
        &["priorityclasses", "priorityclass", "pc"],
        "scheduling.k8s.io",
        "priorityclasses",
        false,
    ),
    (
        &[
            "customresourcedefinitions",
            "customresourcedefinition",
            "crd",
            "crds",
        ],
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        false,
    ),
    (
        &["apiservices", "apiservice"],
        "apiregistration.k8s.io",
        "apiservices",
        false,
    ),
    (
        &["poddisruptionbudgets", "poddisruptionbudget", "pdb"],
        "policy",
        "poddisruptionbudgets",
        true,
    ),
];

impl TypeName {
    /// Parse kubectl's forms: `name`, `name.group`, `name.version.group`. A well-known name
    /// without a group (`deploy`) gets its group and plural here.
    pub fn parse(text: &str) -> Result<Self, BadTypeName> {
        let bad = || BadTypeName(text.to_string());
        let lower = text.trim().to_ascii_lowercase();
        let valid = |part: &str| {
            !part.is_empty()
                && part.len() <= 253
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        let mut parts = lower.split('.');
        let name = parts.next().filter(|n| valid(n)).ok_or_else(bad)?;
        let rest: Vec<&str> = parts.collect();
        if rest.iter().any(|p| !valid(p)) {
            return Err(bad());
        }
        // `deployments.v1.apps`: a version segment only counts when a group follows it.
        let (version, group) = match rest.as_slice() {
            [] => (None, None),
            [v, group @ ..] if is_version(v) && !group.is_empty() => {
                (Some(v.to_string()), Some(group.join(".")))
            }
            group => (None, Some(group.join("."))),
        };
        let mut parsed = TypeName {
            name: name.to_string(),
            version,
            group,
        };
        if let Some((group, plural, _)) = well_known(&parsed.name) {
            // `jobs` is batch's, but `jobs.example.com` is somebody else's.
            if parsed.group.as_deref().is_none_or(|g| g == group) {
                parsed.group = Some(group.to_string());
                parsed.name = plural.to_string();
            }
        }
        Ok(parsed)
    }

    /// `(group, plural)` as RBAC names it, when known without discovery: well-known types, and
    /// `plural.group` as kubectl's docs write custom resources.
    pub fn rbac_resource(&self) -> Option<(String, String)> {
        self.group.clone().map(|g| (g, self.name.clone()))
    }

    /// Whether objects of this type live in namespaces, as far as kubectl's built-in table
    /// says without asking a server: `None` for every type not in it (custom resources).
    pub fn namespaced(&self) -> Option<bool> {
        let (group, _, namespaced) = well_known(&self.name)?;
        (self.group.as_deref() == Some(group)).then_some(namespaced)
    }
}

impl fmt::Display for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if let Some(v) = &self.version {
            write!(f, ".{v}")?;
        }
        match self.group.as_deref() {
            Some("") | None => Ok(()),
            Some(g) => write!(f, ".{g}"),
        }
    }
}

fn well_known(name: &str) -> Option<(&'static str, &'static str, bool)> {
    WELL_KNOWN
        .iter()
        .find(|(names, _, _, _)| names.contains(&name))
        .map(|(_, group, plural, namespaced)| (*group, *plural, *namespaced))
}

/// `v1`, `v2`, `v1beta1`, `v1alpha2`: Kubernetes' version grammar.
fn is_version(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || rest.starts_with('0') {
        return false;
    }
    match &rest[digits..] {
        "" => true,
        tail => ["alpha", "beta"].iter().any(|stage| {
            tail.strip_prefix(stage)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        }),
    }
}

/// A type the server serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// Group, version, kind and plural, for the API handle.
    pub resource: ApiResource,
    /// Whether objects of the type live in namespaces.
    pub namespaced: bool,
}

/// What earlier lookups of a type not served yet have read, so that asking again while waiting
/// for a CRD costs one request (the group list) plus the group versions that are new — not one
/// request per group of the cluster every few seconds. Every `FULL_SCAN_EVERY`th round reads
/// everything again, for a CRD added to a group version that was already there.
#[derive(Debug, Default)]
pub struct Searched {
    /// Group versions read that did not have the type.
    without: HashSet<String>,
    /// Lookups so far.
    rounds: u32,
}

/// See [`Searched`].
const FULL_SCAN_EVERY: u32 = 8;

/// Ask the server which resource `name` is. `Ok(None)`: not served (yet).
pub async fn discover(
    client: &Client,
    name: &TypeName,
    searched: &mut Searched,
) -> Result<Option<Served>, kube::Error> {
    let full = searched.rounds.is_multiple_of(FULL_SCAN_EVERY);
    searched.rounds += 1;
    if full {
        searched.without.clear();
    }
    let mut candidates: Vec<String> = Vec::new();
    match (&name.group, &name.version) {
        (Some(g), Some(v)) if g.is_empty() => candidates.push(v.clone()),
        (Some(g), Some(v)) => candidates.push(format!("{g}/{v}")),
        (Some(g), None) if g.is_empty() => candidates.push("v1".into()),
        (group, _) => {
            if group.is_none() {
                candidates.push("v1".into());
            }
            let groups = client.list_api_groups().await?;
            for g in groups.groups {
                if group.as_ref().is_some_and(|want| *want != g.name) {
                    continue;
                }
                // Preferred version first, as kubectl does.
                let preferred = g.preferred_version.map(|p| p.group_version);
                candidates.extend(preferred.clone());
                candidates.extend(
                    g.versions
                        .into_iter()
                        .map(|v| v.group_version)
                        .filter(|gv| Some(gv) != preferred.as_ref()),
                );
            }
        }
    }
    for group_version in candidates {
        if searched.without.contains(&group_version) {
            continue;
        }
        let list = match fetch(client, &group_version).await {
            Ok(list) => list,
            // A version listed a moment ago can vanish (a CRD being replaced); a version named
            // by the user may not exist: both mean "not served", not an error.
            Err(kube::Error::Api(s)) if s.code == 404 => continue,
            Err(e) => return Err(e),
        };
        if let Some(found) = pick(&list, &name.name) {
            return Ok(Some(found));
        }
        searched.without.insert(group_version);
    }
    Ok(None)
}

async fn fetch(client: &Client, group_version: &str) -> Result<APIResourceList, kube::Error> {
    if group_version.contains('/') {
        client.list_api_group_resources(group_version).await
    } else {
        client.list_core_api_resources(group_version).await
    }
}

/// The resource of `list` that `name` (lower-case) names: plural first, then singular, kind and
/// short names — kubectl's order of precedence. Subresources (`pods/status`) never match.
pub fn pick(list: &APIResourceList, name: &str) -> Option<Served> {
    let resources: Vec<&APIResource> = list
        .resources
        .iter()
        .filter(|r| !r.name.contains('/'))
        .collect();
    let matches: [&dyn Fn(&APIResource) -> bool; 3] = [
        &|r| r.name == name,
        &|r| r.singular_name == name || r.kind.to_ascii_lowercase() == name,
        &|r| r.short_names.iter().flatten().any(|s| s == name),
    ];
    let found = matches
        .iter()
        .find_map(|m| resources.iter().find(|r| m(r)))?;
    let (group, version) = match list.group_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", list.group_version.as_str()),
    };
    Some(Served {
        resource: ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, &found.kind),
            &found.name,
        ),
        namespaced: found.namespaced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> (String, Option<String>, Option<String>) {
        let t = TypeName::parse(s).unwrap();
        (t.name, t.version, t.group)
    }

    fn own(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn kubectl_forms_parse() {
        assert_eq!(parse("deploy"), ("deployments".into(), None, own("apps")));
        assert_eq!(
            parse("Deployment"),
            ("deployments".into(), None, own("apps"))
        );
        assert_eq!(parse("sts"), ("statefulsets".into(), None, own("apps")));
        assert_eq!(parse("job"), ("jobs".into(), None, own("batch")));
        assert_eq!(
            parse("pvc"),
            ("persistentvolumeclaims".into(), None, own(""))
        );
        assert_eq!(
            parse("deployments.v1.apps"),
            ("deployments".into(), own("v1"), own("apps"))
        );
        assert_eq!(
            parse("certificates.cert-manager.io"),
            ("certificates".into(), None, own("cert-manager.io"))
        );
        assert_eq!(
            parse("kustomizations.kustomize.toolkit.fluxcd.io"),
            (
                "kustomizations".into(),
                None,
                own("kustomize.toolkit.fluxcd.io")
            )
        );
        assert_eq!(
            parse("widgets.v1beta2.example.com"),
            ("widgets".into(), own("v1beta2"), own("example.com"))
        );
        // A custom resource that shares a well-known plural keeps its own group.
        assert_eq!(
            parse("jobs.example.com"),
            ("jobs".into(), None, own("example.com"))
        );
        assert_eq!(parse("certificates"), ("certificates".into(), None, None));
    }

    #[test]
    fn the_built_in_table_knows_each_types_scope() {
        let scope = |s: &str| TypeName::parse(s).unwrap().namespaced();
        for namespaced in [
            "secrets",
            "cm",
            "deployment",
            "jobs.batch",
            "pvc",
            "deployments.v1.apps",
        ] {
            assert_eq!(scope(namespaced), Some(true), "{namespaced}");
        }
        for cluster in ["ns", "nodes", "pv", "crd", "storageclasses.storage.k8s.io"] {
            assert_eq!(scope(cluster), Some(false), "{cluster}");
        }
        // Not in the table: only the server can tell.
        for unknown in [
            "certificates",
            "jobs.example.com",
            "clusterissuers.cert-manager.io",
        ] {
            assert_eq!(scope(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", ".", "a..b", "pods.", "a/b", "dé", "a b", "pods.v1/"] {
            assert!(TypeName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn versions_follow_the_kubernetes_grammar() {
        for v in ["v1", "v2", "v1beta1", "v10alpha3"] {
            assert!(is_version(v), "{v}");
        }
        for v in ["v", "v0", "v1beta", "version", "1", "v1gamma1", "apps"] {
            assert!(!is_version(v), "{v}");
        }
    }

    #[test]
    fn discovery_documents_are_matched_like_kubectl() {
        let list: APIResourceList = serde_json::from_value(serde_json::json!({
            "groupVersion": "cert-manager.io/v1",
            "resources": [
                {"name": "certificates", "singularName": "certificate", "namespaced": true,
                 "kind": "Certificate", "shortNames": ["cert", "certs"], "verbs": ["get"]},
                {"name": "certificates/status", "singularName": "", "namespaced": true,
                 "kind": "Certificate", "verbs": ["get"]},
                {"name": "clusterissuers", "singularName": "", "namespaced": false,
                 "kind": "ClusterIssuer", "verbs": ["get"]},
            ]
        }))
        .unwrap();
        for name in ["certificates", "certificate", "cert"] {
            let found = pick(&list, name).unwrap();
            assert_eq!(found.resource.plural, "certificates");
            assert_eq!(found.resource.api_version, "cert-manager.io/v1");
            assert!(found.namespaced);
        }
        // An empty singularName (servers before 1.27 leave it out) falls back to the kind.
        let issuer = pick(&list, "clusterissuer").unwrap();
        assert_eq!(issuer.resource.kind, "ClusterIssuer");
        assert!(!issuer.namespaced);
        assert!(pick(&list, "status").is_none());
        assert!(pick(&list, "issuers").is_none());
    }

    /// Waiting for a CRD costs one request per retry (the group list) once every group
    /// version has been read, not one per group; a full scan comes back every few rounds.
    #[tokio::test]
    async fn retries_read_only_new_group_versions() {
        use bytes::Bytes;
        use http_body_util::BodyExt;
        use http_body_util::combinators::UnsyncBoxBody;
        type MockBody = UnsyncBoxBody<Bytes, std::convert::Infallible>;
        let (service, handle) =
            tower_test::mock::pair::<http::Request<kube::client::Body>, http::Response<MockBody>>();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let mut handle = std::pin::pin!(handle);
            while let Some((request, respond)) = handle.next_request().await {
                let path = request.uri().path().to_string();
                log.lock().unwrap().push(path.clone());
                let body = match path.as_str() {
                    "/apis" => serde_json::json!({"kind": "APIGroupList", "apiVersion": "v1",
                        "groups": [{"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                                    "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]}),
                    p => serde_json::json!({"kind": "APIResourceList", "apiVersion": "v1",
                        "groupVersion": p.trim_start_matches("/apis/").trim_start_matches("/api/"),
                        "resources": [{"name": "things", "singularName": "thing", "namespaced": true,
                                       "kind": "Thing", "verbs": ["get"]}]}),
                };
                let body = http_body_util::Full::new(Bytes::from(body.to_string()))
                    .map_err(|never| match never {})
                    .boxed_unsync();
                respond.send_response(http::Response::new(body));
            }
        });
        let client = Client::new(service, "default");
        let widgets = TypeName::parse("widgets").unwrap();
        let mut searched = Searched::default();
        let take = || std::mem::take(&mut *seen.lock().unwrap());
        assert_eq!(
            discover(&client, &widgets, &mut searched).await.unwrap(),
            None
        );
        assert_eq!(take(), ["/apis", "/api/v1", "/apis/apps/v1"]);
        for _ in 1..FULL_SCAN_EVERY {
            assert_eq!(
                discover(&client, &widgets, &mut searched).await.unwrap(),
                None
            );
            assert_eq!(take(), ["/apis"]);
        }
        assert_eq!(
            discover(&client, &widgets, &mut searched).await.unwrap(),
            None
        );
        assert_eq!(take(), ["/apis", "/api/v1", "/apis/apps/v1"]);
        // Found by singular name, in the core group first.
        let things = TypeName::parse("thing").unwrap();
        let found = discover(&client, &things, &mut Searched::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.resource.api_version, "v1");
        assert_eq!(found.resource.plural, "things");
    }
}
