//! `--tcp` and `--http`: what cannot be watched, probed with a short capped backoff.

use super::grammar::{Context, Invalid};
use crate::dependency::Target;
use crate::names;
use crate::probe::{Check, StatusSet};
use crate::text::{self, Url};

pub(super) const TCP_EXAMPLE: &str = "--tcp db.internal:5432 --tcp 10.0.0.7:6379";
pub(super) const HTTP_EXAMPLE: &str =
    "--http http://api.app.svc:8080/healthz --http 'https://auth.example.com/ready#200,401'";

/// `HOST:PORT`, `[IPv6]:PORT`.
pub(super) fn parse_tcp(spec: &str, _: &Context) -> Result<Target, Invalid> {
    let Some((host, port)) = spec.trim().rsplit_once(':') else {
        return Err(Invalid("expected HOST:PORT, found no `:`".into()));
    };
    let port = parse_port(port)?;
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => {
            v6.parse::<std::net::Ipv6Addr>()
                .map_err(|_| Invalid(format!("`{v6}` is not an IPv6 address")))?;
            v6.to_string()
        }
        None if host.contains(':') => {
            return Err(Invalid(
                "an IPv6 address goes in brackets: [fd00::1]:5432".into(),
            ));
        }
        None => {
            if host.parse::<std::net::Ipv4Addr>().is_err() {
                names::validate(host)?;
            }
            host.to_string()
        }
    };
    Ok(Target::Probe(Check::Tcp { host, port }))
}

/// A TCP port, for `--tcp` and `--http` alike: decimal digits only, 1-65535.
fn parse_port(text: &str) -> Result<u16, Invalid> {
    text.parse()
        .ok()
        .filter(|p| *p > 0 && !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| Invalid(format!("`{text}` is not a port (1-65535)")))
}

