//! What depwait waits for, and what each dependency is judged from.

use std::fmt;

use crate::probe::Check;
use crate::selector::LabelSelector;

/// One thing that must be Ready before the pod may start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// What is waited for.
    pub target: Target,
    /// Where the user wrote it (`--pods #2`, `NAMESPACE_LABEL_DICT["db"][0]`, `HOST #1`), for
    /// messages.
    pub origin: String,
}

/// The kinds of dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The pods in `namespace` matching `selector`: all of them Ready (no `min`) or at least
    /// `min` of them (a quorum).
    Pods {
        /// Namespace the pods live in; it need not exist yet.
        namespace: String,
        /// Server-side label selector for the pods.
        selector: LabelSelector,
        /// `None`: at least one counted pod and every counted pod Ready. `Some(n)`: n Ready pods.
        min: Option<u32>,
    },
    /// A Service with ready endpoints (`--service`, or a cluster-form host name).
    Service(ServiceTarget),
    /// One object of any type (`--job`, `--rollout`, `--resource`), judged by `wait_for`.
    Object(ObjectTarget),
    /// A check that cannot be watched, probed with backoff: a name resolved through DNS as the
    /// pod's resolver would (`--dns`, a host name not of cluster form, or one whose Service may
    /// not be watched), a TCP port (`--tcp`), an HTTP(S) URL (`--http`).
    Probe(Check),
}

/// One object and what it must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectTarget {
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The type as kubectl takes it (`jobs.batch`, `deployment`, `certificates`), resolved
    /// through discovery when the watch starts.
    pub resource: String,
    /// The object's name.
    pub name: String,
    /// What counts as ready.
    pub wait_for: WaitFor,
}

/// What an object must show (kubectl's `--for`, plus Job and rollout judgements).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitFor {
    /// A Job's `Complete=True` or `SuccessCriteriaMet=True`; `Failed=True` or
    /// `FailureTarget=True` fails the wait (exit 4).
    JobComplete,
    /// `kubectl rollout status` of a Deployment, StatefulSet or DaemonSet.
    Rollout,
    /// `condition=NAME[=VALUE]`: the status condition NAME has status VALUE (default `True`),
    /// for the object's current generation when the condition says which it observed.
    Condition {
        /// Condition type, matched case-insensitively as kubectl does.
        name: String,
        /// Expected status, matched case-insensitively.
        value: String,
    },
    /// `jsonpath=EXPR[=VALUE]`: EXPR yields VALUE (or, without VALUE, anything non-empty).
    JsonPath {
        /// The expression as written (`{.status.phase}`).
        expr: String,
        /// Expected value, if any.
        value: Option<String>,
    },
    /// The object exists.
    Create,
    /// The object does not exist.
    Delete,
}

impl fmt::Display for WaitFor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitFor::JobComplete => write!(f, "complete"),
            WaitFor::Rollout => write!(f, "rolled out"),
            WaitFor::Condition { name, value } => write!(f, "condition={name}={value}"),
            WaitFor::JsonPath { expr, value: None } => write!(f, "jsonpath={expr}"),
            WaitFor::JsonPath {
                expr,
                value: Some(v),
            } => write!(f, "jsonpath={expr}={v}"),
            WaitFor::Create => write!(f, "create"),
            WaitFor::Delete => write!(f, "delete"),
        }
    }
}

/// A Service judged from its EndpointSlices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTarget {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// Ready endpoints needed (at least 1).
    pub min: u32,
    /// For `host.svc.ns` names of headless services: only the endpoint with this `hostname`
    /// (a StatefulSet pod such as `mysql-0`) counts.
    pub hostname: Option<String>,
    /// The positional host name this came from, as written (`mysql-0.mysql.db`); `None` for
    /// `--service`.
    pub written: Option<String>,
    /// For names whose shape is only *maybe* a Service (`api.example.com` reads as host `api` of
    /// Service `example` in namespace `com`): while no such Service exists, this absolute DNS
    /// name resolving counts instead — what a pod's resolver does when the cluster search
    /// domains give no answer.
    pub absolute_fallback: Option<String>,
}

impl Dependency {
    /// The positional HOST name this dependency came from, if it is a Service watched for one.
    pub fn host_name(&self) -> Option<&str> {
        match &self.target {
            Target::Service(s) => s.written.as_deref(),
            _ => None,
        }
    }

    /// Whether judging this dependency needs the Kubernetes API (a HOST name can do without,
    /// through DNS).
    pub fn needs_api(&self) -> bool {
        match &self.target {
            Target::Pods { .. } | Target::Object(_) => true,
            Target::Service(s) => s.written.is_none(),
            Target::Probe(_) => false,
        }
    }

    /// The check, for a dependency that is probed.
    pub fn probe(&self) -> Option<&Check> {
        match &self.target {
            Target::Probe(check) => Some(check),
            _ => None,
        }
    }

    /// Whether this dependency is judged from watched API objects (pods, or what controllers
    /// derive from pods' statuses), as opposed to a DNS, TCP or HTTP probe.
    pub fn is_watched(&self) -> bool {
        !matches!(self.target, Target::Probe(_))
    }

