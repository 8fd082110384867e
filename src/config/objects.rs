//! `--job`, `--rollout` and `--resource`: objects of any type, judged by kubectl's rules.
//!
//! The grammar is kubectl's where kubectl has one (resource types, `--for`), so a line that
//! works with `kubectl wait` works here with the same words.

use super::grammar::{Context, Invalid, namespace};
use crate::dependency::{ObjectTarget, Target, WaitFor};
use crate::kinds::TypeName;
use crate::readiness::object::parse_jsonpath;
use crate::selector::is_dns1123_label;

pub(super) const JOB_EXAMPLE: &str = "--job db/migrate";
pub(super) const ROLLOUT_EXAMPLE: &str = "--rollout app/deployment/api --rollout db/statefulset/zk";
pub(super) const RESOURCE_EXAMPLE: &str = "--resource 'cert-manager/certificates/web:condition=Ready' \
     --resource 'db/persistentvolumeclaims/data:jsonpath={.status.phase}=Bound'";

/// `NAMESPACE/NAME`: a Job that must complete.
pub(super) fn parse_job(spec: &str, _: &Context) -> Result<Target, Invalid> {
    let Some((ns, job)) = spec.trim().split_once('/') else {
        return Err(Invalid("expected NAMESPACE/NAME, found no `/`".into()));
    };
    Ok(object(
        Some(namespace(ns)?),
        "jobs.batch",
        object_name(job)?,
        WaitFor::JobComplete,
    ))
}

/// `NAMESPACE/KIND/NAME` with KIND a Deployment, StatefulSet or DaemonSet in any of kubectl's
/// spellings.
pub(super) fn parse_rollout(spec: &str, _: &Context) -> Result<Target, Invalid> {
    let parts: Vec<&str> = spec.trim().split('/').collect();
    let [ns, kind, object_text] = parts.as_slice() else {
        return Err(Invalid(format!(
            "expected NAMESPACE/KIND/NAME, found {} part(s)",
            parts.len()
        )));
    };
    let namespace = namespace(ns)?;
    let resource = TypeName::parse(kind)
        .ok()
        .filter(|t| t.group.as_deref() == Some("apps"))
        .map(|t| t.name)
        .filter(|plural| ["deployments", "statefulsets", "daemonsets"].contains(&plural.as_str()))
        .ok_or_else(|| {
            Invalid(format!(
                "`{kind}` has no rollout; KIND is deployment, statefulset or daemonset"
            ))
        })?;
    Ok(object(
        Some(namespace),
        &format!("{resource}.apps"),
        object_name(object_text)?,
        WaitFor::Rollout,
    ))
}

/// `NAMESPACE/TYPE/NAME[:FOR]` or, cluster-scoped, `TYPE/NAME[:FOR]`.
pub(super) fn parse_resource(spec: &str, _: &Context) -> Result<Target, Invalid> {
    // Namespaces, types and names have no `:`, so the first one starts FOR, which may contain
    // anything (a JSONPath filter, a value with `:`).
    let (reference, wait_for) = match spec.trim().split_once(':') {
        Some((reference, text)) => (reference, parse_for(text)?),
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
        [ns, t, n] => (Some(namespace(ns)?), *t, *n),
        [t, n] => (None, *t, *n),
        _ => {
            return Err(Invalid(format!(
                "expected NAMESPACE/TYPE/NAME[:FOR] (or TYPE/NAME[:FOR] for a cluster-scoped object), found {} part(s) before `:`",
                parts.len()
            )));
        }
    };
    let type_name = TypeName::parse(type_text).map_err(|e| Invalid(e.to_string()))?;
    Ok(object(
        namespace,
        &type_name.to_string(),
        object_name(object_text)?,
        wait_for,
    ))
}

/// kubectl wait's `--for` grammar.
fn parse_for(text: &str) -> Result<WaitFor, Invalid> {
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
            return Err(Invalid(format!("`{name}` is not a condition type")));
        }
        if !plain(value) {
            return Err(Invalid(format!("`{value}` is not a condition status")));
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
                            return Err(Invalid(format!(
                                "expected `=VALUE` after `{expr}`, found `{t}`"
                            )));
                        }
                    },
                }
            }
            _ => match rest.split_once('=') {
                Some((e, v)) => (e, Some(v)),
                None => (rest, None),
            },
        };
        parse_jsonpath(expr).map_err(|e| Invalid(e.to_string()))?;
        return Ok(WaitFor::JsonPath {
            expr: expr.into(),
            value: value.map(str::to_string),
        });
    }
    Err(Invalid(format!(
        "`{text}` is not a FOR; use condition=NAME[=VALUE], jsonpath=EXPR[=VALUE], create or delete"
    )))
}

/// Object names: DNS subdomains, as almost every type requires (and as the field selector
/// `metadata.name=` can carry without escaping).
fn object_name(text: &str) -> Result<String, Invalid> {
    let text = text.trim();
    let valid = !text.is_empty() && text.len() <= 253 && text.split('.').all(is_dns1123_label);
    if valid {
        Ok(text.into())
    } else {
        Err(Invalid(format!(
            "`{text}` is not an object name (lowercase letters, digits, `-` and `.`, at most 253)"
        )))
    }
}

fn object(namespace: Option<String>, resource: &str, name: String, wait_for: WaitFor) -> Target {
    Target::Object(ObjectTarget {
        namespace,
        resource: resource.into(),
        name,
        wait_for,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTEXT: Context = Context {
        cluster_domain: "cluster.local",
    };

    #[test]
    fn jobs_and_rollouts() {
        let Target::Object(o) = parse_job("db/migrate", &CONTEXT).unwrap() else {
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
            let target = parse_rollout(&format!("app/{kind}/api"), &CONTEXT).unwrap();
            let Target::Object(o) = &target else { panic!() };
            assert_eq!(o.resource, resource, "{kind}");
            assert_eq!(o.wait_for, WaitFor::Rollout);
            let shown = resource.split('.').next().unwrap().trim_end_matches('s');
            let shown_as = crate::dependency::Dependency {
                target: target.clone(),
                origin: String::new(),
            };
            assert_eq!(shown_as.to_string(), format!("rollout app/{shown}/api"));
        }
        for bad in [
            "app/pods/api",
            "app/deployment",
            "app/jobs/x",
            "App/deploy/x",
            "a/b/c/d",
        ] {
            assert!(parse_rollout(bad, &CONTEXT).is_err(), "{bad}");
        }
        for bad in ["migrate", "db/", "db/Migrate", "/x"] {
            assert!(parse_job(bad, &CONTEXT).is_err(), "{bad}");
        }
    }

    #[test]
    fn resources_take_kubectl_wait_for() {
        let parse = |s: &str| match parse_resource(s, &CONTEXT).unwrap() {
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
            assert!(parse_resource(bad, &CONTEXT).is_err(), "{bad}");
        }
    }
}
