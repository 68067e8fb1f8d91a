//! Notifications: `POST notify_url` with the event as JSON and `X-Image-Server-Signature:
//! sha256=HEX` (HMAC-SHA256 of the body under `notify_secret`), retried with doubling delays
//! (1 s up to 5 min apart) until a 2xx or `notify_retry_secs` have passed.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Hooks;

/// What became of one attempt to deliver a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The hook answered 2xx.
    Sent,
    /// An attempt failed and another follows.
    Retried,
    /// The last attempt failed: the notification is given up.
    Failed,
}

/// The first wait between attempts; each following one doubles, up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(300);

/// The signature header's value for `body` under `secret`: `sha256=` and the HMAC in hex.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

impl Hooks {
    /// Delivers `body` to `url`, retrying until it is taken or the retry time is over; tells
    /// `record` what each attempt came to. True when delivered.
    pub async fn notify(&self, url: &str, secret: Option<&str>, body: Bytes, record: impl Fn(Delivery)) -> bool {
        let started = Instant::now();
        let mut delay = FIRST_DELAY;
        let signed = secret.map(|secret| signature(secret, &body));
        loop {
            let mut request = self.client.post(url).header("content-type", "application/json").body(body.clone());
            if let Some(signed) = &signed {
                request = request.header("x-image-server-signature", signed);
            }
            let failure = match request.send().await {
                Ok(r) if r.status().is_success() => {
                    record(Delivery::Sent);
                    return true;
                }
                Ok(r) => format!("answered {}", r.status()),
                Err(e) => crate::report::chain(&e),
            };
            if started.elapsed() + delay > self.retry_for {
                tracing::warn!(url, error = %failure, "notification given up");
                record(Delivery::Failed);
                return false;
            }
            tracing::info!(url, error = %failure, retry_in_secs = delay.as_secs(), "notification failed; retrying");
            record(Delivery::Retried);
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_DELAY);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
