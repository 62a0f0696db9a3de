use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, StatusCode};
use sigv4_core::checksum::ChecksumAlgorithm;
use sigv4_core::SharedTimeSource;
use sigv4_core::{
    Credentials, Payload, RequestHead, Signature, Signer, SigningError, SigningParams,
    SigningSettings,
};
use sigv4_credentials::ProvideCredentials;
use tower_layer::Layer;

use super::payload::{PayloadPolicy, DEFAULT_MAX_BODY_SIZE};
use super::refusal::refused_credentials_code;
use super::service::SigV4Service;
use super::skew::{worth_retrying, ClockSkew, ClockSkewCorrection};
use crate::error::SigV4Error;

/// When a request was signed: the local clock and the offset to the service's clock used.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp {
    pub(crate) local: SystemTime,
    pub(crate) offset: i64,
}

impl Stamp {
    /// The signing time: local plus offset.
    pub(crate) fn time(&self) -> SystemTime {
        super::skew::shift(self.local, self.offset)
    }
}

/// Everything a signing layer knows, shared by every service and future it makes.
pub(crate) struct Config {
    pub(crate) provider: Arc<dyn ProvideCredentials>,
    pub(crate) region: Cow<'static, str>,
    pub(crate) service: Cow<'static, str>,
    pub(crate) settings: SigningSettings,
    pub(crate) payload_policy: PayloadPolicy,
    pub(crate) max_body_size: usize,
    /// The flexible checksum added to buffered bodies, if any.
    pub(crate) checksum: Option<ChecksumAlgorithm>,
    pub(crate) time_source: Option<SharedTimeSource>,
    pub(crate) signer: Signer,
    /// The learned offset to the service's clock; `None` when correction is off.
    pub(crate) skew: Option<Arc<ClockSkew>>,
    /// Whether a request refused for its time is retried once.
    pub(crate) skew_retry: bool,
    /// SigV4a's region set; `None`: SigV4 for `region`.
    pub(crate) region_set: Option<Cow<'static, str>>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Providers' `Debug` redacts secrets (a requirement of `ProvideCredentials`).
        f.debug_struct("SigV4Config")
            .field("provider", &self.provider)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("settings", &self.settings)
            .field("payload_policy", &self.payload_policy)
            .field("max_body_size", &self.max_body_size)
            .field("checksum", &self.checksum)
            .field("time_source", &self.time_source)
            .field("clock_skew", &self.skew)
            .field("region_set", &self.region_set)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The local clock (no correction).
    pub(crate) fn now(&self) -> SystemTime {
        match &self.time_source {
            Some(source) => source.now(),
            None => SystemTime::now(),
        }
    }

    /// Looks at the head of the answer to a request signed with `credentials`: when the service
    /// says they are expired or not valid, tells the provider, so that the next request gets
    /// fresh ones. On any other answer, one comparison of the status.
    #[inline]
    pub(crate) fn check_response(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        credentials: &Credentials,
    ) {
        if status != StatusCode::FORBIDDEN && status != StatusCode::BAD_REQUEST {
            return;
        }
        if let Some(code) = refused_credentials_code(status, headers) {
            tracing::info!(
                code,
                status = status.as_u16(),
                access_key_id = credentials.access_key_id(),
                provider = credentials.provider_name(),
                "the service refused the credentials; invalidating them so the next request refreshes"
            );
            self.provider.invalidate(credentials);
        }
    }

    /// The time to sign with now: the local clock, and the offset to the service's clock.
    pub(crate) fn stamp(&self) -> Stamp {
        Stamp {
            local: self.now(),
            offset: self.skew.as_ref().map_or(0, |s| s.offset_seconds()),
        }
    }

