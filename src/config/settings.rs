//! Namespace settings resolved once, at load: each configured namespace's block with the global
//! defaults filled in, and the defaults alone for every other namespace. A call site asks
//! [`Settings::of`] one question; nothing outside this module falls back from a namespace's
//! value to a global one.

use std::collections::HashMap;
use std::sync::Arc;

use super::namespaces::{Crop, NamespaceConfig};
use super::sections::{AccessConfig, LimitsConfig, NamespacesConfig};
use crate::model::{Extension, Namespace, Variant};

/// Where an origin-pull namespace fetches its originals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The URL template, with `{path}` in it.
    pub template: String,
    /// Whether `?source=URL` on a request may replace the template.
    pub allow_source_override: bool,
}

/// Where an upload's `image.ready` / `image.failed` is POSTed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notify {
    /// The hook's URL.
    pub url: String,
    /// The HMAC-SHA256 key of `X-Image-Server-Signature`.
    pub secret: String,
}

/// Where the URLs of a deleted image are POSTed, signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purge {
    /// The hook's URL.
    pub url: String,
    /// The HMAC-SHA256 key of `X-Image-Server-Signature`.
    pub secret: String,
}

/// The hook that gives a verdict on each new upload before it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moderation {
    /// The hook's URL.
    pub url: String,
    /// Whether uploads are stored when the hook gives no verdict.
    pub fail_open: bool,
}

/// Everything that may differ between namespaces, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceSettings {
    /// Whether the namespace is served: it is configured, or unknown namespaces are allowed.
    pub served: bool,
    /// Variants rendered at every upload.
    pub outputs: Vec<Variant>,
    /// Extensions that may be asked for.
    pub whitelisted_extensions: Vec<Extension>,
    /// Largest width a URL may ask for.
    pub maximum_width: u32,
    /// Largest height a URL may ask for.
    pub maximum_height: u32,
    /// When set, the only variant names served.
    pub allowed_variants: Option<Vec<Variant>>,
    /// Origin pull, for namespaces that have it.
    pub origin: Option<Origin>,
    /// Whether variant and info URLs need a signature (when `signing_keys` is set).
    pub require_signature: bool,
    /// Bearer tokens for uploads and deletes: the global ones and the namespace's own.
    pub upload_tokens: Vec<String>,
    /// Formats `.jpg`/`.png` variants are answered in when `Accept` names them, first first.
    pub negotiate_formats: Vec<Extension>,
    /// The notification hook.
    pub notify: Option<Notify>,
    /// The moderation hook.
    pub moderation: Option<Moderation>,
    /// Popular sizes rendered in the background after a miss (0: off).
    pub prerender_popular: usize,
    /// The longest side a popular size may have to be counted and rendered in the background.
    pub prerender_max_side: u32,
    /// Outputs one upload may ask for.
    pub max_outputs_per_upload: usize,
    /// The purge hook, called after a delete.
    pub purge: Option<Purge>,
    /// Where cover crops are cut: centred, or around each original's stored focus.
    pub crop: Crop,
}

/// Why a namespace does not serve a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VariantRefused {
    /// The extension is not whitelisted here (400).
    #[error("extension '{0}' is not allowed here")]
    Extension(Extension),
    /// The namespace serves only some variants, not this one (400).
    #[error("variant {0} is not allowed in this namespace")]
    NotListed(Variant),
    /// The asked size is above the maximums (406).
    #[error("requested size is too large: the maximum is {max_width}x{max_height}")]
    TooLarge {
        /// Largest width allowed.
        max_width: u32,
        /// Largest height allowed.
        max_height: u32,
    },
    /// An upload asked for more outputs than `max_outputs_per_upload` (400).
    #[error("{asked} outputs asked: an upload may ask for at most {max}")]
    TooManyOutputs {
        /// How many were asked.
        asked: usize,
        /// `max_outputs_per_upload`.
        max: usize,
    },
}

impl NamespaceSettings {
    /// Whether `variant` may be asked for here: whitelisted, listed (where a list is set), and
    /// within the maximum sizes.
    pub fn check(&self, variant: &Variant) -> Result<(), VariantRefused> {
        if !self.whitelisted_extensions.contains(&variant.ext) {
            return Err(VariantRefused::Extension(variant.ext));
        }
        if self.allowed_variants.as_ref().is_some_and(|allowed| !allowed.contains(variant)) {
            return Err(VariantRefused::NotListed(*variant));
        }
        let (w, h) = variant.geometry.requested_size();
        if w.is_some_and(|w| w > self.maximum_width) || h.is_some_and(|h| h > self.maximum_height) {
            return Err(VariantRefused::TooLarge { max_width: self.maximum_width, max_height: self.maximum_height });
        }
        Ok(())
    }

    /// Whether answers for variants here depend on `Accept`.
    pub fn negotiates(&self) -> bool {
        !self.negotiate_formats.is_empty()
    }

    /// Whether a client's upload may ask for `asked` outputs (`max_outputs_per_upload`).
    pub fn check_output_count(&self, asked: usize) -> Result<(), VariantRefused> {
        if asked > self.max_outputs_per_upload {
            return Err(VariantRefused::TooManyOutputs { asked, max: self.max_outputs_per_upload });
        }
        Ok(())
    }

