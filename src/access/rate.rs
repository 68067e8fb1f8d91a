//! Rate limits per client address (DESIGN.md §9): a token bucket of `rate_limit_per_minute`
//! renders and uploads per address (governor's GCRA), the buckets of at most [`MAX_CLIENTS`]
//! addresses kept at once (a byte-bounded moka cache; an address idle for two minutes has a full
//! bucket anyway and is forgotten). Hits from memory or storage are never charged.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// Client addresses whose buckets are kept at once.
const MAX_CLIENTS: u64 = 100_000;

/// Too many renders or uploads from one address (429).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "too many renders and uploads from this address: the limit is {per_minute} a minute; retry in {retry_after_secs} s"
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

    /// Takes one token from `client`'s bucket.
    pub fn charge(&self, client: IpAddr) -> Result<(), RateLimited> {
        let quota = Quota::per_minute(self.per_minute);
        let bucket = self.buckets.get_with(client, || Arc::new(RateLimiter::direct(quota)));
        bucket.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            RateLimited {
                per_minute: self.per_minute.get(),
                retry_after_secs: u32::try_from(wait.as_secs() + 1).unwrap_or(u32::MAX),
            }
        })
    }
}

/// Who pays for a piece of work: a client address under the limits, or the server itself
/// (upload-time outputs, `regenerate`, background renders).
#[derive(Clone, Debug)]
pub enum Payer {
    /// The server's own work: never limited.
    Server,
    /// A client's request.
    Client {
        /// The limits in force.
        limits: Arc<RateLimits>,
        /// The client's key ([`client_key`](super::client_key)): its address, or its IPv6 /64.
        addr: IpAddr,
    },
}

impl Payer {
    /// Charges one render or upload.
    pub fn charge(&self) -> Result<(), RateLimited> {
        match self {
            Payer::Server => Ok(()),
            Payer::Client { limits, addr } => limits.charge(*addr),
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
            assert_eq!(limits.charge(a), Ok(()));
        }
        let refused = limits.charge(a).unwrap_err();
        assert!((1..=21).contains(&refused.retry_after_secs), "{refused:?}");
        assert_eq!(limits.charge(b), Ok(()), "another address is not charged for the first");
    }
}
