//! Which API errors waiting can fix, and what to tell the user about the ones it cannot.
//!
//! kube-runtime's watcher treats every error as retryable and its default backoff would retry a
//! 403 forever (kube-rs #640, #1132): an init container stuck silently on missing RBAC. depwait
//! looks at each error itself and gives up at once on those no amount of waiting can fix.

use std::fmt;

use kube::runtime::watcher;

use crate::tls::{self, TlsFailure};

/// The request an error came from: what RBAC would have to allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// API group of the resource (`""` for core).
    pub group: String,
    /// The resource, plural (`pods`, `endpointslices`).
    pub resource: String,
    /// Namespace of the request.
    pub namespace: String,
}

/// An error that ends the wait with exit code 3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FatalApiError {
    /// The server answered, and refused the request.
    Refused(Refusal),
    /// The TLS handshake failed on a certificate: the server cannot be trusted with the CA
    /// depwait was given, nor will it be after a retry.
    Tls(TlsFailure),
}

impl fmt::Display for FatalApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FatalApiError::Refused(r) => r.fmt(f),
            FatalApiError::Tls(t) => {
                let TlsFailure {
                    problem,
                    fix,
                    detail,
                } = t;
                let trusted = match tls::api_ca() {
                    Some(origin) => origin.to_string(),
                    None => "the CA of the Kubernetes configuration".into(),
                };
                write!(
                    f,
                    "TLS: the API server's certificate {problem} ({detail}); depwait trusts \
                     {trusted}. To fix: {fix}; retrying cannot fix this"
                )
            }
        }
    }
}

impl std::error::Error for FatalApiError {}

/// A request the API server answered with a refusal (403, 401, 400, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status from the server (401, 403, 400, ...).
    pub code: u16,
    /// The verb that failed: `list` or `watch`.
    pub verb: &'static str,
    /// API group of the resource (`""` for core).
    pub group: String,
    /// The resource, plural (`pods`).
    pub resource: String,
    /// Namespace of the request.
    pub namespace: String,
    /// What the server said, verbatim.
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            code,
            verb,
            group,
            resource,
            namespace,
            message,
        } = self;
        // Cluster-scoped objects (`--resource TYPE/NAME`) have no namespace; only a
        // ClusterRole can grant them.
        let (place, grant) = match namespace.as_str() {
            "" => (
                "cluster-wide".to_string(),
                "a ClusterRole (the type is cluster-scoped)".to_string(),
            ),
            ns => (
                format!("in namespace \"{ns}\""),
                format!("a Role in namespace \"{ns}\" (or a ClusterRole)"),
            ),
        };
        match code {
            403 => write!(
                f,
                "access denied: cannot {verb} {resource} {place} (HTTP 403: {message}). \
                 Grant it with {grant} bound to this pod's \
                 service account: rules: [{{apiGroups: [\"{group}\"], resources: [\"{resource}\"], verbs: [\"get\", \"list\", \"watch\"]}}]"
            ),
            401 => write!(
                f,
                "unauthorized: the API server rejected depwait's credentials while trying to {verb} {resource} \
                 {place} (HTTP 401: {message}); check the service account token or kubeconfig"
            ),
            _ => write!(
                f,
                "the API server refused to {verb} {resource} {place} (HTTP {code}: {message}); \
                 retrying cannot fix this"
            ),
        }
    }
}

/// What to do about a watcher error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handling {
    /// Log it, back off, re-list: the cluster may come back.
    Retry(String),
    /// Stop waiting: exit 3 with this error.
    Fatal(FatalApiError),
}

