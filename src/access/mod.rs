//! Who may do what on the main port (DESIGN.md §9), each check a small module that returns a
//! typed refusal, run between the router and the service: signed URLs, upload tokens, rate
//! limits per client address, and the address a request is charged to.

mod client;
pub mod rate;
pub mod signature;
pub mod tokens;

pub use client::client_addr;
pub use rate::{Payer, RateLimited, RateLimits};
pub use signature::{SignatureError, Signer};
pub use tokens::TokenError;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::model::Namespace;

/// The checks as configured, asked in turn by the main port for each request.
#[derive(Clone, Debug)]
pub struct Gate {
    config: Arc<Config>,
    signer: Option<Signer>,
    rate: Option<Arc<RateLimits>>,
}

/// A namespace that the configuration closes (404).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownNamespace;

impl Gate {
    /// The checks `config` asks for.
    pub fn new(config: Arc<Config>) -> Gate {
        let signer = Signer::new(&config.access.signing_keys);
        let rate = RateLimits::new(config.access.rate_limit_per_minute).map(Arc::new);
        Gate { config, signer, rate }
    }

    /// Whether `ns` is served: every namespace, unless `allow_unknown_namespaces` is off.
    pub fn namespace(&self, ns: &Namespace) -> Result<(), UnknownNamespace> {
        let known = self.config.access.allow_unknown_namespaces || self.config.namespace(ns).is_some();
        if known { Ok(()) } else { Err(UnknownNamespace) }
    }

    /// Checks the signature of a variant or info request of `ns` for `path` and its raw `query`.
    pub fn signature(&self, ns: &Namespace, path: &str, query: Option<&str>) -> Result<(), SignatureError> {
        let Some(signer) = &self.signer else { return Ok(()) };
        let required = self.config.namespace(ns).and_then(|n| n.require_signature).unwrap_or(true);
        if !required {
            return Ok(());
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        signer.verify(path, query, now)
    }

    /// Checks the bearer token of an upload or delete in `ns` (`authorization` is the header).
    pub fn token(&self, ns: &Namespace, authorization: Option<&[u8]>) -> Result<(), TokenError> {
        let own = self.config.namespace(ns).map(|n| n.upload_tokens.as_slice()).unwrap_or_default();
        tokens::check(self.config.access.upload_tokens.iter().chain(own), authorization)
    }

    /// Who pays for the work of a request from `peer` with these `X-Forwarded-For` values.
    pub fn payer<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> Payer {
        match &self.rate {
            None => Payer::Server,
            Some(limits) => {
                let addr = client_addr(peer, forwarded_for, &self.config.access.trusted_proxies);
                Payer::Client { limits: Arc::clone(limits), addr }
            }
        }
    }
}
