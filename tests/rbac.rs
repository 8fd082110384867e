//! `depwait rbac` against a real API server: its output, applied as is, is enough for a
//! service account to wait — and grants nothing more than that.

mod support;

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Api;
use kube::api::PostParams;
use serde::Deserialize;
use support::{Depwait, TestEnv, User};

/// Apply the generated YAML, mint a token for the service account (TokenRequest), wait with it,
/// and check every rule is exactly pods get/list/watch in the waited-on namespaces.
#[tokio::test]
async fn generated_rbac_is_sufficient_and_minimal() {
    let env = TestEnv::get();
    let app = env.namespace("rbac-app").await;
    let db = env.namespace("rbac-db").await;
    let cache = env.namespace("rbac-cache").await;
    let admin = env.client(User::Admin).await;
    let deps = [
        "--pods".to_string(),
        format!("{db}:app=zk:2"),
        "--pods".into(),
        format!("{cache}:app=redis"),
    ];
    let rbac = service_account_and_its_rbac(env, &app, &deps).await;

    let mut namespaces = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&rbac.stdout) {
        let value = serde_json::Value::deserialize(doc).unwrap();
        let ns = value["metadata"]["namespace"].as_str().unwrap().to_string();
        match value["kind"].as_str() {
            Some("Role") => {
                let role: Role = serde_json::from_value(value).unwrap();
                let rules = role.rules.clone().unwrap_or_default();
                assert_eq!(rules.len(), 1, "{role:?}");
                assert_eq!(rules[0].api_groups, Some(vec![String::new()]));
                assert_eq!(rules[0].resources, Some(vec!["pods".to_string()]));
                assert_eq!(rules[0].verbs, ["get", "list", "watch"]);
                Api::<Role>::namespaced(admin.clone(), &ns)
                    .create(&PostParams::default(), &role)
                    .await
                    .unwrap();
                namespaces.push(ns);
            }
            Some("RoleBinding") => {
                let binding: RoleBinding = serde_json::from_value(value).unwrap();
                Api::<RoleBinding>::namespaced(admin.clone(), &ns)
                    .create(&PostParams::default(), &binding)
                    .await
                    .unwrap();
            }
            other => panic!("unexpected kind {other:?} in:\n{}", rbac.stdout),
        }
    }
    namespaces.sort();
    let mut want = vec![db.clone(), cache.clone()];
    want.sort();
    assert_eq!(
        namespaces, want,
        "a Role per waited-on namespace, nowhere else"
    );

    let token = env.service_account_token(&app, "web").await;
    let kubeconfig = env.token_kubeconfig(&token);
    for (ns, pods, label) in [
        (&db, ["zk-0", "zk-1"].as_slice(), "zk"),
        (&cache, ["redis-0"].as_slice(), "redis"),
    ] {
        for pod in pods {
            env.create_pod(ns, pod, &[("app", label)]).await;
            env.set_pod_ready(ns, pod, true).await;
        }
    }
    Depwait::new()
        .kubeconfig(kubeconfig.clone())
        .args(deps)
        .spawn()
        .expect_exit(0)
        .await;
    // The same token may not read pods where nothing was granted.
    Depwait::new()
        .kubeconfig(kubeconfig)
        .args(["--pods", &format!("{app}:app=web")])
        .spawn()
        .expect_exit(3)
        .await;
}

/// Create the service account `web` in `ns` and print `depwait rbac` for it and `deps`.
async fn service_account_and_its_rbac(
    env: &TestEnv,
    ns: &str,
    deps: &[String],
) -> support::Finished {
    let sa: ServiceAccount =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "web"}})).unwrap();
    Api::<ServiceAccount>::namespaced(env.client(User::Admin).await, ns)
        .create(&PostParams::default(), &sa)
        .await
        .unwrap();
    Depwait::new()
        .args(["rbac", "--service-account", &format!("{ns}/web")])
        .args(deps.iter().cloned())
        .spawn()
        .expect_exit(0)
        .await
}

