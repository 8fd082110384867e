//! Readiness of one object of any type: a Job complete, a rollout finished, a condition, a
//! JSONPath value, existence. Each rule mirrors the kubectl command users would otherwise run,
//! so depwait and kubectl agree on the same object; the kubectl source each one follows is
//! named on it.

use std::sync::Arc;

use jsonpath_rust::JsonPath;
use kube::api::DynamicObject;
use serde_json::Value;

use super::Readiness;
use crate::dependency::{ObjectTarget, WaitFor};

/// Judge `target` from the objects its watch holds (none or one: the watch selects by name).
pub fn judge(target: &ObjectTarget, objects: &[Arc<DynamicObject>]) -> Readiness {
    let obj = objects
        .iter()
        .find(|o| o.metadata.name.as_deref() == Some(target.name.as_str()));
    let Some(obj) = obj else {
        return match target.wait_for {
            WaitFor::Delete => verdict(true, "does not exist".into()),
            _ => verdict(false, "does not exist yet".into()),
        };
    };
    match &target.wait_for {
        WaitFor::Create => verdict(true, "exists".into()),
        WaitFor::Delete => verdict(
            false,
            if obj.metadata.deletion_timestamp.is_some() {
                "being deleted (finalizers pending)".into()
            } else {
                "still exists".into()
            },
        ),
        WaitFor::JobComplete => job(obj),
        WaitFor::Rollout => rollout(&target.resource, obj),
        WaitFor::Condition { name, value } => condition(obj, name, value),
        WaitFor::JsonPath { expr, value } => match parse_jsonpath(expr) {
            Ok(path) => jsonpath(obj, expr, &path, value.as_deref()),
            // Validated with the configuration; kept total all the same.
            Err(e) => verdict(false, e.to_string()),
        },
    }
}

fn verdict(ready: bool, summary: String) -> Readiness {
    Readiness::one(ready, summary)
}

fn int(v: &Value, path: &[&str]) -> Option<i64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_i64()
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// The `status.conditions` entry of `type` (case-insensitive, as kubectl matches).
fn find_condition<'a>(obj: &'a DynamicObject, kind: &str) -> Option<&'a Value> {
    obj.data
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| text(c, &["type"]).is_some_and(|t| t.eq_ignore_ascii_case(kind)))
}

fn condition_is(obj: &DynamicObject, kind: &str, status: &str) -> bool {
    find_condition(obj, kind)
        .and_then(|c| text(c, &["status"]))
        .is_some_and(|s| s.eq_ignore_ascii_case(status))
}

/// A Job: `Complete=True` is ready, `Failed=True` fails the wait — what
/// `kubectl wait --for=condition=complete` and `--for=condition=failed` read, decided at once.
///
/// From 1.31 the Job controller decides first and finishes later: it adds
/// `SuccessCriteriaMet` (or `FailureTarget`) as soon as the outcome is settled, then `Complete`
/// (`Failed`) once the Job's remaining pods are gone, which can take their whole termination
/// grace period. The API server refuses to undo either (a Job with `FailureTarget` can never
/// turn `Complete`, nor one with `SuccessCriteriaMet` `Failed`), so depwait judges the first
/// condition: the gated app need not wait for a finished Job's pods to terminate.
fn job(obj: &DynamicObject) -> Readiness {
    let status = obj.data.get("status").cloned().unwrap_or(Value::Null);
    let count = |k: &str| int(&status, &[k]).unwrap_or(0);
    // The first condition of `kinds` that is True.
    let settled = |kinds: &[&str]| {
        kinds
            .iter()
            .filter_map(|k| find_condition(obj, k))
            .find(|c| text(c, &["status"]).is_some_and(|s| s.eq_ignore_ascii_case("True")))
    };
    if let Some(c) = settled(&["Failed", "FailureTarget"]) {
        let reason = text(c, &["reason"]).unwrap_or("Failed");
        let message = text(c, &["message"]).unwrap_or("");
        return Readiness::failed(match message {
            "" => reason.to_string(),
            message => format!("{reason}: {message}"),
        });
    }
    if condition_is(obj, "Complete", "True") {
        return verdict(true, format!("complete ({} succeeded)", count("succeeded")));
    }
    if settled(&["SuccessCriteriaMet"]).is_some() {
        return verdict(
            true,
            format!(
                "succeeded ({} succeeded; Complete follows once its pods are gone)",
                count("succeeded")
            ),
        );
    }
    let mut summary = format!(
        "not complete: {} active, {} succeeded, {} failed",
        count("active"),
        count("succeeded"),
        count("failed")
    );
    if let Some(c) =
        find_condition(obj, "Suspended").filter(|_| condition_is(obj, "Suspended", "True"))
    {
        summary = format!(
            "suspended ({})",
            text(c, &["reason"]).unwrap_or("JobSuspended")
        );
    }
    verdict(false, summary)
}

