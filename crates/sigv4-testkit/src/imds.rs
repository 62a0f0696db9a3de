//! A loopback emulator of the EC2 Instance Metadata Service (IMDSv2), with rotating credentials and
//! fault injection.
//!
//! [`ImdsEmulator`] is a real HTTP/1.1 server on `127.0.0.1`, on a port the OS picks. It speaks the
//! part of IMDS that credential providers use, as strictly as EC2 does:
//!
//! | request | answer |
//! | --- | --- |
//! | `PUT /latest/api/token` with `x-aws-ec2-metadata-token-ttl-seconds: 1..=21600` | `200`, body = an opaque session token, the TTL header repeated |
//! | the same without the TTL header, or with a TTL out of range | `400` |
//! | the same with an `X-Forwarded-For` header | `403` |
//! | `GET /latest/api/token` (or any method but `PUT`) | `405` |
//! | any other request without a valid, unexpired `x-aws-ec2-metadata-token` | `401` (unless IMDSv1 is allowed) |
//! | `GET /latest/meta-data/iam/security-credentials/` | `200`, the role name |
//! | `GET /latest/meta-data/iam/security-credentials/<role>` | `200`, the credentials JSON |
//! | an unknown role, any other path | `404` |
//! | a method other than `GET` on a metadata path | `405` |
//!
//! The credentials JSON has the fields EC2 serves:
//!
//! ```text
//! {
//!   "Code": "Success",
//!   "LastUpdated": "2023-11-14T22:13:20Z",
//!   "Type": "AWS-HMAC",
//!   "AccessKeyId": "ASIAEMU0000000000001",
//!   "SecretAccessKey": "…",
//!   "Token": "…",
//!   "Expiration": "2023-11-15T04:13:20Z"
//! }
//! ```
//!
//! # Time, rotation and tokens
//!
//! All wall-clock decisions use the [`SharedTimeSource`] given to
//! [`ImdsEmulatorBuilder::time_source`] (the system clock by default): the `LastUpdated` and
//! `Expiration` fields, when a new generation of credentials becomes current, and when a session
//! token expires. With a [`ManualClock`](sigv4_credentials::ManualClock) a test decides all of it by
//! moving the clock; nothing in the emulator sleeps on the wall clock. Only the
//! [`Fault::Delay`] fault waits, and it waits with `tokio::time`, so paused-time tests
//! (`#[tokio::test(start_paused = true)]`) run it instantly.
//!
//! Generation 1 is issued at the moment the emulator starts. Generation `n` has the access key id
//! `ASIAEMU` followed by `n` in 13 digits (`ASIAEMU0000000000001`, `ASIAEMU0000000000002`, ...), its
//! own secret and session token, `LastUpdated` = the time it was issued and `Expiration` = that
//! time plus the credential lifetime (6 hours by default), rounded down to the whole second exactly
//! as served. A new generation becomes current every `rotate_every` (by default the lifetime minus
//! 15 minutes, so the next generation is available well before the previous one expires, as on
//! EC2). Rotation is evaluated lazily from the clock whenever the emulator is asked (a request or an
//! accessor): when the clock jumps across several rotation periods at once, one new generation is
//! issued, dated at the start of the period the clock is in. [`ImdsHandle::rotate_now`] forces a
//! rotation.
//!
//! # Faults
//!
//! [`ImdsHandle::set_fault`] switches a [`Fault`] on, at any time, also while requests are in flight;
//! [`ImdsHandle::clear_faults`] switches them all off. A [`FaultRule`] narrows a fault to a
//! [`Target`] (the token path, the role listing, the role's credentials, ...) and to the next `n`
//! matching requests. For a server that is not there at all, see [`closed_port_endpoint`].
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! use http::StatusCode;
//! use sigv4_credentials::ManualClock;
//! use sigv4_testkit::imds::{Fault, FaultRule, ImdsEmulator, Target};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//! let imds = ImdsEmulator::builder()
//!     .time_source(Arc::new(clock.clone()))
//!     .role_name("web-server")
//!     .start()
//!     .await;
//!
//! // Point the code under test at `imds.endpoint()`, e.g. "http://127.0.0.1:41234".
//! assert!(imds.endpoint().starts_with("http://127.0.0.1:"));
//!
//! // What the code under test should end up with:
//! let first = imds.current_credentials();
//! assert_eq!(first.access_key_id(), "ASIAEMU0000000000001");
//! assert_eq!(first.expiry(), Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000 + 6 * 3600)));
//!
//! // Six hours later the emulator serves generation 2 (it rotated at 5 h 45 min).
//! clock.advance(Duration::from_secs(6 * 3600));
//! assert_eq!(imds.current_credentials().access_key_id(), "ASIAEMU0000000000002");
//! // A verifying server can still look the old secret up.
//! assert!(imds.lookup("ASIAEMU0000000000001").is_some());
//!
//! // The next two token requests fail with 503, then IMDS recovers.
//! imds.set_fault(
//!     FaultRule::new(Fault::Status(StatusCode::SERVICE_UNAVAILABLE))
//!         .on(Target::Token)
//!         .times(2),
//! );
//! // Every credentials request answers with broken JSON until cleared.
//! imds.set_fault(Fault::MalformedJson);
//! imds.clear_faults();
//!
//! // After the code under test ran: what did it ask?
//! assert_eq!(imds.credential_fetches(), 0);
//! assert!(imds.requests().is_empty());
//! # }
//! ```
//!
//! The emulator shuts down when the [`ImdsEmulator`] is dropped: it stops accepting and closes
//! every open connection (including requests held by [`Fault::Hang`]). An [`ImdsHandle`] (from
//! [`ImdsEmulator::handle`]) can outlive it, for assertions.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, ALLOW, CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sigv4_core::Credentials;
use sigv4_core::{SharedTimeSource, SystemClock};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

