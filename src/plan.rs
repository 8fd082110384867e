//! The one planning step between the configuration and a wait, a `depwait check` or a
//! `depwait rbac`: credentials, what each HOST name means, and which dependencies must go
//! through DNS. All three commands see the same dependencies for the same inputs.
//!
//! - No credentials: a wait (or check) for HOST names alone resolves every one through DNS;
//!   anything else needs the API (exit 2). `rbac` works without a server.
//! - A HOST name that only *may* be a Service (`api.example.com` reads as host `api` of Service
//!   `example` in namespace `com`): where the server says namespace `com` does not exist, it is
//!   a DNS name and nothing else. Where it cannot say (no credentials, `get namespaces`
//!   denied), the name stays both (the pod's resolver tries the cluster meaning first), and
//!   `rbac` grants nothing for it (the wait then resolves it through DNS).
//! - A wait or check: HOST names in namespaces where Services may not be watched go through
//!   DNS ([`crate::access`]).
//! - `rbac`: discovery says the scope and group of `--resource` types kubectl's built-in table
//!   does not know.
//!
//! Every request here is bounded by the wait's deadline (`--timeout`).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, Client};
use tokio::time::Instant;

use crate::access;
use crate::client;
use crate::dependency::{Dependency, Target};
use crate::exit::ExitCode;
use crate::kinds::{self, TypeName};

/// What the plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A wait or a `depwait check`: the credentials are the waiting pod's.
    Wait,
    /// `depwait rbac`: the credentials (if any) are the operator's, used only to read what the
    /// cluster has (namespaces, served types); nothing is watched.
    Rbac,
}

/// The dependencies as they will be judged, and what planning learned.
pub struct Plan {
    /// The dependencies, HOST names turned into DNS names where planning decided so.
    pub dependencies: Vec<Dependency>,
    /// The client, when there are credentials.
    pub client: Option<Client>,
    /// For `rbac`: what discovery said of `--resource` types the built-in table does not know,
    /// by the type as written.
    pub types: BTreeMap<String, kinds::Served>,
    /// Namespaces of maybe-Service HOST names whose existence the server did not confirm.
    pub unconfirmed: BTreeSet<String>,
}

/// Why there is no plan: the message for stderr and the termination message, and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    /// What went wrong and what to do.
    pub message: String,
    /// The exit code.
    pub code: ExitCode,
}

/// `future`, unless `deadline` passes first (`None`).
async fn within<T>(deadline: Option<Instant>, future: impl Future<Output = T>) -> Option<T> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, future).await.ok(),
        None => Some(future.await),
    }
}

/// Plan `dependencies` for `purpose`, asking the server nothing after `deadline`.
pub async fn plan(
    dependencies: Vec<Dependency>,
    purpose: Purpose,
    deadline: Option<Instant>,
) -> Result<Plan, PlanError> {
    // A CA bundle the probes cannot use is a configuration error, found before any request;
    // `rbac` runs no probe.
    if purpose != Purpose::Rbac {
        let probes = dependencies.iter().filter_map(Dependency::probe);
        crate::probe::check_roots(probes)
            .await
            .map_err(|e| PlanError {
                message: e.to_string(),
                code: ExitCode::Usage,
            })?;
    }
    // `infer` bounds itself by the deadline (a credential plugin that does not answer included).
    let protocols = client::Protocols::for_streams(open_streams(&dependencies));
    let credentials = client::infer_for(deadline, protocols)
        .await
        .map_err(|e| (e.to_string(), e.exit_code()));
    plan_with(dependencies, purpose, credentials, deadline).await
}

/// About how many requests a wait holds open at once: a watch per watched set (a Service's
/// and its EndpointSlices' are two), and the restart guard's; an over-count only means
/// HTTP/1.1 a little sooner.
fn open_streams(dependencies: &[Dependency]) -> usize {
    let watches: usize = dependencies
        .iter()
        .map(|d| match &d.target {
            crate::dependency::Target::Pods { .. } | crate::dependency::Target::Object(_) => 1,
            crate::dependency::Target::Service(_) => 2,
            crate::dependency::Target::Probe(_) => 0,
        })
        .sum();
    watches + 1
}

