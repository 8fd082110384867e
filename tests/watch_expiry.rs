//! 410 Gone on an open watch ("too old resource version"), served by a mock API server.
//!
//! A real API server sends this when a watch resumes from a resourceVersion that etcd has
//! compacted away. depwait never resumes a broken watch (after any error it starts over with a
//! fresh list), so against the real test server the only way to see one is a compaction racing
//! the few milliseconds between a list and its watch: not something a test can produce on
//! demand. The mock sends it exactly when the test wants, through depwait's real watchers and
//! aggregator; what happens around it (re-list, readiness judged on the fresh list only) is
//! what is checked.

use std::convert::Infallible;
use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use depwait::aggregate::{self, Board, Outcome, Progress};
use depwait::config::Config;
use depwait::config::Input;
use depwait::dependency::Dependency;
use depwait::readiness::Readiness;
use depwait::shutdown::Signal;
use depwait::sources::Running;
use futures::StreamExt;
use futures::channel::mpsc;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::BodyExt;
use http_body_util::StreamBody;
use http_body_util::combinators::UnsyncBoxBody;
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

type MockBody = UnsyncBoxBody<Bytes, Infallible>;
/// One open watch: the test writes its events.
type WatchStream = mpsc::UnboundedSender<Bytes>;

const STEP: Duration = Duration::from_secs(10);

fn pod(name: &str, app: &str, ready: bool) -> Value {
    let status = if ready { "True" } else { "False" };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
                     "resourceVersion": "1", "labels": {"app": app}},
        "spec": {"containers": [{"name": "app", "image": "app"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": status}]},
    })
}

