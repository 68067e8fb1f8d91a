//! Per-namespace settings (the `namespaces` key): variants rendered at upload, tighter limits,
//! origin pull. Each setting is declared once, as a field of [`NamespaceConfig`].

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::schema::{Kind, Setting};
use crate::model::{Extension, Namespace, Variant};

/// Settings of one namespace (the `namespaces.{ns}` block); every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NamespaceConfig {
    /// Variants rendered and stored at every upload into this namespace.
    #[serde(deserialize_with = "parsed_list")]
    pub outputs: Vec<Variant>,
    /// Extensions allowed here (default: the global whitelist).
    #[serde(deserialize_with = "parsed_optional_list")]
    pub whitelisted_extensions: Option<Vec<Extension>>,
    /// Largest width asked for (default: the global maximum).
    pub maximum_width: Option<u32>,
    /// Largest height asked for (default: the global maximum).
    pub maximum_height: Option<u32>,
    /// When set, the only variant names served here.
    #[serde(deserialize_with = "parsed_optional_list")]
    pub allowed_variants: Option<Vec<Variant>>,
    /// Origin-pull template: `/{ns}/{path}/{variant}` fetches the original from it, `{path}`
    /// replaced, on the first miss.
    pub source_url: Option<String>,
    /// Whether `?source=URL` on a variant request may replace the template.
    pub allow_source_override: bool,
    /// Whether variant and info URLs need a signature when `signing_keys` is set (default yes).
    pub require_signature: Option<bool>,
    /// Bearer tokens for uploads and deletes here, beside the global ones.
    pub upload_tokens: Vec<String>,
    /// Formats a `.jpg`/`.png` variant is answered in when `Accept` names them, first named
    /// first (`["avif", "webp"]`; DESIGN.md §10).
    #[serde(deserialize_with = "parsed_list")]
    pub negotiate_formats: Vec<Extension>,
    /// Where `image.ready` / `image.failed` is POSTed once an upload's outputs are stored
    /// (DESIGN.md §11).
    pub notify_url: Option<String>,
    /// The HMAC-SHA256 key of the notifications' `X-Image-Server-Signature` (required with
    /// `notify_url`).
    pub notify_secret: Option<String>,
    /// Where a JPEG of each new upload is POSTed for a verdict before anything is stored.
    pub moderation_url: Option<String>,
    /// Whether uploads are stored when the moderation hook cannot be reached (default: 503).
    pub moderation_fail_open: bool,
    /// After a miss of an image, its K most requested sizes here are rendered in the background
    /// (0: off; DESIGN.md §12).
    pub prerender_popular: usize,
    /// Popular sizes with a side longer than this are neither counted nor rendered in the
    /// background (default 1024).
    pub prerender_max_side: Option<u32>,
    /// Where the URLs of a deleted image are POSTed, so that a CDN can drop them (DESIGN.md §15).
    pub purge_url: Option<String>,
    /// The HMAC-SHA256 key of the purge calls' `X-Image-Server-Signature`.
    pub purge_secret: Option<String>,
    /// Where `x{S}` and `{W}x{H}` crops are cut (DESIGN.md §14): `"centre"` (the default) or
    /// `"focus"`, around the faces and focus stored with each original.
    pub crop: Crop,
}

/// Where a namespace's cover crops (`x{S}`, `{W}x{H}`) are cut.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Crop {
    /// Around the middle of the image: the crops of every namespace before `crop` existed, byte
    /// for byte.
    #[default]
    Centre,
    /// Around the faces found at upload (all of them when they fit, else the largest), else
    /// around the focus point; clamped inside the image.
    Focus,
}

impl NamespaceConfig {
    /// The rules between fields that serde cannot check.
    fn validate(&self) -> Result<(), String> {
        if let Some(e) = self.negotiate_formats.iter().find(|e| !e.format().negotiable()) {
            let negotiable: Vec<&str> =
                Extension::ALL.iter().filter(|e| e.format().negotiable()).map(|e| e.as_str()).collect();
            return Err(format!(
                "negotiate_formats: '{e}' is not a format to negotiate into ({})",
                negotiable.join(", ")
            ));
        }
        let listed = self.negotiate_formats.iter().chain(self.whitelisted_extensions.iter().flatten());
        listed.copied().try_for_each(Extension::check_written)?;
        if self.maximum_width == Some(0) || self.maximum_height == Some(0) {
            return Err("maximum sizes must be at least 1".to_owned());
        }
        let hooks = [
            ("notify_url", &self.notify_url),
            ("moderation_url", &self.moderation_url),
            ("purge_url", &self.purge_url),
        ];
        for (name, url) in hooks {
            if url.as_deref().is_some_and(|u| !url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
            {
                return Err(format!("{name} must be an http(s) URL"));
            }
        }
        if self.prerender_popular > MAX_PRERENDER_POPULAR {
            return Err(format!("prerender_popular: at most {MAX_PRERENDER_POPULAR}"));
        }
        match (&self.notify_url, &self.notify_secret) {
            (Some(_), None) => {
                return Err("notify_url is set without notify_secret: notifications are always signed, so that \
                            the receiver can tell them from forgeries; set notify_secret"
                    .to_owned());
            }
            (None, Some(_)) => return Err("notify_secret is set without notify_url".to_owned()),
            (Some(_), Some(secret)) if secret.is_empty() => return Err("notify_secret is empty".to_owned()),
            _ => {}
        }
        if self.purge_url.is_some() != self.purge_secret.is_some() {
            return Err("purge_url and purge_secret go together: purge calls are always signed".to_owned());
        }
        if let Some(template) = &self.source_url {
            let probe = template.replace("{path}", "x");
            let ok = template.contains("{path}")
                && url::Url::parse(&probe).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok {
                return Err("source_url must be an http(s) URL with {path} in it".to_owned());
            }
        }
        Ok(())
    }
}

/// The most popular sizes a namespace may prerender for each image.
const MAX_PRERENDER_POPULAR: usize = 32;

/// A list of names, each parsed by its `FromStr` (`["x48.webp", "x96.webp"]`).
fn parsed_list<'de, D: Deserializer<'de>, T: FromStr>(d: D) -> Result<Vec<T>, D::Error>
where
    T::Err: std::fmt::Display,
{
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|name| name.parse().map_err(|e| serde::de::Error::custom(format!("'{name}': {e}"))))
        .collect()
}

