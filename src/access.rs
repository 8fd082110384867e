//! Before watching for a positional HOST name: may this identity watch the Service (by name) and
//! its EndpointSlices? If not, the name is resolved through DNS instead, as service-precheck did —
//! a drop-in must work with the RBAC its users already have (often none).

use futures::future::join_all;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};

/// What the event-driven path needs in a namespace, as (group, resource, verb, narrowed to the
/// Service's name): the Service is read by name (a `metadata.name` field selector, which
/// `resourceNames` authorizes), its EndpointSlices by label (which nothing narrows).
const NEEDED: [(&str, &str, &str, bool); 4] = [
    ("", "services", "list", true),
    ("", "services", "watch", true),
    ("discovery.k8s.io", "endpointslices", "list", false),
    ("discovery.k8s.io", "endpointslices", "watch", false),
];

/// The Role rules that would enable watching, for the log line that explains the fallback.
pub fn rule_hint(service: &str) -> String {
    format!(
        "rules: [{{apiGroups: [\"\"], resources: [\"services\"], resourceNames: [\"{service}\"], verbs: [\"get\", \"list\", \"watch\"]}}, {{apiGroups: [\"discovery.k8s.io\"], resources: [\"endpointslices\"], verbs: [\"get\", \"list\", \"watch\"]}}] (`depwait rbac` prints them)"
    )
}

/// A SelfSubjectAccessReview that got no answer: the API error, with its causes.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ReviewFailed(pub String);

/// Whether Service `service` and the EndpointSlices of `namespace` may be listed and watched:
/// one SelfSubjectAccessReview per verb and resource (every authenticated user may create
/// them). `Err` carries why the question could not be answered.
pub async fn may_watch_service(
    client: &Client,
    namespace: &str,
    service: &str,
) -> Result<bool, ReviewFailed> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let reviews = NEEDED.iter().map(|(group, resource, verb, named)| {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.into()),
                    group: Some((*group).into()),
                    resource: Some((*resource).into()),
                    verb: Some((*verb).into()),
                    name: named.then(|| service.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api = api.clone();
        async move { api.create(&PostParams::default(), &review).await }
    });
    let mut allowed = true;
    for answer in join_all(reviews).await {
        let review = answer.map_err(|e| ReviewFailed(crate::api_error::with_causes(&e)))?;
        allowed &= review.status.is_some_and(|s| s.allowed);
    }
    Ok(allowed)
}
