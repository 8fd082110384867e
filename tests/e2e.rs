//! depwait where users run it: a real one-node cluster (etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler, containerd + runc, kubelet, CNI bridge), depwait from
//! its image as a real init container in a real pod.
//!
//! Slow and root-only, so `#[ignore]`d: `just e2e` runs them (`cargo test --test e2e --
//! --ignored --test-threads=1`). The first run builds the cluster's binaries and images
//! (scripts/cluster/build.sh); later runs start the cluster from the cache.

#[path = "e2e/cluster.rs"]
mod cluster;
mod support;

use std::time::Duration;

use cluster::{Cluster, NETNS, condition, text};
use serde_json::{Value, json};
use support::{Depwait, LIMIT};

/// The cluster's network namespace has no route out: no default route, and the kernel refuses a
/// packet to a non-local address (the host's own gateway, 192.0.2.1, and a documentation IPv6
/// address) before sending it. Its only interfaces are loopback, the pod bridge with the pods'
/// veths on it, and the one veth to the tests.
#[test]
#[ignore = "needs root and a real cluster: just e2e"]
fn cluster_namespace_has_no_route_out() {
    let cluster = Cluster::get();
    eprintln!("cluster versions:\n{}", cluster.versions());
    for family in ["-4", "-6"] {
        let routes = cluster.in_netns(&["ip", family, "route", "show", "default"]);
        assert!(routes.status.success(), "{}", text(&routes));
        assert!(
            routes.stdout.is_empty(),
            "a default route in {NETNS}: {}",
            text(&routes)
        );
    }
    for (family, addr) in [
        ("-4", "192.0.2.1"),
        ("-4", "1.1.1.1"),
        ("-6", "2001:db8::1"),
    ] {
        let get = cluster.in_netns(&["ip", family, "route", "get", addr]);
        assert!(
            !get.status.success(),
            "{addr} is routable from {NETNS}: {}",
            text(&get)
        );
        assert!(
            String::from_utf8_lossy(&get.stderr).contains("Network is unreachable"),
            "{addr}: {}",
            text(&get)
        );
    }
    let links = cluster.in_netns(&["ip", "-o", "link", "show"]);
    for line in String::from_utf8_lossy(&links.stdout).lines() {
        // "3: e2e0: <...> mtu 1500 ... master e2e0 ..."
        let name = line.split(':').nth(1).unwrap().trim();
        let name = name.split('@').next().unwrap();
        let allowed = matches!(name, "lo" | "e2e0" | "dwe2e-node") || line.contains("master e2e0");
        assert!(allowed, "unexpected interface in {NETNS}: {line}");
    }
}

/// The seed's Deployment, unchanged but for its image: `NAMESPACE_LABEL_DICT` over two
/// namespaces whose pods turn Ready through real httpGet readiness probes (busybox httpd serving
/// `/ready.html` once the test creates it). depwait runs from its image as the pod's init
/// container with the projected ServiceAccount token; the pod stays `Init:0/1` while one
/// namespace is Ready (depwait's log names the other as missing), and its app container starts
/// once both are.
#[test]
#[ignore = "needs root and a real cluster: just e2e"]
fn seed_deployment_waits_for_both_namespaces_then_starts() {
    let cluster = Cluster::get();
    let ns1 = cluster.namespace("seed-a");
    let ns2 = cluster.namespace("seed-b");
    let web = cluster.namespace("seed-web");
    let labels1 = json!({"app": "MyApp", "environment": "dev"});
    cluster.apply(&deployment(&ns1, "web", 2, &labels1, dependency_pod()));
    cluster.apply(&deployment(
        &ns2,
        "api",
        1,
        &json!({"app": "MyApp"}),
        dependency_pod(),
    ));
    let dict = json!({ns1.clone(): [labels1], ns2.clone(): [{"app": "MyApp"}]}).to_string();
    cluster.apply(&pod_reader(&web, "depwait"));
    let spec = depwait_pod(
        cluster,
        &[],
        &[
            ("NAMESPACE_LABEL_DICT", &dict),
            ("TIMEOUT", "300"),
            ("RETRY_INTERVAL", "15"),
            // A line with what is still missing every 2 s (the evidence below).
            ("DEPWAIT_HEARTBEAT", "2s"),
        ],
    );
    cluster.apply(&deployment(
        &web,
        "gated",
        1,
        &json!({"app": "gated"}),
        spec,
    ));

    let gated = |c: &Cluster| c.pods(&web, "app=gated").into_iter().next();
    cluster.wait_for("depwait running in the gated pod", |c| {
        init_state(&gated(c)?, "depwait")?
            .get("running")
            .map(|_| ())
    });
    cluster.wait_for("depwait's first heartbeat", |c| {
        c.log_of(&web, "app=gated", "depwait")
            .contains("2 of 2 not ready")
            .then_some(())
    });

    make_ready(cluster, &ns1, "app=MyApp", 2);
    // After ns1 is Ready: depwait says only ns2 is missing, and the app has not started.
    let line = cluster.wait_for("a heartbeat naming only the second namespace", |c| {
        let log = c.log_of(&web, "app=gated", "depwait");
        log.lines()
            .rev()
            .find(|l| l.contains("1 of 2 not ready") && l.contains(&ns2) && !l.contains(&ns1))
            .map(str::to_owned)
    });
    let pod = gated(cluster).unwrap();
    assert!(
        init_state(&pod, "depwait")
            .unwrap()
            .get("running")
            .is_some(),
        "depwait should still be running: {line}\n{pod:#}"
    );
    assert!(
        container_state(&pod, "app")
            .and_then(|s| s.get("running"))
            .is_none(),
        "the app container started while {ns2} was not Ready: {pod:#}"
    );

    make_ready(cluster, &ns2, "app=MyApp", 1);
    let pod = cluster.wait_for("the gated pod's app container running", |c| {
        let pod = gated(c)?;
        container_state(&pod, "app")?.get("running")?;
        Some(pod)
    });
    let init = init_status(&pod, "depwait").unwrap();
    assert_eq!(init["state"]["terminated"]["exitCode"], 0, "{init:#}");
    assert_eq!(init["restartCount"], 0, "{init:#}");
    let log = cluster.log_of(&web, "app=gated", "depwait");
    assert!(log.contains("all dependencies ready"), "{log}");
}

