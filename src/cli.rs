//! The command line: flags, their environment fallbacks, and `--help` text that teaches.
//!
//! clap only collects text here; every value is validated in `config`, which knows whether a
//! value came from a flag or from the seed's environment variables and names the right one.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser};

use crate::config::{self, ENTRIES, Entries, Input, LogFormat, Sourced};

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

    /// The dependencies: one flag per kind, the positional HOST names, `--config`.
    #[command(flatten)]
    pub dependencies: DependencyArgs,

    /// The cluster's DNS domain, for HOST names ending in `.svc.CLUSTER-DOMAIN`.
    #[arg(
        long,
        env = "DEPWAIT_CLUSTER_DOMAIN",
        value_name = "DOMAIN",
        default_value = config::DEFAULT_CLUSTER_DOMAIN,
        global = true
    )]
    pub cluster_domain: String,

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
        default_value = config::DEFAULT_TIMEOUT,
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
        default_value = config::DEFAULT_HEARTBEAT
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
        default_value = config::DEFAULT_LOG_FORMAT,
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
        default_value = config::DEFAULT_TERMINATION_LOG,
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
        #[arg(long, value_name = "NS/NAME", required_unless_present = "for_graph")]
        service_account: Option<String>,
        /// Print instead the read-only ClusterRole `depwait graph` needs on a live cluster
        /// (list on the workload kinds and Services), bound to --service-account if given.
        #[arg(long)]
        for_graph: bool,
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
    /// Draw the startup-dependency graph of a cluster's (or manifests') depwait gates and find
    /// what would deadlock: cycles, self-waits, unsatisfiable dependencies, and the waves of a
    /// cold start. Its own flags: `depwait graph --help`.
    #[command(disable_help_flag = true)]
    Graph {
        /// `depwait graph`'s own arguments (`-n NS`, `-f PATH`, `--output dot`, ...).
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<String>,
    },
    /// Print shell completions for bash, zsh, fish, elvish or powershell.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `depwait man > depwait.1`.
    Man,
}

/// What the command line asked for: a command (or none: wait) and the input to validate.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// `None`: wait.
    pub command: Option<Command>,
    /// Everything else, before validation.
    pub input: Input,
}

impl Invocation {
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

    /// Parse a container's command line (`args[0]` is the program) as depwait would read it in
    /// that container, with `env` as its environment in place of this process's
    /// (`depwait graph`). A value taken from `env` is named by its variable, as at run time.
    pub fn from_container<I, T>(
        args: I,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut from_env = HashSet::new();
        // clap reads an argument's variable when the argument is built, from this process:
        // drop that, and make the container's value the default the command line overrides,
        // which is what an environment fallback is.
        let command = Cli::command().mut_args(|arg| {
            let var = arg.get_env().and_then(|v| v.to_str()).map(str::to_string);
            let arg = arg.env(None);
            match var.and_then(|v| env.get(&v)) {
                Some(value) => {
                    from_env.insert(arg.get_id().to_string());
                    arg.default_value(value.clone())
                }
                None => arg,
            }
        });
        let matches = command.try_get_matches_from(args)?;
        Ok(Self::from_matches_with(&matches, &|id| {
            from_env.contains(id)
        }))
    }

    fn from_matches(matches: &ArgMatches) -> Self {
        Self::from_matches_with(matches, &|_| false)
    }

    /// `from_env(id)`: the argument's default was its variable's value (a container's).
    fn from_matches_with(matches: &ArgMatches, from_env: &dyn Fn(&str) -> bool) -> Self {
        // `from_arg_matches` only fails for arguments the derive did not declare.
        let cli = Cli::from_arg_matches(matches).unwrap_or_else(|e| e.exit());
        let sourced = |id: &str, flag: &str, var: &str, text: String| {
            sourced_from(matches, id, flag, var, text, from_env)
        };
        let DependencyArgs {
            mut entries,
            config,
        } = cli.dependencies;
        if let Some(Command::Check { hosts } | Command::Rbac { hosts, .. }) = &cli.command {
            entries.extend("hosts", hosts.iter().cloned());
        }
        let input = Input {
            entries,
            config: config.map(|p| {
                sourced_from(matches, "config", "--config", "DEPWAIT_CONFIG", p, from_env)
            }),
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
        };
        Invocation {
            command: cli.command,
            input,
        }
    }
}

