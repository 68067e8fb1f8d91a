//! The bounds on bytes held in memory for requests, over all of them at once:
//! - the upload buffer (`upload_buffer_bytes`): the bytes of upload bodies and source downloads,
//!   each request's counted by the capacity they allocate and given back when it ends;
//! - the response buffer (`response_buffer_bytes`): the bytes of answers not yet written to
//!   their clients, each answer's counted from when it is built until its last byte is written
//!   or its connection dropped, so that clients that read slowly cannot pin memory without end;
//!   one client holds at most a sixteenth of it in answers of 64 KiB or more (or one answer,
//!   however large), so that one client's slow readers cannot take it from everyone else.
//!
//! A request that would pass a bound is refused (503) instead of queued.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The response buffer, or the client's share of it, is full (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResponsesFull {
    /// Over all clients.
    #[error("the server is sending as many answer bytes as it may ({limit} bytes); retry shortly")]
    Server {
        /// The configured bound.
        limit: u64,
    },
    /// This client's answers not yet read.
    #[error("this client has {held} answer bytes not yet read, as many as one client may; read them first")]
    Client {
        /// What the client holds.
        held: u64,
    },
}

/// The bound on answer bytes not yet written to their clients, in all and per client.
#[derive(Clone, Debug)]
pub struct ResponseBuffer {
    all: UploadBuffer,
    clients: Arc<Mutex<HashMap<IpAddr, u64>>>,
    /// Answers counted in `clients` now.
    holders: Arc<AtomicUsize>,
}

/// Answers smaller than this are counted in the whole only.
const SMALL_ANSWER: u64 = 64 << 10;

impl ResponseBuffer {
    /// A buffer of `limit` bytes.
    pub fn new(limit: u64) -> ResponseBuffer {
        ResponseBuffer { all: UploadBuffer::new(limit), clients: Arc::default(), holders: Arc::default() }
    }

    /// Bytes held now, over all answers.
    pub fn held(&self) -> u64 {
        self.all.held()
    }

    /// The configured bound.
    pub fn limit(&self) -> u64 {
        self.all.limit
    }

    /// What one client may hold: a sixteenth of the whole (beyond one answer of any size).
    pub fn client_share(&self) -> u64 {
        self.all.limit / 16
    }

    /// Whether new requests should be refused before anything is looked up: less than a
    /// sixteenth of the whole is free, or `client` holds its share.
    pub fn is_full(&self, client: Option<IpAddr>) -> Result<(), ResponsesFull> {
        if (self.all.permits.available_permits() as u64) < self.all.limit / 16 {
            return Err(ResponsesFull::Server { limit: self.all.limit });
        }
        // Most of the time no client holds a large answer: no lock then.
        let held = match client {
            Some(c) if self.holders.load(Ordering::Relaxed) > 0 => {
                self.clients.lock().unwrap_or_else(|e| e.into_inner()).get(&c).copied().unwrap_or(0)
            }
            _ => 0,
        };
        if held >= self.client_share() {
            return Err(ResponsesFull::Client { held });
        }
        Ok(())
    }

    /// `bytes` as an answer's body to `client`, counted until the last copy of them is dropped:
    /// the HTTP layer's, once written, or the body's, when its connection is dropped first.
    pub fn hold(&self, bytes: Bytes, client: Option<IpAddr>) -> Result<Bytes, ResponsesFull> {
        if bytes.is_empty() {
            return Ok(bytes);
        }
        let len = bytes.len() as u64;
        let charged = match client {
            // Small answers are counted in the whole only: the connection cap bounds what one
            // client holds of them, and every hit is one, so they take no lock.
            Some(client) if len >= SMALL_ANSWER => {
                let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
                let held = clients.entry(client).or_insert(0);
                // A client that holds nothing may take one answer of any size.
                if *held > 0 && *held + len > self.client_share() {
                    return Err(ResponsesFull::Client { held: *held });
                }
                *held += len;
                self.holders.fetch_add(1, Ordering::Relaxed);
                Some(ClientCharge {
                    clients: Arc::clone(&self.clients),
                    holders: Arc::clone(&self.holders),
                    client,
                    bytes: len,
                })
            }
            _ => None,
        };
        let permit = self.all.take(bytes.len()).map_err(|BufferFull { limit }| ResponsesFull::Server { limit })?;
        Ok(Bytes::from_owner(Counted { bytes, _permit: permit, _client: charged }))
    }
}

