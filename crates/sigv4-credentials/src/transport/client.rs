//! The HTTP/1.1 client under every credential source (IMDS, ECS / EKS Pod Identity, STS, and next
//! SSO and sign-in).
//!
//! `http://`, and `https://` through the workspace's one TLS setup ([`super::tls`], feature `tls`).
//! One connection per request (credential endpoints are called rarely: once per refresh), separate
//! connect and read timeouts built on `tokio::time` (so tests can run with paused time), and a cap
//! on the response body.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue, HOST};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Default cap on a response body: credential documents are well under 4 KiB.
pub(crate) const DEFAULT_MAX_BODY: usize = 64 * 1024;

/// What can go wrong talking to a credential endpoint.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    /// The URI is `https://` and this build has no TLS (the `tls` feature is off).
    #[cfg_attr(feature = "tls", allow(dead_code))]
    #[error("https endpoints need the `tls` feature of sigv4-credentials (`{uri}`); enable it or use an http:// endpoint")]
    HttpsUnsupported {
        /// The endpoint, without its query.
        uri: String,
    },
    /// The URI cannot be used (no host, unknown scheme).
    #[error("cannot use endpoint `{uri}`: {reason}")]
    BadUri {
        /// The endpoint.
        uri: String,
        /// Why.
        reason: &'static str,
    },
    /// The host name did not resolve, or the TCP connection failed (refused, unreachable...).
    #[error("could not connect to {authority}: {source}")]
    Connect {
        /// `host:port` tried.
        authority: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// No TCP connection within the connect timeout.
    #[error("no connection to {authority} within {after:?}")]
    ConnectTimeout {
        /// `host:port` tried.
        authority: String,
        /// The connect timeout.
        after: Duration,
    },
    /// Connected, but the full response did not arrive within the read timeout.
    #[error("connected to {authority} but got no complete response within {after:?}")]
    ReadTimeout {
        /// `host:port`.
        authority: String,
        /// The read timeout.
        after: Duration,
    },
    /// The TLS setup or handshake failed (no roots, certificate not trusted, ...).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    #[error("TLS with {authority} failed: {reason}")]
    Tls {
        /// `host:port`.
        authority: String,
        /// What rustls said.
        reason: String,
    },
    /// The HTTP exchange failed (connection reset, malformed response...).
    #[error("HTTP exchange with {authority} failed: {source}")]
    Protocol {
        /// `host:port`.
        authority: String,
        /// The hyper error.
        #[source]
        source: hyper::Error,
    },
    /// The response body exceeded the size cap.
    #[error("response from {authority} is larger than {limit} bytes")]
    TooLarge {
        /// `host:port`.
        authority: String,
        /// The cap.
        limit: usize,
    },
}

impl HttpError {
    /// True when another attempt may pass: no connection, a timeout, a broken exchange (not a bad
    /// URI, TLS, or an oversized answer).
    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self,
            HttpError::Connect { .. }
                | HttpError::ConnectTimeout { .. }
                | HttpError::ReadTimeout { .. }
                | HttpError::Protocol { .. }
        )
    }

    /// True when no connection could be made at all (refused, unreachable, connect timeout).
    pub(crate) fn is_connect(&self) -> bool {
        matches!(
            self,
            HttpError::Connect { .. } | HttpError::ConnectTimeout { .. }
        )
    }
}

/// A response: status, headers and the whole body.
#[derive(Clone)]
pub(crate) struct Response {
    /// The status code.
    pub(crate) status: StatusCode,
    /// The response headers.
    pub(crate) headers: HeaderMap,
    /// The body (at most the cap).
    pub(crate) body: Bytes,
}

impl fmt::Debug for Response {
    // The body may hold credentials: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// The client: timeouts, a body cap, the TLS configuration and connection overrides (all from
/// [`super::TransportOptions`]).
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    connect_timeout: Duration,
    read_timeout: Duration,
    max_body: usize,
    options: super::TransportOptions,
}

impl HttpClient {
    /// A client for these options.
    pub(crate) fn from_options(options: &super::TransportOptions) -> Self {
        Self {
            connect_timeout: options.connect_timeout,
            read_timeout: options.read_timeout,
            max_body: DEFAULT_MAX_BODY,
            options: options.clone(),
        }
    }