    /// Learns the service's clock from an answer to a request signed at `stamp`; true when the
    /// answer refused the request for its time and a retry with the corrected time may pass.
    pub(crate) fn learn_clock(
        &self,
        stamp: &Stamp,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> bool {
        let Some(skew) = &self.skew else {
            return false;
        };
        let learned = skew.observe(stamp.local, self.now(), headers);
        self.skew_retry && worth_retrying(status, headers, stamp.offset, learned)
    }

    /// Signs a request head at `stamp`; `region`/`service` are the per-request overrides.
    /// Gives what to add to the request (for the reqwest adapter: its requests are not an
    /// `http::Request`).
    #[cfg(feature = "reqwest-middleware")]
    pub(crate) fn sign(
        &self,
        head: RequestHead<'_>,
        payload: Payload<'_>,
        credentials: &Credentials,
        region: Option<&str>,
        service: Option<&str>,
        stamp: &Stamp,
    ) -> Result<sigv4_core::SigningOutput, SigV4Error> {
        let (region, service) = self.scope(region, service);
        let span = signing_span(head, credentials, region, service);
        let _entered = span.enter();
        let params = self.params(credentials, region, service, stamp);
        self.signer
            .sign(head, payload, &params)
            .map_err(signing_failed)
    }

    /// [`Config::sign`] for an `http::Request`, signed in place (the signing output is applied
    /// where it was written, not moved out and applied after). Gives the signature (the seed
    /// of aws-chunked and event-stream signatures).
    pub(crate) fn sign_request<B>(
        &self,
        request: &mut http::Request<B>,
        payload: Payload<'_>,
        credentials: &Credentials,
        region: Option<&str>,
        service: Option<&str>,
        stamp: &Stamp,
    ) -> Result<Signature, SigV4Error> {
        let (region, service) = self.scope(region, service);
        let span = signing_span(RequestHead::from(&*request), credentials, region, service);
        let _entered = span.enter();
        let params = self.params(credentials, region, service, stamp);
        self.signer
            .sign_request(request, payload, &params)
            .map_err(signing_failed)
    }

    /// The region and service to sign for: the per-request overrides, else the layer's.
    fn scope<'a>(
        &'a self,
        region: Option<&'a str>,
        service: Option<&'a str>,
    ) -> (&'a str, &'a str) {
        (
            region.unwrap_or(&self.region),
            service.unwrap_or(&self.service),
        )
    }

    /// The signing parameters at `stamp` (for SigV4a, the region set instead of the region).
    fn params<'a>(
        &'a self,
        credentials: &'a Credentials,
        region: &'a str,
        service: &'a str,
        stamp: &Stamp,
    ) -> SigningParams<'a> {
        match &self.region_set {
            // SigV4a: signed for the region set, whatever the region.
            #[cfg(feature = "sigv4a")]
            Some(set) => SigningParams::new(credentials, set, service, stamp.time())
                .with_algorithm(sigv4_core::Algorithm::SigV4a),
            _ => SigningParams::new(credentials, region, service, stamp.time()),
        }
        .with_settings(&self.settings)
    }
}

/// The `sigv4_sign` debug span around one signing.
fn signing_span(
    head: RequestHead<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
) -> tracing::Span {
    tracing::debug_span!(
        "sigv4_sign",
        region,
        service,
        access_key_id = credentials.access_key_id(),
        method = %head.method,
        host = head.uri.host().unwrap_or(""),
    )
}

/// A signing error, logged at debug level and wrapped.
fn signing_failed(error: SigningError) -> SigV4Error {
    tracing::debug!(%error, "signing failed");
    SigV4Error::Signing(error)
}

/// Signs every request with AWS SigV4 before handing it to the inner service; builds
/// [`SigV4Service`]. See the [module docs](crate::sign) for an example.
///
/// Cheap to clone: the configuration, the credentials source and the signer's key cache are
/// shared.
#[derive(Debug, Clone)]
pub struct SigV4Layer {
    config: Arc<Config>,
}

