//! Configuration: layered raw values (defaults < `config/{env}.json` < `IMG_*` < flags) read once
//! into typed sections, one per component. Every key is declared once, in `sections.rs`; errors
//! name the key and the layer it came from.
//!
//! Nothing here reads the process environment by itself: the caller passes the variables and
//! flags in, so tests and the CLI load configuration the same way.

mod layers;
mod namespaces;
mod readers;
mod reference;
pub(crate) mod schema;
mod sections;
mod settings;
mod values;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

pub use layers::Layer;
pub use namespaces::{Crop, NamespaceConfig, Namespaces};
pub use schema::{ByteSize, env_var};
pub use sections::{
    AccessConfig, BackgroundConfig, CacheConfig, LimitsConfig, MetricsConfig, NamespacesConfig, RenderConfig,
    ServerConfig, SourcesConfig, StorageConfig,
};
pub use settings::{Moderation, NamespaceSettings, Notify, Origin, Purge, Settings, VariantRefused};
pub use values::{Backend, Bucket, DefaultQuality, LogFormat, SigningKey, StorageUrl};

pub use reference::reference;
pub(crate) use sections::KEYS;

use layers::{Merged, Sourced};
use schema::{Check, Setting};

/// A configuration value that cannot be used, with the key and the layer it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration key `{key}` (from {layer}): {message}")]
pub struct ConfigError {
    /// The key (or `config` for a file-level problem).
    pub key: String,
    /// Where the value came from.
    pub layer: Layer,
    /// What is wrong with it.
    pub message: String,
}

/// What to load configuration from.
#[derive(Debug, Default, Clone)]
pub struct ConfigSources {
    /// `-e/--environment`: picks `config/{environment}.json`. Default `development`.
    pub environment: Option<String>,
    /// `--config FILE`: this file instead of `config/{environment}.json`; it must exist.
    pub config_file: Option<PathBuf>,
    /// Directory holding `{environment}.json` files (default `config`).
    pub config_dir: Option<PathBuf>,
    /// Environment variables (all of them; only `IMG_*` are read).
    pub env: Vec<(String, String)>,
    /// Command-line values as (key name, text) pairs.
    pub flags: Vec<(String, String)>,
}

/// The validated configuration: one typed section per component.
#[derive(Clone, Debug)]
pub struct Config {
    /// Ports, addresses, connections, logs, shutdown.
    pub server: ServerConfig,
    /// Storage URLs.
    pub storage: StorageConfig,
    /// Memory caches.
    pub cache: CacheConfig,
    /// The render pool and the encoders.
    pub render: RenderConfig,
    /// What requests and uploads may ask for and cost.
    pub limits: LimitsConfig,
    /// Source downloads.
    pub sources: SourcesConfig,
    /// Signed URLs, tokens, closed namespaces, rate limits.
    pub access: AccessConfig,
    /// statsd and profiling.
    pub metrics: MetricsConfig,
    /// Jobs, hooks and leases.
    pub background: BackgroundConfig,
    /// Per-namespace settings as configured.
    pub namespaces: NamespacesConfig,
    /// Per-namespace settings resolved: the global defaults filled in.
    pub settings: Arc<Settings>,
    /// The environment whose file was read.
    pub environment: String,
    merged: Arc<Merged>,
}

fn defaults() -> Merged {
    let mut m = Merged::default();
    for key in KEYS {
        m.set(key.name, (key.default)(), Layer::Default);
    }
    m
}

impl Config {
    /// Loads and validates the layers.
    pub fn load(sources: &ConfigSources) -> Result<Config, ConfigError> {
        let mut merged = defaults();
        let environment = sources.environment.clone().unwrap_or_else(|| "development".to_owned());
        match &sources.config_file {
            Some(path) => layers::read_file(path, KEYS, &mut merged)?,
            None => {
                let dir = sources.config_dir.clone().unwrap_or_else(|| PathBuf::from("config"));
                let path = dir.join(format!("{environment}.json"));
                if path.exists() {
                    layers::read_file(&path, KEYS, &mut merged)?;
                }
            }
        }
        for (var, text) in &sources.env {
            let Some(name) = var.strip_prefix("IMG_") else {
                continue;
            };
            if !matches!(name, "ENVIRONMENT" | "CONFIG") {
                set_text(&mut merged, &name.to_ascii_lowercase(), text, |_| Layer::Env(var.clone()))?;
            }
        }
        for (name, text) in &sources.flags {
            set_text(&mut merged, name, text, |key| Layer::Flag(key.map_or_else(|| name.clone(), schema::Key::flag)))?;
        }
        Self::validate(merged, environment)
    }

    /// The built-in defaults alone (for tests and benches).
    pub fn defaults() -> Config {
        Self::validate(defaults(), "development".to_owned()).expect("defaults are valid")
    }

    /// The effective configuration, each key with its value, the layer it came from, its flag
    /// and its variable.
    pub fn effective(&self) -> Value {
        layers::to_json(KEYS, &self.merged)
    }

    fn validate(merged: Merged, environment: String) -> Result<Config, ConfigError> {
        let sections = sections::read_sections(&Validator(&merged))?;
        let settings = Arc::new(Settings::resolve(&sections.namespaces, &sections.limits, &sections.access));
        Ok(Config {
            settings,
            server: sections.server,
            storage: sections.storage,
            cache: sections.cache,
            render: sections.render,
            limits: sections.limits,
            sources: sections.sources,
            access: sections.access,
            metrics: sections.metrics,
            background: sections.background,
            namespaces: sections.namespaces,
            environment,
            merged: Arc::new(merged),
        })
    }
}

