//! The builder, the running emulator and its handle.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sigv4_core::{Credentials, SharedTimeSource, SystemClock};
use tower_sigv4::verify::{KeyStore, KeyStoreFuture, Verify, VerifyLayer};

use super::faults::FaultRule;
use super::records::{ExpirationFormat, IssuedCredentials, RequestRecord, Role};
use super::service::{handle, Keys, Pass, Shared, State};
use super::{DEFAULT_REGION, MAX_BODY_SIZE, SERVICE};
use crate::fault::FaultSwitch;
use crate::log::RequestLog;
use crate::server::Server;

/// Configures and starts an [`StsEmulator`]; from [`StsEmulator::builder`].
#[derive(Clone)]
pub struct StsEmulatorBuilder {
    time_source: Option<SharedTimeSource>,
    regions: Option<Vec<String>>,
    max_skew: Option<Duration>,
    expiration_format: ExpirationFormat,
    only_registered_roles: bool,
    callers: Vec<Credentials>,
    web_identity_tokens: Vec<String>,
    roles: Vec<Role>,
}

impl fmt::Debug for StsEmulatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StsEmulatorBuilder")
            .field("time_source", &self.time_source)
            .field("regions", &self.regions)
            .field("max_skew", &self.max_skew)
            .field("expiration_format", &self.expiration_format)
            .field("only_registered_roles", &self.only_registered_roles)
            .field("callers", &self.callers)
            .field("web_identity_tokens", &self.web_identity_tokens.len())
            .field("roles", &self.roles)
            .finish()
    }
}

impl Default for StsEmulatorBuilder {
    fn default() -> Self {
        Self {
            time_source: None,
            regions: Some(vec![DEFAULT_REGION.to_owned()]),
            max_skew: None,
            expiration_format: ExpirationFormat::default(),
            only_registered_roles: false,
            callers: Vec::new(),
            web_identity_tokens: Vec::new(),
            roles: Vec::new(),
        }
    }
}

impl StsEmulatorBuilder {
    /// The clock for signature times, `Expiration` and expiry checks (default: the system clock).
    /// Pass a [`ManualClock`](sigv4_core::ManualClock) to control them from a test.
    pub fn time_source(mut self, time_source: SharedTimeSource) -> Self {
        self.time_source = Some(time_source);
        self
    }

    /// Also accepts `AssumeRole` signatures scoped to this region ([`DEFAULT_REGION`] is always
    /// accepted unless [`any_region`](Self::any_region) lifted the check).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        if let Some(regions) = self.regions.as_mut() {
            regions.push(region.into());
        }
        self
    }

    /// Accepts signatures scoped to any region.
    pub fn any_region(mut self) -> Self {
        self.regions = None;
        self
    }

    /// The allowed clock skew of a signature (default 5 minutes, as AWS).
    pub fn max_skew(mut self, max_skew: Duration) -> Self {
        self.max_skew = Some(max_skew);
        self
    }

    /// How `Expiration` is written (default [`ExpirationFormat::WholeSeconds`], as STS).
    pub fn expiration_format(mut self, format: ExpirationFormat) -> Self {
        self.expiration_format = format;
        self
    }

    /// Refuses (`403 AccessDenied`) roles that were not registered with [`role`](Self::role) or
    /// [`StsHandle::add_role`]. Off by default: any well-formed role ARN can be assumed.
    pub fn only_registered_roles(mut self, only: bool) -> Self {
        self.only_registered_roles = only;
        self
    }

    /// Accepts `AssumeRole` signed with these credentials (see [`StsHandle::allow_caller`]).
    pub fn caller(mut self, credentials: Credentials) -> Self {
        self.callers.push(credentials);
        self
    }

    /// Accepts this web identity token (see [`StsHandle::allow_web_identity_token`]).
    pub fn web_identity_token(mut self, token: impl Into<String>) -> Self {
        self.web_identity_tokens.push(token.into());
        self
    }

    /// Registers a role (see [`StsHandle::add_role`]).
    pub fn role(mut self, role: Role) -> Self {
        self.roles.push(role);
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// When the OS refuses to bind a loopback port (use [`try_start`](Self::try_start) to get the
    /// error instead), or when called outside a tokio runtime.
    pub async fn start(self) -> StsEmulator {
        crate::server::listening("StsEmulator", self.try_start().await)
    }

    /// Like [`start`](Self::start), returning the error when no loopback port can be bound.
    pub async fn try_start(self) -> std::io::Result<StsEmulator> {
        let clock: SharedTimeSource = self.time_source.unwrap_or_else(|| Arc::new(SystemClock));
        let server_clock = Arc::clone(&clock);
        let keys = Arc::new(Keys::default());
        {
            let mut table = keys.lock();
            for caller in self.callers {
                table
                    .callers
                    .insert(caller.access_key_id().to_owned(), caller);
            }
        }
        let mut layer = VerifyLayer::from_shared(keys.clone())
            .service(SERVICE)
            .time_source(clock.clone())
            .max_body_size(MAX_BODY_SIZE);
        if let Some(max_skew) = self.max_skew {
            layer = layer.max_skew(max_skew);
        }
        let roles: HashMap<String, Role> = self
            .roles
            .into_iter()
            .map(|role| (role.arn.clone(), role))
            .collect();
        let shared = Arc::new(Shared {
            clock,
            regions: self.regions,
            expiration_format: self.expiration_format,
            only_registered_roles: self.only_registered_roles,
            verify: Verify::new(Pass, layer),
            keys,
            faults: FaultSwitch::default(),
            log: RequestLog::default(),
            state: Mutex::new(State::new(self.web_identity_tokens, roles)),
        });
        let for_server = Arc::clone(&shared);
        let server = Server::start("sts emulator", server_clock, move |request| {
            handle(Arc::clone(&for_server), request)
        })
        .await?;
        Ok(StsEmulator {
            handle: StsHandle { shared },
            server,
        })
    }
}

