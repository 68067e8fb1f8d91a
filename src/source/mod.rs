//! Downloads of originals from source URLs: http(s) only, a whole-request timeout, a byte cap
//! enforced while streaming, a bounded number of redirects, and no connections to loopback or
//! private networks unless configured.
//!
//! The address policy is enforced where it cannot be dodged: in the DNS resolver the HTTP client
//! connects through (so every name, including each redirect's, is checked on the addresses that
//! are actually dialled), and on IP-literal hosts before each request and redirect. Errors are
//! sorted into [`FetchError`] here; callers never see reqwest's. An error's text holds what went
//! wrong in full (the address a name resolved to, the error chain) for the log; the client is
//! told only the rule (see `http::error`).
//!
//! A path that starts with `//` is sent with one `/`, as wanelo's fetcher sent it (DESIGN.md §16).

pub mod policy;

use std::error::Error as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;
use url::{Host, Url};

use crate::buffer::{BufferFull, CollectError, Held, UploadBuffer};
use crate::config::SourcesConfig;

/// Why a source could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Not an http(s) URL.
    #[error("invalid source URL: {0}")]
    InvalidUrl(String),
    /// The URL leads to an address the policy refuses (loopback, private, link-local...).
    #[error("source refused: {0}")]
    Refused(String),
    /// DNS failure, connection refused, TLS failure.
    #[error("source unreachable: {0}")]
    Unreachable(String),
    /// The source redirected more often than `source_max_redirects` allows.
    #[error("source redirected more than {0} times")]
    TooManyRedirects(usize),
    /// The source answered with a non-2xx status.
    #[error("source answered HTTP {0}")]
    Upstream(u16),
    /// The download took longer than the timeout.
    #[error("source timed out after {0:?}")]
    Timeout(Duration),
    /// The source is bigger than the upload limit.
    #[error("source is larger than the {0}-byte limit")]
    TooLarge(u64),
    /// The upload buffer shared by every request is full.
    #[error(transparent)]
    BufferFull(#[from] BufferFull),
}

/// Marker error raised by the resolver and the redirect policy, found again in reqwest's chain.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct PolicyRefusal(String);

/// Marker error raised by the redirect policy past `source_max_redirects`.
#[derive(Debug, thiserror::Error)]
#[error("more than {0} redirects")]
struct RedirectLimit(usize);

/// What a fetch may do: the configured section, and the byte cap of uploads.
#[derive(Clone, Debug)]
struct FetchSettings {
    max_bytes: u64,
    allow_private: bool,
    timeout: Duration,
}

/// An HTTP client for source URLs; what it downloads counts against the upload buffer.
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    settings: FetchSettings,
    buffer: UploadBuffer,
}

