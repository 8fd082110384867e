//! Kubernetes credentials: where they come from, bounded, and how every request carries them.
//!
//! One path for the wait and `depwait check`, replacing kube's `Config::infer()` and auth layer,
//! which read files without bound on the runtime thread and run exec plugins with a blocking
//! command (a hanging plugin then stops every timer and signal):
//! - kubeconfigs (`KUBECONFIG`, missing entries skipped as kubectl does, else `~/.kube/config`)
//!   and the files they point at are read through [`crate::files`] ([`kubeconfig`]);
//! - else the in-cluster service account (token, `ca.crt`, namespace), read the same way;
//! - the user's credential becomes an [`Auth`]: a fixed header, a token file re-read every
//!   minute (bounded; the last token is kept if a re-read fails), or an exec plugin run by
//!   depwait ([`exec`]) before each request once its token nears `expirationTimestamp`, and
//!   again on a 401 (the request is then retried once with the new token).

pub mod exec;
pub mod kubeconfig;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use futures::future::BoxFuture;
use http::{HeaderValue, Request, Response, StatusCode, header::AUTHORIZATION};
use kube::client::Body;
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use secrecy::ExposeSecret;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tower::{BoxError, Layer, Service, ServiceExt};

use crate::text::escape;
use crate::{files, tls};
use exec::{Credential, Plugin, PluginError};

/// Where a pod's service account credentials are mounted.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How often a token file is re-read (the kubelet rotates service account tokens; client-go
/// and kube re-read them every minute too).
const TOKEN_FILE_REFRESH: Duration = Duration::from_secs(60);

