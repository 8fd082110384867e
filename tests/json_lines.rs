//! `--log-format json` is a contract for machines: every stderr line is a JSON object with an
//! `event`, `start` is the first line and `summary` the last, whatever happens — a release, a
//! timeout, a configuration error, no credentials, a fallback warning before the wait, a
//! warning after it.

mod support;

use serde_json::Value;
use support::{Depwait, DnsServer, LIMIT, TestEnv, User};

/// Every line parses, has a string `event`; exactly one `start`, first, and one `summary`,
/// last, whose `exit_code` is the process's. Returns the lines.
fn assert_contract(stderr: &str, code: i32) -> Vec<Value> {
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{stderr}"))
        })
        .collect();
    assert!(lines.len() >= 2, "{stderr}");
    for line in &lines {
        assert!(line["event"].is_string(), "no `event`: {line}\n{stderr}");
    }
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(events.first(), Some(&"start"), "{stderr}");
    assert_eq!(events.last(), Some(&"summary"), "{stderr}");
    assert_eq!(
        events.iter().filter(|e| **e == "start").count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        events.iter().filter(|e| **e == "summary").count(),
        1,
        "{stderr}"
    );
    assert_eq!(lines.last().unwrap()["exit_code"], code, "{stderr}");
    lines
}

fn json(args: &[&str]) -> Depwait {
    Depwait::new()
        .args(args.iter().copied())
        .args(["--log-format", "json"])
}

/// A release: start, changes, summary.
#[tokio::test]
async fn a_release_is_start_changes_summary() {
    let env = TestEnv::get();
    let ns = env.namespace("jsonok").await;
    env.create_pod(&ns, "web", &[("app", "web")]).await;
    env.set_pod_ready(&ns, "web", true).await;
    let done = json(&["--pods", &format!("{ns}:app=web")]).run(LIMIT).await;
    assert_eq!(done.code, Some(0), "{done:?}");
    let lines = assert_contract(&done.stderr, 0);
    assert_eq!(lines.last().unwrap()["outcome"], "ready");
}

/// A timeout, with `--emit-events` but no downward API: the warning about the Event comes
/// before the summary, and carries an `event` too.
#[tokio::test]
async fn a_timeout_with_an_emit_events_warning_ends_with_the_summary() {
    let env = TestEnv::get();
    let ns = env.namespace("jsonto").await;
    let done = json(&["--pods", &format!("{ns}:app=web"), "--timeout", "1s"])
        .args(["--emit-events"])
        .run(LIMIT)
        .await;
    assert_eq!(done.code, Some(1), "{done:?}");
    let lines = assert_contract(&done.stderr, 1);
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "WARN" && l["message"].as_str().unwrap().contains("POD_NAME")),
        "{done:?}"
    );
    assert_eq!(lines.last().unwrap()["outcome"], "timeout");
}

/// A configuration error, and an unknown flag, in JSON: `start` and `summary` (exit 2) only,
/// and the termination message.
#[tokio::test]
async fn configuration_errors_are_start_and_summary() {
    for args in [
        vec!["--pods", "no-colon"],
        vec!["--pods", "ns:app=x", "--timeout", "5M"],
        vec!["--pods", "ns:app=x", "--bogus"],
    ] {
        let done = json(&args).run(LIMIT).await;
        assert_eq!(done.code, Some(2), "{args:?}: {done:?}");
        let lines = assert_contract(&done.stderr, 2);
        assert_eq!(lines.len(), 2, "{args:?}: {done:?}");
        assert_eq!(lines[1]["outcome"], "usage_error");
        let message = done.termination_log.clone().unwrap_or_default();
        assert!(!message.is_empty(), "{args:?}: {done:?}");
    }
    // The format named by the variable counts as well.
    let done = Depwait::new()
        .args(["--pods", "no-colon"])
        .env("DEPWAIT_LOG_FORMAT", "JSON")
        .run(LIMIT)
        .await;
    assert_eq!(done.code, Some(2), "{done:?}");
    assert_contract(&done.stderr, 2);
}

/// No credentials at all: the error is the summary (exit 2), after `start`.
#[tokio::test]
async fn no_credentials_is_start_and_summary() {
    let home = tempfile::tempdir().unwrap();
    let done = json(&["--pods", "ns:app=x"])
        .kubeconfig(home.path().join("absent"))
        .env("HOME", home.path().to_str().unwrap())
        .run(LIMIT)
        .await;
    assert_eq!(done.code, Some(2), "{done:?}");
    let lines = assert_contract(&done.stderr, 2);
    assert!(
        lines[1]["message"]
            .as_str()
            .unwrap()
            .contains("cannot find Kubernetes credentials"),
        "{done:?}"
    );
    assert!(done.termination_log.is_some(), "{done:?}");
}

/// Without credentials, HOST names alone are resolved through DNS (a line saying so); without
/// RBAC on EndpointSlices, a warning says DNS replaces the watch. Both come after `start`.
#[tokio::test]
async fn dns_fallbacks_come_after_start() {
    let env = TestEnv::get();
    let dns = DnsServer::get();
    let ns = env.namespace("jsondns").await;
    env.grant(&ns, User::Alice, &["get", "list", "watch"], &["pods"])
        .await;
    let resolv = dns.resolv_conf(&DnsServer::pod_search(&ns));
    let done = json(&[&format!("mysql-read.{ns}"), "--timeout", "2s"])
        .user(User::Alice)
        .env("DEPWAIT_RESOLV_CONF", resolv.to_str().unwrap())
        .run(LIMIT)
        .await;
    assert_eq!(done.code, Some(1), "{done:?}");
    let lines = assert_contract(&done.stderr, 1);
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "dns_fallback" && l["level"] == "WARN"),
        "{done:?}"
    );

    let home = tempfile::tempdir().unwrap();
    let done = json(&[&format!("mysql-read.{ns}"), "--timeout", "2s"])
        .kubeconfig(home.path().join("absent"))
        .env("HOME", home.path().to_str().unwrap())
        .env("DEPWAIT_RESOLV_CONF", resolv.to_str().unwrap())
        .run(LIMIT)
        .await;
    assert_eq!(done.code, Some(1), "{done:?}");
    let lines = assert_contract(&done.stderr, 1);
    assert!(
        lines.iter().any(|l| l["event"] == "dns_fallback"),
        "{done:?}"
    );
}
