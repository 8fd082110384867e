//! The Kubernetes client, assembled so that small requests are not held back by Nagle.
//!
//! kube's stock builder connects with an `HttpConnector` that leaves TCP_NODELAY off
//! (kube-rs #2056): a list request then waits ~40 ms on a delayed ACK, most of a waiter's start.
//! This builds the same stack — TLS, connect/write timeouts, base URI, auth (depwait's own,
//! [`crate::credentials`]: bounded files and exec plugins), extra headers — over a connector
//! with TCP_NODELAY on, whose host names are resolved
//! by depwait's pure-Rust resolver (the static binary has no libc NSS). Proxied configurations
//! keep the stock builder, which knows how to tunnel.
//!
//! HTTP/2 when the server offers it (ALPN `h2`, as client-go does): every list and watch of a
//! process is a stream of one TLS connection, so a fleet of waiters started at once costs the
//! API server one connection and one handshake each, not one per watch. HTTP/1.1 stays for a
//! server or proxy that offers only it, for more concurrent watches than one connection carries
//! safely ([`STREAM_BUDGET`]), and on request (`DEPWAIT_HTTP1=1`, which the bench uses to
//! measure the old path). A connection the server closes (GOAWAY from a restarting API server)
//! fails its streams like a dropped HTTP/1.1 connection does: each watcher re-lists, and a
//! dependency is judged again only on that complete list.

use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::{Body, ConfigExt};
use kube::{Client, Config};

use tokio::time::Instant;
use tower::{BoxError, ServiceBuilder};

use crate::connect_gate::{Counted, FirstAlone, Gate};
use crate::credentials::{self, Auth, AuthLayer, CredentialError};
use crate::exit::ExitCode;
use crate::probe::{Resolve, Resolver};
use crate::shutdown::Signal;

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No usable credentials (see [`CredentialError`]); nothing was sent to the API server.
    #[error("{0}")]
    Credentials(#[from] CredentialError),
    /// The configuration was found but is unusable (bad certificate, ...).
    #[error("cannot use the Kubernetes configuration: {0}")]
    Build(#[source] kube::Error),
    /// `--timeout` passed while credentials were being obtained.
    #[error("timed out after {}: no Kubernetes credentials yet (reading the kubeconfig or running its credential plugin)", humantime::format_duration(*.0))]
    TimedOut(std::time::Duration),
    /// SIGINT or SIGTERM while credentials were being obtained.
    #[error("{0} while obtaining Kubernetes credentials")]
    Interrupted(Signal),
}

impl ClientError {
    /// The exit code this ends with: 1 when `--timeout` ran out (a credential plugin that did
    /// not answer), 130/143 on a signal, else 2 (no usable credentials: nothing was sent).
    pub fn exit_code(&self) -> ExitCode {
        match self {
            ClientError::Credentials(e) if e.is_deadline() => ExitCode::TimedOut,
            ClientError::TimedOut(_) => ExitCode::TimedOut,
            ClientError::Interrupted(signal) => ExitCode::from(*signal),
            ClientError::Credentials(_) | ClientError::Build(_) => ExitCode::Usage,
        }
    }

    /// Whether a wait for HOST names alone may go on through DNS: there are no credentials or
    /// they are unusable, but neither the timeout nor a signal ended things.
    pub fn allows_dns_fallback(&self) -> bool {
        self.exit_code() == ExitCode::Usage
    }
}

/// Long-lived streams (watches) one HTTP/2 connection is given at most. Go's HTTP/2 server,
/// and so kube-apiserver by default, allows 250 concurrent streams per connection, proxies
/// often 100; past the server's limit new streams queue until one ends, and a watch ends only
/// at its timeout (minutes). So a process with more watches than this speaks HTTP/1.1.
pub const STREAM_BUDGET: usize = 90;

/// Which HTTP versions to offer the API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocols {
    /// HTTP/2 if the server offers it (ALPN), else HTTP/1.1.
    Http2OrHttp1,
    /// HTTP/1.1 only: one connection per concurrent request.
    Http1,
}

impl Protocols {
    /// For a run that holds about `streams` requests open at once: HTTP/2 unless that is more
    /// than [`STREAM_BUDGET`] or `DEPWAIT_HTTP1` asks for HTTP/1.1.
    pub fn for_streams(streams: usize) -> Self {
        let asked = std::env::var_os("DEPWAIT_HTTP1").is_some_and(|v| !v.is_empty() && v != "0");
        if asked {
            return Protocols::Http1;
        }
        if streams > STREAM_BUDGET {
            tracing::info!(
                "{streams} watches at once are more than one HTTP/2 connection carries safely \
                 ({STREAM_BUDGET}); speaking HTTP/1.1, one connection per watch"
            );
            return Protocols::Http1;
        }
        Protocols::Http2OrHttp1
    }
}

