//! Configuration: layered raw values (defaults < `config/{env}.json` < `IMG_*` < flags) validated
//! once into a fully typed [`Config`]. Errors name the key and the layer it came from.
//!
//! Nothing here reads the process environment by itself: the caller passes the variables and
//! flags in, so tests and the CLI load configuration the same way.

mod layers;
mod namespaces;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

pub use layers::{Layer, env_var};
pub use namespaces::{NamespaceConfig, NamespaceLimits};

use crate::model::{Extension, Namespace, OutputFormat};
use layers::{Merged, Sourced};

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

/// Default JPEG and WebP quality when a URL has no `-q`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultQuality {
    /// For `.jpg` / `.jpeg`.
    pub jpeg: u8,
    /// For `.webp`.
    pub webp: u8,
}

impl DefaultQuality {
    /// The default for a format (PNG and GIF ignore quality; they get the JPEG value).
    pub fn for_format(&self, format: OutputFormat) -> u8 {
        match format {
            OutputFormat::Webp => self.webp,
            _ => self.jpeg,
        }
    }
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address of the main port.
    pub listen: IpAddr,
    /// Main port (0 picks a free one).
    pub server_port: u16,
    /// Address of the status port.
    pub status_listen: IpAddr,
    /// Status port (0 picks a free one).
    pub status_port: u16,
    /// Object-store URL for originals and variants.
    pub storage: String,
    /// Object-store URL for originals, info and working copies, when apart from `storage`.
    pub originals_storage: Option<String>,
    /// Public base URL of `storage`, for links in info JSON.
    pub remote_base_url: Option<String>,
    /// Extensions that may be asked for.
    pub whitelisted_extensions: Vec<Extension>,
    /// Largest width a variant URL may ask for.
    pub maximum_width: u32,
    /// Largest height a variant URL may ask for.
    pub maximum_height: u32,
    /// Quality used when the URL has none.
    pub default_quality: DefaultQuality,
    /// Largest upload body (and largest source download).
    pub max_upload_bytes: u64,
    /// Largest width x height an original may declare.
    pub max_source_pixels: u64,
    /// Size of the in-memory variant cache.
    pub memory_cache_bytes: u64,
    /// Render threads.
    pub workers: usize,
    /// Renders that may wait for a thread before requests get 503.
    pub queue_size: usize,
    /// Long side of the working copies made at upload; 0 turns them off.
    pub working_copy_max_side: u32,
    /// Source pixels that may be decoding at once, over all renders and uploads.
    pub decode_budget_pixels: u64,
    /// Whether `?source=` may fetch from loopback and private networks.
    pub source_allow_private: bool,
    /// Whole-request timeout for source downloads.
    pub source_timeout: Duration,
    /// Redirects a source download may follow.
    pub source_max_redirects: usize,
    /// statsd `host:port`, when metrics are sent.
    pub statsd: Option<String>,
    /// Prefix of statsd metric names.
    pub statsd_prefix: String,
    /// Whether profiling endpoints are served on the status port.
    pub profile: bool,
    /// Log lines as JSON objects rather than text.
    pub log_json: bool,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Per-namespace settings.
    pub namespaces: BTreeMap<Namespace, NamespaceConfig>,
    /// The environment whose file was read.
    pub environment: String,
    merged: std::sync::Arc<Merged>,
}

fn defaults() -> Merged {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let mut m = Merged::default();
    let mut set = |k: &str, v: Value| m.set(k, v, Layer::Default);
    set("server_port", 7000.into());
    set("status_port", 7001.into());
    set("listen", "127.0.0.1".into());
    set("status_listen", "127.0.0.1".into());
    set("storage", "file://./data".into());
    set("whitelisted_extensions", Extension::ALL.iter().map(|e| Value::from(e.as_str())).collect());
    set("maximum_width", 4096.into());
    set("maximum_height", 4096.into());
    set("default_quality", serde_json::json!({ "jpg": 80, "webp": 80 }));
    set("max_upload_bytes", (25u64 << 20).into());
    set("max_source_pixels", 50_000_000.into());
    set("memory_cache_bytes", (256u64 << 20).into());
    set("workers", cores.into());
    set("queue_size", 128.into());
    set("working_copy_max_side", 2048.into());
    set("decode_budget_pixels", 100_000_000.into());
    set("source_allow_private", false.into());
    set("source_timeout_secs", 10.into());
    set("source_max_redirects", 3.into());
    set("statsd_prefix", "image_server".into());
    set("profile", false.into());
    set("log_format", "text".into());
    set("shutdown_grace_secs", 30.into());
    set("namespaces", serde_json::json!({}));
    m
}

