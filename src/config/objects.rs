//! `--job`, `--rollout`, `--resource` and `--tcp`: objects of any type, and ports.
//!
//! The grammar is kubectl's where kubectl has one (resource types, `--for`), so a line that
//! works with `kubectl wait` works here with the same words.

use super::{ConfigError, parse_namespace};
use crate::dependency::{Dependency, ObjectTarget, Target, WaitFor};
use crate::kinds::TypeName;
use crate::names;
use crate::probe::{Check, StatusSet};
use crate::readiness::object::parse_jsonpath;
use crate::selector::is_dns1123_label;
use crate::text::{self, Url};

const JOB_EXAMPLE: &str = "--job db/migrate";
const ROLLOUT_EXAMPLE: &str = "--rollout app/deployment/api --rollout db/statefulset/zk";
const RESOURCE_EXAMPLE: &str = "--resource 'cert-manager/certificates/web:condition=Ready' \
     --resource 'db/persistentvolumeclaims/data:jsonpath={.status.phase}=Bound'";
const TCP_EXAMPLE: &str = "--tcp db.internal:5432 --tcp 10.0.0.7:6379";
const HTTP_EXAMPLE: &str =
    "--http http://api.app.svc:8080/healthz --http 'https://auth.example.com/ready#200,401'";

/// `NAMESPACE/NAME`: a Job that must complete.
pub(super) fn parse_job(spec: &str, index: usize) -> Result<Dependency, ConfigError> {
    let name = format!("--job #{index} `{spec}`");
    let err = |problem: String| ConfigError {
        name: name.clone(),
        problem,
        example: JOB_EXAMPLE,
    };
    let Some((ns, job)) = spec.trim().split_once('/') else {
        return Err(err("expected NAMESPACE/NAME, found no `/`".into()));
    };
    let namespace = parse_namespace(ns, &name, JOB_EXAMPLE)?;
    let job = object_name(job).map_err(err)?;
    Ok(object(
        Some(namespace),
        "jobs.batch",
        job,
        WaitFor::JobComplete,
        format!("--job #{index}"),
    ))
}

/// `NAMESPACE/KIND/NAME` with KIND a Deployment, StatefulSet or DaemonSet in any of kubectl's
/// spellings.
pub(super) fn parse_rollout(spec: &str, index: usize) -> Result<Dependency, ConfigError> {
    let name = format!("--rollout #{index} `{spec}`");
    let err = |problem: String| ConfigError {
        name: name.clone(),
        problem,
        example: ROLLOUT_EXAMPLE,
    };
    let parts: Vec<&str> = spec.trim().split('/').collect();
    let [ns, kind, object_text] = parts.as_slice() else {
        return Err(err(format!(
            "expected NAMESPACE/KIND/NAME, found {} part(s)",
            parts.len()
        )));
    };
    let namespace = parse_namespace(ns, &name, ROLLOUT_EXAMPLE)?;
    let resource = TypeName::parse(kind)
        .ok()
        .filter(|t| t.group.as_deref() == Some("apps"))
        .map(|t| t.name)
        .filter(|plural| ["deployments", "statefulsets", "daemonsets"].contains(&plural.as_str()))
        .ok_or_else(|| {
            err(format!(
                "`{kind}` has no rollout; KIND is deployment, statefulset or daemonset"
            ))
        })?;
    let object_name = object_name(object_text).map_err(err)?;
    Ok(object(
        Some(namespace),
        &format!("{resource}.apps"),
        object_name,
        WaitFor::Rollout,
        format!("--rollout #{index}"),
    ))
}

/// `NAMESPACE/TYPE/NAME[:FOR]` or, cluster-scoped, `TYPE/NAME[:FOR]`.
pub(super) fn parse_resource(spec: &str, index: usize) -> Result<Dependency, ConfigError> {
    let name = format!("--resource #{index} `{spec}`");
    let err = |problem: String| ConfigError {
        name: name.clone(),
        problem,
        example: RESOURCE_EXAMPLE,
    };
    // Namespaces, types and names have no `:`, so the first one starts FOR, which may contain
    // anything (a JSONPath filter, a value with `:`).
    let (reference, wait_for) = match spec.trim().split_once(':') {
        Some((reference, text)) => (reference, parse_for(text).map_err(err)?),
        None => (
            spec.trim(),
            WaitFor::Condition {
                name: "Ready".into(),
                value: "True".into(),
            },
        ),
    };
    let parts: Vec<&str> = reference.split('/').collect();
    let (namespace, type_text, object_text) = match parts.as_slice() {
        [ns, t, n] => (Some(parse_namespace(ns, &name, RESOURCE_EXAMPLE)?), *t, *n),
        [t, n] => (None, *t, *n),
        _ => {
            return Err(err(format!(
                "expected NAMESPACE/TYPE/NAME[:FOR] (or TYPE/NAME[:FOR] for a cluster-scoped object), found {} part(s) before `:`",
                parts.len()
            )));
        }
    };
    let type_name = TypeName::parse(type_text).map_err(|e| err(e.to_string()))?;
    let object_name = object_name(object_text).map_err(err)?;
    Ok(object(
        namespace,
        &type_name.to_string(),
        object_name,
        wait_for,
        format!("--resource #{index}"),
    ))
}

