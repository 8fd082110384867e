//! Faults injected into the real control plane: depwait keeps waiting through outages, judges
//! only fresh lists afterwards, and never releases on stale state.
//!
//! These tests stop and start the servers, so they get a test binary (and control plane) of
//! their own and take turns through [`SERIAL`].

mod support;

use support::{Depwait, LIMIT, Server, TestEnv, User};
use tokio::sync::Mutex;

/// One fault at a time: a stopped server would fail the other tests' set-up.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// The API server goes away for a few seconds while depwait waits: it reports the outage,
/// keeps waiting, reconnects, and releases when the pod turns Ready after the outage.
#[tokio::test]
async fn apiserver_restart_keeps_waiting_then_releases() {
    let _turn = SERIAL.lock().await;
    let env = TestEnv::get();
    let ns = env.namespace("restart").await;
    env.create_pod(&ns, "db-0", &[("app", "db")]).await;
    let mut depwait = Depwait::new()
        .heartbeat()
        .args(["--pods", &format!("{ns}:app=db"), "--timeout", "0"])
        .spawn();
    depwait.wait_for_log("0/1 ready", LIMIT).await;

    env.stop(Server::ApiServer).await;
    depwait.wait_for_log("retrying", LIMIT).await;
    // Keeps waiting through the outage: heartbeats go on, each saying why.
    for _ in 0..3 {
        depwait
            .expect_holding(&format!("{ns} app=db: API error, retrying"))
            .await;
    }
    env.start(Server::ApiServer).await;

    env.set_pod_ready(&ns, "db-0", true).await;
    let done = depwait.expect_exit(0).await;
    assert!(done.stderr.contains("1/1 ready"), "{done:?}");
}

/// A Ready pod deleted around an outage must not keep its dependency green: after the
/// reconnect depwait judges a fresh list, sees the pod gone, and waits for a new one.
#[tokio::test]
async fn pod_deleted_around_an_outage_does_not_count() {
    let _turn = SERIAL.lock().await;
    let env = TestEnv::get();
    let ns = env.namespace("stale").await;
    env.create_pod(&ns, "a-1", &[("app", "a")]).await;
    env.set_pod_ready(&ns, "a-1", true).await;
    env.create_pod(&ns, "b-1", &[("app", "b")]).await;
    let mut depwait = Depwait::new()
        .heartbeat()
        .args([
            "--pods",
            &format!("{ns}:app=a"),
            "--pods",
            &format!("{ns}:app=b"),
        ])
        .spawn();
    depwait
        .wait_for_logs(&["app=a: 1/1 ready", "app=b: 0/1 ready"], LIMIT)
        .await;

    env.stop(Server::ApiServer).await;
    depwait.wait_for_log("retrying", LIMIT).await;
    env.start(Server::ApiServer).await;
    // The only `a` pod goes, and `b` turns Ready: released now would mean a stale store.
    env.delete_pod(&ns, "a-1").await;
    env.set_pod_ready(&ns, "b-1", true).await;
    depwait
        .wait_for_log("app=a: no matching pods yet", LIMIT)
        .await;
    // `b` is ready: only `a`, judged from a fresh list, holds the release.
    depwait
        .expect_holding(&format!(
            "1 of 2 not ready: {ns} app=a: no matching pods yet"
        ))
        .await;

    env.create_pod(&ns, "a-2", &[("app", "a")]).await;
    env.set_pod_ready(&ns, "a-2", true).await;
    depwait.expect_exit(0).await;
}

/// etcd unavailable when depwait starts: the API server's errors are retried, and the wait
/// completes once etcd is back. (kube-apiserver 1.20 holds the list for its 60 s request
/// timeout before failing it, so this test takes over a minute.)
#[tokio::test]
async fn etcd_outage_is_retried() {
    let _turn = SERIAL.lock().await;
    let env = TestEnv::get();
    let ns = env.namespace("etcd").await;
    env.create_pod(&ns, "db-0", &[("app", "db")]).await;

    env.stop(Server::Etcd).await;
    let mut depwait = Depwait::new()
        .heartbeat()
        .args(["--pods", &format!("{ns}:app=db"), "--timeout", "0"])
        .spawn();
    depwait.wait_for_log("retrying", LIMIT).await;
    depwait
        .expect_holding(&format!("{ns} app=db: API error, retrying"))
        .await;
    env.start(Server::Etcd).await;

    env.set_pod_ready(&ns, "db-0", true).await;
    depwait.expect_exit(0).await;
}

/// A Role revoked mid-wait: an open watch is not re-authorised, but the next reconnect is,
/// and its 403 ends the wait with exit 3 instead of an endless retry loop.
#[tokio::test]
async fn revoked_access_exits_3_on_reconnect() {
    let _turn = SERIAL.lock().await;
    let env = TestEnv::get();
    let ns = env.namespace("revoke").await;
    let verbs = ["get", "list", "watch"];
    env.grant(&ns, User::Alice, &verbs, &["pods"]).await;
    let mut depwait = Depwait::new()
        .user(User::Alice)
        .args(["--pods", &format!("{ns}:app=db"), "--timeout", "0"])
        .spawn();
    depwait.wait_for_log("no matching pods yet", LIMIT).await;

    env.revoke(&ns, User::Alice, &verbs).await;
    env.stop(Server::ApiServer).await;
    env.start(Server::ApiServer).await;
    let done = depwait.expect_exit(3).await;
    assert!(
        done.termination_log
            .as_deref()
            .unwrap_or_default()
            .contains(&format!("pods in namespace \"{ns}\"")),
        "{done:?}"
    );
}
