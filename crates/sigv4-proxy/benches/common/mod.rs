//! What the proxy benches share: the credentials, a loopback HTTP/1.1 upstream, and the proxy in
//! front of it (`sigv4_proxy::serve` on 127.0.0.1).

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use sigv4_core::Credentials;
use sigv4_proxy::{serve, SigningProxy};
use tokio::net::TcpListener;

/// Credentials with a session token as long as STS's.
pub fn credentials() -> Credentials {
    Credentials::builder("AKIDBENCH", "secret")
        .session_token("IQoJb3JpZ2luX2VjEXAMPLE".repeat(30))
        .build()
}

/// An HTTP/1.1 server on 127.0.0.1 answering every request with `handler`; its base URL.
pub async fn upstream<F, Fut, B>(handler: F) -> String
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(handler))
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

/// The signing proxy for `upstream` (region `us-east-1`, service `execute-api`), served on
/// 127.0.0.1; its base URL.
pub async fn proxy(upstream: &str) -> String {
    let proxy = SigningProxy::builder(credentials())
        .upstream(upstream)
        .region("us-east-1")
        .service("execute-api")
        .build(None)
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(
        listener,
        proxy,
        std::future::pending(),
        Duration::from_secs(1),
    ));
    url
}
