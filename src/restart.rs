//! The restart guard: after a node restart, wait until the kubelet has reported this pod's new
//! run before trusting any pod status.
//!
//! Why: when a node (or the whole cluster) comes back, the API server still holds every pod's
//! status from before the power went: its pods say `Ready=True` with containers that no longer
//! exist, until the restarted kubelet writes them again. Its pods' init containers start at
//! once, so a depwait that lists its dependencies in that window sees yesterday's Ready and
//! releases an app whose dependencies are down — the very failure depwait exists to prevent
//! (the e2e cluster-restart scenario caught it at 1.20, whose kubelet sends status updates at 5
//! a second).
//!
//! What it relies on: the restarted kubelet generates every pod's status (containers gone, not
//! Ready) as it first syncs the pod, before it has made a sandbox for any of them, and sends
//! them in the order it generated them; the report that depwait's own init container runs comes
//! a sandbox and a container start later. So once the API shows this run of depwait, the pods
//! of the same node that the kubelet found dead have been reported as such, and the watches
//! that start next list them as they are.
//!
//! How a restart is told from a first start: depwait runs as an init container, and an init
//! container runs again only when the pod's sandbox was made anew. If the API says an app
//! container of this pod already started, this is such a rerun; until the API shows a container
//! of the pod running since this process started (this one, once the kubelet has reported it),
//! the status is from before it. A first start costs one field-selected list of this pod.
//!
//! What it cannot see: dependencies on another node whose kubelet has not come back keep their
//! old status until the node lifecycle controller marks them not Ready (after its
//! `--node-monitor-grace-period`, 40 s by default). The README says so.

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio::time::Instant;

use crate::aggregate::Outcome;
use crate::api_error::{self, Handling, Request};
use crate::config::Config;
use crate::dependency::Dependency;
use crate::exit::ExitCode;
use crate::text::Escaped;
use crate::{events, report, shutdown};

/// Where the service account's namespace is mounted in a pod.
const NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The pod depwait runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnPod {
    /// Its name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
}

impl std::fmt::Display for OwnPod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl OwnPod {
    /// From the downward API (`POD_NAME`, `POD_NAMESPACE`); else, in a pod (its service
    /// account's namespace is mounted), from `HOSTNAME`, which the kubelet sets to the pod's
    /// name unless the pod sets `spec.hostname`. `None` outside a pod.
    pub async fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var(k).ok();
        if let Some(me) = Self::from(var, None) {
            return Some(me);
        }
        // A few bytes; bounded all the same, like every file depwait reads.
        let within = std::time::Duration::from_secs(2);
        let namespace = crate::files::read_to_string_async(Path::new(NAMESPACE_FILE), 256, within)
            .await
            .ok();
        Self::from(var, namespace)
    }

    /// From the variables `var` gives and the mounted namespace, if read.
    fn from(var: impl Fn(&str) -> Option<String>, namespace_file: Option<String>) -> Option<Self> {
        let var = |k| {
            var(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if let (Some(name), Some(namespace)) = (var("POD_NAME"), var("POD_NAMESPACE")) {
            return Some(Self { name, namespace });
        }
        let namespace = namespace_file?.trim().to_string();
        let name = var("HOSTNAME")?;
        (!namespace.is_empty()).then_some(Self { name, namespace })
    }
}

/// What this pod's status in the API says about the run going on now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// No app container has run yet: a first start; nothing to wait for.
    FirstRun,
    /// A container of this pod is shown running since this process started: the kubelet has
    /// written the pod's status since its sandbox was made.
    Reported,
    /// An app container ran before, and nothing in the status is from this run yet: the status
    /// is from before the pod's sandbox was made anew. What ran, for the log.
    Stale(String),
}

