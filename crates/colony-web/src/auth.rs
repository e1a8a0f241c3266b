//! Who may change things: a request carrying colony's token, sent from the
//! dashboard's own origin (or from no browser at all).

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE, ORIGIN};

use crate::error::WebError;
use crate::guard::Hosts;
use crate::token::{self, Token};

/// Allows a mutation, or says why not. A browser names the page that sent
/// a request in `Origin`; a page that is not this server's (under any of
/// the names [`Hosts`] accepts) is refused even with the cookie (which
/// `SameSite=Strict` already keeps from it).
pub(crate) fn authorize(headers: &HeaderMap, token: &Token, hosts: &Hosts) -> Result<(), WebError> {
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
        if !origin.strip_prefix("http://").is_some_and(|authority| hosts.allows(authority)) {
            return Err(WebError::CrossOrigin { origin });
        }
    }
    if has_token(headers, token) { Ok(()) } else { Err(WebError::Unauthorized) }
}

/// The request carries the token, as a bearer token or the page's cookie.
pub(crate) fn has_token(headers: &HeaderMap, token: &Token) -> bool {
    let bearer =
        headers.get_all(AUTHORIZATION).iter().filter_map(|v| v.to_str().ok()?.strip_prefix("Bearer ").map(str::trim));
    let cookies = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';').filter_map(|pair| pair.trim().strip_prefix(token::COOKIE)?.strip_prefix('=')));
    let mut found = false;
    // Every candidate is compared, so the time taken says nothing.
    for given in bearer.chain(cookies) {
        found |= token.matches(given);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use axum::http::header::HOST;

    fn headers(pairs: &[(axum::http::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn bearer_or_cookie_from_the_same_origin() {
        let dir = tempfile::tempdir().unwrap();
        let t = Token::load_or_create(dir.path()).unwrap();
        let hosts = Hosts::new("127.0.0.1:1".parse().unwrap());
        let authorize = |h: &HeaderMap, t: &Token| authorize(h, t, &hosts);
        let bearer = format!("Bearer {}", t.as_str());
        let cookie = format!("theme=dark; colony_token={}", t.as_str());
        assert!(authorize(&headers(&[(AUTHORIZATION, &bearer)]), &t).is_ok());
        assert!(
            authorize(&headers(&[(COOKIE, &cookie), (HOST, "127.0.0.1:1"), (ORIGIN, "http://127.0.0.1:1")]), &t)
                .is_ok()
        );
        assert!(matches!(authorize(&headers(&[]), &t), Err(WebError::Unauthorized)));
        assert!(matches!(authorize(&headers(&[(AUTHORIZATION, "Bearer nope")]), &t), Err(WebError::Unauthorized)));
        assert!(matches!(authorize(&headers(&[(COOKIE, "colony_token_x=1")]), &t), Err(WebError::Unauthorized)));
        let other = headers(&[(AUTHORIZATION, &bearer), (HOST, "127.0.0.1:1"), (ORIGIN, "http://evil.example")]);
        assert!(matches!(authorize(&other, &t), Err(WebError::CrossOrigin { .. })));
        let localhost = headers(&[(AUTHORIZATION, &bearer), (HOST, "127.0.0.1:1"), (ORIGIN, "http://localhost:1")]);
        assert!(authorize(&localhost, &t).is_ok(), "localhost names this server too");
        let port = headers(&[(AUTHORIZATION, &bearer), (ORIGIN, "http://127.0.0.1:2")]);
        assert!(matches!(authorize(&port, &t), Err(WebError::CrossOrigin { .. })));
        assert!(matches!(
            authorize(&headers(&[(AUTHORIZATION, &bearer), (ORIGIN, "null")]), &t),
            Err(WebError::CrossOrigin { .. })
        ));
    }
}