fn list(rv: &str, items: Vec<Value>) -> MockBody {
    let body = json!({"apiVersion": "v1", "kind": "PodList",
                      "metadata": {"resourceVersion": rv}, "items": items});
    http_body_util::Full::new(Bytes::from(body.to_string()))
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn event(kind: &str, object: Value) -> Bytes {
    Bytes::from(format!("{}\n", json!({"type": kind, "object": object})))
}

/// What the mock API server saw, in order: `list app=a`, `watch app=b`, ...
#[derive(Debug, PartialEq)]
struct Seen(String);

/// Serve pods in namespace `ns` for selectors `app=a` and `app=b`. Lists answer from
/// `lists` (by selector, in order); each watch hands its event stream to the test.
async fn serve(
    handle: tower_test::mock::Handle<Request<Body>, Response<MockBody>>,
    mut lists: Vec<(&'static str, &'static str, Vec<Value>)>,
    seen: UnboundedSender<(Seen, Option<WatchStream>)>,
) {
    let mut handle = pin!(handle);
    while let Some((request, respond)) = handle.next_request().await {
        let query = request.uri().query().unwrap_or_default().to_string();
        assert!(
            request.uri().path() == "/api/v1/namespaces/ns/pods",
            "unexpected request {}",
            request.uri()
        );
        let app = if query.contains("app%3Da") { "a" } else { "b" };
        if query.contains("watch=true") {
            let (tx, rx) = mpsc::unbounded::<Bytes>();
            let body = StreamBody::new(rx.map(|b| Ok::<_, Infallible>(Frame::data(b))));
            respond.send_response(Response::new(body.boxed_unsync()));
            let _ = seen.send((Seen(format!("watch app={app}")), Some(tx)));
        } else {
            let at = lists
                .iter()
                .position(|(sel, _, _)| *sel == app)
                .unwrap_or_else(|| panic!("no list left for app={app}"));
            let (_, rv, items) = lists.remove(at);
            respond.send_response(Response::new(list(rv, items)));
            let _ = seen.send((Seen(format!("list app={app}")), None));
        }
    }
}

/// Every verdict change, for assertions on what depwait believed when.
struct Record(UnboundedSender<String>);

impl Progress for Record {
    fn changed(&mut self, dep: &Dependency, readiness: &Readiness) {
        let _ = self.0.send(format!("{dep}: {}", readiness.summary));
    }
    fn heartbeat(&mut self, _: &Board, _: Option<Duration>) {}
}

async fn next_seen(
    rx: &mut UnboundedReceiver<(Seen, Option<WatchStream>)>,
    want: &str,
) -> Option<WatchStream> {
    let (seen, stream) = tokio::time::timeout(STEP, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("the mock server never saw `{want}`"))
        .expect("mock server gone");
    assert_eq!(seen, Seen(want.into()));
    stream
}

async fn progress_until(rx: &mut UnboundedReceiver<String>, want: &str) {
    loop {
        let line = tokio::time::timeout(STEP, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no progress line containing `{want}`"))
            .expect("progress gone");
        if line.contains(want) {
            return;
        }
    }
}

/// A Ready pod deleted while a watch is broken by 410 Gone must not keep its dependency green:
/// depwait re-lists, sees no `app=a` pod, and waits, even though `app=b` turns Ready then.
#[tokio::test]
async fn watch_expired_relists_and_judges_only_the_fresh_list() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<MockBody>>();
    let client = Client::new(service, "default");
    let (seen_tx, mut seen) = unbounded_channel();
    let lists = vec![
        ("a", "10", vec![pod("a-1", "a", true)]),
        ("b", "10", vec![pod("b-1", "b", false)]),
        // The re-list after the 410: a-1 was deleted while the watch was expired.
        ("a", "30", vec![]),
    ];
    tokio::spawn(serve(handle, lists, seen_tx));

    let input =
        Input::try_from_iter(["depwait", "--pods", "ns:app=a", "--pods", "ns:app=b"]).unwrap();
    let config = Config::from_input(input).unwrap();
    let (mut board, keys) = Board::new(config.dependencies);
    let (tx, rx) = unbounded_channel();
    let mut running = Running::start(Some(&client), &keys, tx);
    let (progress_tx, mut progress) = unbounded_channel();
    let waiting = tokio::spawn(async move {
        aggregate::wait(
            &mut board,
            &mut running,
            rx,
            None,
            None,
            std::future::pending::<Signal>(),
            &mut Record(progress_tx),
        )
        .await
    });

    // Both watchers list, then watch (in either order).
    let mut streams = std::collections::HashMap::new();
    for _ in 0..4 {
        let (seen, stream) = tokio::time::timeout(STEP, seen.recv())
            .await
            .unwrap()
            .unwrap();
        if let Some(stream) = stream {
            streams.insert(seen.0, stream);
        }
    }
    let watch_b = streams.remove("watch app=b").expect("a watch on app=b");
    let watch_a = streams.remove("watch app=a").expect("a watch on app=a");
    progress_until(&mut progress, "ns app=a: 1/1 ready").await;

    // The watch on app=a expires: the API server's ERROR event carries a 410 Status.
    let gone = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": "too old resource version: 10 (25)", "reason": "Expired", "code": 410});
    watch_a.unbounded_send(event("ERROR", gone)).unwrap();
    next_seen(&mut seen, "list app=a").await;
    let watch_a = next_seen(&mut seen, "watch app=a").await.unwrap();
    progress_until(&mut progress, "ns app=a: no matching pods yet").await;

    // app=b turns Ready now; a stale a-1 would release the pod here.
    watch_b
        .unbounded_send(event("MODIFIED", pod("b-1", "b", true)))
        .unwrap();
    progress_until(&mut progress, "ns app=b: 1/1 ready").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "released on a pod deleted during the expired watch"
    );

    // A new app=a pod turns Ready on the new watch: now both are, together.
    watch_a
        .unbounded_send(event("ADDED", pod("a-2", "a", true)))
        .unwrap();
    let outcome = tokio::time::timeout(STEP, waiting).await.unwrap().unwrap();
    assert!(matches!(outcome, Outcome::Ready), "{outcome:?}");
}
