//! Which headers cross the proxy.

use std::net::IpAddr;

use http::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONNECTION, PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use sigv4_core::{X_AMZ_CONTENT_SHA256, X_AMZ_DATE, X_AMZ_SECURITY_TOKEN};

/// `X-Forwarded-For`.
pub(crate) static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Hop-by-hop headers (RFC 9110 §7.6.1, plus the old `keep-alive` and `proxy-connection`): they
/// describe one connection and are never forwarded, in either direction.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes the hop-by-hop headers, and every header the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        CONNECTION,
        PROXY_AUTHENTICATE,
        PROXY_AUTHORIZATION,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
        UPGRADE,
    ] {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// Prepares a client's headers for signing: no hop-by-hop header, and none of the signing
/// headers a client may have sent (its own `Authorization`, a stale `X-Amz-Date`, a session token
/// or payload hash of its own): the upstream sees only what the proxy signs.
pub(crate) fn strip_inbound(headers: &mut HeaderMap) {
    strip_hop_by_hop(headers);
    headers.remove(AUTHORIZATION);
    headers.remove(&X_AMZ_DATE);
    headers.remove(&X_AMZ_SECURITY_TOKEN);
    headers.remove(&X_AMZ_CONTENT_SHA256);
}

/// Appends the client's address to `X-Forwarded-For` (one header, comma-separated, as proxies
/// conventionally do).
pub(crate) fn add_forwarded_for(headers: &mut HeaderMap, client: IpAddr) {
    let mut list: Vec<String> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    list.push(client.to_string());
    if let Ok(value) = HeaderValue::from_str(&list.join(", ")) {
        headers.insert(X_FORWARDED_FOR.clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_and_hop_by_hop_headers_are_removed() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDCLIENT/...",
            ),
            ("x-amz-date", "20200101T000000Z"),
            ("x-amz-security-token", "client-token"),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("proxy-authorization", "Basic abc"),
            ("content-type", "application/json"),
            ("x-amz-target", "DynamoDB_20120810.GetItem"),
        ] {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        strip_inbound(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-type", "x-amz-target"]);
    }

    #[test]
    fn forwarded_for_is_appended() {
        let mut headers = HeaderMap::new();
        add_forwarded_for(&mut headers, "127.0.0.1".parse().unwrap());
        assert_eq!(headers[&X_FORWARDED_FOR], "127.0.0.1");
        add_forwarded_for(&mut headers, "::1".parse().unwrap());
        assert_eq!(headers[&X_FORWARDED_FOR], "127.0.0.1, ::1");
    }
}
