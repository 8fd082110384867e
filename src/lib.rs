//! depwait holds a Kubernetes pod's startup until the pods it depends on are really Ready,
//! then gets out of the way at once. It watches; it never polls.
//!
//! # Layout
//! - [`cli`]: flags, their environment fallbacks (the seed's `NAMESPACE_LABEL_DICT`, `TIMEOUT`,
//!   `RETRY_INTERVAL`) and `--help`.
//! - [`config`]: validation of all of that into a [`config::Config`]; every exit-2 message.
//! - [`selector`]: kubectl's label-selector grammar, parsed into kube's `Selector`.
//! - [`dependency`]: what is waited for, and the watch each dependency is judged from.
//! - [`client`]: the Kubernetes client (TCP_NODELAY on).
//! - [`watch`]: one watcher + reflector store per distinct (namespace, selector).
//! - [`api_error`]: which API errors are worth retrying; the exit-3 messages.
//! - [`readiness`]: pure readiness rules for pods and service endpoints.
//! - [`kinds`]: resource types as kubectl takes them, resolved through discovery.
//! - [`names`]: host-name arguments: cluster service names vs names only DNS can answer.
//! - [`probe`]: the checks that cannot be watched (DNS), with a short capped backoff.
//! - [`access`]: whether the credentials may watch Services, else DNS is the fallback.
//! - [`sources`]: the running watchers and probes of one wait.
//! - [`aggregate`]: the one future that releases when every dependency is Ready at once.
//! - [`check`]: `depwait check`, one look at every dependency as a table.
//! - [`report`]: progress lines, final summary, termination message.
//! - [`events`]: the optional Kubernetes Event on the waiting pod.
//! - [`rbac`]: `depwait rbac`, the least RBAC for the dependencies given.
//! - [`exit`]: the exit-code contract.
//! - [`files`]: reading the files depwait is pointed at, bounded in size and time.
//! - [`output`]: writes to stdout and stderr that never fail the run.
//! - [`telemetry`]: log set-up.

pub mod access;
pub mod aggregate;
pub mod api_error;
pub mod check;
pub mod cli;
pub mod client;
pub mod config;
pub mod dependency;
pub mod events;
pub mod exit;
pub mod files;
pub mod kinds;
pub mod names;
pub mod output;
pub mod probe;
pub mod rbac;
pub mod readiness;
pub mod report;
pub mod selector;
pub mod sources;
pub mod telemetry;
pub mod watch;

use kube::Client;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::aggregate::{Board, Outcome, Signal};
use crate::config::Config;
use crate::dependency::{Dependency, Target};
use crate::exit::ExitCode;

/// Wait as configured; returns the exit code. Logs and the termination message are written
/// here, so `main` only maps the code.
pub async fn run(mut config: Config) -> ExitCode {
    let started = Instant::now();
    let deadline = config.timeout.and_then(|t| started.checked_add(t));
    // First, so that every warning and failure below comes after `start`.
    report::starting(&config.dependencies, config.timeout);

    let client = match client::infer().await {
        Ok(c) => Some(c),
        // service-precheck needed no credentials: a wait for HOST names alone still works,
        // through DNS.
        Err(e) if !config.dependencies.iter().any(Dependency::needs_api) => {
            tracing::info!(
                event = "dns_fallback",
                "no Kubernetes credentials ({e}); resolving every HOST name through DNS"
            );
            for dep in &mut config.dependencies {
                dep.resolve_by_dns();
            }
            None
        }
        Err(e) => {
            report::ended_before_wait(ExitCode::Usage, &e.to_string(), &config.termination_log);
            return ExitCode::Usage;
        }
    };
    if let Some(client) = &client {
        fall_back_to_dns_where_denied(client, &mut config.dependencies).await;
    }

    let (mut board, keys) = Board::new(config.dependencies);
    let (tx, rx) = mpsc::unbounded_channel();
    let mut running = sources::Running::start(client.as_ref(), &keys, tx);
    let outcome = aggregate::wait(
        &mut board,
        &mut running,
        rx,
        deadline,
        config.heartbeat,
        shutdown_signal(),
        &mut report::LogProgress,
    )
    .await;
    // Stop the watchers and probes before writing anything: the wait is over.
    drop(running);

    let elapsed = started.elapsed();
    let summary = report::summary(&outcome, &board, elapsed);
    let code = match &outcome {
        Outcome::Ready => ExitCode::Ready,
        Outcome::TimedOut => ExitCode::TimedOut,
        Outcome::Fatal(_) => ExitCode::ApiError,
        Outcome::Failed { .. } => ExitCode::DependencyFailed,
        Outcome::Interrupted(Signal::Interrupt) => ExitCode::Interrupted,
        Outcome::Interrupted(Signal::Terminate) => ExitCode::Terminated,
    };
    if code != ExitCode::Ready {
        report::write_termination_log(&config.termination_log, &summary);
        if config.emit_events && !matches!(outcome, Outcome::Interrupted(_)) {
            match (events::Target::from_env(), &client) {
                (Some(target), Some(client)) => events::emit(client, &target, &summary).await,
                (None, _) => tracing::warn!(
                    event = "kubernetes_event",
                    recorded = false,
                    "--emit-events needs POD_NAME and POD_NAMESPACE from the downward API; no Event recorded"
                ),
                (_, None) => tracing::warn!(
                    event = "kubernetes_event",
                    recorded = false,
                    "--emit-events needs Kubernetes credentials; no Event recorded"
                ),
            }
        }
    }
    // Last: in JSON, `summary` is the final line.
    report::finished(&outcome, code, &board, elapsed, &summary);
    code
}

/// HOST names are watched only where this identity may watch Services and EndpointSlices;
/// elsewhere they are resolved through DNS, with one line per namespace saying what RBAC
/// would enable the faster path.
async fn fall_back_to_dns_where_denied(client: &Client, deps: &mut [Dependency]) {
    let mut namespaces: Vec<String> = deps
        .iter()
        .filter_map(|d| match &d.target {
            Target::Service(s) if s.written.is_some() => Some(s.namespace.clone()),
            _ => None,
        })
        .collect();
    namespaces.sort();
    namespaces.dedup();
    let answers = futures::future::join_all(
        namespaces
            .iter()
            .map(|ns| access::may_watch_services(client, ns)),
    )
    .await;
    for (ns, answer) in namespaces.iter().zip(answers) {
        let reason = match answer {
            Ok(true) => continue,
            Ok(false) => format!(
                "may not list and watch services and endpointslices in namespace {ns} (a Role there with {} enables it)",
                access::RULE_HINT
            ),
            Err(e) => format!("could not ask the API server for access in namespace {ns}: {e}"),
        };
        let names: Vec<String> = deps
            .iter_mut()
            .filter(|d| matches!(&d.target, Target::Service(s) if s.namespace == *ns))
            .filter_map(|d| {
                let name = d.host_name()?.to_string();
                d.resolve_by_dns();
                Some(name)
            })
            .collect();
        tracing::warn!(
            event = "dns_fallback",
            "{reason}; resolving {} through DNS instead of watching",
            names.join(", ")
        );
    }
}

/// Resolves on SIGTERM (the kubelet stopping the pod) or SIGINT.
async fn shutdown_signal() -> Signal {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = term.recv() => Signal::Terminate,
            _ = tokio::signal::ctrl_c() => Signal::Interrupt,
        },
        // Without a SIGTERM handler the default action still ends the process.
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Interrupt
        }
    }
}
