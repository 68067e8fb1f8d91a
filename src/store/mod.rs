//! The object store adapter: whole-object get and put by [`ObjectKey`], with backend errors
//! translated here into [`StoreError`] (a missing object is `NotFound`, never a 500).
//!
//! The backend is picked by URL: `file://DIR` (created if missing), `memory://`,
//! `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`, the cloud ones
//! configured from their usual environment variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`).

pub mod lease;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig};

use object_store::ClientConfigKey::{ConnectTimeout, Timeout};

use crate::config::{Backend, Bucket, StorageUrl};
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

/// What a conditional create did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// The object was written: there was none.
    Written,
    /// An object was there already; nothing was written.
    Exists,
    /// This store cannot create conditionally; nothing was written.
    Unsupported,
}

/// A handle on one object store.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    url: String,
    /// The directory of a `file://` store.
    root: Option<std::path::PathBuf>,
}

impl Store {
    /// Opens the store a URL names.
    pub fn open(url: &StorageUrl) -> Result<Store, String> {
        crate::tls::install_crypto_provider();
        let fail = |e: object_store::Error| format!("cannot open {url}: {e}");
        let mut root = None;
        let inner: Arc<dyn ObjectStore> = match &url.backend {
            Backend::File(dir) => {
                let shown = dir.display();
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot create storage directory {shown}: {e}"))?;
                let dir = std::fs::canonicalize(dir).map_err(|e| format!("storage directory {shown}: {e}"))?;
                root = Some(dir.clone());
                Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir).map_err(fail)?)
            }
            Backend::Memory => Arc::new(object_store::memory::InMemory::new()),
            Backend::S3(bucket) => prefixed(s3(bucket).map_err(fail)?, bucket),
            Backend::Gcs(bucket) => prefixed(gcs(bucket).map_err(fail)?, bucket),
            Backend::Azure(bucket) => prefixed(azure(bucket).map_err(fail)?, bucket),
        };
        Ok(Store { inner, url: url.url.clone(), root })
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

    /// Writes an object only if there is none under its key (object_store's `PutMode::Create`:
    /// a no-clobber link on local files, `If-None-Match: *` on S3, GCS and Azure).
    pub async fn create(&self, key: &ObjectKey, bytes: Bytes) -> Result<Created, StoreError> {
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.inner.put_opts(&Path::from(key.as_str()), PutPayload::from_bytes(bytes), options).await {
            Ok(_) => Ok(Created::Written),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Ok(Created::Exists)
            }
            Err(object_store::Error::NotImplemented { .. } | object_store::Error::NotSupported { .. }) => {
                Ok(Created::Unsupported)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes an object; one that is not there is no error.
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        match self.inner.delete(&Path::from(key.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes every object whose key (as [`Store::list`] gives it) is in `keys`, one after
    /// the other.
    pub async fn delete_listed(&self, keys: &[String]) -> Result<(), StoreError> {
        for key in keys {
            match self.inner.delete(&Path::from(key.as_str())).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// In a `file://` store, removes the staging files (`name#N`, which object_store writes and
    /// then renames into place, and never lists) left by writers killed mid-write, if older than
    /// `older_than`: younger ones may belong to another node writing now. Blocking; answers how
    /// many were removed.
    pub fn remove_stale_temporaries(&self, older_than: Duration) -> usize {
        fn is_staging(name: &str) -> bool {
            name.rsplit_once('#')
                .is_some_and(|(base, n)| !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        }
        fn walk(dir: &std::path::Path, older_than: Duration, removed: &mut usize) {
            let Ok(entries) = std::fs::read_dir(dir) else { return };
            for entry in entries.flatten() {
                let Ok(kind) = entry.file_type() else { continue };
                if kind.is_dir() {
                    walk(&entry.path(), older_than, removed);
                } else if kind.is_file()
                    && entry.file_name().to_str().is_some_and(is_staging)
                    && entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= older_than))
                    && std::fs::remove_file(entry.path()).is_ok()
                {
                    *removed += 1;
                }
            }
        }
        let mut removed = 0;
        if let Some(root) = &self.root {
            walk(root, older_than, &mut removed);
        }
        removed
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

// S3, GCS and Azure, configured from their usual environment variables, with short timeouts
// and few retries so that a dead backend turns into a 503 in seconds rather than minutes. Set key
// by key: with_client_options would replace what the environment configured (AWS_ALLOW_HTTP,
// proxies, certificates).
const TIMEOUT: &str = "30s";
const CONNECT_TIMEOUT: &str = "3s";

fn retry() -> RetryConfig {
    RetryConfig { max_retries: 2, retry_timeout: Duration::from_secs(10), ..Default::default() }
}

fn s3(bucket: &Bucket) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey as K};
    Ok(Arc::new(
        AmazonS3Builder::from_env()
            .with_url(&bucket.url)
            .with_config(K::Client(Timeout), TIMEOUT)
            .with_config(K::Client(ConnectTimeout), CONNECT_TIMEOUT)
            .with_retry(retry())
            .build()?,
    ))
}

fn gcs(bucket: &Bucket) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey as K};
    Ok(Arc::new(
        GoogleCloudStorageBuilder::from_env()
            .with_url(&bucket.url)
            .with_config(K::Client(Timeout), TIMEOUT)
            .with_config(K::Client(ConnectTimeout), CONNECT_TIMEOUT)
            .with_retry(retry())
            .build()?,
    ))
}

fn azure(bucket: &Bucket) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    use object_store::azure::{AzureConfigKey as K, MicrosoftAzureBuilder};
    Ok(Arc::new(
        MicrosoftAzureBuilder::from_env()
            .with_url(&bucket.url)
            .with_config(K::Client(Timeout), TIMEOUT)
            .with_config(K::Client(ConnectTimeout), CONNECT_TIMEOUT)
            .with_retry(retry())
            .build()?,
    ))
}

/// The builders take the bucket from the URL and ignore any path; the path becomes a prefix.
fn prefixed(store: Arc<dyn ObjectStore>, bucket: &Bucket) -> Arc<dyn ObjectStore> {
    if bucket.prefix.is_empty() {
        return store;
    }
    Arc::new(object_store::prefix::PrefixStore::new(store, bucket.prefix.as_str()))
}