/// Create every document of `yaml` (Roles, RoleBindings, ClusterRoles, ClusterRoleBindings)
/// as admin; returns them parsed.
async fn apply_all(env: &TestEnv, yaml: &str) -> Vec<serde_json::Value> {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let admin = env.client(User::Admin).await;
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let value = serde_json::Value::deserialize(doc).unwrap();
        let kind = value["kind"].as_str().unwrap().to_string();
        let plural = format!("{}s", kind.to_ascii_lowercase());
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", &kind),
            &plural,
        );
        let object: DynamicObject = serde_json::from_value(value.clone()).unwrap();
        let api: Api<DynamicObject> = match value["metadata"]["namespace"].as_str() {
            Some(ns) => Api::namespaced_with(admin.clone(), ns, &ar),
            None => Api::all_with(admin.clone(), &ar),
        };
        api.create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("create {kind}: {e}\n{yaml}"));
        docs.push(value);
    }
    docs
}

/// `--job`, `--rollout` and a cluster-scoped `--resource`: Roles name the right API groups
/// (batch, apps), the cluster-scoped type gets the one ClusterRole, and a service account
/// holding exactly that waits successfully.
#[tokio::test]
async fn generated_rbac_covers_jobs_rollouts_and_cluster_scoped_objects() {
    use serde_json::json;
    use support::{DEPLOYMENT, JOB, pod_template, workload_template};
    let env = TestEnv::get();
    let app = env.namespace("rbac-app").await;
    let db = env.namespace("rbac-db").await;
    let deps = [
        "--job".to_string(),
        format!("{db}/migrate"),
        "--rollout".into(),
        format!("{db}/deploy/api"),
        "--resource".into(),
        format!("ns/{db}:create"),
    ];
    let rbac = service_account_and_its_rbac(env, &app, &deps).await;
    let docs = apply_all(env, &rbac.stdout).await;
    let rules_of = |kind: &str| -> Vec<(String, String, Vec<String>)> {
        docs.iter()
            .filter(|d| d["kind"] == kind)
            .flat_map(|d| d["rules"].as_array().cloned().unwrap_or_default())
            .map(|r| {
                (
                    r["apiGroups"][0].as_str().unwrap().to_string(),
                    r["resources"][0].as_str().unwrap().to_string(),
                    serde_json::from_value(r["verbs"].clone()).unwrap(),
                )
            })
            .collect()
    };
    let watch = vec!["get".to_string(), "list".into(), "watch".into()];
    let mut role_rules = rules_of("Role");
    role_rules.sort();
    assert_eq!(
        role_rules,
        [
            ("apps".to_string(), "deployments".to_string(), watch.clone()),
            ("batch".to_string(), "jobs".to_string(), watch.clone()),
        ],
        "{}",
        rbac.stdout
    );
    assert_eq!(
        rules_of("ClusterRole"),
        [(String::new(), "namespaces".to_string(), watch)],
        "{}",
        rbac.stdout
    );

    env.create(
        Some(&db),
        JOB,
        json!({"metadata": {"name": "migrate"}, "spec": {"template": pod_template("migrate")}}),
    )
    .await;
    env.set_status(
        Some(&db),
        JOB,
        "migrate",
        json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
    )
    .await;
    let template = workload_template("api");
    env.create(
        Some(&db),
        DEPLOYMENT,
        json!({"metadata": {"name": "api"}, "spec": {"replicas": 1,
            "selector": {"matchLabels": {"app": "api"}}, "template": template}}),
    )
    .await;
    env.set_status(
        Some(&db),
        DEPLOYMENT,
        "api",
        json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}),
    )
    .await;
    let token = env.service_account_token(&app, "web").await;
    let kubeconfig = env.token_kubeconfig(&token);
    // New bindings reach the API server's authorizer through its informers: give them a
    // moment (a 403 is exit 3 at once, by design).
    let mut last = None;
    for _ in 0..20 {
        let done = Depwait::new()
            .kubeconfig(kubeconfig.clone())
            .args(deps.clone())
            .run(std::time::Duration::from_secs(60))
            .await;
        if done.code == Some(0) {
            return;
        }
        assert_eq!(done.code, Some(3), "{done:?}");
        last = Some(done);
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("the generated RBAC never sufficed: {:?}", last.unwrap());
}
