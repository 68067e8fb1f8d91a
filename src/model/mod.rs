//! The typed URL model: image hashes, namespaces, variants and the object keys derived from them.
//!
//! Everything here is parsed once at the HTTP edge (or from the CLI) and passed on as types; no
//! other module handles raw path strings. This module depends on nothing else in the crate.

mod format;
mod hash;
mod image_id;
mod keys;
mod namespace;
mod served;
mod variant;

pub use format::ImageFormat;
pub use hash::{HashError, ImageHash};
pub use image_id::{ImageId, OriginPath, OriginPathError};
pub use keys::ObjectKey;
pub use namespace::{Namespace, NamespaceError};
pub use served::Served;
pub use variant::{Extension, Geometry, Variant, VariantError};
