//! The deadlines of one connection, HTTP/1 and HTTP/2 alike, kept on its reads and writes:
//! - a client owes its request headers within `header_read_timeout`, from connecting and from
//!   the first byte of each later request;
//! - a connection with no request in flight is closed after `idle_timeout`;
//! - a write that makes no progress for `write_timeout` ends the connection, so that a client
//!   that stops reading cannot pin a response's bytes.
//!
//! The handler tells the wrapper when requests start and end through a shared [`Requests`]
//! count. One timer serves all three deadlines and is moved only when it would fire too late or
//! has fired early, so keep-alive requests arriving whole cost no timer operation.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The requests of one connection: being answered now, and begun so far.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    in_flight: AtomicUsize,
    begun: AtomicUsize,
}

impl Requests {
    /// A request's headers are in and its handler runs: until the guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> RequestGuard {
        self.begun.fetch_add(1, Ordering::AcqRel);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        RequestGuard(Arc::clone(self))
    }

    fn any(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    fn begun(&self) -> usize {
        self.begun.load(Ordering::Acquire)
    }
}

/// A request being answered (see [`Requests::begin`]).
pub(crate) struct RequestGuard(Arc<Requests>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The three limits of a connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadlines {
    /// Time to send request headers.
    pub(crate) header: Duration,
    /// Time a connection may stay without a request in flight.
    pub(crate) idle: Duration,
    /// Time a write may make no progress.
    pub(crate) write: Duration,
}

/// Where the reading side of a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reading {
    /// Request headers are owed since then.
    Owed(Instant),
    /// A request is being answered: its body has its own timeout.
    Busy,
    /// No request in flight since then.
    Idle(Instant),
}

/// A stream whose reads and writes end in a timeout error once one of its deadlines passed.
pub(crate) struct Watched<S> {
    inner: S,
    requests: Arc<Requests>,
    deadlines: Deadlines,
    timer: Pin<Box<Sleep>>,
    /// When the timer is set to fire.
    timer_at: Instant,
    reading: Reading,
    /// Requests begun when the reading side was last looked at.
    seen_begun: usize,
    /// Since when writes have made no progress.
    write_stalled: Option<Instant>,
}

impl<S> Watched<S> {
    /// Wraps a stream that has just connected: its first headers are owed from now.
    pub(crate) fn new(inner: S, requests: Arc<Requests>, deadlines: Deadlines) -> Self {
        let now = Instant::now();
        let timer_at = now + deadlines.header;
        Watched {
            inner,
            requests,
            deadlines,
            timer: Box::pin(tokio::time::sleep_until(timer_at)),
            timer_at,
            reading: Reading::Owed(now),
            seen_begun: 0,
            write_stalled: None,
        }
    }

    fn read_due(&self) -> Option<Instant> {
        match self.reading {
            Reading::Owed(since) => Some(since + self.deadlines.header),
            Reading::Busy => None,
            Reading::Idle(since) => Some(since + self.deadlines.idle),
        }
    }

    fn write_due(&self) -> Option<Instant> {
        self.write_stalled.map(|since| since + self.deadlines.write)
    }

    /// Follows the requests: busy while one is in flight, idle from when the last one ended
    /// (even one that began and ended between two looks).
    fn follow_requests(&mut self, now: Instant) {
        let begun = self.requests.begun();
        if self.requests.any() {
            self.reading = Reading::Busy;
        } else if self.reading == Reading::Busy || begun != self.seen_begun {
            self.reading = Reading::Idle(now);
        }
        self.seen_begun = begun;
    }

    /// Makes sure the task wakes by the earliest deadline: the timer is moved only when it is
    /// set later than that, or has fired already.
    fn arm(&mut self, cx: &mut Context<'_>, now: Instant) {
        let due = match (self.read_due(), self.write_due()) {
            (Some(r), Some(w)) => r.min(w),
            (due, None) | (None, due) => match due {
                Some(due) => due,
                None => return,
            },
        };
        if self.timer_at > due || self.timer_at <= now {
            self.timer.as_mut().reset(due);
            self.timer_at = due;
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            // Due now: the caller's next poll answers with the timeout.
            cx.waker().wake_by_ref();
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let now = Instant::now();
        this.follow_requests(now);
        if this.read_due().is_some_and(|due| now >= due) {
            let what = if matches!(this.reading, Reading::Owed(_)) { "request headers" } else { "a request" };
            return Poll::Ready(Err(timed_out(&format!("{what} not received in time"))));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        match read {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                if let Reading::Idle(_) = this.reading {
                    // The first bytes of a new request: its headers are owed from now. The timer
                    // is moved only if this read does not bring them whole (the next poll waits).
                    this.reading = Reading::Owed(now);
                }
            }
            Poll::Pending => this.arm(cx, now),
            Poll::Ready(_) => {}
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> Watched<S> {
    /// A write's outcome, with the stall deadline kept: progress clears it, waiting starts it.
    fn after_write(&mut self, cx: &mut Context<'_>, written: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(Ok(n)) if n > 0 => {
                self.write_stalled = None;
                written
            }
            Poll::Pending => {
                let now = Instant::now();
                let since = *self.write_stalled.get_or_insert(now);
                if now >= since + self.deadlines.write {
                    return Poll::Ready(Err(timed_out("the client reads nothing of the answer")));
                }
                self.follow_requests(now);
                self.arm(cx, now);
                Poll::Pending
            }
            Poll::Ready(_) => written,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.after_write(cx, written)
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
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.after_write(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const DEADLINES: Deadlines =
        Deadlines { header: Duration::from_secs(10), idle: Duration::from_secs(60), write: Duration::from_secs(30) };

    #[tokio::test(start_paused = true)]
    async fn owed_headers_time_out_and_requests_being_answered_do_not() {
        let (client, server) = tokio::io::duplex(64);
        let requests = Arc::new(Requests::default());
        let mut watched = Watched::new(server, Arc::clone(&requests), DEADLINES);
        let mut client = client;
        client.write_all(b"GET / HT").await.unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(watched.read(&mut buf).await.unwrap(), 8);
        // Half a request line, then nothing: the read ends with a timeout after 10 s.
        let err = watched.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);

        // While a request is answered, a slow body is not the header deadline's business.
        let (client, server) = tokio::io::duplex(64);
        let mut watched = Watched::new(server, Arc::clone(&requests), DEADLINES);
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

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_requests_closes_when_idle() {
        let (mut client, server) = tokio::io::duplex(64);
        let requests = Arc::new(Requests::default());
        let mut watched = Watched::new(server, Arc::clone(&requests), DEADLINES);
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(watched.read(&mut buf).await.unwrap(), 18);
        // A request came and went; then nothing.
        drop(requests.begin());
        let started = Instant::now();
        let err = watched.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed().as_secs(), 60, "the idle timeout, not the header one");
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_makes_no_progress_ends_in_a_timeout() {
        let (_client, server) = tokio::io::duplex(16);
        let requests = Arc::new(Requests::default());
        let _answering = requests.begin();
        let mut watched = Watched::new(server, Arc::clone(&requests), DEADLINES);
        // The client never reads: after 16 bytes the pipe is full.
        let started = Instant::now();
        let err = watched.write_all(&[0u8; 1024]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed().as_secs(), 30);
    }
}
