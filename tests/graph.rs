//! `depwait graph`: every scenario of tests/graph/*.yaml read from the manifests (against a
//! golden report) and from the real test API server after `kubectl apply` of the same
//! manifests (the same report); the DOT, Mermaid and JSON outputs as goldens, DOT read back by
//! Graphviz and Mermaid by Mermaid's own parser; exit codes 2 and 3; and the ClusterRole
//! `depwait rbac --for-graph` prints being all it needs.
//!
//! `UPDATE_GOLDEN=1 cargo test --test graph` rewrites the goldens from the current output, for
//! a reviewer to read in the diff.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Depwait, Finished, LIMIT, TestEnv, User};

/// Each scenario and the exit code its report must end with.
const SCENARIOS: &[(&str, i32)] = &[
    ("chain", 0),
    ("fan-in", 0),
    ("kinds", 0),
    ("seed-dict", 0),
    ("precheck-args", 0),
    ("quorum-breaks-cycle", 0),
    ("config-from-configmap", 0),
    ("cycle-two", 1),
    ("cycle-three", 1),
    ("statefulset-self-wait", 1),
    ("selector-typo", 1),
    ("quorum-too-large", 1),
];

/// Scenarios read from manifests only (what they show needs a newer server than 1.20).
const MANIFEST_ONLY: &[(&str, i32)] = &[("native-sidecar", 0)];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/graph")
}

fn fixture(name: &str) -> PathBuf {
    dir().join(format!("{name}.yaml"))
}

/// `depwait graph ARGS` on manifests: no API server is started or asked.
fn graph(args: &[&str]) -> Finished {
    let mut argv = vec!["graph"];
    argv.extend_from_slice(args);
    Depwait::new().offline().args(argv).run_blocking(LIMIT)
}

/// Compare `actual` with the golden file `name`, or write it under `UPDATE_GOLDEN=1`.
fn golden(name: &str, actual: &str) {
    let path = dir().join("golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        actual,
        expected,
        "{} differs (UPDATE_GOLDEN=1 rewrites it; read the diff)",
        path.display()
    );
}

#[test]
fn every_scenario_gives_its_golden_report_from_manifests() {
    for &(name, code) in SCENARIOS.iter().chain(MANIFEST_ONLY) {
        let out = graph(&["-f", fixture(name).to_str().unwrap()]);
        assert_eq!(out.code, Some(code), "{name}: {out:?}");
        golden(&format!("{name}.txt"), &out.stdout);
    }
}

/// One drawing per format, of the scenarios that use every kind of node and edge: a cycle, a
/// self-wait, something missing, something outside, a quorum.
#[test]
fn dot_mermaid_and_json_are_golden() {
    let files: Vec<String> = [
        "cycle-three",
        "statefulset-self-wait",
        "selector-typo",
        "precheck-args",
        "fan-in",
    ]
    .iter()
    .map(|n| fixture(n).to_str().unwrap().to_string())
    .collect();
    for (format, ext) in [("dot", "dot"), ("mermaid", "mmd"), ("json", "json")] {
        let mut args = vec!["--output", format];
        for f in &files {
            args.extend(["-f", f.as_str()]);
        }
        let out = graph(&args);
        assert_eq!(out.code, Some(1), "{format}: {out:?}");
        golden(&format!("combined.{ext}"), &out.stdout);
        if format == "json" {
            let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
            let kinds: Vec<&str> = v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["kind"].as_str().unwrap())
                .collect();
            assert_eq!(
                kinds,
                ["cycle", "self-wait", "unsatisfiable"],
                "most serious first"
            );
            assert_eq!(v["ok"], false);
        }
    }
}

/// Graphviz itself reads every scenario's DOT (installed by scripts/graph-tools.sh).
#[test]
fn graphviz_reads_every_dot_output() {
    for &(name, _) in SCENARIOS {
        let out = graph(&["-o", "dot", "-f", fixture(name).to_str().unwrap()]);
        let svg = svg_of(&out.stdout);
        assert!(svg.contains("<svg"), "{name}: {svg}");
    }
}

