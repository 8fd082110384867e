//! Property test of the whole input surface (NAMESPACE_LABEL_DICT, TIMEOUT, RETRY_INTERVAL,
//! --pods, --service, HOST names, --dns, --cluster-domain, --job, --rollout, --resource, --tcp, --http,
//! --timeout): every generated input either parses or is refused with a message naming the flag
//! or variable and showing an example. Never a panic, never unbounded work.

use std::path::PathBuf;

use depwait::config::{Config, MAX_DICT_BYTES};
use depwait::config::{Input, Sourced};
use proptest::prelude::*;

fn sourced(name: &str, text: String) -> Sourced {
    Sourced {
        name: name.into(),
        text,
    }
}

/// Text that looks like what users type, plus the characters that tend to break parsers.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9=!,() :./_-]{0,40}",
        "[a-zA-Z0-9 \\t\"'{}\\[\\]:,=!()\\\\.-]{0,60}",
        any::<String>(),
        Just("app=web".to_string()),
        Just("ns:app in (a,b),!x:2".to_string()),
    ]
}

/// JSON-shaped input: random nesting of the seed's shape and its near misses.
fn json_like() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "\"[a-zA-Z0-9._/-]{0,70}\"",
        Just("1".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("\"\"".to_string()),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-zA-Z0-9._/-]{0,70}", inner), 0..5).prop_map(|v| {
                let items: Vec<String> = v.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                format!("{{{}}}", items.join(","))
            }),
        ]
    })
}

/// DNS-name-shaped text, near misses included (empty labels, `_`, over-long labels).
fn host_like() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-zA-Z0-9_-]{0,66}", 1..6)
        .prop_map(|labels| labels.join("."))
        .prop_flat_map(|name| prop_oneof![Just(name.clone()), Just(format!("{name}."))])
}

/// `--job`, `--rollout`, `--resource`, `--tcp` shapes and their near misses.
fn object_like() -> impl Strategy<Value = String> {
    prop_oneof![
        fragment(),
        "[a-z0-9-]{0,10}(/[a-zA-Z0-9.-]{0,20}){0,3}",
        "[a-z0-9-]{1,10}/[a-z.]{1,30}/[a-z0-9-]{1,10}:(condition=[A-Za-z]{0,8}(=[A-Za-z]{0,5})?|jsonpath=\\{[.a-z\\[\\]?@=\"()*]{0,30}\\}(=[a-zA-Z]{0,6})?|create|delete|[a-z=]{0,10})",
        "[a-z0-9.\\[\\]:-]{0,20}:[0-9+-]{0,6}",
        "(http|https|ftp)?://[a-z0-9.:\\[\\]_ -]{0,20}(/[a-z0-9/?=&]{0,10})?(#[0-9x, ]{0,8})?",
    ]
}

fn duration_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{0,25}(\\.[0-9]{0,5})?",
        "[0-9]{1,6}(ns|us|ms|s|m|h|d|w|y|M|parsecs)( [0-9]{1,4}[a-z]{1,3}){0,3}",
        fragment(),
    ]
}

fn check(input: Input) -> Result<(), TestCaseError> {
    match Config::from_input(input) {
        Ok(config) => prop_assert!(!config.dependencies.is_empty()),
        Err(e) => {
            let text = e.to_string();
            prop_assert!(!e.name.is_empty() && !e.problem.is_empty(), "{}", text);
            prop_assert!(text.contains("example: "), "{}", text);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn every_input_parses_or_is_refused_with_a_message(
        dict in prop::option::of(prop_oneof![json_like(), fragment()]),
        pods in prop::collection::vec(prop_oneof![fragment(), "[a-z0-9-]{1,10}:[a-z=,!() ]{0,30}(:[0-9]{1,3})?"], 0..3),
        timeout in duration_like(),
        retry in prop::option::of(duration_like()),
        services in prop::collection::vec(prop_oneof![fragment(), "[a-z0-9-]{1,10}/[a-z0-9-]{0,12}(:[0-9]{0,3})?"], 0..3),
        hosts in prop::collection::vec(prop_oneof![fragment(), host_like()], 0..3),
        dns in prop::collection::vec(prop_oneof![fragment(), host_like()], 0..2),
        cluster_domain in prop_oneof![Just("cluster.local".to_string()), host_like(), fragment()],
        (jobs, rollouts, resources, tcp, http) in (
            prop::collection::vec(object_like(), 0..2),
            prop::collection::vec(object_like(), 0..2),
            prop::collection::vec(object_like(), 0..3),
            prop::collection::vec(object_like(), 0..2),
            prop::collection::vec(object_like(), 0..2),
        ),
    ) {
        check(
            Input {
                cluster_domain: sourced("--cluster-domain", cluster_domain),
                namespace_label_dict: dict.map(|d| sourced("NAMESPACE_LABEL_DICT", d)),
                timeout: sourced("TIMEOUT", timeout),
                retry_interval: retry.map(|r| sourced("RETRY_INTERVAL", r)),
                termination_log: PathBuf::from("/dev/null"),
                ..Input::default()
            }
            .with("pods", pods)
            .with("services", services)
            .with("hosts", hosts)
            .with("dns", dns)
            .with("jobs", jobs)
            .with("rollouts", rollouts)
            .with("resources", resources)
            .with("tcp", tcp)
            .with("http", http),
        )?;
    }

    #[test]
    fn arbitrary_argument_lists_never_panic(args in prop::collection::vec(fragment(), 0..6)) {
        // clap may refuse them (exit 2 in the binary); it must not panic, and what it accepts
        // goes through validation like anything else.
        let argv = std::iter::once("depwait".to_string()).chain(args);
        if let Ok(input) = Input::try_from_iter(argv) {
            check(input)?;
        }
    }
}

/// A 10 MB NAMESPACE_LABEL_DICT (only possible through a flag file or a future config file:
/// Linux caps one variable at 128 KiB) is refused by size, before any parsing.
#[test]
fn ten_megabyte_dict_is_refused_by_size() {
    let huge = format!(r#"{{"ns": [{{"app": "{}"}}]}}"#, "x".repeat(10 << 20));
    let e = Config::from_input(Input {
        namespace_label_dict: Some(sourced("NAMESPACE_LABEL_DICT", huge)),
        termination_log: PathBuf::from("/dev/null"),
        ..Input::default()
    })
    .unwrap_err();
    assert!(
        e.problem
            .contains(&format!("{} KiB limit", MAX_DICT_BYTES / 1024)),
        "{e}"
    );
}
