//! Routes: which upstream a request path goes to, and how that upstream is signed for.

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Uri};

use crate::ProxyError;

/// One `PREFIX=UPSTREAM` route, as given (see [`SigningProxyBuilder::route`]).
///
/// [`SigningProxyBuilder::route`]: crate::SigningProxyBuilder::route
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// The path prefix, starting with `/`; matched on whole segments (`/api` matches `/api` and
    /// `/api/x`, not `/apix`).
    pub prefix: String,
    /// The upstream URL: `http(s)://host[:port][/base]`.
    pub upstream: String,
}

impl RouteSpec {
    /// Parses `PREFIX=UPSTREAM` (`/orders=https://abc.execute-api.eu-west-1.amazonaws.com/prod`).
    ///
    /// ```
    /// use sigv4_proxy::RouteSpec;
    ///
    /// let route = RouteSpec::parse("/orders=https://abc.execute-api.eu-west-1.amazonaws.com").unwrap();
    /// assert_eq!(route.prefix, "/orders");
    /// assert!(RouteSpec::parse("https://no-prefix.example").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<RouteSpec, ProxyError> {
        let bad = |why: &str| ProxyError::Route {
            route: text.to_owned(),
            why: why.to_owned(),
        };
        let (prefix, upstream) = text
            .split_once('=')
            .ok_or_else(|| bad("give PREFIX=UPSTREAM, e.g. /api=https://host"))?;
        if !prefix.starts_with('/') {
            return Err(bad("the prefix must start with '/'"));
        }
        Ok(RouteSpec {
            prefix: prefix.to_owned(),
            upstream: upstream.to_owned(),
        })
    }
}

/// A checked upstream: where requests are sent, and the `Host` they are signed with.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
    /// The upstream URL's own path without a trailing `/` (empty for none).
    pub(crate) base: String,
    /// The `Host` sent and signed: the upstream's authority or `--sign-host`.
    pub(crate) host_header: HeaderValue,
}

impl Upstream {
    pub(crate) fn parse(text: &str, sign_host: Option<&str>) -> Result<Self, ProxyError> {
        let bad = |why: String| ProxyError::Upstream {
            upstream: text.to_owned(),
            why,
        };
        let uri: Uri = text
            .parse()
            .map_err(|e| bad(format!("not a valid URL ({e})")))?;
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::HTTP,
            Some("https") => Scheme::HTTPS,
            _ => {
                return Err(bad(
                    "only http:// and https:// upstreams are supported".into()
                ))
            }
        };
        let authority = uri
            .authority()
            .filter(|a| !a.host().is_empty())
            .cloned()
            .ok_or_else(|| bad("no host".into()))?;
        if authority.as_str().contains('@') {
            return Err(bad("user:password@ is not supported".into()));
        }
        if uri.query().is_some() {
            return Err(bad("an upstream URL cannot carry a query".into()));
        }
        let base = uri.path().trim_end_matches('/').to_owned();
        let host = sign_host.unwrap_or(authority.as_str());
        let host_header = HeaderValue::from_str(host)
            .map_err(|_| bad(format!("{host:?} is not a valid Host header")))?;
        Ok(Self {
            scheme,
            authority,
            base,
            host_header,
        })
    }

    /// The URI to send `path_and_query` (the client's, byte for byte) to.
    pub(crate) fn uri_for(
        &self,
        path_and_query: Option<&PathAndQuery>,
    ) -> Result<Uri, http::Error> {
        let target = path_and_query.map_or("/", PathAndQuery::as_str);
        let path_and_query = if self.base.is_empty() {
            PathAndQuery::try_from(target)?
        } else {
            PathAndQuery::try_from(format!("{}{}", self.base, target))?
        };
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
    }
}

/// True when `path` is under `prefix`, on whole segments.
pub(crate) fn matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    let prefix = prefix.trim_end_matches('/');
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// The index of the longest prefix of `prefixes` that `path` is under.
pub(crate) fn longest_match<'a>(
    prefixes: impl Iterator<Item = &'a str>,
    path: &str,
) -> Option<usize> {
    prefixes
        .enumerate()
        .filter(|(_, prefix)| matches(prefix, path))
        .max_by_key(|(_, prefix)| prefix.trim_end_matches('/').len())
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments_and_the_longest_wins() {
        assert!(matches("/", "/anything"));
        assert!(matches("/api", "/api"));
        assert!(matches("/api", "/api/x"));
        assert!(matches("/api/", "/api/x"));
        assert!(!matches("/api", "/apix"));
        let prefixes = ["/", "/api", "/api/v2"];
        let pick = |path| longest_match(prefixes.iter().copied(), path);
        assert_eq!(pick("/api/v2/items"), Some(2));
        assert_eq!(pick("/api/v1/items"), Some(1));
        assert_eq!(pick("/other"), Some(0));
        assert_eq!(longest_match(["/a"].into_iter(), "/b"), None);
    }

    #[test]
    fn upstream_uris_keep_the_client_target_byte_for_byte() {
        let up = Upstream::parse(
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod/",
            None,
        )
        .unwrap();
        let target = PathAndQuery::from_static("/items/a%2Fb?x=%20y&b=c+d&empty=");
        assert_eq!(
            up.uri_for(Some(&target)).unwrap().to_string(),
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod/items/a%2Fb?x=%20y&b=c+d&empty="
        );
        assert_eq!(up.host_header, "abc.execute-api.eu-west-1.amazonaws.com");
        let up = Upstream::parse("http://127.0.0.1:9/", Some("api.internal")).unwrap();
        assert_eq!(up.uri_for(None).unwrap().to_string(), "http://127.0.0.1:9/");
        assert_eq!(up.host_header, "api.internal");
        for bad in ["ftp://x/", "/relative", "https://u:p@x/", "https://x/?q=1"] {
            assert!(Upstream::parse(bad, None).is_err(), "{bad}");
        }
    }
}