/// `kubectl rollout status`, kind by kind (kubectl/pkg/polymorphichelpers/rollout_status.go).
/// `resource` is the plural the configuration normalised `--rollout` to.
fn rollout(resource: &str, obj: &DynamicObject) -> Readiness {
    // `spec` and `status` are in `data`; of the metadata only the generation is read.
    let (o, generation) = (&obj.data, obj.metadata.generation.unwrap_or(0));
    match resource.split('.').next().unwrap_or_default() {
        "deployments" => deployment(o, generation),
        "statefulsets" => stateful_set(o, generation),
        "daemonsets" => daemon_set(o, generation),
        other => verdict(false, format!("no rollout status for {other}")),
    }
}

fn generation_observed(o: &Value, generation: i64) -> bool {
    let observed = int(o, &["status", "observedGeneration"]).unwrap_or(0);
    generation <= observed
}

/// DeploymentStatusViewer.Status.
fn deployment(o: &Value, generation: i64) -> Readiness {
    if !generation_observed(o, generation) {
        return verdict(false, "waiting for the spec update to be observed".into());
    }
    let conditions = o.pointer("/status/conditions").and_then(Value::as_array);
    let deadline_exceeded = conditions.into_iter().flatten().any(|c| {
        text(c, &["type"]) == Some("Progressing")
            && text(c, &["reason"]) == Some("ProgressDeadlineExceeded")
    });
    let status = |k: &str| int(o, &["status", k]).unwrap_or(0);
    let (updated, replicas, available) = (
        status("updatedReplicas"),
        status("replicas"),
        status("availableReplicas"),
    );
    // kubectl gives up here; the controller keeps trying, so depwait keeps waiting and says so.
    let prefix = if deadline_exceeded {
        "exceeded its progress deadline; "
    } else {
        ""
    };
    let want = int(o, &["spec", "replicas"]);
    let not_yet = |m: String| verdict(false, format!("{prefix}{m}"));
    if let Some(want) = want.filter(|w| updated < *w) {
        return not_yet(format!(
            "{updated} of {want} new replicas have been updated"
        ));
    }
    if replicas > updated {
        return not_yet(format!(
            "{} old replicas are pending termination",
            replicas - updated
        ));
    }
    if available < updated {
        return not_yet(format!(
            "{available} of {updated} updated replicas are available"
        ));
    }
    verdict(true, format!("rolled out ({available} available)"))
}

/// StatefulSetStatusViewer.Status, including `partition`.
fn stateful_set(o: &Value, generation: i64) -> Readiness {
    let strategy = text(o, &["spec", "updateStrategy", "type"]).unwrap_or("RollingUpdate");
    let observed = int(o, &["status", "observedGeneration"]).unwrap_or(0);
    if observed == 0 || !generation_observed(o, generation) {
        return verdict(false, "waiting for the spec update to be observed".into());
    }
    let status = |k: &str| int(o, &["status", k]).unwrap_or(0);
    let want = int(o, &["spec", "replicas"]);
    if let Some(want) = want.filter(|w| status("readyReplicas") < *w) {
        return verdict(
            false,
            format!("{} of {want} pods are ready", status("readyReplicas")),
        );
    }
    if strategy != "RollingUpdate" {
        // kubectl refuses OnDelete sets; every pod Ready at the observed generation is the
        // most that can be promised without a rolling update to follow.
        return verdict(
            true,
            format!("{strategy}: all {} pods ready", status("readyReplicas")),
        );
    }
    if let Some(partition) = int(o, &["spec", "updateStrategy", "rollingUpdate", "partition"]) {
        if let Some(want) = want {
            let target = want - partition;
            if status("updatedReplicas") < target {
                return verdict(
                    false,
                    format!(
                        "partitioned roll out: {} of {target} new pods have been updated",
                        status("updatedReplicas")
                    ),
                );
            }
        }
        return verdict(
            true,
            format!(
                "partitioned roll out complete: {} new pods",
                status("updatedReplicas")
            ),
        );
    }
    let (update, current) = (
        text(o, &["status", "updateRevision"]),
        text(o, &["status", "currentRevision"]),
    );
    if update != current {
        return verdict(
            false,
            format!(
                "rolling update: {} pods at revision {}",
                status("updatedReplicas"),
                update.unwrap_or("?")
            ),
        );
    }
    verdict(
        true,
        format!("rolled out ({} ready)", status("readyReplicas")),
    )
}

