//! Positional HOST arguments (service-precheck's interface): which names mean a Kubernetes
//! Service, to be watched, and which only DNS can answer.
//!
//! The names a pod's resolver turns into cluster records through its search path are:
//! `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<cluster-domain>` for a Service, and the same with a
//! leading `host.` for one pod of a headless Service (`mysql-0.mysql.db`). depwait watches
//! those. Everything else (`api.example.com.`, `db.internal.corp`) is resolved through DNS.

use crate::selector::is_dns1123_label;

/// What a host name refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostName {
    /// A Service (and maybe one host of it), judged by watching its endpoints.
    Service {
        /// The Service's namespace.
        namespace: String,
        /// The Service's name.
        name: String,
        /// `host` in `host.svc.ns`: the endpoint's `hostname`.
        hostname: Option<String>,
        /// True when the name has no `.svc`: `api.example.com` reads as host `api` of Service
        /// `example` in namespace `com` just as `mysql-0.mysql.db` does. The pod's resolver
        /// tries the cluster meaning first and the absolute name after, and so does depwait.
        ambiguous: bool,
    },
    /// A name only DNS can answer.
    External,
}

/// Why a host name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadHostName(pub String);

/// Longest DNS name, in text form without the trailing dot (RFC 1035: 255 octets on the wire).
const MAX_NAME: usize = 253;

/// Check RFC 1123 syntax: dot-separated labels of letters, digits and `-` (not at either end),
/// 1-63 characters each, 253 in all; one trailing dot allowed (an absolute name).
pub fn validate(name: &str) -> Result<(), BadHostName> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Err(BadHostName("empty host name".into()));
    }
    if bare.len() > MAX_NAME {
        return Err(BadHostName(format!(
            "host name is {} characters long; DNS allows {MAX_NAME}",
            bare.len()
        )));
    }
    for label in bare.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(BadHostName(format!(
                "`{label}` is not a valid DNS label (1-63 letters, digits or `-`, not starting or ending with `-`)"
            )));
        }
    }
    Ok(())
}

/// Classify a (valid) host name for a cluster whose DNS domain is `cluster_domain`.
pub fn classify(name: &str, cluster_domain: &str) -> HostName {
    let lower = name.to_ascii_lowercase();
    // `x.y.` is absolute: the resolver skips the search path, and depwait resolves it through
    // DNS as written, even when it spells a cluster record (`mysql.db.svc.cluster.local.`):
    // the trailing dot is how a user asks for DNS.
    if lower.ends_with('.') {
        return HostName::External;
    }
    let bare = lower.as_str();
    let domain_suffix = format!(".svc.{}", cluster_domain.trim_end_matches('.'));
    let (prefix, ambiguous) = if let Some(p) = bare.strip_suffix(&domain_suffix) {
        (p, false)
    } else if let Some(p) = bare.strip_suffix(".svc") {
        (p, false)
    } else {
        (bare, true)
    };
    let labels: Vec<&str> = prefix.split('.').collect();
    let (hostname, service, namespace) = match labels.as_slice() {
        [service, namespace] => (None, *service, *namespace),
        [host, service, namespace] => (Some(*host), *service, *namespace),
        _ => return HostName::External,
    };
    // Service names are DNS-1035 labels (start with a letter); namespaces DNS-1123 labels.
    let service_ok =
        is_dns1123_label(service) && service.starts_with(|c: char| c.is_ascii_lowercase());
    if !service_ok || !is_dns1123_label(namespace) {
        return HostName::External;
    }
    HostName::Service {
        namespace: namespace.into(),
        name: service.into(),
        hostname: hostname.map(str::to_string),
        ambiguous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(ns: &str, name: &str, host: Option<&str>, ambiguous: bool) -> HostName {
        HostName::Service {
            namespace: ns.into(),
            name: name.into(),
            hostname: host.map(str::to_string),
            ambiguous,
        }
    }

    #[test]
    fn the_seeds_names_are_services() {
        let c = |n| classify(n, "cluster.local");
        assert_eq!(
            c("mysql-read.namespace"),
            service("namespace", "mysql-read", None, true)
        );
        assert_eq!(
            c("mysql-0.mysql.namespace"),
            service("namespace", "mysql", Some("mysql-0"), true)
        );
        assert_eq!(
            c("zookeeper-0.zookeeper-headless.namespace"),
            service("namespace", "zookeeper-headless", Some("zookeeper-0"), true)
        );
    }

    #[test]
    fn svc_and_cluster_domain_suffixes_are_certain() {
        let c = |n| classify(n, "cluster.local");
        assert_eq!(c("mysql.db.svc"), service("db", "mysql", None, false));
        assert_eq!(
            c("mysql.db.svc.cluster.local"),
            service("db", "mysql", None, false)
        );
        // A trailing dot asks for DNS, whatever the name spells.
        assert_eq!(c("mysql.db.svc.cluster.local."), HostName::External);
        assert_eq!(c("mysql.db.svc."), HostName::External);
        assert_eq!(
            c("MYSQL-0.mysql.db.svc.cluster.local"),
            service("db", "mysql", Some("mysql-0"), false)
        );
        // Another cluster domain is only a cluster name when configured.
        assert_eq!(c("mysql.db.svc.corp.example"), HostName::External);
        assert_eq!(
            classify("mysql.db.svc.corp.example", "corp.example"),
            service("db", "mysql", None, false)
        );
    }

    #[test]
    fn other_names_go_to_dns() {
        let c = |n| classify(n, "cluster.local");
        assert_eq!(c("localhost"), HostName::External);
        assert_eq!(c("a.b.c.d"), HostName::External);
        assert_eq!(c("api.example.com."), HostName::External);
        // A Service name must start with a letter.
        assert_eq!(c("1db.ns"), HostName::External);
        assert_eq!(c("w.x.y.z.svc"), HostName::External);
        assert_eq!(c("x.y.z.svc"), service("z", "y", Some("x"), false));
        // Three labels without `.svc` may be either: watched first, DNS when no Service.
        assert_eq!(
            c("api.example.com"),
            service("com", "example", Some("api"), true)
        );
    }

    #[test]
    fn syntax_is_checked() {
        for ok in ["a", "mysql-0.mysql.db", "x.example.com.", "a1.b2"] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
        for bad in [
            "", ".", "a..b", "-a.b", "a-.b", "a_b.c", "a b", "ä.com", ".a",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
        assert!(validate(&"a".repeat(64)).is_err());
        let long = vec!["a".repeat(63); 4].join(".");
        assert_eq!(long.len(), 255);
        assert!(validate(&long).is_err());
    }
}