impl Input {
    /// [`Invocation::try_from_iter`]'s input alone (tests).
    pub fn try_from_iter<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Ok(Invocation::try_from_iter(args)?.input)
    }
}

/// The dependency flags, the positional HOST names and `--config`, declared from the table of
/// kinds ([`ENTRIES`]): a kind added there is a flag here without a line of this file.
#[derive(Debug, Clone, Default)]
pub struct DependencyArgs {
    /// Each kind's texts, in the order given.
    pub entries: Entries,
    /// `--config` file (or `DEPWAIT_CONFIG`).
    pub config: Option<PathBuf>,
}

impl FromArgMatches for DependencyArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = Self::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for entry in ENTRIES {
            if let Some(texts) = matches.get_many::<String>(entry.field) {
                self.entries.extend(entry.field, texts.cloned());
            }
        }
        if let Some(path) = matches.get_one::<PathBuf>("config") {
            self.config = Some(path.clone());
        }
        Ok(())
    }
}

impl clap::Args for DependencyArgs {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        for entry in ENTRIES {
            let mut arg = Arg::new(entry.field)
                .value_name(entry.value_name)
                .help(entry.help)
                .action(ArgAction::Append)
                .value_parser(clap::value_parser!(String));
            if let Some(more) = entry.more_help {
                arg = arg.long_help(format!("{}\n\n{more}", entry.help));
            }
            arg = match entry.flag {
                Some(flag) => arg.long(flag).global(true),
                // Positional: one or more names, wherever they stand among the flags.
                None => arg.num_args(1..),
            };
            cmd = cmd.arg(arg);
        }
        cmd.arg(
            Arg::new("config")
                .long("config")
                .env("DEPWAIT_CONFIG")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .global(true)
                .help(format!(
                    "Read more dependencies from a YAML or JSON file: lists named like the flags \
                     ({}), each entry in that flag's grammar. Combines with the flags.",
                    config::entries::file_fields()
                )),
        )
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// `value` named by what set it: the variable when clap took it from the environment, else the
/// flag (also for defaults, which the flag's help documents).
fn sourced_from<T>(
    matches: &ArgMatches,
    id: &str,
    flag: &str,
    var: &str,
    value: T,
    from_env: &dyn Fn(&str) -> bool,
) -> Sourced<T> {
    let source = matches.value_source(id);
    Sourced {
        name: if source == Some(ValueSource::EnvVariable)
            || (source == Some(ValueSource::DefaultValue) && from_env(id))
        {
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
                .unwrap_or_else(|| PathBuf::from(config::DEFAULT_TERMINATION_LOG)),
            command,
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

    /// A test's `Input::default()` is what a bare `depwait` reads, so a test that starts from
    /// it starts from the flags' real defaults.
    #[test]
    fn the_default_input_is_a_bare_command_line() {
        let vars = [
            "TIMEOUT",
            "RETRY_INTERVAL",
            "DEPWAIT_HEARTBEAT",
            "DEPWAIT_LOG_FORMAT",
            "DEPWAIT_CLUSTER_DOMAIN",
            "DEPWAIT_TERMINATION_LOG",
            "DEPWAIT_CONFIG",
            "DEPWAIT_EMIT_EVENTS",
            "NAMESPACE_LABEL_DICT",
        ];
        if let Some(set) = vars.iter().find(|v| std::env::var_os(v).is_some()) {
            panic!("{set} is set in the test environment; unset it to compare the defaults");
        }
        assert_eq!(Input::try_from_iter(["depwait"]).unwrap(), Input::default());
    }

    /// Every kind of the table is a flag (or the positional HOST) and reaches the input.
    #[test]
    fn every_kind_is_on_the_command_line() {
        let mut argv = vec!["depwait".to_string()];
        for entry in ENTRIES {
            match entry.flag {
                Some(flag) => argv.extend([format!("--{flag}"), format!("text-{}", entry.field)]),
                None => argv.push(format!("text-{}", entry.field)),
            }
        }
        let input = Input::try_from_iter(argv).unwrap();
        for (entry, texts) in input.entries.iter() {
            assert_eq!(texts, [format!("text-{}", entry.field)], "{}", entry.field);
        }
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
