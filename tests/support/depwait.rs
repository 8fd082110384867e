//! Running the binary under test: a clean environment, its output collected as it comes, a log
//! reader with a cursor (each wait reads on from the line the last one matched), holds shown by
//! heartbeats, and a hang guard on every wait.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinHandle;

use super::{LIMIT, TestEnv, User};

/// A depwait invocation being prepared.
pub struct Depwait {
    /// What it authenticates with.
    credentials: Credentials,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// How the binary is started.
    launch: Launch,
    /// Where its stdout and stderr go.
    stdout: Sink,
    stderr: Sink,
    /// `--heartbeat 1s` was added by [`Self::heartbeat`].
    heartbeat: bool,
}

/// What a run authenticates with.
enum Credentials {
    /// A [`User`]'s kubeconfig for the test API server (which this starts, if no test has).
    User(User),
    /// This kubeconfig, e.g. a service account's token, or one that does not exist.
    Kubeconfig(PathBuf),
    /// A kubeconfig for a server of the test's own at this URL; see [`Depwait::server`].
    Server(String),
}

/// How the binary is started.
enum Launch {
    /// The binary cargo built, as it is.
    Direct,
    /// `/depwait` of an image's root file system; see [`Depwait::chroot`].
    Chroot(PathBuf),
    /// The binary cargo built, in a mount namespace set up by these shell commands; see
    /// [`Depwait::in_mount_namespace`].
    MountNamespace(String),
}

/// Where a stream of the child goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// Collected by the test ([`Finished::stdout`], [`Finished::stderr`]).
    Collected,
    /// A pipe whose reader is gone, as after `| head -1`: every write fails with EPIPE.
    Closed,
    /// `/dev/full`: every write fails with ENOSPC.
    Full,
}

impl Sink {
    fn stdio(self) -> Stdio {
        match self {
            Sink::Collected => Stdio::piped(),
            Sink::Closed => {
                let (reader, writer) = std::io::pipe().unwrap();
                drop(reader);
                Stdio::from(writer)
            }
            Sink::Full => Stdio::from(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            ),
        }
    }
}

impl Depwait {
    /// depwait as `Admin`, no arguments, a clean environment.
    pub fn new() -> Self {
        Depwait {
            credentials: Credentials::User(User::Admin),
            args: Vec::new(),
            env: Vec::new(),
            launch: Launch::Direct,
            stdout: Sink::Collected,
            stderr: Sink::Collected,
            heartbeat: false,
        }
    }

    /// Run the image's binary instead of the one cargo built: `chroot --userspec=10001:10001
    /// ROOT /depwait`, as the image's `USER` and `ENTRYPOINT` say. Inside, only ROOT exists:
    /// [`Self::kubeconfig`] then names a path inside ROOT, and without one depwait finds no
    /// kubeconfig (in-cluster configuration, if ROOT holds a service account's files). Needs
    /// root.
    pub fn chroot(mut self, root: &Path) -> Self {
        self.launch = Launch::Chroot(root.to_path_buf());
        self
    }

    /// Run it in a mount namespace of its own (`unshare --mount`), after the shell commands
    /// `setup` (run by `/bin/sh` with `set -e` and a PATH of the system's directories; depwait
    /// gets no PATH): e.g. a service account's files bind-mounted where a pod has them, the
    /// in-cluster path without building the image. As under [`Self::chroot`], no KUBECONFIG
    /// unless [`Self::kubeconfig`] names one. Needs root.
    pub fn in_mount_namespace(mut self, setup: &str) -> Self {
        self.launch = Launch::MountNamespace(setup.into());
        self
    }

    /// Authenticate as `user`.
    pub fn user(mut self, user: User) -> Self {
        self.credentials = Credentials::User(user);
        self
    }

    /// Use this kubeconfig instead of a [`User`]'s.
    pub fn kubeconfig(mut self, path: PathBuf) -> Self {
        self.credentials = Credentials::Kubeconfig(path);
        self
    }

    /// No API server: a kubeconfig whose server (`https://127.0.0.1:1`) refuses every
    /// connection, and the test API server is not started. For what is decided before any
    /// request (if validation let anything through, the run would hang or fail differently),
    /// `depwait rbac`, and a server that is down.
    pub fn offline(self) -> Self {
        self.server("https://127.0.0.1:1")
    }