impl Config {
    /// Loads and validates the layers.
    pub fn load(sources: &ConfigSources) -> Result<Config, ConfigError> {
        let mut merged = defaults();
        let environment = sources.environment.clone().unwrap_or_else(|| "development".to_owned());
        match &sources.config_file {
            Some(path) => layers::read_file(path, &mut merged)?,
            None => {
                let dir = sources.config_dir.clone().unwrap_or_else(|| PathBuf::from("config"));
                let path = dir.join(format!("{environment}.json"));
                if path.exists() {
                    layers::read_file(&path, &mut merged)?;
                }
            }
        }
        for (var, text) in &sources.env {
            let Some(name) = var.strip_prefix("IMG_") else {
                continue;
            };
            if matches!(name, "ENVIRONMENT" | "CONFIG") {
                continue;
            }
            let layer = Layer::Env(var.clone());
            let key = layers::key(&name.to_ascii_lowercase()).ok_or_else(|| ConfigError {
                key: name.to_ascii_lowercase(),
                layer: layer.clone(),
                message: "unknown key".into(),
            })?;
            let value = layers::parse_text(key, text, &layer)?;
            merged.set(key.name, value, layer);
        }
        for (name, text) in &sources.flags {
            let key = layers::key(name).unwrap_or_else(|| panic!("flag for unknown key {name}"));
            let layer = Layer::Flag(key.flag.to_owned());
            let value = layers::parse_text(key, text, &layer)?;
            merged.set(key.name, value, layer);
        }
        Self::validate(merged, environment)
    }

    /// The built-in defaults alone (for tests and benches).
    pub fn defaults() -> Config {
        Self::validate(defaults(), "development".to_owned()).expect("defaults are valid")
    }

    /// The effective configuration, each key with the layer it came from.
    pub fn effective(&self) -> Value {
        layers::to_json(&self.merged)
    }

    fn validate(merged: Merged, environment: String) -> Result<Config, ConfigError> {
        let v = Validator(&merged);
        let listen = v.ip("listen")?;
        let status_listen = v.ip("status_listen")?;
        let config = Config {
            listen,
            server_port: v.int("server_port", 0, 65535)? as u16,
            status_listen,
            status_port: v.int("status_port", 0, 65535)? as u16,
            storage: v.storage_url("storage")?.expect("storage has a default"),
            originals_storage: v.storage_url("originals_storage")?,
            remote_base_url: v.opt_str("remote_base_url")?.map(|s| s.trim_end_matches('/').to_owned()),
            whitelisted_extensions: v.extensions("whitelisted_extensions")?,
            maximum_width: v.int("maximum_width", 1, 65535)? as u32,
            maximum_height: v.int("maximum_height", 1, 65535)? as u32,
            default_quality: v.quality("default_quality")?,
            max_upload_bytes: v.int("max_upload_bytes", 1, u64::MAX)?,
            max_source_pixels: v.int("max_source_pixels", 1, u64::MAX)?,
            memory_cache_bytes: v.int("memory_cache_bytes", 0, u64::MAX)?,
            workers: v.int("workers", 1, 1024)? as usize,
            queue_size: v.int("queue_size", 0, 1_000_000)? as usize,
            working_copy_max_side: v.int("working_copy_max_side", 0, 65535)? as u32,
            decode_budget_pixels: v.int("decode_budget_pixels", 1_000_000, u64::MAX)?,
            source_allow_private: v.bool("source_allow_private")?,
            source_timeout: Duration::from_secs(v.int("source_timeout_secs", 1, 3600)?),
            source_max_redirects: v.int("source_max_redirects", 0, 20)? as usize,
            statsd: v.opt_str("statsd")?.filter(|s| !s.is_empty()),
            statsd_prefix: v.opt_str("statsd_prefix")?.unwrap_or_default(),
            profile: v.bool("profile")?,
            log_json: v.log_format("log_format")?,
            shutdown_grace: Duration::from_secs(v.int("shutdown_grace_secs", 0, 3600)?),
            namespaces: v.namespaces("namespaces")?,
            environment,
            merged: std::sync::Arc::new(merged),
        };
        Ok(config)
    }

    /// The settings that apply to `ns`: its own block, or the defaults.
    pub fn namespace(&self, ns: &Namespace) -> Option<&NamespaceConfig> {
        self.namespaces.get(ns)
    }
}

/// Typed reads of merged values, with errors naming key and layer.
struct Validator<'a>(&'a Merged);

