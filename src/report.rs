//! What depwait tells people: a line per dependency state change, a final summary, and the
//! termination message `kubectl describe pod` shows.
//!
//! Every dependency name and verdict is interpolated through [`Escaped`]: summaries carry text
//! the cluster wrote (condition messages, container reasons, object names), and an escape
//! sequence or newline there must not reach a terminal, the termination message or the Event.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::aggregate::{Board, Outcome, Progress};
use crate::dependency::Dependency;
use crate::exit::ExitCode;
use crate::readiness::Readiness;
use crate::text::{Escaped, Limit, truncate};

/// The kubelet reads at most 4096 bytes of a termination message.
pub const TERMINATION_LOG_LIMIT: usize = 4096;

/// When `start` was logged, and for how many dependencies: a wait that ends before it began
/// still logs `start` once, and its `summary` counts from there.
static STARTED: OnceLock<(Instant, usize)> = OnceLock::new();

/// Log the start: what is waited for, and for how long. Logged first, before anything that can
/// warn or fail (credentials, access checks), so that in JSON `start` is always the first line.
pub fn starting(deps: &[Dependency], timeout: Option<Duration>) {
    if STARTED.set((Instant::now(), deps.len())).is_err() {
        return;
    }
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

/// End a wait that could not begin — the configuration was refused, no credentials, a
/// credential plugin that did not answer, a TLS setting that cannot work — with exit `code`:
/// `start` (unless already logged), then `summary` with the exit code, and the termination
/// message. The one way every pre-wait failure ends, so that in JSON `start` comes first and
/// `summary` last whatever failed. In text, the summary is one ERROR line.
pub fn ended_before_wait(code: ExitCode, text: &str, termination_log: &Path) {
    // People need no "start" line for a run that never started; JSON consumers do.
    if STARTED.get().is_none() && crate::telemetry::is_json() {
        tracing::info!(
            event = "start",
            dependencies = 0,
            "starting depwait; it ends before waiting"
        );
        let _ = STARTED.set((Instant::now(), 0));
    }
    let (since, not_ready) = STARTED
        .get()
        .copied()
        .unwrap_or_else(|| (Instant::now(), 0));
    summary_line(code, since.elapsed(), not_ready, text);
    write_termination_log(termination_log, text);
}

/// Progress as log lines on stderr.
pub struct LogProgress;

impl Progress for LogProgress {
    fn changed(&mut self, dep: &Dependency, readiness: &Readiness) {
        let detail = readiness.detail();
        let (dep, summary) = (Escaped(dep), Escaped(&*detail));
        tracing::info!(
            event = "change",
            dependency = %dep,
            ready = readiness.is_ready(),
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
            .judged()
            .filter(|(_, r)| !r.is_ready())
            .map(|(d, r)| format!("{}: {}", Escaped(d), Escaped(&*r.detail())))
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
                .judged()
                .nth(*dep)
                .expect("a failed dependency is one of the board's");
            format!(
                "gave up after {after}: {} failed: {}; a dependency failed, waiting cannot help",
                Escaped(d),
                Escaped(&r.summary)
            )
        }
        Outcome::Interrupted(signal) => format!("{signal} after {after}"),
    };
    let waiting: Vec<String> = board
        .judged()
        .filter(|(_, r)| !r.is_ready())
        .map(|(d, r)| format!("- {}: {}", Escaped(d), Escaped(&*r.detail())))
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
pub fn finished(code: ExitCode, board: &Board, elapsed: Duration, text: &str) {
    let not_ready = board.judged().filter(|(_, r)| !r.is_ready()).count();
    summary_line(code, elapsed, not_ready, text);
}

/// The `summary` line of every run, also of one that ended before its wait: `info` on success,
/// `error` otherwise.
fn summary_line(code: ExitCode, elapsed: Duration, not_ready: usize, text: &str) {
    // tracing takes the level as a constant: one macro writes the fields once for both.
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(
                event = "summary",
                outcome = code.outcome(),
                exit_code = i32::from(code),
                elapsed_ms = elapsed.as_millis() as u64,
                not_ready,
                "{text}"
            )
        };
    }
    if code == ExitCode::Ready {
        line!(info);
    } else {
        line!(error);
    }
}

