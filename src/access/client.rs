//! The address a request is charged to: the peer, or, when the peer is a trusted proxy, the
//! nearest address of `X-Forwarded-For` that is not one of the trusted proxies.

use std::net::IpAddr;

use ipnet::IpNet;

/// The client of a request from `peer` carrying `forwarded_for` (the `X-Forwarded-For` values,
/// in the order received).
pub fn client_addr<'a>(peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>, trusted: &[IpNet]) -> IpAddr {
    let trusted_ip = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !trusted_ip(&peer) {
        return peer;
    }
    // Each proxy appends the address it received from; the last untrusted one is the client.
    let hops: Vec<IpAddr> =
        forwarded_for.flat_map(|v| v.split(',')).filter_map(|hop| hop.trim().parse::<IpAddr>().ok()).collect();
    hops.iter().rev().find(|ip| !trusted_ip(ip)).or(hops.first()).copied().unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1/32".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let xff = ["203.0.113.9, 198.51.100.7", "10.1.2.3"];
        assert_eq!(client_addr(ip("127.0.0.1"), xff.into_iter(), &trusted), ip("198.51.100.7"));
        assert_eq!(client_addr(ip("192.0.2.1"), xff.into_iter(), &trusted), ip("192.0.2.1"), "untrusted peer");
        assert_eq!(client_addr(ip("10.0.0.1"), std::iter::empty(), &trusted), ip("10.0.0.1"));
        assert_eq!(client_addr(ip("10.0.0.1"), ["10.9.9.9"].into_iter(), &trusted), ip("10.9.9.9"));
        assert_eq!(client_addr(ip("10.0.0.1"), ["junk"].into_iter(), &trusted), ip("10.0.0.1"));
    }
}
