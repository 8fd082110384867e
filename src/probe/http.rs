//! An HTTP(S) GET answered with an accepted status (2xx unless told otherwise): a health
//! endpoint that has no Kubernetes object saying it is ready.
//!
//! Built for a `FROM scratch` image: names are resolved by the same pure-Rust resolver as the
//! DNS probe (not libc's `getaddrinfo`), and TLS trusts Mozilla's roots compiled into the
//! binary, plus the cluster's CA (the service account's `ca.crt`) and `SSL_CERT_FILE` when
//! present — there is no system store to read in the image.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;

use super::dns::Resolver;
use super::{ProbeStatus, Unready};
use crate::text::Url;

use crate::tls;

/// A `#STATUSES` entry that is neither a status nor a class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an HTTP status (100-599) or class (2xx)")]
pub struct BadStatus(pub String);

/// Which response statuses count as ready: ranges, inclusive (`2xx` is 200-299).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusSet(Vec<(u16, u16)>);

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet(vec![(200, 299)])
    }
}

impl StatusSet {
    /// `200`, `2xx`, `200,204,3xx`.
    pub fn parse(text: &str) -> Result<Self, BadStatus> {
        let mut ranges = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            let range = match part.as_bytes() {
                [c @ b'1'..=b'5', b'x' | b'X', b'x' | b'X'] => {
                    let base = u16::from(c - b'0') * 100;
                    (base, base + 99)
                }
                _ => {
                    let code: u16 = part
                        .parse()
                        .ok()
                        .filter(|c| (100..=599).contains(c) && part.len() == 3)
                        .ok_or_else(|| BadStatus(part.into()))?;
                    (code, code)
                }
            };
            ranges.push(range);
        }
        ranges.sort();
        ranges.dedup();
        Ok(StatusSet(ranges))
    }

    /// Whether `code` is accepted.
    pub fn accepts(&self, code: u16) -> bool {
        self.0.iter().any(|(lo, hi)| (*lo..=*hi).contains(&code))
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(lo, hi)| match hi - lo {
                0 => lo.to_string(),
                _ => format!("{}xx", lo / 100),
            })
            .collect();
        write!(f, "{}", parts.join(","))
    }
}

/// hyper's resolver, answered by ours: for `--http` URLs and for the API server's own host
/// name (a kubeconfig's `server:`), so no connection of depwait's goes through libc's
/// `getaddrinfo`, which a static binary in a scratch image cannot use.
#[derive(Clone)]
pub struct Resolve(pub Resolver);

impl tower::Service<Name> for Resolve {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolver = self.0.clone();
        Box::pin(async move {
            let ips = resolver
                .addresses(name.as_str())
                .await
                .map_err(std::io::Error::other)?;
            // The port is set by the connector from the URL.
            Ok(ips
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect::<Vec<_>>()
                .into_iter())
        })
    }
}

/// A client for one probe, kept across attempts (connections are not: every attempt asks
/// afresh, as a new client of the service would).
pub struct Http {
    client: HyperClient<HttpsConnector<HttpConnector<Resolve>>, Empty<Bytes>>,
}

