//! Kubeconfig `exec` credential plugins, run by depwait itself.
//!
//! kube runs them with a blocking `std::process::Command` inside its auth layer: on depwait's
//! one-thread runtime a plugin that hangs stops every timer and signal, and its failure message
//! carries the plugin's whole stdout — the credential. Here a plugin runs as client-go runs it
//! (the `ExecCredential` protocol: `apiVersion`, `args`, `env`, `KUBERNETES_EXEC_INFO`), but
//! asynchronously, in a process group of its own that is killed when the run ends, times out or
//! is abandoned (depwait exiting, a signal), with bounded output; its stdout is never shown.

use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use kube::config::{ExecConfig, ExecInteractiveMode};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The most a plugin may write on stdout: an ExecCredential is a few KiB (a client certificate
/// and key included).
pub const STDOUT_LIMIT: usize = 1 << 20;

/// How much of a failing plugin's stderr is kept to say why; less is shown (see [`tail`]).
const STDERR_KEPT: usize = 4 << 10;

/// How many characters of stderr's last line a failure message shows at most.
const STDERR_SHOWN: usize = 200;

/// A run longer than this is abandoned even without `--timeout`: no credential plugin takes a
/// minute unless it waits for a person, and depwait never gives it one.
pub const RUN_LIMIT: Duration = Duration::from_secs(60);

/// The ExecCredential versions client-go speaks (v1alpha1 was removed in Kubernetes 1.24).
const API_VERSIONS: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// A plugin, ready to run.
#[derive(Debug, Clone)]
pub struct Plugin {
    /// The command as the kubeconfig names it: what messages call the plugin.
    pub command: String,
    /// The kubeconfig user it belongs to, for messages.
    pub user: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    api_version: String,
    /// `KUBERNETES_EXEC_INFO`: the ExecCredential request, with the cluster when
    /// `provideClusterInfo` asks for it.
    exec_info: String,
    /// `installHint`: shown when the command is not found.
    install_hint: Option<String>,
}

/// What a plugin handed over.
#[derive(Clone)]
pub struct Issued {
    /// A bearer token, or a client certificate and key (PEM).
    pub credential: Credential,
    /// `status.expirationTimestamp`: run the plugin again before this.
    pub expires: Option<jiff::Timestamp>,
}

/// Never shows the credential.
impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("credential", &"[redacted]")
            .field("expires", &self.expires)
            .finish()
    }
}

/// The credential of an [`Issued`].
#[derive(Clone)]
pub enum Credential {
    /// `status.token`.
    Token(String),
    /// `status.clientCertificateData` and `status.clientKeyData`.
    Certificate {
        /// PEM certificate chain.
        cert: String,
        /// PEM private key.
        key: String,
    },
}

/// Why a plugin gave no credential. Messages name the command and the kubeconfig user, never
/// the plugin's arguments, environment values or stdout.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// `exec` without `command`.
    #[error("kubeconfig user `{user}`: `exec` has no `command`; name the credential plugin to run")]
    NoCommand {
        /// The kubeconfig user.
        user: String,
    },
    /// `apiVersion` missing or not one client-go speaks.
    #[error(
        "kubeconfig user `{user}`: exec `apiVersion` must be one of {} (got `{got}`)",
        API_VERSIONS.join(", ")
    )]
    ApiVersion {
        /// The kubeconfig user.
        user: String,
        /// What was there.
        got: String,
    },
    /// `interactiveMode: Always`: depwait never gives a plugin a terminal.
    #[error(
        "credential plugin `{command}` (kubeconfig user `{user}`) asks for interactiveMode Always, \
         but depwait runs plugins without a terminal; use a plugin mode that needs no prompt"
    )]
    Interactive {
        /// The command.
        command: String,
        /// The kubeconfig user.
        user: String,
    },
    /// It could not be started (not found, not executable).
    #[error(
        "cannot start credential plugin `{command}` (kubeconfig user `{user}`): {source}{hint}"
    )]
    Start {
        /// The command.
        command: String,
        /// The kubeconfig user.
        user: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
        /// `installHint`, when the kubeconfig gives one.
        hint: String,
    },
    /// It exited unsuccessfully.
    #[error(
        "credential plugin `{command}` (kubeconfig user `{user}`) failed ({status}){stderr}; its \
         output is not shown, as it may hold a credential"
    )]
    Failed {
        /// The command.
        command: String,
        /// The kubeconfig user.
        user: String,
        /// Its exit status.
        status: ExitStatus,
        /// `; stderr ends: "..."`, redacted, or nothing.
        stderr: String,
    },
    /// It did not exit in time.
    #[error(
        "credential plugin `{command}` (kubeconfig user `{user}`) did not answer within {}{}; it \
         was killed with its process group",
        humantime::format_duration(*within),
        if *by_deadline { " (--timeout)" } else { "" }
    )]
    TimedOut {
        /// The command.
        command: String,
        /// The kubeconfig user.
        user: String,
        /// How long it had.
        within: Duration,
        /// Whether `--timeout` was what ran out (else [`RUN_LIMIT`]).
        by_deadline: bool,
    },
    /// Its answer is not a usable ExecCredential.
    #[error(
        "credential plugin `{command}` (kubeconfig user `{user}`) gave no usable ExecCredential: \
         {what}; its output is not shown, as it may hold a credential"
    )]
    Answer {
        /// The command.
        command: String,
        /// The kubeconfig user.
        user: String,
        /// What is wrong with it.
        what: String,
    },
}

