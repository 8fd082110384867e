//! The shared test environment: a real etcd + kube-apiserver on loopback (envtest-style), a few
//! users, pod and RBAC helpers, and a runner for the depwait binary.
//!
//! One control plane per test binary, started by whichever test touches [`TestEnv::get`] first;
//! every test works in a namespace of its own, so tests run in parallel without meeting.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

/// Who a kubeconfig authenticates as (static tokens in the API server's token file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    /// In `system:masters`: may do anything.
    Admin,
    /// No permissions until a test grants some (RoleBindings are per namespace).
    Alice,
    /// Like Alice; a second identity for tests that need two.
    Bob,
}

impl User {
    fn name(self) -> &'static str {
        match self {
            User::Admin => "admin",
            User::Alice => "alice",
            User::Bob => "bob",
        }
    }
}

/// One of the two server processes, for fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// etcd: the API server keeps running but cannot read or write.
    Etcd,
    /// kube-apiserver: every connection drops; etcd keeps the data.
    ApiServer,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Etcd => "etcd",
            Server::ApiServer => "apiserver",
        }
    }
}

/// A running control plane.
pub struct TestEnv {
    /// Holds the certificates, tokens, kubeconfigs and server logs; kept for the process.
    dir: tempfile::TempDir,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    /// control-plane.sh: it outlives nothing, stopping the servers once this process is gone.
    _supervisor: std::process::Child,
}

