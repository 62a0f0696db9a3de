//! [`SigV4Middleware`]: SigV4 signing for [`reqwest_middleware`] clients (cargo feature
//! `reqwest-middleware`, reqwest 0.13).
//!
//! Put it **last** (innermost), after retry, tracing and anything else that changes the request:
//! every attempt of a retry is then signed anew (with a fresh `x-amz-date`), and nothing changes
//! a signed header after the signature is computed.
//!
//! ```
//! use reqwest_middleware::ClientBuilder;
//! use tower_sigv4::reqwest::SigV4Middleware;
//! use tower_sigv4::sigv4_core::Credentials;
//!
//! // In an application: `DefaultChain::builder().build().await`.
//! let credentials = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
//! let client = ClientBuilder::new(reqwest::Client::new())
//!     // .with(RetryTransientMiddleware::new_with_policy(..))   first: outermost
//!     // .with(TracingMiddleware::default())
//!     .with(SigV4Middleware::new(credentials, "eu-west-1", "execute-api")) // last: innermost
//!     .build();
//! # let _ = client;
//! ```
//!
//! # Bodies
//!
//! reqwest keeps a body built from bytes, a string or JSON in memory: the middleware hashes it as
//! it is (the layer's `max_body_size` does not apply, the bytes are already there). A streaming
//! body (`reqwest::Body::wrap_stream`, `Body::wrap`) cannot be hashed without reading it, so it is
//! an error ([`SigV4Error::StreamingBody`]) unless the request says how to sign it: an
//! `x-amz-content-sha256` header (used as the payload hash), or a [`SigningOverride`] extension
//! with a payload hash or [`PayloadPolicy::Unsigned`]:
//!
//! ```
//! use reqwest_middleware::ClientBuilder;
//! use tower_sigv4::reqwest::SigV4Middleware;
//! use tower_sigv4::sigv4_core::Credentials;
//! use tower_sigv4::{PayloadPolicy, SigningOverride};
//!
//! let client = ClientBuilder::new(reqwest::Client::new())
//!     .with(SigV4Middleware::new(Credentials::new("AKID", "SECRET"), "eu-west-1", "s3"))
//!     .build();
//! let upload = client
//!     .put("https://bucket.s3.eu-west-1.amazonaws.com/key")
//!     .with_extension(SigningOverride::new().with_payload_policy(PayloadPolicy::Unsigned));
//! # let _ = upload;
//! ```
//!
//! # Refused credentials
//!
//! As the layer does: when the answer is a 400 or 403 whose `x-amzn-ErrorType` (or
//! `x-amzn-query-error`) header says the credentials are expired or not valid (`ExpiredToken`,
//! `InvalidClientTokenId`, ... see [`REFUSED_CREDENTIALS_CODES`](crate::sign::REFUSED_CREDENTIALS_CODES)),
//! the middleware invalidates the credentials it signed with, so that the next request (a retry
//! middleware's next attempt, too) gets fresh ones. The response itself is returned unchanged;
//! its body is not read.
//!
//! [`SigningOverride`] and [`SkipSigning`] go into the middleware extensions
//! (`RequestBuilder::with_extension`), as in the example above. Errors come back as
//! `reqwest_middleware::Error::Middleware(anyhow::Error)` holding a [`SigV4Error`]; that variant is
//! transparent, so take the `anyhow::Error` out and call `downcast_ref::<SigV4Error>()` on it
//! ([`SigV4Error::find`] does not see through it).

use std::borrow::Cow;
use std::sync::Arc;

use ::reqwest::{Request, Response, Url};
use http::{Extensions, Uri};
use reqwest_middleware::{Middleware, Next};
use sigv4_core::{Credentials, Payload, SigningError, X_AMZ_CONTENT_SHA256};
use sigv4_credentials::ProvideCredentials;
use tracing::Instrument;

use crate::error::SigV4Error;
use crate::sign::layer::{Config, Stamp};
use crate::sign::{PayloadPolicy, SigV4Layer, SigningOverride, SkipSigning};

/// Signs each request of a `reqwest_middleware` client with AWS SigV4. See the
/// [module docs](crate::reqwest): it goes last (innermost).
///
/// Built like a [`SigV4Layer`] (`new`, or `From` a layer made with [`SigV4Layer::builder`] for
/// settings and policies); cheap to clone.
#[derive(Debug, Clone)]
pub struct SigV4Middleware {
    config: Arc<Config>,
}

impl SigV4Middleware {
    /// A middleware signing for `region` and `service` with credentials from `provider` (the
    /// defaults of [`SigV4Layer::new`]).
    pub fn new(
        provider: impl ProvideCredentials + 'static,
        region: impl Into<Cow<'static, str>>,
        service: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::from(SigV4Layer::new(provider, region, service))
    }

