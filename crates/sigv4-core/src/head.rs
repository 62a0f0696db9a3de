//! [`RequestHead`]: the parts of a request that signing and verifying read.

use http::{HeaderMap, Method, Request, Uri};

/// A borrowed request head: the method, URI and headers that go into the canonical request.
/// Signing ([`Signer::sign`](crate::Signer::sign), [`Signer::inspect`](crate::Signer::inspect))
/// and verifying ([`Signer::verify`](crate::Signer::verify)) take one, so the body can stay
/// wherever it is (a stream, a buffer, nowhere).
///
/// ```
/// use sigv4_core::RequestHead;
///
/// let request = http::Request::get("https://example.com/a?b=c").body(()).unwrap();
/// let head = RequestHead::from(&request);
/// assert_eq!(head.uri.path(), "/a");
/// let (parts, ()) = request.into_parts();
/// assert_eq!(RequestHead::from(&parts).method, http::Method::GET);
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RequestHead<'a> {
    /// The method.
    pub method: &'a Method,
    /// The URI as sent (its path and query are canonicalized; its host is signed when the
    /// headers have no `Host`).
    pub uri: &'a Uri,
    /// The headers as sent.
    pub headers: &'a HeaderMap,
}

impl<'a> RequestHead<'a> {
    /// A head from its three parts.
    pub fn new(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        Self {
            method,
            uri,
            headers,
        }
    }
}

impl<'a, B> From<&'a Request<B>> for RequestHead<'a> {
    fn from(request: &'a Request<B>) -> Self {
        Self::new(request.method(), request.uri(), request.headers())
    }
}

impl<'a> From<&'a http::request::Parts> for RequestHead<'a> {
    fn from(parts: &'a http::request::Parts) -> Self {
        Self::new(&parts.method, &parts.uri, &parts.headers)
    }
}
