//! [`VerifyLayer`]: the configuration, and the layer that wraps a service in [`Verify`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sigv4_core::verify::VerifySettings;
use sigv4_core::{SharedTimeSource, SystemClock};
use sigv4_core::{Signer, SigningSettings};
use tower_layer::Layer;

use super::key_store::KeyStore;
use super::service::Verify;
use super::DEFAULT_MAX_BODY_SIZE;

/// Checks the SigV4 signature of every request before the inner service sees it.
///
/// Built from a [`KeyStore`]; every other setting has a default that suits an API-Gateway-like
/// service (`±5 min` clock skew, any region and service, bodies up to
/// [`DEFAULT_MAX_BODY_SIZE`], `UNSIGNED-PAYLOAD` refused). See the [module docs](super) for what
/// is checked, in which order, and an example.
///
/// Cheap to clone: the configuration is shared.
#[derive(Clone)]
pub struct VerifyLayer {
    pub(crate) config: Arc<Config>,
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) key_store: Arc<dyn KeyStore>,
    pub(crate) signer: Signer,
    pub(crate) settings: VerifySettings,
    pub(crate) time_source: SharedTimeSource,
    pub(crate) max_body_size: usize,
    pub(crate) allow_unsigned_payload: bool,
}

impl fmt::Debug for VerifyLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("VerifyLayer")
            .field("key_store", &c.key_store)
            .field("settings", &c.settings)
            .field("time_source", &c.time_source)
            .field("max_body_size", &c.max_body_size)
            .field("allow_unsigned_payload", &c.allow_unsigned_payload)
            .finish()
    }
}

impl VerifyLayer {
    /// A layer checking requests against `key_store`, with the default settings.
    pub fn new(key_store: impl KeyStore + 'static) -> Self {
        Self::from_shared(Arc::new(key_store))
    }

    /// Like [`VerifyLayer::new`], with a key store already behind an `Arc`.
    pub fn from_shared(key_store: Arc<dyn KeyStore>) -> Self {
        Self {
            config: Arc::new(Config {
                key_store,
                signer: Signer::new(),
                settings: VerifySettings::default(),
                time_source: Arc::new(SystemClock),
                max_body_size: DEFAULT_MAX_BODY_SIZE,
                allow_unsigned_payload: false,
            }),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Only accepts signatures scoped to this region (by default any region is accepted).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.config_mut().settings.region = Some(region.into());
        self
    }

    /// Only accepts signatures scoped to this service (by default any service is accepted).
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.config_mut().settings.service = Some(service.into());
        self
    }

    /// How far a request's `X-Amz-Date` may be from the server's clock, both ways (default 5 min).
    /// Presigned URLs are checked against their own expiry instead (and may not be dated more
    /// than this in the future).
    pub fn max_skew(mut self, max_skew: Duration) -> Self {
        self.config_mut().settings.max_skew = max_skew;
        self
    }

    /// The canonicalization rules clients sign with (default: [`SigningSettings::default`], right
    /// for API Gateway and most services; [`SigningSettings::s3`] for S3-style paths).
    pub fn signing_settings(mut self, signing: SigningSettings) -> Self {
        self.config_mut().settings.signing = signing;
        self
    }

    /// Replaces all verification settings at once (skew, scope, canonicalization).
    pub fn settings(mut self, settings: VerifySettings) -> Self {
        self.config_mut().settings = settings;
        self
    }

    /// Where "now" comes from (default: the system clock). Tests inject a
    /// [`ManualClock`](sigv4_core::ManualClock).
    pub fn time_source(mut self, time_source: SharedTimeSource) -> Self {
        self.config_mut().time_source = time_source;
        self
    }

    /// The largest body accepted, in bytes (default [`DEFAULT_MAX_BODY_SIZE`], 10 MiB). A request
    /// whose `Content-Length` is larger is refused before its body is read; a body without a
    /// length that grows past the limit is refused as soon as it does.
    pub fn max_body_size(mut self, max: usize) -> Self {
        self.config_mut().max_body_size = max;
        self
    }

    /// Accepts requests whose signed `x-amz-content-sha256` is `UNSIGNED-PAYLOAD` (off by
    /// default: API Gateway signs the body, and so must the client).
    pub fn allow_unsigned_payload(mut self, allow: bool) -> Self {
        self.config_mut().allow_unsigned_payload = allow;
        self
    }

    /// Uses this signer (to share its key cache with other parts of the server).
    pub fn signer(mut self, signer: Signer) -> Self {
        self.config_mut().signer = signer;
        self
    }
}

impl<S> Layer<S> for VerifyLayer {
    type Service = Verify<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Verify::new(inner, self.clone())
    }
}
