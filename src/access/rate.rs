//! Rate limits per client address (DESIGN.md §9, §15): a token bucket of `rate_limit_per_minute`
//! units of work per address (governor's GCRA), the buckets of at most [`MAX_CLIENTS`] addresses
//! kept at once (an address idle for two minutes has a full bucket anyway and is forgotten).
//! Work is charged before it is spent, by what it costs: a render or an upload is one unit per
//! [`UNIT_PIXELS`] it decodes and encodes, at least one. Hits from memory or storage are charged
//! only when large: from [`CHARGED_ANSWER_BYTES`], one unit for each [`UNIT_BYTES`] begun (a
//! page's thumbnails never are; asking for poster-sized PNGs in a loop is).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// Client addresses whose buckets are kept at once.
const MAX_CLIENTS: u64 = 100_000;

/// Pixels (decoded plus encoded) in one unit of work: a variant rendered from a working copy, or
/// the upload of a phone's photo, costs one to a few; a page of a huge original, or an upload
/// asking for many outputs, many.
pub const UNIT_PIXELS: u64 = 4_000_000;

/// Answers found already (in memory or storage) smaller than this are free: every thumbnail,
/// and most photos a page shows whole.
pub const CHARGED_ANSWER_BYTES: u64 = 1 << 20;

/// Bytes of a large answer found already in one unit of work: sending 8 MiB costs about what
/// rendering a small variant does (the kernel's copies, the response buffer held meanwhile).
pub const UNIT_BYTES: u64 = 8 << 20;

/// The units an answer of `bytes` found already is charged: none below
/// [`CHARGED_ANSWER_BYTES`], else one per [`UNIT_BYTES`] begun.
pub fn units_of_answer(bytes: u64) -> u32 {
    if bytes < CHARGED_ANSWER_BYTES {
        return 0;
    }
    u32::try_from(bytes.div_ceil(UNIT_BYTES)).unwrap_or(u32::MAX)
}

/// The units of work of `pixels` decoded and encoded: at least one.
pub fn units_of(pixels: u64) -> u32 {
    u32::try_from(pixels.div_ceil(UNIT_PIXELS).max(1)).unwrap_or(u32::MAX)
}

/// Too many renders or uploads from one address (429).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "too much work asked from this address: the limit is {per_minute} units of work a minute (a unit is a render or upload of up to 4 megapixels, or up to 8 MiB of a large answer); retry in {retry_after_secs} s"
)]
pub struct RateLimited {
    /// The configured rate.
    pub per_minute: u32,
    /// Seconds until the next one is allowed.
    pub retry_after_secs: u32,
}

type Bucket = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;

/// The buckets of the addresses seen lately.
pub struct RateLimits {
    per_minute: NonZeroU32,
    buckets: moka::sync::Cache<IpAddr, Arc<Bucket>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").field("per_minute", &self.per_minute).finish_non_exhaustive()
    }
}

impl RateLimits {
    /// Limits of `per_minute` a minute per address; `None` for 0 (off).
    pub fn new(per_minute: u32) -> Option<RateLimits> {
        let per_minute = NonZeroU32::new(per_minute)?;
        let buckets =
            moka::sync::Cache::builder().max_capacity(MAX_CLIENTS).time_to_idle(Duration::from_secs(120)).build();
        Some(RateLimits { per_minute, buckets, clock: DefaultClock::default() })
    }

    /// Takes `units` from `client`'s bucket (work larger than a whole minute's takes all of one).
    pub fn charge(&self, client: IpAddr, units: u32) -> Result<(), RateLimited> {
        let quota = Quota::per_minute(self.per_minute);
        let bucket = self.buckets.get_with(client, || Arc::new(RateLimiter::direct(quota)));
        let units = NonZeroU32::new(units.min(self.per_minute.get())).unwrap_or(NonZeroU32::MIN);
        match bucket.check_n(units) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Err(RateLimited {
                    per_minute: self.per_minute.get(),
                    retry_after_secs: u32::try_from(wait.as_secs() + 1).unwrap_or(u32::MAX),
                })
            }
            // Not reachable: `units` is capped at the bucket's size.
            Err(_) => Err(RateLimited { per_minute: self.per_minute.get(), retry_after_secs: 60 }),
        }
    }
}

/// Who pays for a piece of work: a client, or the server itself (`regenerate`, background
/// renders, and work a client paid for up front: an upload's outputs and jobs).
#[derive(Clone, Debug)]
pub enum Payer {
    /// The server's own work: never limited.
    Server,
    /// A client's request.
    Client {
        /// The limits in force, if any.
        limits: Option<Arc<RateLimits>>,
        /// The client's key ([`client_key`](super::client_key)): its address, or its IPv6 /64.
        addr: IpAddr,
    },
}

impl Payer {
    /// Charges `units` of work.
    pub fn charge(&self, units: u32) -> Result<(), RateLimited> {
        match self {
            Payer::Client { limits: Some(limits), addr } => limits.charge(*addr, units),
            _ => Ok(()),
        }
    }

    /// Charges the sending of an answer of `bytes` found already (see [`UNIT_BYTES`]).
    pub fn charge_answer(&self, bytes: u64) -> Result<(), RateLimited> {
        match units_of_answer(bytes) {
            0 => Ok(()),
            units => self.charge(units),
        }
    }

    /// The client's address, for counting clients rather than requests.
    pub fn client(&self) -> Option<IpAddr> {
        match self {
            Payer::Server => None,
            Payer::Client { addr, .. } => Some(*addr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_bucket() {
        assert!(RateLimits::new(0).is_none());
        let limits = RateLimits::new(3).unwrap();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..3 {
            assert_eq!(limits.charge(a, 1), Ok(()));
        }
        let refused = limits.charge(a, 1).unwrap_err();
        assert!((1..=21).contains(&refused.retry_after_secs), "{refused:?}");
        assert_eq!(limits.charge(b, 1), Ok(()), "another address is not charged for the first");
    }

    #[test]
    fn work_is_charged_by_its_units() {
        assert_eq!(units_of(0), 1);
        assert_eq!(units_of(UNIT_PIXELS), 1);
        assert_eq!(units_of(UNIT_PIXELS + 1), 2);
        // Answers found already: free below 1 MiB, then by the 8 MiB begun.
        assert_eq!(units_of_answer(CHARGED_ANSWER_BYTES - 1), 0);
        assert_eq!(units_of_answer(CHARGED_ANSWER_BYTES), 1);
        assert_eq!(units_of_answer(UNIT_BYTES), 1);
        assert_eq!(units_of_answer(UNIT_BYTES + 1), 2);
        let limits = RateLimits::new(10).unwrap();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(limits.charge(a, 7), Ok(()));
        assert!(limits.charge(a, 4).is_err(), "7 + 4 units is over 10");
        assert_eq!(limits.charge(a, 3), Ok(()));
        // Work larger than the bucket takes all of a full one, and is not refused for good.
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(limits.charge(b, 500), Ok(()));
        assert!(limits.charge(b, 1).is_err());
    }
}