impl Validator<'_> {
    fn get(&self, key: &str) -> Option<&Sourced> {
        self.0.0.get(key).filter(|s| !s.value.is_null())
    }

    fn err(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let layer = self.0.0.get(key).map_or(Layer::Default, |s| s.layer.clone());
        ConfigError { key: key.to_owned(), layer, message: message.into() }
    }

    fn int(&self, key: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
        let s = self.get(key).ok_or_else(|| self.err(key, "a value is required"))?;
        let n = match &s.value {
            Value::Number(n) => n.as_u64(),
            Value::String(text) if layers::key(key).is_some_and(|k| k.kind == layers::Kind::Bytes) => {
                layers::parse_bytes(text)
            }
            _ => None,
        };
        n.filter(|n| (min..=max).contains(n))
            .ok_or_else(|| self.err(key, format!("{} is not an integer from {min} to {max}", s.value)))
    }

    fn bool(&self, key: &str) -> Result<bool, ConfigError> {
        match self.get(key).map(|s| &s.value) {
            Some(Value::Bool(b)) => Ok(*b),
            None => Ok(false),
            Some(other) => Err(self.err(key, format!("{other} is not true or false"))),
        }
    }

    fn opt_str(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.get(key).map(|s| &s.value) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.err(key, format!("{other} is not a string"))),
        }
    }

    fn log_format(&self, key: &str) -> Result<bool, ConfigError> {
        match self.opt_str(key)?.as_deref() {
            None | Some("text") => Ok(false),
            Some("json") => Ok(true),
            Some(other) => Err(self.err(key, format!("'{other}' is not text or json"))),
        }
    }

    fn ip(&self, key: &str) -> Result<IpAddr, ConfigError> {
        let text = self.opt_str(key)?.ok_or_else(|| self.err(key, "a value is required"))?;
        let text = if text == "localhost" { "127.0.0.1" } else { text.as_str() };
        text.parse().map_err(|_| self.err(key, format!("'{text}' is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)")))
    }

    fn storage_url(&self, key: &str) -> Result<Option<String>, ConfigError> {
        let Some(url) = self.opt_str(key)?.filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        crate::store::check_url(&url).map_err(|e| self.err(key, e))?;
        Ok(Some(url))
    }

    fn extensions(&self, key: &str) -> Result<Vec<Extension>, ConfigError> {
        let Some(Value::Array(items)) = self.get(key).map(|s| &s.value) else {
            return Err(self.err(key, "expected a list of extensions"));
        };
        items
            .iter()
            .map(|item| {
                item.as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| self.err(key, format!("{item} is not one of jpg, jpeg, png, webp, gif")))
            })
            .collect()
    }

    fn quality(&self, key: &str) -> Result<DefaultQuality, ConfigError> {
        let value = &self.get(key).ok_or_else(|| self.err(key, "a value is required"))?.value;
        let check = |v: &Value| {
            v.as_u64()
                .filter(|q| (1..=100).contains(q))
                .map(|q| q as u8)
                .ok_or_else(|| self.err(key, format!("{v} is not a quality from 1 to 100")))
        };
        match value {
            Value::Number(_) => {
                let q = check(value)?;
                Ok(DefaultQuality { jpeg: q, webp: q })
            }
            Value::Object(map) => {
                let mut out = DefaultQuality { jpeg: 80, webp: 80 };
                for (format, q) in map {
                    match format.as_str() {
                        "jpg" | "jpeg" => out.jpeg = check(q)?,
                        "webp" => out.webp = check(q)?,
                        other => {
                            return Err(self.err(key, format!("unknown format '{other}': use jpg or webp")));
                        }
                    }
                }
                Ok(out)
            }
            other => Err(self.err(key, format!("{other} is neither a quality nor an object of qualities by format"))),
        }
    }

    fn namespaces(&self, key: &str) -> Result<BTreeMap<Namespace, NamespaceConfig>, ConfigError> {
        let Some(value) = self.get(key).map(|s| &s.value) else {
            return Ok(BTreeMap::new());
        };
        namespaces::parse(value).map_err(|message| self.err(key, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!((c.server_port, c.status_port), (7000, 7001));
        assert_eq!(c.listen.to_string(), "127.0.0.1");
        assert_eq!(c.storage, "file://./data");
        assert_eq!((c.maximum_width, c.maximum_height), (4096, 4096));
        assert_eq!(c.max_upload_bytes, 25 << 20);
        assert_eq!(c.max_source_pixels, 50_000_000);
        assert_eq!(c.memory_cache_bytes, 256 << 20);
        assert_eq!(c.queue_size, 128);
        assert_eq!(c.default_quality, DefaultQuality { jpeg: 80, webp: 80 });
        assert!(!c.source_allow_private);
        assert_eq!(c.whitelisted_extensions, Extension::ALL.to_vec());
    }

    #[test]
    fn flags_beat_environment_beats_defaults() {
        let c = load(&[("IMG_SERVER_PORT", "8000"), ("IMG_MAXIMUM_WIDTH", "100")], &[("server_port", "9000")]).unwrap();
        assert_eq!(c.server_port, 9000);
        assert_eq!(c.maximum_width, 100);
        let c = load(&[("IMG_MAX_UPLOAD_BYTES", "1MiB"), ("IMG_SOURCE_ALLOW_PRIVATE", "true")], &[]).unwrap();
        assert_eq!(c.max_upload_bytes, 1 << 20);
        assert!(c.source_allow_private);
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
        assert_eq!(c.server_port, 8080);
        assert_eq!(c.default_quality, DefaultQuality { jpeg: 70, webp: 70 });
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
