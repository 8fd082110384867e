//! HTTP/2 GOAWAY mid-watch, from a mock API server (TLS, ALPN `h2`) — the one way a
//! restarting API server ends every watch of a connection at once, which the real server's
//! restart (faults.rs) shows only with its timing. Two dependencies share the connection: before
//! the GOAWAY, A's list says Ready and B's not; after it, the fresh lists say the opposite. A
//! release would be false: A is judged only on its fresh list. depwait must hold (a heartbeat
//! after both fresh lists says so), then release when A's new watch says Ready.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use serde_json::{Value, json};
use support::{Depwait, LIMIT};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

/// What the test tells the mock, and what the mock tells the test.
struct Mock {
    /// Connections accepted so far.
    connections: AtomicUsize,
    /// Lists served on the second connection.
    fresh_lists: AtomicUsize,
    /// Send GOAWAY on the first connection (both watches are open).
    go_away: Notify,
    /// Both watches of the first connection are open.
    first_watches: AtomicUsize,
    watching: Notify,
    /// Both fresh lists were served.
    relisted: Notify,
    /// Events for namespace A's watch on the second connection.
    events: tokio::sync::Mutex<Option<mpsc::Receiver<Value>>>,
}

fn pod(ns: &str, ready: bool, rv: &str) -> Value {
    let s = if ready { "True" } else { "False" };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "db-0", "namespace": ns, "resourceVersion": rv, "uid": format!("{ns}-db-0"),
            "labels": {"app": "db"}},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": s}],
            "containerStatuses": [{"name": "app", "ready": ready, "restartCount": 0,
                "image": "x", "imageID": "", "state": {"running": {}}}]},
    })
}

fn tls_acceptor(crt: &Path, key: &Path) -> tokio_rustls::TlsAcceptor {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(crt)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Serve one connection: its number decides what the lists say.
async fn connection(
    mock: Arc<Mock>,
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    a: String,
) {
    let number = mock.connections.fetch_add(1, Ordering::SeqCst) + 1;
    let mut conn = h2::server::handshake(tls).await.expect("h2 handshake");
    let mut going_away = false;
    loop {
        let accepted = tokio::select! {
            accepted = conn.accept() => accepted,
            _ = mock.go_away.notified(), if number == 1 && !going_away => {
                // A restarting API server: GOAWAY, every stream of the connection ended.
                conn.abrupt_shutdown(h2::Reason::NO_ERROR);
                going_away = true;
                continue;
            }
        };
        let Some(Ok((request, respond))) = accepted else {
            return;
        };
        let mock = mock.clone();
        let a = a.clone();
        tokio::spawn(async move { handle(mock, number, request, respond, &a).await });
    }
}

async fn handle(
    mock: Arc<Mock>,
    number: usize,
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    a: &str,
) {
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    let ns = path
        .strip_prefix("/api/v1/namespaces/")
        .and_then(|p| p.strip_suffix("/pods"))
        .unwrap_or_default()
        .to_string();
    let head = http::Response::builder()
        .status(if ns.is_empty() { 404 } else { 200 })
        .header("content-type", "application/json")
        .body(())
        .unwrap();
    let Ok(mut body) = respond.send_response(head, ns.is_empty()) else {
        return;
    };
    if ns.is_empty() {
        return;
    }
    let is_a = ns == a;
    if !query.contains("watch=true") {
        // Before the GOAWAY A is Ready and B is not; after it, the opposite.
        let ready = (number == 1) == is_a;
        let rv = number.to_string();
        let list = json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": rv},
            "items": [pod(&ns, ready, &rv)]});
        let _ = body.send_data(Bytes::from(list.to_string()), true);
        if number > 1 && mock.fresh_lists.fetch_add(1, Ordering::SeqCst) + 1 == 2 {
            mock.relisted.notify_one();
        }
        return;
    }
    if number == 1 {
        if mock.first_watches.fetch_add(1, Ordering::SeqCst) + 1 == 2 {
            mock.watching.notify_one();
        }
    } else if is_a {
        let mut events = mock
            .events
            .lock()
            .await
            .take()
            .expect("one watch of A after GOAWAY");
        while let Some(event) = events.recv().await {
            let line = format!("{event}\n");
            if body.send_data(Bytes::from(line), false).is_err() {
                return;
            }
        }
    }
    // Hold the watch open until the connection ends.
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn goaway_mid_watch_relists_and_never_releases_on_the_stale_store() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, crt, key) = support::certs::ca_and_server(dir.path(), 2);
    let acceptor = tls_acceptor(&crt, &key);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let a = "ns-a".to_string();
    let (events, receiver) = mpsc::channel(4);
    let mock = Arc::new(Mock {
        connections: AtomicUsize::new(0),
        fresh_lists: AtomicUsize::new(0),
        go_away: Notify::new(),
        first_watches: AtomicUsize::new(0),
        watching: Notify::new(),
        relisted: Notify::new(),
        events: tokio::sync::Mutex::new(Some(receiver)),
    });
    let server = {
        let (mock, a) = (mock.clone(), a.clone());
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let tls = match acceptor.accept(tcp).await {
                    Ok(tls) => tls,
                    Err(_) => continue,
                };
                tokio::spawn(connection(mock.clone(), tls, a.clone()));
            }
        })
    };
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "mock", "cluster": {"server": format!("https://127.0.0.1:{port}"),
                "certificate-authority": ca}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "mock", "context": {"cluster": "mock", "user": "u"}}],
            "current-context": "mock",
        })
        .to_string(),
    )
    .unwrap();
    let mut running = Depwait::new()
        .kubeconfig(kubeconfig)
        .args(["--pods", "ns-a:app=db", "--pods", "ns-b:app=db"])
        .heartbeat()
        .spawn();
    let within = |what: &'static str, notify: &'static str| {
        move |r: Result<(), tokio::time::error::Elapsed>| {
            r.unwrap_or_else(|_| panic!("{what} never happened ({notify})"))
        }
    };
    within("both watches on one connection", "first connection")(
        tokio::time::timeout(LIMIT, mock.watching.notified()).await,
    );
    assert_eq!(
        mock.connections.load(Ordering::SeqCst),
        1,
        "one connection for both watches"
    );
    running
        .wait_for_logs(&["ns-a app=db: 1/1", "ns-b app=db: 0/1"], LIMIT)
        .await;
    mock.go_away.notify_one();
    within("both fresh lists after the GOAWAY", "second connection")(
        tokio::time::timeout(LIMIT, mock.relisted.notified()).await,
    );
    // Both judged on their fresh lists, then a heartbeat after that: still holding, for A.
    running
        .wait_for_logs(&["ns-a app=db: 0/1", "ns-b app=db: 1/1"], LIMIT)
        .await;
    running.expect_holding("ns-a app=db").await;
    events
        .send(json!({"type": "MODIFIED", "object": pod(&a, true, "3")}))
        .await
        .unwrap();
    let done = running.expect_exit(0).await;
    // Both re-lists shared one new connection too.
    assert_eq!(mock.connections.load(Ordering::SeqCst), 2, "{done:?}");
    server.abort();
}
