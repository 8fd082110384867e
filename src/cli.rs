//! The command line: flags, their environment fallbacks, and `--help` text that teaches.
//!
//! clap only collects text here; every value is validated in `config`, which knows whether a
//! value came from a flag or from the seed's environment variables and names the right one.

use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};

const AFTER_HELP: &str = "\
Examples:
  # Wait for two pod sets in different namespaces; a quorum of 2 ZooKeeper pods is enough.
  depwait --pods 'namespace-1:app=MyApp,environment=dev' --pods 'db:app=zk:2' --timeout 5m

  # Drop-in for service-precheck: the same DNS-name args, answered by watching endpoints.
  depwait mysql-0.mysql.db mysql-read.db

  # Services with ready endpoints (a quorum of 3), pods, and a name only DNS can answer.
  depwait --service db/mysql-read --service db/zookeeper-headless:3 --pods 'app:app=web' api.example.com.

  # Drop-in for the pod-existence-check init container: same environment, no changes.
  NAMESPACE_LABEL_DICT='{\"namespace-1\": [{\"app\": \"MyApp\", \"environment\": \"dev\"}]}' \\
  TIMEOUT=300 RETRY_INTERVAL=15 depwait

  # A migration Job, two rollouts, a Flux Kustomization, a PVC bound, a database port.
  depwait --job db/migrate --rollout app/deployment/api --rollout db/statefulset/zk \\
    --resource 'flux-system/kustomizations.kustomize.toolkit.fluxcd.io/infra' \\
    --resource 'db/persistentvolumeclaims/data:jsonpath={.status.phase}=Bound' \\
    --tcp db.internal:5432 --http http://api.app.svc:8080/healthz

  # At 3 a.m.: what is this rollout waiting for? One look, a table, no waiting.
  depwait check --pods 'shop:app=web' --pods 'db:app=zk:2'     # or: kubectl depwait check ...

  # Machine-readable progress for CI and GitOps tooling, and an Event on the pod on failure.
  depwait --pods 'db:app=zk:2' --output json --emit-events