/// The path of the session-token endpoint.
pub const TOKEN_PATH: &str = "/latest/api/token";
/// The path of the role listing; a role's credentials live at this path followed by the role name.
pub const SECURITY_CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials/";
/// The request header that carries the session token on metadata requests.
pub const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// The header that asks for (on the request) and repeats (on the answer) a token's TTL in seconds.
pub const TOKEN_TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// The longest token TTL IMDS grants, in seconds (6 hours). The shortest is 1.
pub const MAX_TOKEN_TTL_SECONDS: u64 = 21_600;
/// The role name served unless [`ImdsEmulatorBuilder::role_name`] says otherwise.
pub const DEFAULT_ROLE_NAME: &str = "sigv4-testkit-role";
/// How long each generation of credentials is valid unless
/// [`ImdsEmulatorBuilder::credential_lifetime`] says otherwise: 6 hours.
pub const DEFAULT_CREDENTIAL_LIFETIME: Duration = Duration::from_secs(6 * 3600);
/// The provider name on the [`Credentials`] the emulator's accessors return.
pub const PROVIDER_NAME: &str = "imds-emulator";
/// How far in the past `Expiration` is under [`Fault::ExpiredCredentials`]: 1 hour before "now".
pub const EXPIRED_CREDENTIALS_AGE: Duration = Duration::from_secs(3600);
/// The `Code` served under [`Fault::CodeNotSuccess`].
pub const NOT_SUCCESS_CODE: &str = "AssumeRoleUnauthorizedAccess";

const DEFAULT_ROTATION_MARGIN: Duration = Duration::from_secs(15 * 60);
const TOKEN_LEN: usize = 56;
const TOKEN_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const MALFORMED_JSON: &str =
    "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2024-01-01T00:00:00Z\",\n  \"Type\" : \"AWS-HM";

// ===== faults =====

