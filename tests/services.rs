//! Services and HOST names against the real API server, and the DNS path against a real DNS
//! server on loopback: `--service`, service-precheck's positional names (the seed's arg lists
//! unchanged), ExternalName, the fallback to DNS when EndpointSlices may not be watched.

mod support;

use std::net::Ipv4Addr;

use support::{Depwait, DnsServer, LIMIT, TestEnv, User};

/// `--service NS/NAME`: waits while the Service's only endpoint is not ready, releases when
/// its EndpointSlice (v1beta1 on the 1.20 test server, found by discovery) says it is.
#[tokio::test]
async fn service_is_ready_when_an_endpoint_turns_ready() {
    let env = TestEnv::get();
    let ns = env.namespace("svc").await;
    env.create_service(&ns, "mysql-read", false).await;
    env.set_endpoint_slice(
        &ns,
        "mysql-read",
        "mysql-read-a",
        &[(None, false), (None, false)],
    )
    .await;
    let mut depwait = Depwait::new()
        .heartbeat()
        .args(["--service", &format!("{ns}/mysql-read")])
        .spawn();
    depwait
        .wait_for_log(
            &format!("{ns}/mysql-read: 0 ready endpoints (2 not ready)"),
            LIMIT,
        )
        .await;
    depwait
        .expect_holding(&format!("{ns}/mysql-read: 0 ready endpoints (2 not ready)"))
        .await;

    env.set_endpoint_slice(
        &ns,
        "mysql-read",
        "mysql-read-a",
        &[(None, true), (None, false)],
    )
    .await;
    let done = depwait.expect_exit(0).await;
    assert!(done.stderr.contains("1 ready endpoint"), "{done:?}");
}

/// `:MIN` counts ready endpoints across all of the Service's slices.
#[tokio::test]
async fn service_min_counts_ready_endpoints_across_slices() {
    let env = TestEnv::get();
    let ns = env.namespace("svcmin").await;
    env.create_service(&ns, "zk", true).await;
    env.set_endpoint_slice(
        &ns,
        "zk",
        "zk-a",
        &[(Some("zk-0"), true), (Some("zk-1"), true)],
    )
    .await;
    let mut depwait = Depwait::new()
        .heartbeat()
        .args(["--service", &format!("{ns}/zk:3")])
        .spawn();
    depwait
        .wait_for_log("2 ready endpoints; 3 needed", LIMIT)
        .await;
    depwait.expect_holding("2 ready endpoints; 3 needed").await;

    env.set_endpoint_slice(&ns, "zk", "zk-b", &[(Some("zk-2"), true)])
        .await;
    depwait.expect_exit(0).await;
}

/// A Service that does not exist yet is waited for, not an error.
#[tokio::test]
async fn service_created_after_start_is_waited_for() {
    let env = TestEnv::get();
    let ns = env.namespace("svclate").await;
    let mut depwait = Depwait::new()
        .heartbeat()
        .args(["--service", &format!("{ns}/api")])
        .spawn();
    depwait
        .wait_for_log(&format!("Service {ns}/api does not exist yet"), LIMIT)
        .await;
    env.create_service(&ns, "api", false).await;
    depwait.wait_for_log("no endpoints yet", LIMIT).await;
    depwait
        .expect_holding(&format!("service {ns}/api: no endpoints yet"))
        .await;
    env.set_endpoint_slice(&ns, "api", "api-a", &[(None, true)])
        .await;
    depwait.expect_exit(0).await;
}

/// `host.svc.ns` waits for the endpoint whose hostname is `host` only (the StatefulSet pod
/// behind that DNS record), however many other endpoints are ready.
#[tokio::test]
async fn headless_host_name_waits_for_that_host_only() {
    let env = TestEnv::get();
    let ns = env.namespace("host").await;
    env.create_service(&ns, "mysql", true).await;
    env.set_endpoint_slice(
        &ns,
        "mysql",
        "mysql-a",
        &[
            (Some("mysql-0"), false),
            (Some("mysql-1"), true),
            (Some("mysql-2"), true),
        ],
    )
    .await;
    let mut depwait = Depwait::new()
        .heartbeat()
        .args([format!("mysql-0.mysql.{ns}")])
        .spawn();
    depwait
        .wait_for_log("endpoint mysql-0 not ready", LIMIT)
        .await;
    depwait.expect_holding("endpoint mysql-0 not ready").await;

    env.set_endpoint_slice(
        &ns,
        "mysql",
        "mysql-a",
        &[
            (Some("mysql-0"), true),
            (Some("mysql-1"), true),
            (Some("mysql-2"), true),
        ],
    )
    .await;
    depwait.expect_exit(0).await;
}

