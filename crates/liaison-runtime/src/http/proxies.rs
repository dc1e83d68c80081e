//! Who the client is when the gateway sits behind proxies. The address of
//! the connection is the client's unless it is one of the configured
//! trusted proxies; then `X-Forwarded-For` is read from its end, each
//! trusted hop skipped, and the first address a trusted proxy did not
//! vouch for is the client (what an untrusted client wrote at the start
//! of the header is never believed). With no trusted proxy configured the
//! header is ignored entirely.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

pub const FORWARDED_FOR: &str = "x-forwarded-for";
pub const FORWARDED_PROTO: &str = "x-forwarded-proto";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// From `services.gateway.trusted_proxies`: addresses (`10.0.0.5`,
    /// `::1`) or networks (`10.0.0.0/8`).
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| entry.trim())
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!(
                            "{entry:?} is neither an IP address nor a network such as 10.0.0.0/8"
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    /// Whether `address` is one of the trusted proxies.
    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client's address, given the connection's `peer`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return canonical(peer);
        }
        let mut client = canonical(peer);
        for hop in forwarded_hops(headers).rev() {
            match hop {
                Some(address) if self.trusts(address) => client = canonical(address),
                Some(address) => return canonical(address),
                // A hop that is not an address: nothing before it is
                // believed; the last proxy that spoke is the client.
                None => return client,
            }
        }
        client
    }

    /// Whether the client reached a trusted proxy over HTTPS (for
    /// `Strict-Transport-Security`).
    pub fn forwarded_https(&self, peer: IpAddr, headers: &HeaderMap) -> bool {
        self.trusts(peer)
            && headers
                .get(FORWARDED_PROTO)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(',').next())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
    }
}

/// Every `X-Forwarded-For` entry, in order, over all such headers.
fn forwarded_hops(headers: &HeaderMap) -> impl DoubleEndedIterator<Item = Option<IpAddr>> + '_ {
    let hops: Vec<Option<IpAddr>> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("?").split(','))
        .map(|hop| parse_hop(hop.trim()))
        .collect();
    hops.into_iter()
}

/// `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]:443` or `203.0.113.7:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(address) = hop.parse() {
        return Some(address);
    }
    if let Ok(socket) = hop.parse::<std::net::SocketAddr>() {
        return Some(socket.ip());
    }
    None
}

/// IPv4 clients of a dual-stack listener arrive as `::ffff:a.b.c.d`.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(forwarded: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append(FORWARDED_FOR, value.parse().expect("header"));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    fn proxies(entries: &[&str]) -> TrustedProxies {
        let entries: Vec<String> = entries.iter().map(|entry| entry.to_string()).collect();
        TrustedProxies::parse(&entries).expect("trusted proxies")
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        let forged = headers(&["198.51.100.1"]);
        assert_eq!(none.client(ip("203.0.113.9"), &forged), ip("203.0.113.9"));
        assert_eq!(none.client(ip("127.0.0.1"), &forged), ip("127.0.0.1"));
    }

    #[test]
    fn the_client_is_the_first_hop_no_trusted_proxy_added() {
        let trusted = proxies(&["10.0.0.0/8", "127.0.0.1"]);
        // The client wrote a forged first entry; the proxies appended theirs.
        let chain = headers(&["1.2.3.4, 203.0.113.7", "10.1.1.1"]);
        assert_eq!(trusted.client(ip("127.0.0.1"), &chain), ip("203.0.113.7"));
        // Not from a trusted proxy: the header is not believed.
        assert_eq!(
            trusted.client(ip("198.51.100.2"), &chain),
            ip("198.51.100.2")
        );
        // Only proxies: the first of them.
        assert_eq!(
            trusted.client(ip("127.0.0.1"), &headers(&["10.0.0.2"])),
            ip("10.0.0.2")
        );
        // Garbage stops the walk at the last proxy that spoke.
        assert_eq!(
            trusted.client(ip("127.0.0.1"), &headers(&["203.0.113.7, junk, 10.0.0.3"])),
            ip("10.0.0.3")
        );
        assert_eq!(
            trusted.client(ip("::ffff:127.0.0.1"), &headers(&["[2001:db8::5]:443"])),
            ip("2001:db8::5")
        );
    }

    #[test]
    fn https_is_believed_from_trusted_proxies_only() {
        let trusted = proxies(&["10.0.0.1"]);
        let mut headers = HeaderMap::new();
        headers.insert(FORWARDED_PROTO, "https".parse().expect("header"));
        assert!(trusted.forwarded_https(ip("10.0.0.1"), &headers));
        assert!(!trusted.forwarded_https(ip("10.0.0.2"), &headers));
        assert!(!trusted.forwarded_https(ip("10.0.0.1"), &HeaderMap::new()));
    }

    #[test]
    fn bad_entries_are_named() {
        let error = TrustedProxies::parse(&["10.0.0.0/33".into()]).expect_err("bad prefix");
        assert!(error.contains("10.0.0.0/33"), "{error}");
        assert!(TrustedProxies::parse(&["proxy.local".into()]).is_err());
    }
}