    /// A kubeconfig for the server at `url` (with a token no server knows, and the system's
    /// trust), for a server the test plays itself; the test API server is not started.
    pub fn server(mut self, url: &str) -> Self {
        self.credentials = Credentials::Server(url.into());
        self
    }

    /// Add arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Log the heartbeat every second (the shortest `--heartbeat`): the evidence
    /// [`Running::expect_holding`] waits for.
    pub fn heartbeat(mut self) -> Self {
        self.heartbeat = true;
        self.args(["--heartbeat", "1s"])
    }

    /// Set an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Send stdout to `sink` (default: collected).
    pub fn stdout(mut self, sink: Sink) -> Self {
        self.stdout = sink;
        self
    }

    /// Send stderr to `sink` (default: collected).
    pub fn stderr(mut self, sink: Sink) -> Self {
        self.stderr = sink;
        self
    }

    /// Start it. Only the variables set here reach it, besides `KUBECONFIG` and
    /// `DEPWAIT_TERMINATION_LOG` (a fresh path, written only if depwait writes it): nothing from
    /// the developer's shell (a stray NAMESPACE_LABEL_DICT, TIMEOUT, RUST_LOG, KUBECONFIG or
    /// proxy) can change what a test checks. Its stdin is empty.
    pub fn spawn(self) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let mut termination_log = dir.path().join("termination-log");
        let mut command = match &self.launch {
            Launch::Direct => tokio::process::Command::new(depwait_binary()),
            Launch::Chroot(root) => {
                let mut chroot = tokio::process::Command::new(on_path("chroot"));
                chroot
                    .arg("--userspec=10001:10001")
                    .arg(root)
                    .arg("/depwait");
                chroot
            }
            Launch::MountNamespace(setup) => {
                let mut unshare = tokio::process::Command::new(on_path("unshare"));
                // PATH for the setup's commands only: the shell does not export it.
                let script = format!(
                    "set -e; PATH=/usr/sbin:/usr/bin:/sbin:/bin; {setup}\nexec \"$0\" \"$@\""
                );
                unshare
                    .args(["--mount", "/bin/sh", "-c", &script])
                    .arg(depwait_binary());
                unshare
            }
        };
        command.args(&self.args).env_clear();
        let kubeconfig = match (&self.launch, self.credentials) {
            (_, Credentials::Kubeconfig(path)) => Some(path),
            (Launch::Direct, Credentials::User(user)) => Some(TestEnv::get().kubeconfig(user)),
            (Launch::Direct, Credentials::Server(url)) => Some(server_kubeconfig(dir.path(), &url)),
            // Only what exists inside: in-cluster configuration, if anything.
            (Launch::Chroot(_) | Launch::MountNamespace(_), _) => None,
        };
        if let Some(kubeconfig) = kubeconfig {
            command.env("KUBECONFIG", kubeconfig);
        }
        if let Launch::Chroot(root) = &self.launch {
            // Not writable for uid 10001 (depwait then only logs that at debug level): an
            // image has no /dev/termination-log until the kubelet mounts one.
            command.env("DEPWAIT_TERMINATION_LOG", "/termination-log");
            termination_log = root.join("termination-log");
        } else {
            command.env("DEPWAIT_TERMINATION_LOG", &termination_log);
        }
        let mut child = command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(self.stdout.stdio())
            .stderr(self.stderr.stdio())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn depwait");
        let stdout = Collected::start(child.stdout.take());
        let stderr = Collected::start(child.stderr.take());
        Running {
            child,
            stdout,
            stderr,
            cursor: 0,
            heartbeat: self.heartbeat,
            termination_log,
            _dir: dir,
        }
    }

    /// Start it and wait for it to exit; see [`Running::wait`].
    pub async fn run(self, limit: Duration) -> Finished {
        self.spawn().wait(limit).await
    }

    /// [`Self::run`] for a test with no runtime of its own (a plain `#[test]`).
    pub fn run_blocking(self, limit: Duration) -> Finished {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for depwait's pipes")
            .block_on(self.run(limit))
    }
}

