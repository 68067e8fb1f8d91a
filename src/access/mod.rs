//! Who may do what on the main port (DESIGN.md §9), each check a small module that returns a
//! typed refusal, run between the router and the service: signed URLs, upload tokens, rate
//! limits per client, and the client a request is charged to (an address, or an IPv6 /64).

mod client;
pub mod rate;
pub mod signature;
pub mod tokens;

pub use client::{client_addr, client_key};
pub use rate::{Payer, RateLimited, RateLimits};
pub use signature::{SignatureError, Signer};
pub use tokens::TokenError;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ipnet::IpNet;

use crate::config::{AccessConfig, Settings};
use crate::model::Namespace;

/// The checks as configured, asked in turn by the main port for each request.
#[derive(Clone, Debug)]
pub struct Gate {
    settings: Arc<Settings>,
    signer: Option<Signer>,
    rate: Option<Arc<RateLimits>>,
    trusted_proxies: Arc<[IpNet]>,
    allow_open_delete: bool,
}

/// A namespace that the configuration closes (404).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownNamespace;

impl Gate {
    /// The checks `access` and the namespaces' `settings` ask for.
    pub fn new(access: &AccessConfig, settings: Arc<Settings>) -> Gate {
        let signer = Signer::new(&access.signing_keys);
        let rate = RateLimits::new(access.rate_limit_per_minute).map(Arc::new);
        Gate {
            settings,
            signer,
            rate,
            trusted_proxies: access.trusted_proxies.clone().into(),
            allow_open_delete: access.allow_open_delete,
        }
    }

    /// Whether `ns` is served: every namespace, unless `allow_unknown_namespaces` is off.
    pub fn namespace(&self, ns: &Namespace) -> Result<(), UnknownNamespace> {
        if self.settings.of(ns).served { Ok(()) } else { Err(UnknownNamespace) }
    }

    /// Checks the signature of a variant or info request of `ns` for `path` and its raw `query`.
    pub fn signature(&self, ns: &Namespace, path: &str, query: Option<&str>) -> Result<(), SignatureError> {
        let Some(signer) = &self.signer else { return Ok(()) };
        if !self.settings.of(ns).require_signature {
            return Ok(());
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        signer.verify(path, query, now)
    }

    /// Checks the bearer token of an upload in `ns` (`authorization` is the header).
    pub fn token(&self, ns: &Namespace, authorization: Option<&[u8]>) -> Result<(), TokenError> {
        tokens::check(&self.settings.of(ns).upload_tokens, authorization)
    }

    /// Checks the bearer token of a delete in `ns`: one is needed even where uploads need none,
    /// unless `allow_open_delete`.
    pub fn delete_token(&self, ns: &Namespace, authorization: Option<&[u8]>) -> Result<(), TokenError> {
        tokens::check_delete(&self.settings.of(ns).upload_tokens, self.allow_open_delete, authorization)
    }

    /// Who pays for the work of a request from `peer` with these `X-Forwarded-For` values.
    pub fn payer<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> Payer {
        let addr = client_key(client_addr(peer, forwarded_for, &self.trusted_proxies));
        Payer::Client { limits: self.rate.clone(), addr }
    }
}
