//! Per-namespace settings: variants rendered at upload and tighter limits.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::model::{Extension, Namespace, Variant};

/// Settings of one namespace (the `namespaces.{ns}` block).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceConfig {
    /// Variants rendered and stored at every upload into this namespace.
    pub outputs: Vec<Variant>,
    /// Limits that replace the global ones for this namespace.
    pub limits: NamespaceLimits,
    /// Origin-pull template: `/{ns}/{path}/{variant}` fetches the original from it, `{path}`
    /// replaced, on the first miss.
    pub source_url: Option<String>,
    /// Whether `?source=URL` on a variant request may replace the template.
    pub allow_source_override: bool,
}

/// Per-namespace overrides of the global variant limits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceLimits {
    /// Extensions allowed here (default: the global whitelist).
    pub whitelisted_extensions: Option<Vec<Extension>>,
    /// Largest width asked for (default: the global maximum).
    pub maximum_width: Option<u32>,
    /// Largest height asked for (default: the global maximum).
    pub maximum_height: Option<u32>,
    /// When set, the only variant names served here.
    pub allowed_variants: Option<Vec<Variant>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNamespace {
    #[serde(default)]
    outputs: Vec<String>,
    whitelisted_extensions: Option<Vec<String>>,
    maximum_width: Option<u32>,
    maximum_height: Option<u32>,
    allowed_variants: Option<Vec<String>>,
    source_url: Option<String>,
    #[serde(default)]
    allow_source_override: bool,
}

pub(super) fn parse(value: &Value) -> Result<BTreeMap<Namespace, NamespaceConfig>, String> {
    let Value::Object(map) = value else {
        return Err("expected an object of namespace settings".to_owned());
    };
    let mut out = BTreeMap::new();
    for (name, block) in map {
        let ns: Namespace = name.parse().map_err(|e| format!("'{name}': {e}"))?;
        let raw: RawNamespace =
            serde_json::from_value(block.clone()).map_err(|e| format!("namespace '{name}': {e}"))?;
        let outputs = raw
            .outputs
            .iter()
            .map(|o| o.parse::<Variant>().map_err(|e| format!("namespace '{name}': output '{o}': {e}")))
            .collect::<Result<_, _>>()?;
        let whitelisted_extensions = raw
            .whitelisted_extensions
            .map(|list| {
                list.iter()
                    .map(|e| e.parse::<Extension>().map_err(|err| format!("namespace '{name}': {err}")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        if raw.maximum_width == Some(0) || raw.maximum_height == Some(0) {
            return Err(format!("namespace '{name}': maximum sizes must be at least 1"));
        }
        let allowed_variants = raw
            .allowed_variants
            .map(|list| {
                list.iter()
                    .map(|v| {
                        v.parse::<Variant>().map_err(|e| format!("namespace '{name}': allowed variant '{v}': {e}"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        if let Some(template) = &raw.source_url {
            let probe = template.replace("{path}", "x");
            let ok = template.contains("{path}")
                && url::Url::parse(&probe).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok {
                return Err(format!("namespace '{name}': source_url must be an http(s) URL with {{path}} in it"));
            }
        }
        let limits = NamespaceLimits {
            whitelisted_extensions,
            maximum_width: raw.maximum_width,
            maximum_height: raw.maximum_height,
            allowed_variants,
        };
        let source = (raw.source_url, raw.allow_source_override);
        out.insert(ns, NamespaceConfig { outputs, limits, source_url: source.0, allow_source_override: source.1 });
    }
    Ok(out)
}