/// A client's part of the response buffer, given back when its answer is written or dropped.
struct ClientCharge {
    clients: Arc<Mutex<HashMap<IpAddr, u64>>>,
    holders: Arc<AtomicUsize>,
    client: IpAddr,
    bytes: u64,
}

impl Drop for ClientCharge {
    fn drop(&mut self) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = clients.get_mut(&self.client) {
            *held = held.saturating_sub(self.bytes);
            if *held == 0 {
                clients.remove(&self.client);
            }
        }
        self.holders.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Bytes that count against a buffer while they live.
struct Counted {
    bytes: Bytes,
    _permit: OwnedSemaphorePermit,
    _client: Option<ClientCharge>,
}

impl AsRef<[u8]> for Counted {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// The upload buffer is full (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server holds as many uploads as it may ({limit} bytes); retry shortly")]
pub struct BufferFull {
    /// The configured bound.
    pub limit: u64,
}

/// The shared bound on bytes held.
#[derive(Clone, Debug)]
pub struct UploadBuffer {
    permits: Arc<Semaphore>,
    limit: u64,
}

impl UploadBuffer {
    /// A buffer of `limit` bytes.
    pub fn new(limit: u64) -> UploadBuffer {
        let permits = usize::try_from(limit).unwrap_or(usize::MAX).min(Semaphore::MAX_PERMITS);
        UploadBuffer { permits: Arc::new(Semaphore::new(permits)), limit }
    }

    /// Bytes held now, over all requests.
    pub fn held(&self) -> u64 {
        self.limit.saturating_sub(self.permits.available_permits() as u64)
    }

    /// A collector of at most `max` bytes, with room for `expected` reserved at once.
    pub fn collector(&self, expected: usize, max: u64) -> Result<Collector, BufferFull> {
        let mut collector = Collector { data: Vec::new(), held: None, buffer: self.clone(), max };
        collector.make_room(expected)?;
        Ok(collector)
    }

    fn take(&self, bytes: usize) -> Result<OwnedSemaphorePermit, BufferFull> {
        let bytes = u32::try_from(bytes).map_err(|_| BufferFull { limit: self.limit })?;
        Arc::clone(&self.permits).try_acquire_many_owned(bytes).map_err(|_| BufferFull { limit: self.limit })
    }
}

/// Why a collector took no more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectError {
    /// The whole would pass the collector's `max`.
    TooLarge(u64),
    /// The shared buffer is full.
    Full(BufferFull),
}

/// Bytes being gathered under the bound; the reservation lasts as long as the collector, or the
/// [`Held`] it becomes.
#[derive(Debug)]
pub struct Collector {
    data: Vec<u8>,
    held: Option<OwnedSemaphorePermit>,
    buffer: UploadBuffer,
    max: u64,
}

impl Collector {
    /// Appends a chunk, growing the reservation with the allocation.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), CollectError> {
        let needed = self.data.len() + chunk.len();
        if needed as u64 > self.max {
            return Err(CollectError::TooLarge(self.max));
        }
        if needed > self.data.capacity() {
            let grown = (self.data.capacity() * 2).max(needed).min(usize::try_from(self.max).unwrap_or(usize::MAX));
            self.make_room(grown).map_err(CollectError::Full)?;
        }
        self.data.extend_from_slice(chunk);
        Ok(())
    }

    fn make_room(&mut self, capacity: usize) -> Result<(), BufferFull> {
        let more = capacity.saturating_sub(self.data.capacity());
        if more == 0 {
            return Ok(());
        }
        let permit = self.buffer.take(more)?;
        match &mut self.held {
            Some(held) => held.merge(permit),
            None => self.held = Some(permit),
        }
        self.data.reserve_exact(more + self.data.capacity() - self.data.len());
        Ok(())
    }

    /// The bytes gathered, still counted until the [`Held`] is dropped.
    pub fn finish(self) -> Held {
        Held { bytes: Bytes::from(self.data), _permit: self.held }
    }
}

