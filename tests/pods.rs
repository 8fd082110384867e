//! depwait against a real kube-apiserver: the pod waiter's behaviour and its exit-code contract.

mod support;

use support::{Depwait, LIMIT, TestEnv, User};

/// The seed's two-namespace example, via its own environment variables: depwait waits while
/// any pod is not Ready, and releases once the last one turns Ready.
#[tokio::test]
async fn seed_env_releases_after_the_last_pod_is_ready() {
    let env = TestEnv::get();
    let ns1 = env.namespace("seed-a").await;
    let ns2 = env.namespace("seed-b").await;
    for (ns, name) in [(&ns1, "web-1"), (&ns1, "web-2"), (&ns2, "api-1")] {
        env.create_pod(ns, name, &[("app", "MyApp"), ("environment", "dev")])
            .await;
    }
    let dict = format!(
        r#"{{"{ns1}": [{{"app": "MyApp", "environment": "dev"}}], "{ns2}": [{{"app": "MyApp"}}]}}"#
    );
    let mut depwait = Depwait::new()
        .heartbeat()
        .env("NAMESPACE_LABEL_DICT", &dict)
        .env("TIMEOUT", "300")
        .env("RETRY_INTERVAL", "15")
        .spawn();
    depwait.wait_for_log("0/2 ready", LIMIT).await;

    env.set_pod_ready(&ns1, "web-1", true).await;
    env.set_pod_ready(&ns2, "api-1", true).await;
    depwait.wait_for_log("1/2 ready", LIMIT).await;
    // ns2's dependency is ready; ns1's is not.
    depwait
        .expect_holding(&format!(
            "1 of 2 not ready: {ns1} app=MyApp,environment=dev: 1/2 ready"
        ))
        .await;

    env.set_pod_ready(&ns1, "web-2", true).await;
    let done = depwait.expect_exit(0).await;
    assert!(done.stderr.contains("all dependencies ready"), "{done:?}");
    assert!(done.termination_log.is_none(), "{done:?}");
}

/// A namespace that does not exist yet means "keep waiting", not an error.
#[tokio::test]
async fn namespace_created_after_start() {
    let env = TestEnv::get();
    let ns = env.unique_name("later");
    let mut depwait = Depwait::new()
        .heartbeat()
        .args(["--pods", &format!("{ns}:app=db")])
        .spawn();
    depwait.wait_for_log("no matching pods yet", LIMIT).await;
    depwait
        .expect_holding(&format!("{ns} app=db: no matching pods yet"))
        .await;
    env.create_namespace(&ns).await;
    env.create_pod(&ns, "db-0", &[("app", "db")]).await;
    depwait.wait_for_log("0/1 ready", LIMIT).await;
    env.set_pod_ready(&ns, "db-0", true).await;
    depwait.expect_exit(0).await;
}

/// The timeout gives exit 1 and a termination message saying what was not ready and why.
#[tokio::test]
async fn timeout_exits_1_with_a_termination_message() {
    let env = TestEnv::get();
    let ns = env.namespace("timeout").await;
    env.create_pod(&ns, "web-7f9c", &[("app", "web")]).await;
    env.set_pod_status(
        &ns,
        "web-7f9c",
        serde_json::json!({
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
            "containerStatuses": [{
                "name": "app", "ready": false, "restartCount": 4, "image": "x", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}}
            }]
        }),
    )
    .await;
    let done = Depwait::new()
        .args(["--pods", &format!("{ns}:app=web"), "--timeout", "2s"])
        .spawn()
        .expect_exit(1)
        .await;
    let message = done.termination_log.clone().unwrap_or_default();
    assert!(message.contains("timed out after"), "{done:?}");
    assert!(
        message.contains(&format!(
            "{ns} app=web: 0/1 ready; web-7f9c: container app CrashLoopBackOff (restarts: 4)"
        )),
        "{done:?}"
    );
}

