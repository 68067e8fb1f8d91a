//! The value types of configuration keys that are more than a number or a string: storage URLs
//! (one list of schemes), log formats, default qualities by format, extension lists.

use std::fmt;
use std::path::PathBuf;

use serde_json::Value;

use super::schema::{Kind, Setting, list};
use crate::model::{Extension, ImageFormat};

/// Where objects are stored, parsed from a storage URL (DESIGN.md §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageUrl {
    /// The URL as configured.
    pub url: String,
    /// The backend it names.
    pub backend: Backend,
}

/// A storage backend and its location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `file://DIR`: a local directory (created if missing).
    File(PathBuf),
    /// `memory://`: this process' memory.
    Memory,
    /// `s3://bucket/prefix` (also `s3a://`).
    S3(Bucket),
    /// `gs://bucket/prefix`.
    Gcs(Bucket),
    /// `az://container/prefix` (also `azure://`, `abfs://`, `abfss://`).
    Azure(Bucket),
}

/// A bucket (or container) URL without its path, and the path as a key prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// `scheme://bucket`, as the cloud builders take it.
    pub url: String,
    /// The path after the bucket, without slashes at its ends ("" for none).
    pub prefix: String,
}

impl std::str::FromStr for StorageUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        let refuse = || {
            format!(
                "'{url}' is not a storage URL: use file://DIR, memory://, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://CONTAINER/PREFIX"
            )
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(refuse)?;
        let bucket = || {
            let (name, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if name.is_empty() {
                return Err(format!("'{url}' names no bucket"));
            }
            Ok(Bucket { url: format!("{scheme}://{name}"), prefix: prefix.trim_matches('/').to_owned() })
        };
        let backend = match scheme {
            "file" if !rest.is_empty() => Backend::File(PathBuf::from(rest)),
            "memory" => Backend::Memory,
            "s3" | "s3a" => Backend::S3(bucket()?),
            "gs" => Backend::Gcs(bucket()?),
            "az" | "azure" | "abfs" | "abfss" => Backend::Azure(bucket()?),
            _ => return Err(refuse()),
        };
        Ok(StorageUrl { url: url.to_owned(), backend })
    }
}

impl fmt::Display for StorageUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl Setting for StorageUrl {
    const KIND: Kind = Kind::Str;
    const VALUE_NAME: &'static str = "URL";
    fn read(value: &Value) -> Result<Self, String> {
        String::read(value)?.parse()
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object a line.
    Json,
}

impl Setting for LogFormat {
    const KIND: Kind = Kind::Str;
    const VALUE_NAME: &'static str = "FORMAT";
    fn read(value: &Value) -> Result<Self, String> {
        match String::read(value)?.as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("'{other}' is not text or json")),
        }
    }
}

/// The quality of each lossy format when a URL has no `-q`: by format, in
/// [`ImageFormat::ALL`]'s order; `None` for formats that take no quality.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultQuality([Option<u8>; ImageFormat::ALL.len()]);

impl Default for DefaultQuality {
    /// Each lossy format's built-in default ([`ImageFormat::default_quality`]).
    fn default() -> Self {
        DefaultQuality(ImageFormat::ALL.map(ImageFormat::default_quality))
    }
}

impl DefaultQuality {
    /// The defaults, with `quality` for every lossy format.
    pub fn all(quality: u8) -> Self {
        DefaultQuality(ImageFormat::ALL.map(|f| f.default_quality().map(|_| quality)))
    }

    /// The defaults with another quality for one format.
    pub fn with(mut self, format: ImageFormat, quality: u8) -> Result<Self, String> {
        self.set(format, quality)?;
        Ok(self)
    }

    fn index(format: ImageFormat) -> usize {
        ImageFormat::ALL.iter().position(|f| *f == format).expect("every format is in ALL")
    }

    /// The default of a lossy format; `None` for the lossless ones, which take no quality.
    pub fn for_format(&self, format: ImageFormat) -> Option<u8> {
        self.0[Self::index(format)]
    }

    fn set(&mut self, format: ImageFormat, quality: u8) -> Result<(), String> {
        match &mut self.0[Self::index(format)] {
            Some(q) => *q = quality,
            None => return Err(format!("{} takes no quality", format.name())),
        }
        Ok(())
    }
}

