//! Beyond pods, against the real API server: `--job` (complete; failed → exit 4),
//! `--rollout` (Deployment, StatefulSet with partition, statuses set as the controllers would),
//! `--resource` on a CRD installed during the wait (discovery, condition with
//! observedGeneration), JSONPath, create and delete; `--tcp` against a loopback listener.

mod support;

use serde_json::json;
use support::{
    CONFIG_MAP, DAEMON_SET, DEPLOYMENT, Depwait, JOB, Kind, LIMIT, PVC, STATEFUL_SET, TestEnv,
    pod_template, workload_template,
};

fn job_object(name: &str) -> serde_json::Value {
    json!({"metadata": {"name": name}, "spec": {"backoffLimit": 0, "template": pod_template(name)}})
}

/// A Job that does not exist yet is waited for; `Complete=True` releases.
#[tokio::test]
async fn job_complete_releases() {
    let env = TestEnv::get();
    let ns = env.namespace("job").await;
    let mut depwait = Depwait::new()
        .heartbeat()
        .args(["--job", &format!("{ns}/migrate")])
        .spawn();
    depwait
        .wait_for_log(&format!("job {ns}/migrate: does not exist yet"), LIMIT)
        .await;

    env.create(Some(&ns), JOB, job_object("migrate")).await;
    env.set_status(Some(&ns), JOB, "migrate", json!({"active": 1}))
        .await;
    depwait
        .wait_for_log("not complete: 1 active, 0 succeeded, 0 failed", LIMIT)
        .await;
    depwait
        .expect_holding(&format!(
            "job {ns}/migrate: not complete: 1 active, 0 succeeded, 0 failed"
        ))
        .await;

    env.set_status(
        Some(&ns),
        JOB,
        "migrate",
        json!({"active": 0, "succeeded": 1, "completionTime": "2026-01-01T00:00:00Z",
               "conditions": [{"type": "Complete", "status": "True"}]}),
    )
    .await;
    let done = depwait.expect_exit(0).await;
    assert!(done.stderr.contains("complete (1 succeeded)"), "{done:?}");
}