static ENV: LazyLock<TestEnv> = LazyLock::new(TestEnv::launch);
static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestEnv {
    /// The control plane of this test binary, started on first use.
    pub fn get() -> &'static TestEnv {
        &ENV
    }

    fn launch() -> TestEnv {
        let assets = assets_dir();
        let dir = tempfile::Builder::new()
            .prefix("depwait-envtest")
            .tempdir()
            .expect("temp dir");
        let path = dir.path();
        let status = Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(path.join("sa.key"))
            .arg("2048")
            .stderr(Stdio::null())
            .status()
            .expect("openssl, to make the service-account signing key");
        assert!(status.success(), "openssl genrsa failed");
        std::fs::write(
            path.join("tokens.csv"),
            "admin-token,admin,1,\"system:masters\"\nalice-token,alice,2\nbob-token,bob,3\n",
        )
        .unwrap();
        let [etcd, peer, api] = free_ports();
        let supervisor = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/control-plane.sh"))
            .arg(&assets)
            .arg(path)
            .arg(std::process::id().to_string())
            .args([etcd, peer, api].map(|p| p.to_string()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start control-plane.sh");
        let env = TestEnv {
            server: format!("https://127.0.0.1:{api}"),
            dir,
            _supervisor: supervisor,
        };
        env.wait_until_serving();
        env
    }

    /// The API server writes its self-signed certificate at start; once it exists, poll until
    /// an admin request succeeds. Runs on its own thread: this may be called from inside a
    /// test's async runtime, which cannot block on another.
    fn wait_until_serving(&self) {
        let cert = self.dir.path().join("certs/apiserver.crt");
        for _ in 0..600 {
            if cert.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            cert.exists(),
            "kube-apiserver wrote no certificate:\n{}",
            self.logs()
        );
        for user in [User::Admin, User::Alice, User::Bob] {
            self.write_kubeconfig(user);
        }
        let kubeconfig = self.kubeconfig(User::Admin);
        let ok = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                for _ in 0..600 {
                    if let Ok(client) = client_for(&kubeconfig).await {
                        let ns: Api<Namespace> = Api::all(client);
                        if ns.get("default").await.is_ok() {
                            return true;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                false
            })
        })
        .join()
        .unwrap();
        assert!(ok, "kube-apiserver did not become ready:\n{}", self.logs());
    }

    /// Stop a server (control-plane.sh watches for the stop file) and wait until it is gone.
    /// Tests that do this must not share the control plane with tests running at the same time.
    pub async fn stop(&self, server: Server) {
        let dir = self.dir.path();
        std::fs::write(dir.join(format!("stop-{}", server.name())), "").unwrap();
        let stopped = dir.join(format!("stopped-{}", server.name()));
        for _ in 0..300 {
            if stopped.exists() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} did not stop:\n{}", server.name(), self.logs());
    }

    /// Start a stopped server again and wait until the API answers an admin request.
    pub async fn start(&self, server: Server) {
        let dir = self.dir.path();
        std::fs::remove_file(dir.join(format!("stop-{}", server.name()))).unwrap();
        let admin = self.kubeconfig(User::Admin);
        for _ in 0..600 {
            if !dir.join(format!("stopped-{}", server.name())).exists()
                && let Ok(client) = client_for(&admin).await
                && Api::<Namespace>::all(client).get("default").await.is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} did not come back:\n{}", server.name(), self.logs());
    }

    /// Remove the RoleBinding [`grant`] made.
    pub async fn revoke(&self, ns: &str, user: User, verbs: &[&str]) {
        let name = format!("{}-{}", user.name(), verbs.join("-"));
        Api::<RoleBinding>::namespaced(self.client(User::Admin).await, ns)
            .delete(&name, &DeleteParams::default())
            .await
            .unwrap();
    }

    /// The last lines of both servers' logs, for failure messages.
    pub fn logs(&self) -> String {
        let tail = |name: &str| {
            let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        };
        format!(
            "--- etcd.log\n{}\n--- apiserver.log\n{}",
            tail("etcd.log"),
            tail("apiserver.log")
        )
    }

    fn write_kubeconfig(&self, user: User) {
        let token = format!("{}-token", user.name());
        self.write_token_kubeconfig(&self.kubeconfig(user), user.name(), &token);
    }

    /// A kubeconfig authenticating with `token` (e.g. a service account's, from TokenRequest).
    pub fn token_kubeconfig(&self, token: &str) -> PathBuf {
        let path = self.dir.path().join(format!(
            "kubeconfig-token-{}.yaml",
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        self.write_token_kubeconfig(&path, "token-user", token);
        path
    }

    fn write_token_kubeconfig(&self, path: &Path, user: &str, token: &str) {
        let ca = std::fs::read(self.dir.path().join("certs/apiserver.crt")).unwrap();
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "envtest", "cluster": {
                "server": self.server,
                "certificate-authority-data": base64(&ca),
            }}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "envtest", "context": {"cluster": "envtest", "user": user}}],
            "current-context": "envtest",
        });
        std::fs::write(path, config.to_string()).unwrap();
    }

    /// A kubeconfig file (JSON is valid YAML) authenticating as `user` with TLS verification.
    pub fn kubeconfig(&self, user: User) -> PathBuf {
        self.dir
            .path()
            .join(format!("kubeconfig-{}.yaml", user.name()))
    }

    /// A client authenticating as `user`.
    pub async fn client(&self, user: User) -> Client {
        client_for(&self.kubeconfig(user)).await.unwrap()
    }

    /// Create a fresh namespace named from `prefix` and return its name.
    pub async fn namespace(&self, prefix: &str) -> String {
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id() % 100_000,
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        self.create_namespace(&name).await;
        name
    }

    /// Create a namespace with exactly this name (for "created after depwait started").
    pub async fn create_namespace(&self, name: &str) {
        let api: Api<Namespace> = Api::all(self.client(User::Admin).await);
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        api.create(&PostParams::default(), &ns).await.unwrap();
    }

    /// A name no other test uses, for namespaces a test creates later itself.
    pub fn unique_name(&self, prefix: &str) -> String {
        format!(
            "{prefix}-{}-{}",
            std::process::id() % 100_000,
            COUNTER.fetch_add(1, Ordering::SeqCst)
        )
    }

    async fn pods(&self, ns: &str) -> Api<Pod> {
        Api::namespaced(self.client(User::Admin).await, ns)
    }

    /// Create a minimal pod with these labels; the API server gives it phase Pending.
    pub async fn create_pod(&self, ns: &str, name: &str, labels: &[(&str, &str)]) {
        self.create_pod_with(ns, name, labels, json!({})).await;
    }

    async fn create_pod_with(&self, ns: &str, name: &str, labels: &[(&str, &str)], meta: Value) {
        let labels: serde_json::Map<String, Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let mut metadata = json!({"name": name, "labels": labels});
        if let (Some(m), Value::Object(extra)) = (metadata.as_object_mut(), meta) {
            m.extend(extra);
        }
        let pod: Pod = serde_json::from_value(json!({
            "metadata": metadata,
            "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]},
        }))
        .unwrap();
        self.pods(ns)
            .await
            .create(&PostParams::default(), &pod)
            .await
            .unwrap_or_else(|e| panic!("create pod {ns}/{name}: {e}"));
    }

    /// Write the status a kubelet writes for a running pod whose container is (not) ready.
    pub async fn set_pod_ready(&self, ns: &str, name: &str, ready: bool) {
        let s = if ready { "True" } else { "False" };
        let reason = if ready {
            Value::Null
        } else {
            json!("ContainersNotReady")
        };
        self.set_pod_status(
            ns,
            name,
            json!({
                "phase": "Running",
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Initialized", "status": "True"},
                    {"type": "ContainersReady", "status": s, "reason": reason},
                    {"type": "Ready", "status": s, "reason": reason},
                ],
                "containerStatuses": [{
                    "name": "app", "ready": ready, "restartCount": 0,
                    "image": "example.invalid/app:1", "imageID": "",
                    "started": true, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                }],
            }),
        )
        .await;
    }

    /// Replace a pod's status through the status subresource, as a kubelet does.
    pub async fn set_pod_status(&self, ns: &str, name: &str, status: Value) {
        // A merge patch would merge `conditions` lists by replacing them whole anyway; send the
        // full status so no field from an earlier call survives.
        let api = self.pods(ns).await;
        let mut pod = api.get_status(name).await.unwrap();
        pod.status = Some(serde_json::from_value(status).unwrap());
        pod.metadata.managed_fields = None;
        api.replace_status(name, &PostParams::default(), &pod)
            .await
            .unwrap_or_else(|e| panic!("set status of {ns}/{name}: {e}"));
    }

    /// Delete a pod at once (no kubelet runs to finish a graceful deletion).
    pub async fn delete_pod(&self, ns: &str, name: &str) {
        self.pods(ns)
            .await
            .delete(name, &DeleteParams::default().grace_period(0))
            .await
            .unwrap_or_else(|e| panic!("delete {ns}/{name}: {e}"));
    }

    /// A Ready pod that is terminating: a finalizer keeps it after the delete, with
    /// `deletionTimestamp` set, as a pod looks while its containers shut down.
    pub async fn create_terminating_pod(&self, ns: &str, name: &str, labels: &[(&str, &str)]) {
        self.create_pod_with(
            ns,
            name,
            labels,
            json!({"finalizers": ["example.com/hold"]}),
        )
        .await;
        self.set_pod_ready(ns, name, true).await;
        self.pods(ns)
            .await
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }

    /// Drop the finalizer [`create_terminating_pod`] added, letting the pod go.
    pub async fn release_terminating_pod(&self, ns: &str, name: &str) {
        self.pods(ns)
            .await
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": null}})),
            )
            .await
            .unwrap();
    }

    /// Let `user` do `verbs` on core `resources` in `ns` (a Role and a RoleBinding).
    pub async fn grant(&self, ns: &str, user: User, verbs: &[&str], resources: &[&str]) {
        let admin = self.client(User::Admin).await;
        let name = format!("{}-{}", user.name(), verbs.join("-"));
        let role: Role = serde_json::from_value(json!({
            "metadata": {"name": name},
            "rules": [{"apiGroups": [""], "resources": resources, "verbs": verbs}],
        }))
        .unwrap();
        Api::<Role>::namespaced(admin.clone(), ns)
            .create(&PostParams::default(), &role)
            .await
            .unwrap();
        let binding: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user.name()}],
        }))
        .unwrap();
        Api::<RoleBinding>::namespaced(admin, ns)
            .create(&PostParams::default(), &binding)
            .await
            .unwrap();
    }
}

