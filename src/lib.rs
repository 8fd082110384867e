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
//! - [`readiness`]: pure readiness rules for pods.
//! - [`aggregate`]: the one future that releases when every dependency is Ready at once.
//! - [`check`]: `depwait check`, one look at every dependency as a table.
//! - [`report`]: progress lines, final summary, termination message.
//! - [`events`]: the optional Kubernetes Event on the waiting pod.
//! - [`rbac`]: `depwait rbac`, the least RBAC for the dependencies given.
//! - [`exit`]: the exit-code contract.
//! - [`telemetry`]: log set-up.

pub mod aggregate;
pub mod api_error;
pub mod check;
pub mod cli;
pub mod client;
pub mod config;
pub mod dependency;
pub mod events;
pub mod exit;
pub mod rbac;
pub mod readiness;
pub mod report;
pub mod selector;
pub mod telemetry;
pub mod watch;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::aggregate::{Board, Outcome, Signal};
use crate::config::Config;
use crate::exit::ExitCode;

/// Wait as configured; returns the exit code. Logs and the termination message are written
/// here, so `main` only maps the code.
pub async fn run(config: Config) -> ExitCode {
    let started = Instant::now();
    let deadline = config.timeout.and_then(|t| started.checked_add(t));
    let (mut board, keys) = Board::new(config.dependencies);
    report::starting(&board, config.timeout);

    let client = match client::infer().await {
        Ok(c) => c,
        Err(e) => {
            let text = format!("{e}");
            tracing::error!("{text}");
            report::write_termination_log(&config.termination_log, &text);
            return ExitCode::Usage;
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let watches = watch::spawn(&client, keys, tx);
    let outcome = aggregate::wait(
        &mut board,
        &watches,
        rx,
        deadline,
        config.heartbeat,
        shutdown_signal(),
        &mut report::LogProgress,
    )
    .await;
    // Stop the watchers before writing anything: the wait is over.
    drop(watches);

    let elapsed = started.elapsed();
    let summary = report::summary(&outcome, &board, elapsed);
    let code = match &outcome {
        Outcome::Ready => ExitCode::Ready,
        Outcome::TimedOut => ExitCode::TimedOut,
        Outcome::Fatal(_) => ExitCode::ApiError,
        Outcome::Interrupted(Signal::Interrupt) => ExitCode::Interrupted,
        Outcome::Interrupted(Signal::Terminate) => ExitCode::Terminated,
    };
    report::finished(&outcome, code, &board, elapsed, &summary);
    if code != ExitCode::Ready {
        report::write_termination_log(&config.termination_log, &summary);
        if config.emit_events && !matches!(outcome, Outcome::Interrupted(_)) {
            match events::Target::from_env() {
                Some(target) => events::emit(&client, &target, &summary).await,
                None => tracing::warn!(
                    "--emit-events needs POD_NAME and POD_NAMESPACE from the downward API; no Event recorded"
                ),
            }
        }
    }
    code
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
