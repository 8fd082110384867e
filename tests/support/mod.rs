//! The shared test environment: a real etcd + kube-apiserver on loopback (envtest-style), a few
//! users, pod and RBAC helpers, and a runner for the depwait binary.
//!
//! One control plane per test binary, started by whichever test touches [`TestEnv::get`] first;
//! every test works in a namespace of its own, so tests run in parallel without meeting.
//!
//! Layout:
//! - here: users, kubeconfigs, clients, namespaces, pods, RBAC — what a scenario is built from;
//! - `control_plane`: starting the servers (through `control-plane.sh`, which also stops them
//!   when the test process ends), waiting until they serve, and stopping them on purpose;
//! - `depwait`: running the binary under test (the one way tests do) with a clean environment,
//!   its log read through a cursor, holds shown by heartbeats, and a hang guard;
//! - `services`: Services and EndpointSlices, written as the endpoint-slice controller would;
//! - `dns`: an authoritative DNS server on loopback for the DNS path of HOST arguments;
//! - `objects`: Jobs, workloads, custom resources and CRDs, with statuses set as their
//!   controllers would.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod certs;
mod control_plane;
mod depwait;
mod dns;
mod objects;
mod services;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};

#[allow(unused_imports)] // likewise
pub use {
    control_plane::Server,
    depwait::{Depwait, Finished, Running, Sink},
    dns::DnsServer,
    objects::{
        CONFIG_MAP, DAEMON_SET, DEPLOYMENT, JOB, Kind, PVC, STATEFUL_SET, pod_template,
        workload_template,
    },
};

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
    const ALL: [User; 3] = [User::Admin, User::Alice, User::Bob];

    fn name(self) -> &'static str {
        match self {
            User::Admin => "admin",
            User::Alice => "alice",
            User::Bob => "bob",
        }
    }

    fn token(self) -> String {
        format!("{}-token", self.name())
    }

    /// Its line in the API server's `--token-auth-file`: token,user,uid[,"group,..."].
    fn token_file_line(self) -> String {
        let groups = if self == User::Admin {
            ",\"system:masters\""
        } else {
            ""
        };
        format!("{},{},{}{groups}\n", self.token(), self.name(), self.name())
    }
}

/// A running control plane.
pub struct TestEnv {
    /// Certificates, tokens, kubeconfigs, etcd's data and the server logs. control-plane.sh
    /// deletes it after this process ends, as nothing in a static is ever dropped.
    dir: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    /// Where kube-apiserver and etcd came from; `kubectl` too, when it was built with them.
    assets: PathBuf,
    /// control-plane.sh. Holding it holds the write end of its stdin, whose closing at process
    /// exit is what makes it stop the servers.
    _supervisor: std::process::Child,
}

/// A start failure is kept as its message, so that every test of the binary fails with it, not
/// only the first one (the others would otherwise see a poisoned lock).
static ENV: LazyLock<Result<TestEnv, String>> = LazyLock::new(|| {
    std::panic::catch_unwind(TestEnv::launch).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
});

