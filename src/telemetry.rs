//! Logging to stderr: readable lines by default, JSON lines with `--log-format json`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Install the global subscriber. `DEPWAIT_LOG` (EnvFilter syntax) overrides the default
/// `info` for depwait and `warn` for the libraries under it.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("DEPWAIT_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,depwait=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        // Colour only for people: `kubectl logs` shows escape codes verbatim.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none());
    match format {
        LogFormat::Text => builder.compact().init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
