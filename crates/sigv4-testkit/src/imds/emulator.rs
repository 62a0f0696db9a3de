//! The builder, the running emulator and its handle.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sigv4_core::{Credentials, SharedTimeSource, SystemClock};

use super::credentials::{default_rotate_every, Generation};
use super::faults::FaultRule;
use super::records::RequestRecord;
use super::service::{handle, Shared, State};
use super::{DEFAULT_CREDENTIAL_LIFETIME, DEFAULT_ROLE_NAME};
use crate::fault::FaultSwitch;
use crate::log::RequestLog;
use crate::server::Server;

/// Configures and starts an [`ImdsEmulator`]; from [`ImdsEmulator::builder`].
#[derive(Debug, Clone)]
pub struct ImdsEmulatorBuilder {
    time_source: Option<SharedTimeSource>,
    role_name: String,
    lifetime: Duration,
    rotate_every: Option<Duration>,
    allow_imdsv1: bool,
    metadata: HashMap<String, String>,
}

impl Default for ImdsEmulatorBuilder {
    fn default() -> Self {
        Self {
            time_source: None,
            role_name: DEFAULT_ROLE_NAME.to_owned(),
            lifetime: DEFAULT_CREDENTIAL_LIFETIME,
            rotate_every: None,
            allow_imdsv1: false,
            metadata: HashMap::new(),
        }
    }
}

impl ImdsEmulatorBuilder {
    /// The clock for `LastUpdated`, `Expiration`, rotation and token expiry (default: the system
    /// clock). Pass a [`ManualClock`](sigv4_credentials::ManualClock) to control them from a test.
    pub fn time_source(mut self, time_source: SharedTimeSource) -> Self {
        self.time_source = Some(time_source);
        self
    }

    /// The instance's role name (default [`DEFAULT_ROLE_NAME`]). An empty name behaves like an
    /// instance without a role (`404` on the listing).
    pub fn role_name(mut self, name: impl Into<String>) -> Self {
        self.role_name = name.into();
        self
    }

    /// How long each generation of credentials is valid (default 6 hours).
    pub fn credential_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// How often a new generation becomes current. Default: the lifetime minus 15 minutes, or half
    /// the lifetime when that is shorter than 30 minutes. `Duration::ZERO` turns automatic rotation
    /// off ([`ImdsHandle::rotate_now`] still works).
    pub fn rotate_every(mut self, every: Duration) -> Self {
        self.rotate_every = Some(every);
        self
    }

    /// Answers metadata requests that carry no token (IMDSv1) instead of `401`. Off by default.
    /// A request with an invalid or expired token is still refused with `401`. Can be changed later
    /// with [`ImdsHandle::set_allow_imdsv1`].
    pub fn allow_imdsv1(mut self, allow: bool) -> Self {
        self.allow_imdsv1 = allow;
        self
    }

    /// Serves `body` (as text) on `GET path` too, under the same token rules, e.g.
    /// `.metadata("/latest/meta-data/placement/region", "eu-west-1")`.
    pub fn metadata(mut self, path: impl Into<String>, body: impl Into<String>) -> Self {
        self.metadata.insert(path.into(), body.into());
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// When the OS refuses to bind a loopback port (use [`try_start`](Self::try_start) to get the
    /// error instead), or when called outside a tokio runtime.
    pub async fn start(self) -> ImdsEmulator {
        crate::server::listening("ImdsEmulator", self.try_start().await)
    }

    /// Like [`start`](Self::start), returning the error when no loopback port can be bound.
    pub async fn try_start(self) -> std::io::Result<ImdsEmulator> {
        let clock: SharedTimeSource = self.time_source.unwrap_or_else(|| Arc::new(SystemClock));
        let server_clock = Arc::clone(&clock);
        let rotate_every = self
            .rotate_every
            .unwrap_or_else(|| default_rotate_every(self.lifetime));
        let now = clock.now();
        let first = Generation::issue(1, now, self.lifetime);
        let shared = Arc::new(Shared {
            clock,
            role_name: self.role_name,
            lifetime: self.lifetime,
            rotate_every,
            metadata: self.metadata,
            faults: FaultSwitch::default(),
            log: RequestLog::default(),
            state: Mutex::new(State {
                allow_imdsv1: self.allow_imdsv1,
                tokens: HashMap::new(),
                current: first,
                previous: Vec::new(),
                next_rotation_at: (!rotate_every.is_zero())
                    .then(|| now.checked_add(rotate_every))
                    .flatten(),
                token_fetches: 0,
                credential_fetches: 0,
            }),
        });
        let for_server = Arc::clone(&shared);
        let server = Server::start("imds emulator", server_clock, move |request| {
            handle(Arc::clone(&for_server), request)
        })
        .await?;
        Ok(ImdsEmulator {
            handle: ImdsHandle { shared },
            server,
        })
    }
}

/// A running IMDS emulator on `127.0.0.1`. See the [module docs](super) for what it serves.
///
/// It dereferences to its [`ImdsHandle`], so every control and assertion method is callable on it
/// directly; [`handle`](Self::handle) gives a cloneable handle for other tasks. Dropping the
/// emulator shuts the server down.
#[derive(Debug)]
pub struct ImdsEmulator {
    handle: ImdsHandle,
    server: Server,
}

impl ImdsEmulator {
    /// Starts configuring an emulator.
    pub fn builder() -> ImdsEmulatorBuilder {
        ImdsEmulatorBuilder::default()
    }

