//! A real one-node cluster for the e2e tests: built or found by scripts/cluster/build.sh,
//! started by scripts/cluster/start.sh inside a network namespace with no route out, stopped
//! (and the host put back as it was) by that script once this test process is gone.
//!
//! The tests talk to it only through kubectl (the 1.20 build scripts/envtest-assets.sh caches)
//! over the veth into the cluster's namespace, and look inside the namespace with `ip netns exec`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

/// The cluster's network namespace, as start.sh names it.
pub const NETNS: &str = "depwait-e2e";
/// Hang guard for the cluster to start, the node to turn Ready and a pod to get somewhere.
pub const LIMIT: Duration = Duration::from_secs(180);
/// Hang guard for another run's cluster to go (start.sh waits for the machine's one cluster).
const LOCK_LIMIT: Duration = Duration::from_secs(40 * 60);
const POLL: Duration = Duration::from_millis(250);

/// The cluster this test process runs against.
pub struct Cluster {
    /// start.sh's work directory: kubeconfig, env, versions, logs/.
    pub dir: PathBuf,
    /// kubectl from scripts/envtest-assets.sh, or the current release's own.
    kubectl: PathBuf,
    /// The API server's address as pods must be told it (no kube-proxy):
    /// KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT.
    pub api_host: String,
    pub api_port: String,
    /// [`Cluster::api_proxy`]'s address and process, once started.
    proxy: OnceLock<(String, Mutex<Child>)>,
    /// Held, never written: start.sh tears the cluster down when this process is gone.
    _supervisor: Child,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

impl Cluster {
    /// The cluster, started on first use (a fresh build takes 15–25 minutes; see the README).
    pub fn get() -> &'static Cluster {
        CLUSTER.get_or_init(Cluster::launch)
    }

    fn launch() -> Cluster {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cache = script_output(&root.join("scripts/cluster/build.sh"));
        let assets = script_output(&root.join("scripts/envtest-assets.sh"));
        let dir = tempfile::Builder::new()
            .prefix("depwait-e2e.")
            .tempdir_in("/tmp")
            .expect("temp dir")
            // From here on start.sh (stop.sh) deletes it.
            .keep();
        let launched = SystemTime::now();
        let supervisor = Command::new("bash")
            .arg(root.join("scripts/cluster/start.sh"))
            .arg(&cache)
            .arg(&assets)
            .arg(&dir)
            .arg(std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start scripts/cluster/start.sh");
        // A current release built from the module has its own kubectl (DEPWAIT_E2E_VERSION).
        let version = std::env::var("DEPWAIT_E2E_VERSION").unwrap_or_else(|_| "v1.20.2".into());
        let own_kubectl = cache.join(version).join("kubectl");
        let mut cluster = Cluster {
            dir,
            kubectl: if own_kubectl.exists() {
                own_kubectl
            } else {
                assets.join("kubectl")
            },
            api_host: String::new(),
            api_port: String::new(),
            proxy: OnceLock::new(),
            _supervisor: supervisor,
        };
        // One cluster per machine: another run (a developer's, the benchmark's) may hold the
        // lock for a while. start.sh says when it has it; only then does the start count.
        cluster.wait_for_within(LOCK_LIMIT, "the e2e lock (another cluster runs)", |c| {
            c.dir.join("locked").exists().then_some(())
        });
        cluster.wait_for("start.sh to start every component", |c| {
            c.dir.join("started").exists().then_some(())
        });
        let env = std::fs::read_to_string(cluster.dir.join("env")).unwrap();
        for pair in env.split_whitespace() {
            match pair.split_once('=') {
                Some(("KUBERNETES_SERVICE_HOST", v)) => cluster.api_host = v.into(),
                Some(("KUBERNETES_SERVICE_PORT", v)) => cluster.api_port = v.into(),
                _ => {}
            }
        }
        cluster.wait_for_node_ready(launched);
        cluster
    }

    /// The versions start.sh found, one `component version` a line.
    pub fn versions(&self) -> String {
        std::fs::read_to_string(self.dir.join("versions")).unwrap_or_default()
    }

    /// The API server's minor version (20 for v1.20.2).
    pub fn server_minor(&self) -> u32 {
        let versions = self.versions();
        let line = versions
            .lines()
            .find(|l| l.starts_with("kube-apiserver "))
            .unwrap_or_default();
        line.split('.')
            .nth(1)
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }

    /// Node `Ready=True` with a heartbeat from this kubelet (newer than `since`): a Node keeps its
    /// last status across kubelet restarts.
    pub fn wait_for_node_ready(&self, since: SystemTime) {
        let since = humantime::format_rfc3339_seconds(since - Duration::from_secs(1)).to_string();
        self.wait_for("node e2e-node Ready with a fresh heartbeat", |c| {
            let node = c.get_json(&["get", "node", "e2e-node"])?;
            let ready = condition(&node, "Ready")?;
            // RFC 3339 in UTC with seconds compares as text.
            (ready["status"] == "True" && ready["lastHeartbeatTime"].as_str()? >= since.as_str())
                .then_some(())
        });
    }

    /// A power cut on the node: the kubelet and containerd killed, every container with them
    /// (start.sh does it on WORK_DIR/stop-node); then both started again, and the node Ready
    /// with a fresh heartbeat.
    pub fn restart_node(&self) {
        let (stop, stopped) = (self.dir.join("stop-node"), self.dir.join("stopped-node"));
        std::fs::write(&stop, "").unwrap();
        self.wait_for("the kubelet, containerd and every container gone", |_| {
            stopped.exists().then_some(())
        });
        let restarted = SystemTime::now();
        std::fs::remove_file(&stop).unwrap();
        self.wait_for_node_ready(restarted);
    }

    /// Run kubectl with the admin kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with_input(args, None)
    }

