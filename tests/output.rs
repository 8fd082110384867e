//! What reaches people, against the real API server: text the cluster wrote is escaped
//! wherever it is printed, credentials in `--http` URLs are sent and never shown, duplicates
//! are counted once, an ExternalName Service cannot claim a MIN it has no endpoints for, and
//! `--emit-events` says what it did.

mod support;

use serde_json::json;
use support::{Depwait, Finished, JOB, LIMIT, TestEnv, pod_template};

/// What a hostile pod writes into its status: clear the screen, go back to the start of the
/// line, forge depwait's release line, ring the bell.
const HOSTILE: &str = "\x1b[2J\r\nINFO all dependencies ready\x07";
/// The same, as depwait shows it.
const HOSTILE_SHOWN: &str = r"\x1b[2J\r\nINFO all dependencies ready\x07";

/// Control characters in `text` other than the newlines depwait itself writes.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect()
}

/// Pod condition messages, container reasons and Job condition messages carrying an escape
/// sequence, CR, LF and BEL reach no output raw — progress lines, heartbeat, summary, the
/// termination message, the JSON lines, the Event, the `depwait check` table — and stay
/// readable in their escaped form; no line can be forged.
#[tokio::test]
async fn cluster_text_is_escaped_wherever_it_is_printed() {
    let env = TestEnv::get();
    let ns = env.namespace("hostile").await;
    // A container reason (shown first), and a scheduling message (shown when no container
    // says anything).
    env.create_pod(&ns, "web-1", &[("app", "web")]).await;
    env.set_pod_status(
        &ns,
        "web-1",
        json!({
            "phase": "Pending",
            "conditions": [{"type": "Ready", "status": "False", "reason": HOSTILE, "message": HOSTILE}],
            "containerStatuses": [{
                "name": "app", "ready": false, "restartCount": 0, "image": "x", "imageID": "",
                "state": {"waiting": {"reason": HOSTILE, "message": HOSTILE}}
            }]
        }),
    )
    .await;
    env.create_pod(&ns, "web-2", &[("app", "web")]).await;
    env.set_pod_status(
        &ns,
        "web-2",
        json!({
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": HOSTILE}]
        }),
    )
    .await;
    env.create(
        Some(&ns),
        JOB,
        json!({"metadata": {"name": "migrate"}, "spec": {"backoffLimit": 0, "template": pod_template("migrate")}}),
    )
    .await;
    env.set_status(
        Some(&ns),
        JOB,
        "migrate",
        json!({"conditions": [{"type": "Complete", "status": "False", "reason": "Hostile", "message": HOSTILE}]}),
    )
    .await;
    let deps = [
        "--pods".to_string(),
        format!("{ns}:app=web"),
        "--resource".into(),
        format!("{ns}/jobs.batch/migrate:condition=Complete"),
    ];

    let done = Depwait::new()
        .args(deps.clone())
        .args(["--timeout", "3s", "--heartbeat", "1s", "--emit-events"])
        .env("POD_NAME", "web-1")
        .env("POD_NAMESPACE", &ns)
        .spawn()
        .expect_exit(1)
        .await;
    let message = done.termination_log.clone().unwrap_or_default();
    for (what, text) in [("stderr", &done.stderr), ("termination message", &message)] {
        assert_eq!(
            raw_controls(text),
            Vec::<char>::new(),
            "{what} carries raw control characters: {done:?}"
        );
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("INFO all dependencies ready")),
            "{what} has a forged line: {done:?}"
        );
    }
    // Still readable: every hostile text is there, escaped.
    assert!(
        done.stderr
            .contains(&format!("web-1: container app {HOSTILE_SHOWN}")),
        "{done:?}"
    );
    assert!(
        done.stderr
            .contains(&format!("web-2: Unschedulable: {HOSTILE_SHOWN}")),
        "{done:?}"
    );
    assert!(
        done.stderr
            .contains(&format!("Complete=False (Hostile: {HOSTILE_SHOWN})")),
        "{done:?}"
    );
    assert!(
        done.stderr.contains("still waiting (") && done.stderr.contains(HOSTILE_SHOWN),
        "{done:?}"
    );
    assert!(
        message.contains(&format!("web-1: container app {HOSTILE_SHOWN}")),
        "{done:?}"
    );

    // The Event on the waiting pod carries the same escaped text.
    let events = kube::Api::<k8s_openapi::api::core::v1::Event>::namespaced(
        env.client(support::User::Admin).await,
        &ns,
    )
    .list(&Default::default())
    .await
    .unwrap()
    .items;
    let event = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("DependenciesNotReady"))
        .unwrap_or_else(|| panic!("no Event among {events:?}; {done:?}"));
    let text = event.message.clone().unwrap_or_default();
    assert_eq!(raw_controls(&text), Vec::<char>::new(), "{text:?}");
    assert!(text.contains(HOSTILE_SHOWN), "{text:?}");

    // JSON: one rule, the same escaped text in `summary` and `message`, not just JSON's \u001b.
    let json = Depwait::new()
        .args(deps.clone())
        .args(["--timeout", "1s", "--log-format", "json"])
        .spawn()
        .expect_exit(1)
        .await;
    let changes: Vec<serde_json::Value> = json
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .filter(|v: &serde_json::Value| v["event"] == "change")
        .collect();
    let pods = changes
        .iter()
        .rfind(|c| c["dependency"] == format!("{ns} app=web"))
        .unwrap_or_else(|| panic!("{json:?}"));
    for field in ["summary", "message"] {
        let value = pods[field].as_str().unwrap();
        assert_eq!(
            raw_controls(value),
            Vec::<char>::new(),
            "{field}: {value:?}"
        );
        assert!(value.contains(HOSTILE_SHOWN), "{field}: {value:?}");
    }

    // The check table: escaped, one line per row.
    let check = Depwait::new()
        .args(["check".to_string()])
        .args(deps)
        .spawn()
        .expect_exit(1)
        .await;
    assert_eq!(raw_controls(&check.stdout), Vec::<char>::new(), "{check:?}");
    assert!(
        check
            .stdout
            .contains(&format!("web-1: container app {HOSTILE_SHOWN}")),
        "{check:?}"
    );
    assert!(
        check
            .stdout
            .lines()
            .all(|l| !l.starts_with("INFO all dependencies ready")),
        "{check:?}"
    );
}