/// Something going wrong on purpose. Switch one on with [`ImdsHandle::set_fault`].
///
/// Each fault has a default [`Target`] (the requests it applies to), see [`Fault::default_target`];
/// wrap it in a [`FaultRule`] to choose another target or to limit it to the next `n` requests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status code (e.g. `500`, `503`) and its reason phrase as the body.
    /// Default target: [`Target::Any`].
    Status(StatusCode),
    /// Never answer: the request is held open until [`ImdsHandle::clear_faults`] is called (it is
    /// then answered normally) or the emulator is dropped (the connection is closed). Default
    /// target: [`Target::Any`].
    Hang,
    /// Wait this long (with `tokio::time`, so paused time skips it), then answer normally, or with
    /// the next matching fault. Delays of several matching rules add up. Default target:
    /// [`Target::Any`].
    Delay(Duration),
    /// Close the connection without answering. Default target: [`Target::Any`].
    CloseConnection,
    /// `403 Forbidden` on the token request, which is what EC2 does when IMDS is disabled on the
    /// instance (SDKs treat it as a hard "IMDS disabled" error). Default target: [`Target::Token`].
    Forbidden,
    /// The instance has no role: `404` on the role listing and on the role's credentials. Default
    /// target: [`Target::Metadata`] (applies only to those two kinds of request).
    NoRole,
    /// `200` with a truncated, unparseable JSON body on the role's credentials. Default target:
    /// [`Target::Credentials`] (applies only there).
    MalformedJson,
    /// `200` with a JSON body whose `Code` is [`NOT_SUCCESS_CODE`] and that has a `Message` but no
    /// keys, as EC2 serves when it cannot assume the role. Default target: [`Target::Credentials`]
    /// (applies only there).
    CodeNotSuccess,
    /// The current credentials, but with `Expiration` = now minus [`EXPIRED_CREDENTIALS_AGE`] (and
    /// `LastUpdated` one lifetime before that), as IMDS does during some outages. Default target:
    /// [`Target::Credentials`] (applies only there).
    ExpiredCredentials,
}

impl Fault {
    /// The requests this fault applies to when set on its own (not through a [`FaultRule`] that
    /// names a target).
    pub fn default_target(&self) -> Target {
        match self {
            Fault::Status(_) | Fault::Hang | Fault::Delay(_) | Fault::CloseConnection => {
                Target::Any
            }
            Fault::Forbidden => Target::Token,
            Fault::NoRole => Target::Metadata,
            Fault::MalformedJson | Fault::CodeNotSuccess | Fault::ExpiredCredentials => {
                Target::Credentials
            }
        }
    }

    /// Whether the fault means anything for this kind of request (a body fault does not apply to
    /// the token request, for instance).
    fn applies_to(&self, endpoint: &Endpoint, role_name: &str) -> bool {
        match self {
            Fault::Status(_)
            | Fault::Hang
            | Fault::Delay(_)
            | Fault::CloseConnection
            | Fault::Forbidden => true,
            Fault::NoRole => matches!(endpoint, Endpoint::RoleList | Endpoint::Credentials(_)),
            Fault::MalformedJson | Fault::CodeNotSuccess | Fault::ExpiredCredentials => {
                matches!(endpoint, Endpoint::Credentials(role) if role == role_name)
            }
        }
    }
}

/// Which requests a [`FaultRule`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// Every request.
    Any,
    /// The token request ([`TOKEN_PATH`], any method).
    Token,
    /// Every request except the token request.
    Metadata,
    /// The role listing ([`SECURITY_CREDENTIALS_PATH`]).
    RoleList,
    /// A role's credentials ([`SECURITY_CREDENTIALS_PATH`] followed by a name).
    Credentials,
}

impl Target {
    fn matches(self, endpoint: &Endpoint) -> bool {
        match self {
            Target::Any => true,
            Target::Token => matches!(endpoint, Endpoint::Token),
            Target::Metadata => !matches!(endpoint, Endpoint::Token),
            Target::RoleList => matches!(endpoint, Endpoint::RoleList),
            Target::Credentials => matches!(endpoint, Endpoint::Credentials(_)),
        }
    }
}

/// A [`Fault`] with the requests it applies to and how many times.
///
/// A plain `Fault` converts into a rule with its [default target](Fault::default_target) that lasts
/// until [`ImdsHandle::clear_faults`].
///
/// ```
/// use http::StatusCode;
/// use sigv4_testkit::imds::{Fault, FaultRule, Target};
///
/// // The next 3 credential requests fail with 500; everything else is normal.
/// let rule = FaultRule::new(Fault::Status(StatusCode::INTERNAL_SERVER_ERROR))
///     .on(Target::Credentials)
///     .times(3);
/// assert_eq!(rule.remaining(), Some(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    fault: Fault,
    target: Target,
    remaining: Option<u32>,
}

impl FaultRule {
    /// A rule for `fault` on its default target, until cleared.
    pub fn new(fault: Fault) -> Self {
        let target = fault.default_target();
        Self {
            fault,
            target,
            remaining: None,
        }
    }

