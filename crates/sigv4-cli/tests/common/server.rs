//! A small loopback HTTP(S) server that records what it receives and answers through a handler;
//! and signature checks with `sigv4_core::verify`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sigv4_core::verify::{SignedRequest, Verified, VerifyError, VerifySettings};
use sigv4_core::{Credentials, Payload, Signer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    /// Checks the request's SigV4 signature with `credentials`, for `region`/`service`.
    pub fn verify(
        &self,
        credentials: &Credentials,
        region: &str,
        service: &str,
    ) -> Result<Verified, VerifyError> {
        let claimed = SignedRequest::parse(&self.uri, &self.headers)?;
        let mut settings = VerifySettings::default();
        settings.region = Some(region.to_owned());
        settings.service = Some(service.to_owned());
        Signer::new().verify(
            sigv4_core::RequestHead::new(&self.method, &self.uri, &self.headers),
            &claimed,
            Payload::Bytes(&self.body),
            &sigv4_core::verify::VerifyParams::new(credentials, SystemTime::now(), &settings),
        )
    }
}

type Handler = Arc<dyn Fn(&Recorded) -> Response<Full<Bytes>> + Send + Sync>;

/// A running server; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    https: bool,
    log: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Serves plain HTTP on `ip:0`.
    pub async fn http(
        ip: &str,
        handler: impl Fn(&Recorded) -> Response<Full<Bytes>> + Send + Sync + 'static,
    ) -> Server {
        Self::start(ip, None, Arc::new(handler)).await
    }

    /// Serves HTTPS on `127.0.0.1:0` with `tls`.
    pub async fn https(
        tls: TlsAcceptor,
        handler: impl Fn(&Recorded) -> Response<Full<Bytes>> + Send + Sync + 'static,
    ) -> Server {
        Self::start("127.0.0.1", Some(tls), Arc::new(handler)).await
    }

    async fn start(ip: &str, tls: Option<TlsAcceptor>, handler: Handler) -> Server {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let https = tls.is_some();
        let task = {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut connections = tokio::task::JoinSet::new();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (log, handler, tls) = (Arc::clone(&log), Arc::clone(&handler), tls.clone());
                    connections.spawn(async move {
                        let service = service_fn(move |request: Request<Incoming>| {
                            let (log, handler) = (Arc::clone(&log), Arc::clone(&handler));
                            async move {
                                let (parts, body) = request.into_parts();
                                let body = body.collect().await.map(|b| b.to_bytes());
                                let recorded = Recorded {
                                    method: parts.method,
                                    uri: parts.uri,
                                    headers: parts.headers,
                                    body: body.unwrap_or_default(),
                                };
                                let response = handler(&recorded);
                                log.lock().unwrap().push(recorded);
                                Ok::<_, Infallible>(response)
                            }
                        });
                        let http = hyper::server::conn::http1::Builder::new();
                        match tls {
                            Some(tls) => {
                                if let Ok(stream) = tls.accept(stream).await {
                                    let _ =
                                        http.serve_connection(TokioIo::new(stream), service).await;
                                }
                            }
                            None => {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                    });
                }
            })
        };
        Server {
            addr,
            https,
            log,
            task,
        }
    }

    /// `http://ip:port` or `https://ip:port`.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }
}

/// A response with this status, body and headers.
pub fn respond(status: u16, body: &str, headers: &[(&str, &str)]) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    for (name, value) in headers {
        response.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    response
}

/// A self-signed certificate for `localhost` and `127.0.0.1`: the acceptor and the PEM.
pub fn self_signed() -> (TlsAcceptor, String) {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("server config");
    (TlsAcceptor::from(Arc::new(config)), certified.cert.pem())
}
