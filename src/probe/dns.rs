//! DNS resolution the way the pod itself would resolve a name — `/etc/resolv.conf` name servers,
//! `search` list and `ndots` — in pure Rust: the image is static and `FROM scratch`, so there is
//! no libc NSS to ask.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;

use super::{ProbeStatus, Unready};

/// Where the resolver configuration is read from unless `DEPWAIT_RESOLV_CONF` names another
/// file (for debugging, and for tests that point depwait at their own name server).
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// A resolver built from the pod's configuration, or why it could not be.
#[derive(Clone)]
pub struct Resolver {
    inner: Result<TokioResolver, Unready>,
}

impl Resolver {
    /// The resolver configured by `DEPWAIT_RESOLV_CONF` or `/etc/resolv.conf`. A missing or
    /// unusable file is not fatal here: every probe reports it as its reason, which is what the
    /// user needs to see in the progress lines and the termination message.
    pub fn from_env() -> Self {
        let path = std::env::var_os("DEPWAIT_RESOLV_CONF")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(RESOLV_CONF));
        let inner = std::fs::read(&path)
            .map_err(|e| Unready(format!("cannot read {}: {e}", path.display())))
            .and_then(|text| {
                build(&text).map_err(|e| Unready(format!("cannot use {}: {e}", path.display())))
            });
        Self { inner }
    }

    /// One lookup of `host` (A and AAAA, through the search list as `ndots` says).
    pub async fn resolve(&self, host: &str) -> ProbeStatus {
        match self.addresses(host).await {
            Ok(addresses) => ProbeStatus::Ready(describe(addresses)),
            Err(why) => ProbeStatus::NotReady(why.0),
        }
    }

    /// The addresses of `host` (at least one), or the short reason there are none. An IP
    /// address is its own answer, with no request.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, Unready> {
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse() {
            return Ok(vec![ip]);
        }
        let resolver = self.inner.as_ref().map_err(Clone::clone)?;
        match resolver.lookup_ip(host).await {
            Ok(lookup) => {
                let addresses: Vec<IpAddr> = lookup.iter().collect();
                if addresses.is_empty() {
                    Err(Unready("no addresses".into()))
                } else {
                    Ok(addresses)
                }
            }
            Err(e) => Err(Unready(reason(&e))),
        }
    }
}

fn build(resolv_conf: &[u8]) -> Result<TokioResolver, NetError> {
    let (config, mut options) = hickory_resolver::system_conf::parse_resolv_conf(resolv_conf)?;
    // Every attempt must ask the server: a cached NXDOMAIN (negative TTLs are often minutes)
    // would hide the moment a name starts resolving, and a cached answer the moment it stops.
    options.positive_max_ttl = Some(Duration::ZERO);
    options.negative_max_ttl = Some(Duration::ZERO);
    // The probe loop retries with its own backoff; the resolver's retries would only stretch
    // one attempt past the probe's time limit.
    options.attempts = 1;
    TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(options)
        .build()
}

/// Addresses in a stable order, so a change of order is not reported as news.
fn describe(mut addresses: Vec<IpAddr>) -> String {
    addresses.sort();
    addresses.dedup();
    let shown: Vec<String> = addresses.iter().take(3).map(IpAddr::to_string).collect();
    match addresses.len() {
        n if n > 3 => format!("{} (+{} more)", shown.join(", "), n - 3),
        _ => shown.join(", "),
    }
}

/// The short reason a progress line shows: the DNS response code when there is one, since
/// that is what `nslookup` users know (`NXDOMAIN`, `SERVFAIL`).
fn reason(err: &NetError) -> String {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(no)) => match no.response_code {
            ResponseCode::NXDomain => "NXDOMAIN".into(),
            // The name exists, but has no A/AAAA record (e.g. only a TXT record).
            ResponseCode::NoError => "no A/AAAA record".into(),
            code => code_name(code),
        },
        NetError::Dns(DnsError::ResponseCode(code)) => code_name(*code),
        NetError::Timeout => "DNS request timed out".into(),
        other => format!("DNS lookup failed: {other}"),
    }
}

fn code_name(code: ResponseCode) -> String {
    match code {
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        other => format!("DNS error: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_sorted_deduplicated_and_capped() {
        let ips = ["10.0.0.3", "10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.9"]
            .map(|s| s.parse().unwrap())
            .to_vec();
        assert_eq!(describe(ips), "10.0.0.1, 10.0.0.2, 10.0.0.3 (+1 more)");
        assert_eq!(describe(vec!["::1".parse().unwrap()]), "::1");
    }

    #[test]
    fn a_resolv_conf_without_name_servers_is_refused_with_a_reason() {
        let err = build(b"search default.svc.cluster.local\n").unwrap_err();
        assert!(err.to_string().contains("no nameservers"), "{err}");
    }
}
