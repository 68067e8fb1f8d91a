//! Calls to the operator's hooks (DESIGN.md §11): the signed notification that an upload's
//! outputs are stored, retried with backoff, and the moderation verdict on a new upload. The
//! operator configured these URLs, so the private-address policy of source downloads does not
//! apply to them; every call is bounded by `hook_timeout_secs` and answers are read up to a cap.

mod moderation;
mod notify;

use std::time::Duration;

pub use moderation::{ModerationError, Verdict};
pub use notify::{Delivery, signature};

use crate::config::BackgroundConfig;

/// The HTTP client of the hooks, with their timings.
#[derive(Clone, Debug)]
pub struct Hooks {
    client: reqwest::Client,
    /// How long an undelivered notification is retried.
    retry_for: Duration,
}

/// Bytes of a hook's answer read at most: a verdict is a small JSON object.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

impl Hooks {
    /// The client as `config` times it.
    pub fn new(config: &BackgroundConfig) -> Result<Hooks, String> {
        crate::tls::install_crypto_provider();
        let client = reqwest::Client::builder()
            .user_agent(concat!("image-server/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.hook_timeout_secs)
            .connect_timeout(config.hook_timeout_secs.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| format!("cannot build the hooks' HTTP client: {e}"))?;
        Ok(Hooks { client, retry_for: config.notify_retry_secs })
    }
}

/// Reads at most [`MAX_ANSWER_BYTES`] of an answer's body.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!("the answer is longer than {MAX_ANSWER_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