impl Setting for DefaultQuality {
    const KIND: Kind = Kind::Json;
    const VALUE_NAME: &'static str = "Q";
    /// A number for every lossy format, or an object by format (`{"jpg":80,"webp":75}`); formats
    /// an object leaves out keep the built-in default.
    fn read(value: &Value) -> Result<Self, String> {
        let check = |v: &Value| {
            v.as_u64()
                .filter(|q| (1..=100).contains(q))
                .map(|q| q as u8)
                .ok_or_else(|| format!("{v} is not a quality from 1 to 100"))
        };
        let mut out = DefaultQuality::default();
        match value {
            Value::Number(_) => out = DefaultQuality::all(check(value)?),
            Value::Object(map) => {
                for (name, q) in map {
                    let ext: Extension = name.parse().map_err(|_| format!("unknown format '{name}'"))?;
                    out.set(ext.format(), check(q)?)?;
                }
            }
            other => return Err(format!("{other} is neither a quality nor an object of qualities by format")),
        }
        Ok(out)
    }
}

/// A key that signs URLs: the bytes of its hex digits, at least 32.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// A key of these bytes (for tests and fuzzing; configuration reads hex).
    pub fn from_bytes(bytes: Vec<u8>) -> SigningKey {
        SigningKey(bytes)
    }

    /// The key's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({} bytes)", self.0.len())
    }
}

impl std::str::FromStr for SigningKey {
    type Err = String;

    fn from_str(hex: &str) -> Result<Self, String> {
        let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        let bytes: Option<Vec<u8>> = hex
            .as_bytes()
            .chunks(2)
            .map(|pair| match pair {
                [hi, lo] => Some(digit(*hi)? << 4 | digit(*lo)?),
                _ => None,
            })
            .collect();
        match bytes {
            Some(bytes) if bytes.len() >= 32 => Ok(SigningKey(bytes)),
            _ => Err("not a key: use at least 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`".to_owned()),
        }
    }
}

impl Setting for Vec<SigningKey> {
    const KIND: Kind = Kind::List;
    const VALUE_NAME: &'static str = "HEX,...";
    fn read(value: &Value) -> Result<Self, String> {
        list(value, "a key of at least 64 hex digits")
    }
}

impl Setting for Vec<String> {
    const KIND: Kind = Kind::List;
    const VALUE_NAME: &'static str = "LIST";
    fn read(value: &Value) -> Result<Self, String> {
        list(value, "a string")
    }
}

/// Networks, each `10.0.0.0/8` or a single address.
impl Setting for Vec<ipnet::IpNet> {
    const KIND: Kind = Kind::List;
    const VALUE_NAME: &'static str = "CIDR,...";
    fn read(value: &Value) -> Result<Self, String> {
        let texts: Vec<String> = list(value, "a network")?;
        texts
            .iter()
            .map(|t| {
                t.parse::<ipnet::IpNet>()
                    .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("'{t}' is not a network such as 10.0.0.0/8 or an address"))
            })
            .collect()
    }
}

impl Setting for Vec<Extension> {
    const KIND: Kind = Kind::List;
    const VALUE_NAME: &'static str = "LIST";
    fn read(value: &Value) -> Result<Self, String> {
        list(value, &format!("one of {}", Extension::names()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_urls_name_their_backend() {
        let s3: StorageUrl = "s3://bucket/some/prefix/".parse().unwrap();
        assert_eq!(s3.backend, Backend::S3(Bucket { url: "s3://bucket".into(), prefix: "some/prefix".into() }));
        assert_eq!("file://./data".parse::<StorageUrl>().unwrap().backend, Backend::File("./data".into()));
        assert!(matches!("abfss://c/p".parse::<StorageUrl>().unwrap().backend, Backend::Azure(_)));
        for bad in ["ftp://x", "data", "file://", "s3://", "gs:///prefix"] {
            assert!(bad.parse::<StorageUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn signing_keys_are_hex_of_32_bytes_or_more() {
        let key: SigningKey = "0f".repeat(32).parse().unwrap();
        assert_eq!(key.bytes(), &[0x0f; 32]);
        for bad in ["0f".repeat(31), "zz".repeat(32), "0f".repeat(32) + "0"] {
            assert!(bad.parse::<SigningKey>().is_err(), "{bad}");
        }
        assert_eq!(format!("{key:?}"), "SigningKey(32 bytes)");
    }

    #[test]
    fn default_quality_forms() {
        let both = DefaultQuality::read(&Value::from(70)).unwrap();
        assert_eq!(both, DefaultQuality::all(70));
        assert_eq!(both.for_format(ImageFormat::Jxl), Some(70));
        let some = DefaultQuality::read(&serde_json::json!({"webp": 60})).unwrap();
        assert_eq!((some.for_format(ImageFormat::Jpeg), some.for_format(ImageFormat::Webp)), (Some(80), Some(60)));
        assert_eq!(some.for_format(ImageFormat::Png), None);
        assert!(DefaultQuality::read(&serde_json::json!({"png": 60})).is_err());
        assert!(DefaultQuality::read(&serde_json::json!({"bmp": 60})).is_err());
    }
}