/// DaemonSetStatusViewer.Status.
fn daemon_set(o: &Value, generation: i64) -> Readiness {
    if !generation_observed(o, generation) {
        return verdict(false, "waiting for the spec update to be observed".into());
    }
    let status = |k: &str| int(o, &["status", k]).unwrap_or(0);
    let desired = status("desiredNumberScheduled");
    let strategy = text(o, &["spec", "updateStrategy", "type"]).unwrap_or("RollingUpdate");
    if strategy == "RollingUpdate" && status("updatedNumberScheduled") < desired {
        return verdict(
            false,
            format!(
                "{} of {desired} new pods have been updated",
                status("updatedNumberScheduled")
            ),
        );
    }
    if status("numberAvailable") < desired {
        return verdict(
            false,
            format!(
                "{} of {desired} updated pods are available",
                status("numberAvailable")
            ),
        );
    }
    verdict(true, format!("rolled out ({desired} scheduled)"))
}

/// `kubectl wait --for=condition=NAME=VALUE` (kubectl/pkg/cmd/wait/condition.go,
/// `checkCondition`): the first condition of that type decides, unless it (or, failing that,
/// the status) says it observed an older generation than the object's.
fn condition(obj: &DynamicObject, name: &str, value: &str) -> Readiness {
    let Some(c) = find_condition(obj, name) else {
        return verdict(false, format!("no {name} condition yet"));
    };
    let Some(status) = text(c, &["status"]) else {
        return verdict(false, format!("condition {name} has no status yet"));
    };
    if let Some(generation) = obj.metadata.generation {
        let observed = int(c, &["observedGeneration"])
            .or_else(|| obj.data.pointer("/status/observedGeneration")?.as_i64());
        if let Some(observed) = observed.filter(|o| *o < generation) {
            return verdict(
                false,
                format!(
                    "{name}={status} is for generation {observed}; the object is at {generation}"
                ),
            );
        }
    }
    let mut summary = format!("{name}={status}");
    if !status.eq_ignore_ascii_case(value) {
        let reason = [text(c, &["reason"]), text(c, &["message"])]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(": ");
        if !reason.is_empty() {
            summary = format!("{summary} ({reason})");
        }
        return verdict(false, summary);
    }
    verdict(true, summary)
}

/// kubectl's JSONPath (`{.status.phase}`, `{.status.conditions[?(@.type=="Ready")].status}`)
/// as an RFC 9535 query: the outer braces dropped and `$` put in front. The filter and
/// bracket forms kubectl users write are valid RFC 9535 as they stand.
pub fn parse_jsonpath(expr: &str) -> Result<String, BadJsonPath> {
    let inner = expr.trim();
    let inner = inner
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(inner)
        .trim();
    let query = match inner {
        q if q.starts_with('$') => q.to_string(),
        q if q.starts_with('.') || q.starts_with('[') => format!("${q}"),
        q => format!("$.{q}"),
    };
    jsonpath_rust::parser::parse_json_path(&query).map_err(|e| BadJsonPath {
        expr: expr.into(),
        why: e.to_string(),
    })?;
    Ok(query)
}

/// A `jsonpath=` expression the JSONPath parser refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{expr}` is not a JSONPath expression: {why}")]
pub struct BadJsonPath {
    /// The expression as written.
    pub expr: String,
    /// The parser's reason.
    pub why: String,
}

