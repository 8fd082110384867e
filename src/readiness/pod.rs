//! When a set of pods counts as Ready, and why not.

use super::Readiness;
use crate::slim::{ContainerStatus, PodStatus, WatchedPod};

/// How many not-ready pods a summary names before it says "and N more".
const NAMED_PODS: usize = 3;

/// What one pod contributes to its dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodVerdict {
    /// Not counted at all: terminating, or finished (Succeeded/Failed, e.g. evicted).
    Ignored(&'static str),
    /// Counted and `Ready=True`.
    Ready,
    /// Counted and not Ready; the most useful reason found.
    NotReady(String),
}

/// Judge one pod.
pub fn verdict(pod: &WatchedPod) -> PodVerdict {
    if pod.metadata.deletion_timestamp.is_some() {
        return PodVerdict::Ignored("terminating");
    }
    let Some(status) = &pod.status else {
        return PodVerdict::NotReady("no status yet".into());
    };
    match status.phase.as_deref() {
        Some("Succeeded") => return PodVerdict::Ignored("succeeded"),
        Some("Failed") => return PodVerdict::Ignored("failed"),
        _ => {}
    }
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    if ready {
        PodVerdict::Ready
    } else {
        PodVerdict::NotReady(not_ready_reason(status))
    }
}

/// The reason a person on call wants first: a container's waiting/terminated reason beats a
/// scheduling problem, which beats the bare phase.
fn not_ready_reason(status: &PodStatus) -> String {
    let containers = |list: &Option<Vec<ContainerStatus>>, what: &str| -> Option<String> {
        list.iter()
            .flatten()
            .find_map(|c| container_reason(c, what))
    };
    if let Some(r) = containers(&status.init_container_statuses, "init container") {
        return r;
    }
    if let Some(r) = containers(&status.container_statuses, "container") {
        return r;
    }
    let condition = |type_: &str| {
        status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == type_ && c.status != "True")
    };
    if let Some(c) = condition("PodScheduled") {
        let reason = c.reason.as_deref().unwrap_or("not scheduled");
        return match c.message.as_deref() {
            Some(m) if !m.is_empty() => format!("{reason}: {m}"),
            _ => reason.to_string(),
        };
    }
    if let Some(c) = condition("Ready")
        && let Some(reason) = &c.reason
    {
        return format!("Ready={} ({reason})", c.status);
    }
    match status.phase.as_deref() {
        Some(phase) if phase != "Running" => phase.to_string(),
        _ => "not Ready".to_string(),
    }
}

fn container_reason(c: &ContainerStatus, what: &str) -> Option<String> {
    let state = c.state.as_ref();
    if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
        let reason = w.reason.as_deref().unwrap_or("waiting");
        return Some(if c.restart_count > 0 {
            format!("{what} {} {reason} (restarts: {})", c.name, c.restart_count)
        } else {
            format!("{what} {} {reason}", c.name)
        });
    }
    if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
        // A completed init container is what should happen; only a failure is news.
        if what == "init container" && t.exit_code == 0 {
            return None;
        }
        let reason = t.reason.as_deref().unwrap_or("terminated");
        return Some(format!(
            "{what} {} {reason} (exit code {})",
            c.name, t.exit_code
        ));
    }
    if what == "container" && !c.ready {
        return Some(format!("{what} {} not ready", c.name));
    }
    None
}

