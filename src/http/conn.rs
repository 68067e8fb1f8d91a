//! The header deadline of one connection: from the moment it connects, and from the first byte
//! of each later request, a client has `header_read_timeout` to finish sending its request
//! headers, else the connection is closed. A request being answered is not timed here (its body
//! has its own timeout), and an idle keep-alive connection is hyper's to close after
//! `idle_timeout`.
//!
//! The stream is wrapped so that its reads see the deadline; the handler tells the wrapper when
//! requests start and end through a shared [`Requests`] count.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Requests of one connection being answered now.
#[derive(Debug, Default)]
pub(crate) struct Requests(AtomicUsize);

impl Requests {
    /// A request's headers are in and its handler runs: until the guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> RequestGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        RequestGuard(Arc::clone(self))
    }

    fn any(&self) -> bool {
        self.0.load(Ordering::Acquire) > 0
    }
}

/// A request being answered (see [`Requests::begin`]).
pub(crate) struct RequestGuard(Arc<Requests>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A stream whose reads end in a timeout error once a client that owes request headers has
/// taken longer than the deadline to send them.
pub(crate) struct HeaderDeadline<S> {
    inner: S,
    requests: Arc<Requests>,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    /// Whether headers are owed and the deadline runs.
    armed: bool,
}

impl<S> HeaderDeadline<S> {
    /// Wraps a stream that has just connected: its first headers are owed from now.
    pub(crate) fn new(inner: S, requests: Arc<Requests>, timeout: Duration) -> Self {
        let deadline = Box::pin(tokio::time::sleep(timeout));
        HeaderDeadline { inner, requests, timeout, deadline, armed: true }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HeaderDeadline<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.requests.any() {
            this.armed = false;
        } else if this.armed && this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request headers not received in time")));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before && !this.armed && !this.requests.any() {
            // The first bytes of a new request: its headers are owed from now.
            this.armed = true;
            this.deadline.as_mut().reset(Instant::now() + this.timeout);
            // Registers the waker with the new deadline.
            let _ = this.deadline.as_mut().poll(cx);
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeaderDeadline<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn owed_headers_time_out_and_requests_being_answered_do_not() {
        let (client, server) = tokio::io::duplex(64);
        let requests = Arc::new(Requests::default());
        let mut watched = HeaderDeadline::new(server, Arc::clone(&requests), Duration::from_secs(10));
        let mut client = client;
        client.write_all(b"GET / HT").await.unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(watched.read(&mut buf).await.unwrap(), 8);
        // Half a request line, then nothing: the read ends with a timeout after 10 s.
        let err = watched.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);

        // While a request is answered, a slow body is not the header deadline's business.
        let (client, server) = tokio::io::duplex(64);
        let mut watched = HeaderDeadline::new(server, Arc::clone(&requests), Duration::from_secs(10));
        let guard = requests.begin();
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            watched.read(&mut buf).await.map(|_| ())
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        let mut client = client;
        client.write_all(b"body").await.unwrap();
        assert!(reader.await.unwrap().is_ok());
        drop(guard);
    }
}