/// kubectl wait's `--for` grammar.
fn parse_for(text: &str) -> Result<WaitFor, String> {
    let text = text.trim();
    match text {
        "create" => return Ok(WaitFor::Create),
        "delete" => return Ok(WaitFor::Delete),
        _ => {}
    }
    if let Some(rest) = text.strip_prefix("condition=") {
        let (name, value) = rest.split_once('=').unwrap_or((rest, "True"));
        let plain = |s: &str| {
            !s.is_empty()
                && s.len() <= 316
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
        };
        if !plain(name) {
            return Err(format!("`{name}` is not a condition type"));
        }
        if !plain(value) {
            return Err(format!("`{value}` is not a condition status"));
        }
        return Ok(WaitFor::Condition {
            name: name.into(),
            value: value.into(),
        });
    }
    if let Some(rest) = text.strip_prefix("jsonpath=") {
        // `{...}=VALUE`: the value follows the last `}` (a filter inside may hold `=`);
        // without braces, the first `=` ends the expression.
        let (expr, value) = match rest.rfind('}') {
            Some(end) if rest.starts_with('{') => {
                let (expr, tail) = rest.split_at(end + 1);
                match tail {
                    "" => (expr, None),
                    t => match t.strip_prefix('=') {
                        Some(v) => (expr, Some(v)),
                        None => {
                            return Err(format!("expected `=VALUE` after `{expr}`, found `{t}`"));
                        }
                    },
                }
            }
            _ => match rest.split_once('=') {
                Some((e, v)) => (e, Some(v)),
                None => (rest, None),
            },
        };
        parse_jsonpath(expr)?;
        return Ok(WaitFor::JsonPath {
            expr: expr.into(),
            value: value.map(str::to_string),
        });
    }
    Err(format!(
        "`{text}` is not a FOR; use condition=NAME[=VALUE], jsonpath=EXPR[=VALUE], create or delete"
    ))
}

/// Object names: DNS subdomains, as almost every type requires (and as the field selector
/// `metadata.name=` can carry without escaping).
fn object_name(text: &str) -> Result<String, String> {
    let text = text.trim();
    let valid = !text.is_empty() && text.len() <= 253 && text.split('.').all(is_dns1123_label);
    if valid {
        Ok(text.into())
    } else {
        Err(format!(
            "`{text}` is not an object name (lowercase letters, digits, `-` and `.`, at most 253)"
        ))
    }
}

fn object(
    namespace: Option<String>,
    resource: &str,
    name: String,
    wait_for: WaitFor,
    origin: String,
) -> Dependency {
    Dependency {
        target: Target::Object(ObjectTarget {
            namespace,
            resource: resource.into(),
            name,
            wait_for,
        }),
        origin,
    }
}

/// `HOST:PORT`, `[IPv6]:PORT`.
pub(super) fn parse_tcp(spec: &str, index: usize) -> Result<Dependency, ConfigError> {
    let name = format!("--tcp #{index} `{spec}`");
    let err = |problem: String| ConfigError {
        name: name.clone(),
        problem,
        example: TCP_EXAMPLE,
    };
    let Some((host, port)) = spec.trim().rsplit_once(':') else {
        return Err(err("expected HOST:PORT, found no `:`".into()));
    };
    let port = parse_port(port).map_err(err)?;
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => {
            v6.parse::<std::net::Ipv6Addr>()
                .map_err(|_| err(format!("`{v6}` is not an IPv6 address")))?;
            v6.to_string()
        }
        None if host.contains(':') => {
            return Err(err(
                "an IPv6 address goes in brackets: [fd00::1]:5432".into()
            ));
        }
        None => {
            if host.parse::<std::net::Ipv4Addr>().is_err() {
                names::validate(host).map_err(|e| err(e.0))?;
            }
            host.to_string()
        }
    };
    Ok(Dependency {
        target: Target::Probe(Check::Tcp { host, port }),
        origin: format!("--tcp #{index}"),
    })
}

/// A TCP port, for `--tcp` and `--http` alike: decimal digits only, 1-65535.
fn parse_port(text: &str) -> Result<u16, String> {
    text.parse()
        .ok()
        .filter(|p| *p > 0 && !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("`{text}` is not a port (1-65535)"))
}

