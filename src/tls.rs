//! Which certificate authorities depwait trusts, checked before any request, and the TLS
//! failures no amount of waiting can fix.
//!
//! - The API server's CA comes from the kubeconfig (`certificate-authority-data` or
//!   `certificate-authority: PATH` of the current context's cluster) or, in a pod, the service
//!   account's `ca.crt`. It is checked before the first request: a CA that does not parse is a
//!   configuration error (exit 2) naming the field. A handshake that then fails on the
//!   certificate (unknown issuer, name mismatch, expired) cannot heal by waiting: it is fatal
//!   (exit 3), see [`failure`], and the message names the same field.
//! - `--http https://...` probes trust Mozilla's roots, the service account's `ca.crt` and
//!   `SSL_CERT_FILE`: [`probe_roots`] reads them once, bounded, off the runtime thread. There a
//!   certificate failure is *not* fatal: the probed server's certificate is the dependency's
//!   state, and it changes (an ingress serves its fallback certificate until cert-manager has
//!   issued the real one), so it is a not-ready reason, retried like a refused connection.
//!
//! Every CA bundle is read through [`crate::files`], at most [`CA_BUNDLE_LIMIT`] bytes.

use std::error::Error as StdError;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use base64::Engine;
use rustls::{CertificateError, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::{self, PemObject};
use tokio::sync::OnceCell;

use crate::files::{self, ReadError};

/// The most bytes depwait reads of one CA bundle (a kubeconfig's `certificate-authority`,
/// `ca.crt`, `SSL_CERT_FILE`). Mozilla's whole root store is about 220 KiB of PEM.
pub const CA_BUNDLE_LIMIT: usize = 4 << 20;

/// The in-cluster CA, mounted into every pod with a service account token.
pub const SERVICE_ACCOUNT_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/// Where a set of trusted certificates comes from, as the user would look for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaOrigin {
    /// `certificate-authority-data` of a kubeconfig cluster.
    KubeconfigData {
        /// The cluster's name in the kubeconfig.
        cluster: String,
        /// The kubeconfig file(s), as `KUBECONFIG` or the default names them.
        kubeconfig: String,
    },
    /// `certificate-authority: PATH` of a kubeconfig cluster.
    KubeconfigFile {
        /// The cluster's name in the kubeconfig.
        cluster: String,
        /// The file, made absolute as kubectl does (relative to the kubeconfig).
        path: PathBuf,
    },
    /// A kubeconfig cluster with neither: Mozilla's roots built into depwait are trusted.
    BuiltInRoots {
        /// The cluster's name in the kubeconfig.
        cluster: String,
    },
    /// In a pod: the service account's `ca.crt`.
    InCluster {
        /// Its path.
        path: PathBuf,
    },
    /// `SSL_CERT_FILE`, for `--http` probes.
    SslCertFile {
        /// Its value.
        path: PathBuf,
    },
}

impl fmt::Display for CaOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaOrigin::KubeconfigData {
                cluster,
                kubeconfig,
            } => write!(
                f,
                "certificate-authority-data of cluster \"{cluster}\" in kubeconfig {kubeconfig}"
            ),
            CaOrigin::KubeconfigFile { cluster, path } => write!(
                f,
                "certificate-authority: {} of cluster \"{cluster}\"",
                path.display()
            ),
            CaOrigin::BuiltInRoots { cluster } => write!(
                f,
                "Mozilla's root CAs (cluster \"{cluster}\" in the kubeconfig sets no \
                 certificate-authority or certificate-authority-data)"
            ),
            CaOrigin::InCluster { path } => {
                write!(f, "the service account's ca.crt ({})", path.display())
            }
            CaOrigin::SslCertFile { path } => write!(f, "SSL_CERT_FILE={}", path.display()),
        }
    }
}

/// A CA bundle depwait cannot use: a configuration error (exit 2), found before any request.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// The file could not be read (missing, too large, a FIFO, ...).
    #[error("{origin}: {source}")]
    Read {
        /// Which setting names the file.
        origin: CaOrigin,
        /// Why it could not be read.
        #[source]
        source: ReadError,
    },
    /// `certificate-authority-data` is not base64.
    #[error(
        "{origin} is not base64 ({reason}); it holds the PEM CA certificate base64-encoded, as \
         `base64 -w0 ca.crt` prints it"
    )]
    NotBase64 {
        /// The field.
        origin: CaOrigin,
        /// What the decoder said.
        reason: String,
    },
    /// No `-----BEGIN CERTIFICATE-----` block at all (or a malformed one).
    #[error(
        "{origin} holds no PEM certificate ({reason}); it must hold the CA certificate(s) as \
         PEM, starting with -----BEGIN CERTIFICATE-----"
    )]
    NoCertificate {
        /// Which setting.
        origin: CaOrigin,
        /// What was found instead.
        reason: String,
    },
    /// A PEM certificate block whose content is not a usable X.509 certificate.
    #[error(
        "{origin}: certificate {number} of the bundle is not a valid X.509 CA certificate \
         ({reason}); replace it with the PEM certificate of the CA"
    )]
    NotACertificate {
        /// Which setting.
        origin: CaOrigin,
        /// 1-based position in the bundle.
        number: usize,
        /// What rustls said.
        reason: String,
    },
}