/// Two dependencies that take turns being Ready are never Ready together: no release, until
/// both finally are.
#[tokio::test]
async fn flapping_dependencies_never_release_until_ready_together() {
    let env = TestEnv::get();
    let ns = env.namespace("flap").await;
    env.create_pod(&ns, "a", &[("app", "a")]).await;
    env.create_pod(&ns, "b", &[("app", "b")]).await;
    let mut depwait = Depwait::new()
        .heartbeat()
        .args([
            "--pods",
            &format!("{ns}:app=a"),
            "--pods",
            &format!("{ns}:app=b"),
        ])
        .spawn();
    depwait.wait_for_log("0/1 ready", LIMIT).await;
    for _ in 0..3 {
        env.set_pod_ready(&ns, "a", true).await;
        env.set_pod_ready(&ns, "a", false).await;
        env.set_pod_ready(&ns, "b", true).await;
        env.set_pod_ready(&ns, "b", false).await;
    }
    // A state neither pod had while flapping: a heartbeat that shows both in it comes from a
    // wait that has judged every flap.
    let settled = serde_json::json!({
        "phase": "Running",
        "containerStatuses": [{
            "name": "app", "ready": false, "restartCount": 1, "image": "x", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}
        }]
    });
    env.set_pod_status(&ns, "a", settled.clone()).await;
    env.set_pod_status(&ns, "b", settled).await;
    let crash_loop = "container app CrashLoopBackOff (restarts: 1)";
    depwait
        .expect_holding(&format!(
            "2 of 2 not ready: {ns} app=a: 0/1 ready; a: {crash_loop} | {ns} app=b: 0/1 ready; b: {crash_loop}"
        ))
        .await;
    env.set_pod_ready(&ns, "a", true).await;
    depwait
        .expect_holding(&format!(
            "1 of 2 not ready: {ns} app=b: 0/1 ready; b: {crash_loop}"
        ))
        .await;
    env.set_pod_ready(&ns, "b", true).await;
    depwait.expect_exit(0).await;
}

/// Evicted and terminating pods do not count: they neither satisfy nor block a dependency.
#[tokio::test]
async fn evicted_and_terminating_pods_are_ignored() {
    let env = TestEnv::get();
    let ns = env.namespace("ignored").await;
    // Only a terminating (but Ready-looking) pod: not enough.
    env.create_terminating_pod(&ns, "old", &[("app", "web")])
        .await;
    env.create_pod(&ns, "evicted", &[("app", "web")]).await;
    env.set_pod_status(
        &ns,
        "evicted",
        serde_json::json!({"phase": "Failed", "reason": "Evicted", "message": "low on memory"}),
    )
    .await;
    let mut depwait = Depwait::new()
        .heartbeat()
        .args(["--pods", &format!("{ns}:app=web")])
        .spawn();
    depwait
        .wait_for_log(
            "no matching pods yet (2 terminating or finished, not counted)",
            LIMIT,
        )
        .await;
    depwait
        .expect_holding(&format!(
            "{ns} app=web: no matching pods yet (2 terminating or finished, not counted)"
        ))
        .await;
    // A new Ready pod is enough: the evicted one does not hold the dependency back.
    env.create_pod(&ns, "new", &[("app", "web")]).await;
    env.set_pod_ready(&ns, "new", true).await;
    depwait.expect_exit(0).await;
    env.release_terminating_pod(&ns, "old").await;
}

/// With MIN, a quorum is enough even while another pod crash-loops.
#[tokio::test]
async fn quorum_releases_at_min_ready() {
    let env = TestEnv::get();
    let ns = env.namespace("quorum").await;
    for name in ["zk-0", "zk-1", "zk-2"] {
        env.create_pod(&ns, name, &[("app", "zk")]).await;
    }
    let mut depwait = Depwait::new()
        .heartbeat()
        .args(["--pods", &format!("{ns}:app=zk:2")])
        .spawn();
    depwait.wait_for_log("0/3 ready, need 2", LIMIT).await;
    env.set_pod_ready(&ns, "zk-0", true).await;
    depwait.wait_for_log("1/3 ready, need 2", LIMIT).await;
    depwait
        .expect_holding(&format!("{ns} app=zk (min 2): 1/3 ready, need 2"))
        .await;
    env.set_pod_ready(&ns, "zk-2", true).await;
    depwait.expect_exit(0).await;
}

/// Set-based selectors are sent to the server as written: `in`, `notin`, `!key`.
#[tokio::test]
async fn set_based_selectors_select_on_the_server() {
    let env = TestEnv::get();
    let ns = env.namespace("sets").await;
    env.create_pod(&ns, "web", &[("tier", "web")]).await;
    env.create_pod(&ns, "api", &[("tier", "api")]).await;
    env.create_pod(&ns, "canary", &[("tier", "web"), ("canary", "true")])
        .await;
    env.create_pod(&ns, "batch", &[("tier", "batch")]).await;
    let mut depwait = Depwait::new()
        .args([
            "--pods",
            &format!("{ns}:tier in (web,api),!canary"),
            "--pods",
            &format!("{ns}:tier notin (web,api)"),
        ])
        .spawn();
    depwait
        .wait_for_logs(&["0/2 ready", "0/1 ready"], LIMIT)
        .await;
    // The canary is excluded by `!canary`: it never needs to be Ready.
    for name in ["web", "api", "batch"] {
        env.set_pod_ready(&ns, name, true).await;
    }
    depwait.expect_exit(0).await;
}

