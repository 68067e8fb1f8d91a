//! image-server: an on-demand resizing image proxy.
//!
//! # Layout
//! Dependencies point downwards: `run` -> `cli`/`batch`/`status` -> `http` -> `service` ->
//! {`store`, `source`, `cache`, `pool`, `pipeline`, `metrics`} -> `config` -> `model`.
//!
//! - [`cli`]: clap: subcommands, and every configuration key as a flag; no logic.
//! - [`run`]: wiring of a parsed command line into a server (or a batch job).
//! - `tools`: the small commands: `health`, `sign`, `focus`, `completions`.
//! - [`batch`]: `process` and `regenerate`, without a server.
//! - [`exit`]: a failure that ends the process, with its exit code.
//! - [`config`]: every key declared once; layers (defaults < file < `IMG_*` < flags) read into
//!   one typed section per component.
//! - [`model`]: the typed URL model (hash, namespace, variant, formats, object keys); parsed once.
//! - [`http`]: the main port: router, uploads, variant/info answers, the error classification,
//!   the completion hook; and the accept loop both ports use.
//! - [`listen`]: listening sockets (SO_REUSEPORT, or inherited through LISTEN_FDS).
//! - [`status`]: the status port: health, figures, Prometheus metrics, profiles.
//! - [`service`]: uploads and lookups (memory -> storage -> render), answering in its own words.
//! - [`store`]: the object-store adapter (`file://`, `memory://`, `s3://`, ...).
//! - [`source`]: SSRF-safe downloads of source URLs.
//! - [`access`]: signed URLs, upload tokens, rate limits per client: checks between router and service.
//! - [`buffer`]: the bound on upload and download bytes held in memory over all requests.
//! - [`cache`]: the byte-bounded memory cache with joined loads.
//! - [`pool`]: the bounded CPU pool renders run on.
//! - [`pipeline`]: pure, synchronous render: sniff, header, scaled decode, resize, colour, orient, encode;
//!   the focus of an original (faces, saliency) that cover crops can be placed around.
//! - [`metrics`]: every metric declared once; recorded by outcome; Prometheus, statsd, `/status`.

pub mod access;
pub mod batch;
pub mod buffer;
pub mod cache;
pub mod cli;
pub mod config;
pub mod exit;
#[doc(hidden)]
pub mod fuzzing;
pub mod hooks;
pub mod http;
pub mod listen;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod pool;
mod report;
pub mod run;
pub mod service;
pub mod source;
pub mod status;
pub mod store;
mod tls;
mod tools;