/// Sort a watcher error into retry or give up.
pub fn classify(err: &watcher::Error, request: &Request) -> Handling {
    let (verb, client_err) = match err {
        watcher::Error::InitialListFailed(e) => ("list", e),
        watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => ("watch", e),
        // An error event inside an open watch: 410 Gone (re-list), or a server-side hiccup.
        watcher::Error::WatchError(status) => {
            return by_code(status.code, "watch", &status.message, request, err);
        }
        watcher::Error::NoResourceVersion => return Handling::Retry(err.to_string()),
    };
    match client_err {
        // Since kube 3 the payload is a boxed Status; a non-Status error body keeps only the code,
        // so decide on the code, not on `reason`.
        kube::Error::Api(status) => by_code(status.code, verb, &status.message, request, err),
        _ => match tls_fatal(client_err) {
            Some(fatal) => Handling::Fatal(fatal),
            None => Handling::Retry(format!(
                "cannot {verb} {}: {}",
                request.resource,
                with_causes(client_err)
            )),
        },
    }
}

/// The fatal error a request failure is, when it is a TLS failure on the API server's
/// certificate; `None` for every other error (a refused connection, a reset, a 5xx).
pub fn tls_fatal(err: &kube::Error) -> Option<FatalApiError> {
    tls::failure(err).map(FatalApiError::Tls)
}

/// `client error (Connect): tcp connect error: Connection refused`: transport errors hide the
/// useful part in their sources.
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn by_code(
    code: u16,
    verb: &'static str,
    message: &str,
    request: &Request,
    err: &watcher::Error,
) -> Handling {
    // 408 timeout, 410 gone (stale resourceVersion), 429 throttled, 5xx: the server's problem,
    // and it may pass. Every other 4xx says the request itself cannot succeed.
    let retryable = matches!(code, 408 | 410 | 429) || !(400..500).contains(&code);
    if retryable {
        Handling::Retry(err.to_string())
    } else {
        Handling::Fatal(FatalApiError::Refused(Refusal {
            code,
            verb,
            group: request.group.clone(),
            resource: request.resource.clone(),
            namespace: request.namespace.clone(),
            message: message.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn key() -> Request {
        Request {
            group: String::new(),
            resource: "pods".into(),
            namespace: "db".into(),
        }
    }

    fn api(code: u16, message: &str) -> kube::Error {
        let mut s = Status::failure(message, "");
        s.code = code;
        kube::Error::Api(s.boxed())
    }

    #[test]
    fn forbidden_is_fatal_and_names_verb_resource_namespace_and_rule() {
        let e = watcher::Error::InitialListFailed(api(
            403,
            "pods is forbidden: User \"alice\" cannot list resource \"pods\"",
        ));
        let Handling::Fatal(f) = classify(&e, &key()) else {
            panic!("403 must be fatal")
        };
        let msg = f.to_string();
        for needle in [
            "cannot list pods in namespace \"db\"",
            "HTTP 403",
            "User \"alice\"",
            "verbs: [\"get\", \"list\", \"watch\"]",
        ] {
            assert!(msg.contains(needle), "{msg} lacks {needle}");
        }
        let e = watcher::Error::WatchStartFailed(api(403, "no"));
        let Handling::Fatal(FatalApiError::Refused(f)) = classify(&e, &key()) else {
            panic!()
        };
        assert_eq!(f.verb, "watch");
    }

    #[test]
    fn client_errors_are_fatal_server_errors_are_not() {
        for code in [400, 401, 403, 404, 422] {
            let e = watcher::Error::InitialListFailed(api(code, "x"));
            assert!(matches!(classify(&e, &key()), Handling::Fatal(_)), "{code}");
        }
        for code in [408, 410, 429, 500, 503, 504] {
            let e = watcher::Error::InitialListFailed(api(code, "x"));
            assert!(matches!(classify(&e, &key()), Handling::Retry(_)), "{code}");
        }
        let mut gone = Status::failure("too old resource version", "Expired");
        gone.code = 410;
        let e = watcher::Error::WatchError(gone.boxed());
        assert!(matches!(classify(&e, &key()), Handling::Retry(_)));
    }

    #[test]
    fn transport_errors_are_retried() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = watcher::Error::WatchFailed(kube::Error::ReadEvents(io));
        assert!(matches!(classify(&e, &key()), Handling::Retry(_)));
    }
}
