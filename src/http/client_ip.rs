//! Who is calling: the peer address, or, when the peer is a trusted proxy, the right-most
//! `X-Forwarded-For` entry that no trusted proxy added. Left-most entries are whatever the client wrote.

use std::net::IpAddr;

use ipnet::IpNet;
use poem::Request;

use crate::audit::Origin;

/// The client address as resolved for this request; later layers (rate limits, audit) read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// `forwarded_for` holds every `X-Forwarded-For` field in the order received: a proxy may add its own field
/// after the client's (HAProxy's `option forwardfor` does) instead of appending to it, and the fields then read
/// as one comma-separated list (RFC 9110 §5.3). Reading the first field only would believe the client's.
pub fn resolve<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&canonical(*ip)));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut last_trusted = peer;
    for entry in forwarded_for
        .rev()
        .flat_map(|field| field.rsplit(','))
        .map(str::trim)
    {
        match entry.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => last_trusted = ip,
            Ok(ip) => return canonical(ip),
            // Garbage in the chain: nothing left of it can be believed, so the last proxy is the client.
            Err(_) => return last_trusted,
        }
    }
    last_trusted
}

/// The client address of a request: `None` when the peer is no socket (nothing to resolve or to count).
pub fn of_request(req: &Request, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr()?.ip();
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or("unreadable"));
    Some(resolve(peer, forwarded, trusted))
}

/// The request's origin for the audit log: the resolved client address (the peer's when the rate limiter did
/// not run) and a bounded user agent.
pub fn origin_of(req: &Request) -> Origin {
    OriginSource::of(req).origin()
}

/// What [`origin_of`] reads, kept without formatting anything: a layer that needs the origin only in a rare
/// case (a refusal) takes this before the request moves on.
pub struct OriginSource {
    ip: Option<IpAddr>,
    user_agent: Option<poem::http::HeaderValue>,
}

impl OriginSource {
    pub fn of(req: &Request) -> Self {
        let ip = req
            .data::<ClientIp>()
            .map(|c| c.0)
            .or_else(|| req.remote_addr().as_socket_addr().map(|a| a.ip()));
        let user_agent = req.headers().get(poem::http::header::USER_AGENT).cloned();
        Self { ip, user_agent }
    }

    pub fn origin(&self) -> Origin {
        Origin {
            ip: self.ip.map(|ip| ip.to_string()),
            user_agent: self
                .user_agent
                .as_ref()
                .and_then(|ua| ua.to_str().ok())
                .map(|ua| ua.chars().take(512).collect()),
        }
    }
}

/// IPv4 clients reached over an IPv6 socket show up as `::ffff:a.b.c.d`; treat them as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            resolve(
                ip("203.0.113.9"),
                ["1.2.3.4"].into_iter(),
                &nets(&["10.0.0.0/8"])
            ),
            ip("203.0.113.9")
        );
        assert_eq!(
            resolve(ip("203.0.113.9"), ["1.2.3.4"].into_iter(), &[]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_entry_is_the_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            resolve(
                ip("10.0.0.1"),
                ["6.6.6.6, 198.51.100.7"].into_iter(),
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            resolve(
                ip("10.0.0.1"),
                ["6.6.6.6, 198.51.100.7, 10.1.1.1"].into_iter(),
                &trusted
            ),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn a_chain_of_only_proxies_or_garbage_falls_back_to_the_last_proxy() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            resolve(ip("10.0.0.1"), std::iter::empty(), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            resolve(ip("10.0.0.1"), ["10.2.2.2"].into_iter(), &trusted),
            ip("10.2.2.2")
        );
        assert_eq!(
            resolve(ip("10.0.0.1"), ["1.1.1.1, nonsense"].into_iter(), &trusted),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn a_proxy_field_after_the_clients_own_field_is_read_with_it() {
        let trusted = nets(&["127.0.0.1/32"]);
        // The client wrote one field, HAProxy added another with the address it saw.
        assert_eq!(
            resolve(
                ip("127.0.0.1"),
                ["1.2.3.4", "198.51.100.7"].into_iter(),
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            resolve(
                ip("127.0.0.1"),
                ["1.2.3.4, 5.6.7.8", "127.0.0.1"].into_iter(),
                &trusted
            ),
            ip("5.6.7.8")
        );
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_ranges() {
        let trusted = nets(&["127.0.0.1/32"]);
        assert_eq!(
            resolve(ip("::ffff:127.0.0.1"), ["192.0.2.1"].into_iter(), &trusted),
            ip("192.0.2.1")
        );
    }
}