/// `URL[#STATUSES]`: http or https, with a host; the fragment (never sent) lists accepted
/// statuses. Credentials in the URL (`http://user:password@host/`) are sent as Basic auth and
/// never shown: messages quote the URL redacted ([`text::redact`]).
pub(super) fn parse_http(spec: &str, _: &Context) -> Result<Target, Invalid> {
    let (url, accept) = match spec.trim().split_once('#') {
        // Quoting this fragment would quote the rest of a password.
        Some((url, statuses)) if url.contains("://") && statuses.contains('@') => {
            return Err(Invalid(format!(
                "a `#` in the credentials of `{}` ends the URL there; write it as %23",
                text::redact(url)
            )));
        }
        Some((url, statuses)) => (
            url,
            StatusSet::parse(statuses).map_err(|e| Invalid(e.to_string()))?,
        ),
        None => (spec.trim(), StatusSet::default()),
    };
    let shown = text::redact(url);
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Invalid(format!("`{shown}` is not a URL: {e}")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(Invalid(format!(
            "`{shown}` must start with http:// or https://"
        )));
    }
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // After the host (`]` closes an IPv6 one), a `:` starts the port; `http::Uri` takes any
    // digits there, and `:` with none.
    let after_host = host_port.rsplit_once(']').map_or(host_port, |(_, p)| p);
    if let Some((_, port)) = after_host.rsplit_once(':') {
        parse_port(port)?;
    }
    let host = uri.host().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_err() {
        names::validate(host)?;
    }
    Ok(Target::Probe(Check::Http {
        url: Url::new(url),
        accept,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::entries::ENTRIES;

    const CONTEXT: Context = Context {
        cluster_domain: "cluster.local",
    };

    #[test]
    fn tcp_takes_names_and_addresses() {
        let tcp = |s: &str| match parse_tcp(s, &CONTEXT).unwrap() {
            Target::Probe(Check::Tcp { host, port }) => (host, port),
            _ => panic!(),
        };
        assert_eq!(tcp("db.internal:5432"), ("db.internal".into(), 5432));
        assert_eq!(tcp("10.0.0.7:6379"), ("10.0.0.7".into(), 6379));
        assert_eq!(tcp("[fd00::1]:53"), ("fd00::1".into(), 53));
        for bad in [
            "db",
            "db:0",
            "db:65536",
            "db:+1",
            "fd00::1:53",
            ":80",
            "a b:1",
            "[x]:1",
        ] {
            assert!(parse_tcp(bad, &CONTEXT).is_err(), "{bad}");
        }
    }

    #[test]
    fn http_takes_urls_and_statuses() {
        let http = |s: &str| match parse_http(s, &CONTEXT).unwrap() {
            Target::Probe(Check::Http { url, accept }) => {
                (url.as_sent().to_string(), accept.to_string())
            }
            _ => panic!(),
        };
        assert_eq!(
            http("http://api.app.svc:8080/healthz"),
            ("http://api.app.svc:8080/healthz".into(), "2xx".into())
        );
        assert_eq!(
            http("https://10.0.0.1/ready#200,401"),
            ("https://10.0.0.1/ready".into(), "200,401".into())
        );
        assert_eq!(http("http://[::1]:80/").0, "http://[::1]:80/");
        for bad in [
            "api:8080",
            "ftp://x/",
            "http://",
            "http://a b/",
            "http://x/#abc",
            "http://x_y/",
        ] {
            assert!(parse_http(bad, &CONTEXT).is_err(), "{bad}");
        }
    }

    /// One port rule for `--tcp` and `--http`: what one rejects, the other does too.
    #[test]
    fn tcp_and_http_share_one_port_rule() {
        for port in ["0", "65536", "99999", "+80", "", "8o", "4294967377"] {
            let tcp = parse_tcp(&format!("db:{port}"), &CONTEXT);
            let http = parse_http(&format!("http://db:{port}/"), &CONTEXT);
            assert!(tcp.is_err(), "--tcp db:{port}");
            assert!(http.is_err(), "--http http://db:{port}/");
            assert_eq!(
                tcp.unwrap_err(),
                http.unwrap_err(),
                "the same words for {port:?}"
            );
        }
        for port in ["1", "80", "65535"] {
            assert!(parse_tcp(&format!("db:{port}"), &CONTEXT).is_ok());
            assert!(parse_http(&format!("http://db:{port}/"), &CONTEXT).is_ok());
            assert!(parse_http(&format!("http://u:p@[::1]:{port}/"), &CONTEXT).is_ok());
        }
        assert!(parse_http("http://u:p@[::1]:99999/", &CONTEXT).is_err());
    }

    /// A URL's password and query values are never quoted back, even in an error.
    #[test]
    fn http_credentials_stay_out_of_errors_and_names() {
        let d = crate::dependency::Dependency {
            target: parse_http(
                "http://user:s3cret@api.app.svc:8080/healthz?token=t0k",
                &CONTEXT,
            )
            .unwrap(),
            origin: String::new(),
        };
        assert_eq!(
            d.to_string(),
            "http http://user:***@api.app.svc:8080/healthz?token=***"
        );
        assert!(!format!("{d:?}").contains("s3cret") && !format!("{d:?}").contains("t0k"));
        for bad in [
            "http://user:s3cret@api.app.svc:99999/?token=t0k",
            "http://user:s3cret@bad_host/?token=t0k",
            "http://user:s3/cret@host/?token=t0k",
            "http://user:s3cret@host/?token=t0k#abc",
            "http://user:s3#cret@host/?token=t0k",
            "http://user:s3?cret@host/?token=t0k",
            "gopher://user:s3cret@host/?token=t0k",
        ] {
            let e = ENTRIES
                .iter()
                .find(|e| e.field == "http")
                .unwrap()
                .read(bad, 1, &CONTEXT)
                .unwrap_err()
                .to_string();
            assert!(!e.contains("s3cret") && !e.contains("cret"), "{e}");
            assert!(!e.contains("t0k"), "{e}");
        }
    }
}
