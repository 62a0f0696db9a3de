//! Session tokens: `PUT /latest/api/token` with a TTL, then checked on every metadata request.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use http_body_util::Full;

use super::service::{method_not_allowed, status_text, text, Shared};
use super::{MAX_TOKEN_TTL_SECONDS, TOKEN_TTL_HEADER};

const TOKEN_LEN: usize = 56;
const TOKEN_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl Shared {
    pub(super) fn issue_token(
        &self,
        method: &Method,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Response<Full<Bytes>> {
        if *method != Method::PUT {
            return method_not_allowed("PUT");
        }
        if headers.contains_key("x-forwarded-for") {
            return status_text(StatusCode::FORBIDDEN);
        }
        let Some(ttl) = headers
            .get(TOKEN_TTL_HEADER)
            .and_then(|v| parse_ttl(v.as_bytes()))
        else {
            return status_text(StatusCode::BAD_REQUEST);
        };
        let token = random_token();
        let expires = now.checked_add(Duration::from_secs(ttl)).unwrap_or(now);
        {
            let mut state = self.lock();
            state.tokens.retain(|_, expiry| now < *expiry);
            state.tokens.insert(token.clone(), expires);
        }
        let mut response = text(token);
        response
            .headers_mut()
            .insert(TOKEN_TTL_HEADER, HeaderValue::from(ttl));
        response
    }
}

/// `1..=21600`, digits only (no sign, no spaces inside; surrounding spaces are trimmed).
fn parse_ttl(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 5 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let ttl = value
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    (1..=MAX_TOKEN_TTL_SECONDS).contains(&ttl).then_some(ttl)
}

fn random_token() -> String {
    (0..TOKEN_LEN)
        .map(|_| {
            let i = fastrand::usize(..TOKEN_ALPHABET.len());
            char::from(TOKEN_ALPHABET[i])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_parsing() {
        assert_eq!(parse_ttl(b"21600"), Some(21_600));
        assert_eq!(parse_ttl(b"1"), Some(1));
        assert_eq!(parse_ttl(b" 60 "), Some(60));
        for bad in [
            &b""[..],
            b"0",
            b"21601",
            b"-1",
            b"+5",
            b"1e3",
            b"99999999999999999999999",
            b"6 0",
            b"\xff",
        ] {
            assert_eq!(parse_ttl(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tokens_are_opaque_and_distinct() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.len(), TOKEN_LEN);
        assert_ne!(a, b);
        assert!(HeaderValue::from_str(&a).is_ok());
    }
}