impl PluginError {
    /// Whether `--timeout` ran out while the plugin ran (exit 1, not 2).
    pub fn is_deadline(&self) -> bool {
        matches!(
            self,
            PluginError::TimedOut {
                by_deadline: true,
                ..
            }
        )
    }
}

/// The ExecCredential request in `KUBERNETES_EXEC_INFO`.
#[derive(Serialize)]
struct Request<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    kind: &'static str,
    spec: RequestSpec<'a>,
}

#[derive(Serialize)]
struct RequestSpec<'a> {
    interactive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<&'a kube::config::ExecAuthCluster>,
}

/// The plugin's answer: only what depwait reads.
#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    status: Option<AnswerStatus>,
}

#[derive(Deserialize)]
struct AnswerStatus {
    #[serde(rename = "expirationTimestamp")]
    expiration_timestamp: Option<String>,
    token: Option<String>,
    #[serde(rename = "clientCertificateData")]
    client_certificate_data: Option<String>,
    #[serde(rename = "clientKeyData")]
    client_key_data: Option<String>,
}

impl Plugin {
    /// The plugin of kubeconfig user `user`, checked as client-go checks it.
    pub fn new(exec: &ExecConfig, user: &str) -> Result<Plugin, PluginError> {
        let user = user.to_string();
        let command = exec
            .command
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| PluginError::NoCommand { user: user.clone() })?;
        let api_version = exec.api_version.clone().unwrap_or_default();
        if !API_VERSIONS.contains(&api_version.as_str()) {
            return Err(PluginError::ApiVersion {
                user,
                got: api_version,
            });
        }
        if exec.interactive_mode == Some(ExecInteractiveMode::Always) {
            return Err(PluginError::Interactive { command, user });
        }
        let env = exec
            .env
            .iter()
            .flatten()
            .filter_map(|e| Some((e.get("name")?.clone(), e.get("value")?.clone())))
            .collect();
        let request = Request {
            api_version: &api_version,
            kind: "ExecCredential",
            spec: RequestSpec {
                interactive: false,
                cluster: exec.cluster.as_ref().filter(|_| exec.provide_cluster_info),
            },
        };
        // Serializing plain strings, bools and byte arrays cannot fail.
        let exec_info = serde_json::to_string(&request).unwrap_or_default();
        Ok(Plugin {
            command,
            user,
            args: exec.args.clone().unwrap_or_default(),
            env,
            api_version,
            exec_info,
            install_hint: exec.install_hint.clone(),
        })
    }

    /// Run it once, for at most `within` (`by_deadline`: that is what `--timeout` leaves).
    pub async fn run(&self, within: Duration, by_deadline: bool) -> Result<Issued, PluginError> {
        let (within, by_deadline) = if within < RUN_LIMIT {
            (within, by_deadline)
        } else {
            (RUN_LIMIT, false)
        };
        let mut command = tokio::process::Command::new(&self.command);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("KUBERNETES_EXEC_INFO", &self.exec_info)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| PluginError::Start {
            command: self.command.clone(),
            user: self.user.clone(),
            hint: match &self.install_hint {
                Some(h) if source.kind() == std::io::ErrorKind::NotFound => {
                    format!(". {}", crate::text::escape(h.trim()))
                }
                _ => String::new(),
            },
            source,
        })?;
        // Holding the group kills it, whatever way this future ends: finished, timed out, or
        // dropped because depwait is exiting.
        let group = child.id().map(ProcessGroup::new);
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let run = async {
            let exited = async {
                let status = child.wait().await;
                // Anything it left behind in its group would hold the pipes open.
                if let Some(g) = &group {
                    g.kill();
                }
                status
            };
            let out = async {
                match stdout {
                    Some(pipe) => read_bounded(pipe, STDOUT_LIMIT, group.as_ref()).await,
                    None => Some(Vec::new()),
                }
            };
            let err = async {
                match stderr {
                    Some(pipe) => read_tail(pipe, STDERR_KEPT).await,
                    None => Vec::new(),
                }
            };
            tokio::join!(exited, out, err)
        };
        let (status, out, err) = match tokio::time::timeout(within, run).await {
            Ok(done) => done,
            Err(_) => {
                return Err(PluginError::TimedOut {
                    command: self.command.clone(),
                    user: self.user.clone(),
                    within,
                    by_deadline,
                });
            }
        };
        drop(group);
        let answer = |what: String| PluginError::Answer {
            command: self.command.clone(),
            user: self.user.clone(),
            what,
        };
        let status = status.map_err(|e| answer(format!("waiting for it failed: {e}")))?;
        if !status.success() {
            return Err(PluginError::Failed {
                command: self.command.clone(),
                user: self.user.clone(),
                status,
                stderr: match tail(&err) {
                    t if t.is_empty() => String::new(),
                    t => format!("; stderr ends: \"{t}\""),
                },
            });
        }
        let Some(out) = out else {
            return Err(answer(format!(
                "it wrote more than {} KiB on stdout",
                STDOUT_LIMIT >> 10
            )));
        };
        self.parse(&out).map_err(|e| answer(e.to_string()))
    }

    /// Read an answer as client-go does: the same apiVersion back, a status with a token or a
    /// certificate and key pair. Errors say what is missing, never what is there.
    fn parse(&self, stdout: &[u8]) -> Result<Issued, BadAnswer> {
        let answer: Answer =
            serde_saphyr::from_slice_with_options(stdout, super::kubeconfig::yaml_options())
                .map_err(|e| {
                    let (line, column, kind) = super::kubeconfig::yaml_error_parts(&e);
                    BadAnswer::NotYaml { kind, line, column }
                })?;
        if answer.api_version.as_deref() != Some(&self.api_version) {
            return Err(BadAnswer::ApiVersion(self.api_version.clone()));
        }
        let status = answer.status.ok_or(BadAnswer::NoStatus)?;
        let expires = match status.expiration_timestamp.as_deref() {
            None | Some("") => None,
            Some(t) => Some(
                t.parse::<jiff::Timestamp>()
                    .map_err(|_| BadAnswer::Expiration)?,
            ),
        };
        let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        let credential = match (
            nonempty(status.token),
            nonempty(status.client_certificate_data),
            nonempty(status.client_key_data),
        ) {
            (_, Some(cert), Some(key)) => Credential::Certificate { cert, key },
            (_, Some(_), None) | (_, None, Some(_)) => return Err(BadAnswer::HalfAPair),
            (Some(token), None, None) => Credential::Token(token),
            (None, None, None) => return Err(BadAnswer::Anonymous),
        };
        Ok(Issued {
            credential,
            expires,
        })
    }
}

