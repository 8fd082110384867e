//! The restart guard against a real kube-apiserver, the test writing pod statuses as a
//! restarted kubelet would: after a node restart the API still says the dependency is Ready,
//! and depwait must not believe it before the kubelet has reported depwait's own new run.

mod support;

use serde_json::{Value, json};
use support::{Depwait, LIMIT, TestEnv, User};

fn container(name: &str, state: Value, restarts: u32) -> Value {
    json!({"name": name, "image": "x", "imageID": "", "ready": false,
           "restartCount": restarts, "state": state})
}

/// The status of the waiting pod as the API holds it when the power comes back: depwait (its
/// init container) completed, the app running since before.
fn status_before_the_restart() -> Value {
    json!({
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "initContainerStatuses": [container(
            "depwait", json!({"terminated": {"exitCode": 0, "reason": "Completed"}}), 0)],
        "containerStatuses": [container(
            "app", json!({"running": {"startedAt": "2026-01-01T00:00:00Z"}}), 0)],
    })
}

/// Now, as the kubelet writes `startedAt`.
fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The restarted kubelet's report of this run: depwait running again (since now), the app
/// waiting.
fn status_of_this_run() -> Value {
    let mut app = container("app", json!({"waiting": {"reason": "PodInitializing"}}), 1);
    app["lastState"] = json!({"terminated": {"exitCode": 255, "reason": "Unknown"}});
    json!({
        "phase": "Pending",
        "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
        "initContainerStatuses": [container(
            "depwait", json!({"running": {"startedAt": now()}}), 1)],
        "containerStatuses": [app],
    })
}

/// The seed's failure, replayed: the dependency's Ready is from before the restart. depwait
/// holds (the log line says why) instead of releasing on it; once the kubelet has reported
/// depwait's own run it watches, sees the dependency's fresh not-Ready, and releases only when
/// the dependency is Ready again.
#[tokio::test]
async fn a_ready_from_before_a_node_restart_does_not_release() {
    let env = TestEnv::get();
    let ns = env.namespace("restart").await;
    env.create_pod(&ns, "db-0", &[("app", "db")]).await;
    env.set_pod_ready(&ns, "db-0", true).await;
    env.create_pod(&ns, "web-1", &[("app", "web")]).await;
    env.set_pod_status(&ns, "web-1", status_before_the_restart())
        .await;

    let mut depwait = Depwait::new()
        .args(["--pods", &format!("{ns}:app=db")])
        .env("POD_NAME", "web-1")
        .env("POD_NAMESPACE", &ns)
        .spawn();
    depwait
        .wait_for_log("waiting for the kubelet to report this run", LIMIT)
        .await;
    // Held before any dependency was looked at: db-0's stale Ready is not judged at all.
    assert!(
        !depwait.stderr().contains("app=db:"),
        "{}",
        depwait.stderr()
    );
    assert!(
        depwait
            .stderr()
            .contains("container app running since 2026-01-01T00:00:00Z"),
        "{}",
        depwait.stderr()
    );

    // The restarted kubelet reports db-0 as it is (its container gone), then this run.
    env.set_pod_ready(&ns, "db-0", false).await;
    env.set_pod_status(&ns, "web-1", status_of_this_run()).await;
    depwait
        .wait_for_log("the kubelet has reported this run", LIMIT)
        .await;
    depwait.wait_for_log("0/1 ready", LIMIT).await;

    env.set_pod_ready(&ns, "db-0", true).await;
    let done = depwait.expect_exit(0).await;
    let log = &done.stderr;
    let order = [
        "waiting for the kubelet to report this run",
        "the kubelet has reported this run",
        "0/1 ready",
        "all dependencies ready",
    ];
    let at: Vec<usize> = order.iter().map(|n| log.find(n).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{done:?}");
}

/// A first start (no app container has run), a pod whose status the kubelet has already
/// reported, and depwait as a pod's main container (running since now, restarted before) are
/// not held: no guard line, the release is immediate.
#[tokio::test]
async fn a_first_start_or_a_reported_run_is_not_held() {
    let env = TestEnv::get();
    let ns = env.namespace("first").await;
    env.create_pod(&ns, "db-0", &[("app", "db")]).await;
    env.set_pod_ready(&ns, "db-0", true).await;
    env.create_pod(&ns, "web-1", &[("app", "web")]).await;
    env.create_pod(&ns, "web-2", &[("app", "web")]).await;
    env.set_pod_status(&ns, "web-2", status_of_this_run()).await;
    env.create_pod(&ns, "job-1", &[("app", "job")]).await;
    let mut main = container("app", json!({"running": {"startedAt": now()}}), 1);
    main["lastState"] = json!({"terminated": {"exitCode": 1}});
    env.set_pod_status(
        &ns,
        "job-1",
        json!({"phase": "Running", "containerStatuses": [main]}),
    )
    .await;
    for pod in ["web-1", "web-2", "job-1"] {
        let done = Depwait::new()
            .args(["--pods", &format!("{ns}:app=db")])
            .env("POD_NAME", pod)
            .env("POD_NAMESPACE", &ns)
            .spawn()
            .expect_exit(0)
            .await;
        assert!(!done.stderr.contains("restart guard"), "{done:?}");
        assert!(!done.stderr.contains("kubelet"), "{done:?}");
    }
}

/// Held past `--timeout`: exit 1, and the termination message says what it waited for.
#[tokio::test]
async fn held_past_the_timeout_exits_1_saying_why() {
    let env = TestEnv::get();
    let ns = env.namespace("held").await;
    env.create_pod(&ns, "web-1", &[("app", "web")]).await;
    env.set_pod_status(&ns, "web-1", status_before_the_restart())
        .await;
    let done = Depwait::new()
        .args(["--pods", &format!("{ns}:app=db"), "--timeout", "1s"])
        .env("POD_NAME", "web-1")
        .env("POD_NAMESPACE", &ns)
        .spawn()
        .expect_exit(1)
        .await;
    let message = done.termination_log.clone().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "waiting for the kubelet to report this run of pod {ns}/web-1"
        )),
        "{done:?}"
    );
}

/// Credentials that may not read the waiting pod turn the guard off with a line saying what
/// to grant; the wait itself goes on and releases. A pod that does not exist does the same.
#[tokio::test]
async fn without_access_to_its_own_pod_the_guard_is_off_and_says_so() {
    let env = TestEnv::get();
    let ns = env.namespace("noguard").await;
    let deps = env.namespace("noguard-deps").await;
    env.create_pod(&deps, "db-0", &[("app", "db")]).await;
    env.set_pod_ready(&deps, "db-0", true).await;
    env.grant(&deps, User::Alice, &["get", "list", "watch"], &["pods"])
        .await;
    let done = Depwait::new()
        .user(User::Alice)
        .args(["--pods", &format!("{deps}:app=db")])
        .env("POD_NAME", "web-1")
        .env("POD_NAMESPACE", &ns)
        .spawn()
        .expect_exit(0)
        .await;
    assert!(
        done.stderr.contains(&format!(
            "The restart guard is off: after a node restart, pod statuses from before it may be \
             taken as current. Grant list and watch on pods in namespace {ns}"
        )),
        "{done:?}"
    );

    let done = Depwait::new()
        .args(["--pods", &format!("{deps}:app=db")])
        .env("POD_NAME", "no-such-pod")
        .env("POD_NAMESPACE", &ns)
        .spawn()
        .expect_exit(0)
        .await;
    assert!(
        done.stderr
            .contains("does not exist: the restart guard is off"),
        "{done:?}"
    );
}