/// A timeout is exit 1 with depwait's summary as the init container's termination message
/// (`kubectl describe pod` shows it); the kubelet restarts the init container (the pod's
/// restartPolicy is Always), and a later run releases once the dependency is Ready.
#[test]
#[ignore = "needs root and a real cluster: just e2e"]
fn timeout_exits_1_with_its_message_then_a_restart_releases() {
    let cluster = Cluster::get();
    let db = cluster.namespace("timeout-db");
    let web = cluster.namespace("timeout-web");
    cluster.apply(&deployment(
        &db,
        "db",
        1,
        &json!({"app": "db"}),
        dependency_pod(),
    ));
    cluster.apply(&pod_reader(&web, "depwait"));
    let pods = format!("{db}:app=db");
    let spec = depwait_pod(cluster, &["--pods", &pods, "--timeout", "5s"], &[]);
    cluster.apply(&deployment(
        &web,
        "gated",
        1,
        &json!({"app": "gated"}),
        spec,
    ));

    let (name, last) = cluster.wait_for("depwait to time out (exit 1) and be restarted", |c| {
        let pod = c.pods(&web, "app=gated").into_iter().next()?;
        let init = init_status(&pod, "depwait")?;
        let last = &init["lastState"]["terminated"];
        (last["exitCode"] == 1).then(|| {
            (
                pod["metadata"]["name"].as_str().unwrap().to_owned(),
                last.clone(),
            )
        })
    });
    let message = last["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("timed out") && message.contains(&format!("{db} app=db: 0/1 ready")),
        "termination message: {last:#}"
    );
    let describe = cluster.kubectl_ok(&["-n", &web, "describe", "pod", &name]);
    assert!(describe.contains("timed out after"), "{describe}");

    make_ready(cluster, &db, "app=db", 1);
    let pod = cluster.wait_for("the app container running after a later depwait run", |c| {
        let pod = c.pods(&web, "app=gated").into_iter().next()?;
        container_state(&pod, "app")?.get("running")?;
        Some(pod)
    });
    let init = init_status(&pod, "depwait").unwrap();
    assert_eq!(init["state"]["terminated"]["exitCode"], 0, "{init:#}");
    assert!(init["restartCount"].as_u64().unwrap() >= 1, "{init:#}");
}

/// `--job` against real Jobs run by the real Job controller: one that completes releases the
/// pod; one whose pod fails past its `backoffLimit` ends depwait with exit 4 at once, the
/// reason in the termination message.
#[test]
#[ignore = "needs root and a real cluster: just e2e"]
fn job_complete_releases_and_job_failed_exits_4() {
    let cluster = Cluster::get();
    let jobs = cluster.namespace("jobs");
    let web = cluster.namespace("jobs-web");
    cluster.apply(&pod_reader(&web, "depwait"));
    // Completes once the test says so (a file), so the wait is seen first.
    cluster.apply(&job(
        &jobs,
        "migrate",
        0,
        "until [ -e /tmp/done ]; do sleep 0.2; done",
    ));
    cluster.apply(&job(&jobs, "broken", 1, "exit 3"));

    let migrate = format!("{jobs}/migrate");
    let spec = depwait_pod(cluster, &["--job", &migrate, "--heartbeat", "2s"], &[]);
    cluster.apply(&deployment(
        &web,
        "after-migrate",
        1,
        &json!({"app": "after-migrate"}),
        spec,
    ));
    let mut spec = depwait_pod(cluster, &["--job", &format!("{jobs}/broken")], &[]);
    spec["restartPolicy"] = "Never".into();
    cluster.apply(&pod(&web, "after-broken", spec));

    cluster.wait_for("depwait waiting for the running Job", |c| {
        let log = c.log_of(&web, "app=after-migrate", "depwait");
        log.lines()
            .any(|l| l.contains("still waiting") && l.contains(&migrate))
            .then_some(())
    });
    let job_pod = cluster.wait_for("the Job's pod running", |c| {
        let pods = c.pods(&jobs, "job-name=migrate");
        let pod = pods
            .into_iter()
            .find(|p| p["status"]["phase"] == "Running")?;
        Some(pod["metadata"]["name"].as_str()?.to_owned())
    });
    cluster.kubectl_ok(&["-n", &jobs, "exec", &job_pod, "--", "touch", "/tmp/done"]);
    let pod = cluster.wait_for("the app container after the Job completed", |c| {
        let pod = c.pods(&web, "app=after-migrate").into_iter().next()?;
        container_state(&pod, "app")?.get("running")?;
        Some(pod)
    });
    assert_eq!(
        init_state(&pod, "depwait").unwrap()["terminated"]["exitCode"],
        0,
        "{pod:#}"
    );

    let failed = cluster.wait_for("depwait to end on the failed Job", |c| {
        let pod = c.get_json(&["-n", &web, "get", "pod", "after-broken"])?;
        let done = init_state(&pod, "depwait")?["terminated"].clone();
        done.is_object().then_some(done)
    });
    assert_eq!(failed["exitCode"], 4, "{failed:#}");
    let message = failed["message"].as_str().unwrap_or_default();
    assert!(message.contains("BackoffLimitExceeded"), "{failed:#}");
    let describe = cluster.kubectl_ok(&["-n", &web, "describe", "pod", "after-broken"]);
    assert!(describe.contains("BackoffLimitExceeded"), "{describe}");

    // From 1.31 the controller settles a Job's outcome first (SuccessCriteriaMet,
    // FailureTarget) and finishes it later (Complete, Failed): both Jobs must carry the
    // settling condition, which depwait judges (readiness::object's unit tests say how).
    let conditions = |name: &str| -> Vec<String> {
        let job = cluster
            .get_json(&["-n", &jobs, "get", "job", name])
            .unwrap_or_default();
        let list = job["status"]["conditions"].as_array().cloned();
        list.unwrap_or_default()
            .iter()
            .filter(|c| c["status"] == "True")
            .filter_map(|c| c["type"].as_str().map(str::to_owned))
            .collect()
    };
    let (done, broken) = (conditions("migrate"), conditions("broken"));
    eprintln!("Job conditions: migrate {done:?}, broken {broken:?}");
    if cluster.server_minor() >= 31 {
        assert!(done.iter().any(|c| c == "SuccessCriteriaMet"), "{done:?}");
        assert!(broken.iter().any(|c| c == "FailureTarget"), "{broken:?}");
    } else {
        assert!(!done.iter().any(|c| c == "SuccessCriteriaMet"), "{done:?}");
    }
}