/// Write, in `dir`, a kubeconfig for the server at `url` with the token `t`.
fn server_kubeconfig(dir: &Path, url: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": url}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    });
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

/// A pipe read to the end as the data comes: a chatty child never blocks on a full pipe, and
/// tests can look at what it has written so far.
struct Collected {
    bytes: Arc<Mutex<Vec<u8>>>,
    /// The task reading the pipe; `None` once the writer closed it and all of it was read.
    reader: Option<JoinHandle<()>>,
}

impl Collected {
    /// Read `pipe` as it comes; no pipe (the stream went elsewhere, see [`Sink`]) is nothing.
    fn start(pipe: Option<impl AsyncRead + Unpin + Send + 'static>) -> Collected {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let Some(mut pipe) = pipe else {
            return Collected {
                bytes,
                reader: None,
            };
        };
        let sink = bytes.clone();
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = pipe.read(&mut buf).await {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Collected {
            bytes,
            reader: Some(reader),
        }
    }

    /// Decoded only here, so a character split across two reads stays whole.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap()).into_owned()
    }

    /// The whole lines from byte `from` on, each with the offset just past it. A line still
    /// being written is left for later (it could match a needle only in part), unless the pipe
    /// is closed.
    fn lines_from(&self, from: usize) -> Vec<(usize, String)> {
        let bytes = self.bytes.lock().unwrap();
        let mut lines = Vec::new();
        let mut start = from;
        while start < bytes.len() {
            let end = match bytes[start..].iter().position(|&b| b == b'\n') {
                Some(n) => start + n + 1,
                None if self.reader.is_none() => bytes.len(),
                None => break,
            };
            lines.push((
                end,
                String::from_utf8_lossy(&bytes[start..end]).into_owned(),
            ));
            start = end;
        }
        lines
    }

    /// Wait until the writer has closed the pipe and everything in it is read.
    async fn closed(&mut self) {
        if let Some(reader) = self.reader.take() {
            let _ = reader.await;
        }
    }

    /// Everything, once the writer has closed the pipe.
    async fn finish(mut self) -> String {
        self.closed().await;
        self.text()
    }
}

/// A depwait process under test.
pub struct Running {
    child: tokio::process::Child,
    stdout: Collected,
    stderr: Collected,
    /// Byte offset in stderr just past the line the last successful wait matched: each wait
    /// reads only what came after, so a line from an earlier phase cannot satisfy a later one.
    cursor: usize,
    /// It logs a heartbeat every second ([`Depwait::heartbeat`]).
    heartbeat: bool,
    termination_log: PathBuf,
    /// Holds the termination log.
    _dir: tempfile::TempDir,
}

/// How a depwait run ended.
pub struct Finished {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it logged.
    pub stderr: String,
    /// The termination message, if it wrote one.
    pub termination_log: Option<String>,
}

impl std::fmt::Debug for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code {:?}\n--- stdout\n{}--- stderr\n{}--- termination log\n{}",
            self.code,
            self.stdout,
            self.stderr,
            self.termination_log.as_deref().unwrap_or("(none)")
        )
    }
}

impl Running {
    /// What it has logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Wait for a line logged after the last wait's line that contains `needle`: the point a
    /// scenario's next step may depend on. Later waits read on from there. Panics (with the log)
    /// after `limit` or if it exits first; a hang guard, not a timing check.
    pub async fn wait_for_log(&mut self, needle: &str, limit: Duration) {
        self.wait_for_logs(&[needle], limit).await;
    }

    /// Wait for each of `needles` on a line logged after the last wait's line, in whatever
    /// order they come (as the first verdicts of several dependencies do); later waits read on
    /// from the last of those lines. Panics as [`Self::wait_for_log`] does.
    pub async fn wait_for_logs(&mut self, needles: &[&str], limit: Duration) {
        let mut found = vec![false; needles.len()];
        self.wait_for_lines(&format!("{needles:?}"), limit, |line| {
            for (needle, found) in needles.iter().zip(&mut found) {
                *found |= line.contains(needle);
            }
            found.iter().all(|f| *f)
        })
        .await;
    }

