//! The image is self-contained: its root file system — `/depwait` and nothing else — runs as the
//! image's user (uid 10001) under chroot, with nothing added but what a pod is given: the binary
//! answers `--version`, waits with a kubeconfig, and waits with in-cluster configuration (the
//! service account's token, CA and namespace files plus KUBERNETES_SERVICE_HOST/PORT, as the
//! kubelet provides them) against the test API server.
//!
//! The image is built once per run by `scripts/image.sh --rootfs` (the static release binary,
//! then podman, buildah or docker; as root it apt-installs buildah when none is there), which
//! also unpacks the image's root file system; each test works on a copy. Needs root, for chroot.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::LazyLock;
use std::time::Duration;

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};
use support::{Depwait, LIMIT, TestEnv, User};

/// Where the service-account admission plugin mounts a pod's credentials, and where kube's
/// in-cluster configuration reads them.
const SERVICE_ACCOUNT_DIR: &str = "var/run/secrets/kubernetes.io/serviceaccount";

/// The image's root file system, unpacked once for this test binary, and the builder's
/// description of it (or why that failed, so every test reports it).
static IMAGE: LazyLock<Result<(PathBuf, Value), String>> = LazyLock::new(unpack_image);

/// Build the image with scripts/image.sh and unpack its root file system under the target
/// directory, next to the binary cargo built for the tests (so the static build shares its
/// cache).
fn unpack_image() -> Result<(PathBuf, Value), String> {
    let target_dir = Path::new(env!("CARGO_BIN_EXE_depwait"))
        .ancestors()
        .nth(2)
        .expect("CARGO_BIN_EXE_depwait is TARGET/PROFILE/depwait")
        .to_path_buf();
    let root = target_dir.join("image-rootfs");
    if root.exists() {
        std::fs::remove_dir_all(&root).map_err(|e| format!("clear {}: {e}", root.display()))?;
    }
    let inspect = target_dir.join("image-inspect.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/image.sh");
    let status = Command::new("bash")
        .arg(script)
        .arg("--rootfs")
        .arg(&root)
        .arg("--inspect")
        .arg(&inspect)
        .env("CARGO_TARGET_DIR", &target_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("run scripts/image.sh: {e}"))?;
    if !status.success() {
        return Err(format!(
            "scripts/image.sh --rootfs failed ({status}); see its output above"
        ));
    }
    let text = std::fs::read_to_string(&inspect)
        .map_err(|e| format!("read {}: {e}", inspect.display()))?;
    let description = serde_json::from_str(&text).map_err(|e| format!("{text}: {e}"))?;
    Ok((root, description))
}

/// The image's config (user, entrypoint, labels) from the builder's description: buildah's
/// `{"OCIv1": {"config": ...}}` or podman's and docker's `[{"Config": ...}]`.
fn image_config() -> Value {
    let description = match &*IMAGE {
        Ok((_, description)) => description,
        Err(why) => panic!("no image to test: {why}"),
    };
    let config = match &description["OCIv1"]["config"] {
        Value::Null => &description[0]["Config"],
        config => config,
    };
    assert!(config.is_object(), "no image config in {description}");
    config.clone()
}

/// A copy of the image's root file system for one test to add files to, readable by uid
/// 10001 as a container's root is.
fn image_copy() -> tempfile::TempDir {
    let image = match &*IMAGE {
        Ok((root, _)) => root,
        Err(why) => panic!("no image to test: {why}"),
    };
    let copy = tempfile::Builder::new()
        .prefix("depwait-rootfs")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(copy.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg(image.join("."))
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(status.success(), "copy {} failed", image.display());
    copy
}

/// Put `contents` at `path` inside `root`, readable by anyone (as a kubelet mounts a projected
/// service-account volume by default: mode 0644).
fn add_file(root: &Path, path: &str, contents: &[u8]) {
    let file = root.join(path);
    let mut dir = file.parent().unwrap().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    while dir != root {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir.pop();
    }
    std::fs::write(&file, contents).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// Every file in the tree, as paths relative to `root`.
fn files_under(root: &Path) -> Vec<(String, u64)> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                dirs.push(entry.path());
            } else {
                let path = entry
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .display()
                    .to_string();
                files.push((path, meta.len()));
            }
        }
    }
    files
}