/// Least privilege for real: the pod's ServiceAccount bound to exactly what `depwait rbac`
/// prints waits and releases; the same with `watch` removed from the Role ends in exit 3 naming
/// the missing rule.
#[test]
#[ignore = "needs root and a real cluster: just e2e"]
fn generated_rbac_is_enough_and_one_rule_less_exits_3() {
    let cluster = Cluster::get();
    let db = cluster.namespace("rbac-db");
    let web = cluster.namespace("rbac-web");
    cluster.apply(&deployment(
        &db,
        "db",
        1,
        &json!({"app": "db"}),
        dependency_pod(),
    ));
    let pods = format!("{db}:app=db");
    for sa in ["exact", "less"] {
        cluster.apply(
            &json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": sa, "namespace": web}})
            .to_string(),
        );
        let sa_arg = format!("{web}/{sa}");
        // Printed from the arguments alone: no API server is asked.
        let rbac = Depwait::new()
            .offline()
            .args(["rbac", "--service-account", &sa_arg, "--pods", &pods])
            .run_blocking(LIMIT);
        assert_eq!(rbac.code, Some(0), "{rbac:?}");
        // Each account's Role and RoleBinding are named for it (`depwait.<ns>.<account>`), so
        // both apply side by side in the dependency's namespace, as printed.
        let yaml = rbac.stdout;
        assert!(
            yaml.contains(&format!("name: depwait.{web}.{sa}\n")),
            "{yaml}"
        );
        cluster.apply(&yaml);
    }
    let patch = r#"[{"op": "replace", "path": "/rules/0/verbs", "value": ["get", "list"]}]"#;
    let less = format!("depwait.{web}.less");
    cluster.kubectl_ok(&[
        "-n",
        &db,
        "patch",
        "role",
        &less,
        "--type=json",
        "-p",
        patch,
    ]);

    for sa in ["exact", "less"] {
        let mut spec = depwait_pod(cluster, &["--pods", &pods], &[]);
        spec["serviceAccountName"] = sa.into();
        spec["restartPolicy"] = "Never".into();
        cluster.apply(&pod(&web, sa, spec));
    }
    let denied = cluster.wait_for("depwait with one rule less to end", |c| {
        let pod = c.get_json(&["-n", &web, "get", "pod", "less"])?;
        let done = init_state(&pod, "depwait")?["terminated"].clone();
        done.is_object().then_some(done)
    });
    assert_eq!(denied["exitCode"], 3, "{denied:#}");
    let message = denied["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("watch") && message.contains("pods") && message.contains(&db),
        "{denied:#}"
    );

    cluster.wait_for("depwait with the exact rules waiting", |c| {
        let pod = c.get_json(&["-n", &web, "get", "pod", "exact"])?;
        init_state(&pod, "depwait")?.get("running").map(|_| ())
    });
    make_ready(cluster, &db, "app=db", 1);
    let pod = cluster.wait_for("the app container with the exact rules", |c| {
        let pod = c.get_json(&["-n", &web, "get", "pod", "exact"])?;
        container_state(&pod, "app")?.get("running")?;
        Some(pod)
    });
    assert_eq!(
        init_state(&pod, "depwait").unwrap()["terminated"]["exitCode"],
        0,
        "{pod:#}"
    );
    // The generated rules let the restart guard read the pod itself (found by HOSTNAME in the
    // service account's namespace: no downward API in this spec).
    let log = cluster.kubectl_ok(&["-n", &web, "logs", "exact", "-c", "depwait"]);
    assert!(!log.contains("guard is off"), "{log}");
}

