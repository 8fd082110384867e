//! Credentials against the real server: kubeconfig `exec` plugins (tiny shell scripts that hang,
//! fail with a token on stdout, return no token, return an expiring token or one the server
//! rejects), kubeconfigs that are broken, endless or partly missing.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use support::{Depwait, Finished, LIMIT, TestEnv};

/// What a plugin's ExecCredential carries, and what must never reach any output.
const SECRET: &str = "plugin-s3cr3t-token-never-shown";

/// A directory with a plugin script in it, and the files it leaves (pids, run count).
struct Plugin {
    dir: tempfile::TempDir,
}

impl Plugin {
    /// A `/bin/sh` script with `body` (PATH set, `$D` = this directory).
    fn new(body: &str) -> Plugin {
        let dir = tempfile::tempdir().unwrap();
        let script = format!(
            "#!/bin/sh\nPATH=/usr/bin:/bin\nD='{}'\n{body}\n",
            dir.path().display()
        );
        let path = dir.path().join("plugin");
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Plugin { dir }
    }

    fn command(&self) -> PathBuf {
        self.dir.path().join("plugin")
    }

    /// A kubeconfig for the test server whose user runs this plugin (with an argument and an
    /// environment value that must not be shown either).
    fn kubeconfig(&self, env: &TestEnv) -> PathBuf {
        let user = json!({"exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": self.command(),
            "args": ["--password=arg-s3cr3t"],
            "env": [{"name": "PLUGIN_SECRET", "value": "env-s3cr3t"}],
            "interactiveMode": "Never",
        }});
        write_kubeconfig(env, self.dir.path(), user)
    }

    /// The pids the script wrote to `$D/pids`.
    fn pids(&self) -> Vec<u32> {
        std::fs::read_to_string(self.dir.path().join("pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// How many times it ran (the script appends a line to `$D/runs` each time).
    fn runs(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("runs"))
            .unwrap_or_default()
            .lines()
            .count()
    }
}

/// A kubeconfig at `dir/kubeconfig` for the test server (CA by file) with this `user`.
fn write_kubeconfig(env: &TestEnv, dir: &Path, user: Value) -> PathBuf {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "envtest", "cluster": {
            "server": env.server,
            "certificate-authority": env.ca_file(),
        }}],
        "users": [{"name": "plugin-user", "user": user}],
        "contexts": [{"name": "envtest", "context": {"cluster": "envtest", "user": "plugin-user"}}],
        "current-context": "envtest",
    });
    let path = dir.join("kubeconfig");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

