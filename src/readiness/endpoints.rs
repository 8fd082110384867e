//! When a Service counts as ready: enough *ready* endpoints, read from its EndpointSlices (any
//! served version) or, on servers without them, its core/v1 Endpoints.
//!
//! This is stronger than what `nslookup` checks: a ClusterIP Service has a DNS record from the
//! moment it exists, ready backends or not. depwait waits for what the record is for.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::api::DynamicObject;
use serde_json::Value;

use super::Readiness;

/// What a Service object says about how to judge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKind {
    /// A Service with endpoints (ClusterIP, headless, NodePort, LoadBalancer).
    Endpoints,
    /// `type: ExternalName`: only a DNS alias; ready when the external name resolves.
    ExternalName(String),
}

/// How to judge the Service `service`.
pub fn service_kind(service: &DynamicObject) -> ServiceKind {
    let spec = &service.data["spec"];
    match (spec["type"].as_str(), spec["externalName"].as_str()) {
        (Some("ExternalName"), Some(name)) if !name.is_empty() => {
            ServiceKind::ExternalName(name.trim_end_matches('.').to_string())
        }
        _ => ServiceKind::Endpoints,
    }
}

/// One backend of a Service as the endpoint controller published it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    /// Identity across slices (the same pod can sit in two slices while they are rebalanced).
    id: String,
    /// Ready to receive traffic.
    ready: bool,
    /// The DNS host label of headless StatefulSet pods (`mysql-0`).
    hostname: Option<String>,
}

