//! Pure readiness rules: objects in, a verdict and the reason out. No I/O, no clock, so every
//! rule is unit-tested without a server and the aggregator can be property-tested on top.

pub mod pod;

/// A dependency's judgement at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// True when this dependency alone would allow a release.
    pub ready: bool,
    /// One line for people: counts and the first few reasons (`1/2 ready; web-7f9c: ...`).
    pub summary: String,
}
