//! Who a request is charged to. The client is the peer, or, when the peer is a trusted proxy,
//! the nearest address of `X-Forwarded-For` that is not one of the trusted proxies. Clients are
//! counted (rate limits, connections) under a key: an IPv4 address, or the /64 an IPv6 address
//! lies in, since one subscriber is handed a whole /64 and could otherwise take a fresh bucket
//! for every request.
//!
//! `X-Forwarded-For` entries may be `ip`, `ip:port`, `[ipv6]:port` or `[ipv6]`. The walk goes
//! from the right (the entry the nearest proxy wrote) leftwards while entries are trusted
//! proxies. An entry that does not parse stops it: it was written by the trusted hop on its
//! right, so nothing to its left can be believed, and the client is that hop (the last address
//! known, or the peer itself). Everyone behind a proxy that writes junk then shares one bucket,
//! which is safe; taking the next entry on the left instead would let a client pick its own.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

/// The client of a request from `peer` carrying `forwarded_for` (the `X-Forwarded-For` values,
/// in the order received).
pub fn client_addr<'a>(peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let trusted_ip = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !trusted_ip(&peer) {
        return peer;
    }
    // Each proxy appends the address it received from; the last untrusted one is the client.
    let entries: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(hop) = parse_entry(entry) else {
            return client;
        };
        client = hop;
        if !trusted_ip(&hop) {
            return hop;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: `ip`, `ip:port`, `[ipv6]:port` or `[ipv6]`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = match entry.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => match entry.parse::<SocketAddr>() {
            Ok(addr) => addr.ip(),
            Err(_) => IpAddr::V6(entry.strip_prefix('[')?.strip_suffix(']')?.parse::<Ipv6Addr>().ok()?),
        },
    };
    Some(ip.to_canonical())
}

/// The key a client is counted under: its IPv4 address (IPv4-mapped IPv6 ones included), or the
/// /64 its IPv6 address lies in.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1/32".parse().unwrap()];
        let xff = ["203.0.113.9, 198.51.100.7", "10.1.2.3"];
        assert_eq!(client_addr(ip("127.0.0.1"), xff.into_iter(), &trusted), ip("198.51.100.7"));
        assert_eq!(client_addr(ip("::ffff:127.0.0.1"), xff.into_iter(), &trusted), ip("198.51.100.7"));
        assert_eq!(client_addr(ip("192.0.2.1"), xff.into_iter(), &trusted), ip("192.0.2.1"), "untrusted peer");
        assert_eq!(client_addr(ip("10.0.0.1"), std::iter::empty(), &trusted), ip("10.0.0.1"));
        assert_eq!(client_addr(ip("10.0.0.1"), ["10.9.9.9"].into_iter(), &trusted), ip("10.9.9.9"));
        assert_eq!(client_addr(ip("10.0.0.1"), ["junk"].into_iter(), &trusted), ip("10.0.0.1"));
    }

    #[test]
    fn entries_with_ports_and_brackets_are_addresses() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        let peer = ip("127.0.0.1");
        for (entry, client) in [
            ("198.51.100.7", "198.51.100.7"),
            ("198.51.100.7:51234", "198.51.100.7"),
            (" 198.51.100.7:1 ", "198.51.100.7"),
            ("2001:db8::7", "2001:db8::7"),
            ("[2001:db8::7]:443", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
            ("[::ffff:198.51.100.7]:80", "198.51.100.7"),
        ] {
            // The attacker's own entry on the left is never reached: the proxy's entry is read.
            let xff = [format!("203.0.113.66, {entry}")];
            assert_eq!(client_addr(peer, xff.iter().map(String::as_str), &trusted), ip(client), "{entry}");
        }
    }

    #[test]
    fn an_unparseable_entry_stops_the_walk_at_the_last_trusted_hop() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        let peer = ip("127.0.0.1");
        let walk = |xff: &str| client_addr(peer, [xff].into_iter(), &trusted);
        // Junk written by the peer: the peer is the client, not the attacker's entry beside it.
        assert_eq!(walk("203.0.113.66, unknown"), peer);
        assert_eq!(walk("203.0.113.66, [2001:db8::1"), peer);
        assert_eq!(walk("203.0.113.66, 1.2.3.4:port"), peer);
        assert_eq!(walk("203.0.113.66,"), peer, "an empty entry");
        // Junk written by a trusted hop further out: that hop is the client.
        assert_eq!(walk("203.0.113.66, unknown, 10.1.1.1"), ip("10.1.1.1"));
        assert_eq!(walk("203.0.113.66, unknown, 10.1.1.1:8080"), ip("10.1.1.1"));
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        assert_eq!(client_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(client_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), ip("2001:db8:1:2::"));
        assert_ne!(client_key(ip("2001:db8:1:3::1")), client_key(ip("2001:db8:1:2::1")));
        assert_eq!(client_key(ip("198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(client_key(ip("::ffff:198.51.100.7")), ip("198.51.100.7"));
    }
}