/// service-precheck's arguments, unchanged (`mysql-0.mysql.NS mysql-read.NS`), against a real
/// StatefulSet behind a headless Service and a second Service, their EndpointSlices written by
/// the real EndpointSlice controller (`discovery.k8s.io/v1beta1` on 1.20): with only `mysql-1`
/// Ready, `mysql-read` has a ready endpoint but `mysql-0` does not, and depwait keeps waiting,
/// naming `mysql-0.mysql`; once `mysql-0` is Ready the app starts.
#[test]
#[ignore = "needs root and a real cluster: just e2e"]
fn service_precheck_arguments_against_a_real_stateful_set() {
    let cluster = Cluster::get();
    let db = cluster.namespace("mysql");
    let web = cluster.namespace("mysql-web");
    let labels = json!({"app": "mysql"});
    let mut statefulset = json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "mysql", "namespace": db},
        "spec": {
            "serviceName": "mysql",
            "replicas": 2,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": dependency_pod()},
        },
    });
    statefulset["spec"]["template"]["spec"]["containers"][0]["ports"] =
        json!([{"containerPort": 8080, "name": "http"}]);
    let service = |name: &str, headless: bool| {
        let mut svc = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": db},
            "spec": {"selector": labels, "ports": [{"port": 8080, "name": "http"}]},
        });
        if headless {
            svc["spec"]["clusterIP"] = "None".into();
        }
        svc.to_string()
    };
    cluster.apply(&service("mysql", true));
    cluster.apply(&service("mysql-read", false));
    cluster.apply(&statefulset.to_string());
    cluster.apply(&pod_reader(&web, "depwait"));
    let (host, read) = (format!("mysql-0.mysql.{db}"), format!("mysql-read.{db}"));
    let spec = depwait_pod(cluster, &[&host, &read, "--heartbeat", "2s"], &[]);
    cluster.apply(&deployment(
        &web,
        "gated",
        1,
        &json!({"app": "gated"}),
        spec,
    ));

    cluster.wait_for("depwait running", |c| {
        let pod = c.pods(&web, "app=gated").into_iter().next()?;
        init_state(&pod, "depwait")?.get("running").map(|_| ())
    });
    make_pod_ready(cluster, &db, "mysql-1");
    let line = cluster.wait_for("a heartbeat naming only mysql-0", |c| {
        let log = c.log_of(&web, "app=gated", "depwait");
        log.lines()
            .rev()
            .find(|l| l.contains("1 of 2 not ready") && l.contains("mysql-0"))
            .map(str::to_owned)
    });
    assert!(!line.contains("mysql-read"), "{line}");
    let pod = cluster.pods(&web, "app=gated").into_iter().next().unwrap();
    assert!(
        container_state(&pod, "app")
            .and_then(|s| s.get("running"))
            .is_none(),
        "the app started before mysql-0 was Ready: {line}\n{pod:#}"
    );

    make_pod_ready(cluster, &db, "mysql-0");
    let pod = cluster.wait_for("the app container running", |c| {
        let pod = c.pods(&web, "app=gated").into_iter().next()?;
        container_state(&pod, "app")?.get("running")?;
        Some(pod)
    });
    assert_eq!(
        init_state(&pod, "depwait").unwrap()["terminated"]["exitCode"],
        0,
        "{pod:#}"
    );

    // Which EndpointSlice API the release came through: v1beta1 is all 1.20 serves, and 1.25
    // removed it, so on a current release this was the v1 path (watch.rs picks the newest).
    let served = cluster.kubectl_ok(&["api-versions"]);
    let served: Vec<&str> = served
        .lines()
        .filter(|l| l.starts_with("discovery.k8s.io/"))
        .collect();
    eprintln!("EndpointSlice APIs served: {served:?}");
    match cluster.server_minor() {
        ..=20 => assert_eq!(served, ["discovery.k8s.io/v1beta1"]),
        25.. => assert_eq!(served, ["discovery.k8s.io/v1"]),
        _ => assert!(served.contains(&"discovery.k8s.io/v1"), "{served:?}"),
    }
    let slices = cluster.kubectl_ok(&["-n", &db, "get", "endpointslices", "-o", "name"]);
    assert!(
        slices.lines().count() >= 2,
        "the controller wrote no slices:\n{slices}"
    );
}

/// `--rollout` of a real Deployment update: the Deployment controller makes a new ReplicaSet
/// whose pods are not Ready until the test says so, and scales the old one down; depwait waits
/// while the rollout is under way (its heartbeat names the Deployment) and releases once every
/// replica is updated and available, as `kubectl rollout status` judges it.
#[test]
#[ignore = "needs root and a real cluster: just e2e"]
fn rollout_of_a_real_deployment_update() {
    let cluster = Cluster::get();
    let ns = cluster.namespace("rollout");
    let web = cluster.namespace("rollout-web");
    cluster.apply(&deployment(
        &ns,
        "api",
        2,
        &json!({"app": "api"}),
        dependency_pod(),
    ));
    make_ready(cluster, &ns, "app=api", 2);
    let patch = r#"{"spec": {"template": {"metadata": {"annotations": {"revision": "2"}}}}}"#;
    cluster.kubectl_ok(&["-n", &ns, "patch", "deployment", "api", "-p", patch]);
    cluster.apply(&pod_reader(&web, "depwait"));
    let rollout = format!("{ns}/deployment/api");
    let spec = depwait_pod(cluster, &["--rollout", &rollout, "--heartbeat", "2s"], &[]);
    cluster.apply(&deployment(
        &web,
        "gated",
        1,
        &json!({"app": "gated"}),
        spec,
    ));

    let line = cluster.wait_for("a heartbeat naming the rollout", |c| {
        let log = c.log_of(&web, "app=gated", "depwait");
        // "... not ready: rollout NS/deployment/api: 1 of 2 new replicas have been updated"
        let named = format!("rollout {rollout}: ");
        log.lines()
            .rev()
            .find(|l| l.contains("still waiting") && l.contains(&named) && l.contains("replicas"))
            .map(str::to_owned)
    });
    let pod = cluster.pods(&web, "app=gated").into_iter().next().unwrap();
    assert!(
        container_state(&pod, "app")
            .and_then(|s| s.get("running"))
            .is_none(),
        "the app started during the rollout: {line}\n{pod:#}"
    );

    // Make each new pod Ready as the controller creates it, until depwait releases.
    let pod = cluster.wait_for("the app container after the rollout", |c| {
        for p in c.pods(&ns, "app=api") {
            let new = p["metadata"]["annotations"]["revision"] == "2";
            let ready = condition(&p, "Ready").is_some_and(|r| r["status"] == "True");
            let running = p["status"]["phase"] == "Running";
            if new && running && !ready && p["metadata"]["deletionTimestamp"].is_null() {
                let name = p["metadata"]["name"].as_str().unwrap();
                // It may be going away already: a failure here is retried on the next round.
                c.kubectl(&["-n", &ns, "exec", name, "--", "touch", "/www/ready.html"]);
            }
        }
        let pod = c.pods(&web, "app=gated").into_iter().next()?;
        container_state(&pod, "app")?.get("running")?;
        Some(pod)
    });
    assert_eq!(
        init_state(&pod, "depwait").unwrap()["terminated"]["exitCode"],
        0,
        "{pod:#}"
    );
    let api = cluster
        .get_json(&["-n", &ns, "get", "deployment", "api"])
        .unwrap();
    assert_eq!(api["status"]["updatedReplicas"], 2, "{:#}", api["status"]);
    let log = cluster.log_of(&web, "app=gated", "depwait");
    assert!(log.contains("all dependencies ready"), "{log}");
}