/// Parse and check one CA bundle: every PEM `CERTIFICATE` block must be a certificate rustls
/// can trust, and there must be at least one. Other PEM blocks (a key pasted along) are
/// ignored, as kube and client-go ignore them.
///
/// For a kubeconfig's CA read elsewhere (the credentials code), call this with the bytes
/// (base64-decoded for `certificate-authority-data`) and the field they came from.
pub fn parse_bundle(bytes: &[u8], origin: &CaOrigin) -> Result<RootCertStore, CaError> {
    let mut roots = RootCertStore::empty();
    for (index, item) in CertificateDer::pem_slice_iter(bytes).enumerate() {
        let number = index + 1;
        let cert = item.map_err(|e| CaError::NoCertificate {
            origin: origin.clone(),
            reason: pem_reason(&e),
        })?;
        roots.add(cert).map_err(|e| CaError::NotACertificate {
            origin: origin.clone(),
            number,
            reason: e.to_string(),
        })?;
    }
    if roots.is_empty() {
        let reason = if bytes.iter().all(u8::is_ascii_whitespace) {
            "it is empty".to_string()
        } else {
            "no -----BEGIN CERTIFICATE----- block in it".to_string()
        };
        return Err(CaError::NoCertificate {
            origin: origin.clone(),
            reason,
        });
    }
    Ok(roots)
}

fn pem_reason(e: &pem::Error) -> String {
    match e {
        pem::Error::Base64Decode(_) => "a PEM block's content is not base64".into(),
        pem::Error::MissingSectionEnd { .. } => "a PEM block has no -----END line".into(),
        pem::Error::IllegalSectionStart { .. } => "a malformed -----BEGIN line".into(),
        other => other.to_string(),
    }
}

/// Decode `certificate-authority-data` and check it with [`parse_bundle`].
pub fn parse_base64_bundle(data: &str, origin: &CaOrigin) -> Result<RootCertStore, CaError> {
    // kubectl accepts the value with line breaks (as `base64` wraps it).
    let compact: String = data.split_ascii_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| CaError::NotBase64 {
            origin: origin.clone(),
            reason: e.to_string(),
        })?;
    parse_bundle(&bytes, origin)
}

/// Read a CA bundle file (bounded: [`CA_BUNDLE_LIMIT`], [`files::READ_TIME_LIMIT`]) and check it.
pub async fn read_bundle(path: &Path, origin: &CaOrigin) -> Result<RootCertStore, CaError> {
    let bytes = files::read_async(path, CA_BUNDLE_LIMIT, files::READ_TIME_LIMIT)
        .await
        .map_err(|source| CaError::Read {
            origin: origin.clone(),
            source,
        })?;
    parse_bundle(&bytes, origin)
}

/// What the API client trusts, recorded by [`set_api_ca`]; named by fatal TLS errors.
static API_CA: OnceLock<CaOrigin> = OnceLock::new();

/// Remember where the API client's CA comes from, for the messages of fatal TLS errors. The
/// first call wins: there is one client per process.
pub fn set_api_ca(origin: CaOrigin) {
    let _ = API_CA.set(origin);
}

/// Where the API client's CA is, once the credentials have been loaded.
pub fn api_ca() -> Option<&'static CaOrigin> {
    API_CA.get()
}

/// The roots `--http https://` probes trust: Mozilla's, plus the service account's `ca.crt`
/// when present, plus `SSL_CERT_FILE` when set. Read once per process; an unusable
/// `SSL_CERT_FILE` (or a `ca.crt` that is there but broken) is an error that names it.
pub async fn probe_roots() -> Result<Arc<RootCertStore>, Arc<CaError>> {
    static ROOTS: OnceCell<Result<Arc<RootCertStore>, Arc<CaError>>> = OnceCell::const_new();
    ROOTS
        .get_or_init(|| async { load_probe_roots().await.map(Arc::new).map_err(Arc::new) })
        .await
        .clone()
}

