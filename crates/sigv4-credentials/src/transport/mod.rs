//! One transport under every credential source: an HTTP/1.1 client (TLS through
//! [`tls`](crate::tls), feature `tls`), one options struct ([`TransportOptions`]: timeouts,
//! attempts, backoff, TLS configuration) shared by the sources' builders, and one
//! retry-and-backoff helper.
//!
//! ```
//! use std::time::Duration;
//! use sigv4_credentials::{Imds, TransportOptions};
//!
//! let options = TransportOptions::new(Duration::from_secs(1), Duration::from_secs(2))
//!     .max_attempts(3)
//!     .initial_backoff(Duration::from_millis(50));
//! let imds = Imds::builder().transport(options).build();
//! # let _ = imds;
//! ```

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub(crate) mod client;
#[cfg(feature = "tls")]
pub mod tls;

pub(crate) use client::{HttpClient, HttpError, Response};

/// Timeouts, attempts and TLS for a source's HTTP calls. Every source builder takes one
/// ([`transport`](crate::imds::ImdsBuilder::transport)); each source starts from its own defaults (IMDS:
/// 1 s / 1 s, 4 attempts; containers: 2 s / 5 s, 3 attempts; STS: 3.1 s / 5 s, 3 attempts).
#[derive(Clone)]
pub struct TransportOptions {
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) initial_backoff: Duration,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Arc<tls::rustls::ClientConfig>>,
    plaintext: Arc<Vec<(String, SocketAddr)>>,
}

impl fmt::Debug for TransportOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TransportOptions");
        d.field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("initial_backoff", &self.initial_backoff);
        #[cfg(feature = "tls")]
        d.field("custom_tls", &self.tls.is_some());
        if !self.plaintext.is_empty() {
            d.field("plaintext_overrides", &self.plaintext);
        }
        d.finish()
    }
}

impl TransportOptions {
    /// Options with these timeouts, 3 attempts, a 100 ms first backoff and the default TLS setup.
    pub fn new(connect_timeout: Duration, read_timeout: Duration) -> Self {
        Self {
            connect_timeout,
            read_timeout,
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            #[cfg(feature = "tls")]
            tls: None,
            plaintext: Arc::new(Vec::new()),
        }
    }

    /// How long to wait for a TCP connection (and the TLS handshake).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for the whole response once connected.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Attempts per request, retrying transient failures (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first pause between attempts; it doubles each attempt (with jitter, capped at 2 s).
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The TLS configuration for `https://` endpoints (default:
    /// [`tls::default_client_config`]).
    #[cfg(feature = "tls")]
    pub fn tls_config(mut self, config: Arc<tls::rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Sends requests for `authority` (`host:port`, as in the URI, port included) to `addr` over
    /// plain HTTP, keeping the URI and `Host` header as they are. For replaying recorded `https://`
    /// traffic against a loopback server in tests; never use it to reach a real service.
    #[doc(hidden)]
    pub fn testing_plaintext_override(
        mut self,
        authority: impl Into<String>,
        addr: SocketAddr,
    ) -> Self {
        Arc::make_mut(&mut self.plaintext).push((authority.into().to_ascii_lowercase(), addr));
        self
    }

    pub(crate) fn plaintext_override(&self, target: &client::Target) -> Option<SocketAddr> {
        let wanted = target.authority.to_ascii_lowercase();
        self.plaintext
            .iter()
            .find(|(authority, _)| *authority == wanted)
            .map(|(_, addr)| *addr)
    }

    /// Keeps `base`'s timeouts and attempts, taking the TLS configuration and overrides of `self`
    /// (a chain passes its TLS setup and test overrides down without changing a source's timeouts).
    pub(crate) fn connection_settings_onto(&self, mut base: TransportOptions) -> TransportOptions {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            base.tls = self.tls.clone();
        }
        if !self.plaintext.is_empty() {
            base.plaintext = Arc::clone(&self.plaintext);
        }
        base
    }
}

/// Parses an endpoint URL from configuration: an absolute `http://` or `https://` URL with a host.
/// `what` names the service for the message (`IMDS`, `STS`), `source` where the value came from,
/// `example` a URL the user could write.
pub(crate) fn parse_endpoint(
    raw: &str,
    provider: &'static str,
    what: &str,
    source: &str,
    example: &str,
) -> Result<http::Uri, crate::CredentialsError> {
    let raw = raw.trim();
    let invalid = |reason: String| {
        crate::CredentialsError::failed(
            provider,
            format!("invalid {what} endpoint `{raw}` from {source}: {reason}; expected an absolute http:// or https:// URL like {example}"),
        )
    };
    let uri: http::Uri = raw
        .parse()
        .map_err(|e: http::uri::InvalidUri| invalid(e.to_string()))?;
    let scheme_ok = uri
        .scheme_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"));
    if !scheme_ok || uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no scheme or host".to_owned()));
    }
    Ok(uri)
}