/// The plugin's process group, killed (SIGKILL) when this is dropped: a plugin is killed with
/// everything it started, whatever ends the run. Also registered for the panic hook.
struct ProcessGroup(i32);

/// Process groups of running plugins, for the panic hook: with `panic = "abort"` nothing is
/// dropped on a panic.
static RUNNING: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static HOOK: std::sync::Once = std::sync::Once::new();

impl ProcessGroup {
    fn new(pid: u32) -> ProcessGroup {
        let pgid = pid as i32;
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if let Ok(groups) = RUNNING.lock() {
                    for &g in groups.iter() {
                        kill_group(g);
                    }
                }
                previous(info);
            }));
        });
        if let Ok(mut groups) = RUNNING.lock() {
            groups.push(pgid);
        }
        ProcessGroup(pgid)
    }

    fn kill(&self) {
        kill_group(self.0);
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
        if let Ok(mut groups) = RUNNING.lock() {
            groups.retain(|&g| g != self.0);
        }
    }
}

fn kill_group(pgid: i32) {
    if pgid > 1 {
        // SAFETY: kill(2) has no memory effects; a group that is already gone gives ESRCH,
        // which is what we want.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// All of `pipe`, or `None` (and the group killed) past `limit` bytes.
async fn read_bounded(
    mut pipe: impl AsyncRead + Unpin,
    limit: usize,
    group: Option<&ProcessGroup>,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return Some(out),
            Ok(n) if out.len() + n > limit => {
                if let Some(g) = group {
                    g.kill();
                }
                return None;
            }
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// The last `keep` bytes of `pipe`, read to its end.
async fn read_tail(mut pipe: impl AsyncRead + Unpin, keep: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n @ 1..) = pipe.read(&mut buf).await {
        out.extend_from_slice(&buf[..n]);
        if out.len() > 2 * keep {
            out.drain(..out.len() - keep);
        }
    }
    if out.len() > keep {
        out.drain(..out.len() - keep);
    }
    out
}

/// What a failure message shows of a plugin's stderr: its last non-empty line, at most
/// `STDERR_SHOWN` characters of it, control characters escaped, and anything that looks like
/// a token (24 or more characters of a token's alphabet in a row) replaced by `[redacted]`.
pub fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let Some(line) = text.lines().map(str::trim).rfind(|l| !l.is_empty()) else {
        return String::new();
    };
    let redacted = redact(line);
    crate::text::escape(&crate::text::ellipsize(&redacted, STDERR_SHOWN)).into_owned()
}

fn redact(text: &str) -> String {
    let tokenish = |c: char| c.is_ascii_alphanumeric() || "-_.~+=".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().count() >= 24 {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if tokenish(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Why a plugin's answer is not a credential: what is missing, never what is there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum BadAnswer {
    /// stdout does not parse.
    #[error("stdout is not an ExecCredential ({kind} at line {line} column {column})")]
    NotYaml {
        /// What kind of mistake (never its text, which can quote the token).
        kind: &'static str,
        /// Where.
        line: u64,
        /// Where.
        column: u64,
    },
    /// A different apiVersion than the kubeconfig asked for.
    #[error("its apiVersion is not {0}, the one the kubeconfig asks for")]
    ApiVersion(String),
    /// No `status`.
    #[error("it has no status (the field with the token)")]
    NoStatus,
    /// `status.expirationTimestamp` is not a time.
    #[error("status.expirationTimestamp is not an RFC 3339 time")]
    Expiration,
    /// A certificate without its key, or a key without its certificate.
    #[error(
        "it returned only one of status.clientCertificateData and status.clientKeyData; both are needed"
    )]
    HalfAPair,
    /// Nothing to authenticate with.
    #[error(
        "it returned neither status.token nor a client certificate (status.clientCertificateData and status.clientKeyData), so depwait would be anonymous; fix the plugin or its configuration"
    )]
    Anonymous,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin() -> Plugin {
        let exec = ExecConfig {
            api_version: Some(API_VERSIONS[0].into()),
            command: Some("/bin/true".into()),
            ..Default::default()
        };
        Plugin::new(&exec, "u").unwrap()
    }

    #[test]
    fn stderr_tail_is_short_and_redacted() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
        let stderr = format!("starting\nerror: token {jwt} rejected\x1b[31m\n\n");
        let t = tail(stderr.as_bytes());
        assert!(!t.contains(jwt), "{t}");
        assert!(t.contains("[redacted]"), "{t}");
        assert!(t.contains("rejected"), "{t}");
        assert!(!t.contains('\x1b'), "{t}");
        assert!(!t.contains("starting"), "{t}");
        let long = "word ".repeat(100);
        assert!(tail(long.as_bytes()).chars().count() <= STDERR_SHOWN + 1);
    }

    #[test]
    fn an_answer_without_token_or_certificate_is_an_error() {
        let e = plugin()
            .parse(
                br#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{}}"#,
            )
            .unwrap_err();
        assert_eq!(e, BadAnswer::Anonymous);
        assert!(e.to_string().contains("neither status.token"), "{e}");
    }

    #[test]
    fn an_answer_that_does_not_parse_is_not_quoted() {
        let secret = "s3cr3t-value-in-a-broken-answer";
        let e = plugin()
            .parse(format!("{{\"status\": \"{secret}\"").as_bytes())
            .unwrap_err();
        assert!(!e.to_string().contains(secret), "{e}");
        let e = plugin()
            .parse(format!("{{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"status\": \"{secret}\"}}").as_bytes())
            .unwrap_err();
        assert!(!e.to_string().contains(secret), "{e}");
    }

    #[test]
    fn token_expiry_and_version_are_read() {
        let issued = plugin()
            .parse(br#"{"apiVersion":"client.authentication.k8s.io/v1","status":{"token":"t","expirationTimestamp":"2030-01-01T00:00:00Z"}}"#)
            .unwrap();
        assert!(matches!(issued.credential, Credential::Token(ref t) if t == "t"));
        assert!(issued.expires.is_some());
        let e = plugin()
            .parse(
                br#"{"apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"t"}}"#,
            )
            .unwrap_err();
        assert!(matches!(e, BadAnswer::ApiVersion(_)), "{e}");
    }

    #[test]
    fn exec_info_carries_the_request() {
        let p = plugin();
        let info: serde_json::Value = serde_json::from_str(&p.exec_info).unwrap();
        assert_eq!(info["kind"], "ExecCredential");
        assert_eq!(info["apiVersion"], API_VERSIONS[0]);
        assert_eq!(info["spec"]["interactive"], false);
    }
}