/// Makes names unique within this test binary (which has the control plane to itself).
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The hang guard of every wait in the tests (a process to exit or log a line, a permission to
/// reach the RBAC authorizer's cache, a poll for a condition): a wait that reaches it has
/// failed, whatever it waited for; no test asserts on how long anything took. It must cover
/// the longest legitimate wait: a list through an etcd outage (faults.rs), which kube-apiserver
/// 1.20 holds for its 60 s request timeout before failing it.
pub const LIMIT: Duration = Duration::from_secs(90);

impl TestEnv {
    /// The control plane of this test binary, started on first use.
    pub fn get() -> &'static TestEnv {
        match &*ENV {
            Ok(env) => env,
            Err(why) => panic!("the test control plane did not start: {why}"),
        }
    }

    /// A kubeconfig file (JSON is valid YAML) authenticating as `user`, with TLS verification
    /// against the server's own CA.
    pub fn kubeconfig(&self, user: User) -> PathBuf {
        self.dir.join(format!("kubeconfig-{}.yaml", user.name()))
    }

    /// A kubeconfig authenticating with `token` (e.g. a service account's, from TokenRequest).
    pub fn token_kubeconfig(&self, token: &str) -> PathBuf {
        let path = self.dir.join(format!(
            "kubeconfig-token-{}.yaml",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        self.write_kubeconfig(&path, "token-user", token);
        path
    }

    /// What a client trusts to reach this server (a pod's `ca.crt`). apiserver.crt is the
    /// self-signed serving certificate followed by the CA that signed it: trusting the file
    /// trusts exactly this server, at `127.0.0.1` (an IP SAN) among other names.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("certs/apiserver.crt")
    }

    /// The API server's port on 127.0.0.1 (a pod's `KUBERNETES_SERVICE_PORT`).
    pub fn port(&self) -> u16 {
        let port = self.server.rsplit(':').next().and_then(|p| p.parse().ok());
        port.expect("server is https://127.0.0.1:PORT")
    }

    /// `kubectl` of the same build as the server (scripts/envtest-assets.sh caches it).
    pub fn kubectl(&self) -> PathBuf {
        let path = self.assets.join("kubectl");
        assert!(
            path.exists(),
            "no kubectl in {}: set KUBEBUILDER_ASSETS to a directory with kubectl too, or unset \
             it to build one",
            self.assets.display()
        );
        path
    }

    /// `kubectl apply -f -` of `yaml` (YAML or JSON) as admin; panics with kubectl's error.
    pub fn apply(&self, yaml: &str) {
        let mut kubectl = std::process::Command::new(self.kubectl());
        kubectl
            .arg("--kubeconfig")
            .arg(self.kubeconfig(User::Admin))
            .args(["apply", "-f", "-"]);
        let out = with_stdin(&mut kubectl, yaml);
        assert!(
            out.status.success(),
            "kubectl apply failed:\n{}\n{yaml}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A token for a ServiceAccount, minted as the kubelet mints a pod's (TokenRequest).
    pub async fn service_account_token(&self, ns: &str, name: &str) -> String {
        Api::<ServiceAccount>::namespaced(self.client(User::Admin).await, ns)
            .create_token_request(name, &PostParams::default(), &TokenRequest::default())
            .await
            .unwrap_or_else(|e| panic!("TokenRequest for {ns}/{name}: {e}"))
            .status
            .expect("a TokenRequest answer has a status")
            .token
    }

    fn write_kubeconfig(&self, path: &Path, user: &str, token: &str) {
        let ca = std::fs::read(self.ca_file()).unwrap();
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

    /// A client authenticating as `user`. Made afresh each time: a kube `Client` belongs to the
    /// runtime it was made in, and every `#[tokio::test]` has its own.
    pub async fn client(&self, user: User) -> Client {
        client_for(&self.kubeconfig(user))
            .await
            .unwrap_or_else(|e| panic!("client for {user:?}: {e}"))
    }

    /// Create a fresh namespace named from `prefix` and return its name.
    pub async fn namespace(&self, prefix: &str) -> String {
        let name = self.unique_name(prefix);
        self.create_namespace(&name).await;
        name
    }

    /// A name no other test uses, for a namespace a test creates later itself.
    pub fn unique_name(&self, prefix: &str) -> String {
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id() % 100_000,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dns_label = name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        assert!(
            dns_label,
            "{name:?} is no DNS-1123 label: use a short prefix of a-z, 0-9 and '-'"
        );
        name
    }

    /// Create a namespace with exactly this name (for "created after depwait started").
    pub async fn create_namespace(&self, name: &str) {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        Api::<Namespace>::all(self.client(User::Admin).await)
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
    }

    async fn pods(&self, ns: &str) -> Api<Pod> {
        Api::namespaced(self.client(User::Admin).await, ns)
    }

    /// Create a minimal pod with these labels. No scheduler or kubelet runs here: it stays
    /// Pending, with no status, until a test writes one.
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

    /// Replace a pod's whole status through the status subresource, as a kubelet does: e.g.
    /// `{"phase": "Failed", "reason": "Evicted"}`, or a container waiting in CrashLoopBackOff.
    pub async fn set_pod_status(&self, ns: &str, name: &str, status: Value) {
        // A merge patch would keep fields an earlier call set; a replace keeps none.
        let api = self.pods(ns).await;
        let mut pod = api
            .get_status(name)
            .await
            .unwrap_or_else(|e| panic!("get status of {ns}/{name}: {e}"));
        pod.status = Some(serde_json::from_value(status).expect("a valid PodStatus"));
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

    /// A Ready pod that is terminating, as a pod looks while its containers shut down: it is
    /// created with the finalizer `example.com/hold` and then deleted, so the API server sets
    /// `deletionTimestamp` but keeps the pod until [`Self::release_terminating_pod`].
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
            .unwrap_or_else(|e| panic!("delete {ns}/{name}: {e}"));
    }

    /// Drop the finalizer [`Self::create_terminating_pod`] added: the deletion completes.
    pub async fn release_terminating_pod(&self, ns: &str, name: &str) {
        self.pods(ns)
            .await
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": null}})),
            )
            .await
            .unwrap_or_else(|e| panic!("release {ns}/{name}: {e}"));
    }

    /// Let `user` do `verbs` on core `resources` (e.g. `pods`, `pods/status`) in `ns`: a Role
    /// and a RoleBinding, both named after the user and verbs (one grant per user and verb set
    /// in a namespace). Returns once the API server enforces it.
    pub async fn grant(&self, ns: &str, user: User, verbs: &[&str], resources: &[&str]) {
        let admin = self.client(User::Admin).await;
        let name = grant_name(user, verbs);
        let role: Role = serde_json::from_value(json!({
            "metadata": {"name": name},
            "rules": [{"apiGroups": [""], "resources": resources, "verbs": verbs}],
        }))
        .unwrap();
        Api::<Role>::namespaced(admin.clone(), ns)
            .create(&PostParams::default(), &role)
            .await
            .unwrap_or_else(|e| panic!("create Role {ns}/{name}: {e}"));
        let binding: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user.name()}],
        }))
        .unwrap();
        Api::<RoleBinding>::namespaced(admin, ns)
            .create(&PostParams::default(), &binding)
            .await
            .unwrap_or_else(|e| panic!("create RoleBinding {ns}/{name}: {e}"));
        self.await_access(ns, user.name(), verbs, resources, true)
            .await;
    }

    /// Undo [`Self::grant`] (by deleting its RoleBinding); returns once the API server denies.
    pub async fn revoke(&self, ns: &str, user: User, verbs: &[&str]) {
        let admin = self.client(User::Admin).await;
        let name = grant_name(user, verbs);
        let role = Api::<Role>::namespaced(admin.clone(), ns)
            .get(&name)
            .await
            .unwrap_or_else(|e| panic!("no grant {ns}/{name} to revoke: {e}"));
        Api::<RoleBinding>::namespaced(admin, ns)
            .delete(&name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("delete RoleBinding {ns}/{name}: {e}"));
        let resources = role.rules.unwrap_or_default().remove(0).resources;
        let resources: Vec<&str> = resources.iter().flatten().map(String::as_str).collect();
        self.await_access(ns, user.name(), verbs, &resources, false)
            .await;
    }

    /// Like [`Self::grant`]'s wait, for RBAC a test wrote itself: returns once the API server
    /// allows (or, with `allowed` false, denies) ServiceAccount `sa_ns/sa` `verbs` on core
    /// `resources` in `ns`.
    pub async fn await_service_account_access(
        &self,
        (sa_ns, sa): (&str, &str),
        ns: &str,
        verbs: &[&str],
        resources: &[&str],
        allowed: bool,
    ) {
        let user = format!("system:serviceaccount:{sa_ns}:{sa}");
        self.await_access(ns, &user, verbs, resources, allowed)
            .await;
    }

    /// The RBAC authorizer reads Roles from a cache that lags the write by a little; a test
    /// that starts depwait right after `grant` must not see the old answer.
    async fn await_access(
        &self,
        ns: &str,
        user: &str,
        verbs: &[&str],
        resources: &[&str],
        allowed: bool,
    ) {
        let reviews = Api::<SubjectAccessReview>::all(self.client(User::Admin).await);
        let deadline = tokio::time::Instant::now() + LIMIT;
        for verb in verbs {
            for resource in resources {
                let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
                let review: SubjectAccessReview = serde_json::from_value(json!({"spec": {
                    "user": user,
                    "resourceAttributes": {
                        "namespace": ns, "verb": verb,
                        "resource": resource, "subresource": subresource,
                    },
                }}))
                .unwrap();
                loop {
                    let answer = reviews
                        .create(&PostParams::default(), &review)
                        .await
                        .unwrap_or_else(|e| panic!("SubjectAccessReview: {e}"));
                    if answer.status.is_some_and(|s| s.allowed == allowed) {
                        break;
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "{user} {verb} {resource} in {ns}: still not allowed={allowed}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

fn grant_name(user: User, verbs: &[&str]) -> String {
    format!("{}-{}", user.name(), verbs.join("-"))
}

async fn client_for(kubeconfig: &Path) -> Result<Client, kube::Error> {
    let kc = Kubeconfig::read_from(kubeconfig).map_err(kube::Error::InferKubeconfig)?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(kube::Error::InferKubeconfig)?;
    Client::try_from(config)
}

/// Standard base64 with padding, for `certificate-authority-data` (not worth a dependency).
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

/// Run `command` with `input` on its stdin; its output (stdout and stderr collected).
pub fn with_stdin(command: &mut std::process::Command, input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}