    /// Judge a positional HOST name through DNS instead of watching (no access, no
    /// credentials): what service-precheck did.
    pub fn resolve_by_dns(&mut self) {
        if let Target::Service(ServiceTarget {
            written: Some(name),
            ..
        }) = &self.target
        {
            self.target = Target::Probe(Check::dns(name.clone()));
        }
    }

    /// The sources this dependency is judged from (shared with equal dependencies: one watcher
    /// per distinct key).
    pub fn sources(&self) -> Vec<SourceKey> {
        self.rule().into_sources()
    }

    /// The rule this dependency is judged by, with its sources by name.
    pub fn rule(&self) -> Rule<SourceKey> {
        let watch = |kind, namespace: &str, labels: Option<String>, name: Option<&str>| {
            SourceKey::Watch(WatchKey {
                kind,
                namespace: namespace.to_string(),
                labels,
                name: name.map(str::to_string),
                resource: None,
            })
        };
        let object = |o: &ObjectTarget| {
            SourceKey::Watch(WatchKey {
                kind: WatchKind::Objects,
                namespace: o.namespace.clone().unwrap_or_default(),
                labels: None,
                name: Some(o.name.clone()),
                resource: Some(o.resource.clone()),
            })
        };
        match &self.target {
            Target::Pods {
                namespace,
                selector,
                min,
            } => Rule::Pods {
                min: *min,
                pods: watch(
                    WatchKind::Pods,
                    namespace,
                    Some(selector.as_str().to_string()),
                    None,
                ),
            },
            Target::Service(s) => Rule::Service {
                target: s.clone(),
                service: watch(WatchKind::Services, &s.namespace, None, Some(&s.name)),
                endpoints: watch(
                    WatchKind::ServiceEndpoints,
                    &s.namespace,
                    None,
                    Some(&s.name),
                ),
                fallback: s
                    .absolute_fallback
                    .as_ref()
                    .map(|name| SourceKey::Probe(Check::dns(name.clone()))),
            },
            Target::Object(o) => Rule::Object {
                target: o.clone(),
                object: object(o),
            },
            Target::Probe(check) => Rule::Probe {
                probe: SourceKey::Probe(check.clone()),
            },
        }
    }
}

/// How a dependency is judged: its rule's parameters and its sources by what each is for. `S`
/// is a [`SourceKey`] in the model and the aggregator's index of that source on its board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule<S> {
    /// Pods matching a selector: all Ready, or `min` of them ([`crate::readiness::pod`]).
    Pods {
        /// `None`: every counted pod; `Some(n)`: a quorum.
        min: Option<u32>,
        /// The watched pods.
        pods: S,
    },
    /// A Service: its object says how to judge it, its endpoints whether it is ready
    /// ([`crate::readiness::service`]).
    Service {
        /// What is asked of it.
        target: ServiceTarget,
        /// The Service object.
        service: S,
        /// Its endpoints.
        endpoints: S,
        /// The absolute DNS name that counts while no such Service exists, if any.
        fallback: Option<S>,
    },
    /// One object ([`crate::readiness::object`]).
    Object {
        /// What it must show.
        target: ObjectTarget,
        /// The watched object.
        object: S,
    },
    /// A probe's last result ([`crate::readiness::probe`]).
    Probe {
        /// The probe.
        probe: S,
    },
}

impl<S> Rule<S> {
    /// The same rule, each source replaced by `f`'s answer.
    pub fn map<T>(self, mut f: impl FnMut(S) -> T) -> Rule<T> {
        match self {
            Rule::Pods { min, pods } => Rule::Pods { min, pods: f(pods) },
            Rule::Service {
                target,
                service,
                endpoints,
                fallback,
            } => Rule::Service {
                target,
                service: f(service),
                endpoints: f(endpoints),
                fallback: fallback.map(f),
            },
            Rule::Object { target, object } => Rule::Object {
                target,
                object: f(object),
            },
            Rule::Probe { probe } => Rule::Probe { probe: f(probe) },
        }
    }

    /// Every source, in a fixed order.
    pub fn into_sources(self) -> Vec<S> {
        let mut all = Vec::new();
        let _ = self.map(|s| all.push(s));
        all
    }

    /// Whether `source` is one of this rule's sources.
    pub fn reads(&self, source: &S) -> bool
    where
        S: PartialEq,
    {
        match self {
            Rule::Pods { pods: s, .. }
            | Rule::Object { object: s, .. }
            | Rule::Probe { probe: s } => s == source,
            Rule::Service {
                service,
                endpoints,
                fallback,
                ..
            } => service == source || endpoints == source || fallback.as_ref() == Some(source),
        }
    }
}

impl fmt::Display for Dependency {
    /// `namespace-1 app=MyApp`, `db app=zk (min 2)`, `service db/mysql-read`,
    /// `mysql-0.mysql.db`, `api.example.com`: the name used in every log line, in the check
    /// table and in `depwait rbac`'s comments. Escaped ([`crate::text::escape`]): a
    /// `jsonpath=` value is free text, and a newline in it must not start a line of its own —
    /// in a log, or in YAML piped to `kubectl apply`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = String::new();
        self.write_unescaped(&mut shown)?;
        f.write_str(&crate::text::escape(&shown))
    }
}

