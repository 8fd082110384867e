//! `depwait rbac` against a real API server: its output, applied as is, is enough for a
//! service account to wait — and grants nothing more than that.

mod support;

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding};
use kube::Api;
use kube::api::PostParams;
use support::{Depwait, LIMIT, TestEnv, User};

/// Apply the generated YAML, mint a token for the service account (TokenRequest), wait with it,
/// and check every rule is exactly pods get/list/watch in the waited-on namespaces and in the
/// account's own (the restart guard reads the waiting pod there).
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
    for value in yaml_documents(&rbac.stdout) {
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
    let mut want = vec![app.clone(), db.clone(), cache.clone()];
    want.sort();
    assert_eq!(
        namespaces, want,
        "a Role per waited-on namespace and the account's own, nowhere else"
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
    // As the waiting pod `web-1` of the account's namespace: the restart guard may read it.
    env.create_pod(&app, "web-1", &[("app", "web")]).await;
    let done = Depwait::new()
        .kubeconfig(kubeconfig.clone())
        .args(deps)
        .env("POD_NAME", "web-1")
        .env("POD_NAMESPACE", &app)
        .spawn()
        .expect_exit(0)
        .await;
    assert!(!done.stderr.contains("guard is off"), "{done:?}");
    // The same token may not read pods where nothing was granted.
    let elsewhere = env.namespace("rbac-other").await;
    Depwait::new()
        .kubeconfig(kubeconfig)
        .args(["--pods", &format!("{elsewhere}:app=web")])
        .spawn()
        .expect_exit(3)
        .await;
}

/// Every document of `yaml`, as kubectl would read them.
fn yaml_documents(yaml: &str) -> Vec<serde_json::Value> {
    serde_saphyr::from_multiple(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// Create the service account `web` in `ns` and print `depwait rbac` for it and `deps`.
async fn service_account_and_its_rbac(
    env: &TestEnv,
    ns: &str,
    deps: &[String],
) -> support::Finished {
    service_account_and_its_rbac_as(env, ns, "web", deps).await
}

/// Create every document of `yaml` (Roles, RoleBindings, ClusterRoles, ClusterRoleBindings)
/// as admin; returns them parsed.
async fn apply_all(env: &TestEnv, yaml: &str) -> Vec<serde_json::Value> {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let admin = env.client(User::Admin).await;
    let mut docs = Vec::new();
    for value in yaml_documents(yaml) {
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
            // The restart guard's, in the account's namespace.
            (String::new(), "pods".to_string(), watch.clone()),
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
            .run(LIMIT)
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

/// One request as the authorizer sees it: (verb, group, resource, namespace, name). A list or
/// watch with the field selector `metadata.name=NAME` is seen with that name.
type Ask<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);

/// Whether ServiceAccount `sa_ns/sa` may do `ask`, by SubjectAccessReview.
async fn may(env: &TestEnv, (sa_ns, sa): (&str, &str), ask: Ask<'_>) -> bool {
    use k8s_openapi::api::authorization::v1::SubjectAccessReview;
    let (verb, group, resource, namespace, name) = ask;
    let review: SubjectAccessReview = serde_json::from_value(serde_json::json!({"spec": {
        "user": format!("system:serviceaccount:{sa_ns}:{sa}"),
        "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{sa_ns}"), "system:authenticated"],
        "resourceAttributes": {
            "verb": verb, "group": group, "resource": resource,
            "namespace": namespace.unwrap_or_default(), "name": name.unwrap_or_default(),
        },
    }}))
    .unwrap();
    Api::<SubjectAccessReview>::all(env.client(User::Admin).await)
        .create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .is_some_and(|s| s.allowed)
}

/// Every `ask` allowed — polled, as new RoleBindings reach the authorizer's cache a moment
/// after the write (a hang guard, not a timing check).
async fn assert_allowed(env: &TestEnv, sa: (&str, &str), asks: &[Ask<'_>], yaml: &str) {
    for ask in asks {
        let deadline = tokio::time::Instant::now() + LIMIT;
        while !may(env, sa, *ask).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{sa:?} may not {ask:?}, which its wait needs; the RBAC applied:\n{yaml}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// Every `ask` denied (checked after everything applied is enforced).
async fn assert_denied(env: &TestEnv, sa: (&str, &str), asks: &[Ask<'_>], yaml: &str) {
    for ask in asks {
        assert!(
            !may(env, sa, *ask).await,
            "{sa:?} may {ask:?}, more than its wait needs; the RBAC applied:\n{yaml}"
        );
    }
}

/// A kubeconfig for `token` whose context namespace is `ns`: what a pod's in-cluster
/// configuration gives depwait (its own namespace), outside a pod.
fn token_kubeconfig_in(env: &TestEnv, token: &str, ns: &str) -> std::path::PathBuf {
    let path = env.token_kubeconfig(token);
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["contexts"][0]["context"]["namespace"] = ns.into();
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

const SECRET: support::Kind = support::Kind {
    api_version: "v1",
    kind: "Secret",
    plural: "secrets",
};

/// Issue 14 §1: `depwait rbac` for two service accounts of one namespace — pods, a Service by
/// flag and by HOST name, a Job, a rollout, a namespaced type written without a namespace, a
/// cluster-scoped one, `--emit-events` — applied with `kubectl apply` in both orders, leaves
/// each account exactly its own rules: each wait works with the account's minted token, and
/// every broader request (other names, other namespaces, lists without the name, the other
/// account's objects, any pod for the Event) is denied.
#[tokio::test]
async fn rbac_for_several_accounts_in_any_order_grants_each_exactly_its_wait() {
    use serde_json::json;
    use support::{CONFIG_MAP, DEPLOYMENT, JOB, pod_template, workload_template};
    let env = TestEnv::get();
    for web_first in [true, false] {
        let app = env.namespace("rbac-app").await;
        let db = env.namespace("rbac-db").await;
        let cache = env.namespace("rbac-cache").await;
        let web_deps = vec![
            "--pods".to_string(),
            format!("{db}:app=zk"),
            "--service".into(),
            format!("{db}/mysql"),
            format!("redis.{cache}"),
            "--job".into(),
            format!("{db}/migrate"),
            "--rollout".into(),
            format!("{db}/deploy/api"),
            "--resource".into(),
            "secrets/db-password:create".into(),
            "--resource".into(),
            format!("ns/{db}:create"),
        ];
        let worker_deps = vec![
            "--job".to_string(),
            format!("{db}/backfill"),
            "--resource".into(),
            format!("{db}/cm/settings:create"),
            "--resource".into(),
            format!("namespace/{cache}:create"),
        ];
        let mut web_rbac = web_deps.clone();
        web_rbac.push("--emit-events".into());
        let web_yaml = service_account_and_its_rbac_as(env, &app, "web", &web_rbac)
            .await
            .stdout;
        let worker_yaml = service_account_and_its_rbac_as(env, &app, "worker", &worker_deps)
            .await
            .stdout;
        if web_first {
            env.apply(&web_yaml);
            env.apply(&worker_yaml);
        } else {
            env.apply(&worker_yaml);
            env.apply(&web_yaml);
        }
        let both = format!("{web_yaml}---\n{worker_yaml}");
        let (web, worker) = ((app.as_str(), "web"), (app.as_str(), "worker"));
        let (a, d, c) = (Some(app.as_str()), Some(db.as_str()), Some(cache.as_str()));
        let web_needs: Vec<Ask> = vec![
            ("list", "", "pods", d, None),
            ("watch", "", "pods", d, None),
            ("list", "", "services", d, Some("mysql")),
            ("watch", "", "services", d, Some("mysql")),
            ("list", "", "services", c, Some("redis")),
            ("list", "discovery.k8s.io", "endpointslices", d, None),
            ("watch", "discovery.k8s.io", "endpointslices", c, None),
            ("list", "batch", "jobs", d, Some("migrate")),
            ("watch", "batch", "jobs", d, Some("migrate")),
            ("list", "apps", "deployments", d, Some("api")),
            ("list", "", "secrets", a, Some("db-password")),
            ("watch", "", "secrets", a, Some("db-password")),
            ("list", "", "namespaces", None, Some(db.as_str())),
            ("create", "", "events", a, None),
            // The restart guard: the waiting pod, whose name a Deployment does not fix.
            ("list", "", "pods", a, None),
            ("watch", "", "pods", a, None),
            ("get", "", "pods", a, Some("web-0")),
        ];
        let worker_needs: Vec<Ask> = vec![
            ("list", "batch", "jobs", d, Some("backfill")),
            ("watch", "batch", "jobs", d, Some("backfill")),
            ("list", "", "configmaps", d, Some("settings")),
            ("list", "", "namespaces", None, Some(cache.as_str())),
        ];
        assert_allowed(env, web, &web_needs, &both).await;
        assert_allowed(env, worker, &worker_needs, &both).await;
        let web_must_not: Vec<Ask> = vec![
            // One Secret, not every Secret: not by name, not by list, not elsewhere.
            ("list", "", "secrets", a, None),
            ("get", "", "secrets", a, Some("other")),
            ("list", "", "secrets", d, Some("db-password")),
            ("list", "", "secrets", None, None),
            ("list", "", "services", d, None),
            ("get", "", "services", d, Some("other")),
            ("list", "batch", "jobs", d, None),
            ("list", "apps", "deployments", d, Some("other")),
            ("list", "", "pods", c, None),
            ("list", "", "namespaces", None, None),
            ("delete", "", "namespaces", None, Some(db.as_str())),
            ("create", "", "events", d, None),
            // The other account's objects.
            ("list", "batch", "jobs", d, Some("backfill")),
            ("list", "", "configmaps", d, Some("settings")),
            ("list", "", "namespaces", None, Some(cache.as_str())),
        ];
        let worker_must_not: Vec<Ask> = vec![
            ("list", "batch", "jobs", d, Some("migrate")),
            ("list", "", "configmaps", d, None),
            ("list", "", "configmaps", a, Some("settings")),
            ("list", "", "namespaces", None, Some(db.as_str())),
            ("list", "", "secrets", a, Some("db-password")),
            ("list", "", "pods", d, None),
            ("create", "", "events", a, None),
        ];
        assert_denied(env, web, &web_must_not, &both).await;
        assert_denied(env, worker, &worker_must_not, &both).await;

        // Everything each account waits for, ready.
        env.create_pod(&db, "zk-0", &[("app", "zk")]).await;
        env.set_pod_ready(&db, "zk-0", true).await;
        for (ns, service) in [(&db, "mysql"), (&cache, "redis")] {
            env.create_service(ns, service, false).await;
            env.set_endpoint_slice(ns, service, &format!("{service}-a"), &[(None, true)])
                .await;
        }
        for job in ["migrate", "backfill"] {
            env.create(
                Some(&db),
                JOB,
                json!({"metadata": {"name": job}, "spec": {"template": pod_template(job)}}),
            )
            .await;
            env.set_status(
                Some(&db),
                JOB,
                job,
                json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
            )
            .await;
        }
        env.create(
            Some(&db),
            DEPLOYMENT,
            json!({"metadata": {"name": "api"}, "spec": {"replicas": 1,
                "selector": {"matchLabels": {"app": "api"}}, "template": workload_template("api")}}),
        )
        .await;
        env.set_status(
            Some(&db),
            DEPLOYMENT,
            "api",
            json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}),
        )
        .await;
        env.create(
            Some(&app),
            SECRET,
            json!({"metadata": {"name": "db-password"}}),
        )
        .await;
        env.create(
            Some(&db),
            CONFIG_MAP,
            json!({"metadata": {"name": "settings"}}),
        )
        .await;

        for (account, deps) in [("web", &web_deps), ("worker", &worker_deps)] {
            let token = env.service_account_token(&app, account).await;
            let kubeconfig = token_kubeconfig_in(env, &token, &app);
            let done = Depwait::new()
                .kubeconfig(kubeconfig.clone())
                .args(deps.iter().cloned())
                .run(LIMIT)
                .await;
            assert_eq!(done.code, Some(0), "{account}: {done:?}\n{both}");
        }
        // A real request past the grant is refused: another Secret, the other account's Job.
        let token = env.service_account_token(&app, "web").await;
        Depwait::new()
            .kubeconfig(token_kubeconfig_in(env, &token, &app))
            .args(["--resource", "secrets/other:create"])
            .spawn()
            .expect_exit(3)
            .await;
        Depwait::new()
            .kubeconfig(token_kubeconfig_in(env, &token, &app))
            .args(["--job".to_string(), format!("{db}/backfill")])
            .spawn()
            .expect_exit(3)
            .await;
    }
}

/// Create service account `name` in `ns` and print `depwait rbac` for it and `deps`.
async fn service_account_and_its_rbac_as(
    env: &TestEnv,
    ns: &str,
    name: &str,
    deps: &[String],
) -> support::Finished {
    let sa: ServiceAccount =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    Api::<ServiceAccount>::namespaced(env.client(User::Admin).await, ns)
        .create(&PostParams::default(), &sa)
        .await
        .unwrap();
    Depwait::new()
        .args(["rbac", "--service-account", &format!("{ns}/{name}")])
        .args(deps.iter().cloned())
        .spawn()
        .expect_exit(0)
        .await
}

/// A custom type written without its group or a namespace (`--resource widget/w1`): with
/// credentials, `depwait rbac` asks discovery, which says it is namespaced — a Role in the
/// account's namespace on that one object, never a ClusterRole; without a server to ask, exit 2
/// asking for the namespace.
#[tokio::test]
async fn custom_types_without_a_namespace_are_scoped_by_discovery_or_refused() {
    let env = TestEnv::get();
    let group = format!("rbac{}.example.com", std::process::id());
    env.install_crd(&group, "Widget", "widgets").await;
    let app = env.namespace("rbac-crd").await;
    let done = service_account_and_its_rbac(
        env,
        &app,
        &["--resource".to_string(), "widget/w1:create".into()],
    )
    .await;
    assert!(!done.stdout.contains("ClusterRole"), "{done:?}");
    // Beside the restart guard's pods rule, in the same Role.
    let roles: Vec<Role> = yaml_documents(&done.stdout)
        .into_iter()
        .filter(|d| d["kind"] == "Role")
        .map(|d| serde_json::from_value(d).unwrap())
        .collect();
    assert_eq!(roles.len(), 1, "{done:?}");
    assert_eq!(roles[0].metadata.namespace.as_deref(), Some(app.as_str()));
    let rules: Vec<PolicyRule> = serde_json::from_value(serde_json::json!([
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [group], "resources": ["widgets"], "resourceNames": ["w1"],
            "verbs": ["get", "list", "watch"]},
    ]))
    .unwrap();
    assert_eq!(roles[0].rules.as_ref(), Some(&rules), "{done:?}");
    let done = Depwait::new()
        .kubeconfig("/nonexistent/kubeconfig".into())
        .args(["rbac", "--service-account", &format!("{app}/web")])
        .args(["--resource", "widget/w1:create"])
        .spawn()
        .expect_exit(2)
        .await;
    assert!(done.stderr.contains("NAMESPACE/widget/w1"), "{done:?}");
}

/// Names kubectl's YAML 1.1 reader would take for a boolean or a number (a service account
/// `true`, a pod `123`, a Job `on`) reach the API server as the names they are: the output
/// applies with `kubectl apply` and grants exactly those objects.
#[tokio::test]
async fn rbac_for_names_that_look_like_booleans_or_numbers_applies() {
    let env = TestEnv::get();
    let app = env.namespace("rbac-odd").await;
    let db = env.namespace("rbac-db").await;
    let deps = [
        "--pod-name".to_string(),
        "123".into(),
        "--emit-events".into(),
        "--job".into(),
        format!("{db}/on"),
    ];
    let yaml = service_account_and_its_rbac_as(env, &app, "true", &deps)
        .await
        .stdout;
    env.apply(&yaml);
    let sa = (app.as_str(), "true");
    let (a, d) = (Some(app.as_str()), Some(db.as_str()));
    let needs: Vec<Ask> = vec![
        ("get", "", "pods", a, Some("123")),
        ("create", "", "events", a, None),
        ("watch", "batch", "jobs", d, Some("on")),
    ];
    assert_allowed(env, sa, &needs, &yaml).await;
    let must_not: Vec<Ask> = vec![
        ("get", "", "pods", a, Some("124")),
        ("watch", "batch", "jobs", d, Some("true")),
    ];
    assert_denied(env, sa, &must_not, &yaml).await;
}