async fn client_for(kubeconfig: &Path) -> Result<Client, kube::Error> {
    let kc = Kubeconfig::read_from(kubeconfig).map_err(kube::Error::InferKubeconfig)?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(kube::Error::InferKubeconfig)?;
    Client::try_from(config)
}

/// The directory with `kube-apiserver` and `etcd`: `KUBEBUILDER_ASSETS`, the cache, or a build
/// (see scripts/envtest-assets.sh; its progress goes to our stderr).
fn assets_dir() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/envtest-assets.sh");
    let out = Command::new("bash")
        .arg(script)
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/envtest-assets.sh");
    assert!(
        out.status.success(),
        "scripts/envtest-assets.sh failed; set KUBEBUILDER_ASSETS to a directory with kube-apiserver and etcd"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(stdout.lines().last().expect("assets dir").trim())
}

/// Three loopback ports nobody listens on (a small race with other processes is acceptable).
fn free_ports() -> [u16; 3] {
    let listeners: Vec<std::net::TcpListener> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    [ports[0], ports[1], ports[2]]
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The binary under test. Cargo names it to integration tests; the demo (an example, which
/// cargo does not tell) finds it beside its own directory, as `cargo build` lays them out.
fn depwait_binary() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_depwait") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join("depwait");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build` first",
        path.display()
    );
    path
}