/// The ExecCredential a plugin prints for `token`.
fn credential(token: &str, expires: Option<&str>) -> String {
    let mut status = json!({"token": token});
    if let Some(t) = expires {
        status["expirationTimestamp"] = json!(t);
    }
    json!({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": status})
        .to_string()
}

/// Everything depwait showed: stdout, stderr and the termination message.
fn shown(done: &Finished) -> String {
    format!(
        "{}{}{}",
        done.stdout,
        done.stderr,
        done.termination_log.as_deref().unwrap_or("")
    )
}

fn assert_no_secret(done: &Finished) {
    for secret in [SECRET, "arg-s3cr3t", "env-s3cr3t"] {
        assert!(!shown(done).contains(secret), "{secret} shown:\n{done:?}");
    }
}

/// Each pid is gone, or a zombie no one has reaped yet (dead either way). Polls /proc for at
/// most 10 s: evidence of the kill, not a timing check.
async fn assert_gone(pids: &[u32]) {
    assert!(!pids.is_empty(), "the plugin wrote no pids");
    for pid in pids {
        let alive = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit(')').next().map(|r| r.trim().to_string()))
                .is_some_and(|rest| !rest.starts_with('Z') && !rest.starts_with('X'))
        };
        let deadline = tokio::time::Instant::now() + LIMIT;
        while alive() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "plugin process {pid} still runs after depwait exited"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A plugin that fails after printing a whole ExecCredential: depwait exits 2 naming the plugin
/// and its exit status, shows at most a redacted tail of its stderr, and never its stdout, in
/// the wait and in `depwait check`.
#[tokio::test]
async fn failing_plugin_output_stays_out_of_every_output() {
    let env = TestEnv::get();
    let plugin = Plugin::new(&format!(
        "echo '{}'\necho \"denied: {SECRET}\" >&2\nexit 7",
        credential(SECRET, None)
    ));
    let kubeconfig = plugin.kubeconfig(env);
    for check in [false, true] {
        let done = Depwait::new()
            .kubeconfig(kubeconfig.clone())
            .args(check.then_some("check"))
            .args(["--pods", "ns:app=web"])
            .spawn()
            .expect_exit(2)
            .await;
        assert_no_secret(&done);
        let text = shown(&done);
        assert!(text.contains("credential plugin"), "{done:?}");
        assert!(
            text.contains(&plugin.command().display().to_string()),
            "{done:?}"
        );
        assert!(text.contains("exit status: 7"), "{done:?}");
        assert!(text.contains("denied: [redacted]"), "{done:?}");
    }
}

/// A kubeconfig with a YAML mistake: exit 2 naming file, line, column and kind, never its text
/// (the token on the line before the mistake).
#[tokio::test]
async fn kubeconfig_syntax_error_names_the_place_not_the_text() {
    let env = TestEnv::get();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nusers:\n- name: u\n  user:\n    token: {SECRET}\n   oops: [\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    let _ = env;
    let done = Depwait::new()
        .kubeconfig(path.clone())
        .args(["--pods", "ns:app=web"])
        .spawn()
        .expect_exit(2)
        .await;
    assert_no_secret(&done);
    let text = shown(&done);
    assert!(!text.contains("token"), "{done:?}");
    assert!(text.contains(&path.display().to_string()), "{done:?}");
    assert!(text.contains("line 6 column"), "{done:?}");
}

/// A plugin that never answers: `--timeout` still ends the wait and `depwait check` (exit 1),
/// the message names the plugin (not its arguments or environment), and the plugin's whole
/// process group is killed.
#[tokio::test]
async fn hanging_plugin_is_ended_by_the_timeout_with_its_group() {
    let env = TestEnv::get();
    for check in [false, true] {
        let plugin =
            Plugin::new("echo $$ >> \"$D/pids\"\nsleep 1000 &\necho $! >> \"$D/pids\"\nwait");
        let done = Depwait::new()
            .kubeconfig(plugin.kubeconfig(env))
            .args(check.then_some("check"))
            .args(["--pods", "ns:app=web", "--timeout", "2s"])
            .run(LIMIT)
            .await;
        assert_eq!(done.code, Some(1), "{done:?}");
        assert_no_secret(&done);
        let text = shown(&done);
        assert!(text.contains("did not answer within"), "{done:?}");
        assert!(
            text.contains(&plugin.command().display().to_string()),
            "{done:?}"
        );
        assert_gone(&plugin.pids()).await;
    }
}

/// SIGTERM while a plugin hangs (no timeout at all): exit 143 with the termination message, and
/// the plugin's process group goes with depwait.
#[tokio::test]
async fn sigterm_during_a_hanging_plugin_ends_both() {
    let env = TestEnv::get();
    let plugin = Plugin::new("sleep 1000 &\necho $! >> \"$D/pids\"\necho $$ >> \"$D/pids\"\nwait");
    let mut depwait = Depwait::new()
        .kubeconfig(plugin.kubeconfig(env))
        .env("DEPWAIT_LOG", "debug")
        .args(["--pods", "ns:app=web", "--timeout", "0"])
        .spawn();
    // Evidence the plugin runs: both its pids are written.
    let deadline = tokio::time::Instant::now() + LIMIT;
    while plugin.pids().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "plugin never started"
        );
        assert!(depwait.try_finished().is_none(), "{}", depwait.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    depwait.signal("TERM");
    let done = depwait.expect_exit(143).await;
    assert!(
        done.termination_log
            .as_deref()
            .unwrap_or("")
            .contains("terminated by SIGTERM"),
        "{done:?}"
    );
    assert_gone(&plugin.pids()).await;
}

/// A plugin that answers with neither token nor certificate is an error naming it (exit 2:
/// no credentials, nothing sent), not an anonymous wait.
#[tokio::test]
async fn plugin_without_a_token_is_an_error() {
    let env = TestEnv::get();
    let plugin = Plugin::new(
        "echo '{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\", \"status\": {}}'",
    );
    let done = Depwait::new()
        .kubeconfig(plugin.kubeconfig(env))
        .args(["--pods", "ns:app=web"])
        .spawn()
        .expect_exit(2)
        .await;
    let text = shown(&done);
    assert!(text.contains("neither status.token"), "{done:?}");
    assert!(
        text.contains(&plugin.command().display().to_string()),
        "{done:?}"
    );
}

/// A token that expires is renewed: the plugin runs again before later requests, and the
/// wait succeeds with the tokens it hands out (the ExecCredential protocol: apiVersion and
/// KUBERNETES_EXEC_INFO reach it).
#[tokio::test]
async fn expiring_plugin_token_is_renewed() {
    let env = TestEnv::get();
    let ns = env.namespace("creds-expiring").await;
    env.create_pod(&ns, "web", &[("app", "web")]).await;
    env.set_pod_ready(&ns, "web", true).await;
    // Expired the moment it is issued: every request needs a new one.
    let plugin = Plugin::new(&format!(
        "echo run >> \"$D/runs\"\ncase \"$KUBERNETES_EXEC_INFO\" in *'\"kind\":\"ExecCredential\"'*) ;; *) exit 9;; esac\necho '{}'",
        credential("admin-token", Some("2000-01-01T00:00:00Z"))
    ));
    let done = Depwait::new()
        .kubeconfig(plugin.kubeconfig(env))
        .args(["--pods", &format!("{ns}:app=web")])
        .spawn()
        .expect_exit(0)
        .await;
    assert_no_secret(&done);
    // Once at start, then again before the list (and before each later request).
    assert!(plugin.runs() >= 2, "ran {} times:\n{done:?}", plugin.runs());
}

/// A token the server rejects (401) is renewed by running the plugin again, and the request is
/// sent again with the new one.
#[tokio::test]
async fn rejected_plugin_token_is_renewed_on_401() {
    let env = TestEnv::get();
    let ns = env.namespace("creds-401").await;
    env.create_pod(&ns, "web", &[("app", "web")]).await;
    env.set_pod_ready(&ns, "web", true).await;
    // First run: a token the server does not know, valid for a day by its own account.
    let plugin = Plugin::new(&format!(
        "echo run >> \"$D/runs\"\nif [ \"$(wc -l < \"$D/runs\")\" -eq 1 ]; then echo '{}'; else echo '{}'; fi",
        credential("revoked-token", Some("2999-01-01T00:00:00Z")),
        credential("admin-token", None)
    ));
    let done = Depwait::new()
        .kubeconfig(plugin.kubeconfig(env))
        .args(["--pods", &format!("{ns}:app=web")])
        .spawn()
        .expect_exit(0)
        .await;
    assert_eq!(plugin.runs(), 2, "{done:?}");
}

/// `KUBECONFIG=/dev/zero`, or a kubeconfig whose CA or token file is endless, is refused by size
/// (exit 2 naming the file and the limit) instead of growing without bound.
#[tokio::test]
async fn endless_kubeconfig_files_are_refused_by_size() {
    let env = TestEnv::get();
    let done = Depwait::new()
        .kubeconfig("/dev/zero".into())
        .args(["--pods", "ns:app=web"])
        .spawn()
        .expect_exit(2)
        .await;
    assert!(
        done.stderr.contains("/dev/zero is larger than 4 MiB"),
        "{done:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let token_file = write_kubeconfig(env, dir.path(), json!({"tokenFile": "/dev/zero"}));
    let done = Depwait::new()
        .kubeconfig(token_file)
        .args(["--pods", "ns:app=web"])
        .spawn()
        .expect_exit(2)
        .await;
    assert!(
        done.stderr.contains("/dev/zero is larger than 1 MiB"),
        "{done:?}"
    );

    let ca = dir.path().join("ca-kubeconfig");
    std::fs::write(
        &ca,
        json!({
            "clusters": [{"name": "c", "cluster": {"server": env.server, "certificate-authority": "/dev/zero"}}],
            "users": [{"name": "u", "user": {"token": "admin-token"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        })
        .to_string(),
    )
    .unwrap();
    let done = Depwait::new()
        .kubeconfig(ca)
        .args(["--pods", "ns:app=web"])
        .spawn()
        .expect_exit(2)
        .await;
    // A CA bundle's bound is the one every CA bundle has (crate::tls), and the field is named.
    assert!(
        done.stderr.contains("certificate-authority: /dev/zero")
            && done.stderr.contains("/dev/zero is larger than 4 MiB"),
        "{done:?}"
    );
}

/// `KUBECONFIG=/missing:/real`: missing entries are skipped as kubectl skips them.
#[tokio::test]
async fn missing_kubeconfig_entries_are_skipped() {
    let env = TestEnv::get();
    let ns = env.namespace("creds-missing").await;
    env.create_pod(&ns, "web", &[("app", "web")]).await;
    env.set_pod_ready(&ns, "web", true).await;
    let real = env.kubeconfig(support::User::Admin);
    let list = format!("/nonexistent/one:{}:/nonexistent/two", real.display());
    Depwait::new()
        .env("KUBECONFIG", &list)
        .args(["--pods", &format!("{ns}:app=web")])
        .spawn()
        .expect_exit(0)
        .await;
}

/// Run depwait in a mount namespace of its own where `dir` is mounted at the service account's
/// path and `/dev/zero` over each file of `endless` in it (needs root, as the DNS tests do):
/// the in-cluster path exactly as a pod has it, without building the image.
async fn run_in_cluster(env: &TestEnv, dir: &Path, endless: &[&str], args: &[&str]) -> Finished {
    let sa = "/run/secrets/kubernetes.io/serviceaccount";
    let mut setup = format!(
        "mount -t tmpfs none /run; mkdir -p {sa}; mount --bind '{}' {sa}; ",
        dir.display()
    );
    for file in endless {
        setup.push_str(&format!("mount --bind /dev/zero {sa}/{file}; "));
    }
    Depwait::new()
        .in_mount_namespace(&setup)
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", &env.port().to_string())
        .args(args.iter().copied())
        .run(LIMIT)
        .await
}

/// In-cluster credentials are read by depwait with the same bounds: a wait with a service
/// account's files releases; an endless token or `ca.crt` is refused by size (exit 2).
#[tokio::test]
async fn in_cluster_files_are_read_with_bounds() {
    let env = TestEnv::get();
    let ns = env.namespace("creds-in-cluster").await;
    env.create_pod(&ns, "db-0", &[("app", "db")]).await;
    env.set_pod_ready(&ns, "db-0", true).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "admin-token").unwrap();
    std::fs::copy(env.ca_file(), dir.path().join("ca.crt")).unwrap();
    std::fs::write(dir.path().join("namespace"), &ns).unwrap();
    let wait = ["--pods", &format!("{ns}:app=db")];
    let out = run_in_cluster(env, dir.path(), &[], &wait).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    for endless in ["token", "ca.crt"] {
        let out = run_in_cluster(env, dir.path(), &[endless], &wait).await;
        assert_eq!(out.code, Some(2), "{out:?}");
        let limit = if endless == "ca.crt" {
            "4 MiB"
        } else {
            "1 MiB"
        };
        assert!(
            out.stderr
                .contains(&format!("{endless} is larger than {limit}")),
            "{out:?}"
        );
    }
}