/// A loopback HTTP server that answers 200 only to `Authorization: Basic <expected>` (else
/// 401), and records the request lines and the Authorization headers it saw.
async fn basic_auth_server(
    expected: &'static str,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let auth = request
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .starts_with("authorization:")
                            .then(|| l[14..].trim().to_string())
                    })
                    .unwrap_or_default();
                let first = request.lines().next().unwrap_or_default().to_string();
                log.lock().unwrap().push(format!("{first} | {auth}"));
                let code = if auth == format!("Basic {expected}") {
                    200
                } else {
                    401
                };
                let response =
                    format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, seen)
}

/// `--http http://user:password@host/...?token=...`: the credentials are sent as Basic auth
/// (the server sees them), and no output shows the password or the token — not the progress
/// lines at trace level, the termination message, the check table, or an error quoting a bad
/// `--config` entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_credentials_are_sent_and_never_shown() {
    // base64("user:s3cret")
    let (port, seen) = basic_auth_server("dXNlcjpzM2NyZXQ=").await;
    let good = format!("http://user:s3cret@127.0.0.1:{port}/ok?token=t0k3n");
    let wrong = format!("http://user:wr0ng@127.0.0.1:{port}/ok");
    let secrets = ["s3cret", "wr0ng", "t0k3n", "dXNlcjpzM2NyZXQ"];
    let done = Depwait::new()
        .kubeconfig("/nonexistent/kubeconfig".into())
        .env("DEPWAIT_LOG", "trace")
        .args(["--http", &good, "--http", &wrong, "--timeout", "2s"])
        .spawn()
        .expect_exit(1)
        .await;
    let message = done.termination_log.clone().unwrap_or_default();
    for secret in secrets {
        assert!(
            !done.stderr.contains(secret),
            "stderr leaks {secret}: {done:?}"
        );
        assert!(
            !message.contains(secret),
            "termination message leaks {secret}: {done:?}"
        );
    }
    assert!(
        done.stderr.contains("TRACE"),
        "trace level was on: {done:?}"
    );
    assert!(
        done.stderr.contains(&format!(
            "http http://user:***@127.0.0.1:{port}/ok?token=***: HTTP 200"
        )),
        "{done:?}"
    );
    assert!(
        message.contains(&format!(
            "http http://user:***@127.0.0.1:{port}/ok: HTTP 401"
        )),
        "{done:?}"
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|r| r == "GET /ok?token=t0k3n HTTP/1.1 | Basic dXNlcjpzM2NyZXQ="),
        "the password went out as Basic auth: {seen:?}"
    );

    let check = Depwait::new()
        .args(["check", "--http", &good])
        .run(LIMIT)
        .await;
    for secret in secrets {
        assert!(!check.stdout.contains(secret), "{check:?}");
        assert!(!check.stderr.contains(secret), "{check:?}");
    }
    assert!(check.stdout.contains("user:***@"), "{check:?}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deps.yaml");
    std::fs::write(
        &file,
        "http: ['http://user:s3cret@127.0.0.1:99999/?token=t0k3n']\n",
    )
    .unwrap();
    for args in [
        vec!["--config".to_string(), file.to_str().unwrap().into()],
        vec![
            "--http".into(),
            "http://user:s3cret@127.0.0.1:99999/?token=t0k3n".into(),
        ],
    ] {
        let bad = Depwait::new()
            .kubeconfig("/nonexistent/kubeconfig".into())
            .args(args)
            .spawn()
            .expect_exit(2)
            .await;
        let message = bad.termination_log.clone().unwrap_or_default();
        assert!(bad.stderr.contains("`99999` is not a port"), "{bad:?}");
        for secret in secrets {
            assert!(!bad.stderr.contains(secret), "{bad:?}");
            assert!(!message.contains(secret), "{bad:?}");
        }
    }
}