/// A depwait invocation being prepared.
pub struct Depwait {
    user: User,
    kubeconfig: Option<PathBuf>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Depwait {
    /// depwait as `Admin`, no arguments, a clean environment.
    pub fn new() -> Self {
        Depwait {
            user: User::Admin,
            kubeconfig: None,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Authenticate as `user`.
    pub fn user(mut self, user: User) -> Self {
        self.user = user;
        self
    }

    /// Use this kubeconfig instead of a [`User`]'s.
    pub fn kubeconfig(mut self, path: PathBuf) -> Self {
        self.kubeconfig = Some(path);
        self
    }

    /// Add arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Start it. Only the variables set here reach it: nothing from the developer's shell
    /// (a stray NAMESPACE_LABEL_DICT or KUBECONFIG) can change what a test checks.
    pub fn spawn(self) -> Running {
        let env = TestEnv::get();
        let dir = tempfile::tempdir().unwrap();
        let termination_log = dir.path().join("termination-log");
        let mut child = tokio::process::Command::new(depwait_binary())
            .args(&self.args)
            .env_clear()
            .env(
                "KUBECONFIG",
                self.kubeconfig.unwrap_or_else(|| env.kubeconfig(self.user)),
            )
            .env("DEPWAIT_TERMINATION_LOG", &termination_log)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn depwait");
        // Drain stderr as it comes so a chatty child never blocks on a full pipe, and so tests
        // can wait for a given progress line.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let drain = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Running {
            child,
            stderr,
            drain,
            termination_log,
            _dir: dir,
        }
    }
}

/// A depwait process under test.
pub struct Running {
    child: tokio::process::Child,
    stderr: Arc<Mutex<String>>,
    drain: tokio::task::JoinHandle<()>,
    termination_log: PathBuf,
    _dir: tempfile::TempDir,
}

/// How a depwait run ended.
pub struct Finished {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it logged.
    pub stderr: String,
    /// The termination message, if it wrote one.
    pub termination_log: Option<String>,
}

impl std::fmt::Debug for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code {:?}\n--- stdout\n{}--- stderr\n{}--- termination log\n{}",
            self.code,
            self.stdout,
            self.stderr,
            self.termination_log.as_deref().unwrap_or("(none)")
        )
    }
}

impl Running {
    /// What it has logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Wait until its log contains `needle`: the point a scenario's next step may depend on.
    /// Panics (with the log) after `limit` or if it exits first; a hang guard, not a timing check.
    pub async fn wait_for_log(&mut self, needle: &str, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.stderr().contains(needle) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "depwait exited ({status}) before logging {needle:?}:\n{}",
                    self.stderr()
                );
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "depwait did not log {needle:?} within {limit:?}:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Assert that it is still waiting after `period` (it must not have released).
    pub async fn assert_still_running(&mut self, period: Duration) {
        tokio::time::sleep(period).await;
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "depwait exited ({status}) but should still be waiting:\n{}",
                self.stderr()
            );
        }
    }

    /// Send a signal (`TERM`, `INT`, ...).
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Wait for it to exit (hang guard: one minute) and assert its exit code.
    pub async fn expect_exit(self, code: i32) -> Finished {
        let done = self.wait(Duration::from_secs(60)).await;
        assert_eq!(done.code, Some(code), "{done:?}");
        done
    }

    /// Wait for it to exit. Kills it and panics with its log after `limit`: a hang guard, not
    /// a timing assertion.
    pub async fn wait(mut self, limit: Duration) -> Finished {
        let status = match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => {
                let _ = self.child.kill().await;
                panic!("depwait still running after {limit:?}:\n{}", self.stderr());
            }
        };
        let _ = (&mut self.drain).await;
        let mut stdout = String::new();
        if let Some(mut pipe) = self.child.stdout.take() {
            let _ = pipe.read_to_string(&mut stdout).await;
        }
        Finished {
            code: status.code(),
            stdout,
            stderr: self.stderr(),
            termination_log: std::fs::read_to_string(&self.termination_log).ok(),
        }
    }
}