/// The seed's first arg list, unchanged: a StatefulSet pod's name and a read Service, in the
/// `.svc.cluster.local` spelling too. Both must be ready at the same moment.
#[tokio::test]
async fn seed_mysql_arguments_work_unchanged() {
    let env = TestEnv::get();
    let ns = env.namespace("seedmysql").await;
    env.create_service(&ns, "mysql", true).await;
    env.create_service(&ns, "mysql-read", false).await;
    env.set_endpoint_slice(&ns, "mysql", "mysql-a", &[(Some("mysql-0"), true)])
        .await;
    let mut depwait = Depwait::new()
        .heartbeat()
        .args([
            format!("mysql-0.mysql.{ns}"),
            format!("mysql-read.{ns}.svc.cluster.local"),
        ])
        .spawn();
    depwait
        .wait_for_log(
            &format!("mysql-read.{ns}.svc.cluster.local: no endpoints yet"),
            LIMIT,
        )
        .await;
    depwait
        .expect_holding(&format!(
            "1 of 2 not ready: mysql-read.{ns}.svc.cluster.local: no endpoints yet"
        ))
        .await;

    env.set_endpoint_slice(&ns, "mysql-read", "mysql-read-a", &[(None, true)])
        .await;
    let done = depwait.expect_exit(0).await;
    assert!(
        done.stderr.contains(&format!("mysql-0.mysql.{ns}")),
        "{done:?}"
    );
}

/// The seed's second arg list: three ZooKeeper members of a headless Service. Two ready is not
/// enough; and a member going unready again holds the release back.
#[tokio::test]
async fn seed_zookeeper_arguments_need_every_member() {
    let env = TestEnv::get();
    let ns = env.namespace("seedzk").await;
    env.create_service(&ns, "zookeeper-headless", true).await;
    let members = |ready: [bool; 3]| -> Vec<(Option<&'static str>, bool)> {
        vec![
            (Some("zookeeper-0"), ready[0]),
            (Some("zookeeper-1"), ready[1]),
            (Some("zookeeper-2"), ready[2]),
        ]
    };
    env.set_endpoint_slice(
        &ns,
        "zookeeper-headless",
        "zk-a",
        &members([true, false, true]),
    )
    .await;
    let mut depwait = Depwait::new()
        .heartbeat()
        .args((0..3).map(|i| format!("zookeeper-{i}.zookeeper-headless.{ns}")))
        .spawn();
    depwait
        .wait_for_log("endpoint zookeeper-1 not ready", LIMIT)
        .await;
    env.set_endpoint_slice(
        &ns,
        "zookeeper-headless",
        "zk-a",
        &members([false, true, true]),
    )
    .await;
    depwait
        .wait_for_log("endpoint zookeeper-0 not ready", LIMIT)
        .await;
    // zookeeper-1 is ready again; zookeeper-0 holds the release.
    depwait
        .expect_holding(&format!(
            "1 of 3 not ready: zookeeper-0.zookeeper-headless.{ns}: endpoint zookeeper-0 not ready"
        ))
        .await;

    env.set_endpoint_slice(
        &ns,
        "zookeeper-headless",
        "zk-a",
        &members([true, true, true]),
    )
    .await;
    depwait.expect_exit(0).await;
}