/// Sets key `name` from the text a variable or flag gave, in the layer `layer` names for it.
fn set_text(
    merged: &mut Merged,
    name: &str,
    text: &str,
    layer: impl Fn(Option<&schema::Key>) -> Layer,
) -> Result<(), ConfigError> {
    let key = schema::key(KEYS, name);
    let fail = |message: String| ConfigError { key: name.to_owned(), layer: layer(key), message };
    let key = key.ok_or_else(|| fail("unknown key".to_owned()))?;
    let value = key.kind.parse_text(text).map_err(fail)?;
    merged.set(key.name, value, layer(Some(key)));
    Ok(())
}

/// Typed reads of merged values, with errors naming key and layer.
struct Validator<'a>(&'a Merged);

impl Validator<'_> {
    fn read<T: Setting>(&self, key: &str, check: Option<Check<T>>) -> Result<T, ConfigError> {
        let sourced: Option<&Sourced> = self.0.0.get(key);
        let err = |message: String| ConfigError {
            key: key.to_owned(),
            layer: sourced.map_or(Layer::Default, |s| s.layer.clone()),
            message,
        };
        let value = T::read(sourced.map_or(&Value::Null, |s| &s.value)).map_err(err)?;
        if let Some(check) = check {
            check(&value).map_err(err)?;
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Extension;

    fn load(env: &[(&str, &str)], flags: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::load(&ConfigSources {
            config_dir: Some(PathBuf::from("/nonexistent")),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            flags: flags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        })
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = load(&[], &[]).unwrap();
        assert_eq!((c.server.server_port, c.server.status_port), (7000, 7001));
        assert_eq!(c.server.listen.to_string(), "127.0.0.1");
        assert_eq!(c.storage.storage.url, "file://./data");
        assert_eq!((c.limits.maximum_width, c.limits.maximum_height), (4096, 4096));
        assert_eq!(c.limits.max_upload_bytes, ByteSize(25 << 20));
        assert_eq!(c.limits.max_source_pixels, 50_000_000);
        assert_eq!(c.cache.memory_cache_bytes, ByteSize(256 << 20));
        assert_eq!(c.limits.queue_size, 128);
        assert_eq!(c.render.default_quality, DefaultQuality::default());
        assert!(!c.sources.source_allow_private);
        assert_eq!(c.limits.whitelisted_extensions, Extension::ALL.to_vec());
    }

    #[test]
    fn flags_beat_environment_beats_defaults() {
        let c = load(&[("IMG_SERVER_PORT", "8000"), ("IMG_MAXIMUM_WIDTH", "100")], &[("server_port", "9000")]).unwrap();
        assert_eq!(c.server.server_port, 9000);
        assert_eq!(c.limits.maximum_width, 100);
        let c = load(&[("IMG_MAX_UPLOAD_BYTES", "1MiB"), ("IMG_SOURCE_ALLOW_PRIVATE", "true")], &[]).unwrap();
        assert_eq!(c.limits.max_upload_bytes, ByteSize(1 << 20));
        assert!(c.sources.source_allow_private);
    }

    #[test]
    fn errors_name_key_and_layer() {
        let e = load(&[("IMG_WORKERS", "0")], &[]).unwrap_err();
        assert_eq!(e.key, "workers");
        assert_eq!(e.layer, Layer::Env("IMG_WORKERS".into()));
        let e = load(&[], &[("server_port", "70000")]).unwrap_err();
        assert_eq!((e.key.as_str(), e.layer), ("server_port", Layer::Flag("--port".into())));
        let e = load(&[("IMG_NO_SUCH_THING", "1")], &[]).unwrap_err();
        assert_eq!(e.message, "unknown key");
        let e = load(&[("IMG_WHITELISTED_EXTENSIONS", "jpg,bmp")], &[]).unwrap_err();
        assert!(e.to_string().contains("bmp"), "{e}");
        let e = load(&[("IMG_STORAGE", "ftp://x")], &[]).unwrap_err();
        assert_eq!(e.key, "storage");
    }

    #[test]
    fn files_are_layered_and_checked() {
        let dir = std::env::temp_dir().join(format!("img-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("production.json"), r#"{"server_port": 8080, "default_quality": 70}"#).unwrap();
        std::fs::write(dir.join("broken.json"), r#"{"server_prot": 8080}"#).unwrap();
        let sources = |env: &str| ConfigSources {
            environment: Some(env.into()),
            config_dir: Some(dir.clone()),
            ..Default::default()
        };
        let c = Config::load(&sources("production")).unwrap();
        assert_eq!(c.server.server_port, 8080);
        assert_eq!(c.render.default_quality, DefaultQuality::all(70));
        let e = Config::load(&sources("broken")).unwrap_err();
        assert_eq!(e.key, "server_prot");
        assert!(matches!(e.layer, Layer::File(_)));
        // A missing environment file is not an error; a missing --config file is.
        assert!(Config::load(&sources("staging")).is_ok());
        let missing = ConfigSources { config_file: Some(dir.join("nope.json")), ..Default::default() };
        assert!(Config::load(&missing).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