/// Mermaid's own parser (mermaid.parse, headless) accepts every scenario's flowchart.
#[test]
fn mermaid_parses_every_mermaid_output() {
    for &(name, _) in SCENARIOS {
        let out = graph(&["-o", "mermaid", "-f", fixture(name).to_str().unwrap()]);
        assert_eq!(
            mermaid_type(&out.stdout),
            "flowchart-v2",
            "{name}: {}",
            out.stdout
        );
    }
}

/// Graphviz's SVG of `dot`.
fn svg_of(dot: &str) -> String {
    pipe(Command::new(tool("dot")).arg("-Tsvg"), dot)
}

/// The diagram type Mermaid's own parser finds in `text` (tests/graph/mermaid-parse.mjs).
fn mermaid_type(text: &str) -> String {
    let answer = pipe(
        Command::new(tool("node"))
            .arg(dir().join("mermaid-parse.mjs"))
            .env("NODE_PATH", tools_dir().join("node_modules")),
        text,
    );
    answer.trim().to_string()
}

#[test]
fn a_manifest_that_does_not_parse_is_exit_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "kind: Deployment\nmetadata:\n  name: a\n  labels: {x: [\n",
    )
    .unwrap();
    let out = graph(&["-f", bad.to_str().unwrap()]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("bad.yaml: not a YAML or JSON manifest"),
        "{out:?}"
    );
    assert!(out.stderr.contains("line "), "{out:?}");
    let out = graph(&["-f", dir.path().join("missing.yaml").to_str().unwrap()]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("missing.yaml: cannot read it"),
        "{out:?}"
    );
}

/// A folder reads its manifests in name order, and `-` reads standard input.
#[test]
fn folders_and_standard_input_are_read() {
    let out = graph(&["-f", dir().to_str().unwrap()]);
    // Every scenario at once: their problems add up.
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.contains("CYCLE"), "{}", out.stdout);
    let text = std::fs::read_to_string(fixture("chain")).unwrap();
    let piped = pipe(
        Command::new(env!("CARGO_BIN_EXE_depwait")).args(["graph", "-f", "-"]),
        &text,
    );
    let from_file = graph(&["-f", fixture("chain").to_str().unwrap()]);
    assert_eq!(piped, from_file.stdout);
}

/// The gate's secrets never reach the output: a URL's password and a shell command's token.
#[test]
fn no_secret_of_a_gate_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret.yaml");
    std::fs::write(
        &path,
        r#"
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers:
      - {name: a, image: depwait, args: ["--http", "https://u:hunter2@api.example.com/?token=s3cret"]}
      - {name: b, image: depwait, command: [sh, -c, "TOKEN=hunter2 depwait --pods shop:app=x"]}
      - {name: c, image: depwait, args: ["--http", "https://u:hunter2@api.example.com:99999/"]}
"#,
    )
    .unwrap();
    for format in ["text", "dot", "mermaid", "json"] {
        let out = graph(&["-o", format, "-f", path.to_str().unwrap()]);
        assert!(
            !out.stdout.contains("hunter2") && !out.stdout.contains("s3cret"),
            "{format}: {}",
            out.stdout
        );
        assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    }
}

/// What `kubectl apply` of a scenario into fresh namespaces gives, read back from the server,
/// is the report the same manifests give from disk.
#[tokio::test]
async fn the_cluster_gives_the_same_report_as_its_manifests() {
    let env = TestEnv::get();
    for &(name, code) in SCENARIOS {
        let (shop, db) = applied(env, name).await;
        let text = renamed(&std::fs::read_to_string(fixture(name)).unwrap(), &shop, &db);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, &text).unwrap();
        let from_disk = Depwait::new()
            .offline()
            .args(["graph", "-f", file.to_str().unwrap()])
            .run(LIMIT)
            .await;
        let from_cluster = Depwait::new()
            .args(["graph", "-n", &shop, "-n", &db])
            .run(LIMIT)
            .await;
        assert_eq!(from_cluster.code, Some(code), "{name}: {from_cluster:?}");
        assert_eq!(from_cluster.stdout, from_disk.stdout, "{name}");
        // And both are the golden report, in these namespaces.
        let expected = std::fs::read_to_string(dir_golden(name)).unwrap();
        assert_eq!(
            from_cluster.stdout,
            renamed(&expected, &shop, &db),
            "{name}"
        );
    }
}

