//! The Kubernetes client, assembled so that small requests are not held back by Nagle.
//!
//! kube's stock builder connects with an `HttpConnector` that leaves TCP_NODELAY off
//! (kube-rs #2056): a list request then waits ~40 ms on a delayed ACK, most of a waiter's start.
//! This builds the same stack — TLS, connect/write timeouts, base URI, auth (with token-file
//! refresh), extra headers — over a connector with TCP_NODELAY on, whose host names are resolved
//! by depwait's pure-Rust resolver (the static binary has no libc NSS). Proxied configurations
//! keep the stock builder, which knows how to tunnel.

use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::{Body, ConfigExt};
use kube::{Client, Config};

use crate::probe::{Resolve, Resolver};
use tower::{BoxError, ServiceBuilder};

/// Why no client could be made; all of these are configuration problems (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Neither in-cluster service account nor kubeconfig was usable.
    #[error(
        "cannot find Kubernetes credentials: {0}. In a pod, mount the service account token \
         (automountServiceAccountToken: true); elsewhere set KUBECONFIG or create ~/.kube/config"
    )]
    Infer(#[source] kube::config::InferConfigError),
    /// The configuration was found but is unusable (bad certificate, unreadable token file, ...).
    #[error("cannot use the Kubernetes configuration: {0}")]
    Build(#[source] kube::Error),
}

/// A client from the usual sources: in-cluster service account, else KUBECONFIG or ~/.kube/config.
pub async fn infer() -> Result<Client, ClientError> {
    let config = Config::infer().await.map_err(ClientError::Infer)?;
    from_config(config)
}

/// A client for an explicit configuration.
pub fn from_config(config: Config) -> Result<Client, ClientError> {
    if config.proxy_url.is_some() {
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
        .option_layer(config.auth_layer().map_err(ClientError::Build)?)
        .layer(config.extra_headers_layer().map_err(ClientError::Build)?)
        .map_err(BoxError::from)
        .service(hyper);
    Ok(Client::new(service, config.default_namespace))
}
