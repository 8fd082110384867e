//! The exit codes: the contract scripts and the kubelet rely on.

use crate::aggregate::Outcome;
use crate::shutdown::Signal;

/// How depwait ends. The numbers are stable; see the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Every dependency was Ready at the same moment.
    Ready,
    /// The timeout passed first.
    TimedOut,
    /// Bad configuration or usage; nothing was sent to the API server.
    Usage,
    /// Access denied, or another API error waiting cannot fix.
    ApiError,
    /// A dependency failed for good (a Job's `Failed=True`): waiting cannot help.
    DependencyFailed,
    /// SIGINT (128 + 2, as shells report it).
    Interrupted,
    /// SIGTERM (128 + 15), e.g. the pod is being deleted.
    Terminated,
}

impl From<ExitCode> for i32 {
    fn from(code: ExitCode) -> i32 {
        match code {
            ExitCode::Ready => 0,
            ExitCode::TimedOut => 1,
            ExitCode::Usage => 2,
            ExitCode::ApiError => 3,
            ExitCode::DependencyFailed => 4,
            ExitCode::Interrupted => 130,
            ExitCode::Terminated => 143,
        }
    }
}

/// The code a wait ends with, by how it ended.
impl From<&Outcome> for ExitCode {
    fn from(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Ready => ExitCode::Ready,
            Outcome::TimedOut => ExitCode::TimedOut,
            Outcome::Fatal(_) => ExitCode::ApiError,
            Outcome::Failed { .. } => ExitCode::DependencyFailed,
            Outcome::Interrupted(signal) => ExitCode::from(*signal),
        }
    }
}

impl From<Signal> for ExitCode {
    fn from(signal: Signal) -> Self {
        match signal {
            Signal::Interrupt => ExitCode::Interrupted,
            Signal::Terminate => ExitCode::Terminated,
        }
    }
}

impl ExitCode {
    /// The `outcome` field of the JSON `summary` line.
    pub fn outcome(self) -> &'static str {
        match self {
            ExitCode::Ready => "ready",
            ExitCode::TimedOut => "timeout",
            ExitCode::Usage => "usage_error",
            ExitCode::ApiError => "api_error",
            ExitCode::DependencyFailed => "dependency_failed",
            ExitCode::Interrupted => "interrupted",
            ExitCode::Terminated => "terminated",
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        // All values are within 0..=255 (see the match above).
        Self::from(i32::from(code) as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        let all = [
            (ExitCode::Ready, 0),
            (ExitCode::TimedOut, 1),
            (ExitCode::Usage, 2),
            (ExitCode::ApiError, 3),
            (ExitCode::DependencyFailed, 4),
            (ExitCode::Interrupted, 130),
            (ExitCode::Terminated, 143),
        ];
        for (code, n) in all {
            assert_eq!(i32::from(code), n, "{code:?}");
        }
    }

    #[test]
    fn each_outcome_has_its_code() {
        let cases = [
            (Outcome::Ready, 0),
            (Outcome::TimedOut, 1),
            (Outcome::Failed { dep: 0 }, 4),
            (Outcome::Interrupted(Signal::Interrupt), 130),
            (Outcome::Interrupted(Signal::Terminate), 143),
        ];
        for (outcome, code) in cases {
            assert_eq!(i32::from(ExitCode::from(&outcome)), code, "{outcome:?}");
        }
    }
}