/// Resolves through the system resolver and drops refused addresses.
struct PolicyResolver {
    allow_private: bool,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                addrs.iter().copied().filter(|a| allow_private || policy::is_public(a.ip())).collect();
            if allowed.is_empty() && !addrs.is_empty() {
                let msg = format!("{host} resolves to {}, a loopback or private address", addrs[0].ip());
                return Err(Box::new(PolicyRefusal(msg)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

fn check_url(url: &Url, allow_private: bool) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme '{}' is not http or https", url.scheme()));
    }
    let ip = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(Host::Domain(_)) => return Ok(()),
        None => return Err("no host".to_owned()),
    };
    if allow_private || policy::is_public(ip) { Ok(()) } else { Err(format!("{ip} is a loopback or private address")) }
}

/// `http://host//a/b.jpg` asks for `/a/b.jpg`: wanelo's fetcher collapsed a path's leading
/// slashes into one, and URLs built by joining a base ending in `/` with a key starting with one
/// (an S3 origin answers 404 to `//key`) came to rely on it. Slashes further in are kept.
fn single_leading_slash(url: &mut Url) {
    if url.path().starts_with("//") {
        let path = format!("/{}", url.path().trim_start_matches('/'));
        url.set_path(&path);
    }
}

impl Fetcher {
    /// Builds the client for `config`, refusing bodies above `max_bytes` and holding what it
    /// downloads in `buffer`.
    pub fn new(config: &SourcesConfig, max_bytes: u64, buffer: UploadBuffer) -> Result<Fetcher, String> {
        crate::tls::install_crypto_provider();
        let (allow_private, max_redirects) = (config.source_allow_private, config.source_max_redirects);
        let settings = FetchSettings { max_bytes, allow_private, timeout: config.source_timeout_secs };
        let redirects = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max_redirects {
                return attempt.error(RedirectLimit(max_redirects));
            }
            match check_url(attempt.url(), allow_private) {
                Ok(()) => attempt.follow(),
                Err(why) => {
                    let msg = format!("redirect to {}: {why}", attempt.url());
                    attempt.error(PolicyRefusal(msg))
                }
            }
        });
        let client = reqwest::Client::builder()
            .user_agent(concat!("image-server/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .redirect(redirects)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .dns_resolver(Arc::new(PolicyResolver { allow_private }))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Fetcher { client, settings, buffer })
    }

    /// Downloads `url` whole, within the limits; the bytes count against the upload buffer for
    /// as long as they are held.
    pub async fn fetch(&self, url: &str) -> Result<Held, FetchError> {
        let mut parsed = Url::parse(url).map_err(|e| FetchError::InvalidUrl(format!("'{url}': {e}")))?;
        single_leading_slash(&mut parsed);
        check_url(&parsed, self.settings.allow_private).map_err(|why| {
            if matches!(parsed.scheme(), "http" | "https") {
                FetchError::Refused(why)
            } else {
                FetchError::InvalidUrl(why)
            }
        })?;
        let response = self.client.get(parsed).send().await.map_err(|e| self.sort(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Upstream(status.as_u16()));
        }
        let max = self.settings.max_bytes;
        if response.content_length().is_some_and(|n| n > max) {
            return Err(FetchError::TooLarge(max));
        }
        let expected = response.content_length().map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let mut body = self.buffer.collector(expected, max)?;
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(|e| self.sort(e))? {
            body.push(&chunk).map_err(|e| match e {
                CollectError::TooLarge(max) => FetchError::TooLarge(max),
                CollectError::Full(full) => FetchError::BufferFull(full),
            })?;
        }
        Ok(body.finish())
    }

    fn sort(&self, e: reqwest::Error) -> FetchError {
        let mut source = e.source();
        while let Some(cause) = source {
            if let Some(refusal) = cause.downcast_ref::<PolicyRefusal>() {
                return FetchError::Refused(refusal.0.clone());
            }
            if let Some(RedirectLimit(max)) = cause.downcast_ref::<RedirectLimit>() {
                return FetchError::TooManyRedirects(*max);
            }
            source = cause.source();
        }
        if e.is_timeout() {
            return FetchError::Timeout(self.settings.timeout);
        }
        FetchError::Unreachable(crate::report::chain(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// wanelo's fetcher/http/http_test.go `TestURLEscaping`: the request for
    /// `//hell[o]/(x)//two%20words/boo.jpg?something=fo(o)` reaches the origin as
    /// `/hell[o]/(x)//two%20words/boo.jpg?something=fo(o)`.
    #[test]
    fn a_leading_double_slash_is_sent_as_one() {
        let cases = [
            (
                "http://o.test//hell[o]/(x)//two%20words/boo.jpg?something=fo(o)",
                "/hell[o]/(x)//two%20words/boo.jpg",
                Some("something=fo(o)"),
            ),
            ("http://o.test///a.jpg", "/a.jpg", None),
            ("http://o.test/a//b.jpg", "/a//b.jpg", None),
            ("http://o.test/", "/", None),
            ("https://o.test//", "/", None),
        ];
        for (given, path, query) in cases {
            let mut url = Url::parse(given).unwrap();
            single_leading_slash(&mut url);
            assert_eq!((url.path(), url.query()), (path, query), "{given}");
            assert_eq!(url.host_str(), Some("o.test"), "{given}: the host is kept");
        }
    }
}
