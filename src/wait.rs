//! The wait, step by step: plan, the restart guard, the watchers and probes feeding one
//! [`aggregate::wait`], then the report.

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::aggregate::{self, Board};
use crate::config::Config;
use crate::exit::ExitCode;
use crate::{events, plan, report, restart, shutdown, sources};

/// Wait as configured; returns the exit code. Logs, the termination message and the Event are
/// written here, so `main` only maps the code.
pub async fn run(mut config: Config) -> ExitCode {
    let started = Instant::now();
    // The restart guard compares it with the kubelet's `startedAt`, which is wall-clock time.
    let process_started = jiff::Timestamp::now();
    let deadline = config.timeout.and_then(|t| started.checked_add(t));
    // First, so that every warning and failure below comes after `start`.
    report::starting(&config.dependencies, config.timeout);
    report::duplicates(&config.duplicates);

    let dependencies = std::mem::take(&mut config.dependencies);
    let plan = match plan::plan(dependencies, plan::Purpose::Wait, deadline).await {
        Ok(plan) => plan,
        Err(e) => {
            report::ended_before_wait(e.code, &e.message, &config.termination_log);
            return e.code;
        }
    };
    config.dependencies = plan.dependencies;
    let client = plan.client;

    // Before any watch lists a pod: after a node restart, the statuses the API holds may be
    // from before it (see `restart`).
    if let Some(client) = &client
        && let Some(code) =
            restart::guard(&config, client, process_started, started, deadline).await
    {
        return code;
    }

    let (mut board, keys) = Board::new(config.dependencies);
    let (tx, rx) = mpsc::unbounded_channel();
    let mut running = sources::Running::start(client.as_ref(), &keys, tx);
    let heartbeat = config.heartbeat;
    let progress = &mut report::LogProgress;
    let outcome = aggregate::wait(
        &mut board,
        &mut running,
        rx,
        deadline,
        heartbeat,
        shutdown::signal(),
        progress,
    )
    .await;
    // Stop the watchers and probes before writing anything: the wait is over.
    drop(running);

    let code = ExitCode::from(&outcome);
    let summary = report::summary(&outcome, &board, started.elapsed());
    if code != ExitCode::Ready {
        report::write_termination_log(&config.termination_log, &summary);
        events::on_failure(config.emit_events, &outcome, client.as_ref(), &summary).await;
    }
    // Last: in JSON, `summary` is the final line.
    report::finished(code, &board, started.elapsed(), &summary);
    code
}
