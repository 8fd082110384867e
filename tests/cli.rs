//! The command-line contract that needs no API server: bad input is exit 2 with a message that
//! names the flag or variable and shows an example, before any request is made.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{Depwait, LIMIT, Sink};

/// depwait with only the given environment, pointed at a server that does not exist
/// ([`Depwait::offline`]): if validation let anything through, the run would hang or fail
/// differently.
fn depwait(args: &[&str], env: &[(&str, &str)]) -> Depwait {
    let mut depwait = Depwait::new().offline().args(args.iter().copied());
    for (key, value) in env {
        depwait = depwait.env(key, value);
    }
    depwait
}

async fn assert_usage_error(args: &[&str], env: &[(&str, &str)], names: &str, says: &str) {
    let out = depwait(args, env).run(LIMIT).await;
    let stderr = &out.stderr;
    let termination = out.termination_log.unwrap_or_default();
    assert_eq!(
        out.code,
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
#[tokio::test]
async fn bad_input_exits_2_naming_the_culprit() {
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
        assert_usage_error(&[], &[(dict, json)], dict, says).await;
    }
    let ok_dict = (dict, r#"{"ns": [{"app": "x"}]}"#);
    assert_usage_error(&[], &[ok_dict, ("TIMEOUT", "-5")], "TIMEOUT", "negative").await;
    assert_usage_error(
        &[],
        &[ok_dict, ("TIMEOUT", "soon")],
        "TIMEOUT",
        "not a duration",
    )
    .await;
    assert_usage_error(
        &[],
        &[ok_dict, ("RETRY_INTERVAL", "-1")],
        "RETRY_INTERVAL",
        "negative",
    )
    .await;
    assert_usage_error(
        &[],
        &[ok_dict, ("RETRY_INTERVAL", "x")],
        "RETRY_INTERVAL",
        "not a duration",
    )
    .await;
    assert_usage_error(
        &["--pods", "ns:a=b", "--timeout", "abc"],
        &[],
        "--timeout",
        "not a duration",
    )
    .await;
    assert_usage_error(
        &["--pods", "no-colon"],
        &[],
        "--pods #1",
        "NAMESPACE:SELECTOR",
    )
    .await;
    assert_usage_error(
        &["--pods", "ns:tier in (a"],
        &[],
        "--pods #1",
        "unclosed value set",
    )
    .await;
    assert_usage_error(&["--pods", "ns:app=x:0"], &[], "--pods #1", "at least 1").await;
    assert_usage_error(
        &["--pods", "UPPER:app=x"],
        &[],
        "--pods #1",
        "namespace `UPPER`",
    )
    .await;
    assert_usage_error(&[], &[], "dependencies", "nothing to wait for").await;
}

/// A value from a variable is named by the variable, not by a flag the user never typed; every
/// variable clap used to check itself is checked by depwait.
#[tokio::test]
async fn bad_environment_values_name_the_variable() {
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
        assert_usage_error(&pods, &[(var, value)], var, says).await;
    }
    assert_usage_error(
        &["mysql.db"],
        &[("DEPWAIT_CLUSTER_DOMAIN", "bad_domain")],
        "DEPWAIT_CLUSTER_DOMAIN",
        "not a DNS domain",
    )
    .await;
    // The flags are named as flags.
    assert_usage_error(
        &["--pods", "ns:app=x", "--heartbeat", "10ms"],
        &[],
        "--heartbeat",
        "shorter than 1s",
    )
    .await;
    assert_usage_error(
        &["--pods", "ns:app=x", "--timeout", "5M"],
        &[],
        "--timeout",
        "`m` for minutes",
    )
    .await;
    assert_usage_error(
        &["--pods", "ns:app=x", "--emit-events=perhaps"],
        &[],
        "--emit-events",
        "not a boolean",
    )
    .await;
}

/// DEPWAIT_EMIT_EVENTS takes the usual spellings of a switch, in any case; `depwait rbac`
/// shows which way it was read (the Events rule is there only when it is on).
#[tokio::test]
async fn emit_events_takes_the_usual_boolean_spellings() {
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
        let out = depwait(&rbac, &[("DEPWAIT_EMIT_EVENTS", value)])
            .run(LIMIT)
            .await;
        assert_eq!(out.code, Some(0), "{value}: {out:?}");
        assert_eq!(out.stdout.contains("events"), on, "{value}: {out:?}");
    }
    let mut flag = rbac.to_vec();
    flag.push("--emit-events");
    let out = depwait(&flag, &[]).run(LIMIT).await;
    assert!(out.stdout.contains("events"), "{out:?}");
}

/// A closed pipe (`depwait ... | head -1`) or a full disk (`2>/dev/full`) on stdout or stderr
/// changes neither the exit code nor the termination message: output is written or dropped,
/// never a panic (an abort, exit 134, in a release build).
#[tokio::test]
async fn closed_or_full_streams_change_no_exit_code() {
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
        let out = depwait(args, &[]).run(LIMIT).await;
        assert_eq!(out.code, want, "{args:?}: {out:?}");
        let termination = out.termination_log.unwrap_or_default();
        for (stdout, stderr) in [
            (Sink::Closed, Sink::Closed),
            (Sink::Full, Sink::Full),
            (Sink::Closed, Sink::Full),
            (Sink::Collected, Sink::Closed),
        ] {
            let odd = depwait(args, &[])
                .stdout(stdout)
                .stderr(stderr)
                .run(LIMIT)
                .await;
            assert_eq!(
                odd.code, want,
                "{args:?} with stdout {stdout:?}, stderr {stderr:?}: {odd:?}"
            );
            assert_eq!(
                shape(odd.termination_log.as_deref().unwrap_or_default()),
                shape(&termination),
                "{args:?} with stdout {stdout:?}, stderr {stderr:?}"
            );
        }
    }
}