    /// Every output of an upload that asked for `asked`: those, then the namespace's own, each
    /// allowed here.
    pub fn outputs_with(&self, asked: &[Variant]) -> Result<Vec<Variant>, VariantRefused> {
        let mut all = asked.to_vec();
        all.extend(self.outputs.iter().filter(|v| !asked.contains(v)));
        all.iter().try_for_each(|v| self.check(v))?;
        Ok(all)
    }

    fn resolve(own: Option<&NamespaceConfig>, limits: &LimitsConfig, access: &AccessConfig) -> NamespaceSettings {
        let default = NamespaceConfig::default();
        let own_or_default = own.unwrap_or(&default);
        NamespaceSettings {
            served: own.is_some() || access.allow_unknown_namespaces,
            outputs: own_or_default.outputs.clone(),
            whitelisted_extensions: own_or_default
                .whitelisted_extensions
                .clone()
                .unwrap_or_else(|| limits.whitelisted_extensions.clone()),
            maximum_width: own_or_default.maximum_width.unwrap_or(limits.maximum_width),
            maximum_height: own_or_default.maximum_height.unwrap_or(limits.maximum_height),
            allowed_variants: own_or_default.allowed_variants.clone(),
            origin: own_or_default
                .source_url
                .clone()
                .map(|template| Origin { template, allow_source_override: own_or_default.allow_source_override }),
            require_signature: own_or_default.require_signature.unwrap_or(true),
            upload_tokens: access.upload_tokens.iter().chain(&own_or_default.upload_tokens).cloned().collect(),
            negotiate_formats: own_or_default.negotiate_formats.clone(),
            notify: own_or_default
                .notify_url
                .clone()
                .zip(own_or_default.notify_secret.clone())
                .map(|(url, secret)| Notify { url, secret }),
            moderation: own_or_default
                .moderation_url
                .clone()
                .map(|url| Moderation { url, fail_open: own_or_default.moderation_fail_open }),
            prerender_popular: own_or_default.prerender_popular,
            prerender_max_side: own_or_default.prerender_max_side.unwrap_or(DEFAULT_PRERENDER_MAX_SIDE),
            max_outputs_per_upload: limits.max_outputs_per_upload,
            purge: own_or_default
                .purge_url
                .clone()
                .zip(own_or_default.purge_secret.clone())
                .map(|(url, secret)| Purge { url, secret }),
            crop: own_or_default.crop,
        }
    }
}

/// The longest side of a popular size rendered in the background, unless a namespace says.
const DEFAULT_PRERENDER_MAX_SIDE: u32 = 1024;

/// The settings of every namespace.
#[derive(Clone, Debug)]
pub struct Settings {
    configured: HashMap<Namespace, Arc<NamespaceSettings>>,
    others: Arc<NamespaceSettings>,
}

impl Settings {
    /// Resolves the configured blocks against the global limits and access settings.
    pub(super) fn resolve(namespaces: &NamespacesConfig, limits: &LimitsConfig, access: &AccessConfig) -> Settings {
        let configured = namespaces
            .namespaces
            .iter()
            .map(|(ns, own)| (ns.clone(), Arc::new(NamespaceSettings::resolve(Some(own), limits, access))))
            .collect();
        Settings { configured, others: Arc::new(NamespaceSettings::resolve(None, limits, access)) }
    }

    /// The settings of `ns`.
    pub fn of(&self, ns: &Namespace) -> &NamespaceSettings {
        self.configured.get(ns).unwrap_or(&self.others)
    }

    /// The settings of `ns`, to keep.
    pub fn shared(&self, ns: &Namespace) -> Arc<NamespaceSettings> {
        Arc::clone(self.configured.get(ns).unwrap_or(&self.others))
    }

    /// Every configured namespace with its settings.
    pub fn configured(&self) -> impl Iterator<Item = (&Namespace, &NamespaceSettings)> {
        self.configured.iter().map(|(ns, s)| (ns, s.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigSources};

    #[test]
    fn blocks_are_filled_in_from_the_global_settings() {
        let namespaces = r#"{"avatars": {"maximum_width": 512, "upload_tokens": ["own"], "require_signature": false, "crop": "focus"}}"#;
        let config = Config::load(&ConfigSources {
            config_dir: Some("/nonexistent".into()),
            flags: vec![
                ("namespaces".into(), namespaces.into()),
                ("maximum_height".into(), "300".into()),
                ("upload_tokens".into(), "global".into()),
                ("allow_unknown_namespaces".into(), "false".into()),
            ],
            ..Default::default()
        })
        .unwrap();
        let avatars = config.settings.of(&"avatars".parse().unwrap());
        assert_eq!((avatars.maximum_width, avatars.maximum_height), (512, 300));
        assert_eq!(avatars.upload_tokens, ["global", "own"]);
        assert!(avatars.served && !avatars.require_signature);
        let other = config.settings.of(&"other".parse().unwrap());
        assert_eq!((other.maximum_width, other.maximum_height), (4096, 300));
        assert_eq!(other.upload_tokens, ["global"]);
        assert!(!other.served && other.require_signature);
        assert_eq!((avatars.crop, other.crop), (super::Crop::Focus, super::Crop::Centre));
        let refused = avatars.check(&"w600.jpg".parse().unwrap()).unwrap_err();
        assert_eq!(refused.to_string(), "requested size is too large: the maximum is 512x300");
    }
}