/// What one attempt of a retried operation came to.
pub(crate) enum Attempt<T, E> {
    /// Finished: success or an error that retrying cannot change.
    Done(Result<T, E>),
    /// A transient failure: try again if attempts remain, else this is the error.
    Retry(E),
}

/// Which attempt this is, for the operation's messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttemptInfo {
    /// 1 for the first attempt.
    pub(crate) number: u32,
    /// No attempt follows this one.
    pub(crate) last: bool,
}

/// Runs `op` until it is done or the attempts run out, pausing with [`backoff`] between attempts
/// (`tokio::time`, so paused-time tests run instantly). The one retry loop of every source.
pub(crate) async fn retry<T, E, F, Fut>(
    options: &TransportOptions,
    what: &str,
    mut op: F,
) -> Result<T, E>
where
    F: FnMut(AttemptInfo) -> Fut,
    Fut: Future<Output = Attempt<T, E>>,
    E: fmt::Display,
{
    let max = options.max_attempts.max(1);
    let mut number = 1;
    loop {
        let info = AttemptInfo {
            number,
            last: number >= max,
        };
        match op(info).await {
            Attempt::Done(result) => return result,
            Attempt::Retry(error) if info.last => return Err(error),
            Attempt::Retry(error) => {
                tracing::debug!(attempt = number, %error, "{what} failed; retrying");
                tokio::time::sleep(backoff(options.initial_backoff, number)).await;
                number += 1;
            }
        }
    }
}

/// A transport error as one attempt's outcome: `"{message}: {error}"`, retried when another
/// attempt may pass ([`HttpError::is_transient`]), final otherwise.
pub(crate) fn transport_failure<T>(
    error: HttpError,
    provider: impl Into<std::borrow::Cow<'static, str>>,
    message: &str,
) -> Attempt<T, crate::CredentialsError> {
    let transient = error.is_transient();
    let error =
        crate::CredentialsError::failed_with(provider, format!("{message}: {error}"), error);
    if transient {
        Attempt::Retry(error)
    } else {
        Attempt::Done(Err(error))
    }
}

/// Exponential backoff with jitter: `initial * 2^(attempt-1)`, times a random factor in
/// [0.5, 1.0], capped at 2 s.
pub(crate) fn backoff(initial: Duration, attempt: u32) -> Duration {
    let exp = initial.saturating_mul(1u32 << attempt.saturating_sub(1).min(10));
    let capped = exp.min(Duration::from_secs(2));
    capped.mul_f64(0.5 + fastrand::f64() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..40 {
            let d = backoff(Duration::from_millis(100), attempt);
            assert!(d <= Duration::from_secs(2), "{d:?}");
        }
        assert!(backoff(Duration::from_millis(100), 1) <= Duration::from_millis(100));
        assert!(backoff(Duration::from_millis(100), 3) >= Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_stops_at_the_last_attempt_with_its_error() {
        let calls = AtomicU32::new(0);
        let options =
            TransportOptions::new(Duration::from_secs(1), Duration::from_secs(1)).max_attempts(4);
        let result: Result<(), String> = retry(&options, "test", |info| {
            calls.fetch_add(1, Ordering::Relaxed);
            async move { Attempt::Retry(format!("attempt {} last={}", info.number, info.last)) }
        })
        .await;
        assert_eq!(result.unwrap_err(), "attempt 4 last=true");
        assert_eq!(calls.load(Ordering::Relaxed), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_returns_at_once_when_done() {
        let calls = AtomicU32::new(0);
        let options = TransportOptions::new(Duration::from_secs(1), Duration::from_secs(1));
        let result: Result<u32, String> = retry(&options, "test", |info| {
            calls.fetch_add(1, Ordering::Relaxed);
            async move {
                if info.number == 2 {
                    Attempt::Done(Ok(7))
                } else {
                    Attempt::Retry("transient".to_owned())
                }
            }
        })
        .await;
        assert_eq!(result, Ok(7));
        assert_eq!(calls.load(Ordering::Relaxed), 2);
    }
}
