//! Command-line interface (clap derive): `serve` (the default), `process`, `config`. Flags only;
//! the work happens in [`crate::run`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::ConfigSources;

/// On-demand resizing image proxy.
#[derive(Parser, Debug)]
#[command(name = "image-server", version, about, long_about = None)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Configuration, on every subcommand.
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the HTTP API and the status port (the default).
    Serve,
    /// Store originals and render variants into the configured storage, without a server;
    /// prints one info JSON a line.
    Process(ProcessArgs),
    /// Render variants for every original stored in a namespace, in parallel on the render
    /// pool, with a progress bar; safe to interrupt and resume (with --missing-only).
    Regenerate(RegenerateArgs),
    /// Print the effective configuration, each key with the layer it came from.
    Config,
    /// Ask the status port of a running server for /health: exit 0 if it is serving, 1 if not
    /// (for a Dockerfile HEALTHCHECK).
    Health,
}

/// `image-server process`.
#[derive(Args, Debug)]
pub struct ProcessArgs {
    /// Files or http(s) URLs; `-` reads the list from standard input, one a line.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Namespace to store into.
    #[arg(long, short = 'n')]
    pub namespace: String,
    /// Variants to render, comma-separated (e.g. x300.jpg,x300.webp).
    #[arg(long, default_value = "")]
    pub outputs: String,
}

/// `image-server regenerate`.
#[derive(Args, Debug)]
pub struct RegenerateArgs {
    /// Namespace whose originals to render.
    #[arg(long, short = 'n')]
    pub namespace: String,
    /// Variants to render for each original, comma-separated (e.g. x300.jpg,x300.webp).
    #[arg(long)]
    pub outputs: String,
    /// Skip variants already in storage (to resume an interrupted run).
    #[arg(long)]
    pub missing_only: bool,
}

/// Every configuration key as a flag (DESIGN.md §7). Values are parsed by the config layer, so
/// a bad one is reported the same way from a flag, a variable or a file.
#[derive(Args, Debug, Default)]
pub struct ConfigArgs {
    /// Environment: reads config/{ENV}.json [default: development] [env: IMG_ENVIRONMENT]
    #[arg(short = 'e', long, global = true, value_name = "ENV")]
    pub environment: Option<String>,
    /// Config file to read instead of config/{ENV}.json [env: IMG_CONFIG]
    #[arg(long = "config", global = true, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Main port [default: 7000] (server_port)
    #[arg(long = "port", global = true, value_name = "N")]
    pub server_port: Option<String>,
    /// Status port [default: 7001]
    #[arg(long, global = true, value_name = "N")]
    pub status_port: Option<String>,
    /// Address of the main port [default: 127.0.0.1]
    #[arg(long, global = true, value_name = "IP")]
    pub listen: Option<String>,
    /// Address of the status port [default: 127.0.0.1]
    #[arg(long, global = true, value_name = "IP")]
    pub status_listen: Option<String>,
    /// Storage URL: file://DIR, memory://, s3://BUCKET/PREFIX, gs://, az:// [default: file://./data]
    #[arg(long, global = true, value_name = "URL")]
    pub storage: Option<String>,
    /// Separate storage for originals, info and working copies [default: the storage]
    #[arg(long, global = true, value_name = "URL")]
    pub originals_storage: Option<String>,
    /// Public base URL of the storage, for links in info JSON
    #[arg(long, global = true, value_name = "URL")]
    pub remote_base_url: Option<String>,
    /// Extensions that may be asked for, comma-separated [default: jpg,jpeg,png,webp,gif]
    #[arg(long, global = true, value_name = "LIST")]
    pub whitelisted_extensions: Option<String>,
    /// Largest width a URL may ask for [default: 4096]
    #[arg(long, global = true, value_name = "N")]
    pub maximum_width: Option<String>,
    /// Largest height a URL may ask for [default: 4096]
    #[arg(long, global = true, value_name = "N")]
    pub maximum_height: Option<String>,
    /// Quality without -q: a number, or JSON like {"jpg":80,"webp":75} [default: 80]
    #[arg(long, global = true, value_name = "Q")]
    pub default_quality: Option<String>,
    /// Largest upload or source download, bytes or e.g. 25MiB [default: 25MiB]
    #[arg(long, global = true, value_name = "BYTES")]
    pub max_upload_bytes: Option<String>,
    /// Largest width x height an original may declare [default: 50000000]
    #[arg(long, global = true, value_name = "N")]
    pub max_source_pixels: Option<String>,
    /// Memory cache size for variants [default: 256MiB]
    #[arg(long, global = true, value_name = "BYTES")]
    pub memory_cache_bytes: Option<String>,
    /// Render threads [default: the number of cores]
    #[arg(long, global = true, value_name = "N")]
    pub workers: Option<String>,
    /// Renders that may wait for a thread before 503 [default: 128]
    #[arg(long, global = true, value_name = "N")]
    pub queue_size: Option<String>,
    /// Long side of the working copy made at upload; 0 turns working copies off [default: 2048]
    #[arg(long, global = true, value_name = "PIXELS")]
    pub working_copy_max_side: Option<String>,
    /// Source pixels decoding at once over all renders and uploads [default: 100000000]
    #[arg(long, global = true, value_name = "N")]
    pub decode_budget_pixels: Option<String>,
    /// Let ?source= fetch from loopback and private networks
    #[arg(long, global = true)]
    pub source_allow_private: bool,
    /// Timeout of a source download in seconds [default: 10]
    #[arg(long, global = true, value_name = "SECS")]
    pub source_timeout_secs: Option<String>,
    /// Redirects a source download follows [default: 3]
    #[arg(long, global = true, value_name = "N")]
    pub source_max_redirects: Option<String>,
    /// statsd host:port (off when unset)
    #[arg(long, global = true, value_name = "HOST:PORT")]
    pub statsd: Option<String>,
    /// Prefix of statsd names [default: image_server]
    #[arg(long, global = true, value_name = "PREFIX")]
    pub statsd_prefix: Option<String>,
    /// Serve profiling endpoints on the status port
    #[arg(long, global = true)]
    pub profile: bool,
    /// Log format: text or json [default: text]
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Seconds shutdown waits for requests in flight [default: 30]
    #[arg(long, global = true, value_name = "SECS")]
    pub shutdown_grace_secs: Option<String>,
    /// Per-namespace settings as JSON
    #[arg(long, global = true, value_name = "JSON")]
    pub namespaces: Option<String>,
}

