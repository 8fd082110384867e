//! One kube-runtime watcher and reflector store per distinct watched set (kind, namespace,
//! selector or name).
//!
//! Each watcher runs as its own task, applies events to its store, and tells the aggregator
//! only what can change a verdict: its phase (listing / live / failing) and that live objects
//! changed. The aggregator reads the stores; nothing here judges readiness.
//!
//! - this module: what a watcher tells the aggregator ([`Phase`], [`Update`]), and the
//!   running watchers' stores;
//! - [`discovery`]: what the server serves (endpoints API, `--resource` types), asked once;
//! - `resolve`: a watched set → the API requests that read it;
//! - `task`: one watcher's loop (list, watch, retry);
//! - [`tracker`]: its phase bookkeeping;
//! - [`list`]: `depwait check`'s one list, no watch.

pub mod discovery;
pub mod list;
mod resolve;
mod task;
pub mod tracker;

use std::sync::Arc;

use kube::Client;
use kube::api::DynamicObject;
use kube::runtime::reflector::Store;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

pub use discovery::{Discovery, EndpointsApi};
pub use list::{Snapshot, list_once};
pub use tracker::Tracker;

use crate::api_error::FatalApiError;
use crate::dependency::{WatchKey, WatchKind};
use crate::slim::WatchedPod;

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
    /// The server does not serve the watched type (yet): a custom resource whose definition is
    /// not installed. Discovery is asked again with a short backoff.
    NotServed(String),
}

/// What a watcher (or probe) task tells the aggregator.
#[derive(Debug)]
pub enum Update {
    /// Source `index` changed phase.
    Phase {
        /// Index into the source list.
        index: usize,
        /// The new phase.
        phase: Phase,
    },
    /// Source `index` applied a live add/modify/delete to its store.
    Changed {
        /// Index into the source list.
        index: usize,
    },
    /// Source `index` hit an error waiting cannot fix.
    Fatal {
        /// Index into the source list.
        index: usize,
        /// The error, ready to show.
        error: FatalApiError,
    },
    /// Probe `index` has a new result.
    Probe {
        /// Index into the source list.
        index: usize,
        /// What it found (`10.0.0.7`) or why not (`NXDOMAIN`).
        status: crate::probe::ProbeStatus,
    },
}

/// The read side of a watcher's reflector store.
#[derive(Clone)]
pub enum Objects {
    /// Pods, typed: their readiness rules read many fields.
    Pods(Store<WatchedPod>),
    /// Everything else, untyped: services and endpoint slices of whichever API version the
    /// server serves.
    Dynamic(Store<DynamicObject>),
}

impl Objects {
    /// The pods in the store (none for a non-pod store).
    pub fn pods(&self) -> Vec<Arc<WatchedPod>> {
        match self {
            Objects::Pods(s) => s.state(),
            Objects::Dynamic(_) => Vec::new(),
        }
    }

    /// The objects in a dynamic store (none for a pod store).
    pub fn dynamic(&self) -> Vec<Arc<DynamicObject>> {
        match self {
            Objects::Pods(_) => Vec::new(),
            Objects::Dynamic(s) => s.state(),
        }
    }
}

/// A running watcher: its key, its store, and the task feeding it.
pub struct Watch {
    /// What is watched.
    pub key: WatchKey,
    /// Read side of the reflector store.
    pub objects: Objects,
    /// Aborted on drop so an early exit leaves no request behind.
    task: JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Start one watcher for `key` as source `index`; its updates go to `tx`.
pub fn start(
    client: &Client,
    discovery: &Arc<Discovery>,
    index: usize,
    key: WatchKey,
    tx: &UnboundedSender<Update>,
) -> Watch {
    let (objects, task) = match key.kind {
        WatchKind::Pods => {
            let (store, task) = task::start(client, discovery, index, &key, tx);
            (Objects::Pods(store), task)
        }
        WatchKind::Services | WatchKind::ServiceEndpoints | WatchKind::Objects => {
            let (store, task) = task::start(client, discovery, index, &key, tx);
            (Objects::Dynamic(store), task)
        }
    };
    Watch { key, objects, task }
}