/// A user who may list but not watch gets exit 3 at once, naming the verb, resource, namespace
/// and the rule to add; nothing is retried.
#[tokio::test]
async fn missing_watch_permission_exits_3() {
    let env = TestEnv::get();
    let ns = env.namespace("rbac").await;
    env.grant(&ns, User::Alice, &["get", "list"], &["pods"])
        .await;
    let done = Depwait::new()
        .user(User::Alice)
        .args(["--pods", &format!("{ns}:app=web")])
        .spawn()
        .expect_exit(3)
        .await;
    let message = done.termination_log.clone().unwrap_or_default();
    assert!(
        message.contains(&format!("cannot watch pods in namespace \"{ns}\"")),
        "{done:?}"
    );
    assert!(
        message.contains("verbs: [\"get\", \"list\", \"watch\"]"),
        "{done:?}"
    );
}

/// No permission at all: the list is denied, exit 3.
#[tokio::test]
async fn no_permission_exits_3() {
    let env = TestEnv::get();
    let ns = env.namespace("norbac").await;
    let done = Depwait::new()
        .user(User::Bob)
        .args(["--pods", &format!("{ns}:app=web")])
        .spawn()
        .expect_exit(3)
        .await;
    assert!(done.stderr.contains("cannot list pods"), "{done:?}");
}

/// With the permissions the README lists, an unprivileged user waits and releases normally.
#[tokio::test]
async fn documented_rbac_is_enough() {
    let env = TestEnv::get();
    let ns = env.namespace("rbac-ok").await;
    env.grant(&ns, User::Alice, &["get", "list", "watch"], &["pods"])
        .await;
    env.create_pod(&ns, "web", &[("app", "web")]).await;
    env.set_pod_ready(&ns, "web", true).await;
    Depwait::new()
        .user(User::Alice)
        .args(["--pods", &format!("{ns}:app=web")])
        .spawn()
        .expect_exit(0)
        .await;
}

/// SIGTERM while waiting: a prompt non-zero exit (143) with the termination message written.
#[tokio::test]
async fn sigterm_ends_the_wait_with_a_summary() {
    let env = TestEnv::get();
    let ns = env.namespace("sigterm").await;
    let mut depwait = Depwait::new()
        .args(["--pods", &format!("{ns}:app=web")])
        .spawn();
    depwait.wait_for_log("no matching pods yet", LIMIT).await;
    depwait.signal("TERM");
    let done = depwait.expect_exit(143).await;
    let message = done.termination_log.clone().unwrap_or_default();
    assert!(message.contains("terminated by SIGTERM"), "{done:?}");
    assert!(message.contains("no matching pods yet"), "{done:?}");
}

/// `--output json` (= `--log-format json`): one JSON object per line, with the field names the
/// README documents for each `event` kind. Tooling parses these; they must not drift.
#[tokio::test]
async fn json_logs_keep_their_documented_schema() {
    let env = TestEnv::get();
    let ns = env.namespace("json").await;
    env.create_pod(&ns, "web", &[("app", "web")]).await;
    let mut depwait = Depwait::new()
        .args(["--pods", &format!("{ns}:app=web"), "--output", "json"])
        .args(["--heartbeat", "1s"])
        .spawn();
    depwait.wait_for_log("\"heartbeat\"", LIMIT).await;
    env.set_pod_ready(&ns, "web", true).await;
    let done = depwait.expect_exit(0).await;
    let lines: Vec<serde_json::Value> = done
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        lines.iter().filter(|l| l["event"] == kind).collect()
    };
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let common = ["event", "level", "message", "timestamp"];
    let with = |extra: &[&str]| {
        let mut k: Vec<String> = common.iter().chain(extra).map(|s| s.to_string()).collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(of("start")[0]),
        with(&["dependencies", "timeout"]),
        "{done:?}"
    );
    let change = of("change");
    assert_eq!(
        keys(change[0]),
        with(&[
            "counted_objects",
            "dependency",
            "ready",
            "ready_objects",
            "summary"
        ]),
        "{done:?}"
    );
    let last = change.last().unwrap();
    assert_eq!(last["dependency"], format!("{ns} app=web"));
    assert_eq!(
        (last["ready"].clone(), last["ready_objects"].clone()),
        (true.into(), 1.into())
    );
    assert_eq!(
        keys(of("heartbeat")[0]),
        with(&["not_ready", "remaining_seconds"]),
        "{done:?}"
    );
    let summary = of("summary");
    assert_eq!(
        keys(summary[0]),
        with(&["elapsed_ms", "exit_code", "not_ready", "outcome"]),
        "{done:?}"
    );
    assert_eq!(summary[0]["outcome"], "ready");
    assert_eq!(summary[0]["exit_code"], 0);
    assert_eq!(
        lines.len(),
        1 + change.len() + of("heartbeat").len() + 1,
        "{done:?}"
    );
}