/// The image's config: it runs `/depwait` as 10001:10001 (numeric, so runAsNonRoot can check
/// it without /etc/passwd) and carries the OCI labels.
#[test]
fn image_runs_depwait_as_10001_with_oci_labels() {
    let config = image_config();
    assert_eq!(config["User"], "10001:10001", "{config}");
    assert_eq!(config["Entrypoint"], json!(["/depwait"]), "{config}");
    let labels = &config["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION"),
        "{config}"
    );
    assert_eq!(
        labels["org.opencontainers.image.licenses"],
        env!("CARGO_PKG_LICENSE"),
        "{config}"
    );
    // Empty without a git remote `origin` (or DEPWAIT_IMAGE_SOURCE), but always present.
    assert!(
        labels["org.opencontainers.image.source"].is_string(),
        "{config}"
    );
}

/// The image holds one file, a static executable (no program interpreter, so no libc or loader
/// is needed), and it runs as uid 10001 in a file system that holds nothing else.
#[tokio::test]
async fn image_is_one_static_binary_that_runs_alone() {
    let root = image_copy();
    // docker and podman add empty mount points (/etc/hosts, /dev, ...) to an export; content
    // is what counts.
    let files: Vec<String> = files_under(root.path())
        .into_iter()
        .filter(|(_, len)| *len > 0)
        .map(|(path, _)| path)
        .collect();
    assert_eq!(files, ["depwait"], "the image's files with content");
    let headers = Command::new("readelf")
        .args(["-lW"])
        .arg(root.path().join("depwait"))
        .output()
        .expect("readelf (binutils)");
    let headers = String::from_utf8_lossy(&headers.stdout);
    assert!(
        headers.contains("LOAD") && !headers.contains("INTERP"),
        "not a static executable:\n{headers}"
    );

    let done = Depwait::new()
        .chroot(root.path())
        .args(["--version"])
        .spawn()
        .expect_exit(0)
        .await;
    assert_eq!(
        done.stdout.trim(),
        format!("depwait {}", env!("CARGO_PKG_VERSION")),
        "{done:?}"
    );
}

/// A kubeconfig copied into the image's file system: the binary connects (TLS against the
/// kubeconfig's CA, token auth), waits, and releases when the pod turns Ready.
#[tokio::test]
async fn image_waits_with_a_kubeconfig() {
    let env = TestEnv::get();
    let ns = env.namespace("image-kc").await;
    env.create_pod(&ns, "db-0", &[("app", "db")]).await;
    let root = image_copy();
    let kubeconfig = std::fs::read(env.kubeconfig(User::Admin)).unwrap();
    add_file(root.path(), "kubeconfig", &kubeconfig);

    let mut depwait = Depwait::new()
        .chroot(root.path())
        .kubeconfig(PathBuf::from("/kubeconfig"))
        .args(["--pods", &format!("{ns}:app=db")])
        .spawn();
    depwait.wait_for_log("0/1 ready", LIMIT).await;
    env.set_pod_ready(&ns, "db-0", true).await;
    let done = depwait.expect_exit(0).await;
    assert!(done.stderr.contains("all dependencies ready"), "{done:?}");
}

