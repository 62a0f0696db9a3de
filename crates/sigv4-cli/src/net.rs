//! Sending one request: TCP (directly or through an HTTP proxy), TLS with rustls, HTTP/1.1
//! with hyper. One connection per request: `sigv4 curl` sends one request per hop.

use std::fmt;
use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, HOST, PROXY_AUTHORIZATION};
use http::uri::{PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use sigv4_credentials::tls::rustls::pki_types::ServerName;
use sigv4_credentials::tls::rustls::{self, ClientConfig};
use sigv4_credentials::tls::{tokio_rustls, TlsError, TlsSettings};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::error::CliError;

/// The body of a request `sigv4 curl` sends: bytes in memory (`-d`), or a file streamed from
/// disk (`-T`).
pub(crate) type RequestBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// A body of bytes already in memory.
pub(crate) fn full_body(bytes: Bytes) -> RequestBody {
    use http_body_util::BodyExt as _;
    http_body_util::Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// How long to wait for a TCP connection (the proxy's or the server's).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// TLS options from the command line.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsOptions {
    /// `-k`: accept any certificate.
    pub(crate) insecure: bool,
    /// `--cacert FILE`: more trusted roots, PEM.
    pub(crate) cacert: Option<String>,
}

/// Sends requests; holds the proxy settings and the TLS configuration (built on first use).
pub(crate) struct Transport {
    proxy: Matcher,
    tls_options: TlsOptions,
    tls: OnceLock<Arc<ClientConfig>>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The matcher's Debug may show proxy credentials.
        f.debug_struct("Transport")
            .field("tls_options", &self.tls_options)
            .finish_non_exhaustive()
    }
}

/// Where a URL points: scheme, host (without IPv6 brackets) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    /// `http` or `https`.
    pub(crate) https: bool,
    /// Lower-cased host, no brackets.
    pub(crate) host: String,
    /// The port, explicit or the scheme's default.
    pub(crate) port: u16,
}

impl Origin {
    /// The origin of an absolute `http`/`https` URL.
    pub(crate) fn of(uri: &Uri) -> Result<Origin, CliError> {
        let https = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            _ => {
                return Err(CliError::Usage(format!(
                    "URL {:?}: only http:// and https:// URLs can be sent",
                    crate::request::shorten(&uri.to_string(), 100)
                )))
            }
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| CliError::Usage(format!("URL {uri}: no host")))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Origin { https, host, port })
    }

    /// `host:port`, with brackets for IPv6.
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.authority())
    }
}

impl Transport {
    /// A transport with these TLS options and proxy settings.
    pub(crate) fn new(tls_options: TlsOptions, proxy: Matcher) -> Self {
        Self {
            proxy,
            tls_options,
            tls: OnceLock::new(),
        }
    }

    fn tls_config(&self) -> Result<Arc<ClientConfig>, CliError> {
        if let Some(config) = self.tls.get() {
            return Ok(Arc::clone(config));
        }
        let config = Arc::new(tls_config(&self.tls_options)?);
        Ok(Arc::clone(self.tls.get_or_init(|| config)))
    }

    /// Sends `request` (absolute URI, headers complete except `Host`, which is taken from the
    /// URI when absent) and gives the response, its body still to be read.
    pub(crate) async fn send(
        &self,
        request: Request<RequestBody>,
    ) -> Result<Response<Incoming>, CliError> {
        let origin = Origin::of(request.uri())?;
        let (mut parts, body) = request.into_parts();
        if !parts.headers.contains_key(HOST) {
            if let Some(authority) = parts.uri.authority() {
                let value = HeaderValue::from_str(authority.as_str())
                    .map_err(|_| CliError::Usage(format!("URL {}: bad host", parts.uri)))?;
                parts.headers.insert(HOST, value);
            }
        }
        let proxy = self.proxy.intercept(&parts.uri);
        let proxy = match proxy {
            None => None,
            Some(intercept) => {
                let proxy_uri = intercept.uri().clone();
                if proxy_uri.scheme() != Some(&Scheme::HTTP) {
                    return Err(CliError::Network(format!(
                        "the proxy {} for {origin} is not supported: only http:// proxies are \
                         (check HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, or set NO_PROXY)",
                        without_userinfo(&proxy_uri)
                    )));
                }
                Some((Origin::of(&proxy_uri)?, intercept.basic_auth().cloned()))
            }
        };

        let target = match &proxy {
            None => &origin,
            Some((proxy_origin, _)) => proxy_origin,
        };
        let tcp = connect(target).await?;
        if !origin.https {
            match proxy {
                // Absolute-form request line to the proxy.
                Some((_, auth)) => {
                    if let Some(auth) = auth {
                        parts.headers.insert(PROXY_AUTHORIZATION, auth);
                    }
                }
                None => parts.uri = origin_form(&parts.uri),
            }
            return exchange(tcp, Request::from_parts(parts, body), &origin).await;
        }
        let tcp = match proxy {
            Some((proxy_origin, auth)) => {
                tunnel(tcp, &origin, &proxy_origin, auth.as_ref()).await?
            }
            None => tcp,
        };
        let server_name = ServerName::try_from(origin.host.clone()).map_err(|_| {
            CliError::Usage(format!("{:?} is not a valid TLS server name", origin.host))
        })?;
        let connector = TlsConnector::from(self.tls_config()?);
        let tls = connector
            .connect(server_name, tcp)
            .await
            .map_err(|e| tls_error(&origin, &e))?;
        parts.uri = origin_form(&parts.uri);
        exchange(tls, Request::from_parts(parts, body), &origin).await
    }
}