    /// The connect timeout.
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Sends one request, resolving the URI's host with the system resolver.
    pub(crate) async fn send(
        &self,
        method: Method,
        uri: &Uri,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Response, HttpError> {
        self.send_to(method, uri, None, headers, body).await
    }

    /// Sends one request; with `addrs`, connects to those addresses (already resolved and checked
    /// by the caller) instead of resolving the host again.
    pub(crate) async fn send_to(
        &self,
        method: Method,
        uri: &Uri,
        addrs: Option<&[SocketAddr]>,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Response, HttpError> {
        let mut target = Target::of(uri)?;
        let authority = target.authority.clone();
        let plaintext_to = self.options.plaintext_override(&target);
        if plaintext_to.is_some() {
            target.https = false;
        }
        #[cfg(not(feature = "tls"))]
        if target.https {
            return Err(HttpError::HttpsUnsupported {
                uri: target.display.clone(),
            });
        }

        let connect = async {
            match (plaintext_to, addrs) {
                (Some(addr), _) => connect_any(&[addr]).await,
                (None, Some(addrs)) => connect_any(addrs).await,
                (None, None) => connect_host(&target.host, target.port).await,
            }
        };
        let stream = match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => return Err(HttpError::Connect { authority, source }),
            Err(_) => {
                return Err(HttpError::ConnectTimeout {
                    authority,
                    after: self.connect_timeout,
                })
            }
        };
        let _ = stream.set_nodelay(true);

        let mut builder = Request::builder()
            .method(method)
            .uri(target.path_and_query.as_str());
        let has_host = headers.iter().any(|(name, _)| name == HOST);
        if !has_host {
            if let Ok(host) = HeaderValue::from_str(&target.host_header) {
                builder = builder.header(HOST, host);
            }
        }
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Full::new(body))
            .map_err(|_| HttpError::BadUri {
                uri: target.display.clone(),
                reason: "the request could not be built from it",
            })?;

        let authority = &target.authority;
        #[cfg(feature = "tls")]
        let work: ExchangeFuture<'_> = if target.https {
            let stream = self.tls_handshake(stream, &target).await?;
            Box::pin(exchange(stream, request, self.max_body, authority))
        } else {
            Box::pin(exchange(stream, request, self.max_body, authority))
        };
        #[cfg(not(feature = "tls"))]
        let work: ExchangeFuture<'_> =
            Box::pin(exchange(stream, request, self.max_body, authority));
        match tokio::time::timeout(self.read_timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(HttpError::ReadTimeout {
                authority: authority.clone(),
                after: self.read_timeout,
            }),
        }
    }

    /// The TLS handshake, bounded by the connect timeout.
    #[cfg(feature = "tls")]
    async fn tls_handshake(
        &self,
        stream: TcpStream,
        target: &Target,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, HttpError> {
        let tls_error = |reason: String| HttpError::Tls {
            authority: target.authority.clone(),
            reason,
        };
        let config = match &self.options.tls {
            Some(config) => std::sync::Arc::clone(config),
            None => super::tls::default_client_config().map_err(|e| tls_error(e.to_string()))?,
        };
        let name = super::tls::server_name(&target.host)
            .ok_or_else(|| tls_error(format!("`{}` is not a valid server name", target.host)))?;
        let connector = tokio_rustls::TlsConnector::from(config);
        match tokio::time::timeout(self.connect_timeout, connector.connect(name, stream)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => {
                let detail = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .map(|tls| tls.to_string())
                    .unwrap_or_else(|| e.to_string());
                Err(tls_error(detail))
            }
            Err(_) => Err(HttpError::ConnectTimeout {
                authority: target.authority.clone(),
                after: self.connect_timeout,
            }),
        }
    }
}

type ExchangeFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, HttpError>> + Send + 'a>>;

/// The pieces of an `http://` or `https://` URI the client needs.
#[derive(Debug)]
pub(crate) struct Target {
    /// The scheme is `https`.
    pub(crate) https: bool,
    /// The host, without IPv6 brackets.
    pub(crate) host: String,
    /// The port (the scheme's default when the URI has none).
    pub(crate) port: u16,
    /// `host:port` (brackets around IPv6), for connecting and for messages.
    pub(crate) authority: String,
    /// The `Host` header: the URI's authority without user info, default port left out.
    host_header: String,
    path_and_query: String,
    display: String,
}