/// A plugin's token is renewed this long before its `expirationTimestamp`.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// Why there are no usable credentials. None of these messages quotes a credential, a
/// kubeconfig's text or a plugin's output.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Neither a kubeconfig nor the in-cluster service account.
    #[error(
        "cannot find Kubernetes credentials: {kubeconfig}, and not in a pod ({in_cluster}). In a \
         pod, mount the service account token (automountServiceAccountToken: true); elsewhere set \
         KUBECONFIG or create ~/.kube/config"
    )]
    NotFound {
        /// What was looked for.
        kubeconfig: String,
        /// Why in-cluster configuration does not apply.
        in_cluster: String,
    },
    /// A kubeconfig or a file it names could not be read.
    #[error("{0}")]
    Read(#[source] files::ReadError),
    /// A kubeconfig is not YAML, or not a kubeconfig.
    #[error(
        "kubeconfig {} is not valid: {kind} at line {line} column {column} (its text is not shown, \
         as it may hold a credential)", path.display()
    )]
    Yaml {
        /// The file.
        path: PathBuf,
        /// 1-based line (0: unknown).
        line: u64,
        /// 1-based column (0: unknown).
        column: u64,
        /// What kind of mistake.
        kind: &'static str,
    },
    /// The kubeconfig parsed but does not say how to connect (no current context, ...).
    #[error("cannot use the kubeconfig: {what}")]
    Kubeconfig {
        /// What is wrong, naming the context, cluster, user or field.
        what: String,
    },
    /// The exec plugin gave no credential.
    #[error("{0}")]
    Plugin(#[from] PluginError),
    /// The API server's CA (kubeconfig field or in-cluster `ca.crt`) is not a certificate.
    #[error("{0}")]
    Ca(#[from] tls::CaError),
}

impl CredentialError {
    /// Whether `--timeout` ran out (exit 1) rather than the configuration being unusable (2).
    pub fn is_deadline(&self) -> bool {
        matches!(self, CredentialError::Plugin(e) if e.is_deadline())
    }
}

/// A kube configuration whose user carries no secret (only impersonation and a TLS client
/// identity are left for kube), and the [`Auth`] that authorizes its requests.
pub struct Loaded {
    /// For kube's TLS, base URI and extra-header layers.
    pub config: kube::Config,
    /// For depwait's auth layer.
    pub auth: Auth,
}

/// The credentials of the usual sources: a kubeconfig if one exists, else the in-cluster
/// service account. Every file read and plugin run ends by `deadline`.
pub async fn load(deadline: Option<Instant>) -> Result<Loaded, CredentialError> {
    let paths = kubeconfig::paths();
    let kubeconfig = match kubeconfig::read(&paths, read_limit(deadline)).await? {
        Some(found) => found,
        None => {
            let looked = match paths.as_slice() {
                [] => "no kubeconfig (KUBECONFIG and HOME unset)".to_string(),
                [one] => format!("no kubeconfig at {}", one.display()),
                many => format!(
                    "none of the KUBECONFIG files exists ({})",
                    many.iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            in_cluster(looked, deadline).await?
        }
    };
    from_kubeconfig(kubeconfig, deadline).await
}

/// The in-cluster service account as a kubeconfig, read with bounds.
async fn in_cluster(
    looked: String,
    deadline: Option<Instant>,
) -> Result<Kubeconfig, CredentialError> {
    let not_found = |why: String| CredentialError::NotFound {
        kubeconfig: looked.clone(),
        in_cluster: why,
    };
    let (Some(host), Some(port)) = (
        std::env::var("KUBERNETES_SERVICE_HOST")
            .ok()
            .filter(|h| !h.is_empty()),
        std::env::var("KUBERNETES_SERVICE_PORT")
            .ok()
            .filter(|p| !p.is_empty()),
    ) else {
        return Err(not_found(
            "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not both set".into(),
        ));
    };
    let port: u16 = port.parse().map_err(|_| CredentialError::Kubeconfig {
        what: format!(
            "KUBERNETES_SERVICE_PORT `{}` is not a port number",
            escape(&port)
        ),
    })?;
    let server = match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(ip)) => format!("https://[{ip}]:{port}"),
        _ => format!("https://{host}:{port}"),
    };
    let dir = Path::new(SERVICE_ACCOUNT_DIR);
    let within = read_limit(deadline);
    let token = dir.join("token");
    // Only to tell "not in a pod" (exit 2, the usual message) from a broken mount; the auth
    // layer reads it again, and every minute.
    match files::read_async(&token, kubeconfig::REFERENCED_FILE_LIMIT, within).await {
        Ok(_) => {}
        Err(e) if e.is_not_found() => {
            return Err(not_found(format!(
                "no service account token at {}",
                token.display()
            )));
        }
        Err(e) => return Err(CredentialError::Read(e)),
    }
    // Checked before any request, and named by fatal TLS errors.
    let origin = tls::CaOrigin::InCluster {
        path: dir.join("ca.crt"),
    };
    let ca = files::read_async(&dir.join("ca.crt"), tls::CA_BUNDLE_LIMIT, within)
        .await
        .map_err(|source| tls::CaError::Read {
            origin: origin.clone(),
            source,
        })?;
    tls::parse_bundle(&ca, &origin)?;
    tls::set_api_ca(origin);
    let namespace = match files::read_to_string_async(&dir.join("namespace"), 4096, within).await {
        Ok(ns) => Some(ns.trim().to_string()).filter(|ns| !ns.is_empty()),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(CredentialError::Read(e)),
    };
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "in-cluster", "cluster": {
            "server": server,
            "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(ca),
        }}],
        "users": [{"name": "service-account", "user": {"tokenFile": token}}],
        "contexts": [{"name": "in-cluster", "context": {
            "cluster": "in-cluster", "user": "service-account", "namespace": namespace,
        }}],
        "current-context": "in-cluster",
    });
    // Every field above is one Kubeconfig has, with its type.
    serde_json::from_value(config).map_err(|e| CredentialError::Kubeconfig {
        what: format!("in-cluster configuration: {e}"),
    })
}