impl SigV4Layer {
    /// A layer signing for `region` and `service` (the signing name: `execute-api`, `lambda`,
    /// `s3`, ...) with credentials from `provider`, with the default settings (right for API
    /// Gateway and most services; [`SigningSettings::s3`] when the service is one of S3's
    /// signing names, see [`uses_s3_rules`](sigv4_core::infer::uses_s3_rules)) and
    /// [`PayloadPolicy::BufferAndHash`].
    ///
    /// Give it a cached source ([`DefaultChain`](sigv4_credentials::DefaultChain) is one, or wrap a
    /// source in a [`CredentialsCache`](sigv4_credentials::CredentialsCache)): the layer asks the
    /// provider once per request.
    pub fn new(
        provider: impl ProvideCredentials + 'static,
        region: impl Into<Cow<'static, str>>,
        service: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::builder(provider, region, service).build()
    }

    /// A builder for the settings, the payload policy, the body limit and the clock.
    pub fn builder(
        provider: impl ProvideCredentials + 'static,
        region: impl Into<Cow<'static, str>>,
        service: impl Into<Cow<'static, str>>,
    ) -> SigV4LayerBuilder {
        let service = service.into();
        let settings = if sigv4_core::infer::uses_s3_rules(&service) {
            SigningSettings::s3()
        } else {
            SigningSettings::default()
        };
        SigV4LayerBuilder {
            provider: Arc::new(provider),
            region: region.into(),
            service,
            settings,
            payload_policy: PayloadPolicy::default(),
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            checksum: None,
            time_source: None,
            signer: None,
            clock_skew: ClockSkewCorrection::default(),
            region_set: None,
        }
    }

    /// The region requests are signed for (unless overridden per request).
    pub fn region(&self) -> &str {
        &self.config.region
    }

    /// The SigV4a region set requests are signed for, when one was set (the builder's
    /// `region_set`, feature `sigv4a`).
    pub fn region_set(&self) -> Option<&str> {
        self.config.region_set.as_deref()
    }

    /// The service requests are signed for (unless overridden per request).
    pub fn service(&self) -> &str {
        &self.config.service
    }

    /// The signing settings.
    pub fn settings(&self) -> &SigningSettings {
        &self.config.settings
    }

    /// The payload policy.
    pub fn payload_policy(&self) -> PayloadPolicy {
        self.config.payload_policy
    }

    /// The largest body buffered to be hashed, in bytes.
    pub fn max_body_size(&self) -> usize {
        self.config.max_body_size
    }

    pub(crate) fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The offset this layer learned between the service's clock and the local one, shared by
    /// every service it made; `None` when correction is [`ClockSkewCorrection::Off`]. See
    /// [`crate::sign::skew`].
    pub fn clock_skew(&self) -> Option<&Arc<ClockSkew>> {
        self.config.skew.as_ref()
    }
}

impl<S> Layer<S> for SigV4Layer {
    type Service = SigV4Service<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SigV4Service::from_config(inner, Arc::clone(&self.config))
    }
}

/// Builds a [`SigV4Layer`]; start with [`SigV4Layer::builder`].
///
/// ```
/// use std::sync::Arc;
/// use std::time::{Duration, UNIX_EPOCH};
/// use tower_sigv4::{PayloadPolicy, SigV4Layer};
/// use tower_sigv4::sigv4_core::{Credentials, SigningSettings};
/// use tower_sigv4::sigv4_core::ManualClock;
///
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// let layer = SigV4Layer::builder(Credentials::new("AKID", "SECRET"), "eu-west-1", "execute-api")
///     .settings(SigningSettings::default())
///     .payload_policy(PayloadPolicy::BufferAndHash)
///     .max_body_size(1024 * 1024)
///     .time_source(Arc::new(clock))
///     .build();
/// assert_eq!(layer.max_body_size(), 1024 * 1024);
/// ```
pub struct SigV4LayerBuilder {
    provider: Arc<dyn ProvideCredentials>,
    region: Cow<'static, str>,
    service: Cow<'static, str>,
    settings: SigningSettings,
    payload_policy: PayloadPolicy,
    max_body_size: usize,
    checksum: Option<ChecksumAlgorithm>,
    time_source: Option<SharedTimeSource>,
    signer: Option<Signer>,
    clock_skew: ClockSkewCorrection,
    region_set: Option<Cow<'static, str>>,
}

