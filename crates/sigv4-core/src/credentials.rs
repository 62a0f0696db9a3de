//! The [`Credentials`] value the signer takes.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::HeaderValue;
use zeroize::Zeroizing;

/// AWS credentials: an access key id, a secret access key, an optional session token and an optional
/// expiry, plus the name of the source they came from.
///
/// Cheap to clone (one `Arc` inside). The secret and the session token never appear in `Debug`
/// output and are zeroized when the last clone is dropped.
///
/// ```
/// use sigv4_core::Credentials;
///
/// let creds = Credentials::builder("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
///     .session_token("token")
///     .provider_name("example")
///     .build();
/// assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
/// assert!(!format!("{creds:?}").contains("EXAMPLEKEY"));
/// ```
#[derive(Clone)]
pub struct Credentials(Arc<Inner>);

struct Inner {
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
    session_token: Option<Zeroizing<String>>,
    // The token pre-validated as a header value (cheap to clone: `Bytes` inside, over a buffer
    // that is wiped when the last clone, in this value or in a signed request, is dropped).
    // `None` when the token is absent or is not a valid header value (signing then says so).
    session_token_header: Option<HeaderValue>,
    // The token is all visible ASCII, so it is already in canonical form.
    session_token_canonical: bool,
    // The token percent-encoded for a query (`X-Amz-Security-Token`), encoded once here rather
    // than twice per presigning; wiped on drop.
    session_token_encoded: Option<Zeroizing<Vec<u8>>>,
    expiry: Option<SystemTime>,
    provider_name: Cow<'static, str>,
    account_id: Option<String>,
}

/// A buffer that is wiped when dropped; the owner behind the token's `Bytes`.
struct WipedOnDrop(Zeroizing<Vec<u8>>);

impl AsRef<[u8]> for WipedOnDrop {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn token_header(token: &str) -> Option<HeaderValue> {
    let bytes = Bytes::from_owner(WipedOnDrop(Zeroizing::new(token.as_bytes().to_vec())));
    let mut value = HeaderValue::from_maybe_shared(bytes).ok()?;
    value.set_sensitive(true);
    Some(value)
}

impl Credentials {
    /// Credentials with no session token and no expiry, named `"static"`.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self::builder(access_key_id, secret_access_key).build()
    }

    /// Starts a builder for the optional parts (session token, expiry, provider name).
    pub fn builder(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> CredentialsBuilder {
        CredentialsBuilder {
            access_key_id: access_key_id.into(),
            secret_access_key: Zeroizing::new(secret_access_key.into()),
            session_token: None,
            expiry: None,
            provider_name: Cow::Borrowed("static"),
            account_id: None,
        }
    }

    /// A builder holding a copy of every field of these credentials, to change one of them.
    pub fn to_builder(&self) -> CredentialsBuilder {
        CredentialsBuilder {
            access_key_id: self.0.access_key_id.clone(),
            secret_access_key: self.0.secret_access_key.clone(),
            session_token: self.0.session_token.clone(),
            expiry: self.0.expiry,
            provider_name: self.0.provider_name.clone(),
            account_id: self.0.account_id.clone(),
        }
    }

    /// The AWS account these credentials belong to, when the source said (`AWS_ACCOUNT_ID`,
    /// a profile's `aws_account_id`, `AccountId` in a container, IMDS or `credential_process`
    /// document, or the account of an assumed role's ARN). Not a secret.
    pub fn account_id(&self) -> Option<&str> {
        self.0.account_id.as_deref()
    }

    /// The access key id (not a secret).
    pub fn access_key_id(&self) -> &str {
        &self.0.access_key_id
    }

    /// The secret access key. Handle with care: never log it.
    pub fn secret_access_key(&self) -> &str {
        &self.0.secret_access_key
    }

    /// The session token, for temporary credentials.
    pub fn session_token(&self) -> Option<&str> {
        self.0.session_token.as_deref().map(String::as_str)
    }

    /// The session token as a ready header value (no copy), or `None` when there is no token or it
    /// is not a valid header value.
    pub fn session_token_header(&self) -> Option<&HeaderValue> {
        self.0.session_token_header.as_ref()
    }

    pub(crate) fn session_token_is_canonical(&self) -> bool {
        self.0.session_token_canonical
    }

    /// The session token percent-encoded as SigV4 encodes a query value.
    pub(crate) fn session_token_encoded(&self) -> Option<&[u8]> {
        self.0.session_token_encoded.as_deref().map(Vec::as_slice)
    }

    /// When the credentials stop being valid, if they expire.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.0.expiry
    }

    /// The name of the source the credentials came from (`"environment"`, `"imds"`, ...).
    pub fn provider_name(&self) -> &str {
        &self.0.provider_name
    }