Readiness: a pod counts unless it is terminating (deletionTimestamp set) or finished
(Succeeded/Failed, e.g. evicted). Without MIN, a dependency is ready when at least one pod counts
and every counted pod has condition Ready=True; with MIN, when at least MIN counted pods are Ready.
A namespace that does not exist yet, or no matching pod yet, means: keep waiting.
A Service is ready when it has at least MIN (default 1) ready endpoints in its EndpointSlices;
a Service that does not exist yet means: keep waiting.
HOST names of cluster form (svc.ns, host.svc.ns, with or without .svc[.CLUSTER-DOMAIN]) are such
Services (host.svc.ns: the endpoint with that hostname, e.g. a StatefulSet pod); other names, and
all names when EndpointSlices may not be watched, are resolved through DNS until they resolve.
A --job is ready when Complete or SuccessCriteriaMet is True; a --rollout when `kubectl rollout
status` would say so; a --resource when its FOR holds (kubectl wait's rules); a --tcp port when it
accepts a connection; an --http URL when a GET answers 2xx (or the statuses after `#`).
depwait releases the moment every dependency is ready at the same time.

Exit codes:
  0    every dependency is ready
  1    timed out
  2    bad configuration or usage; nothing was sent to the API server
  3    access denied, or another API error that waiting cannot fix
  4    a dependency failed (a Job's Failed=True); waiting cannot help
  130  interrupted by SIGINT
  143  terminated by SIGTERM (e.g. the pod is being deleted)

On a non-zero exit, a summary of what was not ready is written to the termination-message file
(DEPWAIT_TERMINATION_LOG, default /dev/termination-log) so `kubectl describe pod` shows it.
Kubernetes credentials are found the usual way: the in-cluster service account, else KUBECONFIG
or ~/.kube/config.";

/// Hold a pod's startup until the pods, Services and names it depends on are ready. Watches what
/// can be watched; only DNS names outside the cluster are polled.
#[derive(Debug, Parser)]
#[command(name = "depwait", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    /// Without a command, depwait waits.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Pods to wait for, as NAMESPACE:SELECTOR[:MIN]. Repeat for more.
    ///
    /// SELECTOR is kubectl's label-selector grammar: `app=web`, `app!=web`, `tier in (a,b)`,
    /// `tier notin (a)`, `canary`, `!canary`, joined by commas. Without MIN every matching pod
    /// must be Ready (and at least one must exist); with MIN, at least MIN must be Ready,
    /// e.g. `db:app=zk:2` for a ZooKeeper quorum.
    #[arg(long = "pods", value_name = "NS:SELECTOR[:MIN]", global = true)]
    pub pods: Vec<String>,

    /// A Service with at least MIN (default 1) ready endpoints, as NAMESPACE/NAME[:MIN].
    ///
    /// Read from the Service's EndpointSlices by watch. An ExternalName Service is ready when
    /// its external name resolves.
    #[arg(long = "service", value_name = "NS/NAME[:MIN]", global = true)]
    pub services: Vec<String>,

    /// A Job that must complete, as NAMESPACE/NAME. A Job that fails (`Failed=True`) ends the
    /// wait at once with exit code 4.
    #[arg(long = "job", value_name = "NS/NAME", global = true)]
    pub jobs: Vec<String>,

    /// A rollout that must finish, as NAMESPACE/KIND/NAME; KIND is `deployment`, `statefulset`
    /// or `daemonset` (or kubectl's short and plural names). Judged as `kubectl rollout status`.
    #[arg(long = "rollout", value_name = "NS/KIND/NAME", global = true)]
    pub rollouts: Vec<String>,

    /// Any object, including custom resources: NAMESPACE/TYPE/NAME[:FOR], or TYPE/NAME[:FOR]
    /// for cluster-scoped ones.
    ///
    /// TYPE as kubectl takes it: `kind`, `plural`, `plural.group` or `plural.version.group`
    /// (`certificates.cert-manager.io`). FOR is kubectl wait's --for: `condition=NAME[=VALUE]`
    /// (default `condition=Ready`), `jsonpath=EXPR[=VALUE]`, `create` or `delete`. A type the
    /// server does not serve yet (CRD not installed) means: keep waiting.
    #[arg(long = "resource", value_name = "NS/TYPE/NAME[:FOR]", global = true)]
    pub resources: Vec<String>,

    /// A TCP port that must accept connections, as HOST:PORT (`db.internal:5432`,
    /// `[fd00::1]:5432`). Probed with a short capped backoff: a port cannot be watched.
    #[arg(long = "tcp", value_name = "HOST:PORT", global = true)]
    pub tcp: Vec<String>,

    /// An HTTP(S) URL whose GET must answer 2xx; `URL#200,3xx` accepts those statuses instead
    /// (a fragment is never sent). Probed with a short capped backoff.
    ///
    /// HTTPS trusts Mozilla's roots (built in), the cluster CA of the service account, and
    /// SSL_CERT_FILE.
    #[arg(long = "http", value_name = "URL[#STATUSES]", global = true)]
    pub http: Vec<String>,

    /// Read more dependencies from a YAML or JSON file: lists named like the flags (`pods`,
    /// `services`, `hosts`, `dns`, `jobs`, `rollouts`, `resources`, `tcp`, `http`), each entry
    /// in that flag's grammar. Combines with the flags.
    #[arg(
        long = "config",
        env = "DEPWAIT_CONFIG",
        value_name = "FILE",
        global = true
    )]
    pub config: Option<PathBuf>,

    /// Resolve this name through DNS until it resolves, even if it looks like a Service name.
    #[arg(long = "dns", value_name = "HOST", global = true)]
    pub dns: Vec<String>,

    /// The cluster's DNS domain, for HOST names ending in `.svc.CLUSTER-DOMAIN`.
    #[arg(
        long,
        env = "DEPWAIT_CLUSTER_DOMAIN",
        value_name = "DOMAIN",
        default_value = "cluster.local",
        global = true
    )]
    pub cluster_domain: String,

    /// service-precheck's arguments: DNS names to wait for (`mysql-0.mysql.db`,
    /// `mysql-read.db`, `api.example.com.`).
    ///
    /// A name of cluster form becomes a watch of that Service's ready endpoints (for
    /// `host.svc.ns`, the endpoint whose hostname is `host`); any other name is resolved
    /// through DNS with a short backoff. A trailing dot makes a name absolute: DNS only.
    #[arg(value_name = "HOST")]
    pub hosts: Vec<String>,

    /// The seed's JSON: {"namespace": [{"label": "value", ...}, ...], ...}.
    ///
    /// Every label object is one dependency (an equality selector on those labels). Combines
    /// with --pods.
    #[arg(
        long = "namespace-label-dict",
        env = "NAMESPACE_LABEL_DICT",
        value_name = "JSON",
        hide_env_values = true,
        global = true
    )]
    pub namespace_label_dict: Option<String>,

    /// Give up after this long: `90s`, `5m`, `1h30m`, or bare seconds (`300`). `0` waits forever.
    ///
    /// Units: ms, s, m (minutes), h, d, w. `M`, months and years are refused: `5M` would be
    /// five months.
    #[arg(
        long,
        env = "TIMEOUT",
        value_name = "DURATION",
        default_value = "300",
        global = true
    )]
    pub timeout: String,

    /// Accepted for compatibility with pod-existence-check; validated, never used.
    ///
    /// depwait watches instead of polling, so this interval never delays a release: depwait
    /// exits the moment the last dependency turns Ready.
    #[arg(long, env = "RETRY_INTERVAL", value_name = "DURATION", global = true)]
    pub retry_interval: Option<String>,

    /// Log a line saying what is still missing every DURATION (1s or more) while waiting; `0`
    /// turns it off.
    #[arg(
        long,
        env = "DEPWAIT_HEARTBEAT",
        value_name = "DURATION",
        default_value = "30s"
    )]
    pub heartbeat: String,

    /// On a timeout or API error, record a Warning Event (reason DependenciesNotReady) on this
    /// pod, named by the downward API: POD_NAME, POD_NAMESPACE and POD_UID. Needs `create` on
    /// `events`.
    ///
    /// `--emit-events` alone turns it on; `--emit-events=false` and the variable take
    /// true/false, 1/0, yes/no or on/off, in any case.
    #[arg(
        long,
        env = "DEPWAIT_EMIT_EVENTS",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        global = true
    )]
    pub emit_events: Option<String>,

    /// Log format on stderr: `text` for people, `json` for machines (one object per line;
    /// fields documented in the README). `--output json` is the same.
    #[arg(
        long,
        visible_alias = "output",
        env = "DEPWAIT_LOG_FORMAT",
        value_name = "text|json",
        default_value = "text",
        global = true
    )]
    pub log_format: String,

    /// Where to write the summary on a non-zero exit (Kubernetes' termination-message file).
    ///
    /// A missing or unwritable file is not an error: the summary is on stderr too.
    #[arg(
        long,
        env = "DEPWAIT_TERMINATION_LOG",
        value_name = "PATH",
        default_value = "/dev/termination-log",
        global = true
    )]
    pub termination_log: PathBuf,
}

