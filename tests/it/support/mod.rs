//! Shared test support: the real server as a child process, the shared corpus, a local origin
//! HTTP server, image checks, and the hand-labelled subjects the focus crops are measured on.

pub mod azure;
pub mod bombs;
pub mod corpus;
pub mod docs;
pub mod emulator;
pub mod gcs;
pub mod images;
pub mod origin;
pub mod prometheus;
pub mod receiver;
pub mod s3;
pub mod server;
pub mod statsd;
pub mod subjects;
pub mod tools;

pub use server::{Reply, Server};
