//! Pure readiness rules: objects in, a verdict and the reason out. No I/O, no clock, so every
//! rule is unit-tested without a server and the aggregator can be property-tested on top.
//!
//! One module per kind of dependency; adding a kind adds its rule here.

pub mod endpoints;
pub mod object;
pub mod pod;
pub mod probe;
pub mod service;

use std::borrow::Cow;

/// What a verdict means for the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// This dependency alone would allow a release.
    Ready,
    /// Not ready yet, or not known yet (listing); waiting may help.
    NotReady,
    /// Not known: the API answers with errors, retried (the check table's `ERROR`).
    ApiError,
    /// Failed for good (a Job's `Failed=True`): waiting cannot help, exit 4.
    Failed,
}

/// A dependency's judgement at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// What the verdict means for the wait.
    pub state: State,
    /// Counted objects that are Ready (pods, endpoints, 1 for an object or a probe).
    pub ready_objects: usize,
    /// Objects that count toward the dependency (terminating and finished pods do not).
    pub counted_objects: usize,
    /// One line for people: counts and the first few reasons (`1/2 ready; web-7f9c: ...`). For
    /// a failed dependency, why it failed ([`Readiness::detail`] adds that it did).
    pub summary: String,
}

impl Readiness {
    /// A verdict on counted objects.
    pub fn counted(ready: bool, ready_objects: usize, counted: usize, summary: String) -> Self {
        Self {
            state: if ready { State::Ready } else { State::NotReady },
            ready_objects,
            counted_objects: counted,
            summary,
        }
    }

    /// A verdict on one thing (an object, a name, a port): 1/1 or 0/1.
    pub fn one(ready: bool, summary: String) -> Self {
        Self::counted(ready, usize::from(ready), 1, summary)
    }

    /// Not ready, nothing known about objects: while listing, or before a first answer.
    pub fn unknown(summary: String) -> Self {
        Self::counted(false, 0, 0, summary)
    }

    /// Not known because the API answers with errors, retried.
    pub fn api_error(summary: String) -> Self {
        Self {
            state: State::ApiError,
            ..Self::unknown(summary)
        }
    }

    /// Failed for good, with why.
    pub fn failed(why: String) -> Self {
        Self {
            state: State::Failed,
            ..Self::unknown(why)
        }
    }

    /// True when this dependency alone would allow a release.
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    /// True when waiting cannot help.
    pub fn is_failed(&self) -> bool {
        self.state == State::Failed
    }

    /// The summary as progress lines and the check table show it: `failed: ` first for a
    /// failed dependency.
    pub fn detail(&self) -> Cow<'_, str> {
        match self.state {
            State::Failed => Cow::Owned(format!("failed: {}", self.summary)),
            _ => Cow::Borrowed(&self.summary),
        }
    }
}