async fn from_kubeconfig(
    mut kubeconfig: Kubeconfig,
    deadline: Option<Instant>,
) -> Result<Loaded, CredentialError> {
    let files = kubeconfig::paths()
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    kubeconfig::inline_referenced_files(&mut kubeconfig, &files, read_limit(deadline)).await?;
    let user = kubeconfig::selected(&kubeconfig)
        .and_then(|(_, user)| user)
        .unwrap_or_default();
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| CredentialError::Kubeconfig { what: describe(&e) })?;
    config.apply_debug_overrides();
    let info = std::mem::take(&mut config.auth_info);
    // kube keeps what only it can use: impersonation headers and the TLS client identity.
    config.auth_info = AuthInfo {
        client_certificate_data: info.client_certificate_data.clone(),
        client_key_data: info.client_key_data.clone(),
        impersonate: info.impersonate.clone(),
        impersonate_uid: info.impersonate_uid.clone(),
        impersonate_groups: info.impersonate_groups.clone(),
        impersonate_user_extra: info.impersonate_user_extra.clone(),
        ..AuthInfo::default()
    };
    let (auth, identity) = Auth::from_user(&info, &user, deadline).await?;
    if let Some((cert, key)) = identity {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        config.auth_info.client_certificate_data = Some(b64(&cert));
        config.auth_info.client_key_data = Some(b64(&key).into());
    }
    Ok(Loaded { config, auth })
}

/// kube's kubeconfig errors, minus the detail of base64 errors (a byte of a key).
fn describe(e: &kube::config::KubeconfigError) -> String {
    use kube::config::{KubeconfigError as K, LoadDataError as L};
    let field = match e {
        K::LoadCertificateAuthority(L::DecodeBase64(_)) => "certificate-authority-data",
        K::LoadClientCertificate(L::DecodeBase64(_)) => "client-certificate-data",
        K::LoadClientKey(L::DecodeBase64(_)) => "client-key-data",
        K::LoadContext(name) => {
            return format!(
                "current-context `{}` is not among its contexts",
                escape(name)
            );
        }
        K::CurrentContextNotSet => {
            return "no current-context is set (kubectl config use-context NAME)".into();
        }
        other => return escape(&other.to_string()).into_owned(),
    };
    format!("{field} is not valid base64")
}

/// How long one file read may take: [`files::READ_TIME_LIMIT`], or what is left of the wait.
fn read_limit(deadline: Option<Instant>) -> Duration {
    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    left.map_or(files::READ_TIME_LIMIT, |l| l.min(files::READ_TIME_LIMIT))
}

/// How long one plugin run may take: what is left of the wait, if anything is (`true`).
fn plugin_limit(deadline: Option<Instant>) -> (Duration, bool) {
    match deadline {
        Some(d) => (d.saturating_duration_since(Instant::now()), true),
        None => (exec::RUN_LIMIT, false),
    }
}

/// How requests are authorized. Cheap to clone; clones share state (one plugin run serves all
/// requests waiting for it).
#[derive(Clone)]
pub struct Auth(Arc<Source>);

enum Source {
    /// Anonymous (a kubeconfig user with no credential at all, as client-go allows).
    None,
    /// A fixed `Authorization` header: a token, basic auth, an auth-provider's id-token.
    Fixed(HeaderValue),
    /// A token file, re-read every [`TOKEN_FILE_REFRESH`].
    TokenFile(Mutex<TokenFile>),
    /// An exec plugin's token.
    Exec(Mutex<ExecState>),
}

struct TokenFile {
    path: PathBuf,
    header: HeaderValue,
    read_at: Instant,
}

struct ExecState {
    plugin: Plugin,
    header: HeaderValue,
    expires: Option<jiff::Timestamp>,
    /// Bumped at each run: a 401 renews only the token it was given.
    generation: u64,
    /// A 401 came back with the current token: run the plugin before the next request.
    rejected: bool,
    /// The end of the wait: a run never outlasts it.
    deadline: Option<Instant>,
}