/// In-cluster configuration, not a kubeconfig: a ServiceAccount's token (TokenRequest, as the
/// kubelet gets it), the server's CA and the namespace in the files a pod has, and
/// KUBERNETES_SERVICE_HOST/PORT in the environment. depwait reaches the server through them,
/// authenticates as the ServiceAccount, is allowed exactly what its Role grants, and releases.
#[tokio::test]
async fn image_waits_in_cluster_with_a_service_account() {
    let env = TestEnv::get();
    let ns = env.namespace("image-ic").await;
    let admin = env.client(User::Admin).await;
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "web"}})).unwrap();
    Api::<ServiceAccount>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &sa)
        .await
        .unwrap();
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "depwait"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
    }))
    .unwrap();
    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "depwait"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "depwait"},
        "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": ns}],
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(admin, &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    env.await_service_account_access(
        (&ns, "web"),
        &ns,
        &["get", "list", "watch"],
        &["pods"],
        true,
    )
    .await;
    env.create_pod(&ns, "db-0", &[("app", "db")]).await;

    let root = image_copy();
    let token = env.service_account_token(&ns, "web").await;
    let ca = std::fs::read(env.ca_file()).unwrap();
    add_file(
        root.path(),
        &format!("{SERVICE_ACCOUNT_DIR}/token"),
        token.as_bytes(),
    );
    add_file(root.path(), &format!("{SERVICE_ACCOUNT_DIR}/ca.crt"), &ca);
    add_file(
        root.path(),
        &format!("{SERVICE_ACCOUNT_DIR}/namespace"),
        ns.as_bytes(),
    );

    let mut depwait = Depwait::new()
        .chroot(root.path())
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", &env.port().to_string())
        .args(["--pods", &format!("{ns}:app=db")])
        .spawn();
    depwait.wait_for_log("0/1 ready", LIMIT).await;
    env.set_pod_ready(&ns, "db-0", true).await;
    depwait.expect_exit(0).await;

    // The same credentials are the ServiceAccount's and no one else's: its Role covers only
    // this namespace.
    let other = env.namespace("image-ic-other").await;
    let done = Depwait::new()
        .chroot(root.path())
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", &env.port().to_string())
        .args(["--pods", &format!("{other}:app=db")])
        .spawn()
        .expect_exit(3)
        .await;
    assert!(
        done.stderr
            .contains(&format!("system:serviceaccount:{ns}:web")),
        "{done:?}"
    );
}

/// Not a check, a measurement (README "Install as an init container" quotes it): the image's
/// binary's peak resident memory (`/usr/bin/time`'s maximum RSS) over a wait for N pods that
/// turn Ready after a while, with a kubeconfig, against the test server.
/// `cargo test --test image -- --ignored --nocapture peak_memory`
#[tokio::test]
#[ignore = "a measurement; run it by name"]
async fn peak_memory_of_a_wait() {
    let env = TestEnv::get();
    let root = image_copy();
    for pods in [3, 300] {
        let ns = env.namespace("image-rss").await;
        for i in 0..pods {
            env.create_pod(&ns, &format!("db-{i}"), &[("app", "db")])
                .await;
        }
        let mut wait = tokio::process::Command::new("/usr/bin/time")
            .args(["-f", "max-rss-kib %M"])
            .arg(root.path().join("depwait"))
            .args(["--pods", &format!("{ns}:app=db")])
            .env_clear()
            .env("KUBECONFIG", env.kubeconfig(User::Admin))
            .stderr(Stdio::piped())
            .spawn()
            .expect("/usr/bin/time (Debian: apt-get install time)");
        tokio::time::sleep(Duration::from_secs(2)).await;
        for i in 0..pods {
            env.set_pod_ready(&ns, &format!("db-{i}"), true).await;
        }
        let out = tokio::time::timeout(LIMIT, async {
            let mut stderr = String::new();
            tokio::io::AsyncReadExt::read_to_string(wait.stderr.as_mut().unwrap(), &mut stderr)
                .await
                .unwrap();
            (wait.wait().await.unwrap(), stderr)
        })
        .await
        .expect("the wait ends once every pod is Ready");
        assert!(out.0.success(), "{}", out.1);
        let rss = out.1.lines().last().unwrap_or_default();
        println!("{pods} pods: {rss}");
    }
}
