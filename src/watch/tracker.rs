//! One watcher's phase bookkeeping: its events and errors in, the updates the aggregator acts
//! on out.

use kube::runtime::watcher::Event;

use super::{Phase, Update};

/// Turns one watcher's events and errors into the updates the aggregator acts on.
///
/// Pure bookkeeping, kept apart from the I/O loop so the property tests drive exactly the
/// phase logic the watcher tasks use.
#[derive(Debug)]
pub struct Tracker {
    /// Index of this watcher in the source list.
    index: usize,
    /// Set by a retryable error, cleared by the next complete list. While set, the phase
    /// stays `Failing` through the new list's `Init`: a retry loop logs one line, not one per
    /// attempt.
    failing: bool,
}

impl Tracker {
    /// A tracker for source `index`.
    pub fn new(index: usize) -> Self {
        Self {
            index,
            failing: false,
        }
    }

    /// The update an event (already applied to the store) calls for, if any.
    pub fn event<K>(&mut self, event: &Event<K>) -> Option<Update> {
        let index = self.index;
        match event {
            Event::Init if self.failing => None,
            Event::Init => Some(Update::Phase {
                index,
                phase: Phase::Listing,
            }),
            Event::InitApply(_) => None,
            Event::InitDone => {
                self.failing = false;
                Some(Update::Phase {
                    index,
                    phase: Phase::Live,
                })
            }
            Event::Apply(_) | Event::Delete(_) => Some(Update::Changed { index }),
        }
    }

    /// The update a retryable error calls for. The caller then starts a fresh watcher: one
    /// resumed from its resourceVersion would give no sign of when the store is current again.
    pub fn retrying(&mut self, reason: String) -> Update {
        self.failing = true;
        Update::Phase {
            index: self.index,
            phase: Phase::Failing(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(update: Option<Update>) -> Option<Phase> {
        match update {
            Some(Update::Phase { phase, .. }) => Some(phase),
            _ => None,
        }
    }

    #[test]
    fn a_list_is_live_only_once_it_is_complete() {
        let mut t = Tracker::new(3);
        assert_eq!(phase(t.event(&Event::<()>::Init)), Some(Phase::Listing));
        assert!(
            t.event(&Event::InitApply(())).is_none(),
            "a page is not news"
        );
        assert_eq!(phase(t.event(&Event::<()>::InitDone)), Some(Phase::Live));
        assert!(matches!(
            t.event(&Event::Apply(())),
            Some(Update::Changed { index: 3 })
        ));
        assert!(matches!(
            t.event(&Event::Delete(())),
            Some(Update::Changed { index: 3 })
        ));
    }

    #[test]
    fn a_retry_stays_failing_until_the_next_complete_list() {
        let mut t = Tracker::new(0);
        t.event(&Event::<()>::Init);
        t.event(&Event::<()>::InitDone);
        assert!(matches!(
            t.retrying("connection refused".into()),
            Update::Phase { phase: Phase::Failing(r), .. } if r == "connection refused"
        ));
        // The fresh watcher's list: still failing (one line per outage, not per attempt)...
        assert!(t.event(&Event::<()>::Init).is_none());
        // ...a second failure during it is reported again (its reason may differ)...
        assert!(matches!(
            t.retrying("timed out".into()),
            Update::Phase {
                phase: Phase::Failing(_),
                ..
            }
        ));
        assert!(t.event(&Event::<()>::Init).is_none());
        // ...and live once a list completes; the next list is a plain one.
        assert_eq!(phase(t.event(&Event::<()>::InitDone)), Some(Phase::Live));
        assert_eq!(phase(t.event(&Event::<()>::Init)), Some(Phase::Listing));
    }
}
