//! The Kubernetes client, assembled so that small requests are not held back by Nagle.
//!
//! kube's stock builder connects with an `HttpConnector` that leaves TCP_NODELAY off
//! (kube-rs #2056): a list request then waits ~40 ms on a delayed ACK, most of a waiter's start.
//! This builds the same stack — TLS, connect/write timeouts, base URI, auth (depwait's own,
//! [`crate::credentials`]: bounded files and exec plugins), extra headers — over a connector
//! with TCP_NODELAY on, whose host names are resolved
//! by depwait's pure-Rust resolver (the static binary has no libc NSS). Proxied configurations
//! keep the stock builder, which knows how to tunnel.

use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::{Body, ConfigExt};
use kube::{Client, Config};

use tokio::time::Instant;
use tower::{BoxError, ServiceBuilder};

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

/// How long after the deadline the net under credential loading catches what the bounds inside
/// did not (nothing should reach it).
const NET_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// A client from the usual sources: KUBECONFIG (missing entries skipped) or ~/.kube/config,
/// else the in-cluster service account. Bounded: it ends by `deadline`, or at SIGINT/SIGTERM,
/// killing a credential plugin still running.
pub async fn infer(deadline: Option<Instant>) -> Result<Client, ClientError> {
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
    build(loaded.config, loaded.auth)
}

/// The client stack for a configuration whose credentials `auth` carries (its `auth_info` holds
/// none: kube's own auth layer, which runs plugins and reads token files blocking, stays out).
fn build(config: Config, auth: Auth) -> Result<Client, ClientError> {
    if config.proxy_url.is_some() {
        // kube is built here without its proxy features: this reports that, naming the proxy.
        return Client::try_from(config).map_err(ClientError::Build);
    }
    // An IP address (in-cluster: KUBERNETES_SERVICE_HOST) is connected to without asking it.
    let mut http = HttpConnector::new_with_resolver(Resolve(Resolver::from_env()));
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = config
        .rustls_https_connector_with_connector(http)
        .map_err(ClientError::Build)?;
    let mut connector = TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let hyper: hyper_util::client::legacy::Client<_, Body> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .layer(AuthLayer(auth))
        .layer(config.extra_headers_layer().map_err(ClientError::Build)?)
        .map_err(BoxError::from)
        .service(hyper);
    Ok(Client::new(service, config.default_namespace))
}
