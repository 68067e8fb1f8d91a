//! Wiring: turns a parsed command line into a running server or a batch job.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::access::Gate;
use crate::cli::{Cli, Command};
use crate::config::{Config, LogFormat};
use crate::exit::Exit;
use crate::http::App;
use crate::http::server::{ConnectionLimits, Draining};
use crate::metrics::Metrics;
use crate::model::ImageFormat;
use crate::service::{ImageService, Parts};
use crate::status::StatusState;

/// Runs the command line.
pub fn run(cli: Cli) -> Result<(), Exit> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let config = Config::load(&cli.config.sources(env.clone())).map_err(|e| Exit::new(2, e))?;
    let command = cli.command.unwrap_or(Command::Serve);
    match command {
        Command::Health(args) => return crate::tools::health(&config, &args),
        Command::Sign(args) => return crate::tools::sign(&config, &args),
        Command::Focus(args) => return crate::tools::focus(&config, &args),
        Command::Completions(args) => return crate::tools::completions(&args),
        _ => {}
    }
    init_logging(config.server.log_format);
    let config = Arc::new(config);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| Exit::new(1, e))?;
    match command {
        Command::Serve => {
            if cli.batch.namespace.is_some() || cli.batch.outputs.is_some() {
                // wanelo's server took them, and did nothing with them.
                tracing::warn!(
                    "serve ignores --namespace and --outputs (they are for process and regenerate); the outputs every upload of a namespace renders are its `outputs` setting"
                );
            }
            runtime.block_on(serve(config, &env))
        }
        Command::Process(args) => runtime.block_on(crate::batch::process(config, &cli.batch, args)),
        Command::Regenerate(args) => runtime.block_on(crate::batch::regenerate(config, &cli.batch, args)),
        Command::Config(args) if args.reference => {
            print!("{}", crate::config::reference());
            Ok(())
        }
        Command::Config(_) => {
            println!("{:#}", config.effective());
            Ok(())
        }
        Command::Health(_) | Command::Sign(_) | Command::Focus(_) | Command::Completions(_) => {
            unreachable!("answered above")
        }
    }
}

/// The formats this build reads or writes, for the start-up line: `jpeg,png,...`.
fn formats(has: fn(ImageFormat) -> bool) -> String {
    ImageFormat::ALL.into_iter().filter(|f| has(*f)).map(ImageFormat::name).collect::<Vec<_>>().join(",")
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init(),
    };
}

async fn serve(config: Arc<Config>, env: &[(String, String)]) -> Result<(), Exit> {
    let parts = Parts::new(&config, Metrics::new(&config.metrics));
    let service = Arc::new(ImageService::new(&config, parts.clone()).map_err(|e| Exit::new(1, e))?);
    let profile = config.metrics.profile;
    if profile {
        crate::status::activate_heap_profiling().await.map_err(|e| Exit::new(1, format!("--profile: {e}")))?;
    }
    let (listener, status_listener) = listeners(&config, env)?;
    let main_addr = listener.local_addr().map_err(|e| Exit::new(1, e))?;
    let status_addr = status_listener.local_addr().map_err(|e| Exit::new(1, e))?;
    tracing::info!(
        addr = %main_addr,
        status_addr = %status_addr,
        storage = %config.storage.storage,
        workers = config.render.workers,
        profile,
        reads = %formats(ImageFormat::is_read),
        writes = %formats(ImageFormat::is_written),
        avif = %crate::pipeline::avif_versions(),
        "image-server listening"
    );

    let limits = ConnectionLimits {
        header_read_timeout: config.server.header_read_timeout_secs,
        idle_timeout: config.server.idle_timeout_secs,
        write_timeout: config.server.write_timeout_secs,
        max_connections: config.server.max_connections,
        max_connections_per_client: config.server.max_connections_per_client,
        uncapped_peers: config.access.trusted_proxies.clone().into(),
    };
    // Told of the shutdown once, read by the health answers of both ports.
    let draining = Draining::default();
    let state = Arc::new(StatusState::new(parts.clone(), profile, draining.clone()));
    // The status port is for operators and probes: a few connections at a time.
    let status_limits =
        ConnectionLimits { max_connections: STATUS_CONNECTIONS, max_connections_per_client: 0, ..limits.clone() };
    let status_task = tokio::spawn(crate::status::run(status_listener, state, status_limits));
    let shutdown = {
        let draining = draining.clone();
        async move {
            shutdown_signal().await;
            draining.begin();
            tracing::info!("shutting down: no new connections; finishing requests in flight");
        }
    };
    let grace = config.server.shutdown_grace_secs;
    warn_if_open(&config);
    // Upload jobs: those queued by this node's uploads and those found in storage.
    let cleaner = Arc::clone(&service);
    tokio::task::spawn_blocking(move || {
        let removed = cleaner.remove_stale_temporaries();
        if removed > 0 {
            tracing::info!(removed, "removed staging files left by writers killed mid-write");
        }
    });
    let background = tokio::spawn({
        let service = Arc::clone(&service);
        async move { service.run_background().await }
    });
    let app = Arc::new(App {
        service,
        metrics: Arc::clone(&parts.metrics),
        gate: Gate::new(&config.access, Arc::clone(&config.settings)),
        settings: Arc::clone(&config.settings),
        buffer: parts.buffer.clone(),
        responses: parts.responses.clone(),
        draining,
        config,
    });
    let handler = move |req| {
        let app = Arc::clone(&app);
        async move { crate::http::handle(&app, req).await }
    };
    // Connections live on one reactor thread per core (see http::reactors).
    let reactor_threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    crate::http::server::run(listener, handler, limits, shutdown, grace, reactor_threads).await;
    status_task.abort();
    // Unfinished jobs stay in storage, leased until their lease goes stale; the next node resumes them.
    background.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Connections the status port serves at once.
const STATUS_CONNECTIONS: usize = 64;

/// Says so when a server listening beyond loopback takes uploads, or renders, from anyone.
fn warn_if_open(config: &Config) {
    if config.server.listen.is_loopback() {
        return;
    }
    if config.access.upload_tokens.is_empty() {
        tracing::warn!("no upload_tokens: anyone who reaches this port can upload (set IMG_UPLOAD_TOKENS)");
    }
    if config.access.signing_keys.is_empty() && config.access.rate_limit_per_minute == 0 {
        tracing::warn!("no signing_keys and no rate limit: anyone can make this server render without bound");
    }
}

/// The main and status listeners: inherited from a supervisor, or bound with SO_REUSEPORT.
fn listeners(config: &Config, env: &[(String, String)]) -> Result<(TcpListener, TcpListener), Exit> {
    let inherited = crate::listen::inherited(env).map_err(|e| Exit::new(1, format!("inherited sockets: {e}")))?;
    let mut inherited = inherited.into_iter();
    let bind = |addr: SocketAddr, what: &str| {
        crate::listen::bind(addr).map_err(|e| Exit::new(1, format!("cannot listen on {addr} ({what}): {e}")))
    };
    let main = match inherited.next() {
        Some(listener) => listener,
        None => bind(SocketAddr::new(config.server.listen, config.server.server_port), "main port")?,
    };
    let status = match inherited.next() {
        Some(listener) => listener,
        None => bind(SocketAddr::new(config.server.status_listen, config.server.status_port), "status port")?,
    };
    Ok((main, status))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