/// The seed's own story, a cluster restart: five services that must start in order (A needs
/// nothing, B needs A, C needs A and B, ...), once gated by depwait and once not (each ungated
/// app exits 1 at start when a dependency does not answer: see [`serving_app`]). Then a power
/// cut on the node (kubelet and containerd killed with every container) and a restart. The
/// gated apps come back in order — each app container started after every pod it needs turned
/// Ready again, though the API said "Ready" from before the cut (the restart guard) — and none
/// restarts more than the power cut made it; how the ungated ones fared is reported.
#[test]
#[ignore = "needs root and a real cluster: just e2e"]
fn cluster_restart_gated_apps_start_in_order_ungated_crash_loop() {
    let cluster = Cluster::get();
    let ns = cluster.namespace("restart");
    cluster.apply(&pod_reader(&ns, "depwait"));
    const N: usize = 5;
    for i in 1..=N {
        let gated_deps: Vec<String> = (1..i).map(|d| format!("{ns}:app=g{d}")).collect();
        let mut gated = depwait_pod(cluster, &[], &[]);
        let args: Vec<&str> = gated_deps
            .iter()
            .flat_map(|d| ["--pods", d.as_str()])
            .collect();
        gated["initContainers"][0]["args"] = json!(args);
        if i == 1 {
            gated.as_object_mut().unwrap().remove("initContainers");
        }
        gated["containers"][0] = serving_app(cluster, &ns, &[]);
        let g = format!("g{i}");
        cluster.apply(&deployment(&ns, &g, 1, &json!({"app": g}), gated));

        let ungated_deps: Vec<String> = (1..i).map(|d| format!("u{d}")).collect();
        let mut ungated = depwait_pod(cluster, &[], &[]);
        ungated.as_object_mut().unwrap().remove("initContainers");
        ungated["containers"][0] = serving_app(cluster, &ns, &ungated_deps);
        let u = format!("u{i}");
        cluster.apply(&deployment(&ns, &u, 1, &json!({"app": u}), ungated));
    }
    let all_ready = |c: &Cluster| {
        let pods = c.pods(&ns, "app");
        let ready = pods
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .filter(|p| condition(p, "Ready").is_some_and(|r| r["status"] == "True"))
            .count();
        (ready == 2 * N).then_some(pods)
    };
    // The ungated apps crash-loop until their dependencies are up, and the kubelet's back-off
    // between their starts doubles (10 s, 20 s, 40 s, ... up to 5 min): the last of a chain of
    // five can need several minutes. A hang guard to match, not a timing assertion.
    let crash_loop = Duration::from_secs(10 * 60);
    let before =
        app_restarts(&cluster.wait_for_within(crash_loop, "all ten apps Ready", all_ready));

    cluster.restart_node();
    // The API says "Ready" from before the power cut until the kubelet reports again: wait for
    // every app container's new run (its restart count up: the power cut killed it), Ready.
    let pods = cluster.wait_for_within(
        crash_loop,
        "all ten apps restarted and Ready after the restart",
        |c| {
            let pods = all_ready(c)?;
            let now = app_restarts(&pods);
            now.iter().all(|(app, n)| *n > before[app]).then_some(pods)
        },
    );
    let after = app_restarts(&pods);
    let failed = app_failures(&pods);
    eprintln!(
        "cluster restart: app restarts before {before:?}, after {after:?}; apps whose last run failed (exit 1): {failed:?}"
    );
    for i in 1..=N {
        let g = format!("g{i}");
        assert!(
            after[&g] <= before[&g] + 1,
            "{g} restarted more than once: {after:?}"
        );
        assert!(!failed.contains(&g), "{g} failed: {failed:?}");
    }
    // The ungated apps: reported, not asserted (whether one starts before what it needs is a
    // race the scenario sets up but does not decide).
    let crashed: Vec<String> = (2..=N)
        .map(|i| format!("u{i}"))
        .filter(|u| failed.contains(u))
        .collect();
    eprintln!(
        "cluster restart: ungated apps whose first start after the power cut failed: {crashed:?}"
    );
    // The restart guard's evidence: which gated depwaits found their pod's status from before
    // the power cut and waited for the kubelet to report them (the run after the restart).
    let logs: Vec<String> = (2..=N)
        .map(|i| cluster.log_of(&ns, &format!("app=g{i}"), "depwait"))
        .collect();
    let held = logs
        .iter()
        .filter(|l| l.contains("waiting for the kubelet to report this run"))
        .count();
    eprintln!(
        "cluster restart: {held} of {} gated depwaits held by the restart guard",
        N - 1
    );
    // Each depwait lists its own pod within milliseconds of starting, and the kubelet reports
    // it running only after its next relist: at least one saw the status from before the cut.
    assert!(
        held > 0,
        "no gated depwait saw its pod's status from before the power cut: {logs:?}"
    );
    // In order: each gated app started after every pod it needs turned Ready.
    for i in 2..=N {
        let started = app_started(&pods, &format!("g{i}"));
        for d in 1..i {
            let ready = ready_since(&pods, &format!("g{d}"));
            assert!(
                started >= ready,
                "g{i} started at {started}, before g{d} was Ready at {ready}; its depwait:\n{}",
                logs[i - 2]
            );
        }
    }
}

