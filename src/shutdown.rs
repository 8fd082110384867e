//! The signals that end a run early: SIGTERM (the kubelet stopping the pod) and SIGINT.

use std::fmt;

/// The signals that end a wait (or a check) early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C, or `kill -INT`.
    Interrupt,
    /// The kubelet stopping the pod.
    Terminate,
}

/// How every report says it: "interrupted by SIGINT", "terminated by SIGTERM".
impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "interrupted by SIGINT",
            Signal::Terminate => "terminated by SIGTERM",
        })
    }
}

/// Resolves on SIGTERM or SIGINT — also for a signal that came before the call: the first call
/// starts one listener for the process and every call reads its latch, so a signal between two
/// steps (credentials, then the wait) is not lost (tokio delivers a signal only to listeners
/// that exist when it comes).
pub async fn signal() -> Signal {
    use std::sync::OnceLock;
    use tokio::signal::unix::{SignalKind, signal};
    use tokio::sync::watch;
    static LATCH: OnceLock<watch::Receiver<Option<Signal>>> = OnceLock::new();
    let mut latch = LATCH
        .get_or_init(|| {
            let (tx, rx) = watch::channel(None);
            let term = signal(SignalKind::terminate());
            tokio::spawn(async move {
                let got = match term {
                    Ok(mut term) => tokio::select! {
                        _ = term.recv() => Signal::Terminate,
                        _ = tokio::signal::ctrl_c() => Signal::Interrupt,
                    },
                    // Without a SIGTERM handler the default action still ends the process.
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                        Signal::Interrupt
                    }
                };
                let _ = tx.send(Some(got));
            });
            rx
        })
        .clone();
    match latch.wait_for(Option::is_some).await {
        Ok(got) => got.unwrap_or(Signal::Terminate),
        // The listener is gone only with the runtime.
        Err(_) => std::future::pending().await,
    }
}