impl Dependency {
    fn write_unescaped(&self, f: &mut impl fmt::Write) -> fmt::Result {
        match &self.target {
            Target::Pods {
                namespace,
                selector,
                min,
            } => {
                write!(f, "{namespace} {selector}")?;
                if let Some(min) = min {
                    write!(f, " (min {min})")?;
                }
                Ok(())
            }
            Target::Service(s) => {
                match &s.written {
                    Some(written) => write!(f, "{written}")?,
                    None => write!(f, "service {}/{}", s.namespace, s.name)?,
                }
                if s.min > 1 {
                    write!(f, " (min {})", s.min)?;
                }
                Ok(())
            }
            Target::Probe(check) => write!(f, "{check}"),
            Target::Object(o) => {
                let at = match &o.namespace {
                    Some(ns) => format!("{ns}/"),
                    None => String::new(),
                };
                match &o.wait_for {
                    WaitFor::JobComplete => write!(f, "job {at}{}", o.name),
                    WaitFor::Rollout => {
                        // `deployments.apps` → `deployment`, as the user wrote it.
                        let plural = o.resource.split('.').next().unwrap_or_default();
                        let kind = plural.strip_suffix('s').unwrap_or(plural);
                        write!(f, "rollout {at}{kind}/{}", o.name)
                    }
                    other => write!(f, "{at}{}/{} ({other})", o.resource, o.name),
                }
            }
        }
    }
}

/// Something a dependency is judged from: a watched set of objects, or a probe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKey {
    /// A watcher and its store.
    Watch(WatchKey),
    /// A check retried with backoff (DNS, TCP and HTTP cannot be watched).
    Probe(Check),
}

/// What a watcher lists and watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WatchKind {
    /// core/v1 pods.
    Pods,
    /// core/v1 services.
    Services,
    /// The endpoints of one Service: its EndpointSlices (`discovery.k8s.io/v1`, or `v1beta1` on
    /// Kubernetes before 1.21, chosen by discovery), or core/v1 Endpoints on a server that
    /// serves neither.
    ServiceEndpoints,
    /// One object of the type in [`WatchKey::resource`], found through discovery.
    Objects,
}

impl WatchKind {
    /// The resource as RBAC names it: (API group, plural).
    pub fn rbac_resource(self) -> (&'static str, &'static str) {
        match self {
            WatchKind::Pods => ("", "pods"),
            WatchKind::Services => ("", "services"),
            WatchKind::ServiceEndpoints => ("discovery.k8s.io", "endpointslices"),
            WatchKind::Objects => ("", "objects"),
        }
    }
}

/// Identity of a watched set: one watcher and one store per distinct key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WatchKey {
    /// What is watched.
    pub kind: WatchKind,
    /// Namespace watched.
    pub namespace: String,
    /// Canonical label selector sent to the server, if any.
    pub labels: Option<String>,
    /// One object by name (a field selector), if any. For [`WatchKind::ServiceEndpoints`], the
    /// Service whose endpoints are watched.
    pub name: Option<String>,
    /// For [`WatchKind::Objects`]: the type as the user wrote it (`jobs.batch`); its API
    /// group and version come from discovery. An empty namespace means cluster-scoped.
    pub resource: Option<String>,
}

impl WatchKey {
    /// The resource as RBAC names it, `(group, plural)`, as far as it is known without asking
    /// the server: for `--resource` types given as `kind` or a bare plural of a custom
    /// resource, the group is known only after discovery (`None`).
    pub fn rbac_resource(&self) -> Option<(String, String)> {
        match (&self.kind, &self.resource) {
            (WatchKind::Objects, Some(r)) => crate::kinds::TypeName::parse(r)
                .ok()
                .and_then(|t| t.rbac_resource()),
            (kind, _) => {
                let (g, p) = kind.rbac_resource();
                Some((g.into(), p.into()))
            }
        }
    }
}

impl fmt::Display for WatchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = &self.namespace;
        match (self.kind, &self.labels, &self.name) {
            (WatchKind::Objects, _, name) => {
                let r = self.resource.as_deref().unwrap_or("objects");
                let name = name.as_deref().unwrap_or_default();
                match ns.as_str() {
                    "" => write!(f, "{r} {name}"),
                    _ => write!(f, "{r} {name} in namespace {ns}"),
                }
            }
            (WatchKind::ServiceEndpoints, _, Some(name)) => {
                write!(f, "endpoints of service {name} in namespace {ns}")
            }
            (kind, Some(labels), _) => write!(
                f,
                "{} in namespace {ns} matching {labels}",
                kind.rbac_resource().1
            ),
            (kind, None, Some(name)) => {
                write!(f, "{} {name} in namespace {ns}", kind.rbac_resource().1)
            }
            (kind, None, None) => write!(f, "{} in namespace {ns}", kind.rbac_resource().1),
        }
    }
}