fn parsed_optional_list<'de, D: Deserializer<'de>, T: FromStr>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    T::Err: std::fmt::Display,
{
    parsed_list(d).map(Some)
}

/// The settings of every configured namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Namespaces(BTreeMap<Namespace, NamespaceConfig>);

impl Namespaces {
    /// The block of `ns`, if it has one.
    pub fn get(&self, ns: &Namespace) -> Option<&NamespaceConfig> {
        self.0.get(ns)
    }

    /// Every configured namespace with its block.
    pub fn iter(&self) -> impl Iterator<Item = (&Namespace, &NamespaceConfig)> {
        self.0.iter()
    }
}

/// The fields of a namespace block whose values are secrets, hidden when configuration is printed.
const SECRET_FIELDS: &[&str] = &["upload_tokens", "notify_secret", "purge_secret"];

impl Setting for Namespaces {
    const KIND: Kind = Kind::Json;
    const VALUE_NAME: &'static str = "JSON";

    fn redact(value: &Value) -> Value {
        let mut value = value.clone();
        for block in value.as_object_mut().into_iter().flat_map(|m| m.values_mut()) {
            for field in SECRET_FIELDS {
                if let Some(secret) = block.get_mut(*field) {
                    *secret = Value::from("(secret)");
                }
            }
        }
        value
    }

    fn read(value: &Value) -> Result<Self, String> {
        let Value::Object(map) = value else {
            return Err("expected an object of namespace settings".to_owned());
        };
        let mut out = BTreeMap::new();
        for (name, block) in map {
            let ns: Namespace = name.parse().map_err(|e| format!("'{name}': {e}"))?;
            let config = NamespaceConfig::deserialize(block)
                .map_err(|e| e.to_string())
                .and_then(|c| c.validate().map(|()| c))
                .map_err(|e| format!("namespace '{name}': {e}"))?;
            out.insert(ns, config);
        }
        Ok(Namespaces(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_parsed_and_checked() {
        let ns = Namespaces::read(&serde_json::json!({
            "avatars": { "outputs": ["x48.webp"], "maximum_width": 512 },
            "user": { "source_url": "https://cdn.example.com/{path}", "allow_source_override": true }
        }))
        .unwrap();
        let avatars = ns.get(&"avatars".parse().unwrap()).unwrap();
        assert_eq!((avatars.outputs.len(), avatars.maximum_width), (1, Some(512)));
        assert_eq!(avatars.crop, Crop::Centre);
        let focus = Namespaces::read(&serde_json::json!({"a": {"crop": "focus"}})).unwrap();
        assert_eq!(focus.get(&"a".parse().unwrap()).unwrap().crop, Crop::Focus);
        for (bad, needle) in [
            (serde_json::json!({"a": {"outputs": ["x48.bmp"]}}), "x48.bmp"),
            (serde_json::json!({"a": {"maximum_widht": 5}}), "maximum_widht"),
            (serde_json::json!({"a": {"maximum_width": 0}}), "at least 1"),
            (serde_json::json!({"a": {"source_url": "ftp://x/{path}"}}), "source_url"),
            (serde_json::json!({"A": {}}), "'A'"),
            (serde_json::json!({"a": {"negotiate_formats": ["gif"]}}), "negotiate_formats"),
            (serde_json::json!({"a": {"negotiate_formats": ["heic"]}}), "heic"),
            (serde_json::json!({"a": {"notify_url": "file:///etc"}}), "notify_url"),
            (serde_json::json!({"a": {"moderation_url": "nope"}}), "moderation_url"),
            (serde_json::json!({"a": {"notify_secret": "s"}}), "without notify_url"),
            (serde_json::json!({"a": {"notify_url": "http://hook.example/"}}), "without notify_secret"),
            (serde_json::json!({"a": {"notify_url": "http://hook.example/", "notify_secret": ""}}), "empty"),
            (serde_json::json!({"a": {"purge_url": "http://cdn/purge"}}), "purge_secret"),
            (serde_json::json!({"a": {"purge_secret": "s"}}), "purge_url"),
            (serde_json::json!({"a": {"purge_url": "gopher://x", "purge_secret": "s"}}), "purge_url"),
            (serde_json::json!({"a": {"crop": "smart"}}), "expected `centre` or `focus`"),
            (serde_json::json!({"a": {"crop": "center"}}), "expected `centre` or `focus`"),
        ] {
            let e = Namespaces::read(&bad).unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
    }
}