/// A running STS emulator on `127.0.0.1`. See the [module docs](super) for what it serves.
///
/// It dereferences to its [`StsHandle`], so every control and assertion method is callable on it
/// directly; [`handle`](Self::handle) gives a cloneable handle for other tasks. Dropping the
/// emulator shuts the server down.
#[derive(Debug)]
pub struct StsEmulator {
    handle: StsHandle,
    server: Server,
}

impl StsEmulator {
    /// Starts configuring an emulator.
    pub fn builder() -> StsEmulatorBuilder {
        StsEmulatorBuilder::default()
    }

    /// Starts an emulator with the defaults (system clock, signatures scoped to
    /// [`DEFAULT_REGION`], no caller and no token registered yet). Panics like
    /// [`StsEmulatorBuilder::start`].
    pub async fn start() -> StsEmulator {
        Self::builder().start().await
    }

    /// The socket address the emulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The endpoint URL to give an STS client (`AWS_ENDPOINT_URL_STS`): `http://127.0.0.1:PORT`
    /// (no trailing slash; requests go to `/`).
    pub fn endpoint(&self) -> String {
        self.server.url()
    }

    /// A cloneable handle to control and inspect the emulator (it can outlive the emulator).
    pub fn handle(&self) -> StsHandle {
        self.handle.clone()
    }
}

impl Deref for StsEmulator {
    type Target = StsHandle;

    fn deref(&self) -> &StsHandle {
        &self.handle
    }
}

/// Controls and inspects an [`StsEmulator`]: callers, tokens, roles, faults, what it issued and
/// the request log. Cheap to clone; every method can be called at any time from any task.
///
/// It is also a [`KeyStore`] of the credentials the emulator issued, so a verifying
/// [`Endpoint`](crate::endpoint::Endpoint) can accept them
/// ([`EndpointBuilder::sts`](crate::endpoint::EndpointBuilder::sts)).
#[derive(Clone)]
pub struct StsHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for StsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("StsHandle")
            .field("regions", &self.shared.regions)
            .field("keys", &self.shared.keys)
            .field("web_identity_tokens", &state.web_identity_tokens.len())
            .field("faults", &self.shared.faults)
            .field("requests", &self.shared.log.len())
            .finish_non_exhaustive()
    }
}

impl StsHandle {
    /// Accepts `AssumeRole` requests signed with these credentials (a long-term key, or temporary
    /// credentials with their session token, which the request must then carry). Replaces earlier
    /// credentials with the same access key id.
    pub fn allow_caller(&self, credentials: Credentials) {
        self.shared
            .keys
            .lock()
            .callers
            .insert(credentials.access_key_id().to_owned(), credentials);
    }

    /// Stops accepting a caller's key (its next request gets `InvalidClientTokenId`). Returns
    /// whether it was registered. Credentials the emulator issued are not affected.
    pub fn revoke_caller(&self, access_key_id: &str) -> bool {
        self.shared
            .keys
            .lock()
            .callers
            .remove(access_key_id)
            .is_some()
    }

    /// Accepts this web identity token too (next to the ones already accepted).
    pub fn allow_web_identity_token(&self, token: impl Into<String>) {
        self.shared.lock().web_identity_tokens.push(token.into());
    }