impl Auth {
    /// The [`Auth`] for a kubeconfig user, and the client identity (PEM certificate and key)
    /// if its exec plugin answered with one. Runs the plugin once: a plugin that fails, hangs
    /// or returns nothing is an error now, before any request.
    async fn from_user(
        info: &AuthInfo,
        user: &str,
        deadline: Option<Instant>,
    ) -> Result<(Auth, Option<(String, String)>), CredentialError> {
        let unusable = |what: &dyn std::fmt::Display| CredentialError::Kubeconfig {
            what: format!("kubeconfig user `{}`: {what}", escape(user)),
        };
        let source = if let Some(provider) = &info.auth_provider {
            match (provider.name.as_str(), provider.config.get("id-token")) {
                ("oidc", Some(token)) => Source::Fixed(bearer(token).map_err(|e| unusable(&e))?),
                (name, _) => {
                    return Err(unusable(&format!(
                        "auth-provider `{}` is not supported (kubectl removed auth providers); \
                         use an exec credential plugin",
                        escape(name)
                    )));
                }
            }
        } else if let (Some(name), Some(password)) = (&info.username, &info.password) {
            let pair = format!("{name}:{}", password.expose_secret());
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            Source::Fixed(sensitive(&format!("Basic {encoded}")).map_err(|e| unusable(&e))?)
        } else if let Some(token) = &info.token {
            Source::Fixed(bearer(token.expose_secret()).map_err(|e| unusable(&e))?)
        } else if let Some(path) = &info.token_file {
            let path = PathBuf::from(path);
            let header = read_token_file(&path, read_limit(deadline))
                .await?
                .map_err(|e| unusable(&e))?;
            Source::TokenFile(Mutex::new(TokenFile {
                path,
                header,
                read_at: Instant::now(),
            }))
        } else if let Some(exec) = &info.exec {
            let plugin = Plugin::new(exec, user)?;
            let (within, by_deadline) = plugin_limit(deadline);
            let issued = plugin.run(within, by_deadline).await?;
            match issued.credential {
                Credential::Certificate { cert, key } => {
                    // A TLS identity cannot be swapped under open connections: it serves the
                    // whole wait (kube does the same).
                    return Ok((Auth(Arc::new(Source::None)), Some((cert, key))));
                }
                Credential::Token(token) => Source::Exec(Mutex::new(ExecState {
                    header: bearer(&token).map_err(|w| plugin_answer(&plugin, w.to_string()))?,
                    expires: issued.expires,
                    generation: 0,
                    rejected: false,
                    deadline,
                    plugin,
                })),
            }
        } else {
            Source::None
        };
        Ok((Auth(Arc::new(source)), None))
    }

    /// The header for the next request, and the generation of an exec token (for [`Self::rejected`]).
    async fn header(&self) -> Result<(Option<HeaderValue>, u64), CredentialError> {
        match &*self.0 {
            Source::None => Ok((None, 0)),
            Source::Fixed(h) => Ok((Some(h.clone()), 0)),
            Source::TokenFile(file) => {
                let mut file = file.lock().await;
                if file.read_at.elapsed() >= TOKEN_FILE_REFRESH {
                    // A failed re-read keeps the last token (kubelet may be replacing the file).
                    match read_token_file(&file.path, files::READ_TIME_LIMIT).await {
                        Ok(Ok(header)) => file.header = header,
                        Ok(Err(why)) => tracing::debug!("token file not re-read: {why}"),
                        Err(e) => tracing::debug!("token file not re-read: {e}"),
                    }
                    file.read_at = Instant::now();
                }
                Ok((Some(file.header.clone()), 0))
            }
            Source::Exec(state) => {
                let mut state = state.lock().await;
                let expiring = state.expires.is_some_and(|t| {
                    let margin = jiff::SignedDuration::try_from(EXPIRY_MARGIN).unwrap_or_default();
                    jiff::Timestamp::now()
                        .checked_add(margin)
                        .is_ok_and(|soon| soon >= t)
                });
                if expiring || state.rejected {
                    let (within, by_deadline) = plugin_limit(state.deadline);
                    let issued = state.plugin.run(within, by_deadline).await?;
                    let Credential::Token(token) = issued.credential else {
                        return Err(plugin_answer(
                            &state.plugin,
                            "it returned a client certificate where it had returned a token".into(),
                        ));
                    };
                    state.header =
                        bearer(&token).map_err(|w| plugin_answer(&state.plugin, w.to_string()))?;
                    state.expires = issued.expires;
                    state.generation += 1;
                    state.rejected = false;
                }
                Ok((Some(state.header.clone()), state.generation))
            }
        }
    }

