//! `--timeout` bounds every request, against a server that accepts connections and never
//! answers (a loopback listener that accepts and then says nothing, not even the TLS
//! handshake): `depwait check` ends with exit 1 and a table naming what did not answer, and
//! the Event recorded after a timed-out wait gets a bound of its own.

mod support;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;

use serde_json::json;
use support::{Depwait, TestEnv};

/// A server that accepts every connection and never writes a byte; the connections stay open
/// until the test process ends.
fn black_hole() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

/// A kubeconfig pointing at `port` on loopback, with a token and no CA (the handshake never
/// gets as far as a certificate).
fn kubeconfig_for(dir: &tempfile::TempDir, port: u16) -> PathBuf {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "silent", "cluster": {"server": format!("https://127.0.0.1:{port}")}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "silent", "context": {"cluster": "silent", "user": "u"}}],
        "current-context": "silent",
    });
    let path = dir.path().join("kubeconfig.yaml");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

/// `depwait check --timeout 1s` against a server that never answers: exit 1 with the table,
/// whose row says the list had no answer within the timeout (today's main waited for the
/// client's own 30 s connect timeout and printed a connection error instead).
#[tokio::test]
async fn check_ends_at_the_timeout_naming_what_did_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig_for(&dir, black_hole());
    let ns = TestEnv::get().unique_name("silent");
    let done = Depwait::new()
        .kubeconfig(kubeconfig)
        .args([
            "check",
            "--pods",
            &format!("{ns}:app=db"),
            "--timeout",
            "1s",
        ])
        .spawn()
        .expect_exit(1)
        .await;
    let row = format!(
        "no answer from the API server (listing pods in namespace {ns} matching app=db) \
         within --timeout 1s"
    );
    assert!(done.stdout.contains(&row), "{done:?}");
    assert!(done.stdout.starts_with("DEPENDENCY"), "{done:?}");
}

/// `--emit-events` after a timed-out wait, the API server silent: the Event request is
/// abandoned after its own bound and logged; the exit code stays 1.
#[tokio::test]
async fn the_event_after_a_timeout_is_bounded_too() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig_for(&dir, black_hole());
    let ns = TestEnv::get().unique_name("silent");
    let done = Depwait::new()
        .kubeconfig(kubeconfig)
        .env("POD_NAME", "web-0")
        .env("POD_NAMESPACE", &ns)
        .args([
            "--pods",
            &format!("{ns}:app=db"),
            "--timeout",
            "1s",
            "--emit-events",
        ])
        .spawn()
        .expect_exit(1)
        .await;
    assert!(
        done.stderr.contains(&format!(
            "could not record an Event on pod {ns}/web-0: the API server did not answer within 5s"
        )),
        "{done:?}"
    );
}
