//! Certificates made with `openssl` (on every CI image we use), for servers a test plays
//! itself and for CAs that must not verify.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Run `openssl ARGS`; panics with its error.
pub fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl on PATH (the tests make their certificates with it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A self-signed CA in `dir` (`NAME.crt`, `NAME.key`), valid two days.
pub fn ca(dir: &Path, name: &str) -> PathBuf {
    let (key, crt) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.crt")),
    );
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        &format!("/CN={name}"),
        "-days",
        "2",
        "-keyout",
        s(&key),
        "-out",
        s(&crt),
    ]);
    crt
}

/// A CA and a certificate for 127.0.0.1 it signed, valid for `days` (negative: expired):
/// (ca, cert, key).
pub fn ca_and_server(dir: &Path, days: i32) -> (PathBuf, PathBuf, PathBuf) {
    let ca = ca(dir, "server-ca");
    let p = |n: &str| dir.join(n);
    let (key, csr, crt, ext) = (p("srv.key"), p("srv.csr"), p("srv.crt"), p("srv.ext"));
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        s(&key),
        "-out",
        s(&csr),
    ]);
    let ca_key = p("server-ca.key");
    openssl(&[
        "x509",
        "-req",
        "-in",
        s(&csr),
        "-CA",
        s(&ca),
        "-CAkey",
        s(&ca_key),
        "-CAcreateserial",
        "-days",
        &days.to_string(),
        "-extfile",
        s(&ext),
        "-out",
        s(&crt),
    ]);
    (ca, crt, key)
}
