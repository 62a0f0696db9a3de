//! The loopback HTTP/1.1 server under every emulator: bind `127.0.0.1:0`, accept, serve each
//! connection on its own task, and close everything when dropped.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, DATE};
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sigv4_core::time::format_http_date;
use sigv4_core::SharedTimeSource;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A running server. Dropping it stops accepting and closes every open connection (requests
/// held by a hang fault included): the accept task owns the connection tasks in a `JoinSet`, so
/// aborting it aborts them all.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    accept_task: JoinHandle<()>,
}

impl Server {
    /// Binds `127.0.0.1:0` and serves every request with `handler` on the current tokio runtime.
    /// `name` labels the debug logs. A handler error closes the connection without an answer
    /// (see [`CloseConnection`]). Every answer carries a `Date` header from `clock` (the
    /// emulator's clock, not the machine's: a client that learns the server's time from `Date`,
    /// as the signing layer's clock-skew correction does, must see the emulated time).
    pub(crate) async fn start<H, Fut, E>(
        name: &'static str,
        clock: SharedTimeSource,
        handler: H,
    ) -> std::io::Result<Server>
    where
        H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Full<Bytes>>, E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + 'static,
    {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let dated = move |request: Request<Incoming>| {
            let answer = handler(request);
            let clock = Arc::clone(&clock);
            async move {
                let mut response = answer.await?;
                if !response.headers().contains_key(DATE) {
                    if let Ok(date) = HeaderValue::from_str(&format_http_date(clock.now())) {
                        response.headers_mut().insert(DATE, date);
                    }
                }
                Ok::<_, E>(response)
            }
        };
        let accept_task = tokio::spawn(accept_loop(name, listener, dated));
        Ok(Server { addr, accept_task })
    }

    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// What a `start` that panics makes of a `try_start`: the started value, or the panic its
/// `# Panics` section promises when no loopback port could be bound. `what` names the type.
pub(crate) fn listening<T>(what: &str, started: std::io::Result<T>) -> T {
    started.unwrap_or_else(|e| panic!("{what}: cannot listen on 127.0.0.1:0: {e}"))
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

async fn accept_loop<H, Fut, E>(name: &'static str, listener: TcpListener, handler: H)
where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Full<Bytes>>, E>> + Send + 'static,
    E: Into<Box<dyn StdError + Send + Sync>> + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(name, stream, handler.clone()));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "{name}: accept failed");
                    // E.g. out of file descriptors: do not spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection<H, Fut, E>(name: &'static str, stream: TcpStream, handler: H)
where
    H: Fn(Request<Incoming>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<Full<Bytes>>, E>> + Send + 'static,
    E: Into<Box<dyn StdError + Send + Sync>> + 'static,
{
    let _ = stream.set_nodelay(true);
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service_fn(handler))
        .await
    {
        tracing::debug!(error = %e, "{name}: connection ended with an error");
    }
}

/// Returned by a handler to make hyper drop the connection without an answer.
#[derive(Debug)]
pub(crate) struct CloseConnection;

impl fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection closed on purpose (a CloseConnection fault)")
    }
}

impl StdError for CloseConnection {}