    /// Applies the fault to these requests instead of its default target.
    pub fn on(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    /// Applies the fault to the next `n` matching requests only (then the rule is gone). `0` makes
    /// a rule that never applies.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Applies the fault to the next matching request only; same as `times(1)`.
    pub fn once(self) -> Self {
        self.times(1)
    }

    /// The fault.
    pub fn fault(&self) -> &Fault {
        &self.fault
    }

    /// The requests it applies to.
    pub fn target(&self) -> Target {
        self.target
    }

    /// How many more matching requests it applies to; `None` = until cleared.
    pub fn remaining(&self) -> Option<u32> {
        self.remaining
    }
}

impl From<Fault> for FaultRule {
    fn from(fault: Fault) -> Self {
        FaultRule::new(fault)
    }
}

// ===== request log =====

/// One request the emulator received, for assertions. Recorded when the request arrives; `status`
/// is filled in when it is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestRecord {
    /// The HTTP method.
    pub method: Method,
    /// The path (without the query).
    pub path: String,
    /// Whether an `x-aws-ec2-metadata-token` header was sent (valid or not).
    pub token_present: bool,
    /// The raw value of the `x-aws-ec2-metadata-token-ttl-seconds` header, if sent.
    pub token_ttl: Option<String>,
    /// Whether an `X-Forwarded-For` header was sent.
    pub forwarded_for: bool,
    /// The `User-Agent` header, if sent and valid UTF-8.
    pub user_agent: Option<String>,
    /// When it arrived, by the emulator's clock.
    pub at: SystemTime,
    /// The faults applied to it, in order (delays first).
    pub faults: Vec<Fault>,
    /// The status it was answered with; `None` while it is held (hang) or when the connection was
    /// closed without an answer.
    pub status: Option<StatusCode>,
}

impl RequestRecord {
    /// True for a request to the token path ([`TOKEN_PATH`]).
    pub fn is_token_request(&self) -> bool {
        self.path == TOKEN_PATH
    }

    /// True for a request for a role's credentials.
    pub fn is_credentials_request(&self) -> bool {
        matches!(classify(&self.path), Endpoint::Credentials(_))
    }
}

// ===== builder =====

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
        match self.try_start().await {
            Ok(emulator) => emulator,
            Err(e) => panic!("ImdsEmulator: cannot listen on 127.0.0.1:0: {e}"),
        }
    }

    /// Like [`start`](Self::start), returning the error when no loopback port can be bound.
    pub async fn try_start(self) -> std::io::Result<ImdsEmulator> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let clock: SharedTimeSource = self.time_source.unwrap_or_else(|| Arc::new(SystemClock));
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
            faults_cleared: Notify::new(),
            request_arrived: Notify::new(),
            state: Mutex::new(State {
                allow_imdsv1: self.allow_imdsv1,
                tokens: HashMap::new(),
                current: first,
                previous: Vec::new(),
                next_rotation_at: (!rotate_every.is_zero())
                    .then(|| now.checked_add(rotate_every))
                    .flatten(),
                faults: Vec::new(),
                clear_epoch: 0,
                requests: Vec::new(),
                token_fetches: 0,
                credential_fetches: 0,
            }),
        });
        let accept_task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(ImdsEmulator {
            handle: ImdsHandle { shared },
            addr,
            accept_task,
        })
    }
}

fn default_rotate_every(lifetime: Duration) -> Duration {
    let with_margin = lifetime.saturating_sub(DEFAULT_ROTATION_MARGIN);
    if with_margin >= DEFAULT_ROTATION_MARGIN * 2 {
        with_margin
    } else {
        lifetime / 2
    }
}

// ===== emulator and handle =====

/// A running IMDS emulator on `127.0.0.1`. See the [module docs](self) for what it serves.
///
/// It dereferences to its [`ImdsHandle`], so every control and assertion method is callable on it
/// directly; [`handle`](Self::handle) gives a cloneable handle for other tasks. Dropping the
/// emulator shuts the server down.
#[derive(Debug)]
pub struct ImdsEmulator {
    handle: ImdsHandle,
    addr: SocketAddr,
    accept_task: JoinHandle<()>,
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
        self.addr
    }

    /// The base URL to give an IMDS client: `http://127.0.0.1:PORT` (no trailing slash).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
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

