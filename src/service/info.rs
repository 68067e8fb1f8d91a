//! `ImageInfo`: the facts of a stored original, as info.json stores them and the info and upload
//! answers give them.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ServiceError;
use crate::model::{ImageHash, ImageId};
use crate::pipeline::{FocusInfo, FocusPoint, ImageFacts};

/// The facts of a stored original, as info.json and the upload answer give them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// md5 of the original's bytes.
    pub hash: String,
    /// Upright width.
    pub width: u32,
    /// Upright height.
    pub height: u32,
    /// MIME type of the original.
    pub content_type: String,
    /// Frames of an animated original (absent for still images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<u32>,
    /// ThumbHash of the upright image, standard base64: a placeholder a page can paint at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbhash: Option<String>,
    /// Where the subject is, as fractions of the upright image (DESIGN.md §14): found at upload
    /// (or at an origin pull's first fetch), or set by the uploader. Cover crops of a namespace
    /// with `crop: "focus"` are placed around it. Absent for originals stored before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focus: Option<FocusPoint>,
    /// The faces found, `[x0, y0, x1, y1]` fractions, largest first (empty where none was found
    /// or the focus was set by hand); written with `focus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faces: Option<Vec<[f32; 4]>>,
    /// The variants stored so far, by name (DESIGN.md §11). Never stored: listed when answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<String>>,
    /// In the answer to an upload with `?wait=false`: the outputs still to be rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Vec<String>>,
    /// With `remote_base_url`: the public URL of each stored variant, by name. Never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<BTreeMap<String, String>>,
}

impl ImageInfo {
    /// The facts of an original of `hash` (its ThumbHash not made yet).
    pub(super) fn of_facts(hash: &ImageHash, facts: &ImageFacts) -> ImageInfo {
        ImageInfo {
            hash: hash.to_string(),
            width: facts.width,
            height: facts.height,
            content_type: facts.format.mime().to_owned(),
            frames: (facts.frames > 1).then_some(facts.frames),
            thumbhash: None,
            focus: None,
            faces: None,
            variants: None,
            pending: None,
            urls: None,
        }
    }

    /// Reads the stored info.json of image `id`.
    pub(super) fn from_stored(json: &[u8], id: &ImageId) -> Result<ImageInfo, ServiceError> {
        serde_json::from_slice(json)
            .map_err(|e| ServiceError::Internal(format!("stored info.json of {id} is not valid: {e}")))
    }

    /// The stored focus and faces, if the original has them.
    pub(super) fn subject(&self) -> Option<FocusInfo> {
        self.focus.map(|focus| FocusInfo { focus, faces: self.faces.clone().unwrap_or_default() })
    }

    /// Stores `subject` as the original's focus and faces.
    pub(super) fn set_subject(&mut self, subject: Option<FocusInfo>) {
        (self.focus, self.faces) = match subject {
            Some(FocusInfo { focus, faces }) => (Some(focus), Some(faces)),
            None => (None, None),
        };
    }

    /// The JSON bytes stored and answered.
    pub(super) fn to_json(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("info serialises"))
    }
}