/// Gathered bytes that still count against the buffer while held.
#[derive(Debug)]
pub struct Held {
    /// The bytes.
    pub bytes: Bytes,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Held {
    /// The bytes rewritten by `f` in their own buffer (a JSON upload decoded where it lies):
    /// nothing is allocated, and the buffer's whole capacity stays counted while held.
    pub fn rewrite<E>(self, f: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<Held, E> {
        let mut data = Vec::from(self.bytes);
        f(&mut data)?;
        Ok(Held { bytes: Bytes::from(data), _permit: self._permit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_held_count_against_the_bound_until_dropped() {
        let buffer = UploadBuffer::new(1000);
        let mut a = buffer.collector(400, 10_000).unwrap();
        a.push(&[1; 300]).unwrap();
        assert_eq!(buffer.held(), 400);
        assert!(matches!(buffer.collector(700, 10_000), Err(BufferFull { limit: 1000 })));
        a.push(&[2; 300]).unwrap();
        assert_eq!(buffer.held(), 800, "growth is reserved by the capacity allocated");
        let held = a.finish();
        assert_eq!(held.bytes.len(), 600);
        let mut b = buffer.collector(0, 10_000).unwrap();
        assert_eq!(b.push(&[0; 300]), Err(CollectError::Full(BufferFull { limit: 1000 })));
        drop(held);
        assert_eq!(buffer.held(), 0);
        b.push(&[0; 300]).unwrap();
        let mut small = buffer.collector(0, 10).unwrap();
        assert_eq!(small.push(&[0; 11]), Err(CollectError::TooLarge(10)));
    }

    #[test]
    fn answers_count_until_their_last_copy_is_dropped() {
        let buffer = ResponseBuffer::new(1600);
        let a = buffer.hold(Bytes::from(vec![1u8; 1000]), None).unwrap();
        assert_eq!((buffer.held(), buffer.is_full(None)), (1000, Ok(())));
        let written_part = a.slice(900..);
        drop(a);
        assert_eq!(buffer.held(), 1000, "a slice still being written holds the whole");
        assert_eq!(buffer.hold(Bytes::from(vec![2u8; 700]), None), Err(ResponsesFull::Server { limit: 1600 }));
        let b = buffer.hold(Bytes::from(vec![2u8; 550]), None).unwrap();
        assert_eq!(buffer.is_full(None), Err(ResponsesFull::Server { limit: 1600 }), "50 bytes free of 1600");
        assert_eq!(buffer.hold(Bytes::new(), None).unwrap().len(), 0, "an empty body takes nothing");
        drop((written_part, b));
        assert_eq!(buffer.held(), 0);
    }

    #[test]
    fn one_client_holds_one_answer_or_its_share() {
        const KIB: usize = 1 << 10;
        let buffer = ResponseBuffer::new(16 << 20); // a share of 1 MiB
        let (slow, other): (IpAddr, IpAddr) = ("198.51.100.1".parse().unwrap(), "198.51.100.2".parse().unwrap());
        let answer = |kib: usize| Bytes::from(vec![0u8; kib * KIB]);
        // One answer of any size (within the whole), then nothing large past its share.
        let big = buffer.hold(answer(5 * 1024), Some(slow)).unwrap();
        let held = (5 << 20) as u64;
        assert_eq!(buffer.hold(answer(64), Some(slow)), Err(ResponsesFull::Client { held }));
        assert_eq!(buffer.is_full(Some(slow)), Err(ResponsesFull::Client { held }));
        // Everyone else is served meanwhile.
        assert_eq!(buffer.is_full(Some(other)), Ok(()));
        let first = buffer.hold(answer(600), Some(other)).unwrap();
        let second = buffer.hold(answer(400), Some(other)).unwrap();
        let held = (1000 * KIB) as u64;
        assert_eq!(buffer.hold(answer(100), Some(other)), Err(ResponsesFull::Client { held }));
        // Small answers (every hit's) are counted in the whole only.
        assert_eq!(buffer.hold(answer(63), Some(other)).map(|b| b.len()), Ok(63 * KIB));
        // Written or dropped, the share comes back.
        drop((big, first, second));
        assert_eq!(buffer.is_full(Some(other)), Ok(()));
        assert_eq!(buffer.hold(answer(900), Some(slow)).map(|b| b.len()), Ok(900 * KIB));
    }
}
