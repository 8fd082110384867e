//! The command-line contract that needs no API server: bad input is exit 2 with a message that
//! names the flag or variable and shows an example, before any request is made.

use std::process::{Command, Output, Stdio};

/// Run depwait with only the given environment, pointed at a kubeconfig whose server does not
/// exist: if validation let anything through, the run would hang or fail differently.
fn depwait(args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    depwait_into(args, env, Sink::Read, Sink::Read)
}

/// Where a stream of the child goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// Collected by the test.
    Read,
    /// A pipe whose reader is gone, as after `| head -1`: every write fails with EPIPE.
    Closed,
    /// `/dev/full`: every write fails with ENOSPC.
    Full,
}

impl Sink {
    fn stdio(self) -> Stdio {
        match self {
            Sink::Read => Stdio::piped(),
            Sink::Closed => {
                let (reader, writer) = std::io::pipe().unwrap();
                drop(reader);
                Stdio::from(writer)
            }
            Sink::Full => Stdio::from(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            ),
        }
    }
}

/// [`depwait`] with stdout and stderr sent to `out` and `err`.
fn depwait_into(args: &[&str], env: &[(&str, &str)], out: Sink, err: Sink) -> (Output, String) {
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
        .stdin(Stdio::null())
        .stdout(out.stdio())
        .stderr(err.stdio())
        .spawn()
        .unwrap()
        .wait_with_output()
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
    }
    // Every usage error of a wait is in the termination message, clap's included.
    assert!(
        termination.contains(names) && termination.contains(says),
        "termination message: {termination:?}"
    );
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

/// A value from a variable is named by the variable, not by a flag the user never typed; every
/// variable clap used to check itself is checked by depwait.
#[test]
fn bad_environment_values_name_the_variable() {
    let pods = ["--pods", "ns:app=x"];
    for (var, value, says) in [
        ("DEPWAIT_LOG_FORMAT", "xml", "not a log format"),
        ("DEPWAIT_EMIT_EVENTS", "maybe", "not a boolean"),
        ("DEPWAIT_HEARTBEAT", "1ms", "shorter than 1s"),
        ("DEPWAIT_HEARTBEAT", "soon", "not a duration"),
        ("DEPWAIT_CONFIG", "/dev/zero", "more than 1024 KiB"),
        ("TIMEOUT", "5M", "would be months"),
        ("RETRY_INTERVAL", "2years", "months and years"),
        ("DEPWAIT_LOG", "depwait=loud", "not a log filter"),
    ] {
        assert_usage_error(&pods, &[(var, value)], var, says);
    }
    assert_usage_error(
        &["mysql.db"],
        &[("DEPWAIT_CLUSTER_DOMAIN", "bad_domain")],
        "DEPWAIT_CLUSTER_DOMAIN",
        "not a DNS domain",
    );
    // The flags are named as flags.
    assert_usage_error(
        &["--pods", "ns:app=x", "--heartbeat", "10ms"],
        &[],
        "--heartbeat",
        "shorter than 1s",
    );
    assert_usage_error(
        &["--pods", "ns:app=x", "--timeout", "5M"],
        &[],
        "--timeout",
        "`m` for minutes",
    );
    assert_usage_error(
        &["--pods", "ns:app=x", "--emit-events=perhaps"],
        &[],
        "--emit-events",
        "not a boolean",
    );
}

/// DEPWAIT_EMIT_EVENTS takes the usual spellings of a switch, in any case; `depwait rbac`
/// shows which way it was read (the Events rule is there only when it is on).
#[test]
fn emit_events_takes_the_usual_boolean_spellings() {
    let rbac = ["rbac", "--service-account", "ns/web", "--pods", "ns:app=x"];
    for (value, on) in [
        ("1", true),
        ("yes", true),
        ("TRUE", true),
        ("On", true),
        ("0", false),
        ("no", false),
        ("False", false),
        ("OFF", false),
    ] {
        let (out, _) = depwait(&rbac, &[("DEPWAIT_EMIT_EVENTS", value)]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{value}: {out:?}");
        assert_eq!(stdout.contains("events"), on, "{value}:\n{stdout}");
    }
    let mut flag = rbac.to_vec();
    flag.push("--emit-events");
    let (out, _) = depwait(&flag, &[]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("events"),
        "{out:?}"
    );
}

/// A closed pipe (`depwait ... | head -1`) or a full disk (`2>/dev/full`) on stdout or stderr
/// changes neither the exit code nor the termination message: output is written or dropped,
/// never a panic (an abort, exit 134, in a release build).
#[test]
fn closed_or_full_streams_change_no_exit_code() {
    let wait = ["--pods", "ns:app=x", "--timeout", "1s"];
    let json = [
        "--pods",
        "ns:app=x",
        "--timeout",
        "1s",
        "--log-format",
        "json",
    ];
    let check = ["check", "--pods", "ns:app=x"];
    let rbac = ["rbac", "--service-account", "ns/web", "--pods", "ns:app=x"];
    let scenarios: Vec<(&[&str], Option<i32>)> = vec![
        (&wait, Some(1)),
        (&json, Some(1)),
        (&["--pods", "no-colon"], Some(2)),
        (&["--pods", "ns:app=x", "--bogus"], Some(2)),
        (&check, Some(1)),
        (&rbac, Some(0)),
        (&["completions", "bash"], Some(0)),
        (&["man"], Some(0)),
        (&["--help"], Some(0)),
        (&["--version"], Some(0)),
    ];
    // Durations in the message vary from run to run; the rest must not.
    let shape = |t: &str| t.replace(|c: char| c.is_ascii_digit(), "");
    for (args, want) in scenarios {
        let (out, termination) = depwait(args, &[]);
        assert_eq!(out.status.code(), want, "{args:?}: {out:?}");
        for (stdout, stderr) in [
            (Sink::Closed, Sink::Closed),
            (Sink::Full, Sink::Full),
            (Sink::Closed, Sink::Full),
            (Sink::Read, Sink::Closed),
        ] {
            let (odd, odd_termination) = depwait_into(args, &[], stdout, stderr);
            assert_eq!(
                odd.status.code(),
                want,
                "{args:?} with stdout {stdout:?}, stderr {stderr:?}: {odd:?}"
            );
            assert_eq!(
                shape(&odd_termination),
                shape(&termination),
                "{args:?} with stdout {stdout:?}, stderr {stderr:?}"
            );
        }
    }
}

/// A summary longer than the kubelet keeps (4096 bytes) is cut between entries and ends with
/// how many were left out; each entry shown is whole.
#[test]
fn long_termination_message_is_cut_between_entries() {
    let specs: Vec<String> = (0..200)
        .map(|i| format!("namespace-{i}:app=a-rather-long-application-name-{i}"))
        .collect();
    let mut args: Vec<&str> = vec!["--timeout", "1s"];
    for spec in &specs {
        args.extend(["--pods", spec]);
    }
    let (out, termination) = depwait(&args, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(termination.len() <= 4096, "{}", termination.len());
    let (kept, last) = termination.rsplit_once('\n').unwrap();
    let entries: Vec<&str> = kept.lines().skip(1).collect();
    assert!(!entries.is_empty(), "{termination}");
    assert_eq!(
        last,
        format!("… and {} more", 200 - entries.len()),
        "{termination}"
    );
    // The summary on stderr has every entry; the message shows whole ones of them.
    for entry in entries {
        assert!(entry.starts_with("- namespace-"), "{entry}");
        assert!(stderr.lines().any(|l| l == entry), "cut entry {entry:?}");
    }
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