/// `--rollout` of a real StatefulSet update held by a partition: the controller replaces only
/// the pods at or above the partition (`zk-1`); depwait waits while that pod is not Ready and
/// releases once it is, with `zk-0` still at the old revision.
#[test]
#[ignore = "needs root and a real cluster: just e2e"]
fn rollout_of_a_partitioned_stateful_set() {
    let cluster = Cluster::get();
    let ns = cluster.namespace("partition");
    let web = cluster.namespace("partition-web");
    let labels = json!({"app": "zk"});
    let zk = json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "zk", "namespace": ns},
        "spec": {
            "serviceName": "zk",
            "replicas": 2,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": dependency_pod()},
        },
    });
    cluster.apply(&zk.to_string());
    make_ready(cluster, &ns, "app=zk", 2);
    let patch = r#"{"spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
        "template": {"metadata": {"annotations": {"revision": "2"}}}}}"#;
    cluster.kubectl_ok(&["-n", &ns, "patch", "statefulset", "zk", "-p", patch]);
    cluster.apply(&pod_reader(&web, "depwait"));
    let rollout = format!("{ns}/statefulset/zk");
    let spec = depwait_pod(cluster, &["--rollout", &rollout, "--heartbeat", "2s"], &[]);
    cluster.apply(&deployment(
        &web,
        "gated",
        1,
        &json!({"app": "gated"}),
        spec,
    ));

    // zk-1 is replaced at the new revision; until it is Ready, depwait waits.
    cluster.wait_for("zk-1 replaced at the new revision", |c| {
        let pod = c.get_json(&["-n", &ns, "get", "pod", "zk-1"])?;
        (pod["metadata"]["annotations"]["revision"] == "2" && pod["status"]["phase"] == "Running")
            .then_some(())
    });
    let named = format!("rollout {rollout}: ");
    let line = cluster.wait_for("a heartbeat naming the StatefulSet", |c| {
        let log = c.log_of(&web, "app=gated", "depwait");
        log.lines()
            .rev()
            .find(|l| l.contains("still waiting") && l.contains(&named))
            .map(str::to_owned)
    });
    let pod = cluster.pods(&web, "app=gated").into_iter().next().unwrap();
    assert!(
        container_state(&pod, "app")
            .and_then(|s| s.get("running"))
            .is_none(),
        "the app started before zk-1 was Ready: {line}\n{pod:#}"
    );

    make_pod_ready(cluster, &ns, "zk-1");
    let pod = cluster.wait_for("the app container after the partitioned roll out", |c| {
        let pod = c.pods(&web, "app=gated").into_iter().next()?;
        container_state(&pod, "app")?.get("running")?;
        Some(pod)
    });
    assert_eq!(
        init_state(&pod, "depwait").unwrap()["terminated"]["exitCode"],
        0,
        "{pod:#}"
    );
    let zk0 = cluster
        .get_json(&["-n", &ns, "get", "pod", "zk-0"])
        .unwrap();
    assert!(
        zk0["metadata"]["annotations"]["revision"].is_null(),
        "zk-0 was updated: {zk0:#}"
    );
    let log = cluster.log_of(&web, "app=gated", "depwait");
    assert!(log.contains("partitioned roll out complete"), "{log}");
}

/// Native sidecars (an init container with `restartPolicy: Always`, as service meshes inject
/// them; 1.29 and later): one runs ahead of depwait in the gated pod and in the dependency's pod.
/// depwait still runs after its sidecar started and releases; while the dependency's main
/// container is not Ready its reason names that container, not the (Ready) sidecar.
#[test]
#[ignore = "needs root and a real cluster: just e2e"]
fn native_sidecars_ahead_of_depwait_and_in_the_dependency() {
    let cluster = Cluster::get();
    if cluster.server_minor() < 29 {
        eprintln!(
            "native sidecars need a 1.29+ cluster; this one is:\n{}",
            cluster.versions()
        );
        return;
    }
    let db = cluster.namespace("sidecar-db");
    let web = cluster.namespace("sidecar-web");
    let sidecar = json!({
        "name": "mesh-proxy",
        "image": "localhost/busybox:e2e",
        "imagePullPolicy": "Never",
        "restartPolicy": "Always",
        "command": ["httpd", "-f", "-p", "15021", "-h", "/www"],
        "readinessProbe": {"httpGet": {"path": "/", "port": 15021}, "periodSeconds": 1},
    });
    let mut dep = dependency_pod();
    dep["initContainers"] = json!([sidecar]);
    cluster.apply(&deployment(&db, "db", 1, &json!({"app": "db"}), dep));
    cluster.apply(&pod_reader(&web, "depwait"));
    let pods = format!("{db}:app=db");
    let mut spec = depwait_pod(cluster, &["--pods", &pods, "--heartbeat", "2s"], &[]);
    let depwait = spec["initContainers"][0].take();
    spec["initContainers"] = json!([sidecar, depwait]);
    cluster.apply(&deployment(
        &web,
        "gated",
        1,
        &json!({"app": "gated"}),
        spec,
    ));

    let line = cluster.wait_for("a heartbeat naming the dependency's main container", |c| {
        let log = c.log_of(&web, "app=gated", "depwait");
        log.lines()
            .rev()
            .find(|l| l.contains("still waiting") && l.contains("container httpd not ready"))
            .map(str::to_owned)
    });
    assert!(
        !line.contains("mesh-proxy"),
        "the Ready sidecar named as the reason: {line}"
    );
    make_ready(cluster, &db, "app=db", 1);
    let pod = cluster.wait_for("the app container next to its sidecar", |c| {
        let pod = c.pods(&web, "app=gated").into_iter().next()?;
        container_state(&pod, "app")?.get("running")?;
        Some(pod)
    });
    assert_eq!(
        init_state(&pod, "depwait").unwrap()["terminated"]["exitCode"],
        0,
        "{pod:#}"
    );
    assert!(
        init_state(&pod, "mesh-proxy")
            .unwrap()
            .get("running")
            .is_some(),
        "{pod:#}"
    );
}