impl fmt::Debug for SigV4LayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4LayerBuilder")
            .field("provider", &self.provider)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("settings", &self.settings)
            .field("payload_policy", &self.payload_policy)
            .field("max_body_size", &self.max_body_size)
            .finish_non_exhaustive()
    }
}

impl SigV4LayerBuilder {
    /// The signing settings (path normalization, double encoding, session token mode,
    /// `x-amz-content-sha256`, excluded headers, headers or presigned query). Default:
    /// [`SigningSettings::s3`] for S3's signing names (`s3`, `s3-object-lambda`, `s3-outposts`,
    /// `s3express`), [`SigningSettings::default`] for every other service.
    pub fn settings(mut self, settings: SigningSettings) -> Self {
        self.settings = settings;
        self
    }

    /// How the payload hash is settled. Default: [`PayloadPolicy::BufferAndHash`].
    pub fn payload_policy(mut self, policy: PayloadPolicy) -> Self {
        self.payload_policy = policy;
        self
    }

    /// The largest body [`PayloadPolicy::BufferAndHash`] reads into memory, in bytes. Default
    /// [`DEFAULT_MAX_BODY_SIZE`] (10 MiB).
    pub fn max_body_size(mut self, limit: usize) -> Self {
        self.max_body_size = limit;
        self
    }

    /// Adds S3's flexible checksum of the body (`x-amz-checksum-crc32`, `-crc32c` or `-sha256`,
    /// signed with the other headers) to each request whose body the layer holds: buffered by
    /// [`PayloadPolicy::BufferAndHash`], or empty. Default: none. (aws-chunked uploads carry
    /// their checksum in a trailer instead: see [`PayloadPolicy::AwsChunked`].)
    pub fn checksum(mut self, algorithm: ChecksumAlgorithm) -> Self {
        self.checksum = Some(algorithm);
        self
    }

    /// Where the signing time comes from. Default: the system clock. Tests pass a
    /// [`ManualClock`](sigv4_core::ManualClock) in an `Arc`.
    pub fn time_source(mut self, time_source: SharedTimeSource) -> Self {
        self.time_source = Some(time_source);
        self
    }

    /// The signer (and so the signing-key cache) to use; share one between layers signing with
    /// the same credentials. Default: a new [`Signer`].
    pub fn signer(mut self, signer: Signer) -> Self {
        self.signer = Some(signer);
        self
    }

    /// How a clock that differs from the service's is handled (see [`crate::sign::skew`]).
    /// Default: [`ClockSkewCorrection::LearnAndRetry`].
    pub fn clock_skew_correction(mut self, mode: ClockSkewCorrection) -> Self {
        self.clock_skew = mode;
        self
    }

    /// Signs with SigV4a (`AWS4-ECDSA-P256-SHA256`) for this region set instead of SigV4 for
    /// the region: `*` for every region, or a comma-separated list (`us-east-1,us-west-2`),
    /// as S3 Multi-Region Access Points and other global endpoints require. The set is sent in
    /// `X-Amz-Region-Set`; the ECDSA key is derived from the secret once per access key.
    /// Feature `sigv4a`.
    #[cfg(feature = "sigv4a")]
    pub fn region_set(mut self, region_set: impl Into<Cow<'static, str>>) -> Self {
        self.region_set = Some(region_set.into());
        self
    }

    /// The layer.
    pub fn build(self) -> SigV4Layer {
        SigV4Layer {
            config: Arc::new(Config {
                provider: self.provider,
                region: self.region,
                service: self.service,
                settings: self.settings,
                payload_policy: self.payload_policy,
                max_body_size: self.max_body_size,
                checksum: self.checksum,
                time_source: self.time_source,
                signer: self.signer.unwrap_or_default(),
                skew: (self.clock_skew != ClockSkewCorrection::Off)
                    .then(|| Arc::new(ClockSkew::default())),
                skew_retry: self.clock_skew == ClockSkewCorrection::LearnAndRetry,
                region_set: self.region_set,
            }),
        }
    }
}
