//! One TCP connection per depwait: with HTTP/2 every list and watch of a process shares one
//! TLS connection to the API server; with HTTP/1.1 (`DEPWAIT_HTTP1=1`, the old path the bench
//! measures) each watch holds its own. Counted from `/proc` against the real test server, once
//! every dependency's first list has been judged.

mod support;

use support::{Depwait, LIMIT, TestEnv};

const DEPENDENCIES: usize = 10;

async fn connections(http1: bool) -> usize {
    let env = TestEnv::get();
    let mut namespaces = Vec::new();
    let mut args = Vec::new();
    for _ in 0..DEPENDENCIES {
        let ns = env.namespace("conn").await;
        args.extend(["--pods".to_string(), format!("{ns}:app=db")]);
        namespaces.push(ns);
    }
    let mut depwait = Depwait::new().args(args).heartbeat();
    if http1 {
        depwait = depwait.env("DEPWAIT_HTTP1", "1");
    }
    let mut running = depwait.spawn();
    // Each dependency's first verdict comes from its complete list: by then every watch is
    // open (the restart guard's read of its own pod is off here: no POD_NAME).
    let needles: Vec<String> = namespaces.iter().map(|ns| format!("{ns} app=db")).collect();
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    running.wait_for_logs(&needles, LIMIT).await;
    running.expect_holding(&namespaces[0]).await;
    let count = running.connections_to(env.port());
    running.signal("TERM");
    running.expect_exit(143).await;
    count
}

#[tokio::test]
async fn http2_holds_one_connection_for_every_watch() {
    assert_eq!(connections(false).await, 1);
}

#[tokio::test]
async fn http1_holds_one_connection_per_watch() {
    let count = connections(true).await;
    assert!(
        count >= DEPENDENCIES,
        "{count} connections for {DEPENDENCIES} watches"
    );
}
