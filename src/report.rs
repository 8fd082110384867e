//! What depwait tells people: a line per dependency state change, a final summary, and the
//! termination message `kubectl describe pod` shows.
//!
//! Every dependency name and verdict is interpolated through [`Escaped`]: summaries carry text
//! the cluster wrote (condition messages, container reasons, object names), and an escape
//! sequence or newline there must not reach a terminal, the termination message or the Event.

use std::path::Path;
use std::time::Duration;

use crate::aggregate::{Board, Outcome, Progress, Signal};
use crate::dependency::Dependency;
use crate::exit::ExitCode;
use crate::readiness::Readiness;
use crate::text::Escaped;

/// The kubelet reads at most 4096 bytes of a termination message.
pub const TERMINATION_LOG_LIMIT: usize = 4096;

/// Log the start: what is waited for, and for how long.
pub fn starting(board: &Board, timeout: Option<Duration>) {
    let deps = board.dependencies();
    let timeout = timeout
        .map(|t| humantime::format_duration(t).to_string())
        .unwrap_or_else(|| "none".into());
    tracing::info!(
        event = "start",
        dependencies = deps.len(),
        timeout = %timeout,
        "waiting for {} {}: {}",
        deps.len(),
        if deps.len() == 1 { "dependency" } else { "dependencies" },
        deps.iter()
            .map(|d| Escaped(d).to_string())
            .collect::<Vec<_>>()
            .join("; ")
    );
}

/// One line for the dependencies given more than once (see [`crate::config::Duplicate`]):
/// each is waited for and counted once. Nothing when there are none.
pub fn duplicates(dropped: &[crate::config::Duplicate]) {
    if dropped.is_empty() {
        return;
    }
    let each: Vec<String> = dropped
        .iter()
        .map(|d| {
            format!(
                "{} is the same as {} ({})",
                Escaped(&d.origin),
                Escaped(&d.same_as),
                Escaped(&d.dependency)
            )
        })
        .collect();
    tracing::info!(
        event = "duplicates",
        ignored = dropped.len(),
        "ignoring {} duplicate {}, each is waited for once: {}",
        dropped.len(),
        if dropped.len() == 1 {
            "dependency"
        } else {
            "dependencies"
        },
        each.join("; ")
    );
}

/// Progress as log lines on stderr.
pub struct LogProgress;

impl Progress for LogProgress {
    fn changed(&mut self, dep: &Dependency, readiness: &Readiness) {
        let (dep, summary) = (Escaped(dep), Escaped(&readiness.summary));
        tracing::info!(
            event = "change",
            dependency = %dep,
            ready = readiness.ready,
            ready_objects = readiness.ready_objects,
            counted_objects = readiness.counted_objects,
            summary = %summary,
            "{dep}: {summary}"
        );
    }

    fn heartbeat(&mut self, board: &Board, remaining: Option<Duration>) {
        let left = match remaining {
            Some(r) => format!(
                "{} left",
                humantime::format_duration(Duration::from_secs(r.as_secs()))
            ),
            None => "no timeout".into(),
        };
        let waiting: Vec<String> = board
            .verdicts()
            .filter(|(_, r)| !r.ready)
            .map(|(d, r)| format!("{}: {}", Escaped(d), Escaped(&r.summary)))
            .collect();
        tracing::info!(
            event = "heartbeat",
            not_ready = waiting.len(),
            remaining_seconds = remaining.map(|r| r.as_secs()),
            "still waiting ({left}); {} of {} not ready: {}",
            waiting.len(),
            board.dependencies().len(),
            waiting.join(" | ")
        );
    }
}

/// The closing summary: one line on what happened, then each dependency not ready.
pub fn summary(outcome: &Outcome, board: &Board, elapsed: Duration) -> String {
    let after = humantime::format_duration(Duration::from_millis(elapsed.as_millis() as u64));
    let head = match outcome {
        Outcome::Ready => format!("all dependencies ready after {after}"),
        Outcome::TimedOut => format!("timed out after {after}"),
        Outcome::Fatal(e) => format!("gave up after {after}: {}", Escaped(e)),
        Outcome::Failed { dep } => {
            let (d, r) = board
                .verdicts()
                .nth(*dep)
                .expect("a failed dependency is one of the board's");
            format!(
                "gave up after {after}: {} failed: {}; a dependency failed, waiting cannot help",
                Escaped(d),
                Escaped(r.summary.strip_prefix("failed: ").unwrap_or(&r.summary))
            )
        }
        Outcome::Interrupted(Signal::Terminate) => {
            format!("terminated by SIGTERM after {after}")
        }
        Outcome::Interrupted(Signal::Interrupt) => {
            format!("interrupted by SIGINT after {after}")
        }
    };
    let waiting: Vec<String> = board
        .verdicts()
        .filter(|(_, r)| !r.ready)
        .map(|(d, r)| format!("- {}: {}", Escaped(d), Escaped(&r.summary)))
        .collect();
    if waiting.is_empty() {
        head
    } else {
        format!(
            "{head}; {} of {} not ready:\n{}",
            waiting.len(),
            board.dependencies().len(),
            waiting.join("\n")
        )
    }
}

/// Log the closing summary: `info` on success, `error` otherwise. In JSON it is the object
/// with `"event": "summary"`.
pub fn finished(outcome: &Outcome, code: ExitCode, board: &Board, elapsed: Duration, text: &str) {
    let outcome = match outcome {
        Outcome::Ready => "ready",
        Outcome::TimedOut => "timeout",
        Outcome::Fatal(_) => "api_error",
        Outcome::Failed { .. } => "dependency_failed",
        Outcome::Interrupted(Signal::Interrupt) => "interrupted",
        Outcome::Interrupted(Signal::Terminate) => "terminated",
    };
    let not_ready = board.verdicts().filter(|(_, r)| !r.ready).count();
    let elapsed_ms = elapsed.as_millis() as u64;
    let exit_code = i32::from(code);
    if code == ExitCode::Ready {
        tracing::info!(
            event = "summary",
            outcome,
            exit_code,
            elapsed_ms,
            not_ready,
            "{text}"
        );
    } else {
        tracing::error!(
            event = "summary",
            outcome,
            exit_code,
            elapsed_ms,
            not_ready,
            "{text}"
        );
    }
}

/// Write the termination message, cut to what the kubelet keeps. Failing to write is only
/// logged: outside Kubernetes `/dev/termination-log` usually does not exist.
pub fn write_termination_log(path: &Path, text: &str) {
    let text = truncate_utf8(text, TERMINATION_LOG_LIMIT);
    if let Err(e) = std::fs::write(path, text) {
        tracing::debug!(path = %path.display(), "termination message not written: {e}");
    }
}

fn truncate_utf8(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_utf8("abc", 10), "abc");
        assert_eq!(truncate_utf8("aé", 2), "a");
        let long = "é".repeat(5000);
        let cut = truncate_utf8(&long, TERMINATION_LOG_LIMIT);
        assert!(cut.len() <= TERMINATION_LOG_LIMIT);
    }

    #[test]
    fn termination_log_is_bounded_and_unwritable_paths_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        write_termination_log(&path, &"x".repeat(10_000));
        assert_eq!(std::fs::read(&path).unwrap().len(), TERMINATION_LOG_LIMIT);
        write_termination_log(Path::new("/nonexistent/dir/log"), "x");
    }
}