impl Target {
    pub(crate) fn of(uri: &Uri) -> Result<Self, HttpError> {
        let display = format!(
            "{}://{}{}",
            uri.scheme_str().unwrap_or(""),
            uri.host().unwrap_or(""),
            uri.path()
        );
        let https = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            _ => {
                return Err(HttpError::BadUri {
                    uri: display,
                    reason: "only http:// and https:// URIs are supported",
                })
            }
        };
        let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
            return Err(HttpError::BadUri {
                uri: display,
                reason: "the URI has no host",
            });
        };
        let host = strip_brackets(host).to_owned();
        let default_port = if https { 443 } else { 80 };
        let port = uri.port_u16().unwrap_or(default_port);
        let bracketed = match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{host}]"),
            _ => host.clone(),
        };
        let authority = format!("{bracketed}:{port}");
        let host_header = if port == default_port {
            bracketed
        } else {
            authority.clone()
        };
        let path_and_query = uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or("/")
            .to_owned();
        Ok(Self {
            https,
            host,
            port,
            authority,
            host_header,
            path_and_query,
            display,
        })
    }
}

/// `[fd00:ec2::254]` -> `fd00:ec2::254`.
pub(crate) fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

async fn connect_host(host: &str, port: u16) -> io::Result<TcpStream> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return TcpStream::connect(SocketAddr::new(ip, port)).await;
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    connect_any(&addrs).await
}

async fn connect_any(addrs: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address to connect to")))
}

/// Runs one request/response on a fresh connection, driving the connection in the same task (no
/// spawned task outlives the call).
async fn exchange<S>(
    stream: S,
    request: Request<Full<Bytes>>,
    max_body: usize,
    authority: &str,
) -> Result<Response, HttpError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let protocol = |source| HttpError::Protocol {
        authority: authority.to_owned(),
        source,
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(protocol)?;
    let mut conn = std::pin::pin!(conn);
    let work = async {
        let response = sender.send_request(request).await.map_err(protocol)?;
        let (parts, mut body) = response.into_parts();
        let too_large = || HttpError::TooLarge {
            authority: authority.to_owned(),
            limit: max_body,
        };
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > max_body as u64) {
            return Err(too_large());
        }
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(protocol)?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > max_body {
                    return Err(too_large());
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body: buf.freeze(),
        })
    };
    let mut work = std::pin::pin!(work);
    let mut conn_done = false;
    loop {
        tokio::select! {
            biased;
            result = &mut work => return result,
            result = &mut conn, if !conn_done => {
                conn_done = true;
                if let Err(source) = result {
                    return Err(protocol(source));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_targets_default_to_443_and_leave_it_out_of_host() {
        let uri: Uri = "https://sts.us-east-1.amazonaws.com/".parse().unwrap();
        let target = Target::of(&uri).unwrap();
        assert!(target.https);
        assert_eq!(target.port, 443);
        assert_eq!(target.authority, "sts.us-east-1.amazonaws.com:443");
        assert_eq!(target.host_header, "sts.us-east-1.amazonaws.com");
    }

    #[test]
    fn other_schemes_are_refused() {
        let uri: Uri = "ftp://example.com/creds".parse().unwrap();
        assert!(matches!(Target::of(&uri), Err(HttpError::BadUri { .. })));
    }

    #[test]
    fn ipv6_hosts_lose_their_brackets() {
        let uri: Uri = "http://[fd00:ec2::254]/latest/api/token".parse().unwrap();
        let target = Target::of(&uri).unwrap();
        assert_eq!(target.host, "fd00:ec2::254");
        assert_eq!(target.port, 80);
        assert_eq!(target.authority, "[fd00:ec2::254]:80");
        assert_eq!(target.path_and_query, "/latest/api/token");
    }

    #[test]
    fn empty_path_becomes_slash() {
        let uri: Uri = "http://127.0.0.1:8080".parse().unwrap();
        let target = Target::of(&uri).unwrap();
        assert_eq!(target.path_and_query, "/");
        assert_eq!(target.authority, "127.0.0.1:8080");
        assert_eq!(target.host_header, "127.0.0.1:8080");
    }
}
