//! The object store adapter: whole-object get and put by [`ObjectKey`], with backend errors
//! translated here into [`StoreError`] (a missing object is `NotFound`, never a 500).
//!
//! The backend is picked by URL: `file://DIR` (created if missing), `memory://`,
//! `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`, the cloud ones
//! configured from their usual environment variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};

use crate::model::ObjectKey;

/// Why a storage operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No object under that key.
    #[error("not found in storage")]
    NotFound,
    /// The backend failed or cannot be reached.
    #[error("storage backend unavailable: {0}")]
    Backend(String),
}

impl From<object_store::Error> for StoreError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => StoreError::NotFound,
            other => StoreError::Backend(other.to_string()),
        }
    }
}

/// A handle on one object store.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    url: String,
}

/// Checks that a storage URL names a backend this build has (for config validation).
pub fn check_url(url: &str) -> Result<(), String> {
    let scheme = url.split_once("://").map(|(s, _)| s);
    match scheme {
        Some("file" | "memory" | "s3" | "s3a" | "gs" | "az" | "azure" | "abfs" | "abfss") => Ok(()),
        _ => Err(format!(
            "'{url}' is not a storage URL: use file://DIR, memory://, s3://BUCKET/PREFIX, gs://BUCKET or az://CONTAINER"
        )),
    }
}

impl Store {
    /// Opens the store a URL names.
    pub fn open(url: &str) -> Result<Store, String> {
        check_url(url)?;
        crate::tls::install_crypto_provider();
        let inner: Arc<dyn ObjectStore> = if let Some(dir) = url.strip_prefix("file://") {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create storage directory {dir}: {e}"))?;
            let dir = std::fs::canonicalize(dir).map_err(|e| format!("storage directory {dir}: {e}"))?;
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir).map_err(|e| e.to_string())?)
        } else if url.starts_with("memory://") {
            Arc::new(object_store::memory::InMemory::new())
        } else {
            cloud(url)?
        };
        Ok(Store { inner, url: url.to_owned() })
    }

    /// The URL the store was opened from.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Reads a whole object.
    pub async fn get(&self, key: &ObjectKey) -> Result<Bytes, StoreError> {
        let path = Path::from(key.as_str());
        Ok(self.inner.get(&path).await?.bytes().await?)
    }

    /// Reads a whole object, `None` when there is none.
    pub async fn get_opt(&self, key: &ObjectKey) -> Result<Option<Bytes>, StoreError> {
        match self.get(key).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether an object exists.
    pub async fn exists(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        match self.inner.head(&Path::from(key.as_str())).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a whole object: readers see the old object or the new one, never part of it.
    pub async fn put(&self, key: &ObjectKey, bytes: Bytes) -> Result<(), StoreError> {
        self.inner.put(&Path::from(key.as_str()), PutPayload::from_bytes(bytes)).await?;
        Ok(())
    }

    /// Every key under a prefix such as `ns/`.
    pub async fn list(&self, prefix: &ObjectKey) -> Result<Vec<String>, StoreError> {
        let prefix = Path::from(prefix.as_str().trim_end_matches('/'));
        let mut out = Vec::new();
        let mut stream = self.inner.list(Some(&prefix));
        while let Some(meta) = stream.next().await {
            out.push(meta?.location.to_string());
        }
        Ok(out)
    }
}

/// S3, GCS and Azure, configured from their usual environment variables, with short timeouts
/// and few retries so a dead backend turns into a 503 in seconds rather than minutes.
fn cloud(url: &str) -> Result<Arc<dyn ObjectStore>, String> {
    use object_store::ClientConfigKey::{ConnectTimeout, Timeout};
    // Set key by key: with_client_options would replace what the environment configured
    // (AWS_ALLOW_HTTP, proxies, certificates).
    let (timeout, connect_timeout) = ("30s", "3s");
    let retry = RetryConfig { max_retries: 2, retry_timeout: Duration::from_secs(10), ..Default::default() };
    let fail = |e: object_store::Error| format!("cannot open {url}: {e}");
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    // The builders take the bucket from the URL and ignore any path; the path becomes a prefix.
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let url = format!("{scheme}://{bucket}");
    let store: Arc<dyn ObjectStore> = match scheme {
        "s3" | "s3a" => {
            use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey as K};
            Arc::new(
                AmazonS3Builder::from_env()
                    .with_url(&url)
                    .with_config(K::Client(Timeout), timeout)
                    .with_config(K::Client(ConnectTimeout), connect_timeout)
                    .with_retry(retry)
                    .build()
                    .map_err(fail)?,
            )
        }
        "gs" => {
            use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey as K};
            Arc::new(
                GoogleCloudStorageBuilder::from_env()
                    .with_url(&url)
                    .with_config(K::Client(Timeout), timeout)
                    .with_config(K::Client(ConnectTimeout), connect_timeout)
                    .with_retry(retry)
                    .build()
                    .map_err(fail)?,
            )
        }
        _ => {
            use object_store::azure::{AzureConfigKey as K, MicrosoftAzureBuilder};
            Arc::new(
                MicrosoftAzureBuilder::from_env()
                    .with_url(&url)
                    .with_config(K::Client(Timeout), timeout)
                    .with_config(K::Client(ConnectTimeout), connect_timeout)
                    .with_retry(retry)
                    .build()
                    .map_err(fail)?,
            )
        }
    };
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        return Ok(store);
    }
    Ok(Arc::new(object_store::prefix::PrefixStore::new(store, prefix)))
}
