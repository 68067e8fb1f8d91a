//! Integration tests: the real `image-server` binary on 127.0.0.1, real HTTP, the shared corpus
//! at ../shared/corpus. One binary; modules by subject; helpers in `support`.

#![allow(unreachable_pub, missing_docs)] // test helpers are not an API
mod support;

mod access;
mod animation;
mod bounds;
mod charges;
mod cli;
mod colour;
mod concurrency;
mod connections;
mod delete;
mod docs_pages;
mod fast_path;
mod focus_crops;
mod focus_http;
mod formats;
mod fuzz_regressions;
mod hostile;
mod jobs;
mod memory;
mod moderation;
mod namespaces;
mod negotiation;
mod nodes;
mod operators;
mod ops;
mod optimised;
mod orientation;
mod origin_pull;
mod popular;
mod profiling;
mod regenerate;
mod render;
mod restart;
mod shutdown;
mod source;
mod statuses;
mod store_conformance;
mod upload;
mod wanelo;
mod working_copy;
