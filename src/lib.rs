//! image-server: an on-demand resizing image proxy.
//!
//! # Layout
//! Dependencies point downwards: `cli`/`run`/`http`/`status` -> `service` -> {`store`, `source`,
//! `cache`, `pool`, `pipeline`} -> `model`.
//!
//! - [`cli`]: clap flags for `serve`, `process`, `config`; no logic.
//! - [`run`]: wiring of a parsed command line into a server (or a batch job).
//! - [`batch`]: `process` and `regenerate`, without a server.
//! - [`config`]: layered configuration (defaults < file < `IMG_*` < flags), validated once.
//! - [`model`]: the typed URL model (hash, namespace, variant, object keys); parsed once at the edge.
//! - [`http`]: the main port: router, uploads, variant/info answers, the error-to-status mapping.
//! - [`listen`]: listening sockets (SO_REUSEPORT, or inherited through LISTEN_FDS).
//! - [`status`]: the status port: health, figures, Prometheus metrics, profiles.
//! - [`service`]: uploads and lookups (memory -> storage -> render), no HTTP types.
//! - [`store`]: the object-store adapter (`file://`, `memory://`, `s3://`, ...).
//! - [`source`]: SSRF-safe downloads of source URLs.
//! - [`cache`]: the byte-bounded memory cache with joined loads.
//! - [`pool`]: the bounded CPU pool renders run on.
//! - [`pipeline`]: pure, synchronous render: sniff, header, scaled decode, resize, colour, orient, encode.
//! - [`metrics`]: counters, histograms and statsd, read by the status port.

pub mod batch;
pub mod cache;
pub mod cli;
pub mod config;
pub mod exit;
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