/// Write the termination message, cut to what the kubelet keeps (see `fit_termination`).
/// Failing to write is only logged (the return says whether it was written): outside
/// Kubernetes `/dev/termination-log` usually does not exist.
pub fn write_termination_log(path: &Path, text: &str) -> bool {
    let text = fit_termination(text, TERMINATION_LOG_LIMIT);
    match std::fs::write(path, text.as_bytes()) {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(path = %path.display(), "termination message not written: {e}");
            false
        }
    }
}

/// `text` in at most `limit` bytes: whole lines (the summary's head, then one entry per line)
/// as long as they fit, then `… and N more` for the N entries left out. A head too long on its
/// own is cut at a character boundary and ends with `…`.
fn fit_termination(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let more = |n: usize| format!("\n… and {n} more");
    let mut lines = text.split('\n');
    let head = lines.next().unwrap_or_default();
    let entries: Vec<&str> = lines.collect();
    let room = limit.saturating_sub(if entries.is_empty() {
        "…".len()
    } else {
        more(entries.len()).len()
    });
    if head.len() > room {
        let cut = truncate(head, Limit::Bytes(room));
        return if entries.is_empty() {
            format!("{cut}…")
        } else {
            format!("{cut}{}", more(entries.len()))
        };
    }
    let mut kept = head.to_string();
    let mut included = 0;
    for (i, entry) in entries.iter().enumerate() {
        let left_after = entries.len() - i - 1;
        let marker = if left_after > 0 {
            more(left_after).len()
        } else {
            0
        };
        if kept.len() + 1 + entry.len() + marker > limit {
            break;
        }
        kept.push('\n');
        kept.push_str(entry);
        included += 1;
    }
    if included < entries.len() {
        kept.push_str(&more(entries.len() - included));
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn termination_log_is_bounded_and_unwritable_paths_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        assert!(write_termination_log(&path, &"x".repeat(10_000)));
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(written.len() <= TERMINATION_LOG_LIMIT);
        assert!(written.ends_with('…'), "{written}");
        // Unwritable: reported as not written, and nothing is created on the way.
        let missing = dir.path().join("missing");
        assert!(!write_termination_log(&missing.join("log"), "x"));
        assert!(!missing.exists());
    }

    fn summary_of(entries: usize, width: usize) -> String {
        let mut text = format!("timed out after 5m; {entries} of {entries} not ready:");
        for i in 0..entries {
            text.push_str(&format!("\n- dep-{i}: {}", "é".repeat(width)));
        }
        text
    }

    #[test]
    fn a_long_summary_is_cut_between_entries_and_says_how_many_are_left_out() {
        let text = summary_of(300, 20);
        let cut = fit_termination(&text, TERMINATION_LOG_LIMIT);
        assert!(cut.len() <= TERMINATION_LOG_LIMIT, "{}", cut.len());
        let (kept, tail) = cut.rsplit_once('\n').unwrap();
        let shown = kept.lines().count() - 1;
        assert_eq!(tail, format!("… and {} more", 300 - shown));
        // Every entry shown is whole: it is a line of the original.
        for line in kept.lines() {
            assert!(text.lines().any(|l| l == line), "{line}");
        }
        assert!(shown > 0);
    }

    #[test]
    fn cutting_fits_the_limit_exactly_for_every_size() {
        for entries in [1, 2, 9, 10, 11, 99, 100, 101, 1000] {
            for width in [0, 1, 7, 40, 200, 5000] {
                for limit in [64, 100, 4096] {
                    let text = summary_of(entries, width);
                    let cut = fit_termination(&text, limit);
                    assert!(
                        cut.len() <= limit,
                        "{entries} × {width} in {limit}: {}",
                        cut.len()
                    );
                    if text.len() <= limit {
                        assert_eq!(cut, text);
                    } else {
                        assert!(cut.contains('…'), "{cut}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_summary_that_fits_is_untouched() {
        let text = summary_of(3, 5);
        assert_eq!(fit_termination(&text, TERMINATION_LOG_LIMIT), text);
    }
}