/// The seed's third shape: pods, a Service and an outside name in one wait, released only when
/// all three are ready together.
#[tokio::test]
async fn pods_services_and_dns_names_combine() {
    let env = TestEnv::get();
    let dns = DnsServer::get();
    let ns = env.namespace("mixed").await;
    let external = format!("api.{ns}.example.test");
    let resolv = dns.resolv_conf(&[]);
    env.create_pod(&ns, "web-0", &[("app", "web")]).await;
    env.create_service(&ns, "mysql-read", false).await;
    env.set_endpoint_slice(&ns, "mysql-read", "mysql-read-a", &[(None, false)])
        .await;
    let mut depwait = Depwait::new()
        .heartbeat()
        .args([
            "--pods".to_string(),
            format!("{ns}:app=web"),
            "--service".into(),
            format!("{ns}/mysql-read"),
            external.clone(),
        ])
        .env("DEPWAIT_RESOLV_CONF", resolv.to_str().unwrap())
        .spawn();
    depwait
        .wait_for_log(&format!("{external}: NXDOMAIN"), LIMIT)
        .await;

    env.set_pod_ready(&ns, "web-0", true).await;
    dns.add(&external, Ipv4Addr::new(192, 0, 2, 10));
    depwait.wait_for_log("192.0.2.10", LIMIT).await;
    // The pods and the name are ready; the Service holds the release.
    depwait
        .expect_holding(&format!(
            "1 of 3 not ready: service {ns}/mysql-read: 0 ready endpoints (1 not ready)"
        ))
        .await;

    env.set_endpoint_slice(&ns, "mysql-read", "mysql-read-a", &[(None, true)])
        .await;
    depwait.expect_exit(0).await;
}

/// A name outside the cluster goes through real DNS: NXDOMAIN keeps waiting (and says so), and
/// the name starting to resolve later releases. The server's 300 s negative TTL must not be
/// honoured as a cache: depwait keeps asking. (How often — a capped backoff, so release
/// follows within about a second — is `probe`'s unit test, not a count in seconds here.)
#[tokio::test]
async fn dns_name_that_starts_resolving_releases() {
    let dns = DnsServer::get();
    let name = format!("db-{}.example.test", std::process::id());
    let resolv = dns.resolv_conf(&[]);
    let mut depwait = Depwait::new()
        .heartbeat()
        .kubeconfig("/nonexistent/kubeconfig".into())
        .args([name.clone()])
        .env("DEPWAIT_RESOLV_CONF", resolv.to_str().unwrap())
        .spawn();
    depwait
        .wait_for_log(&format!("{name}: NXDOMAIN"), LIMIT)
        .await;
    // Asked again, and again, after the NXDOMAIN it logged: no negative cache.
    let asked = dns.queries_for(&name);
    dns.wait_for_queries(&name, asked + 3, LIMIT).await;
    depwait.expect_holding(&format!("{name}: NXDOMAIN")).await;

    dns.add(&name, Ipv4Addr::new(192, 0, 2, 1));
    let done = depwait.expect_exit(0).await;
    assert!(done.stderr.contains("192.0.2.1"), "{done:?}");
}

/// A wait that times out on a DNS name says why in the termination message.
#[tokio::test]
async fn dns_timeout_names_the_reason() {
    let dns = DnsServer::get();
    let name = format!("gone-{}.example.test", std::process::id());
    let resolv = dns.resolv_conf(&[]);
    let done = Depwait::new()
        .kubeconfig("/nonexistent/kubeconfig".into())
        .args(["--dns", &name, "--timeout", "2s"])
        .env("DEPWAIT_RESOLV_CONF", resolv.to_str().unwrap())
        .run(LIMIT)
        .await;
    assert_eq!(done.code, Some(1), "{done:?}");
    let message = done.termination_log.clone().unwrap_or_default();
    assert!(message.contains(&format!("{name}: NXDOMAIN")), "{done:?}");
}

/// `--dns` forces a cluster-form name through DNS, search path included (ndots:5, as the
/// kubelet writes resolv.conf), even with credentials that could watch.
#[tokio::test]
async fn dns_flag_resolves_through_the_search_path() {
    let env = TestEnv::get();
    let dns = DnsServer::get();
    let ns = env.namespace("dnsflag").await;
    let resolv = dns.resolv_conf(&DnsServer::pod_search(&ns));
    let mut depwait = Depwait::new()
        .args(["--dns", &format!("cache.{ns}")])
        .env("DEPWAIT_RESOLV_CONF", resolv.to_str().unwrap())
        .spawn();
    depwait.wait_for_log("NXDOMAIN", LIMIT).await;
    dns.add(
        &format!("cache.{ns}.svc.cluster.local"),
        Ipv4Addr::new(10, 0, 0, 7),
    );
    let done = depwait.expect_exit(0).await;
    assert!(done.stderr.contains("10.0.0.7"), "{done:?}");
}

