//! Services and names: `--service NAMESPACE/NAME[:MIN]`, service-precheck's positional HOST
//! names (a Service watch when a name has cluster form) and `--dns`.

use super::grammar::{Context, Invalid, namespace, parse_min};
use crate::dependency::{ServiceTarget, Target};
use crate::names::{self, HostName};
use crate::probe::Check;
use crate::selector::is_dns1123_label;

pub(super) const SERVICE_EXAMPLE: &str =
    "--service db/mysql-read --service db/zookeeper-headless:3";
pub(super) const HOST_EXAMPLE: &str = "depwait mysql-0.mysql.db mysql-read.db api.example.com.";
pub(super) const DNS_EXAMPLE: &str = "--dns mysql.db --dns api.example.com.";

/// `NAMESPACE/NAME[:MIN]`.
pub(super) fn parse_service(spec: &str, _: &Context) -> Result<Target, Invalid> {
    let (reference, min) = match spec.split_once(':') {
        Some((reference, min)) => (reference, parse_min(min)?),
        None => (spec, 1),
    };
    let Some((ns, service)) = reference.split_once('/') else {
        return Err(Invalid(
            "expected NAMESPACE/NAME[:MIN], found no `/`".into(),
        ));
    };
    let namespace = namespace(ns.trim())?;
    let service = service.trim();
    if !is_dns1123_label(service) || !service.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(Invalid(format!(
            "`{service}` is not a valid Service name (1-63 lowercase letters, digits or `-`, starting with a letter)"
        )));
    }
    Ok(Target::Service(ServiceTarget {
        namespace,
        name: service.into(),
        min,
        hostname: None,
        written: None,
        absolute_fallback: None,
    }))
}

/// A positional HOST: a Service to watch when it has cluster form, else a DNS name.
pub(super) fn parse_host(host: &str, context: &Context) -> Result<Target, Invalid> {
    names::validate(host)?;
    match names::classify(host, context.cluster_domain) {
        HostName::Service {
            namespace,
            name,
            hostname,
            ambiguous,
        } => Ok(Target::Service(ServiceTarget {
            namespace,
            name,
            min: 1,
            hostname,
            written: Some(host.to_string()),
            absolute_fallback: ambiguous.then(|| format!("{}.", host.to_ascii_lowercase())),
        })),
        HostName::External => Ok(Target::Probe(Check::dns(host))),
    }
}

/// `--dns`: a name resolved through DNS, whatever its form.
pub(super) fn parse_dns(host: &str, _: &Context) -> Result<Target, Invalid> {
    names::validate(host)?;
    Ok(Target::Probe(Check::dns(host)))
}