    /// Starts an emulator with the defaults (system clock, [`DEFAULT_ROLE_NAME`], 6-hour
    /// credentials, IMDSv2 only). Panics like [`ImdsEmulatorBuilder::start`].
    pub async fn start() -> ImdsEmulator {
        Self::builder().start().await
    }

    /// The socket address the emulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The base URL to give an IMDS client: `http://127.0.0.1:PORT` (no trailing slash).
    pub fn endpoint(&self) -> String {
        self.server.url()
    }

    /// A cloneable handle to control and inspect the emulator (it can outlive the emulator).
    pub fn handle(&self) -> ImdsHandle {
        self.handle.clone()
    }
}

impl Deref for ImdsEmulator {
    type Target = ImdsHandle;

    fn deref(&self) -> &ImdsHandle {
        &self.handle
    }
}

/// Controls and inspects an [`ImdsEmulator`]: faults, credentials, the request log. Cheap to clone;
/// every method can be called at any time from any task.
#[derive(Clone)]
pub struct ImdsHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for ImdsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("ImdsHandle")
            .field("role_name", &self.shared.role_name)
            .field("generation", &state.generation_number())
            .field("faults", &self.shared.faults)
            .field("requests", &self.shared.log.len())
            .finish_non_exhaustive()
    }
}

impl ImdsHandle {
    /// Switches a fault on: a plain [`Fault`](super::Fault) (its default target, until cleared) or
    /// a [`FaultRule`]. Rules add up; for each request they are checked in the order they were set:
    /// every matching [`Fault::Delay`](super::Fault::Delay) is applied, then the first other
    /// matching fault decides the answer. A rule limited with [`FaultRule::times`] disappears once
    /// used up.
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

    /// Allows or refuses metadata requests without a token (IMDSv1).
    pub fn set_allow_imdsv1(&self, allow: bool) {
        self.shared.lock().allow_imdsv1 = allow;
    }

    /// Makes every session token issued so far invalid (the next metadata request with one of them
    /// gets `401`), without moving the clock.
    pub fn invalidate_tokens(&self) {
        self.shared.lock().tokens.clear();
    }

    /// The instance's role name.
    pub fn role_name(&self) -> &str {
        &self.shared.role_name
    }

    /// The number of the current generation of credentials (1 at start).
    pub fn generation(&self) -> u64 {
        let now = self.shared.clock.now();
        let mut state = self.shared.lock();
        self.shared.rotate_if_due(&mut state, now);
        state.generation_number()
    }

    /// The credentials the emulator serves now (with their expiry), after any rotation the clock
    /// calls for.
    pub fn current_credentials(&self) -> Credentials {
        let now = self.shared.clock.now();
        let mut state = self.shared.lock();
        self.shared.rotate_if_due(&mut state, now);
        state.current.credentials.clone()
    }

    /// Every generation issued so far, oldest first, each with its expiry (expired ones included).
    pub fn issued_credentials(&self) -> Vec<Credentials> {
        let now = self.shared.clock.now();
        let mut state = self.shared.lock();
        self.shared.rotate_if_due(&mut state, now);
        state.all().map(|g| g.credentials.clone()).collect()
    }

    /// The credentials issued with this access key id, expired or not; for a verifying server.
    pub fn lookup(&self, access_key_id: &str) -> Option<Credentials> {
        let now = self.shared.clock.now();
        let mut state = self.shared.lock();
        self.shared.rotate_if_due(&mut state, now);
        let found = state
            .all()
            .find(|g| g.credentials.access_key_id() == access_key_id)
            .map(|g| g.credentials.clone());
        found
    }

    /// Issues a new generation now (dated by the emulator's clock) and returns it; the automatic
    /// schedule restarts from now.
    pub fn rotate_now(&self) -> Credentials {
        let now = self.shared.clock.now();
        let mut state = self.shared.lock();
        self.shared.issue_generation(&mut state, now);
        state.current.credentials.clone()
    }

    /// Every request received so far (since the last [`clear_requests`](Self::clear_requests)),
    /// oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.all()
    }

    /// Waits until at least `n` requests have arrived (counted like [`requests`](Self::requests)),
    /// e.g. to know that a request is being held by [`Fault::Hang`](super::Fault::Hang) before
    /// checking that it gets no answer. Waits forever if they never come: wrap it in a timeout if
    /// that can happen.
    pub async fn wait_for_requests(&self, n: usize) {
        self.shared.log.wait_for(n).await;
    }

    /// Forgets the request log and resets both counters.
    pub fn clear_requests(&self) {
        let mut state = self.shared.lock();
        self.shared.log.clear();
        state.token_fetches = 0;
        state.credential_fetches = 0;
    }

    /// How many token requests (`PUT` on [`TOKEN_PATH`](super::TOKEN_PATH)) arrived, whatever their
    /// answer.
    pub fn token_fetches(&self) -> u64 {
        self.shared.lock().token_fetches
    }

    /// How many credential requests (`GET` of
    /// [`SECURITY_CREDENTIALS_PATH`](super::SECURITY_CREDENTIALS_PATH) followed by a role name)
    /// arrived, whatever their answer.
    pub fn credential_fetches(&self) -> u64 {
        self.shared.lock().credential_fetches
    }
}