/// What to do instead of waiting.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Judge every dependency once (one list per watched set, no watch) and print a table of
    /// what is ready and why not. Exit 0 if all are ready, 1 if not, 3 if access is denied, 4 if a
    /// Job failed.
    ///
    /// Installed as `kubectl-depwait` on PATH, this is `kubectl depwait check ...`.
    Check {
        /// HOST names, as for a wait.
        #[arg(value_name = "HOST")]
        hosts: Vec<String>,
    },
    /// Print the least RBAC (YAML) for exactly the dependencies given: per namespace, a Role
    /// with get/list/watch on what is watched there (pods; services and endpointslices for
    /// Services and HOST names; one object by name for --job, --rollout, --resource and
    /// --service) and a RoleBinding to the service account, both named
    /// `depwait.NAMESPACE.ACCOUNT`. Pipe it to `kubectl apply -f -`.
    Rbac {
        /// The waiting pod's service account, as NAMESPACE/NAME. A namespaced type written
        /// without a namespace (`--resource secrets/db:create`) is granted in this namespace:
        /// the pod's own, where the wait looks for it.
        #[arg(long, value_name = "NS/NAME")]
        service_account: String,
        /// The waiting pod's fixed name (a StatefulSet's or a bare pod's): the reads of the pod
        /// itself (the restart guard; an Event's UID) are narrowed to it. Without it they cover
        /// the pods of the service account's namespace (a Deployment's pod names are not known
        /// ahead).
        #[arg(long, value_name = "NAME")]
        pod_name: Option<String>,
        /// HOST names, as for a wait.
        #[arg(value_name = "HOST")]
        hosts: Vec<String>,
    },
    /// Print shell completions for bash, zsh, fish, elvish or powershell.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `depwait man > depwait.1`.
    Man,
}