impl Http {
    /// A client resolving through `resolver`, trusting [`tls::probe_roots`] (read once per
    /// process, bounded, off the runtime thread).
    pub async fn new(resolver: Resolver) -> Result<Self, Unready> {
        let roots = tls::probe_roots()
            .await
            .map_err(|e| Unready(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls_config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Unready(format!("TLS set-up failed: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new_with_resolver(Resolve(resolver));
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = HyperClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(https);
        Ok(Http { client })
    }

    /// One GET of `url`.
    pub async fn get(&self, url: &Url, accept: &StatusSet) -> ProbeStatus {
        let request = match request(url) {
            Ok(r) => r,
            Err(e) => return ProbeStatus::NotReady(e.0),
        };
        match self.client.request(request).await {
            Ok(response) => {
                let status = response.status();
                let text = format!(
                    "HTTP {}{}",
                    status.as_u16(),
                    status
                        .canonical_reason()
                        .map(|r| format!(" {r}"))
                        .unwrap_or_default()
                );
                if accept.accepts(status.as_u16()) {
                    ProbeStatus::Ready(text)
                } else {
                    ProbeStatus::NotReady(format!("{text}, waiting for {accept}"))
                }
            }
            Err(e) => ProbeStatus::NotReady(describe(&e)),
        }
    }
}

/// The GET of `url`. Credentials in it (`http://user:password@host/`, percent-encoded as URLs
/// write them) are taken out of the URI and sent as Basic auth, as curl does: they travel only
/// in a header marked sensitive (so even hyper's trace log shows no value), and the URI the
/// client sees, and could quote in an error, has none. Errors never quote the URL.
fn request(url: &Url) -> Result<http::Request<Empty<Bytes>>, Unready> {
    use base64::Engine;
    let uri: http::Uri = url
        .as_sent()
        .parse()
        .map_err(|e| Unready(format!("bad URL: {e}")))?;
    let mut parts = uri.into_parts();
    let mut authorization = None;
    if let Some((userinfo, host)) = parts
        .authority
        .as_ref()
        .and_then(|a| a.as_str().rsplit_once('@'))
    {
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let mut credentials: Vec<u8> = percent_encoding::percent_decode_str(user).collect();
        credentials.push(b':');
        credentials.extend(percent_encoding::percent_decode_str(password));
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        let mut value = http::HeaderValue::try_from(format!("Basic {encoded}"))
            .map_err(|e| Unready(format!("bad credentials: {e}")))?;
        value.set_sensitive(true);
        authorization = Some(value);
        parts.authority = Some(host.parse().map_err(|e| Unready(format!("bad URL: {e}")))?);
    }
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    let uri = http::Uri::from_parts(parts).map_err(|e| Unready(format!("bad URL: {e}")))?;
    let mut builder = http::Request::get(uri).header(
        http::header::USER_AGENT,
        concat!("depwait/", env!("CARGO_PKG_VERSION")),
    );
    if let Some(value) = authorization {
        builder = builder.header(http::header::AUTHORIZATION, value);
    }
    builder
        .body(Empty::new())
        .map_err(|e| Unready(format!("bad request: {e}")))
}

/// The innermost useful cause (`connection refused`, `invalid peer certificate: UnknownIssuer`)
/// rather than hyper's `client error (Connect)`. A certificate failure is a not-ready reason
/// here, not a fatal error (see [`crate::tls`]): it says what depwait trusts and how to add a CA.
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    if let Some(failure) = tls::failure(e) {
        return format!(
            "TLS: the server's certificate {} ({}); depwait trusts Mozilla's roots, the service \
             account's ca.crt and SSL_CERT_FILE (a PEM bundle: set it to add a CA)",
            failure.problem, failure.detail
        );
    }
    let mut deepest = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        deepest = cause.to_string();
        source = cause.source();
    }
    let lower = deepest.to_ascii_lowercase();
    if lower.contains("connection refused") {
        "connection refused".into()
    } else {
        deepest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets_parse_and_match() {
        let default = StatusSet::default();
        assert!(default.accepts(200) && default.accepts(204) && !default.accepts(301));
        let set = StatusSet::parse("200, 3xx,401").unwrap();
        assert!(set.accepts(200) && set.accepts(302) && set.accepts(401));
        assert!(!set.accepts(201) && !set.accepts(500));
        assert_eq!(set.to_string(), "200,3xx,401");
        for bad in ["", "20", "2000", "600", "6xx", "x", "2x", "200,,201"] {
            assert!(StatusSet::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn userinfo_is_sent_as_basic_auth_and_left_out_of_the_uri() {
        let r = request(&Url::new(
            "http://us%65r:p%40ss:word@127.0.0.1:8080/ready?x=1",
        ))
        .unwrap();
        assert_eq!(r.uri().to_string(), "http://127.0.0.1:8080/ready?x=1");
        let auth = &r.headers()[http::header::AUTHORIZATION];
        // base64("user:p@ss:word")
        assert_eq!(auth.to_str().unwrap(), "Basic dXNlcjpwQHNzOndvcmQ=");
        assert!(auth.is_sensitive());
        assert_eq!(format!("{auth:?}"), "Sensitive");
        let r = request(&Url::new("https://token@host")).unwrap();
        assert_eq!(r.uri().to_string(), "https://host/");
        assert_eq!(
            r.headers()[http::header::AUTHORIZATION].to_str().unwrap(),
            "Basic dG9rZW46"
        );
        let r = request(&Url::new("http://host/x")).unwrap();
        assert!(!r.headers().contains_key(http::header::AUTHORIZATION));
    }
}
