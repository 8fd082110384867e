//! The running sources of one wait — watchers and probes (DNS, TCP) — by source index, as the
//! aggregator reads them.

use std::sync::Arc;

use crate::slim::WatchedPod;
use kube::Client;
use kube::api::DynamicObject;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::aggregate::{Sources, View};
use crate::dependency::SourceKey;
use crate::probe;
use crate::watch::{self, Discovery, Update, Watch};

/// Watchers and probes, indexed like the board's sources.
pub struct Running {
    /// The watcher of each watch source; `None` for probes.
    watches: Vec<Option<Watch>>,
    /// Probe tasks, aborted on drop so an early exit leaves nothing behind.
    probes: Vec<JoinHandle<()>>,
    /// Where probes send their results.
    tx: UnboundedSender<Update>,
}

impl Running {
    /// Start a watcher or probe for every source in `keys` (source `i` is `keys[i]`).
    /// `client` may be `None` only when no key is a watch.
    pub fn start(client: Option<&Client>, keys: &[SourceKey], tx: UnboundedSender<Update>) -> Self {
        let discovery = Arc::new(Discovery::default());
        let mut running = Self {
            watches: Vec::with_capacity(keys.len()),
            probes: Vec::new(),
            tx,
        };
        for (index, key) in keys.iter().enumerate() {
            match (key, client) {
                (SourceKey::Watch(w), Some(client)) => {
                    let watch = watch::start(client, &discovery, index, w.clone(), &running.tx);
                    running.watches.push(Some(watch));
                }
                (SourceKey::Watch(w), None) => {
                    unreachable!("config gives watches only with a client: {w}")
                }
                (SourceKey::Probe(check), _) => {
                    running.watches.push(None);
                    running.start_probe(index, check);
                }
            }
        }
        running
    }
}

impl View for Running {
    fn pods(&self, source: usize) -> Vec<Arc<WatchedPod>> {
        match self.watches.get(source) {
            Some(Some(w)) => w.objects.pods(),
            _ => Vec::new(),
        }
    }

    fn dynamic(&self, source: usize) -> Vec<Arc<DynamicObject>> {
        match self.watches.get(source) {
            Some(Some(w)) => w.objects.dynamic(),
            _ => Vec::new(),
        }
    }
}

impl Sources for Running {
    fn start_probe(&mut self, index: usize, check: &probe::Check) {
        if self.watches.len() <= index {
            self.watches.resize_with(index + 1, || None);
        }
        let tx = self.tx.clone();
        let task = probe::spawn(check.clone(), move |status| {
            tx.send(Update::Probe { index, status }).is_ok()
        });
        self.probes.push(task);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.probes {
            task.abort();
        }
    }
}
