//! Wiring: turns a parsed command line into a running server or a batch job.

use std::io::BufRead;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::TcpListener;

use crate::cli::{Cli, Command, ProcessArgs};
use crate::config::Config;
use crate::model::{Namespace, Variant};
use crate::service::ImageService;
use crate::status::StatusState;

/// A failure that ends the process, with its exit code.
#[derive(Debug)]
pub struct Exit {
    /// Process exit code.
    pub code: u8,
    /// What to print.
    pub message: String,
}

impl Exit {
    fn new(code: u8, message: impl std::fmt::Display) -> Self {
        Exit { code, message: message.to_string() }
    }
}

/// Runs the command line.
pub fn run(cli: Cli) -> Result<(), Exit> {
    let config = Config::load(&cli.config.sources(std::env::vars().collect())).map_err(|e| Exit::new(2, e))?;
    init_logging();
    let config = Arc::new(config);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| Exit::new(1, e))?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime.block_on(serve(config)),
        Command::Process(args) => runtime.block_on(process(config, args)),
        Command::Config => {
            println!("{:#}", config.effective());
            Ok(())
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}

async fn serve(config: Arc<Config>) -> Result<(), Exit> {
    let service = Arc::new(ImageService::new(Arc::clone(&config)).map_err(|e| Exit::new(1, e))?);
    let main_addr = SocketAddr::new(config.listen, config.server_port);
    let status_addr = SocketAddr::new(config.status_listen, config.status_port);
    let listener =
        TcpListener::bind(main_addr).await.map_err(|e| Exit::new(1, format!("cannot listen on {main_addr}: {e}")))?;
    let status_listener = TcpListener::bind(status_addr)
        .await
        .map_err(|e| Exit::new(1, format!("cannot listen on {status_addr} (status port): {e}")))?;
    let main_addr = listener.local_addr().map_err(|e| Exit::new(1, e))?;
    let status_addr = status_listener.local_addr().map_err(|e| Exit::new(1, e))?;
    tracing::info!(
        addr = %main_addr,
        status_addr = %status_addr,
        storage = %config.storage,
        workers = config.workers,
        "image-server listening"
    );

    let state =
        Arc::new(StatusState { service: Arc::clone(&service), started: Instant::now(), shutting_down: false.into() });
    let status_task = tokio::spawn(crate::status::run(status_listener, Arc::clone(&state)));
    let shutdown = {
        let state = Arc::clone(&state);
        async move {
            shutdown_signal().await;
            state.shutting_down.store(true, Ordering::Release);
            tracing::info!("shutting down: no new connections; finishing requests in flight");
        }
    };
    crate::http::server::run(listener, service, shutdown, Duration::from_secs(30)).await;
    status_task.abort();
    tracing::info!("stopped");
    Ok(())
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

async fn process(config: Arc<Config>, args: ProcessArgs) -> Result<(), Exit> {
    let ns: Namespace = args.namespace.parse().map_err(|e| Exit::new(2, format!("--namespace: {e}")))?;
    let outputs = args
        .outputs
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| name.parse::<Variant>().map_err(|e| Exit::new(2, format!("--outputs: '{name}': {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let service = ImageService::new(config).map_err(|e| Exit::new(1, e))?;
    for v in &outputs {
        service.check_variant(&ns, v).map_err(|e| Exit::new(2, format!("--outputs: '{v}': {e}")))?;
    }
    let mut inputs = Vec::new();
    for input in args.inputs {
        if input == "-" {
            for line in std::io::stdin().lock().lines() {
                let line = line.map_err(|e| Exit::new(1, format!("reading standard input: {e}")))?;
                if !line.trim().is_empty() {
                    inputs.push(line.trim().to_owned());
                }
            }
        } else {
            inputs.push(input);
        }
    }
    let mut failures = 0;
    for input in &inputs {
        let result = if input.starts_with("http://") || input.starts_with("https://") {
            service.ingest_source(&ns, input, &outputs).await.map_err(|e| e.to_string())
        } else {
            match tokio::fs::read(input).await {
                Ok(bytes) => service.ingest(&ns, Bytes::from(bytes), &outputs).await.map_err(|e| e.to_string()),
                Err(e) => Err(format!("cannot read: {e}")),
            }
        };
        match result {
            Ok(ingested) => println!("{}", serde_json::to_string(&ingested.info).expect("info serialises")),
            Err(e) => {
                failures += 1;
                eprintln!("{input}: {e}");
            }
        }
    }
    if failures > 0 {
        return Err(Exit::new(1, format!("{failures} of {} inputs failed", inputs.len())));
    }
    Ok(())
}
