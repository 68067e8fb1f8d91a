//! Connections per client (`max_connections_per_client`): the accept loop counts open
//! connections by the key of the peer the socket shows (an IPv4 address, or an IPv6 /64; see
//! `access::client_key`), and a connection past the cap is closed at once, unread, its slot of
//! `max_connections` given back as it is taken. Peers in `trusted_proxies` are exempt: a CDN or
//! load balancer carries many clients on its connections, and its clients are told apart
//! (for rate limits) by `X-Forwarded-For`. Loopback is not exempt by itself; a proxy on the same
//! host is listed in `trusted_proxies` like any other.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use ipnet::IpNet;

use crate::access::client_key;

/// The open connections of each client, under a cap.
#[derive(Debug)]
pub(crate) struct PerClient {
    max: usize,
    exempt: Arc<[IpNet]>,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One counted connection; the count drops with it.
#[derive(Debug)]
pub(crate) struct ClientSlot {
    key: Option<IpAddr>,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerClient {
    /// At most `max` connections per client (0: no cap), peers in `exempt` uncounted.
    pub(crate) fn new(max: usize, exempt: Arc<[IpNet]>) -> PerClient {
        PerClient { max, exempt, open: Arc::default() }
    }

    /// A slot for one more connection from `peer`, or `None` when it holds `max` already.
    pub(crate) fn admit(&self, peer: IpAddr) -> Option<ClientSlot> {
        let peer = peer.to_canonical();
        if self.max == 0 || self.exempt.iter().any(|net| net.contains(&peer)) {
            return Some(ClientSlot { key: None, open: Arc::clone(&self.open) });
        }
        let key = client_key(peer);
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(ClientSlot { key: Some(key), open: Arc::clone(&self.open) })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_is_capped_and_exempt_peers_are_not() {
        let exempt: Arc<[IpNet]> = vec!["10.0.0.0/8".parse().unwrap()].into();
        let clients = PerClient::new(2, exempt);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let a1 = clients.admit(ip("192.0.2.1")).unwrap();
        let _a2 = clients.admit(ip("::ffff:192.0.2.1")).unwrap();
        assert!(clients.admit(ip("192.0.2.1")).is_none(), "a third from one address");
        assert!(clients.admit(ip("192.0.2.2")).is_some(), "another address has its own count");
        let _b1 = clients.admit(ip("2001:db8:1:2::1")).unwrap();
        let _b2 = clients.admit(ip("2001:db8:1:2::ffff")).unwrap();
        assert!(clients.admit(ip("2001:db8:1:2:3::9")).is_none(), "one /64 is one client");
        let proxies: Vec<ClientSlot> = (0..10).map(|_| clients.admit(ip("10.1.2.3")).unwrap()).collect();
        drop(a1);
        assert!(clients.admit(ip("192.0.2.1")).is_some(), "a closed connection frees its place");
        drop(proxies);
        assert!(PerClient::new(0, Arc::from([])).admit(ip("192.0.2.1")).is_some());
    }
}