    /// Read the lines after the cursor, in order, until `done` says the one it was given
    /// completes what the caller waits for; the cursor moves past that line. `what` names it
    /// in the panic.
    async fn wait_for_lines(
        &mut self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = tokio::time::Instant::now() + limit;
        let mut read = self.cursor;
        loop {
            for (end, line) in self.stderr.lines_from(read) {
                read = end;
                if done(&line) {
                    self.cursor = end;
                    return line;
                }
            }
            if let Some(status) = self.try_finished() {
                if self.stderr.reader.is_none() {
                    panic!(
                        "depwait exited ({status}) before logging {what}:\n{}",
                        self.stderr()
                    );
                }
                // Its last lines may still be in the pipe: read them before giving up.
                let _ = tokio::time::timeout_at(deadline, self.stderr.closed()).await;
                continue;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "depwait did not log {what} within {limit:?}:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How it exited, if it has.
    pub fn try_finished(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("poll depwait")
    }

    /// Positive evidence that it holds: a heartbeat logged after the last wait's line whose
    /// list of what is not ready contains `missing` (e.g. `1 of 2 not ready: ns app=db: 0/1
    /// ready`), and the process still there after it. A heartbeat lists the verdicts depwait
    /// holds at that moment, and comes only from a wait that did not release on them; it shows
    /// the state the test made only if the last wait saw that state, or `missing` says it (an
    /// update already sent may not be judged yet). Unlike a sleep, it fails when depwait
    /// releases before it can say what it still waits for. Later waits read on from the
    /// heartbeat. Needs [`Depwait::heartbeat`].
    pub async fn expect_holding(&mut self, missing: &str) {
        assert!(
            self.heartbeat,
            "expect_holding needs Depwait::heartbeat(): the default heartbeat comes every 30 s"
        );
        let heartbeat = self
            .wait_for_lines(&format!("a heartbeat with {missing:?}"), LIMIT, |line| {
                line.split_once("still waiting (")
                    .is_some_and(|(_, said)| said.contains(missing))
            })
            .await;
        if let Some(status) = self.try_finished() {
            panic!(
                "depwait exited ({status}) after a heartbeat said it holds ({}):\n{}",
                heartbeat.trim_end(),
                self.stderr()
            );
        }
    }

    /// Its TCP connections to `port` (on any address) that are established now, read from
    /// `/proc`: its socket descriptors matched against the kernel's TCP table.
    pub fn connections_to(&self, port: u16) -> usize {
        let pid = self.child.id().expect("still running");
        let inodes: std::collections::BTreeSet<String> =
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .unwrap()
                .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .filter_map(|target| {
                    let t = target.to_string_lossy().into_owned();
                    Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
                })
                .collect();
        let mut count = 0;
        for table in ["tcp", "tcp6"] {
            let text =
                std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
                let (Some(remote), Some(state), Some(inode)) =
                    (fields.get(2), fields.get(3), fields.get(9))
                else {
                    continue;
                };
                let remote_port = remote
                    .rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok());
                if remote_port == Some(port) && *state == "01" && inodes.contains(*inode) {
                    count += 1;
                }
            }
        }
        count
    }

    /// Send a signal (`TERM`, `INT`, ...).
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} {pid}");
    }

    /// Wait for it to exit (hang guard: one minute) and assert its exit code.
    pub async fn expect_exit(self, code: i32) -> Finished {
        let done = self.wait(LIMIT).await;
        assert_eq!(done.code, Some(code), "{done:?}");
        done
    }

    /// Wait for it to exit. Kills it and panics with its log after `limit`: a hang guard, not
    /// a timing assertion.
    pub async fn wait(mut self, limit: Duration) -> Finished {
        let status = match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.expect("wait for depwait"),
            Err(_) => {
                let _ = self.child.kill().await;
                panic!(
                    "depwait still running after {limit:?}, killed:\n{}",
                    self.stderr.finish().await
                );
            }
        };
        Finished {
            code: status.code(),
            stdout: self.stdout.finish().await,
            stderr: self.stderr.finish().await,
            termination_log: std::fs::read_to_string(&self.termination_log).ok(),
        }
    }
}

/// A program from our PATH: the child's environment is cleared, and with it the PATH a bare
/// name would be looked up in.
fn on_path(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.exists())
        .unwrap_or_else(|| panic!("{name} on PATH"))
}

/// The binary under test. Cargo names it to integration tests; the demo (an example, which
/// cargo does not tell) finds it beside its own directory, as `cargo build` lays them out.
fn depwait_binary() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_depwait") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join("depwait");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build` first",
        path.display()
    );
    path
}
