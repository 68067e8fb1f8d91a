//! Raw configuration layers: where each key's value came from, before validation.
//!
//! Every layer (defaults, the JSON file, `IMG_*` variables, flags) becomes a map from key to a
//! JSON value plus the [`Layer`] it came from; later layers replace earlier ones key by key.
//! Strings from the environment and the command line are turned into JSON by the key's [`Kind`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::ConfigError;

/// Where a configuration value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layer {
    /// The built-in default.
    Default,
    /// A JSON config file.
    File(PathBuf),
    /// An `IMG_*` environment variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layer::Default => f.write_str("the built-in default"),
            Layer::File(p) => write!(f, "config file {}", p.display()),
            Layer::Env(v) => write!(f, "environment variable {v}"),
            Layer::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// How a key's value is written in the environment and on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A non-negative integer.
    Int,
    /// A byte count: an integer, or with a unit (`25MiB`, `512KB`).
    Bytes,
    /// Any string.
    Str,
    /// `true` or `false`.
    Bool,
    /// A comma-separated list of strings.
    List,
    /// JSON text (or, for per-format values, a bare integer).
    Json,
}

/// A configuration key: its name in files, its flag, its kind and its `--help` line.
pub(crate) struct Key {
    pub(crate) name: &'static str,
    pub(crate) flag: &'static str,
    pub(crate) kind: Kind,
}

/// Every top-level key. The variable is `IMG_` + the upper-cased name.
#[rustfmt::skip]
pub(crate) const KEYS: &[Key] = &[
    Key { name: "server_port", flag: "--port", kind: Kind::Int },
    Key { name: "status_port", flag: "--status-port", kind: Kind::Int },
    Key { name: "listen", flag: "--listen", kind: Kind::Str },
    Key { name: "status_listen", flag: "--status-listen", kind: Kind::Str },
    Key { name: "storage", flag: "--storage", kind: Kind::Str },
    Key { name: "originals_storage", flag: "--originals-storage", kind: Kind::Str },
    Key { name: "remote_base_url", flag: "--remote-base-url", kind: Kind::Str },
    Key { name: "whitelisted_extensions", flag: "--whitelisted-extensions", kind: Kind::List },
    Key { name: "maximum_width", flag: "--maximum-width", kind: Kind::Int },
    Key { name: "maximum_height", flag: "--maximum-height", kind: Kind::Int },
    Key { name: "default_quality", flag: "--default-quality", kind: Kind::Json },
    Key { name: "max_upload_bytes", flag: "--max-upload-bytes", kind: Kind::Bytes },
    Key { name: "max_source_pixels", flag: "--max-source-pixels", kind: Kind::Int },
    Key { name: "memory_cache_bytes", flag: "--memory-cache-bytes", kind: Kind::Bytes },
    Key { name: "workers", flag: "--workers", kind: Kind::Int },
    Key { name: "queue_size", flag: "--queue-size", kind: Kind::Int },
    Key { name: "working_copy_max_side", flag: "--working-copy-max-side", kind: Kind::Int },
    Key { name: "decode_budget_pixels", flag: "--decode-budget-pixels", kind: Kind::Int },
    Key { name: "source_allow_private", flag: "--source-allow-private", kind: Kind::Bool },
    Key { name: "source_timeout_secs", flag: "--source-timeout-secs", kind: Kind::Int },
    Key { name: "source_max_redirects", flag: "--source-max-redirects", kind: Kind::Int },
    Key { name: "statsd", flag: "--statsd", kind: Kind::Str },
    Key { name: "statsd_prefix", flag: "--statsd-prefix", kind: Kind::Str },
    Key { name: "profile", flag: "--profile", kind: Kind::Bool },
    Key { name: "log_format", flag: "--log-format", kind: Kind::Str },
    Key { name: "shutdown_grace_secs", flag: "--shutdown-grace-secs", kind: Kind::Int },
    Key { name: "namespaces", flag: "--namespaces", kind: Kind::Json },
];

pub(crate) fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The name of the environment variable for a key.
pub fn env_var(name: &str) -> String {
    format!("IMG_{}", name.to_ascii_uppercase())
}

/// One value with its origin.
#[derive(Clone, Debug)]
pub(crate) struct Sourced {
    pub(crate) value: Value,
    pub(crate) layer: Layer,
}

/// The merged layers: each key's winning value.
#[derive(Default, Debug)]
pub(crate) struct Merged(pub(crate) BTreeMap<String, Sourced>);

impl Merged {
    pub(crate) fn set(&mut self, name: &str, value: Value, layer: Layer) {
        self.0.insert(name.to_owned(), Sourced { value, layer });
    }
}

/// Reads a JSON config file: an object of known keys.
pub(crate) fn read_file(path: &Path, merged: &mut Merged) -> Result<(), ConfigError> {
    let layer = Layer::File(path.to_owned());
    let fail = |key: &str, message: String| ConfigError { key: key.to_owned(), layer: layer.clone(), message };
    let text = std::fs::read_to_string(path).map_err(|e| fail("config", format!("cannot read the file: {e}")))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| fail("config", format!("not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(fail("config", "the file must hold a JSON object of settings".to_owned()));
    };
    for (name, value) in map {
        if key(&name).is_none() {
            return Err(fail(&name, "unknown key".to_owned()));
        }
        merged.set(&name, value, layer.clone());
    }
    Ok(())
}

/// Parses a string from the environment or a flag into JSON, as the key's kind says.
pub(crate) fn parse_text(key: &Key, text: &str, layer: &Layer) -> Result<Value, ConfigError> {
    let fail = |message: String| ConfigError { key: key.name.to_owned(), layer: layer.clone(), message };
    Ok(match key.kind {
        Kind::Str => Value::String(text.to_owned()),
        Kind::Int => Value::from(
            text.trim().parse::<u64>().map_err(|_| fail(format!("'{text}' is not a non-negative integer")))?,
        ),
        Kind::Bytes => Value::from(
            parse_bytes(text).ok_or_else(|| fail(format!("'{text}' is not a byte size (e.g. 26214400 or 25MiB)")))?,
        ),
        Kind::Bool => match text.trim() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(fail(format!("'{text}' is not true or false"))),
        },
        Kind::List => Value::Array(
            text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.to_owned())).collect(),
        ),
        Kind::Json => serde_json::from_str(text).map_err(|e| fail(format!("not valid JSON: {e}")))?,
    })
}

/// `26214400`, `25MiB`, `25 MB`, `512k`: binary and decimal units, case-insensitive.
pub(crate) fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1 << 20,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// Folds a JSON map (for printing the effective configuration).
pub(crate) fn to_json(merged: &Merged) -> Value {
    let mut map = Map::new();
    for (name, sourced) in &merged.0 {
        map.insert(name.clone(), serde_json::json!({ "value": sourced.value, "from": sourced.layer.to_string() }));
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("26214400"), Some(26_214_400));
        assert_eq!(parse_bytes("25MiB"), Some(25 << 20));
        assert_eq!(parse_bytes("25 mb"), Some(25_000_000));
        assert_eq!(parse_bytes("1GiB"), Some(1 << 30));
        assert_eq!(parse_bytes("MiB"), None);
        assert_eq!(parse_bytes("12 parsecs"), None);
        assert_eq!(parse_bytes("99999999999999999999GiB"), None);
    }
}
