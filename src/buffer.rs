//! The bounds on bytes held in memory for requests, over all of them at once:
//! - the upload buffer (`upload_buffer_bytes`): the bytes of upload bodies and source downloads,
//!   each request's counted by the capacity they allocate and given back when it ends;
//! - the response buffer (`response_buffer_bytes`): the bytes of answers not yet written to
//!   their clients, each answer's counted from when it is built until its last byte is written
//!   or its connection dropped, so that clients that read slowly cannot pin memory without end.
//!
//! A request that would pass a bound is refused (503) instead of queued.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The response buffer is full (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server is sending as many answer bytes as it may ({limit} bytes); retry shortly")]
pub struct ResponsesFull {
    /// The configured bound.
    pub limit: u64,
}

/// The bound on answer bytes not yet written to their clients.
#[derive(Clone, Debug)]
pub struct ResponseBuffer(UploadBuffer);

impl ResponseBuffer {
    /// A buffer of `limit` bytes.
    pub fn new(limit: u64) -> ResponseBuffer {
        ResponseBuffer(UploadBuffer::new(limit))
    }

    /// Bytes held now, over all answers.
    pub fn held(&self) -> u64 {
        self.0.held()
    }

    /// The configured bound.
    pub fn limit(&self) -> u64 {
        self.0.limit
    }

    /// Whether the buffer is (nearly) full: less than a sixteenth of it is free. New requests
    /// are refused then before anything is looked up.
    pub fn is_full(&self) -> bool {
        (self.0.permits.available_permits() as u64) < self.0.limit / 16
    }

    /// `bytes` as an answer's body, counted until the last copy of them is dropped: the HTTP
    /// layer's, once written, or the body's, when its connection is dropped first.
    pub fn hold(&self, bytes: Bytes) -> Result<Bytes, ResponsesFull> {
        if bytes.is_empty() {
            return Ok(bytes);
        }
        let permit = self.0.take(bytes.len()).map_err(|BufferFull { limit }| ResponsesFull { limit })?;
        Ok(Bytes::from_owner(Counted { bytes, _permit: permit }))
    }
}

/// Bytes that count against a buffer while they live.
struct Counted {
    bytes: Bytes,
    _permit: OwnedSemaphorePermit,
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
        let a = buffer.hold(Bytes::from(vec![1u8; 1000])).unwrap();
        assert_eq!((buffer.held(), buffer.is_full()), (1000, false));
        let written_part = a.slice(900..);
        drop(a);
        assert_eq!(buffer.held(), 1000, "a slice still being written holds the whole");
        assert_eq!(buffer.hold(Bytes::from(vec![2u8; 700])), Err(ResponsesFull { limit: 1600 }));
        let b = buffer.hold(Bytes::from(vec![2u8; 550])).unwrap();
        assert!(buffer.is_full(), "50 bytes free of 1600");
        assert_eq!(buffer.hold(Bytes::new()).unwrap().len(), 0, "an empty body takes nothing");
        drop((written_part, b));
        assert_eq!(buffer.held(), 0);
    }
}
