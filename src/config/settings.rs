//! The run's settings (durations, switches, the log format, the cluster domain): each checked
//! the same way whether a flag or one of the seed's variables gave it.

use std::time::Duration;

use super::error::ConfigError;
use super::grammar::Sourced;
use crate::names;

/// Longest accepted timeout; past this, `0` (forever) is what the user means.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Shortest `--heartbeat`: a line per millisecond would drown every other line.
pub const MIN_HEARTBEAT: Duration = Duration::from_secs(1);

const TIMEOUT_EXAMPLE: &str = "TIMEOUT=300, --timeout 5m, or 0 to wait forever";
const RETRY_EXAMPLE: &str = "RETRY_INTERVAL=15 or --retry-interval 2s";
const HEARTBEAT_EXAMPLE: &str = "--heartbeat 30s, or 0 to turn it off";
const EVENTS_EXAMPLE: &str = "--emit-events, or DEPWAIT_EMIT_EVENTS=true";
const DOMAIN_EXAMPLE: &str = "--cluster-domain cluster.local";

/// How progress is written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// `text` or `json`, in any case.
    pub fn from_text(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// `--log-format` / `DEPWAIT_LOG_FORMAT`: `text` or `json`, in any case. Read on its own by
/// `main`, which sets up logging before the rest is validated.
pub fn log_format(value: &Sourced) -> Result<LogFormat, ConfigError> {
    LogFormat::from_text(&value.text).ok_or_else(|| ConfigError {
        name: value.name.clone(),
        problem: format!("`{}` is not a log format; use text or json", value.text),
        example: "--log-format json, or DEPWAIT_LOG_FORMAT=json",
    })
}

/// `--timeout` / `TIMEOUT`; `None` waits forever (`0`).
pub(super) fn timeout(value: &Sourced) -> Result<Option<Duration>, ConfigError> {
    let timeout = duration(value, TIMEOUT_EXAMPLE)?;
    Ok((!timeout.is_zero()).then_some(timeout))
}

/// `--retry-interval` / `RETRY_INTERVAL`: validated for compatibility only.
pub(super) fn retry_interval(value: Option<&Sourced>) -> Result<Option<Duration>, ConfigError> {
    value.map(|v| duration(v, RETRY_EXAMPLE)).transpose()
}

/// `--heartbeat` / `DEPWAIT_HEARTBEAT`; `None` turns it off (`0`).
pub(super) fn heartbeat(value: &Sourced) -> Result<Option<Duration>, ConfigError> {
    let heartbeat = duration(value, HEARTBEAT_EXAMPLE)?;
    if !heartbeat.is_zero() && heartbeat < MIN_HEARTBEAT {
        return Err(ConfigError {
            name: value.name.clone(),
            problem: format!(
                "`{}` is shorter than {}: a heartbeat that often floods the log; give 1s or more, or 0 to turn it off",
                value.text.trim(),
                humantime::format_duration(MIN_HEARTBEAT)
            ),
            example: HEARTBEAT_EXAMPLE,
        });
    }
    Ok((!heartbeat.is_zero()).then_some(heartbeat))
}

/// `--emit-events[=BOOL]` / `DEPWAIT_EMIT_EVENTS`; off when not given.
pub(super) fn emit_events(value: Option<&Sourced>) -> Result<bool, ConfigError> {
    Ok(value
        .map(|v| parse_bool(v, EVENTS_EXAMPLE))
        .transpose()?
        .unwrap_or(false))
}

/// `--cluster-domain` / `DEPWAIT_CLUSTER_DOMAIN`: a DNS domain.
pub(super) fn cluster_domain(value: &Sourced) -> Result<&str, ConfigError> {
    let domain = value.text.as_str();
    match names::validate(domain) {
        Ok(()) => Ok(domain),
        Err(_) => Err(ConfigError {
            name: value.name.clone(),
            problem: format!("`{domain}` is not a DNS domain"),
            example: DOMAIN_EXAMPLE,
        }),
    }
}

/// The usual spellings of a switch, in any case: true/false, 1/0, yes/no, on/off; empty (a
/// variable set to `""`) is off.
fn parse_bool(value: &Sourced, example: &'static str) -> Result<bool, ConfigError> {
    match value.text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(ConfigError {
            name: value.name.clone(),
            problem: format!(
                "`{}` is not a boolean; use true or false (also 1/0, yes/no, on/off)",
                value.text
            ),
            example,
        }),
    }
}

/// Units humantime accepts that surprise in a timeout: `M` is months (`5M` is 5 months, not 5
/// minutes), and months and years are humantime's averages (30.44 and 365.25 days).
const SURPRISING_UNITS: &[&str] = &["M", "month", "months", "y", "yr", "yrs", "year", "years"];

/// Bare seconds (`300`, `2.5`) as the seed's variables take them, or humantime (`90s`, `5m`).
fn duration(value: &Sourced, example: &'static str) -> Result<Duration, ConfigError> {
    let err = |problem: String| ConfigError {
        name: value.name.clone(),
        problem,
        example,
    };
    let text = value.text.trim();
    if text.is_empty() {
        return Err(err("empty; give a duration".into()));
    }
    if text.starts_with('-') {
        return Err(err(format!(
            "`{text}` is negative; a duration must be 0 or more"
        )));
    }
    let parsed = if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        text.parse::<f64>()
            .ok()
            .filter(|s| s.is_finite())
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .ok_or_else(|| err(format!("`{text}` is not a number of seconds")))?
    } else {
        // Each run of letters is a unit (`1h30m`: `h`, `m`).
        if let Some(unit) = text
            .split(|c: char| !c.is_alphabetic())
            .find(|u| SURPRISING_UNITS.contains(u) || u.chars().any(char::is_uppercase))
        {
            let hint = if unit == "M" {
                "`M` would be months; write `m` for minutes"
            } else if unit.chars().any(char::is_uppercase) {
                "units are lowercase"
            } else {
                "months and years are not accepted; use days (`30d`) or weeks"
            };
            return Err(err(format!(
                "`{text}`: unit `{unit}` refused: {hint} (units: ms, s, m, h, d, w)"
            )));
        }
        humantime::parse_duration(text).map_err(|e| {
            err(format!(
                "`{text}` is not a duration ({e}); use seconds or units like 90s, 5m, 1h30m"
            ))
        })?
    };
    if parsed > MAX_DURATION {
        return Err(err(format!(
            "`{text}` is longer than 100 years; use 0 to wait forever"
        )));
    }
    Ok(parsed)
}
