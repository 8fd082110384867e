//! Issue 14 §5: wait, `depwait check` and `depwait rbac` share one planning step, so the same
//! inputs mean the same thing to all three — against the real API server and a real DNS
//! server on loopback.

mod support;

use std::net::Ipv4Addr;

use support::{Depwait, DnsServer, Finished, LIMIT, TestEnv, User};

/// The three commands on one set of inputs, with `kubeconfig` (`None`: no credentials).
async fn all_three(
    kubeconfig: Option<std::path::PathBuf>,
    resolv: &str,
    hosts: &[String],
) -> (Finished, Finished, Finished) {
    let run = |command: Vec<String>| {
        let mut depwait = Depwait::new()
            .args(command)
            .args(hosts.iter().cloned())
            .env("DEPWAIT_RESOLV_CONF", resolv);
        depwait = match &kubeconfig {
            Some(path) => depwait.kubeconfig(path.clone()),
            None => depwait.kubeconfig("/nonexistent/kubeconfig".into()),
        };
        depwait.run(LIMIT)
    };
    let wait = run(vec!["--timeout".into(), "20s".into()]).await;
    let check = run(vec!["check".into()]).await;
    let rbac = run(vec![
        "rbac".into(),
        "--service-account".into(),
        "default/web".into(),
    ])
    .await;
    (wait, check, rbac)
}

/// Without credentials a wait on HOST names resolves them through DNS, and so does `check`
/// (which used to exit 2 asking for credentials); `rbac` grants nothing for them.
#[tokio::test]
async fn without_credentials_wait_and_check_both_resolve_host_names_through_dns() {
    let dns = DnsServer::get();
    let pid = std::process::id();
    let names = [
        format!("db-{pid}.example.test."),
        format!("web.nosuch-{pid}"),
    ];
    for name in &names {
        dns.add(name.trim_end_matches('.'), Ipv4Addr::new(192, 0, 2, 20));
    }
    let resolv = dns.resolv_conf(&[]);
    let (wait, check, rbac) = all_three(None, resolv.to_str().unwrap(), &names).await;
    assert_eq!(wait.code, Some(0), "{wait:?}");
    assert_eq!(check.code, Some(0), "{check:?}");
    assert!(check.stdout.contains("READY"), "{check:?}");
    assert_eq!(rbac.code, Some(0), "{rbac:?}");
    assert!(!rbac.stdout.contains("kind:"), "{rbac:?}");
}

/// A name that only reads like a Service (`api.shop.example`: host `api` of Service `shop` in
/// namespace `example`) where the cluster has no such namespace is a DNS name to all three:
/// the wait and check resolve it, and `rbac` grants nothing for it, so its output applies
/// (it used to carry a Role in namespace `example` that `kubectl apply` refused). A trailing
/// dot forces DNS even for a cluster-form name, for all three.
#[tokio::test]
async fn names_not_of_the_cluster_and_absolute_names_go_to_dns_for_wait_check_and_rbac() {
    let env = TestEnv::get();
    let dns = DnsServer::get();
    let db = env.namespace("plan-db").await;
    let pid = std::process::id();
    let outside = format!("api.shop-{pid}.example");
    let absolute = format!("mysql.{db}.svc.cluster.local.");
    dns.add(&outside, Ipv4Addr::new(192, 0, 2, 21));
    dns.add(absolute.trim_end_matches('.'), Ipv4Addr::new(192, 0, 2, 22));
    // A Service of that name exists but has no ready endpoint: only DNS can release the
    // absolute name.
    env.create_service(&db, "mysql", false).await;
    env.set_endpoint_slice(&db, "mysql", "mysql-a", &[(None, false)])
        .await;
    let resolv = dns.resolv_conf(&[]);
    let hosts = [outside.clone(), absolute.clone()];
    let admin = Some(env.kubeconfig(User::Admin));
    let (wait, check, rbac) = all_three(admin, resolv.to_str().unwrap(), &hosts).await;
    assert_eq!(wait.code, Some(0), "{wait:?}");
    assert!(
        wait.stderr
            .contains(&format!("no namespace example in the cluster: {outside}")),
        "{wait:?}"
    );
    assert_eq!(check.code, Some(0), "{check:?}");
    assert!(check.stdout.contains("192.0.2.21"), "{check:?}");
    assert!(check.stdout.contains("192.0.2.22"), "{check:?}");
    assert_eq!(rbac.code, Some(0), "{rbac:?}");
    assert!(!rbac.stdout.contains("namespace: example"), "{rbac:?}");
    assert!(
        !rbac.stdout.contains(&format!("namespace: {db}")),
        "{rbac:?}"
    );
    assert!(rbac.stdout.contains("# nothing to grant"), "{rbac:?}");
}

/// The cluster meaning still holds where the namespace exists: `rbac` grants the Service by
/// name and its output applies.
#[tokio::test]
async fn names_of_existing_namespaces_stay_services_for_rbac() {
    let env = TestEnv::get();
    let db = env.namespace("plan-svc").await;
    let done = Depwait::new()
        .args([
            "rbac".to_string(),
            "--service-account".into(),
            "default/web".into(),
            format!("mysql-0.mysql.{db}"),
        ])
        .run(LIMIT)
        .await;
    assert_eq!(done.code, Some(0), "{done:?}");
    assert!(
        done.stdout.contains(&format!("namespace: {db}\n")),
        "{done:?}"
    );
    assert!(
        done.stdout
            .contains("resourceNames:\n  - mysql\n  resources:\n  - services\n"),
        "{done:?}"
    );
}
