//! What every request meets before its handler, and every answer after
//! it: the `Host` check that stops DNS rebinding, and `Cache-Control`.
//!
//! DNS rebinding: a page on `evil.example` has its name point at
//! 127.0.0.1 once loaded; the browser then treats the dashboard as that
//! page's own origin and lets it read every prompt, diff and log. The
//! request still says `Host: evil.example:PORT`, so a request is served
//! only when its `Host` is a name no one else can point here: `localhost`,
//! a loopback address, or the address colony is bound to, with the bound
//! port. Bound to 0.0.0.0 or `::`, any address literal is accepted too:
//! the machine's addresses come and go (DHCP, a VPN), and an address,
//! unlike a name, cannot be rebound. A request without `Host` (HTTP/1.0)
//! is served: every browser sends one, and rebinding needs a browser.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, HOST};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::WebError;

/// The names this server answers to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hosts {
    bound: SocketAddr,
}

impl Hosts {
    pub(crate) fn new(bound: SocketAddr) -> Hosts {
        Hosts { bound }
    }

    /// Whether `authority` (`host[:port]`, as `Host` carries it and
    /// `Origin` after its scheme) names this server.
    pub(crate) fn allows(&self, authority: &str) -> bool {
        let Some((host, port)) = split(authority) else { return false };
        if port != self.bound.port() {
            return false;
        }
        let ip = match host {
            Host::Name(name) => return name.eq_ignore_ascii_case("localhost"),
            Host::Ip(ip) => ip.to_canonical(),
        };
        let bound = self.bound.ip().to_canonical();
        ip.is_loopback() || ip == bound || bound.is_unspecified()
    }
}

/// The host part of an authority.
#[derive(Debug, PartialEq)]
enum Host<'a> {
    Name(&'a str),
    Ip(IpAddr),
}

/// `localhost:8765`, `127.0.0.1`, `[::1]:8765` into host and port; no port
/// means 80, as a browser leaves it out there. An IPv6 address needs its
/// brackets; anything else malformed is `None`.
fn split(authority: &str) -> Option<(Host<'_>, u16)> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let (v6, after) = rest.split_once(']')?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':')?),
            };
            (Host::Ip(IpAddr::V6(v6.parse().ok()?)), port)
        }
        None => {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            if host.is_empty() {
                return None;
            }
            match host.parse::<IpAddr>() {
                Ok(ip) => (Host::Ip(ip), port),
                Err(_) => (Host::Name(host), port),
            }
        }
    };
    let port = match port {
        None => 80,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
        Some(_) => return None,
    };
    Some((host, port))
}

/// Refuses a request whose `Host` is not this server's (421), and marks
/// every answer but the page's own files `no-store`: the API's answers
/// hold prompts, diffs and logs, which have no business in a disk cache.
pub(crate) async fn guard(State(hosts): State<Hosts>, request: Request, next: Next) -> Response {
    let given: Vec<&HeaderValue> = request.headers().get_all(HOST).iter().collect();
    let refused = match given.as_slice() {
        [] => false,
        [one] => !one.to_str().is_ok_and(|h| hosts.allows(h)),
        _ => true,
    };
    let api = request.uri().path().starts_with("/api/");
    let mut response = if refused {
        let host = given.iter().map(|h| String::from_utf8_lossy(h.as_bytes())).collect::<Vec<_>>().join(", ");
        WebError::UnknownHost { host, bound: hosts.bound }.into_response()
    } else {
        next.run(request).await
    };
    let no_store = HeaderValue::from_static("no-store");
    if api {
        response.headers_mut().insert(CACHE_CONTROL, no_store);
    } else {
        response.headers_mut().entry(CACHE_CONTROL).or_insert(no_store);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(bound: &str) -> Hosts {
        Hosts::new(bound.parse().unwrap())
    }

    #[test]
    fn on_loopback_only_loopback_names_with_the_port() {
        let h = hosts("127.0.0.1:8765");
        for ok in ["127.0.0.1:8765", "localhost:8765", "LocalHost:8765", "[::1]:8765", "127.0.0.2:8765"] {
            assert!(h.allows(ok), "{ok}");
        }
        for refused in [
            "evil.example:8765",
            "localhost.evil.example:8765",
            "127.0.0.1.nip.io:8765",
            "127.0.0.1:8766",
            "localhost",
            "10.0.0.5:8765",
            "::1:8765",
            "[::1]8765",
            "[127.0.0.1]:8765",
            "127.0.0.1:+8765",
            "127.0.0.1:",
            ":8765",
            "",
        ] {
            assert!(!h.allows(refused), "{refused}");
        }
    }

    #[test]
    fn port_80_may_be_left_out() {
        let h = hosts("127.0.0.1:80");
        assert!(h.allows("localhost") && h.allows("[::1]") && h.allows("127.0.0.1:80"));
        assert!(!h.allows("evil.example"));
    }

    #[test]
    fn a_configured_address_is_accepted_beside_loopback() {
        let h = hosts("192.168.1.5:8765");
        assert!(h.allows("192.168.1.5:8765") && h.allows("localhost:8765"));
        assert!(!h.allows("192.168.1.6:8765") && !h.allows("buildbox.lan:8765"));
        let v6 = hosts("[fd00::5]:8765");
        assert!(v6.allows("[fd00::5]:8765") && v6.allows("[FD00:0::5]:8765"));
        assert!(!v6.allows("[fd00::6]:8765"));
    }

    #[test]
    fn bound_to_every_address_any_address_literal_but_no_other_name() {
        for bound in ["0.0.0.0:8765", "[::]:8765"] {
            let h = hosts(bound);
            for ok in ["0.0.0.0:8765", "10.1.2.3:8765", "[fe80::1]:8765", "[::ffff:10.1.2.3]:8765", "localhost:8765"] {
                assert!(h.allows(ok), "{bound}: {ok}");
            }
            assert!(!h.allows("evil.example:8765") && !h.allows("10.1.2.3:1"), "{bound}");
        }
    }
}