/// `depwait graph` on a real cluster, with its controllers: a Deployment's ReplicaSets and pods
/// are read as the Deployment (not as workloads of their own), a CronJob is listed wherever the
/// server serves it (batch/v1 from 1.21, batch/v1beta1 on 1.20), a native sidecar (1.29+) that
/// runs depwait holds nothing and is no gate, and `--status` shows what the kubelet made true.
#[test]
#[ignore = "needs root and a real cluster: just e2e"]
fn graph_of_a_real_cluster() {
    let cluster = Cluster::get();
    let ns = cluster.namespace("graph");
    let minor = cluster.server_minor();
    cluster.apply(&pod_reader(&ns, "depwait"));
    cluster.apply(&deployment(
        &ns,
        "db",
        1,
        &json!({"app": "db"}),
        dependency_pod(),
    ));
    let db = format!("{ns}:app=db");
    let mut web = depwait_pod(cluster, &["--pods", &db], &[]);
    if minor >= 29 {
        // A depwait as a native sidecar, waiting for something that never comes: it must not
        // count, or web would be unsatisfiable.
        let mut sidecar = web["initContainers"][0].clone();
        sidecar["name"] = json!("watcher");
        sidecar["restartPolicy"] = json!("Always");
        sidecar["args"] = json!(["--pods", format!("{ns}:app=nothing"), "--timeout", "0"]);
        web["initContainers"].as_array_mut().unwrap().push(sidecar);
    }
    cluster.apply(&deployment(&ns, "web", 1, &json!({"app": "web"}), web));
    let rollout = format!("{ns}/deployment/db");
    let mut report = depwait_pod(cluster, &["--rollout", &rollout], &[]);
    report["restartPolicy"] = json!("Never");
    let batch = if minor >= 21 {
        "batch/v1"
    } else {
        "batch/v1beta1"
    };
    cluster.apply(
        &json!({
            "apiVersion": batch, "kind": "CronJob",
            "metadata": {"name": "report", "namespace": ns},
            "spec": {"schedule": "0 0 1 1 *", "suspend": true, "jobTemplate": {"spec": {
                "template": {"metadata": {"labels": {"app": "report"}}, "spec": report}}}},
        })
        .to_string(),
    );
    let graph = |extra: &[&str]| {
        let mut args = vec!["graph", "-n", ns.as_str()];
        args.extend_from_slice(extra);
        Depwait::new()
            .kubeconfig(cluster.dir.join("kubeconfig"))
            .args(args)
            .run_blocking(LIMIT)
    };
    // The controllers have made the ReplicaSets and pods by the time db's pod exists.
    cluster.wait_for("db's pod", |c| c.pods(&ns, "app=db").into_iter().next());
    let out = graph(&[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    for line in [
        "depwait graph: 3 workloads read, 2 gated by depwait, 2 dependencies".to_string(),
        format!("wave 0  {ns}/Deployment/db"),
        format!("wave 1  {ns}/Deployment/web  waits for {ns}/Deployment/db"),
        format!("        {ns}/CronJob/report  waits for {ns}/Deployment/db"),
    ] {
        assert!(out.stdout.contains(&line), "{line}\n{out:?}");
    }
    make_ready(cluster, &ns, "app=db", 1);
    // web starts for real once depwait released it; then --status says so.
    cluster.wait_for("web's app container running", |c| {
        let pod = c.pods(&ns, "app=web").into_iter().next()?;
        container_state(&pod, "app")?.get("running")?;
        Some(())
    });
    let out = graph(&["--status"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    for line in [
        format!("wave 0  {ns}/Deployment/db  [READY 1/1]"),
        format!("{ns}/Deployment/web  [{ns} app=db]  READY 1/1"),
    ] {
        assert!(out.stdout.contains(&line), "{line}\n{out:?}");
    }
}

impl Cluster {
    /// A container's log (`kubectl logs`, through the API server and the kubelet), or "".
    fn log_of(&self, ns: &str, selector: &str, container: &str) -> String {
        let out = self.kubectl(&[
            "-n",
            ns,
            "logs",
            "-l",
            selector,
            "-c",
            container,
            "--tail=-1",
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// An app container serving HTTP (Ready by its probe once it serves) that first checks that
/// each app in `deps` really serves, as an app that connects to its dependencies at start would:
/// it finds the dependency's pod IP in the API (through [`Cluster::api_proxy`]) and asks its
/// server; if one does not answer, the app exits 1. After a power cut the API still shows the
/// pods and IPs from before it, so only the connection tells whether the dependency is back.
fn serving_app(cluster: &Cluster, ns: &str, deps: &[String]) -> Value {
    let api = if deps.is_empty() {
        String::new()
    } else {
        cluster.api_proxy().to_string()
    };
    let script = format!(
        r#"for d in {deps}; do
  wget -q -U e2e -O /tmp/pods "{api}/api/v1/namespaces/{ns}/pods?labelSelector=app%3D$d" || exit 1
  ip=$(grep -o '"podIP": *"[0-9.]*"' /tmp/pods | head -n 1 | cut -d '"' -f 4)
  [ -n "$ip" ] || {{ echo "$d has no pod IP yet"; exit 1; }}
  timeout 5 wget -q -O /dev/null "http://$ip:8080/" || {{ echo "$d does not answer at $ip"; exit 1; }}
done
echo started
exec httpd -f -p 8080 -h /www"#,
        deps = deps.join(" ")
    );
    json!({
        "name": "app",
        "image": "localhost/busybox:e2e",
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", script],
        "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1},
    })
}

/// App-container restarts by the pod's `app` label.
fn app_restarts(pods: &[Value]) -> std::collections::BTreeMap<String, u64> {
    pods.iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| {
            let app = p["metadata"]["labels"]["app"].as_str().unwrap().to_owned();
            let restarts = p["status"]["containerStatuses"][0]["restartCount"]
                .as_u64()
                .unwrap_or(0);
            (app, restarts)
        })
        .collect()
}

/// The apps whose app container's previous run ended with exit 1 (its dependency check).
fn app_failures(pods: &[Value]) -> Vec<String> {
    pods.iter()
        .filter(|p| p["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 1)
        .map(|p| p["metadata"]["labels"]["app"].as_str().unwrap().to_owned())
        .collect()
}

/// When the app container of `app`'s pod started (RFC 3339, seconds).
fn app_started(pods: &[Value], app: &str) -> String {
    let pod = pods
        .iter()
        .find(|p| p["metadata"]["labels"]["app"] == app)
        .unwrap();
    pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// When `app`'s pod last turned Ready (RFC 3339, seconds).
fn ready_since(pods: &[Value], app: &str) -> String {
    let pod = pods
        .iter()
        .find(|p| p["metadata"]["labels"]["app"] == app)
        .unwrap();
    condition(pod, "Ready").unwrap()["lastTransitionTime"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Turn `count` pods of a [`dependency_pod`] Ready for real: create the file their readiness
/// probe asks for, then wait until the kubelet's probe has seen it.
fn make_ready(cluster: &Cluster, ns: &str, selector: &str, count: usize) {
    let pods = cluster.wait_for("the dependency's pods running", |c| {
        let pods = c.pods(ns, selector);
        let running = pods
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .count();
        (running == count).then_some(pods)
    });
    for pod in &pods {
        let name = pod["metadata"]["name"].as_str().unwrap();
        touch_ready_file(cluster, ns, name);
    }
    cluster.wait_for("the dependency's pods Ready", |c| {
        let pods = c.pods(ns, selector);
        let ready = pods
            .iter()
            .filter(|p| condition(p, "Ready").is_some_and(|r| r["status"] == "True"))
            .count();
        (ready == count).then_some(())
    });
}

/// Turn one pod of a [`dependency_pod`] Ready for real, and wait until its probe has seen it.
fn make_pod_ready(cluster: &Cluster, ns: &str, name: &str) {
    cluster.wait_for("the pod running", |c| {
        let pod = c.get_json(&["-n", ns, "get", "pod", name])?;
        (pod["status"]["phase"] == "Running").then_some(())
    });
    touch_ready_file(cluster, ns, name);
    cluster.wait_for("the pod Ready", |c| {
        let pod = c.get_json(&["-n", ns, "get", "pod", name])?;
        condition(&pod, "Ready")
            .is_some_and(|r| r["status"] == "True")
            .then_some(())
    });
}

/// Create the file a [`dependency_pod`]'s readiness probe asks for (`kubectl exec`, through the
/// API server, the kubelet and containerd).
fn touch_ready_file(cluster: &Cluster, ns: &str, pod: &str) {
    cluster.kubectl_ok(&["-n", ns, "exec", pod, "--", "touch", "/www/ready.html"]);
}

/// A dependency's pod spec: busybox httpd whose httpGet readiness probe passes only once
/// `/www/ready.html` exists (see [`make_ready`]).
fn dependency_pod() -> Value {
    json!({
        "terminationGracePeriodSeconds": 1,
        "containers": [{
            "name": "httpd",
            "image": "localhost/busybox:e2e",
            "imagePullPolicy": "Never",
            "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
            "readinessProbe": {"httpGet": {"path": "/ready.html", "port": 8080}, "periodSeconds": 1},
        }],
    })
}

/// The seed's pod with depwait's image as its init container (`args`, `env`, plus the API
/// server's address: there is no kube-proxy to route the `kubernetes` Service), and a busybox
/// app container. ServiceAccount `depwait`.
fn depwait_pod(cluster: &Cluster, args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut vars = vec![
        json!({"name": "KUBERNETES_SERVICE_HOST", "value": cluster.api_host}),
        json!({"name": "KUBERNETES_SERVICE_PORT", "value": cluster.api_port}),
    ];
    vars.extend(env.iter().map(|(k, v)| json!({"name": k, "value": v})));
    json!({
        "serviceAccountName": "depwait",
        "terminationGracePeriodSeconds": 1,
        "initContainers": [{
            "name": "depwait",
            "image": "localhost/depwait:e2e",
            "imagePullPolicy": "Never",
            "args": args,
            "env": vars,
            "resources": {
                "requests": {"memory": "16Mi", "cpu": "10m"},
                "limits": {"memory": "32Mi", "cpu": "100m"},
            },
        }],
        "containers": [{
            "name": "app",
            "image": "localhost/busybox:e2e",
            "imagePullPolicy": "Never",
            "command": ["sh", "-c", "echo started; exec sleep 3600"],
        }],
    })
}

fn deployment(ns: &str, name: &str, replicas: u32, labels: &Value, spec: Value) -> String {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    })
    .to_string()
}

fn pod(ns: &str, name: &str, spec: Value) -> String {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": spec,
    })
    .to_string()
}

/// A Job running `script` in busybox, retried `backoff_limit` times.
fn job(ns: &str, name: &str, backoff_limit: u32, script: &str) -> String {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {"spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 1,
                "containers": [{
                    "name": "job",
                    "image": "localhost/busybox:e2e",
                    "imagePullPolicy": "Never",
                    "command": ["sh", "-c", script],
                }],
            }},
        },
    })
    .to_string()
}

/// ServiceAccount `name` in `ns`, allowed to get, list and watch pods, Jobs, Services and their
/// EndpointSlices everywhere.
fn pod_reader(ns: &str, name: &str) -> String {
    let role = format!("{ns}-{name}");
    let items = [
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}}),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": role},
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": [""], "resources": ["services", "endpoints"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": role},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
        }),
    ];
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// An init container's status, by name.
fn init_status<'a>(pod: &'a Value, name: &str) -> Option<&'a Value> {
    pod["status"]["initContainerStatuses"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
}

/// An init container's state (`{"running": ...}`, `{"waiting": ...}`, `{"terminated": ...}`).
fn init_state<'a>(pod: &'a Value, name: &str) -> Option<&'a Value> {
    init_status(pod, name).map(|c| &c["state"])
}

/// An app container's state.
fn container_state<'a>(pod: &'a Value, name: &str) -> Option<&'a Value> {
    pod["status"]["containerStatuses"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
        .map(|c| &c["state"])
}
