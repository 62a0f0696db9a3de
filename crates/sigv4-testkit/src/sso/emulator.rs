//! The builder, the running emulator and its handle.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sigv4_core::{Credentials, SharedTimeSource, SystemClock};

use super::faults::FaultRule;
use super::records::{IssuedToken, RequestRecord};
use super::service::{handle, Shared, State};
use crate::fault::FaultSwitch;
use crate::log::RequestLog;
use crate::server::Server;

/// Configures and starts an [`SsoEmulator`]; from [`SsoEmulator::builder`].
#[derive(Clone, Default)]
pub struct SsoEmulatorBuilder {
    time_source: Option<SharedTimeSource>,
    clients: Vec<(String, String)>,
    token_lifetime: Option<Duration>,
    role_lifetime: Option<Duration>,
}

impl fmt::Debug for SsoEmulatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SsoEmulatorBuilder")
            .field("time_source", &self.time_source)
            .field(
                "clients",
                &self.clients.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .field("token_lifetime", &self.token_lifetime)
            .field("role_lifetime", &self.role_lifetime)
            .finish()
    }
}

impl SsoEmulatorBuilder {
    /// The clock for token and credential expiry (default: the system clock).
    pub fn time_source(mut self, time_source: SharedTimeSource) -> Self {
        self.time_source = Some(time_source);
        self
    }

    /// Registers an OIDC client (what `aws sso login` registers and caches as `clientId` and
    /// `clientSecret`).
    pub fn client(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.clients.push((id.into(), secret.into()));
        self
    }

    /// How long access tokens last (default 1 hour).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = Some(lifetime);
        self
    }

    /// How long role credentials last (default 1 hour).
    pub fn role_credentials_lifetime(mut self, lifetime: Duration) -> Self {
        self.role_lifetime = Some(lifetime);
        self
    }

    /// Binds `127.0.0.1:0` and starts serving.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound, or outside a tokio runtime.
    pub async fn start(self) -> SsoEmulator {
        let mut state = State::default();
        state.clients.extend(self.clients);
        let shared = Arc::new(Shared {
            clock: self.time_source.unwrap_or_else(|| Arc::new(SystemClock)),
            token_lifetime: self.token_lifetime.unwrap_or(Duration::from_secs(3600)),
            role_lifetime: self.role_lifetime.unwrap_or(Duration::from_secs(3600)),
            faults: FaultSwitch::default(),
            log: RequestLog::default(),
            state: Mutex::new(state),
        });
        let for_server = Arc::clone(&shared);
        let server = Server::start(
            "sso emulator",
            Arc::clone(&for_server.clock),
            move |request| handle(Arc::clone(&for_server), request),
        )
        .await;
        let server = crate::server::listening("SsoEmulator", server);
        SsoEmulator {
            handle: SsoHandle { shared },
            server,
        }
    }
}

/// A running SSO portal + OIDC emulator on `127.0.0.1`. See the [module docs](super).
/// Dereferences to its [`SsoHandle`]; dropping it shuts the server down.
#[derive(Debug)]
pub struct SsoEmulator {
    handle: SsoHandle,
    server: Server,
}

impl SsoEmulator {
    /// Starts configuring an emulator.
    pub fn builder() -> SsoEmulatorBuilder {
        SsoEmulatorBuilder::default()
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:PORT`: the value for `AWS_ENDPOINT_URL_SSO` and
    /// `AWS_ENDPOINT_URL_SSO_OIDC`.
    pub fn endpoint(&self) -> String {
        self.server.url()
    }

    /// A cloneable handle (it can outlive the emulator).
    pub fn handle(&self) -> SsoHandle {
        self.handle.clone()
    }
}

impl Deref for SsoEmulator {
    type Target = SsoHandle;

    fn deref(&self) -> &SsoHandle {
        &self.handle
    }
}

/// Controls and inspects an [`SsoEmulator`]. Cheap to clone.
#[derive(Clone)]
pub struct SsoHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for SsoHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("SsoHandle")
            .field("clients", &state.clients.keys().collect::<Vec<_>>())
            .field("tokens_issued", &state.tokens_issued)
            .field("faults", &self.shared.faults)
            .field("requests", &self.shared.log.len())
            .finish_non_exhaustive()
    }
}

impl SsoHandle {
    /// Issues an access token and a refresh token now (what `aws sso login` leaves in the cache).
    pub fn issue_token(&self) -> IssuedToken {
        let mut state = self.shared.lock();
        self.shared.issue_token(&mut state)
    }

    /// Registers an OIDC client.
    pub fn add_client(&self, id: impl Into<String>, secret: impl Into<String>) {
        self.shared.lock().clients.insert(id.into(), secret.into());
    }

    /// Invalidates every access and refresh token (a sign-out): the next calls get `401` /
    /// `invalid_grant`.
    pub fn revoke_tokens(&self) {
        let mut state = self.shared.lock();
        state.access_tokens.clear();
        state.refresh_tokens.clear();
    }

    /// Whether this refresh token would be accepted now (not used yet, not revoked).
    pub fn refresh_token_valid(&self, refresh_token: &str) -> bool {
        self.shared
            .lock()
            .refresh_tokens
            .iter()
            .any(|t| t == refresh_token)
    }

    /// Switches a fault on (see [`crate::fault`]).
    pub fn set_fault(&self, rule: impl Into<FaultRule>) {
        self.shared.faults.set(rule.into());
    }

    /// Switches every fault off and releases held requests.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.all()
    }

    /// Waits until at least `n` requests have arrived.
    pub async fn wait_for_requests(&self, n: usize) {
        self.shared.log.wait_for(n).await;
    }

    /// How many `CreateToken` requests arrived, whatever their answer.
    pub fn create_token_calls(&self) -> u64 {
        self.shared.lock().create_token_calls
    }

    /// How many `GetRoleCredentials` requests arrived, whatever their answer.
    pub fn role_credentials_calls(&self) -> u64 {
        self.shared.lock().role_credentials_calls
    }

    /// The role credentials issued so far, oldest first.
    pub fn issued_credentials(&self) -> Vec<Credentials> {
        self.shared.lock().role_credentials.clone()
    }
}