async fn load_probe_roots() -> Result<RootCertStore, CaError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let in_cluster = PathBuf::from(SERVICE_ACCOUNT_CA);
    match read_bundle(
        &in_cluster,
        &CaOrigin::InCluster {
            path: in_cluster.clone(),
        },
    )
    .await
    {
        Ok(extra) => roots.roots.extend(extra.roots),
        // Not in a pod, or no token mounted: nothing to add.
        Err(CaError::Read { source, .. }) if source.is_not_found() => {}
        Err(e) => return Err(e),
    }
    if let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        let extra = read_bundle(&path, &CaOrigin::SslCertFile { path: path.clone() }).await?;
        roots.roots.extend(extra.roots);
    }
    Ok(roots)
}

/// A TLS handshake that failed on a certificate: retrying cannot fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFailure {
    /// What was wrong with the server's certificate, to follow "the server's certificate"
    /// (`is not signed by a CA depwait trusts`).
    pub problem: String,
    /// What to change.
    pub fix: String,
    /// rustls' name for it (`UnknownIssuer`, `Expired`), for searching.
    pub detail: String,
}

/// The certificate failure in `err`'s chain of causes, if any (found by type, through every
/// `source()` and the `io::Error` rustls' errors travel in, not by matching text).
pub fn failure(err: &(dyn StdError + 'static)) -> Option<TlsFailure> {
    let tls = find_rustls_error(err)?;
    let give_ca = "put the CA that signed the server's certificate there";
    let use_name = "use a server: URL (or tls-server-name) that the certificate names";
    let (problem, fix, detail): (String, &str, String) = match tls {
        rustls::Error::InvalidCertificate(cert) => {
            let detail = match cert {
                CertificateError::NotValidForNameContext { .. } => "NotValidForName".into(),
                CertificateError::ExpiredContext { .. } => "Expired".into(),
                CertificateError::NotValidYetContext { .. } => "NotValidYet".into(),
                other => format!("{other:?}"),
            };
            let (problem, fix) = match cert {
                CertificateError::UnknownIssuer => {
                    ("is not signed by a CA depwait trusts".to_string(), give_ca)
                }
                CertificateError::NotValidForName => (
                    "is not valid for the host name depwait connected to".into(),
                    use_name,
                ),
                CertificateError::NotValidForNameContext {
                    expected,
                    presented,
                } => (
                    format!(
                        "is not valid for {} (it names {})",
                        server_name(expected),
                        presented_names(presented)
                    ),
                    use_name,
                ),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
                    "has expired".into(),
                    "renew the server's certificate (or check this machine's clock)",
                ),
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    ("is not valid yet".into(), "check this machine's clock")
                }
                CertificateError::Revoked => (
                    "has been revoked".into(),
                    "issue the server a new certificate",
                ),
                _ => ("was rejected".into(), give_ca),
            };
            (problem, fix, detail)
        }
        rustls::Error::AlertReceived(alert) => (
            format!(
                "was accepted, but the server refused depwait (TLS alert {alert:?}): it rejects \
                 depwait's client certificate or TLS settings"
            ),
            "check client-certificate / client-key of the kubeconfig user",
            format!("AlertReceived({alert:?})"),
        ),
        rustls::Error::PeerIncompatible(why) => (
            "cannot be used: the server and depwait agree on no TLS version or cipher suite".into(),
            "the server must offer TLS 1.2 or 1.3 with a modern cipher suite",
            format!("PeerIncompatible({why:?})"),
        ),
        rustls::Error::NoCertificatesPresented => (
            "is missing: the server presented none".into(),
            "configure the server with a certificate",
            "NoCertificatesPresented".into(),
        ),
        // Corrupt records, a plain-HTTP server on an https URL (maybe a proxy still starting):
        // possibly passing, retried.
        _ => return None,
    };
    Some(TlsFailure {
        problem,
        fix: fix.to_string(),
        detail,
    })
}

/// rustls lists the names a certificate carries as `DnsName("x")`, `IpAddress(1.2.3.4)`:
/// shown plain, each once.
fn presented_names(presented: &[String]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for p in presented {
        let plain = p
            .strip_prefix("DnsName(\"")
            .and_then(|n| n.strip_suffix("\")"))
            .or_else(|| {
                p.strip_prefix("IpAddress(")
                    .and_then(|n| n.strip_suffix(')'))
            })
            .unwrap_or(p);
        if !names.contains(&plain) {
            names.push(plain);
        }
    }
    match names.is_empty() {
        true => "no name at all".into(),
        false => names.join(", "),
    }
}