/// Without RBAC on Services/EndpointSlices the cluster-form names fall back to DNS, with one
/// line naming the rule that would enable the watch; the wait still works.
#[tokio::test]
async fn denied_endpoint_slices_fall_back_to_dns() {
    let env = TestEnv::get();
    let dns = DnsServer::get();
    let ns = env.namespace("fallback").await;
    env.grant(&ns, User::Alice, &["get", "list", "watch"], &["pods"])
        .await;
    let resolv = dns.resolv_conf(&DnsServer::pod_search(&ns));
    let mut depwait = Depwait::new()
        .heartbeat()
        .user(User::Alice)
        .args([format!("mysql-read.{ns}")])
        .env("DEPWAIT_RESOLV_CONF", resolv.to_str().unwrap())
        .spawn();
    depwait
        .wait_for_log("through DNS instead of watching", LIMIT)
        .await;
    let log = depwait.stderr();
    assert!(log.contains("endpointslices"), "{log}");
    assert!(log.contains(&format!("mysql-read.{ns}")), "{log}");
    depwait.wait_for_log("NXDOMAIN", LIMIT).await;
    depwait.expect_holding("NXDOMAIN").await;

    dns.add(
        &format!("mysql-read.{ns}.svc.cluster.local"),
        Ipv4Addr::new(10, 0, 0, 8),
    );
    let done = depwait.expect_exit(0).await;
    assert_eq!(
        done.stderr.matches("instead of watching").count(),
        1,
        "the fallback is logged once: {done:?}"
    );
}

/// An ExternalName Service is ready when its external name resolves.
#[tokio::test]
async fn external_name_service_waits_for_its_name_to_resolve() {
    let env = TestEnv::get();
    let dns = DnsServer::get();
    let ns = env.namespace("extname").await;
    let external = format!("db.{ns}.example.test");
    env.create_external_name_service(&ns, "db", &external).await;
    let resolv = dns.resolv_conf(&[]);
    let mut depwait = Depwait::new()
        .heartbeat()
        .args(["--service", &format!("{ns}/db")])
        .env("DEPWAIT_RESOLV_CONF", resolv.to_str().unwrap())
        .spawn();
    depwait
        .wait_for_log(&format!("ExternalName {external}: NXDOMAIN"), LIMIT)
        .await;
    depwait
        .expect_holding(&format!("ExternalName {external}: NXDOMAIN"))
        .await;
    dns.add(&external, Ipv4Addr::new(192, 0, 2, 20));
    depwait.expect_exit(0).await;
}

/// `depwait check` shows Services and HOST names as rows, with the same summaries.
#[tokio::test]
async fn check_lists_services_and_hosts() {
    let env = TestEnv::get();
    let ns = env.namespace("svccheck").await;
    env.create_service(&ns, "mysql", true).await;
    env.set_endpoint_slice(
        &ns,
        "mysql",
        "mysql-a",
        &[(Some("mysql-0"), true), (Some("mysql-1"), false)],
    )
    .await;
    let done = Depwait::new()
        .args([
            "check".to_string(),
            "--service".into(),
            format!("{ns}/mysql:2"),
            format!("mysql-0.mysql.{ns}"),
        ])
        .run(LIMIT)
        .await;
    assert_eq!(done.code, Some(1), "{done:?}");
    let table = done.stdout.clone();
    let row = |needle: &str| {
        table
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no row for {needle}:\n{table}"))
            .to_string()
    };
    assert!(
        row(&format!("{ns}/mysql (min 2)")).contains("NOT READY"),
        "{table}"
    );
    assert!(
        row(&format!("{ns}/mysql (min 2)")).contains("1 ready endpoint (1 not ready)"),
        "{table}"
    );
    assert!(
        row(&format!("mysql-0.mysql.{ns}")).contains("READY"),
        "{table}"
    );
    assert!(
        !row(&format!("mysql-0.mysql.{ns}")).contains("NOT READY"),
        "{table}"
    );
}