/// How often an idle HTTP/2 connection is pinged, and how long a ping may go unanswered before
/// the connection counts as dead and every watch on it re-lists: client-go's health check
/// (ReadIdleTimeout 30 s, PingTimeout 15 s). Without it one dead connection would silence
/// every watch of the process until the read timeout.
const H2_PING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
const H2_PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// How long after the deadline the net under credential loading catches what the bounds inside
/// did not (nothing should reach it).
const NET_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// A client from the usual sources: KUBECONFIG (missing entries skipped) or ~/.kube/config,
/// else the in-cluster service account. Bounded: it ends by `deadline`, or at SIGINT/SIGTERM,
/// killing a credential plugin still running.
pub async fn infer(deadline: Option<Instant>) -> Result<Client, ClientError> {
    infer_for(deadline, Protocols::for_streams(1)).await
}

/// [`infer`], speaking `protocols`.
pub async fn infer_for(
    deadline: Option<Instant>,
    protocols: Protocols,
) -> Result<Client, ClientError> {
    let started = Instant::now();
    let load = async {
        match deadline {
            // Every read and plugin run inside ends by the deadline and says what it was doing;
            // this is only the net under them.
            Some(d) => tokio::time::timeout_at(d + NET_GRACE, credentials::load(deadline))
                .await
                .map_err(|_| ClientError::TimedOut(d.saturating_duration_since(started)))?
                .map_err(ClientError::from),
            None => credentials::load(deadline).await.map_err(ClientError::from),
        }
    };
    let loaded = tokio::select! {
        loaded = load => loaded?,
        signal = crate::shutdown::signal() => return Err(ClientError::Interrupted(signal)),
    };
    build(loaded.config, loaded.auth, protocols)
}

/// The client stack for a configuration whose credentials `auth` carries (its `auth_info` holds
/// none: kube's own auth layer, which runs plugins and reads token files blocking, stays out).
fn build(config: Config, auth: Auth, protocols: Protocols) -> Result<Client, ClientError> {
    if config.proxy_url.is_some() {
        // kube is built here without its proxy features: this reports that, naming the proxy.
        return Client::try_from(config).map_err(ClientError::Build);
    }
    // An IP address (in-cluster: KUBERNETES_SERVICE_HOST) is connected to without asking it.
    let mut http = HttpConnector::new_with_resolver(Resolve(Resolver::from_env()));
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = https_connector(&config, http, protocols)?;
    let mut connector = TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    // A read timeout on a connection that carries every watch would end them all whenever
    // none had news for that long; HTTP/2's pings find a dead connection instead.
    if protocols == Protocols::Http1 {
        connector.set_read_timeout(config.read_timeout);
    }
    connector.set_write_timeout(config.write_timeout);
    let builder = {
        let mut b = hyper_util::client::legacy::Client::builder(TokioExecutor::new());
        b.timer(hyper_util::rt::TokioTimer::new())
            .http2_keep_alive_interval(H2_PING_INTERVAL)
            .http2_keep_alive_timeout(H2_PING_TIMEOUT)
            .http2_keep_alive_while_idle(true);
        b
    };
    let layers = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .layer(AuthLayer(auth))
        .layer(config.extra_headers_layer().map_err(ClientError::Build)?)
        .map_err(BoxError::from);
    if protocols == Protocols::Http1 {
        let hyper: hyper_util::client::legacy::Client<_, Body> = builder.build(connector);
        return Ok(Client::new(layers.service(hyper), config.default_namespace));
    }
    // One connection, also when every watcher asks at once (src/connect_gate.rs).
    let gate = Gate::new();
    let hyper: hyper_util::client::legacy::Client<_, Body> =
        builder.build(Counted::new(connector, gate.clone()));
    let service = layers.service(FirstAlone::new(hyper, gate));
    Ok(Client::new(service, config.default_namespace))
}

/// TLS (kube's rustls configuration: the kubeconfig's CA, client certificate, server name)
/// over `http`, offering `protocols` by ALPN.
fn https_connector(
    config: &Config,
    http: HttpConnector<Resolve>,
    protocols: Protocols,
) -> Result<hyper_rustls::HttpsConnector<HttpConnector<Resolve>>, ClientError> {
    if config.tls_server_name.is_some() {
        // kube's own builder sets a fixed server name (and says when it is invalid); it speaks
        // HTTP/1.1 only.
        return config
            .rustls_https_connector_with_connector(http)
            .map_err(ClientError::Build);
    }
    let tls = config.rustls_client_config().map_err(ClientError::Build)?;
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    Ok(match protocols {
        Protocols::Http1 => builder.enable_http1().wrap_connector(http),
        Protocols::Http2OrHttp1 => builder.enable_all_versions().wrap_connector(http),
    })
}
