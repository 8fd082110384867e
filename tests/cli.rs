//! The command-line contract that needs no API server: bad input is exit 2 with a message that
//! names the flag or variable and shows an example, before any request is made.

use std::process::{Command, Output};

/// Run depwait with only the given environment, pointed at a kubeconfig whose server does not
/// exist: if validation let anything through, the run would hang or fail differently.
fn depwait(args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    )
    .unwrap();
    let termination = dir.path().join("termination-log");
    let output = Command::new(env!("CARGO_BIN_EXE_depwait"))
        .args(args)
        .env_clear()
        .env("KUBECONFIG", &kubeconfig)
        .env("DEPWAIT_TERMINATION_LOG", &termination)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let message = std::fs::read_to_string(&termination).unwrap_or_default();
    (output, message)
}

fn assert_usage_error(args: &[&str], env: &[(&str, &str)], names: &str, says: &str) {
    let (out, termination) = depwait(args, env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "args {args:?} env {env:?}: want exit 2, stderr:\n{stderr}"
    );
    assert!(
        stderr.contains(names) && stderr.contains(says),
        "args {args:?} env {env:?}: stderr should name `{names}` and say `{says}`:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    if !args.iter().any(|a| a.starts_with("--bogus")) {
        assert!(stderr.contains("example: "), "no example in:\n{stderr}");
        assert!(
            termination.contains(names),
            "termination message: {termination:?}"
        );
    }
}

/// Every class of bad input the issue lists is refused with exit 2 and a precise message.
#[test]
fn bad_input_exits_2_naming_the_culprit() {
    let dict = "NAMESPACE_LABEL_DICT";
    for (json, says) in [
        ("{not json", "not valid JSON"),
        (r#"["a"]"#, "expected a JSON object"),
        ("{}", "empty object"),
        (r#"{"ns": [{"app": 3}]}"#, "must be a string"),
        (r#"{"ns": [{"app": "has space"}]}"#, "label value"),
        (
            r#"{"Not_A_Namespace": [{"app": "x"}]}"#,
            "namespace `Not_A_Namespace`",
        ),
    ] {
        assert_usage_error(&[], &[(dict, json)], dict, says);
    }
    let ok_dict = (dict, r#"{"ns": [{"app": "x"}]}"#);
    assert_usage_error(&[], &[ok_dict, ("TIMEOUT", "-5")], "TIMEOUT", "negative");
    assert_usage_error(
        &[],
        &[ok_dict, ("TIMEOUT", "soon")],
        "TIMEOUT",
        "not a duration",
    );
    assert_usage_error(
        &[],
        &[ok_dict, ("RETRY_INTERVAL", "-1")],
        "RETRY_INTERVAL",
        "negative",
    );
    assert_usage_error(
        &[],
        &[ok_dict, ("RETRY_INTERVAL", "x")],
        "RETRY_INTERVAL",
        "not a duration",
    );
    assert_usage_error(
        &["--pods", "ns:a=b", "--timeout", "abc"],
        &[],
        "--timeout",
        "not a duration",
    );
    assert_usage_error(
        &["--pods", "no-colon"],
        &[],
        "--pods #1",
        "NAMESPACE:SELECTOR",
    );
    assert_usage_error(
        &["--pods", "ns:tier in (a"],
        &[],
        "--pods #1",
        "unclosed value set",
    );
    assert_usage_error(&["--pods", "ns:app=x:0"], &[], "--pods #1", "at least 1");
    assert_usage_error(
        &["--pods", "UPPER:app=x"],
        &[],
        "--pods #1",
        "namespace `UPPER`",
    );
    assert_usage_error(&[], &[], "dependencies", "nothing to wait for");
}

/// Unknown flags are clap's usage errors: exit 2 too, never a panic.
#[test]
fn unknown_flags_exit_2() {
    assert_usage_error(&["--bogus"], &[], "--bogus", "unexpected argument");
}

/// An oversized NAMESPACE_LABEL_DICT is refused with a clear message, not parsed (Linux caps
/// one variable at 128 KiB, so 100 KiB is as large as the kernel lets it get).
#[test]
fn huge_dict_is_refused() {
    let huge = format!(r#"{{"ns": [{{"app": "{}"}}]}}"#, "x".repeat(100 * 1024));
    assert_usage_error(
        &[],
        &[("NAMESPACE_LABEL_DICT", &huge)],
        "NAMESPACE_LABEL_DICT",
        "KiB limit",
    );
}

/// `--help` explains the seed's variables, RETRY_INTERVAL's role and the exit codes.
#[test]
fn help_teaches_the_interface() {
    let out = Command::new(env!("CARGO_BIN_EXE_depwait"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "NAMESPACE_LABEL_DICT",
        "TIMEOUT",
        "RETRY_INTERVAL",
        "never delays a release",
        "Exit codes",
        "--pods",
        "db:app=zk:2",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}

/// Without any Kubernetes credentials, depwait says how to provide them (exit 2).
#[test]
fn missing_credentials_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_depwait"))
        .args(["--pods", "ns:app=x"])
        .env_clear()
        .env("HOME", dir.path())
        .env("KUBECONFIG", dir.path().join("absent"))
        .env("DEPWAIT_TERMINATION_LOG", dir.path().join("t"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot find Kubernetes credentials"),
        "{stderr}"
    );
}

/// An unreachable API server is a transient problem: depwait retries and logs it until the
/// timeout (exit 1), never exits 3 and never releases.
#[test]
fn unreachable_server_is_retried_until_the_timeout() {
    let (out, termination) = depwait(&["--pods", "ns:app=x", "--timeout", "3s"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("API error, retrying"), "{stderr}");
    // One line for the outage, not one per retry.
    assert_eq!(stderr.matches("API error, retrying").count(), 2, "{stderr}");
    assert!(termination.contains("timed out after 3s"), "{termination}");
}

/// `depwait completions SHELL` prints a completion script naming the flags; `depwait man`
/// prints a roff man page.
#[test]
fn completions_and_man_page() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef depwait"),
        ("fish", "complete -c depwait"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_depwait"))
            .args(["completions", shell])
            .env_clear()
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{shell}");
        assert!(
            text.contains(marker) && text.contains("pods"),
            "{shell}:\n{text}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_depwait"))
        .arg("man")
        .env_clear()
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains(".TH depwait") && text.contains("NAMESPACE_LABEL_DICT"),
        "{text}"
    );
}