/// A summary longer than the kubelet keeps (4096 bytes) is cut between entries and ends with
/// how many were left out; each entry shown is whole.
#[tokio::test]
async fn long_termination_message_is_cut_between_entries() {
    let specs: Vec<String> = (0..200)
        .map(|i| format!("namespace-{i}:app=a-rather-long-application-name-{i}"))
        .collect();
    let mut args: Vec<&str> = vec!["--timeout", "1s"];
    for spec in &specs {
        args.extend(["--pods", spec]);
    }
    let out = depwait(&args, &[]).run(LIMIT).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    let (stderr, termination) = (&out.stderr, out.termination_log.clone().unwrap_or_default());
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
#[tokio::test]
async fn unknown_flags_exit_2() {
    assert_usage_error(&["--bogus"], &[], "--bogus", "unexpected argument").await;
}

/// An oversized NAMESPACE_LABEL_DICT is refused with a clear message, not parsed (Linux caps
/// one variable at 128 KiB, so 100 KiB is as large as the kernel lets it get).
#[tokio::test]
async fn huge_dict_is_refused() {
    let huge = format!(r#"{{"ns": [{{"app": "{}"}}]}}"#, "x".repeat(100 * 1024));
    assert_usage_error(
        &[],
        &[("NAMESPACE_LABEL_DICT", &huge)],
        "NAMESPACE_LABEL_DICT",
        "KiB limit",
    )
    .await;
}

/// `--help` explains the seed's variables, RETRY_INTERVAL's role and the exit codes.
#[tokio::test]
async fn help_teaches_the_interface() {
    let out = depwait(&["--help"], &[]).run(LIMIT).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let help = &out.stdout;
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
#[tokio::test]
async fn missing_credentials_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Depwait::new()
        .kubeconfig(dir.path().join("absent"))
        .env("HOME", dir.path().to_str().unwrap())
        .args(["--pods", "ns:app=x"])
        .run(LIMIT)
        .await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("cannot find Kubernetes credentials"),
        "{out:?}"
    );
}

/// An unreachable API server is a transient problem: depwait retries and logs it until the
/// timeout (exit 1), never exits 3 and never releases; the outage is one line, not one per
/// retry.
#[tokio::test]
async fn unreachable_server_is_retried_until_the_timeout() {
    let out = depwait(&["--pods", "ns:app=x", "--timeout", "3s"], &[])
        .run(LIMIT)
        .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("API error, retrying"), "{out:?}");
    let termination = out.termination_log.as_deref().unwrap_or_default();
    assert!(termination.contains("timed out after 3s"), "{out:?}");

    // One line for the outage, not one per retry: against a server that hangs up on every
    // connection, counting them, until depwait has tried twice more after its line. It reads
    // the TLS ClientHello before it hangs up, so that every attempt fails alike (a close with
    // unread data would reset the connection, sometimes before the hello, sometimes after).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    tokio::spawn(async move {
        while let Ok((mut connection, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut hello = [0u8; 16 * 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut connection, &mut hello).await;
        }
    });
    let mut depwait = Depwait::new()
        .server(&format!("https://127.0.0.1:{port}"))
        .args(["--pods", "ns:app=x", "--timeout", "0"])
        .spawn();
    depwait.wait_for_log("API error, retrying", LIMIT).await;
    // The attempt after next begins only after the next one failed and was reported.
    let enough = attempts.load(Ordering::SeqCst) + 2;
    let deadline = tokio::time::Instant::now() + LIMIT;
    while attempts.load(Ordering::SeqCst) < enough {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no retry within {LIMIT:?}: {}",
            depwait.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    depwait.signal("TERM");
    let done = depwait.expect_exit(143).await;
    let said: Vec<&str> = done
        .stderr
        .lines()
        .filter(|l| l.contains(" INFO ") && l.contains("API error, retrying"))
        .collect();
    assert_eq!(
        said.len(),
        1,
        "one line for {} attempts: {done:?}",
        attempts.load(Ordering::SeqCst)
    );
}

/// `depwait completions SHELL` prints a completion script naming the flags; `depwait man`
/// prints a roff man page.
#[tokio::test]
async fn completions_and_man_page() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef depwait"),
        ("fish", "complete -c depwait"),
    ] {
        let out = depwait(&["completions", shell], &[]).run(LIMIT).await;
        let text = &out.stdout;
        assert_eq!(out.code, Some(0), "{shell}: {out:?}");
        assert!(
            text.contains(marker) && text.contains("pods"),
            "{shell}:\n{text}"
        );
    }
    let out = depwait(&["man"], &[]).run(LIMIT).await;
    let text = &out.stdout;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        text.contains(".TH depwait") && text.contains("NAMESPACE_LABEL_DICT"),
        "{text}"
    );
}