impl Drop for ImdsEmulator {
    fn drop(&mut self) {
        // The accept task owns every connection task (a `JoinSet`), so aborting it closes them all,
        // hung requests included.
        self.accept_task.abort();
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
            .field("faults", &state.faults)
            .field("requests", &state.requests.len())
            .finish_non_exhaustive()
    }
}

impl ImdsHandle {
    /// Switches a fault on: a plain [`Fault`] (its default target, until cleared) or a
    /// [`FaultRule`]. Rules add up; for each request they are checked in the order they were set:
    /// every matching [`Fault::Delay`] is applied, then the first other matching fault decides the
    /// answer. A rule limited with [`FaultRule::times`] disappears once used up.
    pub fn set_fault(&self, rule: impl Into<FaultRule>) {
        let rule = rule.into();
        if rule.remaining == Some(0) {
            return;
        }
        self.shared.lock().faults.push(rule);
    }

    /// Switches every fault off and releases requests held by [`Fault::Hang`] (they are then
    /// answered normally).
    pub fn clear_faults(&self) {
        {
            let mut state = self.shared.lock();
            state.faults.clear();
            state.clear_epoch = state.clear_epoch.wrapping_add(1);
        }
        self.shared.faults_cleared.notify_waiters();
    }

    /// The fault rules still active, with their remaining counts.
    pub fn active_faults(&self) -> Vec<FaultRule> {
        self.shared.lock().faults.clone()
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
        self.shared.lock().requests.clone()
    }

    /// Waits until at least `n` requests have arrived (counted like [`requests`](Self::requests)),
    /// e.g. to know that a request is being held by [`Fault::Hang`] before checking that it gets
    /// no answer. Waits forever if they never come: wrap it in a timeout if that can happen.
    pub async fn wait_for_requests(&self, n: usize) {
        loop {
            let arrived = self.shared.request_arrived.notified();
            if self.shared.lock().requests.len() >= n {
                return;
            }
            arrived.await;
        }
    }

    /// Forgets the request log and resets both counters.
    pub fn clear_requests(&self) {
        let mut state = self.shared.lock();
        state.requests.clear();
        state.token_fetches = 0;
        state.credential_fetches = 0;
    }

    /// How many token requests (`PUT` on [`TOKEN_PATH`]) arrived, whatever their answer.
    pub fn token_fetches(&self) -> u64 {
        self.shared.lock().token_fetches
    }

    /// How many credential requests (`GET` of [`SECURITY_CREDENTIALS_PATH`] followed by a role name)
    /// arrived, whatever their answer.
    pub fn credential_fetches(&self) -> u64 {
        self.shared.lock().credential_fetches
    }
}

/// A `127.0.0.1` address where nothing listens (a port bound and released at once), to test a
/// client against "no IMDS here": connecting is refused.
///
/// Another process could take the port in between; on loopback in a test this is very unlikely.
pub fn closed_port() -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    listener.local_addr()
}

/// [`closed_port`] as a base URL: `http://127.0.0.1:PORT`.
pub fn closed_port_endpoint() -> std::io::Result<String> {
    closed_port().map(|addr| format!("http://{addr}"))
}

// ===== shared state =====

struct Shared {
    clock: SharedTimeSource,
    role_name: String,
    lifetime: Duration,
    rotate_every: Duration,
    metadata: HashMap<String, String>,
    faults_cleared: Notify,
    request_arrived: Notify,
    state: Mutex<State>,
}

struct State {
    allow_imdsv1: bool,
    /// Session token -> when it expires.
    tokens: HashMap<String, SystemTime>,
    /// The generation served now.
    current: Generation,
    /// The generations before it, oldest first.
    previous: Vec<Generation>,
    next_rotation_at: Option<SystemTime>,
    faults: Vec<FaultRule>,
    clear_epoch: u64,
    requests: Vec<RequestRecord>,
    token_fetches: u64,
    credential_fetches: u64,
}

impl State {
    fn generation_number(&self) -> u64 {
        self.previous.len() as u64 + 1
    }

    /// Every generation issued, oldest first.
    fn all(&self) -> impl Iterator<Item = &Generation> {
        self.previous.iter().chain(std::iter::once(&self.current))
    }
}