/// Even at trace level, the bearer token and the kubeconfig's contents never reach the log.
#[tokio::test]
async fn secrets_stay_out_of_trace_logs() {
    let env = TestEnv::get();
    let ns = env.namespace("secrets").await;
    env.create_pod(&ns, "web", &[("app", "web")]).await;
    env.set_pod_ready(&ns, "web", true).await;
    let done = Depwait::new()
        .env("DEPWAIT_LOG", "trace")
        .args(["--pods", &format!("{ns}:app=web")])
        .spawn()
        .expect_exit(0)
        .await;
    // Trace level really was on: the HTTP client's own trace lines are there.
    assert!(done.stderr.contains("TRACE"), "{done:?}");
    let kubeconfig = std::fs::read_to_string(env.kubeconfig(User::Admin)).unwrap();
    let ca: serde_json::Value = serde_json::from_str(&kubeconfig).unwrap();
    let ca = ca["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .unwrap();
    for secret in ["admin-token", "Bearer", &ca[..40]] {
        assert!(!done.stderr.contains(secret), "log leaks {secret:?}");
    }
}

/// SIGINT (Ctrl-C) ends the wait with 130 and the summary.
#[tokio::test]
async fn sigint_exits_130() {
    let env = TestEnv::get();
    let ns = env.namespace("sigint").await;
    let mut depwait = Depwait::new()
        .args(["--pods", &format!("{ns}:app=web")])
        .spawn();
    depwait.wait_for_log("no matching pods yet", LIMIT).await;
    depwait.signal("INT");
    let done = depwait.expect_exit(130).await;
    assert!(
        done.termination_log
            .unwrap_or_default()
            .contains("interrupted by SIGINT"),
    );
}

/// A long wait shows it is alive: a periodic line with what is missing and the time left;
/// `--heartbeat 0` turns it off.
#[tokio::test]
async fn heartbeat_says_what_is_missing() {
    let env = TestEnv::get();
    let ns = env.namespace("heartbeat").await;
    env.create_pod(&ns, "web", &[("app", "web")]).await;
    let mut depwait = Depwait::new()
        .args(["--pods", &format!("{ns}:app=web")])
        .args(["--heartbeat", "1s"])
        .spawn();
    // Periodic: a second one after the first (each wait reads on from the last).
    let beat = format!("s left); 1 of 1 not ready: {ns} app=web: 0/1 ready; web: Pending");
    for _ in 0..2 {
        depwait.wait_for_log(&beat, LIMIT).await;
    }
    depwait.signal("TERM");
    depwait.expect_exit(143).await;

    let quiet = Depwait::new()
        .args(["--pods", &format!("{ns}:app=web"), "--timeout", "1s"])
        .args(["--heartbeat", "0"])
        .spawn()
        .expect_exit(1)
        .await;
    assert!(!quiet.stderr.contains("still waiting"), "{quiet:?}");
}

/// `depwait check`: one look, a table with state, counts and each unready pod's reason;
/// exit 1 while anything is not ready, 0 once all are.
#[tokio::test]
async fn check_prints_a_table_of_what_blocks() {
    let env = TestEnv::get();
    let ns = env.namespace("check").await;
    let absent = env.unique_name("absent");
    env.create_pod(&ns, "web-1", &[("app", "web")]).await;
    env.set_pod_ready(&ns, "web-1", true).await;
    env.create_pod(&ns, "web-2", &[("app", "web")]).await;
    env.set_pod_status(
        &ns,
        "web-2",
        serde_json::json!({
            "phase": "Running",
            "containerStatuses": [{"name": "app", "ready": false, "restartCount": 4, "image": "x",
                "imageID": "", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]
        }),
    )
    .await;
    for (name, ready) in [("zk-0", true), ("zk-1", true), ("zk-2", false)] {
        env.create_pod(&ns, name, &[("app", "zk")]).await;
        env.set_pod_ready(&ns, name, ready).await;
    }
    let args = |extra: &[String]| {
        let mut a = vec![
            "check".to_string(),
            "--pods".into(),
            format!("{ns}:app=web"),
            "--pods".into(),
            format!("{ns}:app=zk:2"),
        ];
        a.extend_from_slice(extra);
        a
    };
    let done = Depwait::new()
        .args(args(&["--pods".into(), format!("{absent}:app=db")]))
        .spawn()
        .expect_exit(1)
        .await;
    // Column widths follow the namespace names' lengths; compare words, not spaces.
    let normalised: Vec<String> = done
        .stdout
        .replace(&ns, "NS")
        .replace(&absent, "ABSENT")
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        normalised,
        [
            "DEPENDENCY STATE READY DETAIL",
            "NS app=web NOT READY 1/2 web-2: container app CrashLoopBackOff (restarts: 4)",
            "NS app=zk (min 2) READY 2/3 (min 2)",
            "ABSENT app=db NOT READY 0/0 no matching pods yet",
        ],
        "{done:?}"
    );
    assert!(!done.stdout.contains('\x1b'), "no colour when not a TTY");

    env.set_pod_ready(&ns, "web-2", true).await;
    Depwait::new().args(args(&[])).spawn().expect_exit(0).await;
}

/// `--emit-events`: on timeout, a Warning Event with reason DependenciesNotReady lands on the
/// waiting pod (found through POD_NAME / POD_NAMESPACE; its UID looked up, as `kubectl
/// describe` matches on it), with the documented permissions only.
#[tokio::test]
async fn timeout_records_a_warning_event_on_the_waiting_pod() {
    use k8s_openapi::api::core::v1::{Event, Pod};
    use kube::Api;

    let env = TestEnv::get();
    let ns = env.namespace("events").await;
    env.create_pod(&ns, "app-7d4f", &[("app", "app")]).await;
    env.grant(&ns, User::Alice, &["get", "list", "watch"], &["pods"])
        .await;
    env.grant(&ns, User::Alice, &["create"], &["events"]).await;
    Depwait::new()
        .user(User::Alice)
        .args(["--pods", &format!("{ns}:app=db"), "--timeout", "1s"])
        .args(["--emit-events"])
        .env("POD_NAME", "app-7d4f")
        .env("POD_NAMESPACE", &ns)
        .spawn()
        .expect_exit(1)
        .await;

    let admin = env.client(User::Admin).await;
    let uid = Api::<Pod>::namespaced(admin.clone(), &ns)
        .get("app-7d4f")
        .await
        .unwrap()
        .metadata
        .uid;
    let events = Api::<Event>::namespaced(admin, &ns)
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    let event = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("DependenciesNotReady"))
        .unwrap_or_else(|| panic!("no depwait event among {events:?}"));
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.involved_object.name.as_deref(), Some("app-7d4f"));
    assert_eq!(event.involved_object.uid, uid);
    let message = event.message.as_deref().unwrap_or_default();
    assert!(message.contains("timed out after"), "{message}");
    assert!(
        message.contains(&format!("{ns} app=db: no matching pods yet")),
        "{message}"
    );
}

