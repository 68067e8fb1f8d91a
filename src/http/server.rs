//! The accept loop of both ports: serves a bound listener with a handler until the shutdown
//! future resolves, then drains.
//!
//! Draining, in order: take the connections the kernel already queued for this listener, stop
//! listening (a second process on the port with SO_REUSEPORT now gets every new connection), answer
//! the next request on each keep-alive connection with `Connection: close` so that clients move
//! over instead of racing a close of an idle connection, and after that (or at the latest after
//! two seconds) close idle connections and wait for requests still in flight, up to `grace`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};

use super::HttpResponse;

/// How long keep-alive clients get to come back for one more answer before idle connections
/// are closed.
const KEEP_ALIVE_DRAIN: Duration = Duration::from_secs(2);

struct Connections<H> {
    graceful: GracefulShutdown,
    builder: auto::Builder<TokioExecutor>,
    handler: H,
    draining: Arc<AtomicBool>,
    open: Arc<AtomicUsize>,
}

impl<H, F> Connections<H>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    fn serve(&self, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let (handler, draining) = (self.handler.clone(), Arc::clone(&self.draining));
        let service = service_fn(move |req: Request<Incoming>| {
            let (handler, draining) = (handler.clone(), Arc::clone(&draining));
            async move {
                let http1 = matches!(req.version(), Version::HTTP_10 | Version::HTTP_11);
                let mut response = handler(req).await;
                if http1 && draining.load(Ordering::Acquire) {
                    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response)
            }
        });
        let conn = self.graceful.watch(self.builder.serve_connection(TokioIo::new(stream), service).into_owned());
        let open = Arc::clone(&self.open);
        open.fetch_add(1, Ordering::AcqRel);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            open.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// Serves `listener` with `handler` until `shutdown` resolves; then drains (see the module docs)
/// for at most `grace`.
pub async fn run<H, F>(listener: TcpListener, handler: H, shutdown: impl Future<Output = ()>, grace: Duration)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    let connections = Connections {
        graceful: GracefulShutdown::new(),
        builder: auto::Builder::new(TokioExecutor::new()),
        handler,
        draining: Arc::new(AtomicBool::new(false)),
        open: Arc::new(AtomicUsize::new(0)),
    };
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => connections.serve(stream),
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    let deadline = Instant::now() + grace;
    connections.draining.store(true, Ordering::Release);
    while let Some(Ok((stream, _))) = listener.accept().now_or_never() {
        connections.serve(stream);
    }
    drop(listener);

    let keep_alive_until = Instant::now() + KEEP_ALIVE_DRAIN.min(grace);
    while connections.open.load(Ordering::Acquire) > 0 && Instant::now() < keep_alive_until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rest = deadline.saturating_duration_since(Instant::now());
    if tokio::time::timeout(rest, connections.graceful.shutdown()).await.is_err() {
        tracing::warn!(?grace, "grace period over; closing the remaining connections");
    }
}