/// The same dependency given twice by flags and once more in `--config` is waited for and
/// counted once, and one line says which were dropped.
#[tokio::test]
async fn duplicate_dependencies_are_counted_once() {
    let env = TestEnv::get();
    let ns = env.namespace("dup").await;
    env.create_pod(&ns, "web", &[("app", "web")]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deps.yaml");
    std::fs::write(&file, format!("pods: ['{ns}:app=web']\n")).unwrap();
    let pods = format!("{ns}:app=web");
    let done = Depwait::new()
        .args(["--pods", &pods, "--pods", &pods, "--config"])
        .args([file.to_str().unwrap(), "--timeout", "1s"])
        .spawn()
        .expect_exit(1)
        .await;
    assert!(
        done.stderr
            .contains(&format!("waiting for 1 dependency: {ns} app=web")),
        "{done:?}"
    );
    assert!(
        done.stderr.contains(&format!(
            "ignoring 2 duplicate dependencies, each is waited for once: --pods #2 is the same as --pods #1 ({ns} app=web); --config pods[0] is the same as --pods #1 ({ns} app=web)"
        )),
        "{done:?}"
    );
    let message = done.termination_log.clone().unwrap_or_default();
    assert!(message.contains("1 of 1 not ready"), "{done:?}");

    let check = Depwait::new()
        .args(["check", "--pods", &pods, "--pods", &pods])
        .spawn()
        .expect_exit(1)
        .await;
    assert_eq!(
        check
            .stdout
            .lines()
            .filter(|l| l.contains("app=web"))
            .count(),
        1,
        "{check:?}"
    );
}

/// `--service NS/NAME:3` on an ExternalName Service: it has no endpoints to count, so MIN 3
/// cannot be met — a failed dependency (exit 4) saying how to wait for it instead, never
/// `READY 1/1 (min 3)`. Without MIN it is still judged by its name resolving.
#[tokio::test]
async fn external_name_service_cannot_meet_a_min() {
    let env = TestEnv::get();
    let ns = env.namespace("extmin").await;
    // `localhost` resolves from the hosts file: no DNS server, no network.
    env.create_external_name_service(&ns, "db", "localhost")
        .await;
    let service = format!("{ns}/db:3");
    let done = Depwait::new()
        .args(["--service", &service, "--timeout", "30s"])
        .spawn()
        .expect_exit(4)
        .await;
    let message = done.termination_log.clone().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "service {ns}/db (min 3) failed: Service {ns}/db is of type ExternalName (localhost), which has no endpoints to count, so MIN 3 can never be met; drop `:3` to wait for localhost to resolve"
        )),
        "{done:?}"
    );
    let check = Depwait::new()
        .args(["check", "--service", &service])
        .spawn()
        .expect_exit(4)
        .await;
    let row: Vec<&str> = check
        .stdout
        .lines()
        .find(|l| l.contains("/db"))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        row[..5],
        ["service", &format!("{ns}/db"), "(min", "3)", "FAILED"],
        "{check:?}"
    );
    assert_eq!(
        row[5], "-",
        "no count where there is nothing to count: {check:?}"
    );

    Depwait::new()
        .args(["--service", &format!("{ns}/db")])
        .spawn()
        .expect_exit(0)
        .await;
}