/// The URI without any `user:password@`.
fn without_userinfo(uri: &Uri) -> String {
    let text = uri.to_string();
    match (text.find("://"), text.find('@')) {
        (Some(start), Some(at)) if at > start => {
            format!("{}{}", &text[..start + 3], &text[at + 1..])
        }
        _ => text,
    }
}

/// `/path?query` for the request line.
fn origin_form(uri: &Uri) -> Uri {
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Uri::from(path)
}

async fn connect(origin: &Origin) -> Result<TcpStream, CliError> {
    let address = (origin.host.as_str(), origin.port);
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(e)) => Err(CliError::Network(format!(
            "cannot connect to {}: {e}",
            origin.authority()
        ))),
        Err(_) => Err(CliError::Network(format!(
            "cannot connect to {}: no answer within {} s",
            origin.authority(),
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// Opens a CONNECT tunnel through an HTTP proxy.
async fn tunnel(
    mut tcp: TcpStream,
    origin: &Origin,
    proxy: &Origin,
    auth: Option<&HeaderValue>,
) -> Result<TcpStream, CliError> {
    let authority = origin.authority();
    let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
    if let Some(auth) = auth {
        head.extend_from_slice(b"Proxy-Authorization: ");
        head.extend_from_slice(auth.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let failed = |what: String| {
        CliError::Network(format!(
            "the proxy {proxy} did not open a tunnel to {authority}: {what}"
        ))
    };
    tcp.write_all(&head)
        .await
        .map_err(|e| failed(e.to_string()))?;
    // The proxy sends nothing after its answer until we speak: read up to the blank line.
    let mut answer = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    loop {
        let n = tcp
            .read(&mut buf)
            .await
            .map_err(|e| failed(e.to_string()))?;
        if n == 0 {
            return Err(failed("the connection was closed".to_owned()));
        }
        answer.extend_from_slice(&buf[..n]);
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            if end + 4 != answer.len() {
                return Err(failed("unexpected bytes after its answer".to_owned()));
            }
            break;
        }
        if answer.len() > 16 * 1024 {
            return Err(failed("its answer is too long".to_owned()));
        }
    }
    let status_line = answer
        .split(|&b| b == b'\n')
        .next()
        .map(|l| String::from_utf8_lossy(l).trim().to_owned())
        .unwrap_or_default();
    let code = status_line.split_whitespace().nth(1).unwrap_or("");
    if code.len() == 3 && code.starts_with('2') {
        Ok(tcp)
    } else {
        Err(failed(format!("it answered {status_line:?}")))
    }
}

/// Sends the request over `stream` and gives the response head; the connection keeps being
/// driven in the background while the body is read.
async fn exchange<S>(
    stream: S,
    request: Request<RequestBody>,
    origin: &Origin,
) -> Result<Response<Incoming>, CliError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let broken = |e: hyper::Error| CliError::Network(format!("{origin}: {}", hyper_error(&e)));
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(broken)?;
    tokio::spawn(async move {
        // Errors surface through the response or its body.
        let _ = connection.await;
    });
    sender.send_request(request).await.map_err(broken)
}

/// A hyper error with its causes, on one line.
pub(crate) fn hyper_error(e: &hyper::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn tls_error(origin: &Origin, e: &io::Error) -> CliError {
    let detail = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .map(|tls| tls.to_string())
        .unwrap_or_else(|| e.to_string());
    let hint = if detail.contains("certificate") {
        " (pass --cacert FILE to trust the server's CA; -k skips the check, dangerously)"
    } else {
        ""
    };
    CliError::Network(format!(
        "TLS handshake with {} failed: {detail}{hint}",
        origin.authority()
    ))
}

/// The rustls client configuration for these options: the workspace's one TLS setup
/// (`sigv4_credentials::tls`), with `--cacert` roots added and `-k` honoured.
pub(crate) fn tls_config(options: &TlsOptions) -> Result<ClientConfig, CliError> {
    let mut settings = TlsSettings::default().danger_accept_any_certificate(options.insecure);
    if let Some(path) = &options.cacert {
        settings = settings
            .extra_roots_from_pem_file(path)
            .map_err(|e| CliError::Usage(format!("--cacert: {e}")))?;
    }
    sigv4_credentials::tls::client_config(&settings).map_err(|e| match e {
        TlsError::NoRoots => CliError::Network(format!("{e} (or pass --cacert FILE)")),
        other => CliError::Network(other.to_string()),
    })
}

/// The proxy settings of an environment (`lookup` reads a variable), as curl reads them.
pub(crate) fn proxy_matcher(lookup: impl Fn(&str) -> Option<String>) -> Matcher {
    let first = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| lookup(n).filter(|v| !v.is_empty()))
            .unwrap_or_default()
    };
    // In a CGI script (REQUEST_METHOD set), HTTP_PROXY comes from a request header: not read.
    let http = if lookup("REQUEST_METHOD").is_some() {
        first(&["http_proxy"])
    } else {
        first(&["HTTP_PROXY", "http_proxy"])
    };
    Matcher::builder()
        .all(first(&["ALL_PROXY", "all_proxy"]))
        .https(first(&["HTTPS_PROXY", "https_proxy"]))
        .http(http)
        .no(first(&["NO_PROXY", "no_proxy"]))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_env::env_of as env;

    #[test]
    fn origins() {
        let o = Origin::of(&"https://Example.COM/x".parse().unwrap()).unwrap();
        assert_eq!(
            (o.https, o.host.as_str(), o.port),
            (true, "example.com", 443)
        );
        let o = Origin::of(&"http://[::1]:8080/".parse().unwrap()).unwrap();
        assert_eq!((o.host.as_str(), o.port), ("::1", 8080));
        assert_eq!(o.to_string(), "http://[::1]:8080");
        assert_eq!(
            Origin::of(&"ftp://a/".parse().unwrap())
                .unwrap_err()
                .exit_code(),
            2
        );
        assert_eq!(
            Origin::of(&"/relative".parse().unwrap())
                .unwrap_err()
                .exit_code(),
            2
        );
    }

    #[test]
    fn proxies_from_the_environment() {
        let m = proxy_matcher(env(&[
            ("HTTPS_PROXY", "http://user:pw@proxy.test:3128"),
            ("NO_PROXY", "internal.test,.corp.test"),
        ]));
        let i = m
            .intercept(&"https://api.example.com/".parse().unwrap())
            .unwrap();
        assert_eq!(i.uri().host(), Some("proxy.test"));
        assert!(i.basic_auth().is_some());
        assert!(m
            .intercept(&"http://api.example.com/".parse().unwrap())
            .is_none());
        assert!(m
            .intercept(&"https://internal.test/".parse().unwrap())
            .is_none());
        assert!(m
            .intercept(&"https://x.corp.test/".parse().unwrap())
            .is_none());

        let m = proxy_matcher(env(&[("HTTP_PROXY", "http://p.test:1")]));
        assert!(m.intercept(&"http://a.test/".parse().unwrap()).is_some());
        let m = proxy_matcher(env(&[
            ("HTTP_PROXY", "http://cgi.test:1"),
            ("REQUEST_METHOD", "GET"),
        ]));
        assert!(m.intercept(&"http://a.test/".parse().unwrap()).is_none());
        let m = proxy_matcher(env(&[("http_proxy", "http://p.test:1")]));
        assert!(m.intercept(&"http://a.test/".parse().unwrap()).is_some());
        let m = proxy_matcher(env(&[("ALL_PROXY", "p.test:8080")]));
        assert!(m.intercept(&"https://a.test/".parse().unwrap()).is_some());
    }

    #[test]
    fn userinfo_is_not_shown() {
        let uri: Uri = "http://user:pw@proxy.test:3128/".parse().unwrap();
        assert_eq!(without_userinfo(&uri), "http://proxy.test:3128/");
    }

    #[test]
    fn cacert_errors_are_usage_errors() {
        let options = TlsOptions {
            insecure: false,
            cacert: Some("/nonexistent/ca.pem".to_owned()),
        };
        assert_eq!(tls_config(&options).unwrap_err().exit_code(), 2);
    }
}