    fn kubectl_with_input(&self, args: &[&str], input: Option<&str>) -> Output {
        let mut child = Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(self.dir.join("kubeconfig"))
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        if let Some(input) = input {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// kubectl that must succeed; its stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(out.status.success(), "kubectl {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f -` of YAML documents.
    pub fn apply(&self, yaml: &str) {
        let out = self.kubectl_with_input(&["apply", "-f", "-"], Some(yaml));
        assert!(
            out.status.success(),
            "kubectl apply: {}\n{yaml}",
            text(&out)
        );
    }

    /// `kubectl get ... -o json`, or None if it failed (not found yet).
    pub fn get_json(&self, args: &[&str]) -> Option<Value> {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        let out = self.kubectl(&args);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    /// The pods of namespace `ns` matching `selector`.
    pub fn pods(&self, ns: &str, selector: &str) -> Vec<Value> {
        self.get_json(&["-n", ns, "get", "pods", "-l", selector])
            .and_then(|list| list["items"].as_array().cloned())
            .unwrap_or_default()
    }

    /// A namespace of its own for a test, named after `prefix` (unique within this cluster).
    pub fn namespace(&self, prefix: &str) -> String {
        let name = format!("{prefix}-{}", std::process::id() % 100_000);
        self.kubectl_ok(&["create", "namespace", &name]);
        name
    }

    /// Poll `probe` until it gives a value; `LIMIT` is a hang guard, not a timing assertion. On
    /// failure: what was awaited, and the components' last log lines.
    pub fn wait_for<T>(&self, what: &str, probe: impl FnMut(&Cluster) -> Option<T>) -> T {
        self.wait_for_within(LIMIT, what, probe)
    }

    /// [`Cluster::wait_for`] with a hang guard of its own.
    pub fn wait_for_within<T>(
        &self,
        limit: Duration,
        what: &str,
        mut probe: impl FnMut(&Cluster) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = probe(self) {
                return v;
            }
            if let Some(why) = self.exited() {
                panic!("waiting for {what}: {why}\n{}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {limit:?}\n{}",
                self.logs()
            );
            std::thread::sleep(POLL);
        }
    }

    /// A component that exited without being asked to, as start.sh records it.
    fn exited(&self) -> Option<String> {
        // "start", "netns": start.sh could not take the lock or make the network namespace.
        let names = [
            "start",
            "netns",
            "etcd",
            "apiserver",
            "controller-manager",
            "scheduler",
            "containerd",
            "kubelet",
        ];
        names.into_iter().find_map(|name| {
            let status = std::fs::read_to_string(self.dir.join(format!("exited-{name}"))).ok()?;
            Some(format!("{name} exited with status {}", status.trim()))
        })
    }

    /// The last lines of every component's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for name in [
            "apiserver",
            "controller-manager",
            "scheduler",
            "containerd",
            "kubelet",
        ] {
            let text = std::fs::read_to_string(self.dir.join(format!("logs/{name}.log")))
                .unwrap_or_default();
            // klog's errors and fatals ("E1202 ...", "F1202 ..."), then the last lines.
            let errors: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with('E') || l.starts_with('F'))
                .collect();
            let lines: Vec<&str> = text.lines().collect();
            out += &format!(
                "--- {name}.log (errors)\n{}\n--- {name}.log (end)\n{}\n",
                errors[errors.len().saturating_sub(8)..].join("\n"),
                lines[lines.len().saturating_sub(8)..].join("\n")
            );
        }
        out
    }

    /// The API in plain HTTP for pods (`http://GATEWAY:8001`, the pod bridge's gateway):
    /// `kubectl proxy` with the admin kubeconfig, inside the cluster's namespace (which has no
    /// route out), started on first use. For test apps that look at the API from a pod with busybox: its own TLS 1.2 client
    /// gets "handshake failure" from a 1.37 API server (on the host, busybox's wget runs the
    /// host's `openssl s_client` instead, which a pod does not have). The process is in the
    /// cluster's namespace, so stop.sh kills it with the rest.
    pub fn api_proxy(&self) -> &str {
        let (url, _) = self.proxy.get_or_init(|| {
            let resolv = std::fs::read_to_string(self.dir.join("resolv.conf")).unwrap();
            // start.sh points pods' resolver at the bridge's gateway (nothing answers there).
            let gateway = resolv
                .split_whitespace()
                .nth(1)
                .expect("a nameserver in resolv.conf")
                .to_string();
            let child = Command::new("ip")
                .args(["netns", "exec", NETNS])
                .arg(&self.kubectl)
                .arg("--kubeconfig")
                .arg(self.dir.join("kubeconfig"))
                // Every address of the namespace: the bridge (and its gateway address) appears
                // only with the first pod.
                .args(["proxy", "--address", "0.0.0.0", "--port", "8001"])
                .args(["--accept-hosts", ".*"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start kubectl proxy");
            let url = format!("http://{gateway}:8001");
            self.wait_for("kubectl proxy to answer", |c| {
                let version = "http://127.0.0.1:8001/version";
                let out = c.in_netns(&["busybox", "wget", "-q", "-O", "/dev/null", version]);
                out.status.success().then_some(())
            });
            (url, Mutex::new(child))
        });
        url
    }

    /// Run a command inside the cluster's network namespace.
    pub fn in_netns(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", NETNS])
            .args(args)
            .output()
            .expect("ip netns exec")
    }
}

/// A condition of an object's status, by type.
pub fn condition<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// stdout and stderr, for failure messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Run a script whose last stdout line is a directory; its progress goes to our stderr.
fn script_output(script: &Path) -> PathBuf {
    let out = Command::new("bash")
        .arg(script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed (see its output above)",
        script.display()
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(stdout.lines().last().expect("a directory").trim())
}