/// A failed Job ends the wait at once with exit 4 and its reason, even while other
/// dependencies are still not ready: waiting cannot help.
#[tokio::test]
async fn job_failed_exits_4_at_once_with_the_reason() {
    let env = TestEnv::get();
    let ns = env.namespace("jobfail").await;
    env.create(Some(&ns), JOB, job_object("migrate")).await;
    let mut depwait = Depwait::new()
        .args([
            "--job",
            &format!("{ns}/migrate"),
            "--pods",
            &format!("{ns}:app=web"),
        ])
        .spawn();
    depwait.wait_for_log("not complete: 0 active", LIMIT).await;
    env.set_status(
        Some(&ns),
        JOB,
        "migrate",
        json!({"failed": 1, "conditions": [{"type": "Failed", "status": "True",
               "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}),
    )
    .await;
    let done = depwait.expect_exit(4).await;
    let summary = done.termination_log.as_deref().unwrap_or_default();
    assert!(
        summary.contains(&format!("job {ns}/migrate failed: BackoffLimitExceeded: Job has reached the specified backoff limit")),
        "{done:?}"
    );
    assert!(summary.contains("waiting cannot help"), "{done:?}");
}

/// `--rollout` of a Deployment and of a partitioned StatefulSet, judged as
/// `kubectl rollout status` judges them, from statuses written as their controllers would.
#[tokio::test]
async fn rollouts_of_deployments_and_partitioned_stateful_sets() {
    let env = TestEnv::get();
    let ns = env.namespace("rollout").await;
    let api_template = workload_template("api");
    env.create(
        Some(&ns),
        DEPLOYMENT,
        json!({"metadata": {"name": "api"}, "spec": {"replicas": 2,
            "selector": {"matchLabels": {"app": "api"}}, "template": api_template}}),
    )
    .await;
    let template = workload_template("zk");
    env.create(
        Some(&ns),
        STATEFUL_SET,
        json!({"metadata": {"name": "zk"}, "spec": {"replicas": 3, "serviceName": "zk",
            "selector": {"matchLabels": {"app": "zk"}}, "template": template,
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}}}),
    )
    .await;
    let mut depwait = Depwait::new()
        .heartbeat()
        .args([
            "--rollout",
            &format!("{ns}/deploy/api"),
            "--rollout",
            &format!("{ns}/statefulset/zk"),
        ])
        .spawn();
    // No controller has looked at either yet.
    depwait
        .wait_for_log("waiting for the spec update to be observed", LIMIT)
        .await;

    env.set_status(
        Some(&ns),
        DEPLOYMENT,
        "api",
        json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1, "readyReplicas": 1}),
    )
    .await;
    depwait
        .wait_for_log("1 of 2 updated replicas are available", LIMIT)
        .await;
    env.set_status(
        Some(&ns),
        STATEFUL_SET,
        "zk",
        json!({"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 0,
               "currentRevision": "zk-1", "updateRevision": "zk-2"}),
    )
    .await;
    depwait
        .wait_for_log(
            "partitioned roll out: 0 of 1 new pods have been updated",
            LIMIT,
        )
        .await;
    env.set_status(
        Some(&ns),
        DEPLOYMENT,
        "api",
        json!({"availableReplicas": 2, "readyReplicas": 2}),
    )
    .await;
    // The Deployment is rolled out; the StatefulSet holds the release.
    depwait
        .expect_holding(&format!(
            "1 of 2 not ready: rollout {ns}/statefulset/zk: partitioned roll out: 0 of 1 new pods have been updated"
        ))
        .await;

    // Only the pods at or above the partition (zk-2) must be updated.
    env.set_status(Some(&ns), STATEFUL_SET, "zk", json!({"updatedReplicas": 1}))
        .await;
    let done = depwait.expect_exit(0).await;
    assert!(
        done.stderr.contains("partitioned roll out complete"),
        "{done:?}"
    );
}

/// A custom resource whose CRD is installed only during the wait: depwait keeps waiting (and
/// says why), finds the type by discovery once it is served, and releases when the object's
/// Ready condition is True for its current generation — not for an older one.
#[tokio::test]
async fn crd_installed_during_the_wait_then_condition_true() {
    let env = TestEnv::get();
    let ns = env.namespace("crd").await;
    let group = format!("{ns}.example.com");
    let widgets = format!("widgets.{group}");
    let mut depwait = Depwait::new()
        .heartbeat()
        .args([
            "--resource",
            &format!("{ns}/{widgets}/w1"),
            // The CRD itself, cluster-scoped, by its short name.
            "--resource",
            &format!("crd/{widgets}:condition=Established"),
        ])
        .spawn();
    depwait
        .wait_for_log(
            &format!("the API server does not serve `{widgets}` (yet)"),
            LIMIT,
        )
        .await;
    depwait
        .expect_holding(&format!(
            "{ns}/{widgets}/w1 (condition=Ready=True): the API server does not serve `{widgets}` (yet)"
        ))
        .await;

    env.install_crd(&group, "Widget", "widgets").await;
    depwait
        .wait_for_log(
            &format!("{ns}/{widgets}/w1 (condition=Ready=True): does not exist yet"),
            LIMIT,
        )
        .await;
    let widget = Kind {
        api_version: Box::leak(format!("{group}/v1").into_boxed_str()),
        kind: "Widget",
        plural: "widgets",
    };
    env.create(
        Some(&ns),
        widget,
        json!({"metadata": {"name": "w1"}, "spec": {"size": 1}}),
    )
    .await;
    // A spec change makes the generation 2: a Ready=True that observed generation 1 is stale.
    env.merge_patch(Some(&ns), widget, "w1", json!({"spec": {"size": 2}}))
        .await;
    depwait.wait_for_log("no Ready condition yet", LIMIT).await;
    env.set_status(
        Some(&ns),
        widget,
        "w1",
        json!({"conditions": [{"type": "Ready", "status": "True", "observedGeneration": 1}]}),
    )
    .await;
    depwait
        .wait_for_log("Ready=True is for generation 1; the object is at 2", LIMIT)
        .await;
    depwait
        .expect_holding(&format!(
            "{ns}/{widgets}/w1 (condition=Ready=True): Ready=True is for generation 1; the object is at 2"
        ))
        .await;

    env.set_status(
        Some(&ns),
        widget,
        "w1",
        json!({"conditions": [{"type": "Ready", "status": "True", "observedGeneration": 2}]}),
    )
    .await;
    depwait.expect_exit(0).await;
}

/// `jsonpath=EXPR=VALUE` on a core object's status.
#[tokio::test]
async fn jsonpath_value_releases() {
    let env = TestEnv::get();
    let ns = env.namespace("jsonpath").await;
    env.create(
        Some(&ns),
        PVC,
        json!({"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}}}}),
    )
    .await;
    env.set_status(Some(&ns), PVC, "data", json!({"phase": "Pending"}))
        .await;
    let mut depwait = Depwait::new()
        .heartbeat()
        .args([
            "--resource",
            &format!("{ns}/pvc/data:jsonpath={{.status.phase}}=Bound"),
        ])
        .spawn();
    depwait
        .wait_for_log("{.status.phase}=Pending, waiting for Bound", LIMIT)
        .await;
    depwait
        .expect_holding("{.status.phase}=Pending, waiting for Bound")
        .await;
    env.set_status(Some(&ns), PVC, "data", json!({"phase": "Bound"}))
        .await;
    depwait.expect_exit(0).await;
}

/// `create` waits for an object to exist, `delete` for it to be gone.
#[tokio::test]
async fn create_and_delete() {
    let env = TestEnv::get();
    let ns = env.namespace("crdel").await;
    env.create(Some(&ns), CONFIG_MAP, json!({"metadata": {"name": "old"}}))
        .await;
    let mut depwait = Depwait::new()
        .heartbeat()
        .args([
            "--resource",
            &format!("{ns}/configmaps/new:create"),
            "--resource",
            &format!("{ns}/cm/old:delete"),
        ])
        .spawn();
    depwait
        .wait_for_logs(
            &[
                &format!("{ns}/configmaps/new (create): does not exist yet"),
                "old (delete): still exists",
            ],
            LIMIT,
        )
        .await;
    env.create(Some(&ns), CONFIG_MAP, json!({"metadata": {"name": "new"}}))
        .await;
    depwait
        .wait_for_log(&format!("{ns}/configmaps/new (create): exists"), LIMIT)
        .await;
    depwait
        .expect_holding(&format!(
            "1 of 2 not ready: {ns}/configmaps/old (delete): still exists"
        ))
        .await;
    env.delete(Some(&ns), CONFIG_MAP, "old").await;
    depwait.expect_exit(0).await;
}

/// `--tcp`: refused while nothing listens, released once a listener is up. Needs no
/// Kubernetes credentials.
#[tokio::test]
async fn tcp_port_releases_when_it_accepts() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut depwait = Depwait::new()
        .heartbeat()
        .kubeconfig("/nonexistent/kubeconfig".into())
        .args(["--tcp", &format!("127.0.0.1:{port}")])
        .spawn();
    depwait
        .wait_for_log(&format!("127.0.0.1:{port}: connection refused"), LIMIT)
        .await;
    depwait
        .expect_holding(&format!(
            "1 of 1 not ready: tcp 127.0.0.1:{port}: 127.0.0.1:{port}: connection refused"
        ))
        .await;
    let _listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let done = depwait.expect_exit(0).await;
    assert!(
        done.stderr
            .contains(&format!("connected to 127.0.0.1:{port}")),
        "{done:?}"
    );
}

/// A tiny HTTP server on loopback: answers every request with the status in `status`.
async fn http_server(status: std::sync::Arc<std::sync::atomic::AtomicU16>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let code = status.load(std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let response =
                    format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    port
}

/// `--http`: a 503 keeps it waiting, a 200 releases; `#STATUSES` changes what counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_status_releases() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU16, Ordering};
    let status = Arc::new(AtomicU16::new(503));
    let port = http_server(status.clone()).await;
    let url = format!("http://127.0.0.1:{port}/healthz");
    let mut depwait = Depwait::new()
        .heartbeat()
        .kubeconfig("/nonexistent/kubeconfig".into())
        .args(["--http", &url, "--http", &format!("{url}#503")])
        .spawn();
    depwait
        .wait_for_log(
            &format!("http {url}: HTTP 503 Service Unavailable, waiting for 2xx"),
            LIMIT,
        )
        .await;
    depwait
        .expect_holding(&format!(
            "1 of 2 not ready: http {url}: HTTP 503 Service Unavailable, waiting for 2xx"
        ))
        .await;
    // The two probes see a change of the server's answer at moments of their own: a 503
    // going straight to 200 would leave a moment where one has seen the 200 and the other
    // still its 503, both ready. A 404 between them is neither's: no moment has both ready.
    status.store(404, Ordering::SeqCst);
    depwait
        .expect_holding(&format!(
            "2 of 2 not ready: http {url}: HTTP 404 Not Found, waiting for 2xx | http {url} (503): HTTP 404 Not Found, waiting for 503"
        ))
        .await;
    status.store(200, Ordering::SeqCst);
    // Now the second URL (503 only) is not ready: never both at once until it flips back.
    depwait
        .wait_for_log(
            &format!("http {url} (503): HTTP 200 OK, waiting for 503"),
            LIMIT,
        )
        .await;
    depwait
        .expect_holding(&format!(
            "1 of 2 not ready: http {url} (503): HTTP 200 OK, waiting for 503"
        ))
        .await;
    drop(depwait);

    let done = Depwait::new()
        .kubeconfig("/nonexistent/kubeconfig".into())
        .args(["--http", &url])
        .run(LIMIT)
        .await;
    assert_eq!(done.code, Some(0), "{done:?}");
}

/// `--http https://...`: the server's certificate is checked; trusted through SSL_CERT_FILE
/// (here the test API server's own `/healthz`, which anyone may read).
#[tokio::test]
async fn https_verifies_the_server_certificate() {
    let env = TestEnv::get();
    let url = format!("{}/healthz", env.server);
    let mut untrusted = Depwait::new().heartbeat().args(["--http", &url]).spawn();
    untrusted
        .wait_for_log("TLS: the server's certificate is not signed", LIMIT)
        .await;
    untrusted
        .expect_holding("TLS: the server's certificate is not signed")
        .await;
    drop(untrusted);

    let done = Depwait::new()
        .env("SSL_CERT_FILE", env.ca_file().to_str().unwrap())
        .args(["--http", &url])
        .run(LIMIT)
        .await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert!(done.stderr.contains("HTTP 200 OK"), "{done:?}");
}

/// `--config FILE` lists the same dependencies as the flags; they combine with flags, and a
/// mistake in the file is exit 2 naming field, item and line before any request.
#[tokio::test]
async fn config_file_dependencies_combine_with_flags() {
    let env = TestEnv::get();
    let ns = env.namespace("config").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deps.yaml");
    std::fs::write(
        &file,
        format!("# what the web tier needs\njobs:\n  - {ns}/migrate\nresources:\n  - '{ns}/cm/settings:create'\n"),
    )
    .unwrap();
    let mut depwait = Depwait::new()
        .heartbeat()
        .args(["--config", file.to_str().unwrap()])
        .args(["--pods", &format!("{ns}:app=web")])
        .spawn();
    depwait
        .wait_for_log(&format!("job {ns}/migrate: does not exist yet"), LIMIT)
        .await;
    env.create(Some(&ns), JOB, job_object("migrate")).await;
    env.set_status(
        Some(&ns),
        JOB,
        "migrate",
        json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
    )
    .await;
    env.create(
        Some(&ns),
        CONFIG_MAP,
        json!({"metadata": {"name": "settings"}}),
    )
    .await;
    // The flag's dependency still holds the release.
    depwait
        .expect_holding(&format!(
            "1 of 3 not ready: {ns} app=web: no matching pods yet"
        ))
        .await;
    env.create_pod(&ns, "web-0", &[("app", "web")]).await;
    env.set_pod_ready(&ns, "web-0", true).await;
    depwait.expect_exit(0).await;

    std::fs::write(&file, "jobs:\n  - db/migrate\n  - db/Migrate\n").unwrap();
    let done = Depwait::new()
        .args(["--config", file.to_str().unwrap()])
        .run(LIMIT)
        .await;
    assert_eq!(done.code, Some(2), "{done:?}");
    assert!(
        done.stderr
            .contains("jobs: [1] `db/Migrate`: `Migrate` is not an object name"),
        "{done:?}"
    );
    assert!(done.stderr.contains("line 2"), "{done:?}");
}

/// `depwait check` judges objects once, like a wait would: a failed Job is a FAILED row and
/// exit 4, a rollout in progress a NOT READY row with kubectl's words.
#[tokio::test]
async fn check_shows_failed_jobs_and_rollouts() {
    let env = TestEnv::get();
    let ns = env.namespace("objcheck").await;
    env.create(Some(&ns), JOB, job_object("migrate")).await;
    env.set_status(
        Some(&ns),
        JOB,
        "migrate",
        json!({"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]}),
    )
    .await;
    let template = workload_template("api");
    env.create(
        Some(&ns),
        DEPLOYMENT,
        json!({"metadata": {"name": "api"}, "spec": {"replicas": 3,
            "selector": {"matchLabels": {"app": "api"}}, "template": template}}),
    )
    .await;
    env.set_status(
        Some(&ns),
        DEPLOYMENT,
        "api",
        json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 2}),
    )
    .await;
    let done = Depwait::new()
        .args([
            "check".to_string(),
            "--job".into(),
            format!("{ns}/migrate"),
            "--rollout".into(),
            format!("{ns}/deployment/api"),
        ])
        .run(LIMIT)
        .await;
    assert_eq!(done.code, Some(4), "{done:?}");
    let row = |needle: &str| {
        done.stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no row for {needle}: {done:?}"))
            .to_string()
    };
    let job = row(&format!("job {ns}/migrate"));
    assert!(
        job.contains("FAILED") && job.contains("failed: DeadlineExceeded"),
        "{done:?}"
    );
    let rollout = row(&format!("rollout {ns}/deployment/api"));
    assert!(
        rollout.contains("NOT READY") && rollout.contains("2 of 3 new replicas have been updated"),
        "{done:?}"
    );
}

/// `--rollout NS/ds/NAME`: every scheduled node updated, then every one available.
#[tokio::test]
async fn daemon_set_rollout_needs_every_node_updated_and_available() {
    let env = TestEnv::get();
    let ns = env.namespace("dsroll").await;
    let template = workload_template("agent");
    env.create(
        Some(&ns),
        DAEMON_SET,
        json!({"metadata": {"name": "agent"}, "spec": {
            "selector": {"matchLabels": {"app": "agent"}}, "template": template}}),
    )
    .await;
    let mut depwait = Depwait::new()
        .heartbeat()
        .args(["--rollout", &format!("{ns}/ds/agent")])
        .spawn();
    depwait
        .wait_for_log("waiting for the spec update to be observed", LIMIT)
        .await;
    env.set_status(
        Some(&ns),
        DAEMON_SET,
        "agent",
        json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "currentNumberScheduled": 3,
               "numberMisscheduled": 0, "numberReady": 3, "updatedNumberScheduled": 2,
               "numberAvailable": 3}),
    )
    .await;
    depwait
        .wait_for_log("2 of 3 new pods have been updated", LIMIT)
        .await;
    env.set_status(
        Some(&ns),
        DAEMON_SET,
        "agent",
        json!({"updatedNumberScheduled": 3, "numberAvailable": 2, "numberReady": 2}),
    )
    .await;
    depwait
        .wait_for_log("2 of 3 updated pods are available", LIMIT)
        .await;
    depwait
        .expect_holding("2 of 3 updated pods are available")
        .await;
    env.set_status(
        Some(&ns),
        DAEMON_SET,
        "agent",
        json!({"numberAvailable": 3, "numberReady": 3}),
    )
    .await;
    let done = depwait.expect_exit(0).await;
    assert!(
        done.stderr
            .contains(&format!("rollout {ns}/daemonset/agent")),
        "{done:?}"
    );
}
