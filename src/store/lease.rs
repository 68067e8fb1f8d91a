//! Leases in the object store (DESIGN.md §11-12): a node's claim on a piece of work (a job, a
//! render) that other nodes respect until it expires. A lease is an object made by conditional
//! create, holding its expiry; the holder renews it while it works and removes it when done. A
//! stale one is taken over by the one node that creates its takeover marker (named by the stale
//! expiry, so two nodes that read the same stale lease race for the same marker).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{Created, Store, StoreError};
use crate::model::ObjectKey;

/// What a lease object holds.
#[derive(Serialize, Deserialize)]
struct LeaseBody {
    /// Milliseconds since the Unix epoch after which the lease is stale.
    expires_unix_ms: u64,
    /// Which process holds it (for people reading the bucket).
    holder: String,
}

/// The outcome of asking for a lease.
#[derive(Debug)]
pub enum Claim {
    /// This node holds the lease (or the store cannot lease, and the work goes ahead).
    Held(Lease),
    /// Another node holds a live lease, stale in `expires_in`.
    Taken {
        /// Time until the other node's lease is stale.
        expires_in: Duration,
    },
}

/// A lease this node holds.
#[derive(Debug)]
pub struct Lease {
    store: Store,
    key: ObjectKey,
    ttl: Duration,
    /// False on a store without conditional create: nothing was written.
    written: bool,
    /// The marker made to take this lease over from a stale holder, removed with the lease.
    takeover: Option<ObjectKey>,
}

/// Milliseconds since the Unix epoch: the clock leases (and the jobs beside them) are stamped with.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// This process, as lease objects name it.
fn holder() -> &'static str {
    static HOLDER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOLDER.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}:{}:{}", host.trim(), std::process::id(), now_ms())
    })
}

fn body(ttl: Duration) -> Bytes {
    let body = LeaseBody {
        expires_unix_ms: now_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
        holder: holder().to_owned(),
    };
    Bytes::from(serde_json::to_vec(&body).expect("a lease serialises"))
}

/// Asks for the lease at `key`, lasting `ttl` unless renewed. A live lease of another node is
/// [`Claim::Taken`]; a stale or unreadable one is removed and claimed anew.
pub async fn claim(store: &Store, key: ObjectKey, ttl: Duration) -> Result<Claim, StoreError> {
    // A few rounds: a lease can be released or taken over between our create and our read.
    for _ in 0..3 {
        match store.create(&key, body(ttl)).await? {
            Created::Written => {
                return Ok(Claim::Held(Lease { store: store.clone(), key, ttl, written: true, takeover: None }));
            }
            Created::Unsupported => {
                static LOGGED: AtomicBool = AtomicBool::new(false);
                if !LOGGED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        store = store.url(),
                        "storage cannot create objects conditionally: no leases, every node renders its own misses"
                    );
                }
                return Ok(Claim::Held(Lease { store: store.clone(), key, ttl, written: false, takeover: None }));
            }
            Created::Exists => {}
        }
        let Some(stored) = store.get_opt(&key).await? else { continue };
        let expires = serde_json::from_slice::<LeaseBody>(&stored).map_or(0, |b| b.expires_unix_ms);
        let now = now_ms();
        if expires > now {
            return Ok(Claim::Taken { expires_in: Duration::from_millis(expires - now) });
        }
        // Stale: its holder died or stalled. Of the nodes that read this stale lease, the one
        // whose marker create goes through writes a fresh lease over it; the others wait on it.
        let marker = ObjectKey::takeover_of(&key, expires);
        return match store.create(&marker, body(ttl)).await? {
            Created::Written | Created::Unsupported => {
                tracing::info!(key = %key, "taking over a stale lease");
                store.put(&key, body(ttl)).await?;
                Ok(Claim::Held(Lease { store: store.clone(), key, ttl, written: true, takeover: Some(marker) }))
            }
            Created::Exists => Ok(Claim::Taken { expires_in: ttl }),
        };
    }
    Ok(Claim::Taken { expires_in: Duration::from_millis(100) })
}

impl Lease {
    /// Whether the lease is an object in storage (false on a store without conditional create).
    pub fn written(&self) -> bool {
        self.written
    }

    /// Whether this lease was taken over from a holder that let it go stale: that holder may
    /// have finished its work without removing the lease.
    pub fn took_over(&self) -> bool {
        self.takeover.is_some()
    }

    /// Pushes the expiry `ttl` past now.
    pub async fn renew(&self) -> Result<(), StoreError> {
        if !self.written {
            return Ok(());
        }
        self.store.put(&self.key, body(self.ttl)).await
    }

    /// Runs `work` while renewing the lease every third of its lifetime.
    pub async fn renewing<F: Future>(&self, work: F) -> F::Output {
        tokio::select! {
            output = work => output,
            () = self.keep_renewed() => unreachable!("renews forever"),
        }
    }

    async fn keep_renewed(&self) {
        loop {
            tokio::time::sleep(self.ttl / 3).await;
            if let Err(e) = self.renew().await {
                tracing::warn!(key = %self.key, error = %e, "could not renew a lease");
            }
        }
    }

    /// The work is done and its result stored: the lease is left to expire, and removed once
    /// it has (by a task of this process; a lease left by a process that ended first is stale,
    /// and taken over by the next claim). Until then a node that looked for the result just
    /// before it was stored cannot take a fresh lease and do the work again.
    pub fn expire(self) {
        if !self.written {
            return;
        }
        tokio::spawn(async move {
            tokio::time::sleep(self.ttl).await;
            self.release().await;
        });
    }

    /// Removes the lease now: the work failed or was given up, and another node may try.
    pub async fn release(self) {
        if !self.written {
            return;
        }
        for key in std::iter::once(&self.key).chain(&self.takeover) {
            if let Err(e) = self.store.delete(key).await {
                tracing::warn!(key = %key, error = %e, "could not remove a lease; it goes stale");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StorageUrl;

    #[tokio::test]
    async fn one_holder_at_a_time_and_stale_leases_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let url: StorageUrl = format!("file://{}", dir.path().display()).parse().unwrap();
        let store = Store::open(&url).unwrap();
        let ns = "p".parse().unwrap();
        let id = crate::model::ImageId::Hash("6e0072682e66287b662827da75b244a3".parse().unwrap());
        let key = ObjectKey::lease_of(&ObjectKey::info(&ns, &id));
        let Claim::Held(first) = claim(&store, key.clone(), Duration::from_secs(60)).await.unwrap() else {
            panic!("a fresh key is free")
        };
        let Claim::Taken { expires_in } = claim(&store, key.clone(), Duration::from_secs(60)).await.unwrap() else {
            panic!("a live lease is respected")
        };
        assert!(expires_in > Duration::from_secs(50), "{expires_in:?}");
        first.release().await;
        let Claim::Held(short) = claim(&store, key.clone(), Duration::from_millis(1)).await.unwrap() else {
            panic!("a released lease is free")
        };
        std::mem::forget(short);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let Claim::Held(taken) = claim(&store, key.clone(), Duration::from_secs(60)).await.unwrap() else {
            panic!("a stale lease is taken over")
        };
        assert!(taken.takeover.is_some());
        // A node that read the same stale lease races for the same marker, and loses.
        let marker = taken.takeover.clone().unwrap();
        assert_eq!(store.create(&marker, Bytes::new()).await.unwrap(), Created::Exists);
        assert!(matches!(claim(&store, key.clone(), Duration::from_secs(60)).await.unwrap(), Claim::Taken { .. }));
        taken.release().await;
        assert!(!store.exists(&marker).await.unwrap() && !store.exists(&key).await.unwrap(), "both removed");
    }
}