/// The endpoints in EndpointSlices (v1 and v1beta1 share these fields) or core Endpoints.
fn endpoints_of(obj: &DynamicObject) -> Vec<Endpoint> {
    let data = &obj.data;
    let mut out = Vec::new();
    let text = |v: &Value| v.as_str().map(str::to_string);
    if let Some(list) = data["endpoints"].as_array() {
        for e in list {
            let addresses: Vec<&str> = e["addresses"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let id = text(&e["targetRef"]["uid"]).unwrap_or_else(|| addresses.join(","));
            // The API says a missing `ready` means "unknown, treat as ready"; a terminating
            // endpoint is on its way out whatever `ready` says.
            let ready = e["conditions"]["ready"].as_bool().unwrap_or(true)
                && !e["conditions"]["terminating"].as_bool().unwrap_or(false);
            out.push(Endpoint {
                id,
                ready,
                hostname: text(&e["hostname"]),
            });
        }
    } else if let Some(subsets) = data["subsets"].as_array() {
        for subset in subsets {
            for (field, ready) in [("addresses", true), ("notReadyAddresses", false)] {
                for a in subset[field].as_array().into_iter().flatten() {
                    let id = text(&a["targetRef"]["uid"])
                        .or_else(|| text(&a["ip"]))
                        .unwrap_or_default();
                    out.push(Endpoint {
                        id,
                        ready,
                        hostname: text(&a["hostname"]),
                    });
                }
            }
        }
    }
    out
}

/// Judge a Service's endpoints: at least `min` ready, or, with `hostname`, the endpoint of that
/// host ready.
pub fn judge(min: u32, hostname: Option<&str>, objects: &[Arc<DynamicObject>]) -> Readiness {
    // An endpoint in two slices counts once; ready if any copy says so.
    let mut unique: BTreeMap<String, Endpoint> = BTreeMap::new();
    for e in objects.iter().flat_map(|o| endpoints_of(o)) {
        unique
            .entry(e.id.clone())
            .and_modify(|seen| seen.ready |= e.ready)
            .or_insert(e);
    }
    let ready = unique.values().filter(|e| e.ready).count();
    let not_ready = unique.len() - ready;
    if let Some(host) = hostname {
        let mine: Vec<&Endpoint> = unique
            .values()
            .filter(|e| e.hostname.as_deref() == Some(host))
            .collect();
        let host_ready = mine.iter().any(|e| e.ready);
        let summary = if host_ready {
            format!("endpoint {host} ready")
        } else if mine.is_empty() {
            format!(
                "no endpoint with hostname {host} yet ({})",
                counts(ready, not_ready)
            )
        } else {
            format!("endpoint {host} not ready")
        };
        return Readiness::counted(
            host_ready,
            usize::from(host_ready),
            mine.len().min(1),
            summary,
        );
    }
    let enough = ready >= min as usize;
    let mut summary = counts(ready, not_ready);
    if min > 1 && !enough {
        summary.push_str(&format!("; {min} needed"));
    }
    Readiness::counted(enough, ready, unique.len(), summary)
}

/// `--service NS/NAME:MIN` with MIN > 1 on a Service of type ExternalName: an ExternalName is
/// a DNS alias with no endpoints, so there is nothing to count MIN of. Judged failed — waiting
/// cannot help while the Service is what it is (exit 4, with the way out) — rather than ready
/// on one DNS answer (which would claim `1/1 (min 3)`) or not ready until the timeout.
pub fn external_name_with_min(namespace: &str, name: &str, external: &str, min: u32) -> Readiness {
    Readiness::failed(format!(
        "Service {namespace}/{name} is of type ExternalName ({external}), which has no endpoints to count, so MIN {min} can never be met; drop `:{min}` to wait for {external} to resolve"
    ))
}

/// `0 ready endpoints (2 not ready)`, `1 ready endpoint`, `no endpoints yet`.
fn counts(ready: usize, not_ready: usize) -> String {
    if ready + not_ready == 0 {
        return "no endpoints yet".into();
    }
    let noun = if ready == 1 { "endpoint" } else { "endpoints" };
    if not_ready == 0 {
        format!("{ready} ready {noun}")
    } else {
        format!("{ready} ready {noun} ({not_ready} not ready)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Arc<DynamicObject> {
        Arc::new(serde_json::from_value(value).unwrap())
    }

    fn slice(endpoints: Value) -> Arc<DynamicObject> {
        object(json!({
            "apiVersion": "discovery.k8s.io/v1beta1", "kind": "EndpointSlice",
            "metadata": {"name": "s"}, "addressType": "IPv4", "endpoints": endpoints
        }))
    }

    fn ep(ip: &str, uid: &str, ready: Option<bool>, host: Option<&str>) -> Value {
        let mut e = json!({"addresses": [ip], "targetRef": {"kind": "Pod", "uid": uid}});
        if let Some(r) = ready {
            e["conditions"] = json!({ "ready": r });
        }
        if let Some(h) = host {
            e["hostname"] = json!(h);
        }
        e
    }

    #[test]
    fn counts_ready_endpoints_against_min() {
        let s = slice(json!([
            ep("10.0.0.1", "a", Some(true), None),
            ep("10.0.0.2", "b", Some(false), None),
        ]));
        let r = judge(1, None, std::slice::from_ref(&s));
        assert!(r.is_ready());
        assert_eq!(r.summary, "1 ready endpoint (1 not ready)");
        let r = judge(2, None, &[s]);
        assert!(!r.is_ready());
        assert_eq!(r.summary, "1 ready endpoint (1 not ready); 2 needed");
    }

    #[test]
    fn no_slices_or_empty_slices_are_not_ready() {
        assert_eq!(judge(1, None, &[]).summary, "no endpoints yet");
        let r = external_name_with_min("db", "api", "api.example.com", 3);
        assert!(r.is_failed() && !r.is_ready() && r.counted_objects == 0);
        assert!(r.summary.contains("drop `:3`"), "{}", r.summary);
        assert!(!judge(1, None, &[slice(json!([]))]).is_ready());
        let r = judge(
            1,
            None,
            &[slice(json!([ep("10.0.0.1", "a", Some(false), None)]))],
        );
        assert_eq!(r.summary, "0 ready endpoints (1 not ready)");
    }

    #[test]
    fn missing_ready_condition_means_ready_and_terminating_means_not() {
        // discovery.k8s.io: "a nil value indicates an unknown state ... interpret as ready".
        assert!(judge(1, None, &[slice(json!([ep("10.0.0.1", "a", None, None)]))]).is_ready());
        let mut e = ep("10.0.0.1", "a", Some(true), None);
        e["conditions"]["terminating"] = json!(true);
        assert!(!judge(1, None, &[slice(json!([e]))]).is_ready());
    }

    #[test]
    fn an_endpoint_in_two_slices_counts_once() {
        let a = slice(json!([ep("10.0.0.1", "a", Some(true), None)]));
        let b = slice(json!([ep("10.0.0.1", "a", Some(true), None)]));
        let r = judge(2, None, &[a, b]);
        assert!(!r.is_ready());
        assert_eq!(r.ready_objects, 1);
    }

    #[test]
    fn a_hostname_waits_for_that_host_only() {
        let s = slice(json!([
            ep("10.0.0.1", "a", Some(true), Some("mysql-1")),
            ep("10.0.0.2", "b", Some(false), Some("mysql-0")),
        ]));
        let r = judge(1, Some("mysql-0"), std::slice::from_ref(&s));
        assert!(!r.is_ready());
        assert_eq!(r.summary, "endpoint mysql-0 not ready");
        assert!(judge(1, Some("mysql-1"), std::slice::from_ref(&s)).is_ready());
        let r = judge(1, Some("mysql-2"), &[s]);
        assert_eq!(
            r.summary,
            "no endpoint with hostname mysql-2 yet (1 ready endpoint (1 not ready))"
        );
    }

    #[test]
    fn core_endpoints_are_read_when_no_slices_are_served() {
        let e = object(json!({
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "db"},
            "subsets": [{
                "addresses": [{"ip": "10.0.0.1", "hostname": "db-0"}],
                "notReadyAddresses": [{"ip": "10.0.0.2", "hostname": "db-1"}]
            }]
        }));
        let r = judge(1, None, std::slice::from_ref(&e));
        assert_eq!(r.summary, "1 ready endpoint (1 not ready)");
        assert!(judge(1, Some("db-0"), std::slice::from_ref(&e)).is_ready());
        assert!(!judge(1, Some("db-1"), &[e]).is_ready());
    }

    #[test]
    fn external_name_services_are_recognised() {
        let svc = |spec: Value| -> DynamicObject {
            serde_json::from_value(json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "x"}, "spec": spec}))
            .unwrap()
        };
        assert_eq!(
            service_kind(&svc(
                json!({"type": "ExternalName", "externalName": "db.example.com."})
            )),
            ServiceKind::ExternalName("db.example.com".into())
        );
        assert_eq!(
            service_kind(&svc(json!({"type": "ClusterIP"}))),
            ServiceKind::Endpoints
        );
    }
}