/// A kubeconfig that names the API server by host name (`localhost`, from the hosts file)
/// works: depwait resolves it itself, without libc, as the static image must.
#[tokio::test]
async fn server_named_by_host_name_is_resolved_without_libc() {
    let env = TestEnv::get();
    let ns = env.namespace("byname").await;
    env.create_pod(&ns, "web-0", &[("app", "web")]).await;
    env.set_pod_ready(&ns, "web-0", true).await;
    let text = std::fs::read_to_string(env.kubeconfig(User::Admin)).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cluster = &mut config["clusters"][0]["cluster"];
    cluster["server"] = env.server.replace("127.0.0.1", "localhost").into();
    // The test server's certificate does not name `localhost`; the name it does carry is
    // checked instead (the connection still goes to whatever `localhost` resolves to).
    cluster["tls-server-name"] = "kubernetes.default".into();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, config.to_string()).unwrap();
    // No name server answers: `localhost` comes from the hosts file, as for a pod.
    let resolv_conf = dir.path().join("resolv.conf");
    std::fs::write(&resolv_conf, "nameserver 127.0.0.9\n").unwrap();
    let done = Depwait::new()
        .kubeconfig(kubeconfig)
        .env("DEPWAIT_RESOLV_CONF", resolv_conf.to_str().unwrap())
        .args(["--pods", &format!("{ns}:app=web")])
        .run(LIMIT)
        .await;
    assert_eq!(done.code, Some(0), "{done:?}");
}