/// Judge `pod`'s status, for a depwait process that started at `since`. A container counts as
/// this run's when the API shows it running since then (the kubelet writes `startedAt` in whole
/// seconds, from the same clock: give it a second or two). That is depwait itself when it is an
/// init container, or when it runs as the pod's main container (a Job's, say), which is why a
/// running app container alone is not taken as the status of an earlier run. Native sidecars
/// (init containers with `restartPolicy: Always`) are left out: one may have started before
/// depwait.
pub fn judge(pod: &Pod, since: Timestamp) -> Seen {
    let Some(status) = &pod.status else {
        return Seen::FirstRun;
    };
    let sidecars: Vec<&str> = pod
        .spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten())
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .map(|c| c.name.as_str())
        .collect();
    let slack = jiff::SignedDuration::from_secs(2);
    let this_run = status
        .init_container_statuses
        .iter()
        .flatten()
        .filter(|c| !sidecars.contains(&c.name.as_str()))
        .chain(status.container_statuses.iter().flatten())
        .filter_map(|c| c.state.as_ref()?.running.as_ref()?.started_at.as_ref())
        .any(|t| t.0 >= since - slack);
    if this_run {
        return Seen::Reported;
    }
    let ran = status
        .container_statuses
        .iter()
        .flatten()
        .find_map(|c| has_run(c).map(|how| format!("container {} {how}", Escaped(&c.name))));
    match ran {
        Some(ran) => Seen::Stale(ran),
        None => Seen::FirstRun,
    }
}

/// How an app container shows it has run, if it has.
fn has_run(c: &ContainerStatus) -> Option<String> {
    let state = c.state.as_ref();
    if let Some(running) = state.and_then(|s| s.running.as_ref()) {
        return Some(match &running.started_at {
            Some(t) => format!("running since {}", t.0.strftime("%Y-%m-%dT%H:%M:%SZ")),
            None => "running".into(),
        });
    }
    if state.is_some_and(|s| s.terminated.is_some()) {
        return Some("terminated".into());
    }
    if c.last_state
        .as_ref()
        .is_some_and(|s| s.terminated.is_some())
        || c.restart_count > 0
    {
        return Some(format!("restarted {} times", c.restart_count));
    }
    None
}

/// How the guard ended, when it did not time out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// Nothing to wait for, or the kubelet has reported this run.
    Current,
    /// The guard cannot work here (no such pod, no right to read it); the wait goes on
    /// without it, and the line logged says why.
    Off,
}

/// What the guard was waiting on when the deadline passed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Stuck {
    /// The API server had not answered the read of this pod.
    #[default]
    NoAnswer,
    /// Reading this pod failed and was being retried: why.
    Retrying(String),
    /// The pod's status was from before its restart: what ran.
    Held(String),
}

/// The guard as a step of the wait, when depwait runs in a pod and watches anything (probes
/// read no pod status): `Some` exit code when the wait ended while it held (timeout, signal),
/// after the summary, termination message and Event.
pub async fn guard(
    config: &Config,
    client: &Client,
    process_started: Timestamp,
    started: Instant,
    deadline: Option<Instant>,
) -> Option<ExitCode> {
    if !config.dependencies.iter().any(Dependency::is_watched) {
        return None;
    }
    let me = OwnPod::from_env().await?;
    let (outcome, stuck) = tokio::select! {
        biased;
        signal = shutdown::signal() => (Outcome::Interrupted(signal), Stuck::NoAnswer),
        settled = settle(client, &me, process_started, deadline) => match settled {
            Ok(_) => return None,
            Err(stuck) => (Outcome::TimedOut, stuck),
        },
    };
    let code = ExitCode::from(&outcome);
    let text = held(&outcome, &me, &stuck, started.elapsed());
    report::ended_before_wait(code, &text, &config.termination_log);
    events::on_failure(config.emit_events, &outcome, Some(client), &text).await;
    Some(code)
}

/// The summary of a wait that ended (`outcome`: timed out or interrupted) while the restart
/// guard was still reading its own pod, before any dependency was looked at.
fn held(outcome: &Outcome, pod: &OwnPod, stuck: &Stuck, elapsed: Duration) -> String {
    let after = humantime::format_duration(Duration::from_millis(elapsed.as_millis() as u64));
    let head = match outcome {
        Outcome::Interrupted(signal) => format!("{signal} after {after}"),
        _ => format!("timed out after {after}"),
    };
    let pod = Escaped(pod);
    let what = match stuck {
        Stuck::Held(ran) => format!(
            "waiting for the kubelet to report this run of pod {pod} (the API still shows the run \
             before its node restarted: {})",
            Escaped(ran)
        ),
        Stuck::Retrying(why) => {
            format!("reading pod {pod} for the restart guard: {}", Escaped(why))
        }
        Stuck::NoAnswer => {
            format!("reading pod {pod} for the restart guard: no answer from the API server")
        }
    };
    format!("{head} {what}; no dependency was looked at yet")
}

