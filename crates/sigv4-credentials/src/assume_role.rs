//! Assume a role in code: any source's credentials, exchanged with STS `AssumeRole` for the
//! role's (a service that acts in another account).
//!
//! ```no_run
//! # async fn demo() -> Result<(), sigv4_credentials::CredentialsError> {
//! use sigv4_credentials::{AssumeRole, CredentialsCache, DefaultChain, ProvideCredentials, RoleRequest};
//!
//! let base = DefaultChain::builder().build().await;
//! let mut role = RoleRequest::new("arn:aws:iam::210987654321:role/reader");
//! role.external_id = Some("partner-42".into());
//! let cross_account = CredentialsCache::new(AssumeRole::builder().region("eu-west-1").build(role, base));
//! let creds = cross_account.provide_credentials().await?;
//! assert_eq!(creds.account_id(), Some("210987654321"));
//! # Ok(()) }
//! ```
//!
//! Each call asks the source for its current credentials (a cached source answers from its
//! cache) and makes one signed STS call. Put a [`CredentialsCache`](crate::CredentialsCache) in
//! front.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::sts::{EndpointSource, RoleRequest, StsClient, StsEndpoint, StsSettings};
use crate::{
    CredentialsError, Env, ProvideCredentials, ProvideCredentialsFuture, SharedTimeSource,
    TransportOptions,
};

/// The name of this source in errors.
pub const PROVIDER_NAME: &str = "assume role";

/// Assumes a role with credentials from another source.
#[derive(Clone)]
pub struct AssumeRole {
    source: Arc<dyn ProvideCredentials>,
    request: RoleRequest,
    endpoint: EndpointSource,
    sts: StsClient,
}

impl fmt::Debug for AssumeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssumeRole")
            .field("request", &self.request)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Builds an [`AssumeRole`] source.
#[derive(Clone, Default, Debug)]
pub struct AssumeRoleBuilder {
    sts: StsSettings,
}

impl AssumeRoleBuilder {
    /// Where the STS endpoint settings are read when neither [`region`](Self::region) nor
    /// [`endpoint`](Self::endpoint) is given (default: the real environment and profile files).
    pub fn env(mut self, env: Env) -> Self {
        self.sts.env = Some(env);
        self
    }

    /// The region whose regional STS endpoint is called (and signed for).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.sts.region = Some(region.into());
        self
    }

    /// A fixed STS endpoint and signing region (a VPC endpoint, an emulator).
    pub fn endpoint(mut self, endpoint: StsEndpoint) -> Self {
        self.sts.endpoint = Some(endpoint);
        self
    }

    /// Timeouts, attempts and TLS for the STS call (default [`sts::default_transport`](crate::sts::default_transport)).
    pub fn transport(mut self, options: TransportOptions) -> Self {
        self.sts.transport = Some(options);
        self
    }

    /// The clock for signing times and session names (default: the system clock).
    pub fn time_source(mut self, time_source: SharedTimeSource) -> Self {
        self.sts.time_source = Some(time_source);
        self
    }

    /// The source: assume `request`'s role with credentials from `source`.
    pub fn build(
        self,
        request: RoleRequest,
        source: impl ProvideCredentials + 'static,
    ) -> AssumeRole {
        let (endpoint, sts) = self.sts.build();
        AssumeRole {
            source: Arc::new(source),
            request,
            endpoint,
            sts,
        }
    }
}

impl AssumeRole {
    /// Starts a builder.
    pub fn builder() -> AssumeRoleBuilder {
        AssumeRoleBuilder::default()
    }

    async fn load(&self) -> Result<crate::Credentials, CredentialsError> {
        let endpoint = self.endpoint.resolve()?;
        let source = self.source.provide_credentials().await.map_err(|e| {
            CredentialsError::failed_with(
                PROVIDER_NAME,
                format!(
                    "the source credentials for assuming {} are not available",
                    self.request.role_arn
                ),
                e,
            )
        })?;
        let name: Cow<'static, str> = Cow::Owned(format!(
            "assume role {}, from {}",
            self.request.role_arn,
            source.provider_name()
        ));
        self.sts
            .assume_role(&endpoint, &source, &self.request, name)
            .await
    }
}

impl ProvideCredentials for AssumeRole {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        ProvideCredentialsFuture::new(self.load())
    }

    /// Passes the refusal on to the source, so that a cached source refreshes as well when the
    /// refused credentials are among its own (they are not, usually: this source's credentials
    /// come from STS).
    fn invalidate(&self, refused: &crate::Credentials) {
        self.source.invalidate(refused);
    }
}