/// [`plan`] once the credentials are known: a client, or why there is none and the exit code
/// if the API is needed.
async fn plan_with(
    dependencies: Vec<Dependency>,
    purpose: Purpose,
    credentials: Result<Client, (String, ExitCode)>,
    deadline: Option<Instant>,
) -> Result<Plan, PlanError> {
    let mut plan = Plan {
        dependencies,
        client: None,
        types: BTreeMap::new(),
        unconfirmed: BTreeSet::new(),
    };
    match credentials {
        Ok(client) => plan.client = Some(client),
        Err(_) if purpose == Purpose::Rbac => {
            plan.unconfirmed = maybe_service_namespaces(&plan.dependencies);
            return Ok(plan);
        }
        // Only "no usable credentials" (exit 2) lets HOST names go to DNS; a plugin that timed
        // out or a signal ends the run whatever is waited for.
        Err((message, code))
            if code != ExitCode::Usage || plan.dependencies.iter().any(Dependency::needs_api) =>
        {
            return Err(PlanError { message, code });
        }
        // service-precheck needed no credentials: a wait for HOST names alone still works,
        // through DNS.
        Err((why, _)) => {
            tracing::info!(
                event = "dns_fallback",
                "no Kubernetes credentials ({why}); resolving every HOST name through DNS"
            );
            for dep in &mut plan.dependencies {
                dep.resolve_by_dns();
            }
            return Ok(plan);
        }
    }
    let Some(client) = plan.client.clone() else {
        return Ok(plan);
    };
    plan.unconfirmed = settle_maybe_services(&client, &mut plan.dependencies, deadline).await;
    match purpose {
        Purpose::Wait => {
            fall_back_to_dns_where_denied(&client, &mut plan.dependencies, deadline).await
        }
        Purpose::Rbac => {
            plan.types = discover_unknown_types(&client, &plan.dependencies, deadline).await
        }
    }
    Ok(plan)
}

/// The namespaces of HOST names that may or may not be Services.
fn maybe_service_namespaces(deps: &[Dependency]) -> BTreeSet<String> {
    deps.iter()
        .filter_map(|d| match &d.target {
            Target::Service(s) if s.absolute_fallback.is_some() => Some(s.namespace.clone()),
            _ => None,
        })
        .collect()
}

/// Ask whether each namespace a maybe-Service HOST name points into exists: where it does not,
/// the name is a DNS name and only that. Returns the namespaces the server would not answer
/// for (denied, failed, or out of time).
async fn settle_maybe_services(
    client: &Client,
    deps: &mut [Dependency],
    deadline: Option<Instant>,
) -> BTreeSet<String> {
    let namespaces = maybe_service_namespaces(deps);
    let api: Api<Namespace> = Api::all(client.clone());
    let answers = within(
        deadline,
        futures::future::join_all(namespaces.iter().map(|ns| api.get_opt(ns))),
    )
    .await;
    let mut unconfirmed = BTreeSet::new();
    for (i, ns) in namespaces.iter().enumerate() {
        match answers.as_ref().and_then(|a| a.get(i)) {
            Some(Ok(Some(_))) => {}
            Some(Ok(None)) => {
                let names: Vec<String> = deps
                    .iter_mut()
                    .filter(|d| {
                        matches!(&d.target, Target::Service(s)
                            if s.namespace == *ns && s.absolute_fallback.is_some())
                    })
                    .filter_map(|d| {
                        let name = d.host_name()?.to_string();
                        d.resolve_by_dns();
                        Some(name)
                    })
                    .collect();
                tracing::info!(
                    event = "dns_fallback",
                    "no namespace {ns} in the cluster: {} is not a cluster name; resolving it through DNS",
                    names.join(", ")
                );
            }
            _ => {
                unconfirmed.insert(ns.clone());
            }
        }
    }
    unconfirmed
}

