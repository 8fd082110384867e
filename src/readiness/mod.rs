//! Pure readiness rules: objects in, a verdict and the reason out. No I/O, no clock, so every
//! rule is unit-tested without a server and the aggregator can be property-tested on top.

pub mod endpoints;
pub mod object;
pub mod pod;

/// A dependency's judgement at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// True when this dependency alone would allow a release.
    pub ready: bool,
    /// Counted objects that are Ready (pods now; endpoints and the like later).
    pub ready_objects: usize,
    /// Objects that count toward the dependency (terminating and finished pods do not).
    pub counted_objects: usize,
    /// One line for people: counts and the first few reasons (`1/2 ready; web-7f9c: ...`).
    pub summary: String,
    /// The dependency failed for good (a Job's `Failed=True`): waiting cannot help, exit 4.
    pub failed: bool,
}

impl Readiness {
    /// Not ready, nothing known about objects: while listing or after an error.
    pub fn unknown(summary: String) -> Self {
        Self {
            ready: false,
            ready_objects: 0,
            counted_objects: 0,
            summary,
            failed: false,
        }
    }
}