    /// Whether a 401 should renew the credential and retry: only a plugin can issue another.
    fn renews(&self) -> bool {
        matches!(&*self.0, Source::Exec(_))
    }

    /// A 401 came back for the token of `generation`: the plugin runs again before the next
    /// request (unless another request already renewed it).
    async fn rejected(&self, generation: u64) {
        if let Source::Exec(state) = &*self.0 {
            let mut state = state.lock().await;
            if state.generation == generation {
                state.rejected = true;
            }
        }
    }
}

fn plugin_answer(plugin: &Plugin, what: String) -> CredentialError {
    CredentialError::Plugin(PluginError::Answer {
        command: plugin.command.clone(),
        user: plugin.user.clone(),
        what,
    })
}

/// A credential that cannot be sent: what is wrong with it, never what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Unsendable {
    /// Nothing but white space.
    #[error("the token is empty")]
    Empty,
    /// A byte a header value cannot hold (a newline, a control character).
    #[error("the credential has characters an HTTP header cannot carry")]
    NotAHeader,
}

/// A token file that was read but holds no usable token.
#[derive(Debug, thiserror::Error)]
#[error("token file {}: {why}", path.display())]
struct UnusableTokenFile {
    path: PathBuf,
    why: Unsendable,
}

/// `Ok(Err(why))`: the file was read but holds no usable token.
async fn read_token_file(
    path: &Path,
    within: Duration,
) -> Result<Result<HeaderValue, UnusableTokenFile>, CredentialError> {
    let text = files::read_to_string_async(path, kubeconfig::REFERENCED_FILE_LIMIT, within)
        .await
        .map_err(CredentialError::Read)?;
    Ok(bearer(text.trim()).map_err(|why| UnusableTokenFile {
        path: path.to_path_buf(),
        why,
    }))
}

fn bearer(token: &str) -> Result<HeaderValue, Unsendable> {
    if token.trim().is_empty() {
        return Err(Unsendable::Empty);
    }
    sensitive(&format!("Bearer {}", token.trim()))
}

fn sensitive(value: &str) -> Result<HeaderValue, Unsendable> {
    let mut header = HeaderValue::from_str(value).map_err(|_| Unsendable::NotAHeader)?;
    header.set_sensitive(true);
    Ok(header)
}

/// The tower layer that puts [`Auth`]'s header on every request, renewing a plugin's token on
/// a 401 and retrying that request once.
#[derive(Clone)]
pub struct AuthLayer(pub Auth);

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            auth: self.0.clone(),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Auth,
}

impl<S, B> Service<Request<Body>> for AuthService<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<B>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone that was polled ready serves this request (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        Box::pin(async move {
            if !auth.renews() {
                let (header, _) = auth.header().await?;
                return inner
                    .call(authorize(request, header))
                    .await
                    .map_err(Into::into);
            }
            // Kept to send again after a 401 (depwait's requests are small).
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await?;
            let (header, generation) = auth.header().await?;
            let first = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
            let response = inner
                .call(authorize(first, header))
                .await
                .map_err(Into::into)?;
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            tracing::debug!("HTTP 401 with the credential plugin's token; running it again");
            auth.rejected(generation).await;
            let (header, _) = auth.header().await?;
            let again = Request::from_parts(parts, Body::from(bytes));
            let ready = inner.ready().await.map_err(Into::into)?;
            ready
                .call(authorize(again, header))
                .await
                .map_err(Into::into)
        })
    }
}

fn authorize(mut request: Request<Body>, header: Option<HeaderValue>) -> Request<Body> {
    if let Some(header) = header {
        request.headers_mut().insert(AUTHORIZATION, header);
    }
    request
}
