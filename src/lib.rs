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
//! - [`credentials`]: kubeconfigs, in-cluster credentials and exec plugins, bounded in size and
//!   time; the auth layer.
//! - [`watch`]: one watcher + reflector store per distinct (namespace, selector).
//! - [`api_error`]: which API errors are worth retrying; the exit-3 messages.
//! - [`readiness`]: pure readiness rules for pods and service endpoints.
//! - [`kinds`]: resource types as kubectl takes them, resolved through discovery.
//! - [`names`]: host-name arguments: cluster service names vs names only DNS can answer.
//! - [`probe`]: the checks that cannot be watched (DNS), with a short capped backoff.
//! - [`access`]: whether the credentials may watch Services, else DNS is the fallback.
//! - [`plan`]: the one planning step of wait, check and rbac: credentials, what HOST names
//!   mean, DNS fallbacks.
//! - [`restart`]: after a node restart, wait for the kubelet to report this pod's new run
//!   before trusting any pod status.
//! - [`sources`]: the running watchers and probes of one wait.
//! - [`aggregate`]: the one future that releases when every dependency is Ready at once.
//! - [`check`]: `depwait check`, one look at every dependency as a table.
//! - [`deadline`]: `--timeout` as the deadline every request of a run is held to.
//! - [`report`]: progress lines, final summary, termination message.
//! - [`events`]: the optional Kubernetes Event on the waiting pod.
//! - [`rbac`]: `depwait rbac`, the least RBAC for the dependencies given.
//! - [`exit`]: the exit-code contract.
//! - [`files`]: reading the files depwait is pointed at, bounded in size and time.
//! - [`tls`]: the CAs depwait trusts, checked before any request; fatal TLS failures.
//! - [`output`]: writes to stdout and stderr that never fail the run.
//! - [`telemetry`]: log set-up.
//! - [`text`]: escaping cluster and user text for output; redacting URLs' credentials.

pub mod access;
pub mod aggregate;
pub mod api_error;
pub mod check;
pub mod cli;
pub mod client;
pub mod config;
pub mod credentials;
pub mod deadline;
pub mod dependency;
pub mod events;
pub mod exit;
pub mod files;
pub mod kinds;
pub mod names;
pub mod output;
pub mod plan;
pub mod probe;
pub mod rbac;
pub mod readiness;
pub mod report;
pub mod restart;
pub mod selector;
pub mod slim;
pub mod sources;
pub mod telemetry;
pub mod text;
pub mod tls;
pub mod watch;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::aggregate::{Board, Outcome, Signal};
use crate::config::Config;
use crate::exit::ExitCode;

/// Wait as configured; returns the exit code. Logs and the termination message are written
/// here, so `main` only maps the code.
pub async fn run(mut config: Config) -> ExitCode {
    let started = Instant::now();
    // The restart guard compares it with the kubelet's `startedAt`, which is wall-clock time.
    let process_started = jiff::Timestamp::now();
    let deadline = config.timeout.and_then(|t| started.checked_add(t));
    // First, so that every warning and failure below comes after `start`.
    report::starting(&config.dependencies, config.timeout);
    report::duplicates(&config.duplicates);

    // A CA that does not parse is a configuration error, found before any request.
    if let Err(e) = probe::check_roots(
        config
            .dependencies
            .iter()
            .filter_map(dependency::Dependency::probe),
    )
    .await
    {
        let text = format!("depwait: {e}");
        report::ended_before_wait(ExitCode::Usage, &text, &config.termination_log);
        return ExitCode::Usage;
    }
    let planned = plan::plan(
        std::mem::take(&mut config.dependencies),
        plan::Purpose::Wait,
        deadline,
    )
    .await;
    let plan = match planned {
        Ok(plan) => plan,
        Err(e) => {
            report::ended_before_wait(e.code, &e.message, &config.termination_log);
            return e.code;
        }
    };
    let client = plan.client;
    config.dependencies = plan.dependencies;

    // Before any watch lists a pod: after a node restart, the statuses the API holds may be
    // from before it (see `restart`).
    if let Some(client) = &client
        && let Some(code) = restart_guard(&config, client, process_started, started, deadline).await
    {
        return code;
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
    let code = ExitCode::from(&outcome);
    if code != ExitCode::Ready {
        report::write_termination_log(&config.termination_log, &summary);
        if config.emit_events && !matches!(outcome, Outcome::Interrupted(_)) {
            emit_event(client.as_ref(), &summary).await;
        }
    }
    // Last: in JSON, `summary` is the final line.
    report::finished(&outcome, code, &board, elapsed, &summary);
    code
}

/// The restart guard, when depwait runs in a pod and watches anything (probes read no pod
/// status): `Some` exit code when the wait ended while it held (timeout, signal), after the
/// summary, termination message and Event.
async fn restart_guard(
    config: &Config,
    client: &kube::Client,
    process_started: jiff::Timestamp,
    started: Instant,
    deadline: Option<Instant>,
) -> Option<ExitCode> {
    if !config
        .dependencies
        .iter()
        .any(dependency::Dependency::is_watched)
    {
        return None;
    }
    let me = restart::OwnPod::from_env().await?;
    let (outcome, stuck) = tokio::select! {
        biased;
        signal = shutdown_signal() => (Outcome::Interrupted(signal), restart::Stuck::NoAnswer),
        settled = restart::settle(client, &me, process_started, deadline) => match settled {
            Ok(_) => return None,
            Err(stuck) => (Outcome::TimedOut, stuck),
        },
    };
    let code = ExitCode::from(&outcome);
    let text = report::held_by_restart_guard(&outcome, &me, &stuck, started.elapsed());
    report::ended_before_wait(code, &text, &config.termination_log);
    if config.emit_events && !matches!(outcome, Outcome::Interrupted(_)) {
        emit_event(Some(client), &text).await;
    }
    Some(code)
}

/// `--emit-events`: the Event on the waiting pod saying why the wait failed, or a line saying
/// why none could be recorded.
async fn emit_event(client: Option<&kube::Client>, summary: &str) {
    match (events::Target::from_env(), client) {
        (Some(target), Some(client)) => events::emit(client, &target, summary).await,
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

/// Resolves on SIGTERM (the kubelet stopping the pod) or SIGINT — also for a signal that came
/// before the call: the first call starts one listener for the process and every call reads its
/// latch, so a signal between two steps (credentials, then the wait) is not lost (tokio delivers
/// a signal only to listeners that exist when it comes).
pub async fn shutdown_signal() -> Signal {
    use std::sync::OnceLock;
    use tokio::signal::unix::{SignalKind, signal};
    use tokio::sync::watch;
    static LATCH: OnceLock<watch::Receiver<Option<Signal>>> = OnceLock::new();
    let mut latch = LATCH
        .get_or_init(|| {
            let (tx, rx) = watch::channel(None);
            let term = signal(SignalKind::terminate());
            tokio::spawn(async move {
                let got = match term {
                    Ok(mut term) => tokio::select! {
                        _ = term.recv() => Signal::Terminate,
                        _ = tokio::signal::ctrl_c() => Signal::Interrupt,
                    },
                    // Without a SIGTERM handler the default action still ends the process.
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                        Signal::Interrupt
                    }
                };
                let _ = tx.send(Some(got));
            });
            rx
        })
        .clone();
    match latch.wait_for(Option::is_some).await {
        Ok(got) => got.unwrap_or(Signal::Terminate),
        // The listener is gone only with the runtime.
        Err(_) => std::future::pending().await,
    }
}
