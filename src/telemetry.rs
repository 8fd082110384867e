//! Logging to stderr: readable lines by default, JSON lines with `--log-format json`.

use std::fmt;
use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogFormat;

/// The `event` of a JSON line that was logged without one: a library's error, or a warning
/// that is not part of the wait's own structure. Every JSON line has an `event`.
pub const OTHER_EVENT: &str = "log";

/// Install the global subscriber. `DEPWAIT_LOG` (EnvFilter syntax) overrides the default
/// A `DEPWAIT_LOG` that is not a log filter.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "DEPWAIT_LOG: `{text}` is not a log filter ({why})\n  example: DEPWAIT_LOG=debug, or DEPWAIT_LOG=error,depwait=trace"
)]
pub struct BadLogFilter {
    /// The variable's value.
    pub text: String,
    /// The filter parser's complaint.
    pub why: String,
}

/// `info` for depwait and `error` for the libraries under it: kube-runtime warns on every
/// watcher error, which depwait already reports once per state change in its own words.
///
/// A log line that cannot be written (stderr a closed pipe, or a full disk) is dropped:
/// tracing-subscriber ignores the writer's error once `log_internal_errors` is off (on, it
/// reports the failure with `eprintln!`, which panics on the same stderr).
///
/// A `DEPWAIT_LOG` that is not a filter installs the default and comes back as the message
/// of a usage error, for `main` to report in the format just set up.
pub fn init(format: LogFormat) -> Result<(), BadLogFilter> {
    let _ = FORMAT.set(format);
    let (filter, refused) = match std::env::var("DEPWAIT_LOG") {
        Ok(text) if !text.trim().is_empty() => match EnvFilter::try_new(&text) {
            Ok(filter) => (filter, None),
            Err(e) => (
                EnvFilter::new(DEFAULT_FILTER),
                Some(BadLogFilter {
                    text: text.clone(),
                    why: e.to_string(),
                }),
            ),
        },
        _ => (EnvFilter::new(DEFAULT_FILTER), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .with_target(false)
        // Colour only for people: `kubectl logs` shows escape codes verbatim.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none());
    match format {
        // Text lines already say everything in the message; the structured fields are for JSON.
        LogFormat::Text => builder
            .fmt_fields(format::debug_fn(|w, field, value| {
                if field.name() == "message" {
                    write!(w, "{value:?}")
                } else {
                    Ok(())
                }
            }))
            .init(),
        LogFormat::Json => builder
            .json()
            .event_format(WithEvent(
                format::format()
                    .json()
                    .flatten_event(true)
                    .with_target(false),
            ))
            .init(),
    }
    refused.map_or(Ok(()), Err)
}

/// The format [`init`] set up.
static FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// Whether log lines are JSON (after [`init`]).
pub fn is_json() -> bool {
    FORMAT.get() == Some(&LogFormat::Json)
}

/// `info` for depwait, `error` for the libraries under it.
const DEFAULT_FILTER: &str = "error,depwait=info";

/// A JSON event format that gives a line without an `event` field `"event": "log"`, so a
/// consumer can dispatch on `event` for every line.
struct WithEvent<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithEvent<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut has = HasEvent(false);
        event.record(&mut has);
        if has.0 {
            return self.0.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        with_event_field(&mut writer, &line)
    }
}

/// `{"timestamp":…}` → `{"event":"log","timestamp":…}`.
fn with_event_field(writer: &mut impl fmt::Write, line: &str) -> fmt::Result {
    match line.strip_prefix('{') {
        Some(rest) if !rest.trim_start().starts_with('}') => {
            write!(writer, "{{\"event\":\"{OTHER_EVENT}\",{rest}")
        }
        _ => writer.write_str(line),
    }
}

/// Whether an event has a field named `event`.
struct HasEvent(bool);

impl Visit for HasEvent {
    fn record_debug(&mut self, field: &Field, _: &dyn fmt::Debug) {
        if field.name() == "event" {
            self.0 = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_without_event_gets_one() {
        let mut out = String::new();
        with_event_field(&mut out, "{\"timestamp\":\"t\",\"level\":\"WARN\"}\n").unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["event"], OTHER_EVENT);
        assert_eq!(v["level"], "WARN");
    }
}