/// Without list rights graph is exit 3 and names what it may not list; with only the
/// ClusterRole `depwait rbac --for-graph` prints, it reads everything it needs.
#[tokio::test]
async fn graph_needs_the_for_graph_cluster_role_and_no_more() {
    let env = TestEnv::get();
    let denied = Depwait::new()
        .user(User::Alice)
        .args(["graph", "-n", "default"])
        .run(LIMIT)
        .await;
    assert_eq!(denied.code, Some(3), "{denied:?}");
    assert!(
        denied.stderr.contains("access denied: may not list"),
        "{denied:?}"
    );
    assert!(
        denied.stderr.contains("depwait rbac --for-graph"),
        "{denied:?}"
    );

    let ns = env.namespace("auditor").await;
    let sa = format!("{ns}/auditor");
    env.apply(
        &format!(
            "{{\"apiVersion\": \"v1\", \"kind\": \"ServiceAccount\", \"metadata\": {{\"name\": \"auditor\", \"namespace\": \"{ns}\"}}}}"
        ),
    );
    let rbac = Depwait::new()
        .offline()
        .args(["rbac", "--for-graph", "--service-account", &sa])
        .run(LIMIT)
        .await;
    assert_eq!(rbac.code, Some(0), "{rbac:?}");
    env.apply(&rbac.stdout);
    let (shop, db) = applied(env, "config-from-configmap").await;
    let token = env.service_account_token(&ns, "auditor").await;
    let kubeconfig = env.token_kubeconfig(&token);
    // The authorizer's cache takes the new binding within a moment: retried, not slept.
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        let out = Depwait::new()
            .kubeconfig(kubeconfig.clone())
            .args(["graph", "-n", &shop, "-n", &db])
            .run(LIMIT)
            .await;
        if out.code == Some(0) {
            assert!(
                out.stdout.contains(&format!("{shop}/Deployment/api")),
                "{out:?}"
            );
            // A ConfigMap is more than the role grants: said, not guessed, and no failure.
            let unread = format!(
                "init container wait: --config /etc/depwait/deps.yaml: it is mounted from \
                 ConfigMap {shop}/gate, which could not be read (access denied: grant get on \
                 configmaps to read it); its dependencies are not shown"
            );
            assert!(out.stdout.contains(&unread), "{out:?}");
            break;
        }
        assert_eq!(out.code, Some(3), "{out:?}");
        assert!(
            std::time::Instant::now() < deadline,
            "the ClusterRole never sufficed: {out:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Scenario `name` applied (`kubectl apply`) into two fresh namespaces standing for its `shop`
/// and `db`; their names.
async fn applied(env: &TestEnv, name: &str) -> (String, String) {
    let shop = env.namespace("shop").await;
    let db = env.namespace("db").await;
    let text = renamed(&std::fs::read_to_string(fixture(name)).unwrap(), &shop, &db);
    env.apply(&text);
    (shop, db)
}

fn dir_golden(name: &str) -> PathBuf {
    dir().join("golden").join(format!("{name}.txt"))
}

/// The scenario's namespaces `shop` and `db` renamed (wherever a namespace is written: fields,
/// `db/mysql`, `db:app=zk`, `mysql-0.mysql.db`).
fn renamed(text: &str, shop: &str, db: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(match word.as_str() {
            "shop" => shop,
            "db" => db,
            w => w,
        });
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Where scripts/graph-tools.sh installs Graphviz's and Mermaid's checkers.
fn tools_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into());
    std::env::var_os("DEPWAIT_GRAPH_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cache/depwait/graph-tools"))
}

