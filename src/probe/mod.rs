//! Checks that cannot be watched: a DNS name resolving, a TCP port accepting connections, an
//! HTTP GET answered. They are retried with a short capped backoff, so that release follows within about a second of the answer changing, without
//! hammering anything while the answer stays the same.
//!
//! A probe reports through a callback only when its result changes, so the aggregator is woken
//! for news, not for every attempt.

mod dns;
mod http;
mod tcp;

use std::time::Duration;

use tokio::task::JoinHandle;

pub use dns::Resolver;
pub use http::{Resolve, StatusSet};

use crate::text::Url;
use crate::tls;

/// What a probe checks: the dependency kinds that cannot be watched. A dependency of one of
/// these kinds is the check itself ([`crate::dependency::Target::Probe`]), and so is the source
/// it is judged from, so a probe is described once, from the flag to the result.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    /// The name resolves to at least one address, through the pod's resolver configuration.
    Dns {
        /// The name as given.
        host: String,
    },
    /// A TCP connection to `host:port` is accepted (the name resolved as for `Dns`).
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port.
        port: u16,
    },
    /// A GET of `url` is answered with a status in `accept`.
    Http {
        /// The URL, without the `#STATUSES` suffix; shown redacted.
        url: Url,
        /// Accepted statuses (2xx by default).
        accept: StatusSet,
    },
}

impl Check {
    /// A DNS check of `host`.
    pub fn dns(host: impl Into<String>) -> Self {
        Check::Dns { host: host.into() }
    }
}

/// Check, before any request, the roots the probes trust when one of `checks` is an
/// `https://` URL ([`tls::probe_roots`]); the API client's CA is checked where the credentials
/// are loaded. An error is a configuration error (exit 2).
pub async fn check_roots<'a>(
    mut checks: impl Iterator<Item = &'a Check>,
) -> Result<(), std::sync::Arc<tls::CaError>> {
    let https = checks.any(|c| {
        matches!(c, Check::Http { url, .. }
            if url.as_sent().get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://")))
    });
    if https {
        tls::probe_roots().await?;
    }
    Ok(())
}

impl std::fmt::Display for Check {
    /// `db.example.com`, `tcp db:5432`, `http https://api/healthz (200,204)`: as the
    /// dependency is named in every line. Unescaped: the caller escapes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::Dns { host } => write!(f, "{host}"),
            Check::Tcp { host, port } => write!(f, "tcp {host}:{port}"),
            Check::Http { url, accept } if *accept == StatusSet::default() => {
                write!(f, "http {url}")
            }
            Check::Http { url, accept } => write!(f, "http {url} ({accept})"),
        }
    }
}

/// Why an attempt did not find its target ready, in the words a progress line shows
/// (`NXDOMAIN`, `connection refused`, `cannot read /etc/resolv.conf: ...`): what becomes
/// [`ProbeStatus::NotReady`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unready(pub String);

/// One probe result, as it travels from the probe task to the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeStatus {
    /// Ready, with what was seen (e.g. the addresses a name resolved to).
    Ready(String),
    /// Not ready, with why (e.g. `NXDOMAIN`), as a progress line shows it.
    NotReady(String),
}

impl ProbeStatus {
    /// Whether the check passed.
    pub fn is_ready(&self) -> bool {
        matches!(self, ProbeStatus::Ready(_))
    }

    /// What was seen, or why not.
    pub fn detail(&self) -> &str {
        match self {
            ProbeStatus::Ready(d) | ProbeStatus::NotReady(d) => d,
        }
    }
}

/// The first retry comes this soon after a failed attempt…
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// …and the delay doubles up to this, which bounds how late a release can be.
const MAX_RETRY: Duration = Duration::from_secs(1);
/// One attempt may take this long before it counts as failed. Shorter than the resolver's own
/// 5 s default so a dead name server shows up in the progress line quickly.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(2);

/// Run `check` until `report` returns false (its receiver is gone) or the task is aborted.
/// `report` is called with the first result and then whenever the result changes.
pub fn spawn<F>(check: Check, mut report: F) -> JoinHandle<()>
where
    F: FnMut(ProbeStatus) -> bool + Send + 'static,
{
    tokio::spawn(async move {
        let resolver = Resolver::from_env();
        let http = match &check {
            Check::Http { .. } => Some(http::Http::new(resolver.clone()).await),
            _ => None,
        };
        let mut last: Option<ProbeStatus> = None;
        let mut delay = FIRST_RETRY;
        loop {
            let attempt = attempt(&check, &resolver, http.as_ref());
            let status = match tokio::time::timeout(ATTEMPT_LIMIT, attempt).await {
                Ok(status) => status,
                Err(_) => ProbeStatus::NotReady(format!(
                    "no answer within {}",
                    humantime::format_duration(ATTEMPT_LIMIT)
                )),
            };
            if last.as_ref() != Some(&status) {
                tracing::debug!(?check, ?status, "probe result changed");
                // A change starts the backoff again: the thing probed is moving, so look soon.
                delay = FIRST_RETRY;
                last = Some(status.clone());
                if !report(status) {
                    return;
                }
            }
            tokio::time::sleep(delay).await;
            delay = next_delay(delay);
        }
    })
}

/// Double the delay, up to [`MAX_RETRY`].
fn next_delay(delay: Duration) -> Duration {
    (delay * 2).min(MAX_RETRY)
}

async fn attempt(
    check: &Check,
    resolver: &Resolver,
    http: Option<&Result<http::Http, Unready>>,
) -> ProbeStatus {
    match check {
        Check::Dns { host } => resolver.resolve(host).await,
        Check::Tcp { host, port } => tcp::connect(resolver, host, *port).await,
        Check::Http { url, accept } => match http {
            Some(Ok(client)) => client.get(url, accept).await,
            Some(Err(why)) => ProbeStatus::NotReady(why.0.clone()),
            None => ProbeStatus::NotReady("no HTTP client".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_at_a_second() {
        let mut delay = FIRST_RETRY;
        let mut delays = Vec::new();
        for _ in 0..8 {
            delays.push(delay.as_millis());
            delay = next_delay(delay);
        }
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
    }
}