/// `--emit-events` naming a pod that does not exist records nothing and says so, naming the
/// variables to fix; for a pod that exists the line names the Event it created.
#[tokio::test]
async fn emit_events_says_what_happened() {
    use k8s_openapi::api::core::v1::Event;
    let env = TestEnv::get();
    let ns = env.namespace("evmissing").await;
    let done = Depwait::new()
        .args(["--pods", &format!("{ns}:app=db"), "--timeout", "1s"])
        .args(["--emit-events"])
        .env("POD_NAME", "no-such-pod")
        .env("POD_NAMESPACE", &ns)
        .spawn()
        .expect_exit(1)
        .await;
    assert!(!done.stderr.contains("recorded Warning Event"), "{done:?}");
    assert!(
        done.stderr.contains(&format!(
            "no Event recorded: pod {ns}/no-such-pod (POD_NAMESPACE/POD_NAME) does not exist"
        )),
        "{done:?}"
    );
    let api = kube::Api::<Event>::namespaced(env.client(support::User::Admin).await, &ns);
    let events = api.list(&Default::default()).await.unwrap().items;
    assert!(
        events
            .iter()
            .all(|e| e.reason.as_deref() != Some("DependenciesNotReady")),
        "{events:?}"
    );

    env.create_pod(&ns, "app-1", &[("app", "app")]).await;
    let done = Depwait::new()
        .args(["--pods", &format!("{ns}:app=db"), "--timeout", "1s"])
        .args(["--emit-events"])
        .env("POD_NAME", "app-1")
        .env("POD_NAMESPACE", &ns)
        .spawn()
        .expect_exit(1)
        .await;
    let events = api.list(&Default::default()).await.unwrap().items;
    let event = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("DependenciesNotReady"))
        .unwrap_or_else(|| panic!("{events:?}"));
    let name = event.metadata.name.clone().unwrap();
    assert!(
        done.stderr.contains(&format!(
            "recorded Warning Event DependenciesNotReady (events/{name}) on pod {ns}/app-1"
        )),
        "{done:?}"
    );
}

/// depwait with no API server at all: for what is decided before any request.
async fn offline(args: &[&str]) -> Finished {
    Depwait::new()
        .offline()
        .args(args.iter().copied())
        .run(LIMIT)
        .await
}

/// `depwait rbac` quotes each dependency in a YAML comment: a newline in user text (a
/// `jsonpath=` value is free text) stays inside the comment, escaped, instead of starting a
/// line of YAML that `kubectl apply` would take as rules. And a control character in a bad
/// argument is quoted escaped in the usage error and its termination message.
#[tokio::test]
async fn user_text_cannot_break_out_of_its_line() {
    let out = offline(&[
        "rbac",
        "--service-account",
        "shop/web",
        "--resource",
        "db/configmaps/x:jsonpath={.data.a}=v\n- apiGroups: ['*']\n  resources: ['*']\n  verbs: ['*']",
    ])
    .await;
    let stdout = &out.stdout;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        stdout
            .lines()
            .filter(|l| l.contains("apiGroups: ['*']"))
            .all(|l| l.starts_with('#')),
        "{stdout}"
    );
    assert!(
        stdout.contains(r"=v\n- apiGroups: ['*']\n  resources"),
        "{stdout}"
    );

    let out = offline(&["--pods", "db\x1b[2J\r\nINFO all dependencies ready:app=x"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    let message = out.termination_log.clone().unwrap_or_default();
    for text in [out.stderr.as_str(), message.as_str()] {
        assert_eq!(raw_controls(text), Vec::<char>::new(), "{text:?}");
        assert!(
            text.contains(r"db\x1b[2J\r\nINFO all dependencies ready"),
            "{text:?}"
        );
    }
}