struct Generation {
    issued_at: SystemTime,
    credentials: Credentials,
}

impl Generation {
    fn issue(number: u64, issued_at: SystemTime, lifetime: Duration) -> Self {
        let expiry =
            crate::rfc3339::whole_seconds(issued_at.checked_add(lifetime).unwrap_or(issued_at));
        let credentials = Credentials::builder(
            format!("ASIAEMU{number:013}"),
            format!("emuSecretKey/{number:013}/{}", "x".repeat(13)),
        )
        .session_token(format!("IQoJemuSessionToken{number:013}//EMULATED+TOKEN="))
        .expiry(expiry)
        .provider_name(PROVIDER_NAME)
        .build();
        Self {
            issued_at,
            credentials,
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn rotate_if_due(&self, state: &mut State, now: SystemTime) {
        let Some(due) = state.next_rotation_at else {
            return;
        };
        if now < due || self.rotate_every.is_zero() {
            return;
        }
        // The start of the rotation period `now` falls in.
        let behind = now.duration_since(due).unwrap_or_default();
        let periods = behind.as_nanos() / self.rotate_every.as_nanos();
        let offset = u32::try_from(periods)
            .ok()
            .and_then(|p| self.rotate_every.checked_mul(p))
            .unwrap_or(behind);
        let slot_start = due.checked_add(offset).unwrap_or(now);
        self.issue_generation(state, slot_start);
    }

    fn issue_generation(&self, state: &mut State, at: SystemTime) {
        let number = state.generation_number() + 1;
        let next = Generation::issue(number, at, self.lifetime);
        let previous = std::mem::replace(&mut state.current, next);
        state.previous.push(previous);
        state.next_rotation_at = if self.rotate_every.is_zero() {
            None
        } else {
            at.checked_add(self.rotate_every)
        };
    }
}

// ===== server =====

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "imds emulator: accept failed");
                    // E.g. out of file descriptors: do not spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| handle(Arc::clone(&shared), request));
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(error = %e, "imds emulator: connection ended with an error");
    }
}

/// Returned by the service to make hyper drop the connection without an answer.
#[derive(Debug)]
struct CloseConnection;

impl fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection closed on purpose (Fault::CloseConnection)")
    }
}

impl std::error::Error for CloseConnection {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    Token,
    RoleList,
    Credentials(String),
    Other(String),
}

fn classify(path: &str) -> Endpoint {
    if path == TOKEN_PATH {
        return Endpoint::Token;
    }
    let list_without_slash = &SECURITY_CREDENTIALS_PATH[..SECURITY_CREDENTIALS_PATH.len() - 1];
    if path == SECURITY_CREDENTIALS_PATH || path == list_without_slash {
        return Endpoint::RoleList;
    }
    match path.strip_prefix(SECURITY_CREDENTIALS_PATH) {
        Some(role) => Endpoint::Credentials(role.to_owned()),
        None => Endpoint::Other(path.to_owned()),
    }
}

