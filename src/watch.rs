//! One kube-runtime watcher and reflector store per distinct (namespace, selector).
//!
//! Each watcher runs as its own task, applies events to its store, and tells the aggregator
//! only what can change a verdict: its phase (listing / live / failing) and that live objects
//! changed. The aggregator reads the stores; nothing here judges readiness.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, DefaultBackoff, Event, watcher};
use kube::{Api, Client};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::api_error::{self, FatalApiError, Verdict};
use crate::dependency::WatchKey;
use crate::readiness::pod::slim;

/// Where a watcher is, as far as trusting its store goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// (Re-)listing. The store may still hold the previous list until `InitDone` swaps it in:
    /// nothing judged from it counts.
    Listing,
    /// The list is complete and the watch is open: the store is current.
    Live,
    /// The last request failed; retrying with backoff. The store may be stale.
    Failing(String),
}

/// What a watcher task tells the aggregator.
#[derive(Debug)]
pub enum Update {
    /// Watcher `index` changed phase.
    Phase {
        /// Index into the watch list.
        index: usize,
        /// The new phase.
        phase: Phase,
    },
    /// Watcher `index` applied a live add/modify/delete to its store.
    Changed {
        /// Index into the watch list.
        index: usize,
    },
    /// Watcher `index` hit an error waiting cannot fix.
    Fatal {
        /// Index into the watch list.
        index: usize,
        /// The error, ready to show.
        error: FatalApiError,
    },
}

/// A running watcher: its key, its store, and the task feeding it.
pub struct PodWatch {
    /// What is watched.
    pub key: WatchKey,
    /// Read side of the reflector store.
    pub store: Store<Pod>,
    /// Aborted on drop so an early exit leaves no request behind.
    task: JoinHandle<()>,
}

impl Drop for PodWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Server-side watch timeout: below the API server's 5-minute cap (kube requires < 295 s) so
/// the watch is renewed by us, not cut by a proxy.
const WATCH_TIMEOUT_SECS: u32 = 290;

/// Start one watcher per key; their updates go to `tx`.
pub fn spawn(client: &Client, keys: Vec<WatchKey>, tx: UnboundedSender<Update>) -> Vec<PodWatch> {
    keys.into_iter()
        .enumerate()
        .map(|(index, key)| {
            let api: Api<Pod> = Api::namespaced(client.clone(), &key.namespace);
            let (store, writer) = reflector::store();
            let config = watcher::Config::default()
                .labels(&key.selector)
                .timeout(WATCH_TIMEOUT_SECS);
            let task = tokio::spawn(run(index, key.clone(), api, config, writer, tx.clone()));
            PodWatch { key, store, task }
        })
        .collect()
}

/// Turns one watcher's events and errors into the updates the aggregator acts on.
///
/// Pure bookkeeping, kept apart from the I/O loop so the property tests drive exactly the
/// phase logic the watcher tasks use.
#[derive(Debug)]
pub struct Tracker {
    /// Index of this watcher in the watch list.
    index: usize,
    /// Set by a retryable error, cleared by the next complete list. While set, the phase
    /// stays `Failing` through the new list's `Init`: a retry loop logs one line, not one per
    /// attempt.
    failing: bool,
}

impl Tracker {
    /// A tracker for watcher `index`.
    pub fn new(index: usize) -> Self {
        Self {
            index,
            failing: false,
        }
    }

    /// The update an event (already applied to the store) calls for, if any.
    pub fn event(&mut self, event: &Event<Pod>) -> Option<Update> {
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

async fn run(
    index: usize,
    key: WatchKey,
    api: Api<Pod>,
    config: watcher::Config,
    mut writer: reflector::store::Writer<Pod>,
    tx: UnboundedSender<Update>,
) {
    // The receiver is gone only when the wait is over: then stop quietly.
    let send = |update| tx.send(update).is_ok();
    let mut tracker = Tracker::new(index);
    let mut backoff = DefaultBackoff::default();
    loop {
        let mut events = std::pin::pin!(watcher(api.clone(), config.clone()).modify(slim));
        while let Some(item) = events.next().await {
            let update = match item {
                Ok(event) => {
                    writer.apply_watcher_event(&event);
                    if matches!(event, Event::InitDone) {
                        backoff.reset();
                    }
                    match tracker.event(&event) {
                        Some(update) => update,
                        None => continue,
                    }
                }
                Err(err) => match api_error::classify(&err, &key) {
                    Verdict::Fatal(error) => {
                        send(Update::Fatal { index, error });
                        return;
                    }
                    Verdict::Retry(reason) => {
                        if !send(tracker.retrying(reason)) {
                            return;
                        }
                        break;
                    }
                },
            };
            if !send(update) {
                return;
            }
        }
        let delay = backoff.next().unwrap_or(Duration::from_secs(30));
        tokio::time::sleep(delay).await;
    }
}
