//! depwait where users run it: a real one-node cluster (etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler, containerd + runc, kubelet, CNI bridge), depwait from
//! its image as a real init container in a real pod.
//!
//! Slow and root-only, so `#[ignore]`d: `just e2e` runs them (`cargo test --test e2e --
//! --ignored --test-threads=1`). The first run builds the cluster's binaries and images
//! (scripts/cluster/build.sh); later runs start the cluster from the cache.

#[path = "e2e/cluster.rs"]
mod cluster;

use cluster::{Cluster, NETNS, condition, text};
use serde_json::Value;

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
        assert!(routes.stdout.is_empty(), "a default route in {NETNS}: {}", text(&routes));
    }
    for (family, addr) in [("-4", "192.0.2.1"), ("-4", "1.1.1.1"), ("-6", "2001:db8::1")] {
        let get = cluster.in_netns(&["ip", family, "route", "get", addr]);
        assert!(!get.status.success(), "{addr} is routable from {NETNS}: {}", text(&get));
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
    cluster.apply(&dependency(&ns1, "web", 2, "app: MyApp\n        environment: dev"));
    cluster.apply(&dependency(&ns2, "api", 1, "app: MyApp"));
    let dict = format!(
        r#"{{"{ns1}": [{{"app": "MyApp", "environment": "dev"}}], "{ns2}": [{{"app": "MyApp"}}]}}"#
    );
    cluster.apply(&pod_reader_rbac(&web, "depwait"));
    cluster.apply(&gated_deployment(
        cluster,
        &web,
        "gated",
        &[
            ("NAMESPACE_LABEL_DICT", &dict),
            ("TIMEOUT", "300"),
            ("RETRY_INTERVAL", "15"),
            // A line with what is still missing every 2 s (the evidence below).
            ("DEPWAIT_HEARTBEAT", "2s"),
        ],
    ));

    let gated = |c: &Cluster| c.pods(&web, "app=gated").into_iter().next();
    cluster.wait_for("depwait running in the gated pod", |c| {
        let pod = gated(c)?;
        init_state(&pod, "depwait")?.get("running").map(|_| ())
    });
    cluster.wait_for("depwait's first progress line", |c| {
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
        init_state(&pod, "depwait").unwrap().get("running").is_some(),
        "depwait should still be running: {line}\n{pod:#}"
    );
    assert!(
        container_state(&pod, "app").and_then(|s| s.get("running")).is_none(),
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

impl Cluster {
    /// A container's log (`kubectl logs`, through the API server and the kubelet), or "".
    fn log_of(&self, ns: &str, selector: &str, container: &str) -> String {
        let out = self.kubectl(&["-n", ns, "logs", "-l", selector, "-c", container, "--tail=-1"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Turn `count` pods of a [`dependency`] Ready for real: create the file their readiness probe
/// asks for, then wait until the kubelet's probe has seen it.
fn make_ready(cluster: &Cluster, ns: &str, selector: &str, count: usize) {
    let pods = cluster.wait_for("the dependency's pods running", |c| {
        let pods = c.pods(ns, selector);
        let running = pods.iter().filter(|p| p["status"]["phase"] == "Running").count();
        (running == count).then_some(pods)
    });
    for pod in &pods {
        let name = pod["metadata"]["name"].as_str().unwrap();
        cluster.kubectl_ok(&["-n", ns, "exec", name, "--", "touch", "/www/ready.html"]);
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

/// A Deployment of busybox httpd whose httpGet readiness probe passes only once
/// `/www/ready.html` exists (see [`make_ready`]). `labels` is YAML at the template's indent.
fn dependency(ns: &str, name: &str, replicas: u32, labels: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      {labels_sel}
  template:
    metadata:
      labels:
        {labels}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: localhost/busybox:e2e
        imagePullPolicy: Never
        command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
        readinessProbe:
          httpGet: {{path: /ready.html, port: 8080}}
          periodSeconds: 1
"#,
        labels_sel = labels.replace("\n        ", "\n      "),
    )
}

/// A ServiceAccount `name` in `ns` that may get, list and watch pods everywhere.
fn pod_reader_rbac(ns: &str, name: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {name}, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {ns}-{name}}}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {ns}-{name}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {ns}-{name}}}
subjects:
- {{kind: ServiceAccount, name: {name}, namespace: {ns}}}
"#
    )
}

/// The seed's Deployment with depwait's image as its init container: `env` for depwait (plus
/// the API server's address: there is no kube-proxy to route the `kubernetes` Service), a
/// busybox app container that says when it starts.
fn gated_deployment(cluster: &Cluster, ns: &str, name: &str, env: &[(&str, &str)]) -> String {
    let mut vars = vec![
        ("KUBERNETES_SERVICE_HOST", cluster.api_host.as_str()),
        ("KUBERNETES_SERVICE_PORT", cluster.api_port.as_str()),
    ];
    vars.extend_from_slice(env);
    let env: String = vars
        .iter()
        .map(|(k, v)| format!("\n        - name: {k}\n          value: {}", Value::from(*v)))
        .collect();
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      serviceAccountName: depwait
      terminationGracePeriodSeconds: 1
      initContainers:
      - name: depwait
        image: localhost/depwait:e2e
        imagePullPolicy: Never
        env:{env}
        resources:
          requests: {{memory: "16Mi", cpu: "10m"}}
          limits: {{memory: "32Mi", cpu: "100m"}}
      containers:
      - name: app
        image: localhost/busybox:e2e
        imagePullPolicy: Never
        command: ["sh", "-c", "echo started; exec sleep 3600"]
"#
    )
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