    /// Signs `request` in place, with the overrides found in `extensions`. What
    /// [`Middleware::handle`] does before passing the request on (unless [`SkipSigning`] is
    /// there).
    pub async fn sign(
        &self,
        request: &mut Request,
        extensions: &Extensions,
    ) -> Result<(), SigV4Error> {
        let stamp = self.config.stamp();
        self.sign_returning_credentials(request, extensions, &stamp)
            .await
            .map(drop)
    }

    /// [`Self::sign`], giving back the credentials used (to check the answer with).
    async fn sign_returning_credentials(
        &self,
        request: &mut Request,
        extensions: &Extensions,
        stamp: &Stamp,
    ) -> Result<Credentials, SigV4Error> {
        let config = &self.config;
        let overrides = extensions.get::<SigningOverride>();
        let region = overrides
            .and_then(SigningOverride::region)
            .unwrap_or(&config.region);
        let service = overrides
            .and_then(SigningOverride::service)
            .unwrap_or(&config.service);
        let policy = overrides
            .and_then(SigningOverride::payload_policy)
            .unwrap_or(config.payload_policy);

        let credentials = config
            .provider
            .provide_credentials()
            .instrument(tracing::debug_span!("sigv4_credentials", region, service))
            .await?;

        let mut uri: Uri = request
            .url()
            .as_str()
            .parse()
            .map_err(|e: http::uri::InvalidUri| SigningError::InvalidUri(e.to_string()))?;

        let header_hash = || -> Result<Payload<'_>, SigV4Error> {
            match request.headers().get(&X_AMZ_CONTENT_SHA256) {
                None => Err(SigV4Error::MissingPayloadHash),
                Some(value) => value.to_str().map(Payload::Precomputed).map_err(|_| {
                    SigV4Error::Signing(SigningError::InvalidPayloadHash(
                        "(not visible ASCII)".to_owned(),
                    ))
                }),
            }
        };
        let payload = match (overrides.and_then(SigningOverride::payload_hash), policy) {
            (Some(hash), _) => Payload::Precomputed(hash),
            (None, PayloadPolicy::Unsigned) => Payload::Unsigned,
            (None, PayloadPolicy::CallerProvided) => header_hash()?,
            (None, PayloadPolicy::AwsChunked { .. }) => {
                return Err(SigV4Error::AwsChunkedUnsupported)
            }
            #[cfg(feature = "eventstream")]
            (None, PayloadPolicy::EventStream) => return Err(SigV4Error::AwsChunkedUnsupported),
            (None, PayloadPolicy::BufferAndHash) => match request.body() {
                None => Payload::Bytes(&[]),
                Some(body) => match body.as_bytes() {
                    Some(bytes) => Payload::Bytes(bytes),
                    None if request.headers().contains_key(&X_AMZ_CONTENT_SHA256) => header_hash()?,
                    None => return Err(SigV4Error::StreamingBody),
                },
            },
        };
        let output = config.sign(
            sigv4_core::RequestHead::new(request.method(), &uri, request.headers()),
            payload,
            &credentials,
            Some(region),
            Some(service),
            stamp,
        )?;
        let presigned = output.query().is_some();
        output.apply(&mut uri, request.headers_mut())?;
        if presigned {
            *request.url_mut() = Url::parse(&uri.to_string())
                .map_err(|e| SigningError::InvalidUri(e.to_string()))?;
        }
        Ok(credentials)
    }
}

impl From<SigV4Layer> for SigV4Middleware {
    fn from(layer: SigV4Layer) -> Self {
        Self::from(&layer)
    }
}

impl From<&SigV4Layer> for SigV4Middleware {
    fn from(layer: &SigV4Layer) -> Self {
        Self {
            config: Arc::clone(layer.config()),
        }
    }
}

#[async_trait::async_trait]
impl Middleware for SigV4Middleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        if extensions.get::<SkipSigning>().is_some() {
            return next.run(request, extensions).await;
        }
        // A copy for the one retry after a clock-skew refusal (bodies in memory only).
        let unsigned = self
            .config
            .skew_retry
            .then(|| request.try_clone())
            .flatten();
        let stamp = self.config.stamp();
        let credentials = self
            .sign_returning_credentials(&mut request, extensions, &stamp)
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        let response = next.clone().run(request, extensions).await?;
        self.config
            .check_response(response.status(), response.headers(), &credentials);
        let retry = self
            .config
            .learn_clock(&stamp, response.status(), response.headers());
        let Some(mut again) = unsigned.filter(|_| retry) else {
            return Ok(response);
        };
        tracing::info!(
            status = response.status().as_u16(),
            "refused for its time; signing again with the service's clock and retrying once"
        );
        let stamp = self.config.stamp();
        self.sign_returning_credentials(&mut again, extensions, &stamp)
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        next.run(again, extensions).await
    }
}