impl ConfigArgs {
    /// The flags as config sources, with the process environment.
    pub fn sources(&self, env: Vec<(String, String)>) -> ConfigSources {
        let mut flags = Vec::new();
        let mut add = |key: &str, value: &Option<String>| {
            if let Some(v) = value {
                flags.push((key.to_owned(), v.clone()));
            }
        };
        add("server_port", &self.server_port);
        add("status_port", &self.status_port);
        add("listen", &self.listen);
        add("status_listen", &self.status_listen);
        add("storage", &self.storage);
        add("originals_storage", &self.originals_storage);
        add("remote_base_url", &self.remote_base_url);
        add("whitelisted_extensions", &self.whitelisted_extensions);
        add("maximum_width", &self.maximum_width);
        add("maximum_height", &self.maximum_height);
        add("default_quality", &self.default_quality);
        add("max_upload_bytes", &self.max_upload_bytes);
        add("max_source_pixels", &self.max_source_pixels);
        add("memory_cache_bytes", &self.memory_cache_bytes);
        add("workers", &self.workers);
        add("queue_size", &self.queue_size);
        add("working_copy_max_side", &self.working_copy_max_side);
        add("decode_budget_pixels", &self.decode_budget_pixels);
        add("source_timeout_secs", &self.source_timeout_secs);
        add("source_max_redirects", &self.source_max_redirects);
        add("statsd", &self.statsd);
        add("statsd_prefix", &self.statsd_prefix);
        add("namespaces", &self.namespaces);
        add("log_format", &self.log_format);
        add("shutdown_grace_secs", &self.shutdown_grace_secs);
        if self.source_allow_private {
            flags.push(("source_allow_private".to_owned(), "true".to_owned()));
        }
        if self.profile {
            flags.push(("profile".to_owned(), "true".to_owned()));
        }
        let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        ConfigSources {
            environment: self.environment.clone().or_else(|| var("IMG_ENVIRONMENT")),
            config_file: self.config_file.clone().or_else(|| var("IMG_CONFIG").map(PathBuf::from)),
            config_dir: None,
            env,
            flags,
        }
    }
}