    /// True when the credentials have an expiry at or before `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        matches!(self.0.expiry, Some(expiry) if expiry <= now)
    }

    /// True when both values are the same allocation (a clone of each other).
    pub fn ptr_eq(&self, other: &Credentials) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// A copy with another expiry (used by static-stability extensions), keeping the other fields.
    pub fn with_expiry(&self, expiry: Option<SystemTime>) -> Credentials {
        self.to_builder().expiry_opt(expiry).build()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Credentials");
        d.field("provider_name", &self.provider_name())
            .field("access_key_id", &self.access_key_id())
            .field("secret_access_key", &"** redacted **");
        if let Some(account_id) = self.account_id() {
            d.field("account_id", &account_id);
        }
        if self.session_token().is_some() {
            d.field("session_token", &"** redacted **");
        }
        match self.expiry() {
            Some(expiry) => d.field("expiry", &format_args!("{}", DebugTime(expiry))),
            None => d.field("expiry", &"never"),
        };
        d.finish()
    }
}

struct DebugTime(SystemTime);

impl fmt::Display for DebugTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(since) => {
                let t = crate::time::AmzDate::from_unix_seconds(since.as_secs());
                write!(f, "{}", t.as_str())
            }
            Err(_) => f.write_str("before 1970"),
        }
    }
}

/// Builds [`Credentials`]; start with [`Credentials::builder`].
pub struct CredentialsBuilder {
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
    session_token: Option<Zeroizing<String>>,
    expiry: Option<SystemTime>,
    provider_name: Cow<'static, str>,
    account_id: Option<String>,
}

impl fmt::Debug for CredentialsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialsBuilder")
            .field("access_key_id", &self.access_key_id)
            .field("provider_name", &self.provider_name)
            .finish_non_exhaustive()
    }
}

impl CredentialsBuilder {
    /// Sets the session token (temporary credentials).
    pub fn session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(Zeroizing::new(token.into()));
        self
    }

    /// Sets or clears the session token.
    pub fn session_token_opt(mut self, token: Option<String>) -> Self {
        self.session_token = token.map(Zeroizing::new);
        self
    }

    /// Sets the expiry.
    pub fn expiry(mut self, expiry: SystemTime) -> Self {
        self.expiry = Some(expiry);
        self
    }

    /// Sets or clears the expiry.
    pub fn expiry_opt(mut self, expiry: Option<SystemTime>) -> Self {
        self.expiry = expiry;
        self
    }

    /// Names the source (`"environment"`, `"profile:dev"`, `"imds"`, ...).
    pub fn provider_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.provider_name = name.into();
        self
    }

    /// Sets the account id (blank counts as none).
    pub fn account_id(self, account_id: impl Into<String>) -> Self {
        self.account_id_opt(Some(account_id.into()))
    }

    /// Sets or clears the account id (blank counts as none).
    pub fn account_id_opt(mut self, account_id: Option<String>) -> Self {
        self.account_id = account_id.filter(|a| !a.trim().is_empty());
        self
    }

    /// Finishes the credentials.
    pub fn build(self) -> Credentials {
        let session_token_header = self
            .session_token
            .as_deref()
            .map(String::as_str)
            .and_then(token_header);
        let session_token_canonical = self
            .session_token
            .as_ref()
            .is_some_and(|t| t.bytes().all(|b| b.is_ascii_graphic()));
        let session_token_encoded = self.session_token.as_ref().map(|token| {
            let mut encoded = Zeroizing::new(Vec::with_capacity(token.len() + 64));
            crate::canonical::encode_into(&mut encoded, token.as_bytes());
            encoded
        });
        Credentials(Arc::new(Inner {
            session_token_canonical,
            session_token_encoded,
            access_key_id: self.access_key_id,
            secret_access_key: self.secret_access_key,
            session_token: self.session_token,
            session_token_header,
            expiry: self.expiry,
            provider_name: self.provider_name,
            account_id: self.account_id,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn debug_redacts_secret_and_token() {
        let creds = Credentials::builder("AKID", "SECRETSECRET")
            .session_token("TOKENTOKEN")
            .expiry(SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160))
            .build();
        let shown = format!("{creds:?}");
        assert!(shown.contains("AKID"));
        assert!(!shown.contains("SECRETSECRET"));
        assert!(!shown.contains("TOKENTOKEN"));
        assert!(shown.contains("20150830T123600Z"), "{shown}");
    }

    #[test]
    fn expiry_is_inclusive() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let creds = Credentials::builder("a", "b").expiry(at).build();
        assert!(creds.is_expired_at(at));
        assert!(!creds.is_expired_at(at - Duration::from_secs(1)));
        assert!(!Credentials::new("a", "b").is_expired_at(at));
    }
}