/// `kubectl wait --for=jsonpath=EXPR=VALUE` (condition.go, `isJSONPathConditionMet`): exactly
/// one scalar result, compared as text with surrounding spaces trimmed. Without VALUE: the
/// path exists and is not null.
fn jsonpath(obj: &DynamicObject, expr: &str, query: &str, want: Option<&str>) -> Readiness {
    // kubectl evaluates the path on the whole object, metadata included.
    let whole = serde_json::to_value(obj).unwrap_or(Value::Null);
    let Ok(found) = whole.query(query) else {
        return verdict(false, format!("{expr} cannot be evaluated"));
    };
    let value = match found.as_slice() {
        [] => return verdict(false, format!("{expr}: no value yet")),
        [one] => one,
        many => {
            return verdict(
                false,
                format!("{expr} matches {} values; it must match one", many.len()),
            );
        }
    };
    let shown = match value {
        Value::Null => return verdict(false, format!("{expr} is null")),
        Value::String(s) => s.clone(),
        Value::Object(_) | Value::Array(_) => {
            return verdict(
                false,
                format!("{expr} is an object or list; point it at one value"),
            );
        }
        other => other.to_string(),
    };
    match want {
        None => verdict(true, format!("{expr}={shown}")),
        Some(want) if shown.trim() == want.trim() => verdict(true, format!("{expr}={shown}")),
        Some(want) => verdict(false, format!("{expr}={shown}, waiting for {want}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Arc<DynamicObject> {
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn target(resource: &str, wait_for: WaitFor) -> ObjectTarget {
        ObjectTarget {
            namespace: Some("ns".into()),
            resource: resource.into(),
            name: "x".into(),
            wait_for,
        }
    }

    fn judge_one(resource: &str, wait_for: WaitFor, v: Value) -> Readiness {
        judge(&target(resource, wait_for), &[obj(v)])
    }

    fn meta(generation: i64) -> Value {
        json!({"name": "x", "namespace": "ns", "generation": generation})
    }

    #[test]
    fn missing_objects_wait_except_for_delete() {
        let t = target("jobs.batch", WaitFor::JobComplete);
        assert!(!judge(&t, &[]).is_ready());
        assert_eq!(judge(&t, &[]).summary, "does not exist yet");
        let t = target("configmaps", WaitFor::Delete);
        assert!(judge(&t, &[]).is_ready());
        let t = target("configmaps", WaitFor::Create);
        assert!(!judge(&t, &[]).is_ready());
        let present = obj(json!({"metadata": {"name": "x"}}));
        assert!(judge(&t, std::slice::from_ref(&present)).is_ready());
        assert!(!judge(&target("configmaps", WaitFor::Delete), &[present]).is_ready());
    }

    #[test]
    fn jobs_complete_or_fail() {
        let job = |conditions: Value| {
            judge_one(
                "jobs.batch",
                WaitFor::JobComplete,
                json!({"metadata": meta(1), "status": {"active": 1, "conditions": conditions}}),
            )
        };
        let running = job(json!([]));
        assert!(!running.is_ready() && !running.is_failed());
        assert_eq!(
            running.summary,
            "not complete: 1 active, 0 succeeded, 0 failed"
        );
        let done = job(json!([{"type": "Complete", "status": "True"}]));
        assert!(done.is_ready() && !done.is_failed());
        let failed = job(json!([{"type": "Failed", "status": "True",
            "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]));
        assert!(!failed.is_ready() && failed.is_failed());
        assert_eq!(
            failed.detail(),
            "failed: BackoffLimitExceeded: Job has reached the specified backoff limit"
        );
        // A condition that is not True decides nothing.
        assert!(!job(json!([{"type": "Complete", "status": "False"}])).is_ready());
        for kind in ["SuccessCriteriaMet", "FailureTarget"] {
            let undecided = job(json!([{"type": kind, "status": "False"}]));
            assert!(!undecided.is_ready() && !undecided.is_failed(), "{kind}");
        }
    }

    /// 1.31+: the controller settles the outcome (`SuccessCriteriaMet`, `FailureTarget`) before
    /// the Job's pods are gone and `Complete`/`Failed` follow; the first one decides.
    #[test]
    fn jobs_are_judged_when_their_outcome_is_settled() {
        let job = |conditions: Value| {
            judge_one(
                "jobs.batch",
                WaitFor::JobComplete,
                json!({"metadata": meta(1),
                       "status": {"active": 1, "succeeded": 1, "conditions": conditions}}),
            )
        };
        let met = json!({"type": "SuccessCriteriaMet", "status": "True",
            "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"});
        let succeeded = job(json!([met]));
        assert!(succeeded.is_ready() && !succeeded.is_failed());
        assert_eq!(
            succeeded.summary,
            "succeeded (1 succeeded; Complete follows once its pods are gone)"
        );
        let done = job(json!([met, {"type": "Complete", "status": "True"}]));
        assert!(done.is_ready() && !done.is_failed());
        assert_eq!(done.summary, "complete (1 succeeded)");

        let target = json!({"type": "FailureTarget", "status": "True",
            "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"});
        let failing = job(json!([target]));
        assert!(!failing.is_ready() && failing.is_failed());
        assert_eq!(
            failing.detail(),
            "failed: BackoffLimitExceeded: Job has reached the specified backoff limit"
        );
        // Both present (the pods are gone): the same verdict, from `Failed`.
        let failed = job(json!([target, {"type": "Failed", "status": "True",
            "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]));
        assert_eq!(failed.summary, failing.summary);
        assert!(failed.is_failed());
        // A pod failure policy's FailJob action names its own reason.
        let policy = job(json!([{"type": "FailureTarget", "status": "True",
            "reason": "PodFailurePolicy", "message": "Container main for pod x failed with exit code 42"}]));
        assert!(policy.is_failed());
        assert!(
            policy.detail().starts_with("failed: PodFailurePolicy: "),
            "{}",
            policy.summary
        );
    }

    #[test]
    fn deployments_follow_kubectl_rollout_status() {
        let dep = |generation: i64, spec: Value, status: Value| {
            judge_one(
                "deployments.apps",
                WaitFor::Rollout,
                json!({"metadata": meta(generation), "spec": spec, "status": status}),
            )
        };
        let r = dep(2, json!({"replicas": 3}), json!({"observedGeneration": 1}));
        assert_eq!(r.summary, "waiting for the spec update to be observed");
        let r = dep(
            2,
            json!({"replicas": 3}),
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 3}),
        );
        assert_eq!(r.summary, "1 of 3 new replicas have been updated");
        let r = dep(
            2,
            json!({"replicas": 3}),
            json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}),
        );
        assert_eq!(r.summary, "1 old replicas are pending termination");
        let r = dep(
            2,
            json!({"replicas": 3}),
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}),
        );
        assert_eq!(r.summary, "2 of 3 updated replicas are available");
        let r = dep(
            2,
            json!({"replicas": 3}),
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
        );
        assert!(r.is_ready(), "{}", r.summary);
        let r = dep(
            2,
            json!({"replicas": 3}),
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 3,
                   "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
        );
        assert!(!r.is_ready());
        assert!(r.summary.starts_with("exceeded its progress deadline"));
    }

    #[test]
    fn stateful_sets_honour_partition_and_revisions() {
        let sts = |spec: Value, status: Value| {
            judge_one(
                "statefulsets.apps",
                WaitFor::Rollout,
                json!({"metadata": meta(3), "spec": spec, "status": status}),
            )
        };
        // observedGeneration 0 (never observed) is "not yet", as in kubectl.
        assert!(!sts(json!({"replicas": 3}), json!({})).is_ready());
        let r = sts(
            json!({"replicas": 3}),
            json!({"observedGeneration": 3, "readyReplicas": 2}),
        );
        assert_eq!(r.summary, "2 of 3 pods are ready");
        let rolling = json!({"replicas": 3});
        let r = sts(
            rolling.clone(),
            json!({"observedGeneration": 3, "readyReplicas": 3, "updatedReplicas": 1,
                   "currentRevision": "a", "updateRevision": "b"}),
        );
        assert!(!r.is_ready());
        let r = sts(
            rolling,
            json!({"observedGeneration": 3, "readyReplicas": 3, "updatedReplicas": 3,
                   "currentRevision": "b", "updateRevision": "b"}),
        );
        assert!(r.is_ready());
        let partitioned = json!({"replicas": 3, "updateStrategy":
            {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}});
        let r = sts(
            partitioned.clone(),
            json!({"observedGeneration": 3, "readyReplicas": 3, "updatedReplicas": 0,
                   "currentRevision": "a", "updateRevision": "b"}),
        );
        assert_eq!(
            r.summary,
            "partitioned roll out: 0 of 1 new pods have been updated"
        );
        let r = sts(
            partitioned,
            json!({"observedGeneration": 3, "readyReplicas": 3, "updatedReplicas": 1,
                   "currentRevision": "a", "updateRevision": "b"}),
        );
        assert!(r.is_ready(), "{}", r.summary);
    }

    #[test]
    fn daemon_sets_need_every_node_updated_and_available() {
        let ds = |status: Value| {
            judge_one(
                "daemonsets.apps",
                WaitFor::Rollout,
                json!({"metadata": meta(1), "spec": {}, "status": status}),
            )
        };
        let base = |updated: i64, available: i64| {
            json!({"observedGeneration": 1, "desiredNumberScheduled": 3,
                   "updatedNumberScheduled": updated, "numberAvailable": available})
        };
        assert_eq!(ds(base(2, 3)).summary, "2 of 3 new pods have been updated");
        assert_eq!(ds(base(3, 2)).summary, "2 of 3 updated pods are available");
        assert!(ds(base(3, 3)).is_ready());
    }

    #[test]
    fn conditions_respect_observed_generation() {
        let cond = |generation: i64, c: Value, status: Value| {
            judge_one(
                "certificates.cert-manager.io",
                WaitFor::Condition {
                    name: "ready".into(),
                    value: "true".into(),
                },
                json!({"metadata": meta(generation), "status": {"conditions": [c], "x": status}}),
            )
        };
        assert!(cond(1, json!({"type": "Ready", "status": "True"}), json!(null)).is_ready());
        let r = cond(
            2,
            json!({"type": "Ready", "status": "True", "observedGeneration": 1}),
            json!(null),
        );
        assert!(!r.is_ready());
        assert_eq!(
            r.summary,
            "ready=True is for generation 1; the object is at 2"
        );
        let r = cond(
            2,
            json!({"type": "Ready", "status": "False", "reason": "Pending", "message": "issuing"}),
            json!(null),
        );
        assert_eq!(r.summary, "ready=False (Pending: issuing)");
        // status.observedGeneration counts when the condition has none.
        let r = judge_one(
            "kustomizations.kustomize.toolkit.fluxcd.io",
            WaitFor::Condition {
                name: "Ready".into(),
                value: "True".into(),
            },
            json!({"metadata": meta(5), "status": {"observedGeneration": 4,
                   "conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        assert!(!r.is_ready());
    }

    #[test]
    fn jsonpath_matches_one_scalar_like_kubectl() {
        let pvc = json!({"metadata": meta(1), "status": {"phase": "Bound", "capacity": {"storage": "1Gi"},
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "Other", "status": "False"}],
            "count": 3}});
        let jp = |expr: &str, value: Option<&str>| {
            judge_one(
                "persistentvolumeclaims",
                WaitFor::JsonPath {
                    expr: expr.into(),
                    value: value.map(str::to_string),
                },
                pvc.clone(),
            )
        };
        assert!(jp("{.status.phase}", Some("Bound")).is_ready());
        assert!(!jp("{.status.phase}", Some("Pending")).is_ready());
        assert!(jp("{.status.phase}", None).is_ready());
        assert!(jp("{.status.count}", Some("3")).is_ready());
        assert!(jp("{.metadata.name}", Some("x")).is_ready());
        assert!(
            jp(
                r#"{.status.conditions[?(@.type=="Ready")].status}"#,
                Some("True")
            )
            .is_ready()
        );
        assert!(!jp("{.status.missing}", None).is_ready());
        let many = jp("{.status.conditions[*].status}", Some("True"));
        assert_eq!(
            many.summary,
            "{.status.conditions[*].status} matches 2 values; it must match one"
        );
        assert!(!jp("{.status.capacity}", None).is_ready());
        assert!(parse_jsonpath("{.status.[}").is_err());
        assert!(parse_jsonpath(".status.phase").is_ok());
    }
}
