//! The accept loop of both ports: serves a bound listener with a handler until the shutdown
//! future resolves, then drains. Connections are bounded: at most `max_connections` at once
//! (past it new ones wait in the kernel's backlog), at most `max_connections_per_client` of them
//! from one client (past it a new one is closed at once; see `clients`), request headers due within
//! `header_read_timeout`, connections without a request in flight closed after `idle_timeout`,
//! writes that make no progress ended after `write_timeout`, HTTP/1 and HTTP/2 alike (see
//! `conn`).
//!
//! Draining, in order: take the connections the kernel already queued for this listener, stop
//! listening (a second process on the port with SO_REUSEPORT now gets every new connection), answer
//! the next request on each keep-alive connection with `Connection: close` so that clients move
//! over instead of racing a close of an idle connection, and after that (or at the latest after
//! two seconds) close idle connections and wait for requests still in flight, up to `grace`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
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
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use ipnet::IpNet;

use super::clients::{ClientSlot, PerClient};
use super::conn::{Deadlines, Requests, Watched};
use super::reactors::Reactors;
use super::{HttpResponse, Peer};

/// Requests one HTTP/2 connection may have in flight at once.
const MAX_STREAMS: u32 = 32;

/// How long keep-alive clients get to come back for one more answer before idle connections
/// are closed.
const KEEP_ALIVE_DRAIN: Duration = Duration::from_secs(2);

/// Whether shutdown has begun, shared by what answers for the process's health: the status
/// port's `/health` and the main port's `/status_check`. Set once, by the wiring, as the drain
/// starts.
#[derive(Clone, Debug, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    /// Shutdown has begun: health answers say so from now on.
    pub fn begin(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// What a port's connections may hold.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// Time a client has to send its request headers.
    pub header_read_timeout: Duration,
    /// Time a connection may stay without a request in flight.
    pub idle_timeout: Duration,
    /// Time a write may make no progress.
    pub write_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections one client (an IPv4 address, an IPv6 /64) may hold at once; 0 for no cap.
    pub max_connections_per_client: usize,
    /// Peers whose connections are not capped per client (the trusted proxies).
    pub uncapped_peers: Arc<[IpNet]>,
}

struct Connections<H> {
    /// Where connections live: these threads, or (without them) the runtime accepting them.
    reactors: Option<Reactors>,
    graceful: GracefulShutdown,
    builder: auto::Builder<TokioExecutor>,
    handler: H,
    draining: Arc<AtomicBool>,
    open: Arc<AtomicUsize>,
    deadlines: Deadlines,
}

impl<H, F> Connections<H>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    fn serve(&self, stream: TcpStream, peer: SocketAddr, permit: OwnedSemaphorePermit, client: ClientSlot) {
        let _ = stream.set_nodelay(true);
        let requests = Arc::new(Requests::default());
        let (handler, draining) = (self.handler.clone(), Arc::clone(&self.draining));
        let service = {
            let requests = Arc::clone(&requests);
            service_fn(move |mut req: Request<Incoming>| {
                let (handler, draining, request) = (handler.clone(), Arc::clone(&draining), requests.begin());
                req.extensions_mut().insert(Peer(peer));
                async move {
                    let http1 = matches!(req.version(), Version::HTTP_10 | Version::HTTP_11);
                    let mut response = handler(req).await;
                    if http1 && draining.load(Ordering::Acquire) {
                        response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
                    }
                    drop(request);
                    Ok::<_, Infallible>(response)
                }
            })
        };
        let (builder, watcher, deadlines) = (self.builder.clone(), self.graceful.watcher(), self.deadlines);
        let open = Arc::clone(&self.open);
        open.fetch_add(1, Ordering::AcqRel);
        // Taken off this runtime's poller when it moves to a reactor, and put on the reactor's.
        let (socket, reactor) = match &self.reactors {
            None => (Socket::Here(stream), None),
            Some(reactors) => match stream.into_std() {
                Ok(std) => (Socket::Moving(std), Some(reactors.next())),
                Err(e) => {
                    open.fetch_sub(1, Ordering::AcqRel);
                    return tracing::debug!(error = %e, "connection could not leave the accepting runtime");
                }
            },
        };
        let connection = async move {
            match socket.arrive() {
                Ok(stream) => {
                    let io = TokioIo::new(Watched::new(stream, requests, deadlines));
                    if let Err(e) = watcher.watch(builder.serve_connection(io, service).into_owned()).await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                Err(e) => tracing::debug!(error = %e, "connection could not move to a reactor"),
            }
            open.fetch_sub(1, Ordering::AcqRel);
            drop((permit, client));
        };
        match reactor {
            Some(reactor) => drop(reactor.spawn(connection)),
            None => drop(tokio::spawn(connection)),
        }
    }
}

/// A connection's socket: on the accepting runtime, or taken off it on its way to a reactor.
enum Socket {
    Here(TcpStream),
    Moving(std::net::TcpStream),
}

impl Socket {
    /// The socket on the runtime this is called on.
    fn arrive(self) -> std::io::Result<TcpStream> {
        match self {
            Socket::Here(stream) => Ok(stream),
            Socket::Moving(std) => TcpStream::from_std(std),
        }
    }
}

/// Serves `listener` with `handler` within `limits` until `shutdown` resolves; then drains (see
/// the module docs) for at most `grace`. Connections live on `reactor_threads` threads of their
/// own (see `reactors`), or with none on the runtime this runs on.
pub async fn run<H, F>(
    listener: TcpListener,
    handler: H,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
    reactor_threads: usize,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Every deadline is the stream wrapper's (`conn`), for both protocols; hyper keeps none.
    builder.http1().header_read_timeout(None);
    builder.http2().max_concurrent_streams(MAX_STREAMS);
    let reactors = match reactor_threads {
        0 => None,
        n => Reactors::start(n)
            .inspect_err(|e| tracing::warn!(error = %e, "no reactor threads: connections stay on the main runtime"))
            .ok(),
    };
    let connections = Connections {
        reactors,
        graceful: GracefulShutdown::new(),
        builder,
        handler,
        draining: Arc::new(AtomicBool::new(false)),
        open: Arc::new(AtomicUsize::new(0)),
        deadlines: Deadlines {
            header: limits.header_read_timeout,
            idle: limits.idle_timeout,
            write: limits.write_timeout,
        },
    };
    let slots = Arc::new(Semaphore::new(limits.max_connections.min(Semaphore::MAX_PERMITS)));
    let clients = PerClient::new(limits.max_connections_per_client, limits.uncapped_peers);
    tokio::pin!(shutdown);
    loop {
        // A free slot first: past max_connections, new connections wait in the kernel's backlog.
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => permit.expect("the slots are never closed"),
            () = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match clients.admit(peer.ip()) {
                    Some(client) => connections.serve(stream, peer, permit, client),
                    // Dropped unread: the slot goes back with the permit.
                    None => tracing::debug!(%peer, "connection closed: the client holds max_connections_per_client"),
                },
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
    while let Some(Ok((stream, peer))) = listener.accept().now_or_never() {
        // Connections the kernel queued before the listener closes are answered, slot or not.
        let Some(client) = clients.admit(peer.ip()) else { continue };
        let permit = Arc::new(Semaphore::new(1)).try_acquire_owned().expect("a fresh permit");
        connections.serve(stream, peer, permit, client);
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
