//! TLS against the real API server: a certificate no retry can fix ends the wait at once with
//! exit 3 naming the kubeconfig field that holds the CA; a CA field that does not parse is
//! exit 2 before any request; CA bundles are read bounded; `--http https://` probes treat a
//! certificate failure as a not-ready reason and trust `SSL_CERT_FILE`.
//!
//! Each test writes its own kubeconfig: the admin's, with the cluster's TLS fields changed.
//! Certificates that must not verify are made with `openssl` (on every CI image we use).

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use support::{Depwait, Finished, LIMIT, TestEnv, User};

/// A scratch directory with certificates and kubeconfigs of one test.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The admin's kubeconfig with its cluster entry changed by `edit`.
    fn kubeconfig(&self, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> PathBuf {
        let env = TestEnv::get();
        let text = std::fs::read_to_string(env.kubeconfig(User::Admin)).unwrap();
        let mut config: Value = serde_json::from_str(&text).unwrap();
        let cluster = config["clusters"][0]["cluster"].as_object_mut().unwrap();
        edit(cluster);
        let path = self.path(&format!(
            "kubeconfig-{}.yaml",
            std::fs::read_dir(self.dir.path()).unwrap().count()
        ));
        std::fs::write(&path, config.to_string()).unwrap();
        path
    }

    /// A self-signed CA that signed nothing the API server presents.
    fn other_ca(&self) -> PathBuf {
        support::certs::ca(self.dir.path(), "not-the-cluster-ca")
    }

    /// A CA and a server certificate for 127.0.0.1 signed by it that expired yesterday.
    fn expired_server_cert(&self) -> (PathBuf, PathBuf, PathBuf) {
        support::certs::ca_and_server(self.dir.path(), -1)
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn base64_of(path: &Path) -> String {
    let out = Command::new("base64")
        .arg("-w0")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// What a wait that must end at once is given: a timeout far past any handshake, so that
/// exit 1 (the old retry-until-timeout) cannot pass for the immediate exit 3.
const TIMEOUT: &str = "40s";

async fn wait_with(kubeconfig: PathBuf, code: i32) -> Finished {
    let ns = TestEnv::get().unique_name("tls");
    Depwait::new()
        .kubeconfig(kubeconfig)
        .args(["--pods", &format!("{ns}:app=db"), "--timeout", TIMEOUT])
        .spawn()
        .expect_exit(code)
        .await
}

async fn check_with(kubeconfig: PathBuf, code: i32) -> Finished {
    let ns = TestEnv::get().unique_name("tls");
    Depwait::new()
        .kubeconfig(kubeconfig)
        .args([
            "check",
            "--pods",
            &format!("{ns}:app=db"),
            "--timeout",
            TIMEOUT,
        ])
        .spawn()
        .expect_exit(code)
        .await
}

fn assert_says(done: &Finished, needles: &[&str]) {
    for needle in needles {
        assert!(
            done.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{done:?}"
        );
    }
}

/// `certificate-authority-data` holding a CA that did not sign the server's certificate: no
/// retry can fix it. The wait and `check` both exit 3 at once, naming the field and cluster,
/// and the termination message says the same.
#[tokio::test]
async fn a_ca_that_did_not_sign_the_server_is_exit_3_naming_the_field() {
    let scratch = Scratch::new();
    let other = base64_of(&scratch.other_ca());
    let kubeconfig = scratch.kubeconfig(|c| {
        c.insert("certificate-authority-data".into(), json!(other));
    });
    let done = wait_with(kubeconfig.clone(), 3).await;
    let names = "certificate-authority-data of cluster \"envtest\"";
    assert_says(
        &done,
        &[names, "not signed by a CA depwait trusts", "UnknownIssuer"],
    );
    let log = done.termination_log.as_deref().unwrap_or_default();
    assert!(log.contains(names), "{done:?}");
    let done = check_with(kubeconfig, 3).await;
    assert_says(&done, &[names, "not signed"]);
}

/// The same CA given as `certificate-authority: PATH` is named by its path.
#[tokio::test]
async fn a_wrong_ca_file_is_named_by_its_path() {
    let scratch = Scratch::new();
    let other = scratch.other_ca();
    let kubeconfig = scratch.kubeconfig(|c| {
        c.remove("certificate-authority-data");
        c.insert("certificate-authority".into(), json!(other));
    });
    let done = wait_with(kubeconfig, 3).await;
    assert_says(
        &done,
        &[&format!("certificate-authority: {}", other.display())],
    );
}

/// A server name the certificate does not carry (here through `tls-server-name`): exit 3,
/// saying which name was expected and which the certificate names.
#[tokio::test]
async fn a_name_the_certificate_does_not_carry_is_exit_3() {
    let scratch = Scratch::new();
    let kubeconfig = scratch.kubeconfig(|c| {
        c.insert("tls-server-name".into(), json!("wrong.example"));
    });
    let done = wait_with(kubeconfig, 3).await;
    assert_says(&done, &["not valid for the name wrong.example", "it names"]);
}

/// A server whose certificate has expired (a TLS server of openssl's, not the API server):
/// exit 3 at once.
#[tokio::test]
async fn an_expired_server_certificate_is_exit_3() {
    let scratch = Scratch::new();
    let (ca, crt, key) = scratch.expired_server_cert();
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let server = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-cert", s(&crt), "-key", s(&key)])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = KillOnDrop(server);
    // Listening before depwait connects: a hang guard, not a timing check.
    let deadline = std::time::Instant::now() + LIMIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "openssl s_server did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let ca = base64_of(&ca);
    let kubeconfig = scratch.kubeconfig(|c| {
        c.insert("server".into(), json!(format!("https://127.0.0.1:{port}")));
        c.insert("certificate-authority-data".into(), json!(ca));
    });
    let done = wait_with(kubeconfig, 3).await;
    assert_says(&done, &["has expired"]);
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A CA field that does not parse — not base64, base64 of text, a PEM block that is no
/// certificate, a file that never ends — is a configuration error: exit 2 for the wait and
/// `check`, naming the field.
#[tokio::test]
async fn a_ca_that_does_not_parse_is_exit_2_naming_the_field() {
    let scratch = Scratch::new();
    let not_a_cert = scratch.path("not-a-cert.pem");
    std::fs::write(
        &not_a_cert,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let data = "certificate-authority-data of cluster \"envtest\"";
    let cases: Vec<(PathBuf, Vec<String>)> = vec![
        (
            scratch.kubeconfig(|c| {
                c.insert("certificate-authority-data".into(), json!("not base64!"));
            }),
            vec![data.into(), "is not base64".into()],
        ),
        (
            scratch.kubeconfig(|c| {
                // "hello, world\n"
                c.insert(
                    "certificate-authority-data".into(),
                    json!("aGVsbG8sIHdvcmxkCg=="),
                );
            }),
            vec![data.into(), "holds no PEM certificate".into()],
        ),
        (
            scratch.kubeconfig(|c| {
                c.remove("certificate-authority-data");
                c.insert("certificate-authority".into(), json!(not_a_cert));
            }),
            vec![
                format!("certificate-authority: {}", not_a_cert.display()),
                "not a valid X.509 CA certificate".into(),
            ],
        ),
        (
            scratch.kubeconfig(|c| {
                c.remove("certificate-authority-data");
                c.insert("certificate-authority".into(), json!("/dev/zero"));
            }),
            vec!["certificate-authority: /dev/zero".into(), "4 MiB".into()],
        ),
    ];
    for (kubeconfig, needles) in cases {
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        let done = wait_with(kubeconfig.clone(), 2).await;
        assert_says(&done, &needles);
        let done = check_with(kubeconfig, 2).await;
        assert_says(&done, &needles);
    }
}

/// `SSL_CERT_FILE` that never ends (`/dev/zero` grew to 23 GB) or holds no certificate:
/// exit 2 naming the variable, before any probe.
#[tokio::test]
async fn an_unusable_ssl_cert_file_is_exit_2() {
    let env = TestEnv::get();
    let scratch = Scratch::new();
    let text = scratch.path("notes.txt");
    std::fs::write(&text, "no certificates here\n").unwrap();
    let url = format!("{}/readyz", env.server);
    for (file, says) in [
        (PathBuf::from("/dev/zero"), "4 MiB"),
        (text, "holds no PEM certificate"),
    ] {
        let done = Depwait::new()
            .env("SSL_CERT_FILE", s(&file))
            .args(["--http", &url, "--timeout", TIMEOUT])
            .spawn()
            .expect_exit(2)
            .await;
        assert_says(&done, &[&format!("SSL_CERT_FILE={}", file.display()), says]);
    }
}

/// `--http https://` trusts `SSL_CERT_FILE`: with the cluster's CA there the API server's
/// `/readyz` is ready. Without it the certificate failure is a not-ready reason (the probed
/// server's certificate may still change, as an ingress's does once its certificate is
/// issued), shown in the summary, and the wait times out (exit 1), not exit 3.
#[tokio::test]
async fn https_probes_trust_ssl_cert_file_and_wait_through_certificate_failures() {
    let env = TestEnv::get();
    let url = format!("{}/readyz", env.server);
    Depwait::new()
        .env("SSL_CERT_FILE", s(&env.ca_file()))
        .args(["--http", &url, "--timeout", TIMEOUT])
        .spawn()
        .expect_exit(0)
        .await;
    let done = Depwait::new()
        .args(["--http", &url, "--timeout", "2s"])
        .spawn()
        .expect_exit(1)
        .await;
    let log = done.termination_log.as_deref().unwrap_or_default();
    assert!(
        log.contains("TLS: the server's certificate is not signed")
            && log.contains("SSL_CERT_FILE"),
        "{done:?}"
    );
}