fn server_name(name: &rustls_pki_types::ServerName<'_>) -> String {
    match name {
        rustls_pki_types::ServerName::DnsName(d) => format!("the name {}", d.as_ref()),
        rustls_pki_types::ServerName::IpAddress(ip) => {
            format!("the address {}", std::net::IpAddr::from(*ip))
        }
        other => format!("{other:?}"),
    }
}

fn find_rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // tokio-rustls hands rustls' error over inside an `io::Error`, whose `source()` skips
        // the error it wraps: look inside.
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
        {
            next = Some(inner as &(dyn StdError + 'static));
            continue;
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> CaOrigin {
        CaOrigin::KubeconfigData {
            cluster: "prod".into(),
            kubeconfig: "/k".into(),
        }
    }

    #[test]
    fn text_that_is_not_pem_is_no_certificate_and_names_the_field() {
        for bytes in [
            &b""[..],
            b"hello",
            b"\x00\x01\x02",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            let e = parse_bundle(bytes, &origin()).unwrap_err();
            assert!(matches!(e, CaError::NoCertificate { .. }), "{e}");
            assert!(
                e.to_string()
                    .contains("certificate-authority-data of cluster \"prod\""),
                "{e}"
            );
        }
    }

    #[test]
    fn a_pem_block_that_is_not_x509_is_not_a_certificate() {
        let bytes = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let e = parse_bundle(bytes, &origin()).unwrap_err();
        assert!(
            matches!(e, CaError::NotACertificate { number: 1, .. }),
            "{e}"
        );
        let e = parse_bundle(
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
            &origin(),
        )
        .unwrap_err();
        assert!(matches!(e, CaError::NoCertificate { .. }), "{e}");
    }

    #[test]
    fn base64_is_checked_before_pem() {
        let e = parse_base64_bundle("not base64 at all!", &origin()).unwrap_err();
        assert!(matches!(e, CaError::NotBase64 { .. }), "{e}");
        // Valid base64 of text that holds no certificate.
        let e = parse_base64_bundle("aGVsbG8=", &origin()).unwrap_err();
        assert!(matches!(e, CaError::NoCertificate { .. }), "{e}");
    }

    #[tokio::test]
    async fn an_endless_bundle_is_cut_at_the_limit() {
        let path = PathBuf::from("/dev/zero");
        let e = read_bundle(&path, &CaOrigin::SslCertFile { path: path.clone() })
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                CaError::Read {
                    source: ReadError::TooLarge { .. },
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("SSL_CERT_FILE=/dev/zero"), "{e}");
        assert!(e.to_string().contains("4 MiB"), "{e}");
    }

    proptest::proptest! {
        /// Any bytes, bare or wrapped in PEM armour: an error or a store with a certificate,
        /// never a panic, never an empty store passed as usable.
        #[test]
        fn any_bundle_is_judged_without_panic(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            armour in proptest::prelude::any::<bool>(),
        ) {
            let mut bytes = Vec::new();
            if armour {
                bytes.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
            }
            bytes.extend_from_slice(&body);
            if armour {
                bytes.extend_from_slice(b"\n-----END CERTIFICATE-----\n");
            }
            if let Ok(roots) = parse_bundle(&bytes, &origin()) {
                proptest::prop_assert!(!roots.is_empty());
            }
            let text = String::from_utf8_lossy(&body);
            let _ = parse_base64_bundle(&text, &origin());
        }
    }

    /// As hyper and tokio-rustls nest it: a boxed error whose source is an `io::Error`
    /// carrying the rustls error.
    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("client error (Connect)")
        }
    }
    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    fn wrapped(e: rustls::Error) -> Outer {
        Outer(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    #[test]
    fn certificate_failures_are_found_through_the_chain() {
        let unknown = wrapped(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        let f = failure(&unknown).expect("unknown issuer is a TLS failure");
        assert!(f.problem.contains("not signed"), "{f:?}");
        let expired = wrapped(rustls::Error::InvalidCertificate(CertificateError::Expired));
        assert!(failure(&expired).unwrap().problem.contains("expired"));
        let name = wrapped(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForNameContext {
                expected: rustls_pki_types::ServerName::try_from("wrong.example").unwrap(),
                presented: vec![
                    "DnsName(\"localhost\")".into(),
                    "DnsName(\"localhost\")".into(),
                ],
            },
        ));
        let f = failure(&name).unwrap();
        assert!(
            f.problem.contains("wrong.example") && f.problem.contains("localhost"),
            "{f:?}"
        );
    }

    #[test]
    fn other_errors_are_not_tls_failures() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(failure(&Outer(refused)), None);
        let corrupt = wrapped(rustls::Error::DecryptError);
        assert_eq!(failure(&corrupt), None);
    }
}
