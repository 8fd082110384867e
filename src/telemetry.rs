//! Logging to stderr: readable lines by default, JSON lines with `--log-format json`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format;

use crate::cli::LogFormat;

/// Install the global subscriber. `DEPWAIT_LOG` (EnvFilter syntax) overrides the default
/// `info` for depwait and `error` for the libraries under it: kube-runtime warns on every
/// watcher error, which depwait already reports once per state change in its own words.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("DEPWAIT_LOG")
        .unwrap_or_else(|_| EnvFilter::new("error,depwait=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
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
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
