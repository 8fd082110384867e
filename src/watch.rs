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

async fn run(
    index: usize,
    key: WatchKey,
    api: Api<Pod>,
    config: watcher::Config,
    mut writer: reflector::store::Writer<Pod>,
    tx: UnboundedSender<Update>,
) {
    let send = |update| {
        // The receiver is gone only when the wait is over: stop quietly.
        tx.send(update).is_ok()
    };
    let mut backoff = DefaultBackoff::default();
    // While retrying after an error, the phase stays `Failing` through the next list's `Init`
    // until its `InitDone`: a retry loop logs one line, not one per attempt.
    let mut failing = false;
    loop {
        let mut events = std::pin::pin!(watcher(api.clone(), config.clone()).modify(slim));
        while let Some(item) = events.next().await {
            let update = match item {
                Ok(event) => {
                    writer.apply_watcher_event(&event);
                    match event {
                        Event::Init if failing => continue,
                        Event::Init => Update::Phase {
                            index,
                            phase: Phase::Listing,
                        },
                        Event::InitApply(_) => continue,
                        Event::InitDone => {
                            backoff.reset();
                            failing = false;
                            Update::Phase {
                                index,
                                phase: Phase::Live,
                            }
                        }
                        Event::Apply(_) | Event::Delete(_) => Update::Changed { index },
                    }
                }
                Err(err) => match api_error::classify(&err, &key) {
                    Verdict::Fatal(error) => {
                        send(Update::Fatal { index, error });
                        return;
                    }
                    Verdict::Retry(reason) => {
                        failing = true;
                        if !send(Update::Phase {
                            index,
                            phase: Phase::Failing(reason),
                        }) {
                            return;
                        }
                        // Drop this watcher and start over with a fresh list: the watcher would
                        // resume silently from its resourceVersion, and then nothing would say
                        // when the store is trustworthy again. A new list ends in `InitDone`.
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
