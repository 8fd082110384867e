//! One watcher's task: resolve the API (retrying discovery like a failed list), then list and
//! watch for good, applying events to the store and telling the aggregator what changed.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::Client;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::Store;
use kube::runtime::reflector::store::Writer;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{DefaultBackoff, Event, watcher};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use super::resolve::{ResolveError, Resolved, Stored, resolve};
use super::{Discovery, Phase, Tracker, Update};
use crate::api_error::{self, Handling};
use crate::dependency::WatchKey;
use crate::kinds;

/// A type not served yet is looked up again this soon…
const NOT_SERVED_FIRST_RETRY: Duration = Duration::from_millis(250);
/// …and then at most this far apart: a CRD installed during the wait is seen within seconds,
/// at the cost of one or two discovery requests per retry.
const NOT_SERVED_MAX_RETRY: Duration = Duration::from_secs(4);

/// The longest pause between retries, should the backoff ever end.
const LAST_RESORT_DELAY: Duration = Duration::from_secs(30);

/// Start the task feeding a new store of `K` for `key`, source `index`.
pub(super) fn start<K: Stored>(
    client: &Client,
    discovery: &Arc<Discovery>,
    index: usize,
    key: &WatchKey,
    tx: &UnboundedSender<Update>,
) -> (Store<K>, JoinHandle<()>) {
    let writer = K::writer();
    let store = writer.as_reader();
    let feed = Feed {
        index,
        writer,
        tracker: Tracker::new(index),
        backoff: DefaultBackoff::default(),
        tx: tx.clone(),
    };
    let task = tokio::spawn(feed.run(client.clone(), discovery.clone(), key.clone()));
    (store, task)
}

/// The state of one watcher's loop.
struct Feed<K: Stored> {
    /// Index of this source on the board.
    index: usize,
    /// The write side of the store.
    writer: Writer<K>,
    /// Phase bookkeeping.
    tracker: Tracker,
    /// Retry delays, shared by discovery and the watch: reset by a complete list.
    backoff: DefaultBackoff,
    /// Where updates go; gone when the wait is over.
    tx: UnboundedSender<Update>,
}

impl<K: Stored> Feed<K> {
    /// False once the receiver is gone: the wait is over, stop quietly.
    fn send(&self, update: Update) -> bool {
        self.tx.send(update).is_ok()
    }

    fn retry_delay(&mut self) -> Duration {
        self.backoff.next().unwrap_or(LAST_RESORT_DELAY)
    }

    async fn run(mut self, client: Client, discovery: Arc<Discovery>, key: WatchKey) {
        if let Some(resolved) = self.resolve(&client, &discovery, &key).await {
            self.watch_forever(client, resolved).await;
        }
    }

    /// Ask until the API of `key` is known; `None` when the task should end.
    async fn resolve(
        &mut self,
        client: &Client,
        discovery: &Discovery,
        key: &WatchKey,
    ) -> Option<Resolved> {
        let mut not_served_delay = NOT_SERVED_FIRST_RETRY;
        let mut searched = kinds::Searched::default();
        loop {
            let (update, delay) = match resolve(client, discovery, key, &mut searched).await {
                Ok(resolved) => return Some(resolved),
                Err(ResolveError::Api(e)) => {
                    if let Some(error) = api_error::tls_fatal(&e) {
                        let index = self.index;
                        self.send(Update::Fatal { index, error });
                        return None;
                    }
                    let reason = format!("API discovery failed: {}", api_error::with_causes(&e));
                    let delay = self.retry_delay();
                    (self.tracker.retrying(reason), delay)
                }
                Err(e @ ResolveError::NotServed(_)) => {
                    let delay = not_served_delay;
                    not_served_delay = (not_served_delay * 2).min(NOT_SERVED_MAX_RETRY);
                    let phase = Phase::NotServed(e.reason());
                    let index = self.index;
                    (Update::Phase { index, phase }, delay)
                }
            };
            if !self.send(update) {
                return None;
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// List and watch until the wait is over or an error no retry can fix.
    async fn watch_forever(mut self, client: Client, resolved: Resolved) {
        let api = K::api(client, &resolved);
        let Resolved {
            config, request, ..
        } = resolved;
        loop {
            let mut events =
                std::pin::pin!(watcher(api.clone(), config.clone()).modify(|o: &mut K| o.slim()));
            while let Some(item) = events.next().await {
                let update = match item {
                    Ok(event) => {
                        self.writer.apply_watcher_event(&event);
                        if matches!(event, Event::InitDone) {
                            self.backoff.reset();
                        }
                        match self.tracker.event(&event) {
                            Some(update) => update,
                            None => continue,
                        }
                    }
                    Err(err) => match api_error::classify(&err, &request) {
                        Handling::Fatal(error) => {
                            let index = self.index;
                            self.send(Update::Fatal { index, error });
                            return;
                        }
                        // A fresh watcher follows: one resumed from its resourceVersion would
                        // give no sign of when the store is current again.
                        Handling::Retry(reason) => {
                            let update = self.tracker.retrying(reason);
                            if !self.send(update) {
                                return;
                            }
                            break;
                        }
                    },
                };
                if !self.send(update) {
                    return;
                }
            }
            let delay = self.retry_delay();
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first retry after a lost watch is spread: kube-runtime's backoff adds a random
    /// jitter of up to the delay itself (0.8 s + up to 0.8 s), so hundreds of waiters that lost
    /// their watches in the same second (an API server restart) re-list over most of a second,
    /// not in one burst. Bounded: never past twice the base.
    #[test]
    fn the_first_retry_after_a_lost_watch_is_jittered_and_bounded() {
        let firsts: Vec<Duration> = (0..200)
            .map(|_| DefaultBackoff::default().next().unwrap())
            .collect();
        let (low, high) = (Duration::from_millis(800), Duration::from_millis(1600));
        assert!(firsts.iter().all(|d| *d >= low && *d <= high), "{firsts:?}");
        let spread = firsts
            .iter()
            .max()
            .unwrap()
            .saturating_sub(*firsts.iter().min().unwrap());
        assert!(
            spread > Duration::from_millis(400),
            "spread only {spread:?}"
        );
    }
}
