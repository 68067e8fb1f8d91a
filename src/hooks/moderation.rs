//! Moderation: `POST moderation_url` with a JPEG sheet of a new original (at most 1024 px a side;
//! an animation's frames, transparency over light and dark), one call per sheet, numbered in
//! `X-Image-Server-Sheet: i/n`; the hook answers `{"verdict":"allow"}` or
//! `{"verdict":"reject","reason":"..."}`.

use serde::Deserialize;

use super::{Hooks, read_capped};
use crate::model::Namespace;

/// The hook's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Store the upload.
    Allow,
    /// Refuse it, for this reason.
    Reject(String),
}

/// The hook could not give a verdict: unreachable, too slow, an error status or a malformed
/// answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the moderation hook gave no verdict: {0}")]
pub struct ModerationError(pub String);

#[derive(Deserialize)]
struct Answer {
    verdict: String,
    #[serde(default)]
    reason: Option<String>,
}

impl Hooks {
    /// Asks the hook at `url` about an original of `ns` whose md5 is `hash`, shown as `jpeg`,
    /// sheet `sheet.0` of `sheet.1`.
    pub async fn moderate(
        &self,
        url: &str,
        ns: &Namespace,
        hash: &str,
        jpeg: Vec<u8>,
        sheet: (usize, usize),
    ) -> Result<Verdict, ModerationError> {
        let fail = |e: String| ModerationError(e);
        let response = self
            .client
            .post(url)
            .header("content-type", "image/jpeg")
            .header("x-image-server-namespace", ns.as_str())
            .header("x-image-server-hash", hash)
            .header("x-image-server-sheet", format!("{}/{}", sheet.0, sheet.1))
            .body(jpeg)
            .send()
            .await
            .map_err(|e| fail(crate::report::chain(&e)))?;
        if !response.status().is_success() {
            return Err(fail(format!("answered {}", response.status())));
        }
        let body = read_capped(response).await.map_err(fail)?;
        let answer: Answer = serde_json::from_slice(&body)
            .map_err(|e| fail(format!("the answer is not {{\"verdict\": \"allow\"|\"reject\"}}: {e}")))?;
        match answer.verdict.as_str() {
            "allow" => Ok(Verdict::Allow),
            "reject" => Ok(Verdict::Reject(answer.reason.unwrap_or_else(|| "rejected by moderation".to_owned()))),
            other => Err(fail(format!("unknown verdict '{other}'"))),
        }
    }
}