/// `name` on PATH, after scripts/graph-tools.sh has installed what is missing (once per test
/// binary; it finds its cache on later runs).
fn tool(name: &str) -> PathBuf {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/graph-tools.sh");
        let out = Command::new("bash")
            .arg(script)
            .env("DEPWAIT_GRAPH_TOOLS", tools_dir())
            .output()
            .expect("run scripts/graph-tools.sh");
        assert!(
            out.status.success(),
            "scripts/graph-tools.sh failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not on PATH after scripts/graph-tools.sh"))
}

/// Run `command` with `input` on stdin; its stdout. Panics with its stderr if it fails.
fn pipe(command: &mut Command, input: &str) -> String {
    let out = support::with_stdin(command, input);
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `--status` shows what is true now, as `depwait check` says it: each dependency and each
/// workload, Ready or not and why, and follows the cluster when it changes.
#[tokio::test]
async fn status_shows_what_everyone_waits_on_now() {
    let env = TestEnv::get();
    let (shop, db) = applied(env, "chain").await;
    // The StatefulSet's pods as its controller and the kubelet would leave them: one Ready,
    // one not; the Service's EndpointSlice says the same.
    for pod in ["mysql-0", "mysql-1"] {
        // Owned by the StatefulSet, as its controller makes them: not bare pods of their own.
        env.apply(
            &serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod, "namespace": db, "labels": {"app": "mysql"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                        "name": "mysql", "uid": "00000000-0000-0000-0000-000000000001",
                        "controller": true}]},
                "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]},
            })
            .to_string(),
        );
    }
    env.set_pod_ready(&db, "mysql-0", true).await;
    env.set_pod_ready(&db, "mysql-1", false).await;
    env.set_endpoint_slice(
        &db,
        "mysql",
        "mysql-x",
        &[(Some("mysql-0"), true), (Some("mysql-1"), false)],
    )
    .await;
    let status = |format: &'static str| {
        let (shop, db) = (shop.clone(), db.clone());
        async move {
            Depwait::new()
                .args(["graph", "--status", "-o", format, "-n", &shop, "-n", &db])
                .run(LIMIT)
                .await
        }
    };
    let out = status("text").await;
    assert_eq!(out.code, Some(0), "{out:?}");
    for line in [
        format!(
            "wave 0  {db}/StatefulSet/mysql  [NOT READY 1/2: mysql-1: container app not ready]"
        ),
        format!("{shop}/Deployment/api  [service {db}/mysql (min 2)]  NOT READY 1/2"),
        format!("{shop}/Deployment/web  [{shop} app=api]  NOT READY 0/0"),
    ] {
        assert!(out.stdout.contains(&line), "{line}\n{out:?}");
    }
    let json: serde_json::Value = serde_json::from_str(&status("json").await.stdout).unwrap();
    let mysql = json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == format!("{db}/StatefulSet/mysql"))
        .unwrap();
    assert_eq!(mysql["status"]["state"], "NOT READY", "{json}");

    env.set_pod_ready(&db, "mysql-1", true).await;
    env.set_endpoint_slice(
        &db,
        "mysql",
        "mysql-x",
        &[(Some("mysql-0"), true), (Some("mysql-1"), true)],
    )
    .await;
    let out = status("text").await;
    for line in [
        format!("wave 0  {db}/StatefulSet/mysql  [READY 2/2]"),
        format!("{shop}/Deployment/api  [service {db}/mysql (min 2)]  READY 2/2"),
    ] {
        assert!(out.stdout.contains(&line), "{line}\n{out:?}");
    }
    let dot = status("dot").await;
    assert!(
        dot.stdout.contains("fillcolor=\"#d4edda\""),
        "{}",
        dot.stdout
    );
    let svg = pipe(Command::new(tool("dot")).arg("-Tsvg"), &dot.stdout);
    assert!(svg.contains("<svg"));
    let mermaid = status("mermaid").await;
    let answer = pipe(
        Command::new(tool("node"))
            .arg(dir().join("mermaid-parse.mjs"))
            .env("NODE_PATH", tools_dir().join("node_modules")),
        &mermaid.stdout,
    );
    assert_eq!(answer.trim(), "flowchart-v2", "{}", mermaid.stdout);
}