/// HOST names are watched only where this identity may watch their Service (by name) and the
/// EndpointSlices of its namespace; elsewhere they are resolved through DNS, with one line per
/// Service saying what RBAC would enable the faster path.
async fn fall_back_to_dns_where_denied(
    client: &Client,
    deps: &mut [Dependency],
    deadline: Option<Instant>,
) {
    let services: Vec<(String, String)> = deps
        .iter()
        .filter_map(|d| match &d.target {
            Target::Service(s) if s.written.is_some() => {
                Some((s.namespace.clone(), s.name.clone()))
            }
            _ => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let answers = within(
        deadline,
        futures::future::join_all(
            services
                .iter()
                .map(|(ns, name)| access::may_watch_service(client, ns, name)),
        ),
    )
    .await;
    for (i, (ns, service)) in services.iter().enumerate() {
        let reason = match answers.as_ref().map(|a| &a[i]) {
            Some(Ok(true)) => continue,
            Some(Ok(false)) => format!(
                "may not list and watch service {service} and the endpointslices in namespace {ns} (a Role there with {} enables it)",
                access::rule_hint(service)
            ),
            Some(Err(e)) => {
                format!("could not ask the API server for access in namespace {ns}: {e}")
            }
            None => format!(
                "no answer from the API server about access in namespace {ns} before --timeout"
            ),
        };
        let names: Vec<String> = deps
            .iter_mut()
            .filter(|d| {
                matches!(&d.target, Target::Service(s)
                    if s.namespace == *ns && s.name == *service && s.written.is_some())
            })
            .filter_map(|d| {
                let name = d.host_name()?.to_string();
                d.resolve_by_dns();
                Some(name)
            })
            .collect();
        tracing::warn!(
            event = "dns_fallback",
            "{reason}; resolving {} through DNS instead of watching",
            names.join(", ")
        );
    }
}

/// For `rbac`: the scope and group of every `--resource` type the built-in table does not
/// know, from discovery. A type discovery cannot find is left out (rbac then says so).
async fn discover_unknown_types(
    client: &Client,
    deps: &[Dependency],
    deadline: Option<Instant>,
) -> BTreeMap<String, kinds::Served> {
    let written: BTreeSet<&str> = deps
        .iter()
        .filter_map(|d| match &d.target {
            Target::Object(o) => Some(o.resource.as_str()),
            _ => None,
        })
        .filter(|r| TypeName::parse(r).is_ok_and(|t| t.namespaced().is_none()))
        .collect();
    let mut found = BTreeMap::new();
    for resource in written {
        let Ok(type_name) = TypeName::parse(resource) else {
            continue;
        };
        let mut searched = kinds::Searched::default();
        if let Some(Ok(Some(served))) =
            within(deadline, kinds::discover(client, &type_name, &mut searched)).await
        {
            found.insert(resource.to_string(), served);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::config::Input;

    fn deps(args: &[&str]) -> Vec<Dependency> {
        let mut argv = vec!["depwait"];
        argv.extend(args);
        Config::from_input(Input::try_from_iter(argv).unwrap())
            .unwrap()
            .dependencies
    }

    type MockBody =
        http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, std::convert::Infallible>;
    type Silent =
        tower_test::mock::Handle<http::Request<kube::client::Body>, http::Response<MockBody>>;

    /// A client whose server takes requests and never answers, while the handle is held.
    fn silent_server() -> (Client, Silent) {
        let (service, handle) = tower_test::mock::pair();
        (Client::new(service, "default"), handle)
    }

    /// Every request of the planning step ends at the deadline: a server that never answers
    /// leaves maybe-Service names unconfirmed and falls back to DNS, instead of hanging.
    #[tokio::test]
    async fn a_silent_server_cannot_hold_planning_past_the_deadline() {
        let (client, _server) = silent_server();
        let deadline = Instant::now() + std::time::Duration::from_millis(100);
        let plan = plan_with(
            deps(&["web.shop", "--pods", "db:app=zk"]),
            Purpose::Wait,
            Ok(client),
            Some(deadline),
        )
        .await
        .unwrap();
        assert!(plan.unconfirmed.contains("shop"));
        let dns = Target::Probe(crate::probe::Check::dns("web.shop"));
        assert!(plan.dependencies.iter().any(|d| d.target == dns));
    }

    #[tokio::test]
    async fn without_credentials_host_names_go_to_dns_and_the_api_is_refused() {
        let none = || Err(("no kubeconfig".to_string(), ExitCode::Usage));
        let plan = plan_with(
            deps(&["web.shop", "x.example.com."]),
            Purpose::Wait,
            none(),
            None,
        )
        .await
        .unwrap();
        assert!(
            plan.dependencies
                .iter()
                .all(|d| matches!(d.target, Target::Probe(crate::probe::Check::Dns { .. })))
        );
        let refused = plan_with(deps(&["--pods", "db:app=zk"]), Purpose::Wait, none(), None).await;
        assert_eq!(refused.err().map(|e| e.code), Some(ExitCode::Usage));
        // rbac needs no server: the names stay as a wait with access would see them, and the
        // maybe-Service namespace is marked unconfirmed.
        let plan = plan_with(
            deps(&["web.shop", "--pods", "db:app=zk"]),
            Purpose::Rbac,
            none(),
            None,
        )
        .await
        .unwrap();
        assert!(
            plan.dependencies
                .iter()
                .any(|d| matches!(d.target, Target::Service(_)))
        );
        assert!(plan.unconfirmed.contains("shop"));
    }
}
