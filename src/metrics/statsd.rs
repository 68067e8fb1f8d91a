//! The statsd client: packets leave through a bounded queue drained by cadence's own thread onto
//! a non-blocking UDP socket, so a slow, dead or unreachable statsd never delays or fails a
//! request; when the queue is full, metrics are dropped, not requests.

use std::net::UdpSocket;
use std::time::Duration;

use cadence::prelude::*;
use cadence::{QueuingMetricSink, StatsdClient, UdpMetricSink};

/// A statsd client, or nothing when statsd is off.
#[derive(Debug)]
pub(crate) struct Statsd(Option<StatsdClient>);

impl Statsd {
    /// No statsd.
    pub(crate) fn off() -> Self {
        Statsd(None)
    }

    /// Counters and timers to `addr` (`host:port`) under `prefix`. The address is resolved once,
    /// now; failing that is an error for the caller to report.
    pub(crate) fn to(addr: &str, prefix: &str) -> Result<Self, String> {
        let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("statsd socket: {e}"))?;
        socket.set_nonblocking(true).map_err(|e| format!("statsd socket: {e}"))?;
        let udp = UdpMetricSink::from(addr, socket).map_err(|e| format!("statsd address {addr}: {e}"))?;
        let sink = QueuingMetricSink::with_capacity(udp, 64 * 1024);
        let client = StatsdClient::builder(prefix, sink)
            .with_error_handler(|e| tracing::debug!(error = %e, "statsd send failed"))
            .build();
        Ok(Statsd(Some(client)))
    }

    pub(crate) fn count(&self, name: &str) {
        if let Some(c) = &self.0 {
            let _ = c.incr(name);
        }
    }

    pub(crate) fn count_by(&self, name: &str, n: u64) {
        if let Some(c) = &self.0 {
            let _ = c.count(name, i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    pub(crate) fn time(&self, name: &str, took: Duration) {
        if let Some(c) = &self.0 {
            let _ = c.time(name, u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
        }
    }
}