/// The README's pictures are what the command draws: its Mermaid block is the combined golden,
/// and docs/graph.svg (scripts/graph-example.sh) shows every node and edge label of that DOT.
#[test]
fn the_readme_pictures_are_the_commands_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mermaid = std::fs::read_to_string(dir().join("golden/combined.mmd")).unwrap();
    assert!(
        readme.contains(&format!("```mermaid\n{mermaid}```")),
        "README's mermaid block is not tests/graph/golden/combined.mmd"
    );
    let svg = std::fs::read_to_string(root.join("docs/graph.svg")).unwrap();
    let svg = svg
        .replace("&#45;", "-")
        .replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let dot = std::fs::read_to_string(dir().join("golden/combined.dot")).unwrap();
    for label in dot.split("label=\"").skip(1) {
        let label = label.split('"').next().unwrap();
        for line in label.split("\\n") {
            assert!(
                svg.contains(&format!(">{line}</text>")),
                "docs/graph.svg lacks {line:?}: run scripts/graph-example.sh"
            );
        }
    }
}

/// Before any object is read: `graph` after a flag is a usage error with the fix, no
/// credentials is exit 2, a server that refuses connections is exit 3 with the cause, and a
/// closed stdout changes no exit code.
#[test]
fn usage_credentials_and_unreachable_servers_have_their_exit_codes() {
    let out = Depwait::new()
        .offline()
        .args(["--timeout", "5s", "graph"])
        .run_blocking(LIMIT);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("write `graph` first"), "{out:?}");
    let out = Depwait::new()
        .kubeconfig("/nonexistent/kubeconfig".into())
        .args(["graph"])
        .run_blocking(LIMIT);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("cannot find Kubernetes credentials"),
        "{out:?}"
    );
    let out = Depwait::new()
        .offline()
        .args(["graph", "-n", "shop"])
        .run_blocking(LIMIT);
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(
        out.stderr
            .contains("cannot list deployments.apps in namespace shop"),
        "{out:?}"
    );
    assert!(out.stderr.contains("Connection refused"), "{out:?}");
    let out = Depwait::new()
        .offline()
        .stdout(support::Sink::Closed)
        .args(["graph", "-f", fixture("cycle-two").to_str().unwrap()])
        .run_blocking(LIMIT);
    assert_eq!(out.code, Some(1), "{out:?}");
}

/// Without `-n` and without cluster-wide list rights, graph reads every namespace it may list,
/// one by one, and names the ones it could not read.
#[tokio::test]
async fn without_cluster_wide_rights_every_namespace_it_may_list_is_read() {
    let env = TestEnv::get();
    let (shop, db) = applied(env, "chain").await;
    let mut rbac = vec![serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "graph-namespaces"},
        "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}],
    })];
    rbac.push(serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "graph-namespaces-bob"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "graph-namespaces"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}],
    }));
    for ns in [&shop, &db] {
        rbac.push(serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "graph", "namespace": ns},
            "rules": [
                {"apiGroups": [""], "resources": ["pods", "services"], "verbs": ["list"]},
                {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"], "verbs": ["list"]},
                {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": ["list"]},
            ],
        }));
        rbac.push(serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "graph-bob", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "graph"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}],
        }));
    }
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": rbac});
    env.apply(&list.to_string());
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        let out = Depwait::new()
            .user(User::Bob)
            .args(["graph"])
            .run(LIMIT)
            .await;
        let both = out
            .stdout
            .contains(&format!("wave 2  {shop}/Deployment/web"))
            && out
                .stdout
                .contains(&format!("wave 0  {db}/StatefulSet/mysql"));
        if both {
            assert_eq!(out.code, Some(0), "{out:?}");
            assert!(out.stdout.contains("not read: "), "{out:?}");
            assert!(
                out.stdout.contains(
                    "default: access denied: may not list deployments.apps in namespace default"
                ),
                "{out:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the grants never sufficed: {out:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
