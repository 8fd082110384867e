//! One connection to an HTTP/2 API server, even when every watcher asks at once.
//!
//! hyper's pool shares an HTTP/2 connection only once the connection exists and ALPN has said
//! `h2`. Requests that start while there is none (a wait's watchers all list at once, and they
//! re-list at once after a GOAWAY) each open one. hyper keeps only one of them, but the API
//! server has paid a TLS handshake for every one, which is the cost HTTP/2 is there to remove.
//! So while no connection is open, requests go one at a time until the first has its answer:
//! by then its connection is in the pool, and the rest take it (HTTP/2), or open their own at
//! once (HTTP/1.1). No request waits longer than that first answer. Once a connection is
//! open, nothing waits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use tokio::sync::Mutex;
use tower::Service;

/// What the connector and the request gate share.
#[derive(Default)]
pub struct Gate {
    /// Connections open now.
    open: AtomicUsize,
    /// Held by the one request that goes while no connection is open.
    first: Mutex<()>,
}

impl Gate {
    /// A gate for one client.
    pub fn new() -> Arc<Self> {
        Arc::new(Gate::default())
    }
}

/// A connector whose connections are counted while open.
#[derive(Clone)]
pub struct Counted<C> {
    inner: C,
    gate: Arc<Gate>,
}

impl<C> Counted<C> {
    /// Count `inner`'s connections in `gate`.
    pub fn new(inner: C, gate: Arc<Gate>) -> Self {
        Counted { inner, gate }
    }
}

impl<C> Service<http::Uri> for Counted<C>
where
    C: Service<http::Uri>,
    C::Future: Send + 'static,
    C::Response: Send + 'static,
{
    type Response = Open<C::Response>;
    type Error = C::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let gate = self.gate.clone();
        Box::pin(async move {
            let io = connecting.await?;
            gate.open.fetch_add(1, Ordering::SeqCst);
            Ok(Open { io, gate })
        })
    }
}

/// A connection, counted as open until dropped.
pub struct Open<U> {
    io: U,
    gate: Arc<Gate>,
}

impl<U> Drop for Open<U> {
    fn drop(&mut self) {
        self.gate.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<U: Connection> Connection for Open<U> {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}

impl<U: Read + Unpin> Read for Open<U> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<U: Write + Unpin> Write for Open<U> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

/// The request side: while no connection is open, one request at a time, until it has its
/// answer (see the module's docs).
#[derive(Clone)]
pub struct FirstAlone<S> {
    inner: S,
    gate: Arc<Gate>,
}

impl<S> FirstAlone<S> {
    /// Gate `inner`'s requests by `gate`, which its connector counts.
    pub fn new(inner: S, gate: Arc<Gate>) -> Self {
        FirstAlone { inner, gate }
    }
}

impl<S, R> Service<R> for FirstAlone<S>
where
    S: Service<R> + Clone + Send + 'static,
    S::Future: Send,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        // The clone that was made ready is the one to call; a fresh clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let gate = self.gate.clone();
        Box::pin(async move {
            if gate.open.load(Ordering::SeqCst) == 0 {
                let _first = gate.first.lock().await;
                if gate.open.load(Ordering::SeqCst) == 0 {
                    // This request opens the connection the others will find.
                    return inner.call(request).await;
                }
            }
            inner.call(request).await
        })
    }
}
