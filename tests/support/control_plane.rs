//! Starting etcd + kube-apiserver, knowing when they serve, and stopping them on purpose.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::ListParams;

use super::{TestEnv, User, client_for};

/// Hang guard for a server to come up, at first start or after a fault.
const START_LIMIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// One of the two server processes, for fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// etcd: the API server keeps running but cannot read or write.
    Etcd,
    /// kube-apiserver: every connection drops; etcd keeps the data.
    ApiServer,
}

impl Server {
    /// As control-plane.sh names it, in its stop-, stopped- and exited- files.
    fn name(self) -> &'static str {
        match self {
            Server::Etcd => "etcd",
            Server::ApiServer => "apiserver",
        }
    }
}

impl TestEnv {
    pub(super) fn launch() -> TestEnv {
        let assets = assets_dir();
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("depwait-envtest")
            .tempdir()
            .expect("temp dir");
        let path = dir.path();
        let tokens: String = User::ALL.iter().map(|u| u.token_file_line()).collect();
        std::fs::write(path.join("tokens.csv"), tokens).unwrap();
        let status = Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(path.join("sa.key"))
            .arg("2048")
            .stderr(Stdio::null())
            .status()
            .expect("openssl, to make the service-account signing key");
        assert!(status.success(), "openssl genrsa failed");
        let [etcd, peer, api] = free_ports();
        let supervisor = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/control-plane.sh"))
            .arg(&assets)
            .arg(path)
            .arg(std::process::id().to_string())
            .args([etcd, peer, api].map(|p| p.to_string()))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tests/support/control-plane.sh");
        let env = TestEnv {
            server: format!("https://127.0.0.1:{api}"),
            assets,
            // From here on control-plane.sh deletes it, after stopping the servers that use it.
            dir: dir.keep(),
            _supervisor: supervisor,
        };
        env.wait_until_serving(started + START_LIMIT);
        env
    }

    /// The API server writes its self-signed certificate and CA as it starts; the kubeconfigs
    /// need both. Then poll until it serves. Runs the async part on a thread of its own: this
    /// may be called from inside a test's runtime, which cannot block on another.
    fn wait_until_serving(&self, deadline: Instant) {
        let cert = self.dir.join("certs/apiserver.crt");
        // The file appears before it is fully written.
        let written = || {
            let pem = std::fs::read_to_string(&cert).unwrap_or_default();
            pem.matches("-----END CERTIFICATE-----").count() == 2
        };
        while !written() {
            self.assert_alive();
            assert!(
                Instant::now() < deadline,
                "kube-apiserver wrote no certificate within {START_LIMIT:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(POLL);
        }
        for user in User::ALL {
            self.write_kubeconfig(&self.kubeconfig(user), user.name(), &user.token());
        }
        let kubeconfig = self.kubeconfig(User::Admin);
        let dir = self.dir.clone();
        let result = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                loop {
                    let last = match serving(&kubeconfig).await {
                        Ok(()) => return Ok(()),
                        Err(e) => e,
                    };
                    if exited(&dir).is_some() || Instant::now() > deadline {
                        return Err(last);
                    }
                    tokio::time::sleep(POLL).await;
                }
            })
        })
        .join()
        .unwrap();
        if let Err(last) = result {
            self.assert_alive();
            panic!(
                "kube-apiserver did not become ready within {START_LIMIT:?} ({last}):\n{}",
                self.logs()
            );
        }
    }

    /// Fail at once, with the logs, if a server exited without being asked to.
    fn assert_alive(&self) {
        if let Some(why) = exited(&self.dir) {
            panic!("{why}:\n{}", self.logs());
        }
    }

    /// Stop a server (control-plane.sh watches for the stop file) and wait until it is gone.
    /// Tests that do this must not share the control plane with tests running at the same time.
    pub async fn stop(&self, server: Server) {
        std::fs::write(self.dir.join(format!("stop-{}", server.name())), "").unwrap();
        let stopped = self.dir.join(format!("stopped-{}", server.name()));
        let deadline = tokio::time::Instant::now() + START_LIMIT;
        while !stopped.exists() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not stop:\n{}",
                server.name(),
                self.logs()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Start a stopped server again and wait until the API server is ready (which includes
    /// reaching etcd).
    pub async fn start(&self, server: Server) {
        std::fs::remove_file(self.dir.join(format!("stop-{}", server.name()))).unwrap();
        let stopped = self.dir.join(format!("stopped-{}", server.name()));
        let admin = self.kubeconfig(User::Admin);
        let deadline = tokio::time::Instant::now() + START_LIMIT;
        loop {
            let last = if stopped.exists() {
                "still stopped".to_string()
            } else {
                match serving(&admin).await {
                    Ok(()) => return,
                    Err(e) => e,
                }
            };
            self.assert_alive();
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not come back ({last}):\n{}",
                server.name(),
                self.logs()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The last lines of both servers' logs, for failure messages.
    pub fn logs(&self) -> String {
        let tail = |name: &str| {
            let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        format!(
            "--- etcd.log\n{}\n--- apiserver.log\n{}",
            tail("etcd.log"),
            tail("apiserver.log"),
        )
    }
}

/// Ready for tests: `/readyz` (whose checks include etcd and the RBAC bootstrap) answers 200,
/// and the `default` namespace, which a controller creates after start, exists.
async fn serving(admin: &Path) -> Result<(), String> {
    let client = client_for(admin).await.map_err(|e| e.to_string())?;
    // kube has no builder for a bare GET of a path; a list request with no parameters is one.
    let readyz = kube::core::Request::new("/readyz")
        .list(&ListParams::default())
        .unwrap();
    client
        .request_text(readyz)
        .await
        .map_err(|e| format!("/readyz: {e}"))?;
    Api::<Namespace>::all(client)
        .get("default")
        .await
        .map_err(|e| format!("namespace default: {e}"))?;
    Ok(())
}

/// Which server exited on its own, as control-plane.sh records it.
fn exited(dir: &Path) -> Option<String> {
    ["etcd", "apiserver"].into_iter().find_map(|name| {
        let status = std::fs::read_to_string(dir.join(format!("exited-{name}"))).ok()?;
        Some(format!("{name} exited with status {}", status.trim()))
    })
}

/// The directory with `kube-apiserver` and `etcd`: `KUBEBUILDER_ASSETS`, the cache, or a build
/// (see scripts/envtest-assets.sh; its progress goes to our stderr).
fn assets_dir() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/envtest-assets.sh");
    let out = Command::new("bash")
        .arg(script)
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/envtest-assets.sh");
    assert!(
        out.status.success(),
        "scripts/envtest-assets.sh failed (see its output above); or set KUBEBUILDER_ASSETS to \
         a directory with kube-apiserver and etcd"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(stdout.lines().last().expect("assets dir").trim())
}

/// Three loopback ports nobody listens on. They are free only until the listeners drop, so
/// another process could take one first; rare enough, and the start then fails with the log.
fn free_ports() -> [u16; 3] {
    let listeners =
        [(); 3].map(|()| std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port"));
    listeners.map(|l| l.local_addr().unwrap().port())
}