/// Judge a dependency from the pods its selector matches.
///
/// Without `min`: at least one counted pod, and every counted pod Ready. With `min`: at least
/// `min` counted pods Ready (a quorum), whatever the others do.
pub fn judge<'a>(min: Option<u32>, pods: impl IntoIterator<Item = &'a WatchedPod>) -> Readiness {
    let mut ready = 0usize;
    let mut counted = 0usize;
    let mut ignored = 0usize;
    let mut waiting: Vec<(String, String)> = Vec::new();
    for pod in pods {
        match verdict(pod) {
            PodVerdict::Ignored(_) => ignored += 1,
            PodVerdict::Ready => {
                counted += 1;
                ready += 1;
            }
            PodVerdict::NotReady(why) => {
                counted += 1;
                waiting.push((pod.metadata.name.clone().unwrap_or_default(), why));
            }
        }
    }
    // Stores are hash maps: sort so summaries (and "did it change?" checks) are stable.
    waiting.sort();

    let is_ready = match min {
        None => counted > 0 && ready == counted,
        Some(min) => ready >= min as usize,
    };
    let mut summary = if counted == 0 {
        "no matching pods yet".to_string()
    } else {
        match min {
            None => format!("{ready}/{counted} ready"),
            Some(min) => format!("{ready}/{counted} ready, need {min}"),
        }
    };
    if ignored > 0 {
        summary.push_str(&format!(
            " ({ignored} terminating or finished, not counted)"
        ));
    }
    if !is_ready {
        for (name, why) in waiting.iter().take(NAMED_PODS) {
            summary.push_str(&format!("; {name}: {why}"));
        }
        if waiting.len() > NAMED_PODS {
            summary.push_str(&format!(
                "; and {} more not ready",
                waiting.len() - NAMED_PODS
            ));
        }
    }
    Readiness::counted(is_ready, ready, counted, summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, status: serde_json::Value) -> WatchedPod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns"},
            "status": status,
        }))
        .unwrap()
    }

    fn ready(name: &str) -> WatchedPod {
        pod(
            name,
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}),
        )
    }

    fn not_ready(name: &str) -> WatchedPod {
        pod(
            name,
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}),
        )
    }

    fn crashlooping(name: &str) -> WatchedPod {
        pod(
            name,
            json!({
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
                "containerStatuses": [{
                    "name": "app", "ready": false, "restartCount": 5, "image": "x", "imageID": "",
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}
                }]
            }),
        )
    }

    fn terminating(name: &str) -> WatchedPod {
        let mut p = ready(name);
        p.metadata.deletion_timestamp =
            Some(serde_json::from_value(json!("2026-01-01T00:00:00Z")).unwrap());
        p
    }

    fn evicted(name: &str) -> WatchedPod {
        pod(name, json!({"phase": "Failed", "reason": "Evicted"}))
    }

    #[test]
    fn all_counted_pods_must_be_ready_without_min() {
        let r = judge(None, &[ready("a"), ready("b")]);
        assert!(r.is_ready());
        assert_eq!(r.summary, "2/2 ready");
        let r = judge(None, &[ready("a"), not_ready("b")]);
        assert!(!r.is_ready());
        assert_eq!(r.summary, "1/2 ready; b: not Ready");
    }

    #[test]
    fn no_pods_is_not_ready() {
        let r = judge(None, &[]);
        assert!(!r.is_ready());
        assert_eq!(r.summary, "no matching pods yet");
        assert!(!judge(Some(1), &[]).is_ready());
    }

    #[test]
    fn terminating_and_finished_pods_are_not_counted() {
        // A ready-looking terminating pod must not satisfy the dependency on its own...
        let r = judge(None, &[terminating("old")]);
        assert!(!r.is_ready());
        assert_eq!(
            r.summary,
            "no matching pods yet (1 terminating or finished, not counted)"
        );
        // ...and an evicted or succeeded pod must not hold it back.
        let done = pod("done", json!({"phase": "Succeeded"}));
        let r = judge(None, &[ready("a"), evicted("ev"), done]);
        assert!(r.is_ready(), "{}", r.summary);
        assert!(!judge(Some(2), &[ready("a"), terminating("b")]).is_ready());
    }

    #[test]
    fn min_is_a_quorum() {
        let pods = [ready("zk-0"), ready("zk-1"), crashlooping("zk-2")];
        let r = judge(Some(2), &pods);
        assert!(r.is_ready());
        assert_eq!(r.summary, "2/3 ready, need 2");
        let r = judge(Some(3), &pods);
        assert!(!r.is_ready());
        assert_eq!(
            r.summary,
            "2/3 ready, need 3; zk-2: container app CrashLoopBackOff (restarts: 5)"
        );
    }

    #[test]
    fn reasons_name_the_container_and_the_scheduler() {
        let cases = [
            (
                pod(
                    "p",
                    json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}]}),
                ),
                "Unschedulable: 0/3 nodes are available",
            ),
            (
                pod(
                    "p",
                    json!({"phase": "Pending", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0, "image": "x", "imageID": "", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}),
                ),
                "container app ImagePullBackOff",
            ),
            (
                pod(
                    "p",
                    json!({"phase": "Pending", "initContainerStatuses": [{"name": "migrate", "ready": false, "restartCount": 2, "image": "x", "imageID": "", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
                ),
                "init container migrate Error (exit code 1)",
            ),
            (
                pod(
                    "p",
                    json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0, "image": "x", "imageID": "", "state": {"running": {}}}]}),
                ),
                "container app not ready",
            ),
            (pod("p", json!({"phase": "Pending"})), "Pending"),
            (
                serde_json::from_value(json!({"metadata": {"name": "p"}})).unwrap(),
                "no status yet",
            ),
        ];
        for (p, want) in cases {
            assert_eq!(verdict(&p), PodVerdict::NotReady(want.into()));
        }
    }

    #[test]
    fn summaries_are_stable_and_bounded() {
        let pods: Vec<WatchedPod> = (0..10).rev().map(|i| not_ready(&format!("p{i}"))).collect();
        let r = judge(None, &pods);
        assert_eq!(
            r.summary,
            "0/10 ready; p0: not Ready; p1: not Ready; p2: not Ready; and 7 more not ready"
        );
    }
}
