//! The manifests in `k8s/` against a real API server: every kustomization renders with the
//! test server's kubectl (whose `kubectl kustomize` is the old embedded kustomize v2.0.3, so
//! newer kubectls render them too); the rendered RBAC, applied server-side through the overlay
//! the README shows, lets a ServiceAccount's token (TokenRequest) wait — and the same with one
//! rule taken away ends in exit 3.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use support::{Depwait, TestEnv, User};

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s")
}

/// `kubectl kustomize DIR`, parsed: one JSON value per document. Panics with kubectl's error.
fn kustomize(dir: &Path) -> Vec<Value> {
    let out = Command::new(TestEnv::get().kubectl())
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("run kubectl kustomize");
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_saphyr::from_multiple(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// An overlay as the README tells users to write one: directories of `k8s/` as bases, in a
/// namespace of their own, with a prefix for cluster-wide names. Rendered and applied
/// server-side with kubectl, as admin.
fn apply_overlay(ns: &str, prefix: &str, bases: &[&str]) -> Vec<Value> {
    let env = TestEnv::get();
    let dir = tempfile::tempdir().unwrap();
    // kustomize v2 takes bases only as relative paths.
    let up = "../".repeat(dir.path().components().count() - 1);
    let k8s = k8s_dir();
    let k8s = k8s
        .strip_prefix("/")
        .expect("an absolute CARGO_MANIFEST_DIR");
    let bases: String = bases
        .iter()
        .map(|b| format!("- {up}{}\n", k8s.join(b).display()))
        .collect();
    let mut kustomization = format!("namespace: {ns}\nbases:\n{bases}");
    if !prefix.is_empty() {
        kustomization.push_str(&format!("namePrefix: {prefix}\n"));
    }
    std::fs::write(dir.path().join("kustomization.yaml"), kustomization).unwrap();
    let docs = kustomize(dir.path());
    let rendered = dir.path().join("rendered.json");
    let list = json!({"apiVersion": "v1", "kind": "List", "items": docs});
    std::fs::write(&rendered, list.to_string()).unwrap();
    let out = Command::new(env.kubectl())
        .arg("--kubeconfig")
        .arg(env.kubeconfig(User::Admin))
        .args([
            "apply",
            "--server-side",
            "--field-manager",
            "depwait-test",
            "-f",
        ])
        .arg(&rendered)
        .output()
        .expect("run kubectl apply");
    assert!(
        out.status.success(),
        "kubectl apply --server-side failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    docs
}

fn kinds(docs: &[Value]) -> Vec<String> {
    let mut kinds: Vec<String> = docs
        .iter()
        .map(|d| d["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    kinds.sort();
    kinds
}

/// Every kustomization in k8s/ renders, with what it promises; the example's init container
/// carries the hardening and the measured resources; the GitOps examples point at it.
#[tokio::test]
async fn every_kustomization_renders() {
    for dir in [k8s_dir(), k8s_dir().join("rbac")] {
        assert_eq!(
            kinds(&kustomize(&dir)),
            ["ClusterRole", "ClusterRoleBinding", "ServiceAccount"]
        );
    }
    assert_eq!(
        kinds(&kustomize(&k8s_dir().join("namespaced"))),
        ["Role", "RoleBinding", "ServiceAccount"]
    );
    assert_eq!(
        kinds(&kustomize(&k8s_dir().join("events"))),
        ["Role", "RoleBinding"]
    );

    let example = kustomize(&k8s_dir().join("example"));
    let web = example
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "example-web")
        .expect("the example-web Deployment");
    let pod = &web["spec"]["template"]["spec"];
    let sa = example
        .iter()
        .find(|d| d["kind"] == "ServiceAccount")
        .expect("the ServiceAccount");
    assert_eq!(pod["serviceAccountName"], sa["metadata"]["name"]);
    let binding = example
        .iter()
        .find(|d| d["kind"] == "ClusterRoleBinding")
        .expect("the ClusterRoleBinding");
    assert_eq!(
        binding["subjects"][0]["namespace"], sa["metadata"]["namespace"],
        "the binding follows the ServiceAccount into the overlay's namespace"
    );
    assert_eq!(binding["subjects"][0]["name"], sa["metadata"]["name"]);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 10001);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let init = &pod["initContainers"][0];
    assert_eq!(init["image"], "localhost/depwait:0.1.0");
    let security = &init["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(security["runAsUser"], 10001);
    for field in ["requests", "limits"] {
        assert!(
            init["resources"][field]["memory"].is_string(),
            "{field}: {init}"
        );
    }

    for file in ["flux-kustomization.yaml", "argocd-application.yaml"] {
        let text = std::fs::read_to_string(k8s_dir().join("gitops").join(file)).unwrap();
        let doc: Value = serde_saphyr::from_str(&text).unwrap();
        let path = doc["spec"]["path"]
            .as_str()
            .or(doc["spec"]["source"]["path"].as_str())
            .unwrap_or_else(|| panic!("{file}: no path"));
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        assert!(
            dir.join("kustomization.yaml").exists(),
            "{file} points at {path}, which is no kustomization"
        );
    }
}

/// The base, applied into a namespace of its own, is enough for its ServiceAccount to wait on
/// pods and on a Service anywhere in the cluster; without `watch` on pods a wait that has to
/// watch exits 3 and names the rule.
#[tokio::test]
async fn base_rbac_is_sufficient_and_each_rule_is_needed() {
    let env = TestEnv::get();
    let home = env.namespace("kust-home").await;
    let db = env.namespace("kust-db").await;
    let prefix = format!("{home}-");
    apply_overlay(&home, &prefix, &["rbac"]);
    let sa = format!("{prefix}depwait");
    let role = format!("{prefix}depwait");
    env.await_service_account_access(
        (&home, &sa),
        &db,
        &["get", "list", "watch"],
        &["pods"],
        true,
    )
    .await;

    env.create_pod(&db, "zk-0", &[("app", "zk")]).await;
    env.set_pod_ready(&db, "zk-0", true).await;
    env.create_service(&db, "mysql-read", false).await;
    env.set_endpoint_slice(&db, "mysql-read", "mysql-read-a", &[(None, true)])
        .await;
    let kubeconfig = env.token_kubeconfig(&env.service_account_token(&home, &sa).await);
    let done = Depwait::new()
        .kubeconfig(kubeconfig.clone())
        .args(["--pods", &format!("{db}:app=zk")])
        .args(["--service", &format!("{db}/mysql-read")])
        .spawn()
        .expect_exit(0)
        .await;
    assert!(done.stderr.contains("1 ready endpoint"), "{done:?}");

    // Take `watch` away from the pods rule (a server-side apply of the rest would do the same).
    let admin = env.client(User::Admin).await;
    let roles = Api::<ClusterRole>::all(admin);
    let mut cluster_role = roles.get(&role).await.unwrap();
    let rules = cluster_role.rules.as_mut().unwrap();
    let pods = rules
        .iter_mut()
        .find(|r| r.resources.as_ref().is_some_and(|r| r == &["pods"]))
        .expect("a rule for pods alone");
    pods.verbs.retain(|v| v != "watch");
    let patch = json!({"rules": cluster_role.rules});
    roles
        .patch(&role, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    env.await_service_account_access((&home, &sa), &db, &["watch"], &["pods"], false)
        .await;
    // With every pod Ready the first list is enough and no watch is needed; a pod that is not
    // Ready has to be watched.
    env.set_pod_ready(&db, "zk-0", false).await;
    let done = Depwait::new()
        .kubeconfig(kubeconfig)
        .args(["--pods", &format!("{db}:app=zk")])
        .spawn()
        .expect_exit(3)
        .await;
    assert!(done.stderr.contains("cannot watch pods"), "{done:?}");
}

/// The namespaced variant (with the optional events piece) lets the ServiceAccount wait in its
/// own namespace and record its Warning Event there, and nowhere else: another namespace is
/// exit 3.
#[tokio::test]
async fn namespaced_variant_stays_in_its_namespace() {
    let env = TestEnv::get();
    let ns = env.namespace("kust-ns").await;
    let other = env.namespace("kust-other").await;
    apply_overlay(&ns, "", &["namespaced", "events"]);
    env.await_service_account_access(
        (&ns, "depwait"),
        &ns,
        &["get", "list", "watch"],
        &["pods"],
        true,
    )
    .await;
    env.await_service_account_access((&ns, "depwait"), &ns, &["create"], &["events"], true)
        .await;
    let kubeconfig = env.token_kubeconfig(&env.service_account_token(&ns, "depwait").await);

    // The waiting pod itself, for the Event (found by name; its UID through `get`).
    env.create_pod(&ns, "web-0", &[("app", "web")]).await;
    env.create_pod(&ns, "db-0", &[("app", "db")]).await;
    let done = Depwait::new()
        .kubeconfig(kubeconfig.clone())
        .args(["--pods", &format!("{ns}:app=db"), "--timeout", "1s"])
        .args(["--emit-events"])
        .env("POD_NAME", "web-0")
        .env("POD_NAMESPACE", &ns)
        .spawn()
        .expect_exit(1)
        .await;
    let events = Api::<Event>::namespaced(env.client(User::Admin).await, &ns)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(
        events
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("DependenciesNotReady")),
        "no Warning Event recorded: {done:?}"
    );

    env.set_pod_ready(&ns, "db-0", true).await;
    Depwait::new()
        .kubeconfig(kubeconfig.clone())
        .args(["--pods", &format!("{ns}:app=db")])
        .spawn()
        .expect_exit(0)
        .await;
    Depwait::new()
        .kubeconfig(kubeconfig)
        .args(["--pods", &format!("{other}:app=db")])
        .spawn()
        .expect_exit(3)
        .await;
}

/// The example is valid for a real API server: applied server-side with kubectl (which checks
/// every field against the server's schema and refuses unknown ones), its Deployment keeps the
/// init container's hardening.
#[tokio::test]
async fn example_applies_server_side() {
    let env = TestEnv::get();
    let ns = env.namespace("kust-example").await;
    let prefix = format!("{ns}-");
    apply_overlay(&ns, &prefix, &["example"]);
    let web = Api::<Deployment>::namespaced(env.client(User::Admin).await, &ns)
        .get(&format!("{prefix}example-web"))
        .await
        .unwrap();
    let pod = web.spec.unwrap().template.spec.unwrap();
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some(format!("{prefix}example-depwait").as_str())
    );
    let init = &pod.init_containers.unwrap()[0];
    let security = init.security_context.clone().unwrap();
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.run_as_user, Some(10001));
    let seccomp = pod.security_context.unwrap().seccomp_profile.unwrap();
    assert_eq!(seccomp.type_, "RuntimeDefault");
}

/// `depwait rbac` output for another service account, applied with `kubectl apply` into a
/// namespace that has the namespaced variant installed, leaves the variant's Role alone (both
/// used to be named `depwait`, so the output rewrote the base's rules): the base's account
/// still may watch Services there, and the new account only what its wait needs.
#[tokio::test]
async fn rbac_output_never_rewrites_the_installed_base() {
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::Role;
    let env = TestEnv::get();
    let ns = env.namespace("kust-mixed").await;
    apply_overlay(&ns, "", &["namespaced"]);
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "web"}})).unwrap();
    Api::<ServiceAccount>::namespaced(env.client(User::Admin).await, &ns)
        .create(&Default::default(), &sa)
        .await
        .unwrap();
    let rbac = Depwait::new()
        .args(["rbac", "--service-account", &format!("{ns}/web")])
        .args(["--pods", &format!("{ns}:app=db")])
        .spawn()
        .expect_exit(0)
        .await;
    let mut kubectl = Command::new(env.kubectl())
        .arg("--kubeconfig")
        .arg(env.kubeconfig(User::Admin))
        .args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    kubectl
        .stdin
        .take()
        .unwrap()
        .write_all(rbac.stdout.as_bytes())
        .unwrap();
    let out = kubectl.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = Api::<Role>::namespaced(env.client(User::Admin).await, &ns)
        .get("depwait")
        .await
        .unwrap();
    let resources: Vec<String> = base
        .rules
        .unwrap_or_default()
        .into_iter()
        .flat_map(|r| r.resources.unwrap_or_default())
        .collect();
    assert!(
        resources.contains(&"services".to_string()),
        "the base Role lost its rules: {resources:?}\n{}",
        rbac.stdout
    );
    env.await_service_account_access((&ns, "web"), &ns, &["list", "watch"], &["pods"], true)
        .await;
    env.await_service_account_access((&ns, "web"), &ns, &["list"], &["services"], false)
        .await;
}
