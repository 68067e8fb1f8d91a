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
use super::schema::{Key, Kind};
use super::sections::KEYS;

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
        if super::schema::key(KEYS, &name).is_none() {
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

/// The effective configuration: each key's value (secrets hidden), the layer it came from, its
/// flag and its variable.
pub(crate) fn to_json(merged: &Merged) -> Value {
    let mut map = Map::new();
    for key in KEYS {
        let Some(sourced) = merged.0.get(key.name) else { continue };
        let value =
            if key.secret && !sourced.value.is_null() { Value::from("(secret)") } else { sourced.value.clone() };
        let entry = serde_json::json!({
            "value": value,
            "from": sourced.layer.to_string(),
            "flag": key.flag(),
            "variable": key.env_var(),
        });
        map.insert(key.name.to_owned(), entry);
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