/// Watch this pod until its status is current for a depwait started at `since` (see the
/// module docs), or `deadline`; then `Err` says what it was waiting on.
pub async fn settle(
    client: &Client,
    me: &OwnPod,
    since: Timestamp,
    deadline: Option<Instant>,
) -> Result<Guard, Stuck> {
    let mut stuck = Stuck::default();
    let watching = watch_own(client, me, since, &mut stuck);
    let done = match deadline {
        Some(at) => tokio::time::timeout_at(at, watching).await.ok(),
        None => Some(watching.await),
    };
    done.ok_or(stuck)
}

async fn watch_own(client: &Client, me: &OwnPod, since: Timestamp, stuck: &mut Stuck) -> Guard {
    let api: Api<Pod> = Api::namespaced(client.clone(), &me.namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={}", me.name));
    let request = Request {
        group: String::new(),
        resource: "pods".into(),
        namespace: me.namespace.clone(),
    };
    let pod = Escaped(me);
    let mut events = std::pin::pin!(watcher::watcher(api, config).default_backoff());
    let (mut seen, mut held, mut failing) = (false, false, false);
    while let Some(item) = events.next().await {
        let found = match item {
            Ok(Event::InitApply(p) | Event::Apply(p)) => p,
            Ok(Event::InitDone) if !seen => {
                tracing::info!(
                    event = "restart_guard",
                    guard = "off",
                    "pod {pod} (this pod, from POD_NAMESPACE/POD_NAME or HOSTNAME) does not exist: \
                     the restart guard is off; set POD_NAME and POD_NAMESPACE from the downward API"
                );
                return Guard::Off;
            }
            Ok(Event::Delete(_)) => return Guard::Off,
            Ok(Event::Init | Event::InitDone) => continue,
            Err(err) => match api_error::classify(&err, &request) {
                Handling::Fatal(error) => {
                    tracing::warn!(
                        event = "restart_guard",
                        guard = "off",
                        "cannot read this pod ({pod}): {error}. The restart guard is off: after \
                         a node restart, pod statuses from before it may be taken as current. \
                         Grant list and watch on pods in namespace {} (`depwait rbac` does)",
                        Escaped(&me.namespace)
                    );
                    return Guard::Off;
                }
                Handling::Retry(reason) => {
                    *stuck = Stuck::Retrying(reason.clone());
                    // One line per outage, not per attempt (the backoff retries quietly).
                    if !std::mem::replace(&mut failing, true) {
                        tracing::info!(
                            event = "restart_guard",
                            guard = "retrying",
                            "reading this pod ({pod}) for the restart guard: {}; retrying",
                            Escaped(&reason)
                        );
                    }
                    continue;
                }
            },
        };
        seen = true;
        failing = false;
        match judge(&found, since) {
            Seen::FirstRun => return Guard::Current,
            Seen::Reported => {
                if held {
                    tracing::info!(
                        event = "restart_guard",
                        guard = "reported",
                        "the kubelet has reported this run of pod {pod}: pod statuses are current"
                    );
                }
                return Guard::Current;
            }
            Seen::Stale(ran) if !held => {
                held = true;
                *stuck = Stuck::Held(ran.clone());
                tracing::info!(
                    event = "restart_guard",
                    guard = "holding",
                    "pod {pod} is starting again ({ran}, says the API): its node restarted or its \
                     sandbox was made anew, and pod statuses may still be from before that; \
                     waiting for the kubelet to report this run"
                );
            }
            Seen::Stale(ran) => *stuck = Stuck::Held(ran),
        }
    }
    // The watcher's stream never ends; if it did, go on without the guard.
    Guard::Off
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(init: serde_json::Value, app: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "shop"},
            "spec": {
                "initContainers": [
                    {"name": "mesh", "image": "m", "restartPolicy": "Always"},
                    {"name": "depwait", "image": "d"},
                ],
                "containers": [{"name": "app", "image": "a"}],
            },
            "status": {"initContainerStatuses": init, "containerStatuses": app},
        }))
        .unwrap()
    }

    fn status(name: &str, state: serde_json::Value, restarts: i32) -> serde_json::Value {
        json!({"name": name, "image": "x", "imageID": "", "ready": false,
               "restartCount": restarts, "state": state})
    }

    /// When this depwait started, in the tests.
    fn since() -> Timestamp {
        "2026-12-02T10:05:00.400Z".parse().unwrap()
    }

    #[test]
    fn a_first_start_needs_no_wait() {
        let waiting = json!({"waiting": {"reason": "PodInitializing"}});
        let running = json!({"running": {"startedAt": "2026-12-02T10:05:00Z"}});
        // No status at all, then the kubelet's first reports.
        assert_eq!(
            judge(&pod(json!(null), json!(null)), since()),
            Seen::FirstRun
        );
        let first = pod(
            json!([status("depwait", waiting.clone(), 0)]),
            json!([status("app", waiting.clone(), 0)]),
        );
        assert_eq!(judge(&first, since()), Seen::FirstRun);
        // depwait timed out and the kubelet runs it again: the app never ran.
        let mut again = status("depwait", running, 1);
        again["lastState"] = json!({"terminated": {"exitCode": 1}});
        let rerun = pod(json!([again]), json!([status("app", waiting, 0)]));
        assert_eq!(judge(&rerun, since()), Seen::Reported);
    }

    #[test]
    fn a_status_from_before_a_restart_is_stale_until_this_run_is_reported() {
        let done = json!({"terminated": {"exitCode": 0, "reason": "Completed"}});
        let long_ago = json!({"running": {"startedAt": "2026-12-02T09:00:00Z"}});
        // The sidecar started again just now, but before depwait: not this run's report.
        let sidecar = status(
            "mesh",
            json!({"running": {"startedAt": "2026-12-02T10:04:57Z"}}),
            1,
        );
        // What the API held when the power went: depwait done, the app running.
        let before = pod(
            json!([sidecar.clone(), status("depwait", done.clone(), 0)]),
            json!([status("app", long_ago.clone(), 0)]),
        );
        assert_eq!(
            judge(&before, since()),
            Seen::Stale("container app running since 2026-12-02T09:00:00Z".into())
        );
        // The restarted kubelet's first report: the app container is dead.
        let dead = pod(
            json!([sidecar.clone(), status("depwait", done, 0)]),
            json!([status("app", json!({"terminated": {"exitCode": 255}}), 0)]),
        );
        assert!(matches!(judge(&dead, since()), Seen::Stale(_)));
        // Then it reports depwait running again, since (about) this process started: startedAt
        // is in whole seconds.
        let mut app = status("app", json!({"waiting": {"reason": "PodInitializing"}}), 1);
        app["lastState"] = json!({"terminated": {"exitCode": 255}});
        let now = json!({"running": {"startedAt": "2026-12-02T10:05:00Z"}});
        let reported = pod(json!([sidecar, status("depwait", now, 1)]), json!([app]));
        assert_eq!(judge(&reported, since()), Seen::Reported);
    }

    /// depwait as a pod's main container (a Job's): its own running status is this run.
    #[test]
    fn depwait_as_the_main_container_is_its_own_report() {
        let now = json!({"running": {"startedAt": "2026-12-02T10:04:59Z"}});
        let mut main = status("depwait", now, 2);
        main["lastState"] = json!({"terminated": {"exitCode": 1}});
        assert_eq!(
            judge(&pod(json!(null), json!([main])), since()),
            Seen::Reported
        );
        // Restarted by the kubelet, not reported yet: held until it is.
        let mut waiting = status(
            "depwait",
            json!({"waiting": {"reason": "CrashLoopBackOff"}}),
            2,
        );
        waiting["lastState"] = json!({"terminated": {"exitCode": 1}});
        assert!(matches!(
            judge(&pod(json!(null), json!([waiting])), since()),
            Seen::Stale(_)
        ));
    }

    #[test]
    fn the_pod_is_named_by_the_downward_api_else_by_hostname_in_a_pod() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let downward = env(&[
            ("POD_NAME", "web-1"),
            ("POD_NAMESPACE", "shop"),
            ("HOSTNAME", "h"),
        ]);
        let want = OwnPod {
            name: "web-1".into(),
            namespace: "shop".into(),
        };
        assert_eq!(OwnPod::from(downward, None), Some(want));
        // Outside a pod (no namespace mounted), HOSTNAME names nothing.
        assert_eq!(OwnPod::from(env(&[("HOSTNAME", "laptop")]), None), None);
        let mounted = || Some("shop\n".to_string());
        let by_hostname = OwnPod::from(env(&[("HOSTNAME", "web-7d4f")]), mounted()).unwrap();
        assert_eq!(by_hostname.to_string(), "shop/web-7d4f");
        assert_eq!(OwnPod::from(env(&[]), mounted()), None);
        assert_eq!(
            OwnPod::from(env(&[("HOSTNAME", "h")]), Some(" ".into())),
            None
        );
    }
}