/// What was decided for a request before answering it.
struct Plan {
    index: usize,
    delay: Duration,
    terminal: Option<Fault>,
    clear_epoch: u64,
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, CloseConnection> {
    let (parts, _body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let endpoint = classify(&path);
    let plan = shared.plan(&parts.method, &path, &endpoint, &parts.headers);
    shared.request_arrived.notify_waiters();

    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    let mut terminal = plan.terminal;
    if terminal == Some(Fault::Hang) {
        shared.wait_for_clear(plan.clear_epoch).await;
        terminal = None;
    }
    if terminal == Some(Fault::CloseConnection) {
        return Err(CloseConnection);
    }

    let response = shared.respond(&parts.method, &endpoint, &parts.headers, terminal.as_ref());
    if let Some(record) = shared.lock().requests.get_mut(plan.index) {
        record.status = Some(response.status());
    }
    tracing::debug!(method = %parts.method, path = %path, status = %response.status(), "imds emulator");
    Ok(response)
}

impl Shared {
    /// Records the request, counts it, and picks the faults that apply.
    fn plan(&self, method: &Method, path: &str, endpoint: &Endpoint, headers: &HeaderMap) -> Plan {
        let now = self.clock.now();
        let mut state = self.lock();

        if *method == Method::PUT && *endpoint == Endpoint::Token {
            state.token_fetches += 1;
        }
        if *method == Method::GET
            && matches!(endpoint, Endpoint::Credentials(role) if !role.is_empty())
        {
            state.credential_fetches += 1;
        }

        let mut delay = Duration::ZERO;
        let mut terminal = None;
        let mut applied = Vec::new();
        for rule in state.faults.iter_mut() {
            if !rule.target.matches(endpoint) || !rule.fault.applies_to(endpoint, &self.role_name) {
                continue;
            }
            if let Some(n) = rule.remaining.as_mut() {
                *n = n.saturating_sub(1);
            }
            applied.push(rule.fault.clone());
            if let Fault::Delay(d) = rule.fault {
                delay = delay.saturating_add(d);
            } else {
                terminal = Some(rule.fault.clone());
                break;
            }
        }
        state.faults.retain(|rule| rule.remaining != Some(0));

        let header_text = |name: &str| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let index = state.requests.len();
        state.requests.push(RequestRecord {
            method: method.clone(),
            path: path.to_owned(),
            token_present: headers.contains_key(TOKEN_HEADER),
            token_ttl: header_text(TOKEN_TTL_HEADER),
            forwarded_for: headers.contains_key("x-forwarded-for"),
            user_agent: headers
                .get(USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            at: now,
            faults: applied,
            status: None,
        });
        Plan {
            index,
            delay,
            terminal,
            clear_epoch: state.clear_epoch,
        }
    }

    async fn wait_for_clear(&self, epoch: u64) {
        loop {
            let cleared = self.faults_cleared.notified();
            if self.lock().clear_epoch != epoch {
                return;
            }
            cleared.await;
        }
    }

    fn respond(
        &self,
        method: &Method,
        endpoint: &Endpoint,
        headers: &HeaderMap,
        fault: Option<&Fault>,
    ) -> Response<Full<Bytes>> {
        match fault {
            Some(Fault::Status(status)) => return status_text(*status),
            Some(Fault::Forbidden) => return status_text(StatusCode::FORBIDDEN),
            Some(Fault::NoRole) => return status_text(StatusCode::NOT_FOUND),
            _ => {}
        }
        let now = self.clock.now();

        if *endpoint == Endpoint::Token {
            return self.issue_token(method, headers, now);
        }
        if *method != Method::GET {
            let mut response = status_text(StatusCode::METHOD_NOT_ALLOWED);
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            return response;
        }

        let mut state = self.lock();
        match headers.get(TOKEN_HEADER) {
            Some(token) => {
                let valid = token
                    .to_str()
                    .ok()
                    .and_then(|t| state.tokens.get(t))
                    .is_some_and(|expires| now < *expires);
                if !valid {
                    return status_text(StatusCode::UNAUTHORIZED);
                }
            }
            None if state.allow_imdsv1 => {}
            None => return status_text(StatusCode::UNAUTHORIZED),
        }

        match endpoint {
            Endpoint::RoleList if !self.role_name.is_empty() => text(self.role_name.clone()),
            Endpoint::Credentials(role) if !role.is_empty() && *role == self.role_name => {
                self.rotate_if_due(&mut state, now);
                let current = &state.current;
                let body = match fault {
                    Some(Fault::MalformedJson) => MALFORMED_JSON.to_owned(),
                    Some(Fault::CodeNotSuccess) => not_success_json(now),
                    Some(Fault::ExpiredCredentials) => {
                        let expiration = now.checked_sub(EXPIRED_CREDENTIALS_AGE).unwrap_or(now);
                        let last_updated =
                            expiration.checked_sub(self.lifetime).unwrap_or(expiration);
                        credentials_json(&current.credentials, last_updated, expiration)
                    }
                    _ => {
                        let expiration = current.credentials.expiry().unwrap_or(now);
                        credentials_json(&current.credentials, current.issued_at, expiration)
                    }
                };
                text(body)
            }
            Endpoint::Other(path) => match self.metadata.get(path) {
                Some(body) => text(body.clone()),
                None => status_text(StatusCode::NOT_FOUND),
            },
            _ => status_text(StatusCode::NOT_FOUND),
        }
    }

    fn issue_token(
        &self,
        method: &Method,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Response<Full<Bytes>> {
        if *method != Method::PUT {
            let mut response = status_text(StatusCode::METHOD_NOT_ALLOWED);
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("PUT"));
            return response;
        }
        if headers.contains_key("x-forwarded-for") {
            return status_text(StatusCode::FORBIDDEN);
        }
        let Some(ttl) = headers
            .get(TOKEN_TTL_HEADER)
            .and_then(|v| parse_ttl(v.as_bytes()))
        else {
            return status_text(StatusCode::BAD_REQUEST);
        };
        let token = random_token();
        let expires = now.checked_add(Duration::from_secs(ttl)).unwrap_or(now);
        {
            let mut state = self.lock();
            state.tokens.retain(|_, expiry| now < *expiry);
            state.tokens.insert(token.clone(), expires);
        }
        let mut response = text(token);
        response
            .headers_mut()
            .insert(TOKEN_TTL_HEADER, HeaderValue::from(ttl));
        response
    }
}

// ===== answers =====

fn text(body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn status_text(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = text(status.canonical_reason().unwrap_or("Error").to_owned());
    *response.status_mut() = status;
    response
}

/// `1..=21600`, digits only (no sign, no spaces inside; surrounding spaces are trimmed).
fn parse_ttl(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 5 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let ttl = value
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    (1..=MAX_TOKEN_TTL_SECONDS).contains(&ttl).then_some(ttl)
}

fn random_token() -> String {
    (0..TOKEN_LEN)
        .map(|_| {
            let i = fastrand::usize(..TOKEN_ALPHABET.len());
            char::from(TOKEN_ALPHABET[i])
        })
        .collect()
}

fn credentials_json(
    creds: &Credentials,
    last_updated: SystemTime,
    expiration: SystemTime,
) -> String {
    let value = serde_json::json!({
        "Code": "Success",
        "LastUpdated": crate::rfc3339::format(last_updated),
        "Type": "AWS-HMAC",
        "AccessKeyId": creds.access_key_id(),
        "SecretAccessKey": creds.secret_access_key(),
        "Token": creds.session_token().unwrap_or_default(),
        "Expiration": crate::rfc3339::format(expiration),
    });
    to_pretty(&value)
}

fn not_success_json(now: SystemTime) -> String {
    let value = serde_json::json!({
        "Code": NOT_SUCCESS_CODE,
        "Message": "EC2 cannot assume the role of this instance (emulated failure).",
        "LastUpdated": crate::rfc3339::format(now),
    });
    to_pretty(&value)
}

fn to_pretty(value: &serde_json::Value) -> String {
    // Serialising a `Value` built from strings cannot fail; keep a valid fallback anyway.
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_parsing() {
        assert_eq!(parse_ttl(b"21600"), Some(21_600));
        assert_eq!(parse_ttl(b"1"), Some(1));
        assert_eq!(parse_ttl(b" 60 "), Some(60));
        for bad in [
            &b""[..],
            b"0",
            b"21601",
            b"-1",
            b"+5",
            b"1e3",
            b"99999999999999999999999",
            b"6 0",
            b"\xff",
        ] {
            assert_eq!(parse_ttl(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn classification() {
        assert_eq!(classify("/latest/api/token"), Endpoint::Token);
        assert_eq!(
            classify("/latest/meta-data/iam/security-credentials/"),
            Endpoint::RoleList
        );
        assert_eq!(
            classify("/latest/meta-data/iam/security-credentials"),
            Endpoint::RoleList
        );
        assert_eq!(
            classify("/latest/meta-data/iam/security-credentials/r"),
            Endpoint::Credentials("r".into())
        );
        assert_eq!(classify("/"), Endpoint::Other("/".into()));
    }

    #[test]
    fn default_rotation_leaves_a_margin() {
        assert_eq!(
            default_rotate_every(Duration::from_secs(6 * 3600)),
            Duration::from_secs(6 * 3600 - 900)
        );
        assert_eq!(
            default_rotate_every(Duration::from_secs(600)),
            Duration::from_secs(300)
        );
        assert_eq!(default_rotate_every(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn tokens_are_opaque_and_distinct() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.len(), TOKEN_LEN);
        assert_ne!(a, b);
        assert!(HeaderValue::from_str(&a).is_ok());
    }
}
