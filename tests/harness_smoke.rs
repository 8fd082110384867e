//! The test harness itself (tests/support), without depwait: the control plane starts, its TLS
//! and users are what the other tests assume, and the pod helpers write what a kubelet would.

mod support;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use support::{TestEnv, User};

/// etcd and kube-apiserver start, and answer the admin over TLS verified against the CA in the
/// kubeconfig; the `default` namespace shows the server finished its own bootstrap.
#[tokio::test]
async fn the_server_starts_and_serves_the_admin() {
    let env = TestEnv::get();
    Api::<Namespace>::all(env.client(User::Admin).await)
        .get("default")
        .await
        .expect("the admin reads namespace default");
}

/// The CA in the kubeconfigs is really checked: without it, the same request fails on the
/// server's certificate. So no test passes by skipping verification.
#[tokio::test]
async fn tls_is_verified() {
    let env = TestEnv::get();
    let mut kubeconfig = Kubeconfig::read_from(env.kubeconfig(User::Admin)).unwrap();
    for cluster in &mut kubeconfig.clusters {
        cluster.cluster.as_mut().unwrap().certificate_authority_data = None;
    }
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    let err = Client::try_from(config)
        .unwrap()
        .apiserver_version()
        .await
        .expect_err("a server certificate no trusted CA signed");
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(e) = source {
        chain += &format!(": {e}");
        source = e.source();
    }
    assert!(chain.contains("certificate"), "{chain}");
}

/// The admin creates a namespace and a pod, marks the pod Ready through the status subresource,
/// and reads back `Ready=True` with a ready, running `app` container.
#[tokio::test]
async fn a_pod_marked_ready_reads_back_ready() {
    let env = TestEnv::get();
    let ns = env.namespace("smoke-ready").await;
    env.create_pod(&ns, "web-0", &[("app", "web")]).await;
    env.set_pod_ready(&ns, "web-0", true).await;

    let pod = Api::<Pod>::namespaced(env.client(User::Admin).await, &ns)
        .get("web-0")
        .await
        .unwrap();
    let status = pod.status.expect("a status");
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let ready = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .expect("a Ready condition");
    assert_eq!(ready.status, "True");
    let app = &status.container_statuses.expect("container statuses")[0];
    assert!(app.ready && app.state.as_ref().unwrap().running.is_some());
}

/// Alice has no permissions of her own: listing pods is 403 until `grant` gives her `list`,
/// after which the very next request succeeds.
#[tokio::test]
async fn alice_can_list_pods_only_once_granted() {
    let env = TestEnv::get();
    let ns = env.namespace("smoke-rbac").await;
    let pods = Api::<Pod>::namespaced(env.client(User::Alice).await, &ns);
    match pods.list(&Default::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("expected 403, got {other:?}"),
    }

    env.grant(&ns, User::Alice, &["list"], &["pods"]).await;
    pods.list(&Default::default())
        .await
        .expect("list after grant");
}

/// A terminating pod exists with `deletionTimestamp` set until its finalizer is released,
/// which completes the deletion.
#[tokio::test]
async fn a_terminating_pod_has_a_deletion_timestamp() {
    let env = TestEnv::get();
    let ns = env.namespace("smoke-terminating").await;
    env.create_terminating_pod(&ns, "old", &[("app", "web")])
        .await;
    let pods = Api::<Pod>::namespaced(env.client(User::Admin).await, &ns);
    let pod = pods.get("old").await.expect("still there");
    assert!(pod.metadata.deletion_timestamp.is_some(), "{pod:?}");

    env.release_terminating_pod(&ns, "old").await;
    assert!(
        pods.get_opt("old").await.unwrap().is_none(),
        "deleted with its finalizer"
    );
}
