//! `depwait rbac` against a real API server: its output, applied as is, is enough for a
//! service account to wait — and grants nothing more than that.

mod support;

use k8s_openapi::api::authentication::v1::TokenRequest;
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
    let sa: ServiceAccount =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "web"}})).unwrap();
    Api::<ServiceAccount>::namespaced(admin.clone(), &app)
        .create(&PostParams::default(), &sa)
        .await
        .unwrap();

    let deps = [
        "--pods".to_string(),
        format!("{db}:app=zk:2"),
        "--pods".into(),
        format!("{cache}:app=redis"),
    ];
    let rbac = Depwait::new()
        .args(["rbac", "--service-account", &format!("{app}/web")])
        .args(deps.clone())
        .spawn()
        .expect_exit(0)
        .await;

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

    let token = Api::<ServiceAccount>::namespaced(admin, &app)
        .create_token_request("web", &PostParams::default(), &TokenRequest::default())
        .await
        .unwrap()
        .status
        .unwrap()
        .token;
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
