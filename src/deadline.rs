//! `--timeout` as a deadline every request of a run is held to: the wait, `depwait check`'s
//! lists and probes, and the checks before the wait.
//!
//! A request with no answer by the deadline is abandoned (its future dropped) and reported as
//! [`NoAnswer`], which names what did not answer; the caller decides what that means (a table
//! row in `check`, a timeout in the wait).

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// When `--timeout` runs out (`None`: `--timeout 0`, never), fixed at the start of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// The moment it passes.
    at: Option<Instant>,
    /// The `--timeout` it came from, for messages.
    timeout: Option<Duration>,
}

impl Deadline {
    /// `timeout` from now.
    pub fn after(timeout: Option<Duration>) -> Self {
        Deadline {
            at: timeout.and_then(|t| Instant::now().checked_add(t)),
            timeout,
        }
    }

    /// The moment, for `tokio::time::sleep_until` and the like.
    pub fn instant(&self) -> Option<Instant> {
        self.at
    }

    /// Run `request`, giving up at the deadline; `what` names it for the message
    /// (`"the API server (list pods in namespace db)"`).
    pub async fn within<F: Future>(&self, what: &str, request: F) -> Result<F::Output, NoAnswer> {
        match self.at {
            Some(at) => tokio::time::timeout_at(at, request)
                .await
                .map_err(|_| NoAnswer {
                    what: what.to_string(),
                    timeout: self.timeout.unwrap_or_default(),
                }),
            None => Ok(request.await),
        }
    }
}

/// A request that had no answer when its time ran out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct NoAnswer {
    /// What was asked.
    pub what: String,
    /// How long it had.
    pub timeout: Duration,
}

impl fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no answer from {} within --timeout {}",
            self.what,
            humantime::format_duration(self.timeout)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_past_the_deadline_is_abandoned_and_named() {
        let deadline = Deadline::after(Some(Duration::from_millis(20)));
        let e = deadline
            .within("the API server", std::future::pending::<()>())
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "no answer from the API server within --timeout 20ms"
        );
        let later = Deadline::after(Some(Duration::from_secs(60)));
        assert_eq!(later.within("x", async { 7 }).await, Ok(7));
    }

    #[tokio::test]
    async fn no_deadline_waits() {
        let forever = Deadline::after(None);
        assert_eq!(forever.instant(), None);
        assert_eq!(forever.within("x", async { 1 }).await, Ok(1));
    }
}