/// How progress is written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A value as the user gave it, with the flag or variable it came from, for error messages.
///
/// clap only collects these values: validated by clap, a bad `DEPWAIT_LOG_FORMAT` would be
/// reported as a bad `--log-format`, naming a flag the user never typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T = String> {
    /// The raw text.
    pub text: T,
    /// `--timeout` or `TIMEOUT`: whichever the user actually set.
    pub name: String,
}

/// Everything the command line and environment said, before validation.
#[derive(Debug, Clone)]
pub struct Input {
    /// `None`: wait.
    pub command: Option<Command>,
    /// `--pods` values in the order given.
    pub pods: Vec<String>,
    /// `--service` values in the order given.
    pub services: Vec<String>,
    /// Positional HOST names (before and after a subcommand), in order.
    pub hosts: Vec<String>,
    /// `--dns` names in order.
    pub dns: Vec<String>,
    /// `--job` values in order.
    pub jobs: Vec<String>,
    /// `--rollout` values in order.
    pub rollouts: Vec<String>,
    /// `--resource` values in order.
    pub resources: Vec<String>,
    /// `--tcp` values in order.
    pub tcp: Vec<String>,
    /// `--http` values in order.
    pub http: Vec<String>,
    /// `--config` file (or `DEPWAIT_CONFIG`).
    pub config: Option<Sourced<PathBuf>>,
    /// The cluster DNS domain.
    pub cluster_domain: Sourced,
    /// The seed's JSON dependency list.
    pub namespace_label_dict: Option<Sourced>,
    /// Overall deadline.
    pub timeout: Sourced,
    /// The seed's poll interval, validated only.
    pub retry_interval: Option<Sourced>,
    /// Interval of the "still waiting" line.
    pub heartbeat: Sourced,
    /// Record a Kubernetes Event on failure: `--emit-events[=BOOL]` or the variable, unparsed.
    pub emit_events: Option<Sourced>,
    /// Log format, unparsed (`config::log_format` reads it).
    pub log_format: Sourced,
    /// Termination-message path.
    pub termination_log: PathBuf,
}

impl Input {
    /// Parse the process arguments. A usage error (an unknown flag, a missing value) and
    /// `--help`/`--version` come back as clap's error, for `main` to print and exit with.
    pub fn from_args() -> Result<Self, clap::Error> {
        Ok(Self::from_matches(&Cli::command().try_get_matches()?))
    }

    /// Parse an explicit argument list (tests); environment fallbacks still apply.
    pub fn try_from_iter<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Ok(Self::from_matches(
            &Cli::command().try_get_matches_from(args)?,
        ))
    }

    fn from_matches(matches: &ArgMatches) -> Self {
        // `from_arg_matches` only fails for arguments the derive did not declare.
        let cli = Cli::from_arg_matches(matches).unwrap_or_else(|e| e.exit());
        let sourced = |id: &str, flag: &str, var: &str, text: String| {
            sourced_from(matches, id, flag, var, text)
        };
        let mut hosts = cli.hosts;
        if let Some(Command::Check { hosts: more } | Command::Rbac { hosts: more, .. }) =
            &cli.command
        {
            hosts.extend(more.iter().cloned());
        }
        Input {
            command: cli.command,
            pods: cli.pods,
            services: cli.services,
            hosts,
            dns: cli.dns,
            jobs: cli.jobs,
            rollouts: cli.rollouts,
            resources: cli.resources,
            tcp: cli.tcp,
            http: cli.http,
            config: cli
                .config
                .map(|p| sourced_from(matches, "config", "--config", "DEPWAIT_CONFIG", p)),
            cluster_domain: sourced(
                "cluster_domain",
                "--cluster-domain",
                "DEPWAIT_CLUSTER_DOMAIN",
                cli.cluster_domain,
            ),
            namespace_label_dict: cli.namespace_label_dict.map(|t| {
                sourced(
                    "namespace_label_dict",
                    "--namespace-label-dict",
                    "NAMESPACE_LABEL_DICT",
                    t,
                )
            }),
            timeout: sourced("timeout", "--timeout", "TIMEOUT", cli.timeout),
            retry_interval: cli
                .retry_interval
                .map(|t| sourced("retry_interval", "--retry-interval", "RETRY_INTERVAL", t)),
            heartbeat: sourced(
                "heartbeat",
                "--heartbeat",
                "DEPWAIT_HEARTBEAT",
                cli.heartbeat,
            ),
            emit_events: cli
                .emit_events
                .map(|t| sourced("emit_events", "--emit-events", "DEPWAIT_EMIT_EVENTS", t)),
            log_format: sourced(
                "log_format",
                "--log-format",
                "DEPWAIT_LOG_FORMAT",
                cli.log_format,
            ),
            termination_log: cli.termination_log,
        }
    }
}

