//! When a Service dependency is ready: what its Service object is decides how it is judged —
//! by its endpoints ([`super::endpoints`]), or, for `type: ExternalName`, by its external name
//! resolving — and a name that is only maybe a Service counts through DNS while no such
//! Service exists.

use kube::api::DynamicObject;

use super::Readiness;
use super::endpoints::{self, ServiceKind};
use crate::dependency::ServiceTarget;
use crate::probe::{Check, ProbeStatus};

/// What judging a Service needs next, once its object has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The verdict.
    Done(Readiness),
    /// A Service with endpoints: judge them ([`endpoints::judge`]) once their watch is live.
    Endpoints,
    /// An ExternalName Service: ready when this name resolves ([`external_name`]); its probe
    /// may not be running yet.
    Resolve(Check),
}

/// The first step: `service` as the live store has it (`None`: no such Service), and, for a
/// maybe-Service name, the result of its absolute name's probe (`Some(None)`: no answer yet).
pub fn judge(
    t: &ServiceTarget,
    service: Option<&DynamicObject>,
    fallback: Option<Option<&ProbeStatus>>,
) -> Step {
    let Some(service) = service else {
        return Step::Done(match (&t.absolute_fallback, fallback) {
            (Some(name), Some(status)) => {
                let resolves = match status {
                    Some(ProbeStatus::Ready(seen)) => Ok(seen.as_str()),
                    Some(ProbeStatus::NotReady(why)) => Err(why.as_str()),
                    None => Err("resolving"),
                };
                Readiness::one(
                    resolves.is_ok(),
                    format!(
                        "no Service {} in namespace {}, and {name} {}",
                        t.name,
                        t.namespace,
                        match resolves {
                            Ok(seen) => format!("resolves ({seen})"),
                            Err(why) => format!("does not resolve: {why}"),
                        }
                    ),
                )
            }
            _ => Readiness::unknown(format!(
                "Service {}/{} does not exist yet",
                t.namespace, t.name
            )),
        });
    };
    match endpoints::service_kind(service) {
        ServiceKind::ExternalName(name) if t.min > 1 => Step::Done(
            endpoints::external_name_with_min(&t.namespace, &t.name, &name, t.min),
        ),
        ServiceKind::ExternalName(name) => Step::Resolve(Check::dns(name)),
        ServiceKind::Endpoints => Step::Endpoints,
    }
}

/// An ExternalName Service whose name is probed by `check`, from that probe's last result.
pub fn external_name(check: &Check, status: Option<&ProbeStatus>) -> Readiness {
    let detail = status.map_or("resolving", ProbeStatus::detail);
    Readiness::one(
        status.is_some_and(ProbeStatus::is_ready),
        format!("ExternalName {check}: {detail}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target(fallback: Option<&str>, min: u32) -> ServiceTarget {
        ServiceTarget {
            namespace: "db".into(),
            name: "mysql".into(),
            min,
            hostname: None,
            written: None,
            absolute_fallback: fallback.map(str::to_string),
        }
    }

    fn service(spec: serde_json::Value) -> DynamicObject {
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "mysql"}, "spec": spec}))
        .unwrap()
    }

    #[test]
    fn no_service_waits_unless_the_absolute_name_resolves() {
        let Step::Done(r) = judge(&target(None, 1), None, None) else {
            panic!("no Service is a verdict")
        };
        assert_eq!(r.summary, "Service db/mysql does not exist yet");
        let t = target(Some("mysql.db."), 1);
        let Step::Done(r) = judge(&t, None, Some(None)) else {
            panic!()
        };
        assert!(!r.is_ready());
        assert!(
            r.summary.ends_with("does not resolve: resolving"),
            "{}",
            r.summary
        );
        let seen = ProbeStatus::Ready("10.1.2.3".into());
        let Step::Done(r) = judge(&t, None, Some(Some(&seen))) else {
            panic!()
        };
        assert!(r.is_ready());
        assert_eq!(
            r.summary,
            "no Service mysql in namespace db, and mysql.db. resolves (10.1.2.3)"
        );
    }

    #[test]
    fn a_service_says_how_it_is_judged() {
        let t = target(Some("mysql.db."), 1);
        let seen = ProbeStatus::Ready("10.1.2.3".into());
        // Once the Service exists, its endpoints count, not the absolute name.
        assert_eq!(
            judge(&t, Some(&service(json!({}))), Some(Some(&seen))),
            Step::Endpoints
        );
        let external = service(json!({"type": "ExternalName", "externalName": "db.example.com."}));
        assert_eq!(
            judge(&t, Some(&external), None),
            Step::Resolve(Check::dns("db.example.com"))
        );
        let Step::Done(r) = judge(&target(None, 3), Some(&external), None) else {
            panic!("MIN on an ExternalName is a verdict")
        };
        assert!(r.is_failed());
    }

    #[test]
    fn an_external_name_is_ready_when_it_resolves() {
        let check = Check::dns("db.example.com");
        let r = external_name(&check, None);
        assert!(!r.is_ready());
        assert_eq!(r.summary, "ExternalName db.example.com: resolving");
        let r = external_name(&check, Some(&ProbeStatus::Ready("10.9.9.9".into())));
        assert!(r.is_ready());
        assert_eq!(r.summary, "ExternalName db.example.com: 10.9.9.9");
    }
}
