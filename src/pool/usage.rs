//! Worker time each payer (a client address, or IPv6 /64) used lately, so that the queue can
//! serve the payers who used little before the one who used much (DESIGN.md §15: one client's
//! work must not cost other clients their service). Kept in a table of fixed size indexed by a
//! keyed hash of the address: memory does not grow with the number of clients, and a client
//! cannot choose which others share its meter. No clocks here: the pool passes the time.

use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Meters in the table: two clients share one with a chance of one in this many.
const METERS: usize = 4096;

/// The time in which a meter's worker time halves.
pub(super) const HALF_LIFE: Duration = Duration::from_secs(10);

/// Worker seconds (decayed by [`HALF_LIFE`]) past which a payer's work waits behind that of the
/// payers who used less, and runs at the lower priority of work nobody waits for. A page of new
/// thumbnails stays under it; a loop of renders of poster-sized PNGs passes it within a second
/// or two. Without contention for the workers it changes nothing.
pub const HEAVY_SECONDS: f64 = 1.0;

/// Which meter a piece of work is charged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct MeterIndex(u16);

#[derive(Clone, Copy, Debug, Default)]
struct Meter {
    /// Worker seconds as of `at`.
    seconds: f64,
    at: Option<Instant>,
}

impl Meter {
    fn at(&self, now: Instant) -> f64 {
        match self.at {
            Some(at) => {
                self.seconds * 0.5f64.powf(now.saturating_duration_since(at).as_secs_f64() / HALF_LIFE.as_secs_f64())
            }
            None => 0.0,
        }
    }
}

/// The meters of worker time, by payer.
pub(super) struct Usage {
    meters: Box<[Meter]>,
    keys: RandomState,
}

impl std::fmt::Debug for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Usage").finish_non_exhaustive()
    }
}

impl Usage {
    pub(super) fn new() -> Usage {
        Usage { meters: vec![Meter::default(); METERS].into_boxed_slice(), keys: RandomState::new() }
    }

    /// The meter `payer`'s work is charged to.
    pub(super) fn meter_of(&self, payer: IpAddr) -> MeterIndex {
        MeterIndex((self.keys.hash_one(payer) % METERS as u64) as u16)
    }

    /// Whether the payer of `meter` used more than [`HEAVY_SECONDS`] lately.
    pub(super) fn heavy(&self, meter: Option<MeterIndex>, now: Instant) -> bool {
        meter.is_some_and(|MeterIndex(i)| self.meters[usize::from(i)].at(now) > HEAVY_SECONDS)
    }

    /// Adds `used` worker time to `meter`.
    pub(super) fn charge(&mut self, meter: Option<MeterIndex>, used: Duration, now: Instant) {
        let Some(MeterIndex(i)) = meter else { return };
        let m = &mut self.meters[usize::from(i)];
        *m = Meter { seconds: m.at(now) + used.as_secs_f64(), at: Some(now) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payer_is_heavy_while_its_recent_use_is_over_the_bound_and_light_again_later() {
        let mut usage = Usage::new();
        let now = Instant::now();
        let a = usage.meter_of("192.0.2.1".parse().unwrap());
        assert!(!usage.heavy(Some(a), now));
        usage.charge(Some(a), Duration::from_millis(600), now);
        assert!(!usage.heavy(Some(a), now), "0.6 s of renders");
        usage.charge(Some(a), Duration::from_millis(600), now);
        assert!(usage.heavy(Some(a), now), "1.2 s of renders");
        assert!(usage.heavy(Some(a), now + Duration::from_secs(2)), "decays by half in ten seconds");
        assert!(!usage.heavy(Some(a), now + HALF_LIFE), "half of 1.2 s");
        assert!(!usage.heavy(None, now), "the server's own work has no meter");
        usage.charge(None, Duration::from_secs(100), now);
        assert_eq!(usage.meter_of("192.0.2.1".parse().unwrap()), a, "one address, one meter");
    }
}
