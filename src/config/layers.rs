//! Raw configuration layers: where each key's value came from, before validation.
//!
//! Every layer (defaults, the JSON file, `IMG_*` variables, flags) becomes a map from key to a
//! JSON value plus the [`Layer`] it came from; later layers replace earlier ones key by key.
//! Strings from the environment and the command line are turned into JSON by the key's kind.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::ConfigError;
use super::schema::{self, Key};

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
pub(crate) fn read_file(path: &Path, keys: &'static [Key], merged: &mut Merged) -> Result<(), ConfigError> {
    let layer = Layer::File(path.to_owned());
    let fail = |key: &str, message: String| ConfigError { key: key.to_owned(), layer: layer.clone(), message };
    let text = std::fs::read_to_string(path).map_err(|e| fail("config", format!("cannot read the file: {e}")))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| fail("config", format!("not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(fail("config", "the file must hold a JSON object of settings".to_owned()));
    };
    for (name, value) in map {
        if schema::key(keys, &name).is_none() {
            return Err(fail(&name, "unknown key".to_owned()));
        }
        merged.set(&name, value, layer.clone());
    }
    Ok(())
}

/// The effective configuration: each key's value (secrets hidden), the layer it came from, its
/// flag and its variable.
pub(crate) fn to_json(keys: &'static [Key], merged: &Merged) -> Value {
    let mut map = Map::new();
    for key in keys {
        let Some(sourced) = merged.0.get(key.name) else { continue };
        let empty = sourced.value.is_null() || sourced.value.as_array().is_some_and(Vec::is_empty);
        let value = if key.secret && !empty { Value::from("(secret)") } else { (key.redact)(&sourced.value) };
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