/// `URL[#STATUSES]`: http or https, with a host; the fragment (never sent) lists accepted
/// statuses. Credentials in the URL (`http://user:password@host/`) are sent as Basic auth and
/// never shown: messages quote the URL redacted ([`text::redact`]).
pub(super) fn parse_http(spec: &str, index: usize) -> Result<Dependency, ConfigError> {
    let name = format!("--http #{index} `{}`", text::redact(spec));
    let err = |problem: String| ConfigError {
        name: name.clone(),
        problem,
        example: HTTP_EXAMPLE,
    };
    let (url, accept) = match spec.trim().split_once('#') {
        // Quoting this fragment would quote the rest of a password.
        Some((url, statuses)) if url.contains("://") && statuses.contains('@') => {
            return Err(err(format!(
                "a `#` in the credentials of `{}` ends the URL there; write it as %23",
                text::redact(url)
            )));
        }
        Some((url, statuses)) => (url, StatusSet::parse(statuses).map_err(err)?),
        None => (spec.trim(), StatusSet::default()),
    };
    let shown = text::redact(url);
    let uri: http::Uri = url
        .parse()
        .map_err(|e| err(format!("`{shown}` is not a URL: {e}")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(err(format!(
            "`{shown}` must start with http:// or https://"
        )));
    }
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // After the host (`]` closes an IPv6 one), a `:` starts the port; `http::Uri` takes any
    // digits there, and `:` with none.
    let after_host = host_port.rsplit_once(']').map_or(host_port, |(_, p)| p);
    if let Some((_, port)) = after_host.rsplit_once(':') {
        parse_port(port).map_err(err)?;
    }
    let host = uri.host().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_err() {
        names::validate(host).map_err(|e| err(e.0))?;
    }
    Ok(Dependency {
        target: Target::Probe(Check::Http {
            url: Url::new(url),
            accept,
        }),
        origin: format!("--http #{index}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(d: Dependency) -> Target {
        d.target
    }

    #[test]
    fn jobs_and_rollouts() {
        let Target::Object(o) = target(parse_job("db/migrate", 1).unwrap()) else {
            panic!()
        };
        assert_eq!(
            (o.namespace.as_deref(), o.resource.as_str(), o.name.as_str()),
            (Some("db"), "jobs.batch", "migrate")
        );
        for (kind, resource) in [
            ("deployment", "deployments.apps"),
            ("deploy", "deployments.apps"),
            ("Deployments", "deployments.apps"),
            ("sts", "statefulsets.apps"),
            ("statefulset", "statefulsets.apps"),
            ("ds", "daemonsets.apps"),
        ] {
            let d = parse_rollout(&format!("app/{kind}/api"), 1).unwrap();
            let Target::Object(o) = target(d.clone()) else {
                panic!()
            };
            assert_eq!(o.resource, resource, "{kind}");
            assert_eq!(o.wait_for, WaitFor::Rollout);
            let shown = resource.split('.').next().unwrap().trim_end_matches('s');
            assert_eq!(d.to_string(), format!("rollout app/{shown}/api"));
        }
        for bad in [
            "app/pods/api",
            "app/deployment",
            "app/jobs/x",
            "App/deploy/x",
            "a/b/c/d",
        ] {
            assert!(parse_rollout(bad, 1).is_err(), "{bad}");
        }
        for bad in ["migrate", "db/", "db/Migrate", "/x"] {
            assert!(parse_job(bad, 1).is_err(), "{bad}");
        }
    }

    #[test]
    fn resources_take_kubectl_wait_for() {
        let parse = |s: &str| match target(parse_resource(s, 1).unwrap()) {
            Target::Object(o) => o,
            _ => panic!(),
        };
        let o = parse("flux-system/kustomizations.kustomize.toolkit.fluxcd.io/infra");
        assert_eq!(o.namespace.as_deref(), Some("flux-system"));
        assert_eq!(o.resource, "kustomizations.kustomize.toolkit.fluxcd.io");
        assert_eq!(
            o.wait_for,
            WaitFor::Condition {
                name: "Ready".into(),
                value: "True".into()
            }
        );
        let o = parse("db/persistentvolumeclaims/data:jsonpath={.status.phase}=Bound");
        assert_eq!(
            o.wait_for,
            WaitFor::JsonPath {
                expr: "{.status.phase}".into(),
                value: Some("Bound".into())
            }
        );
        let o =
            parse(r#"ns/pods/web:jsonpath={.status.conditions[?(@.type=="Ready")].status}=True"#);
        assert_eq!(
            o.wait_for,
            WaitFor::JsonPath {
                expr: r#"{.status.conditions[?(@.type=="Ready")].status}"#.into(),
                value: Some("True".into())
            }
        );
        let o = parse("cert-manager/certificates/web:condition=Ready=False");
        assert_eq!(
            o.wait_for,
            WaitFor::Condition {
                name: "Ready".into(),
                value: "False".into()
            }
        );
        // Cluster-scoped.
        let o = parse("crd/widgets.example.com:condition=Established");
        assert_eq!(o.namespace, None);
        assert_eq!(o.resource, "customresourcedefinitions.apiextensions.k8s.io");
        assert_eq!(o.name, "widgets.example.com");
        assert_eq!(parse("ns/cm/x:create").wait_for, WaitFor::Create);
        assert_eq!(parse("ns/cm/x:delete").wait_for, WaitFor::Delete);
        for bad in [
            "x",
            "ns/cm/x/y",
            "ns/cm/x:ready",
            "ns/cm/x:condition=",
            "ns/cm/x:jsonpath={.status.[}",
            "ns/cm/x:jsonpath={.a}Bound",
            "ns/c m/x",
            "ns/cm/X",
            "Ns/cm/x",
        ] {
            assert!(parse_resource(bad, 1).is_err(), "{bad}");
        }
    }

    #[test]
    fn tcp_takes_names_and_addresses() {
        let tcp = |s: &str| match target(parse_tcp(s, 1).unwrap()) {
            Target::Probe(Check::Tcp { host, port }) => (host, port),
            _ => panic!(),
        };
        assert_eq!(tcp("db.internal:5432"), ("db.internal".into(), 5432));
        assert_eq!(tcp("10.0.0.7:6379"), ("10.0.0.7".into(), 6379));
        assert_eq!(tcp("[fd00::1]:53"), ("fd00::1".into(), 53));
        for bad in [
            "db",
            "db:0",
            "db:65536",
            "db:+1",
            "fd00::1:53",
            ":80",
            "a b:1",
            "[x]:1",
        ] {
            assert!(parse_tcp(bad, 1).is_err(), "{bad}");
        }
    }

    #[test]
    fn http_takes_urls_and_statuses() {
        let http = |s: &str| match target(parse_http(s, 1).unwrap()) {
            Target::Probe(Check::Http { url, accept }) => {
                (url.as_sent().to_string(), accept.to_string())
            }
            _ => panic!(),
        };
        assert_eq!(
            http("http://api.app.svc:8080/healthz"),
            ("http://api.app.svc:8080/healthz".into(), "2xx".into())
        );
        assert_eq!(
            http("https://10.0.0.1/ready#200,401"),
            ("https://10.0.0.1/ready".into(), "200,401".into())
        );
        assert_eq!(http("http://[::1]:80/").0, "http://[::1]:80/");
        for bad in [
            "api:8080",
            "ftp://x/",
            "http://",
            "http://a b/",
            "http://x/#abc",
            "http://x_y/",
        ] {
            assert!(parse_http(bad, 1).is_err(), "{bad}");
        }
    }

    /// One port rule for `--tcp` and `--http`: what one rejects, the other does too.
    #[test]
    fn tcp_and_http_share_one_port_rule() {
        for port in ["0", "65536", "99999", "+80", "", "8o", "4294967377"] {
            let tcp = parse_tcp(&format!("db:{port}"), 1);
            let http = parse_http(&format!("http://db:{port}/"), 1);
            assert!(tcp.is_err(), "--tcp db:{port}");
            assert!(http.is_err(), "--http http://db:{port}/");
            assert_eq!(
                tcp.unwrap_err().problem,
                http.unwrap_err().problem,
                "the same words for {port:?}"
            );
        }
        for port in ["1", "80", "65535"] {
            assert!(parse_tcp(&format!("db:{port}"), 1).is_ok());
            assert!(parse_http(&format!("http://db:{port}/"), 1).is_ok());
            assert!(parse_http(&format!("http://u:p@[::1]:{port}/"), 1).is_ok());
        }
        assert!(parse_http("http://u:p@[::1]:99999/", 1).is_err());
    }

    /// A URL's password and query values are never quoted back, even in an error.
    #[test]
    fn http_credentials_stay_out_of_errors_and_names() {
        let d = parse_http("http://user:s3cret@api.app.svc:8080/healthz?token=t0k", 1).unwrap();
        assert_eq!(
            d.to_string(),
            "http http://user:***@api.app.svc:8080/healthz?token=***"
        );
        assert!(!format!("{d:?}").contains("s3cret") && !format!("{d:?}").contains("t0k"));
        for bad in [
            "http://user:s3cret@api.app.svc:99999/?token=t0k",
            "http://user:s3cret@bad_host/?token=t0k",
            "http://user:s3/cret@host/?token=t0k",
            "http://user:s3cret@host/?token=t0k#abc",
            "http://user:s3#cret@host/?token=t0k",
            "http://user:s3?cret@host/?token=t0k",
            "gopher://user:s3cret@host/?token=t0k",
        ] {
            let e = parse_http(bad, 1).unwrap_err().to_string();
            assert!(!e.contains("s3cret") && !e.contains("cret"), "{e}");
            assert!(!e.contains("t0k"), "{e}");
        }
    }
}