    /// Accepts this web identity token and no other from now on: the rotation of a projected
    /// service account token (the old one gets `400 InvalidIdentityToken`).
    pub fn set_web_identity_token(&self, token: impl Into<String>) {
        let mut state = self.shared.lock();
        state.web_identity_tokens.clear();
        state.web_identity_tokens.push(token.into());
    }

    /// Accepts no web identity token any more.
    pub fn revoke_web_identity_tokens(&self) {
        self.shared.lock().web_identity_tokens.clear();
    }

    /// Registers a role (replacing an earlier registration of the same ARN): its external id and
    /// longest session are then enforced.
    pub fn add_role(&self, role: Role) {
        self.shared.lock().roles.insert(role.arn.clone(), role);
    }

    /// Switches a fault on: a plain [`Fault`](super::Fault) (its default target, until cleared) or
    /// a [`FaultRule`]. Rules add up; for each request they are checked in the order they were set:
    /// every matching [`Fault::Delay`](super::Fault::Delay) is applied, then the first other
    /// matching fault decides the answer. A rule limited with [`FaultRule::times`] disappears once
    /// used up (a request counts against a rule it matched even when it then fails for another
    /// reason).
    pub fn set_fault(&self, rule: impl Into<FaultRule>) {
        self.shared.faults.set(rule.into());
    }

    /// Switches every fault off and releases requests held by [`Fault::Hang`](super::Fault::Hang)
    /// (they are then answered normally).
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// The fault rules still active, with their remaining counts.
    pub fn active_faults(&self) -> Vec<FaultRule> {
        self.shared.faults.active()
    }

    /// Every set of credentials issued so far, oldest first (expired ones included).
    pub fn issued(&self) -> Vec<IssuedCredentials> {
        self.shared.keys.lock().issued.clone()
    }

    /// The credentials issued last, if any.
    pub fn last_issued(&self) -> Option<IssuedCredentials> {
        self.shared.keys.lock().issued.last().cloned()
    }

    /// The credentials issued with this access key id, expired or not; for a verifying server.
    pub fn lookup(&self, access_key_id: &str) -> Option<Credentials> {
        self.shared
            .keys
            .lock()
            .issued(access_key_id)
            .map(|i| i.credentials.clone())
    }

    /// Expires the credentials issued with this access key id now, by the emulator's clock, on the
    /// server's side only (as when AWS revokes a session): the client still holds the
    /// `Expiration` it was given, and its next request signed with them, to the emulator or to an
    /// [`Endpoint`](crate::endpoint::Endpoint) following it, gets `403 ExpiredToken`. Returns
    /// whether such credentials were issued. [`issued`](Self::issued) shows the new expiry.
    pub fn expire_issued(&self, access_key_id: &str) -> bool {
        let now = self.shared.clock.now();
        let mut keys = self.shared.keys.lock();
        match keys
            .issued
            .iter_mut()
            .find(|i| i.credentials.access_key_id() == access_key_id)
        {
            Some(issued) => {
                issued.credentials = issued.credentials.with_expiry(Some(now));
                true
            }
            None => false,
        }
    }

    /// Every request received so far (since the last [`clear_requests`](Self::clear_requests)),
    /// oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.all()
    }

    /// Waits until at least `n` requests have arrived (counted like [`requests`](Self::requests)),
    /// e.g. to know that a request is being held by [`Fault::Hang`](super::Fault::Hang). Waits
    /// forever if they never come: wrap it in a timeout if that can happen.
    pub async fn wait_for_requests(&self, n: usize) {
        self.shared.log.wait_for(n).await;
    }

    /// Forgets the request log and resets the counters (not the issued credentials).
    pub fn clear_requests(&self) {
        let mut state = self.shared.lock();
        self.shared.log.clear();
        state.assume_role_calls = 0;
        state.web_identity_calls = 0;
    }

    /// How many `AssumeRole` requests arrived, whatever their answer.
    pub fn assume_role_calls(&self) -> u64 {
        self.shared.lock().assume_role_calls
    }

    /// How many `AssumeRoleWithWebIdentity` requests arrived, whatever their answer.
    pub fn web_identity_calls(&self) -> u64 {
        self.shared.lock().web_identity_calls
    }
}

/// A verifying server follows the credentials the emulator issued (each with its own session
/// token and expiry).
impl KeyStore for StsHandle {
    fn lookup<'a>(
        &'a self,
        access_key_id: &'a str,
        _session_token: Option<&'a str>,
    ) -> KeyStoreFuture<'a> {
        Box::pin(std::future::ready(Ok(StsHandle::lookup(
            self,
            access_key_id,
        ))))
    }
}
