//! `just demo`: watch depwait wait, explain and release, against a throwaway API server.
//!
//! Starts etcd + kube-apiserver on loopback (the tests' harness), plays a short rollout — a
//! database that crash-loops before it comes up, a web tier scaling in — and shows depwait's
//! own output as it happens. Everything is stopped when the demo exits.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use serde_json::json;
use support::{Depwait, Running, TestEnv};

fn say(text: &str) {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        println!("\n\x1b[1m▶ {text}\x1b[0m");
    } else {
        println!("\n▶ {text}");
    }
}

/// Give depwait `pause_ms` to react, then print the log lines it wrote since the last call.
async fn show(depwait: &Running, printed: &mut usize, pause_ms: u64) {
    tokio::time::sleep(Duration::from_millis(pause_ms)).await;
    let log = depwait.stderr();
    for line in log[*printed..].lines() {
        println!("    depwait │ {line}");
    }
    *printed = log.len();
}

#[tokio::main]
async fn main() {
    say("Starting a throwaway kube-apiserver + etcd on loopback (first run builds them: ~4 min)");
    let env = TestEnv::get();
    let db = env.namespace("demo-db").await;
    let web = env.namespace("demo-web").await;
    println!(
        "    API server at {}; namespaces {db} and {web}",
        env.server
    );

    say("Creating a 3-pod ZooKeeper ensemble and 2 web pods; nothing is Ready yet");
    for name in ["zk-0", "zk-1", "zk-2"] {
        env.create_pod(&db, name, &[("app", "zk")]).await;
    }
    for name in ["web-1", "web-2"] {
        env.create_pod(&web, name, &[("app", "web"), ("environment", "dev")])
            .await;
    }

    let dict = format!(r#"{{"{web}": [{{"app": "web", "environment": "dev"}}]}}"#);
    say(&format!(
        "Starting depwait like the seed's init container, plus a quorum of 2 ZooKeeper pods:\n  \
         NAMESPACE_LABEL_DICT='{dict}' TIMEOUT=120 RETRY_INTERVAL=15 depwait --pods '{db}:app=zk:2'"
    ));
    let mut printed = 0;
    let mut depwait = Depwait::new()
        .env("NAMESPACE_LABEL_DICT", &dict)
        .env("TIMEOUT", "120")
        .env("RETRY_INTERVAL", "15")
        .args(["--pods", &format!("{db}:app=zk:2")])
        .spawn();
    depwait
        .wait_for_log("0/3 ready", Duration::from_secs(30))
        .await;
    show(&depwait, &mut printed, 300).await;

    say("zk-0 crash-loops: depwait says which pod and which container, and keeps waiting");
    env.set_pod_status(
        &db,
        "zk-0",
        json!({
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
            "containerStatuses": [{"name": "app", "ready": false, "restartCount": 3,
                "image": "zookeeper:3.9", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]
        }),
    )
    .await;
    show(&depwait, &mut printed, 1500).await;

    say("zk-1 and zk-2 turn Ready: the quorum of 2 is met although zk-0 is still down");
    env.set_pod_ready(&db, "zk-1", true).await;
    env.set_pod_ready(&db, "zk-2", true).await;
    show(&depwait, &mut printed, 1500).await;

    say("web-1 turns Ready; web-2 is still starting, so depwait holds on");
    env.set_pod_ready(&web, "web-1", true).await;
    show(&depwait, &mut printed, 1500).await;

    say("web-2 turns Ready: every dependency is Ready at once, depwait releases immediately");
    env.set_pod_ready(&web, "web-2", true).await;
    let done = depwait.wait(Duration::from_secs(30)).await;
    for line in done.stderr[printed..].lines() {
        println!("    depwait │ {line}");
    }
    println!(
        "\n    exit code {} — the app container would start now. (No polling: RETRY_INTERVAL=15 never delayed anything.)",
        done.code.unwrap_or(-1)
    );
    say("Done; the API server and etcd stop with this process");
}