/// `value` named by what set it: the variable when clap took it from the environment, else the
/// flag (also for defaults, which the flag's help documents).
fn sourced_from<T>(matches: &ArgMatches, id: &str, flag: &str, var: &str, value: T) -> Sourced<T> {
    Sourced {
        name: if matches.value_source(id) == Some(ValueSource::EnvVariable) {
            var.to_string()
        } else {
            flag.to_string()
        },
        text: value,
    }
}

/// What is needed to report a usage error the way the run would have, recovered from
/// arguments clap refused: parsed as far as they go, every unusable value left at its default.
#[derive(Debug, Clone)]
pub struct Salvaged {
    /// The log format asked for; `None` when it was not understood.
    pub log_format: Option<LogFormat>,
    /// The termination-message path.
    pub termination_log: PathBuf,
    /// The subcommand, when one was named: only a wait writes a termination message.
    pub command: Option<String>,
}

impl Salvaged {
    /// Re-read the process arguments, ignoring clap's errors.
    pub fn from_args() -> Self {
        Self::from_arg_list(std::env::args_os())
    }

    /// [`Self::from_args`] on an explicit argument list (tests).
    pub fn from_arg_list<I, T>(args: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        // Drop unknown arguments one at a time, so that flags after them still count; what is
        // left unparseable is read as far as clap gets (`ignore_errors`).
        let matches = loop {
            let e = match Cli::command().try_get_matches_from(&args) {
                Ok(m) => break m,
                Err(e) => e,
            };
            let unknown = match (e.kind(), e.get(ContextKind::InvalidArg)) {
                (ErrorKind::UnknownArgument, Some(ContextValue::String(arg))) => {
                    args.iter().skip(1).position(|a| {
                        a.to_str().is_some_and(|a| {
                            a == arg
                                || a.strip_prefix(arg.as_str())
                                    .is_some_and(|r| r.starts_with('='))
                        })
                    })
                }
                _ => None,
            };
            match unknown {
                Some(at) => {
                    args.remove(at + 1);
                }
                None => {
                    break Cli::command()
                        .ignore_errors(true)
                        .try_get_matches_from(&args)
                        .unwrap_or_default();
                }
            }
        };
        let command = matches.subcommand_name().map(str::to_string);
        // Global arguments are found on the subcommand's matches.
        let at = matches.subcommand().map(|(_, m)| m).unwrap_or(&matches);
        let text = |id: &str| at.try_get_one::<String>(id).ok().flatten().cloned();
        Salvaged {
            log_format: text("log_format").and_then(|t| LogFormat::from_text(&t)),
            termination_log: at
                .try_get_one::<PathBuf>("termination_log")
                .ok()
                .flatten()
                .cloned()
                .unwrap_or_else(|| PathBuf::from("/dev/termination-log")),
            command,
        }
    }
}

impl LogFormat {
    /// `text` or `json`, in any case.
    pub fn from_text(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// A usage error is still reported in the format, and to the file, the arguments asked
    /// for, wherever the unknown flag is.
    #[test]
    fn log_format_and_termination_log_are_salvaged_around_unknown_flags() {
        for args in [
            vec![
                "depwait",
                "--bogus",
                "--output",
                "json",
                "--termination-log",
                "/x",
            ],
            vec![
                "depwait",
                "--log-format=json",
                "--bogus=1",
                "--termination-log=/x",
                "-q",
            ],
            vec![
                "depwait",
                "--output",
                "json",
                "--termination-log",
                "/x",
                "--timeout",
            ],
        ] {
            let s = Salvaged::from_arg_list(args.clone());
            assert_eq!(s.log_format, Some(LogFormat::Json), "{args:?}");
            assert_eq!(s.termination_log, PathBuf::from("/x"), "{args:?}");
            assert_eq!(s.command, None, "{args:?}");
        }
        let s = Salvaged::from_arg_list(["depwait", "check", "--bogus"]);
        assert_eq!(s.command.as_deref(), Some("check"));
        let s = Salvaged::from_arg_list(["depwait", "--log-format", "yaml", "--bogus"]);
        assert_eq!(s.log_format, None);
    }
}
