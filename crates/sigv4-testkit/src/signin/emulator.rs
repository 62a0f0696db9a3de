//! The builder, the server, the handle, the faults.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::{json, Value};
use sigv4_core::{Credentials, SharedTimeSource, SystemClock};

use super::dpop::verify_dpop;
use super::PROVIDER_NAME;
use crate::fault::FaultSwitch;
use crate::issue::numbered_credentials;
use crate::log::RequestLog;
use crate::server::{CloseConnection, Server};

/// Something going wrong on purpose; see [`crate::fault`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status (and an OAuth error body). Default target: [`Target::Any`].
    Status(StatusCode),
    /// `429` (retryable). Default target: [`Target::Any`].
    Throttling,
    /// Hold the request until the faults are cleared. Default target: [`Target::Any`].
    Hang,
    /// Wait this long, then answer. Default target: [`Target::Any`].
    Delay(Duration),
    /// Close the connection without answering. Default target: [`Target::Any`].
    CloseConnection,
}

impl Fault {
    /// The requests this fault applies to when set on its own.
    pub fn default_target(&self) -> Target {
        Target::Any
    }
}

crate::fault::impl_fault_kind!(Fault, Target);

/// Which requests a [`FaultRule`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// Every request.
    Any,
}

/// A [`Fault`] with its target and count.
pub type FaultRule = crate::fault::FaultRule<Fault>;

/// What the next successful refresh answers instead of numbered credentials. `Debug` hides the
/// secrets.
#[derive(Clone)]
pub struct ScriptedAnswer {
    /// The credentials (their expiry is ignored: `expiresIn` is the lifetime).
    pub credentials: Credentials,
    /// The new refresh token.
    pub refresh_token: String,
    /// `expiresIn`, seconds.
    pub expires_in: u64,
}

impl fmt::Debug for ScriptedAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedAnswer")
            .field("credentials", &self.credentials)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// One request as the emulator saw it (no token or key kept).
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// The path.
    pub path: String,
    /// `clientId`.
    pub client_id: Option<String>,
    /// `grantType`.
    pub grant_type: Option<String>,
    /// Whether the DPoP proof was valid for this request.
    pub dpop_valid: bool,
    /// The faults applied.
    pub faults: Vec<Fault>,
    /// The status answered.
    pub status: Option<StatusCode>,
    /// The OAuth error answered, if any.
    pub error: Option<String>,
}

struct Shared {
    clock: SharedTimeSource,
    lifetime: Duration,
    faults: FaultSwitch<Fault>,
    log: RequestLog<RequestRecord>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// (client id, refresh token) pairs that can be used once.
    sessions: Vec<(String, String)>,
    scripted: Vec<ScriptedAnswer>,
    jtis: HashSet<String>,
    issued: Vec<Credentials>,
    refreshes: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Configures a [`SigninEmulator`].
#[derive(Clone, Default)]
pub struct SigninEmulatorBuilder {
    time_source: Option<SharedTimeSource>,
    lifetime: Option<Duration>,
    sessions: Vec<(String, String)>,
}

impl fmt::Debug for SigninEmulatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigninEmulatorBuilder")
            .field("lifetime", &self.lifetime)
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl SigninEmulatorBuilder {
    /// The clock (default: the system clock).
    pub fn time_source(mut self, time_source: SharedTimeSource) -> Self {
        self.time_source = Some(time_source);
        self
    }

    /// How long issued credentials last (`expiresIn`; default 15 minutes).
    pub fn credentials_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// Registers a session: its client id and current refresh token.
    pub fn session(
        mut self,
        client_id: impl Into<String>,
        refresh_token: impl Into<String>,
    ) -> Self {
        self.sessions.push((client_id.into(), refresh_token.into()));
        self
    }

    /// Binds `127.0.0.1:0` and serves. Panics when no port can be bound.
    pub async fn start(self) -> SigninEmulator {
        let shared = Arc::new(Shared {
            clock: self.time_source.unwrap_or_else(|| Arc::new(SystemClock)),
            lifetime: self.lifetime.unwrap_or(Duration::from_secs(900)),
            faults: FaultSwitch::default(),
            log: RequestLog::default(),
            state: Mutex::new(State {
                sessions: self.sessions,
                ..State::default()
            }),
        });
        let for_server = Arc::clone(&shared);
        let server = Server::start(
            "signin emulator",
            Arc::clone(&for_server.clock),
            move |request| handle(Arc::clone(&for_server), request),
        )
        .await;
        let server = crate::server::listening("SigninEmulator", server);
        SigninEmulator {
            handle: SigninHandle { shared },
            server,
        }
    }
}

/// A running sign-in emulator; dereferences to its [`SigninHandle`].
#[derive(Debug)]
pub struct SigninEmulator {
    handle: SigninHandle,
    server: Server,
}

impl SigninEmulator {
    /// Starts configuring one.
    pub fn builder() -> SigninEmulatorBuilder {
        SigninEmulatorBuilder::default()
    }

    /// `http://127.0.0.1:PORT`: the value for `AWS_ENDPOINT_URL_SIGNIN`.
    pub fn endpoint(&self) -> String {
        self.server.url()
    }

    /// A cloneable handle.
    pub fn handle(&self) -> SigninHandle {
        self.handle.clone()
    }
}

impl std::ops::Deref for SigninEmulator {
    type Target = SigninHandle;

    fn deref(&self) -> &SigninHandle {
        &self.handle
    }
}

/// Controls and inspects a [`SigninEmulator`].
#[derive(Clone)]
pub struct SigninHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for SigninHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("SigninHandle")
            .field("sessions", &state.sessions.len())
            .field("refreshes", &state.refreshes)
            .field("faults", &self.shared.faults)
            .finish_non_exhaustive()
    }
}

impl SigninHandle {
    /// Registers a session (client id, refresh token).
    pub fn add_session(&self, client_id: impl Into<String>, refresh_token: impl Into<String>) {
        self.shared
            .lock()
            .sessions
            .push((client_id.into(), refresh_token.into()));
    }

    /// The next successful refresh answers this instead of numbered credentials.
    pub fn answer_next_with(&self, answer: ScriptedAnswer) {
        self.shared.lock().scripted.push(answer);
    }

    /// Whether this refresh token would be accepted now.
    pub fn refresh_token_valid(&self, refresh_token: &str) -> bool {
        self.shared
            .lock()
            .sessions
            .iter()
            .any(|(_, t)| t == refresh_token)
    }

    /// Ends every session (sign-out): refreshes get `invalid_grant`.
    pub fn revoke_sessions(&self) {
        self.shared.lock().sessions.clear();
    }

    /// How many requests reached `/v1/token`, whatever their answer.
    pub fn refresh_calls(&self) -> u64 {
        self.shared.lock().refreshes
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.all()
    }

    /// Credentials issued so far (numbered or scripted).
    pub fn issued(&self) -> Vec<Credentials> {
        self.shared.lock().issued.clone()
    }

    /// Switches a fault on.
    pub fn set_fault(&self, rule: impl Into<FaultRule>) {
        self.shared.faults.set(rule.into());
    }

    /// Switches every fault off and releases held requests.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }
}

type Answer = (Response<Full<Bytes>>, Option<String>);

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(
        json!({"error": error, "error_description": description}).to_string(),
    )));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    (response, Some(error.to_owned()))
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, CloseConnection> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, 64 * 1024)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let field = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_owned);
    let planned = shared.faults.plan(|_, _| true);
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let now = shared.clock.now();
    let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let dpop = parts
        .headers
        .get("dpop")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| "no DPoP header".to_owned())
        .and_then(verify_dpop)
        .and_then(|claims| {
            let url_ok = claims.url.ends_with(&format!("{host}{}", parts.uri.path()));
            if claims.method != parts.method.as_str() || !url_ok {
                return Err("htm/htu do not name this request".to_owned());
            }
            if claims.issued_at.abs_diff(now_secs) > 300 {
                return Err("iat is more than 5 minutes off".to_owned());
            }
            if !shared.lock().jtis.insert(claims.id.clone()) {
                return Err("jti replayed".to_owned());
            }
            Ok(claims)
        });
    let index = shared.log.push(RequestRecord {
        path: parts.uri.path().to_owned(),
        client_id: field("clientId"),
        grant_type: field("grantType"),
        dpop_valid: dpop.is_ok(),
        faults: planned.applied.clone(),
        status: None,
        error: None,
    });
    let fault = shared.faults.carry_out(&planned).await?;
    let (response, error) = match fault {
        Some(Fault::Status(status)) => oauth_error(status, "server_error", "emulated failure"),
        Some(Fault::Throttling) => {
            oauth_error(StatusCode::TOO_MANY_REQUESTS, "slow_down", "Rate exceeded")
        }
        _ if parts.method != Method::POST || parts.uri.path() != "/v1/token" => {
            oauth_error(StatusCode::NOT_FOUND, "not_found", "no such operation")
        }
        _ => answer(&shared, &json, dpop.is_ok(), now),
    };
    let status = response.status();
    tracing::debug!(status = %status, error = error.as_deref().unwrap_or(""), "signin emulator");
    shared.log.update(index, |r| {
        r.status = Some(status);
        r.error = error;
    });
    Ok(response)
}

fn answer(shared: &Shared, json: &Value, dpop_ok: bool, now: SystemTime) -> Answer {
    let mut state = shared.lock();
    state.refreshes += 1;
    if !dpop_ok {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_dpop_proof",
            "Invalid DPoP proof",
        );
    }
    let field = |k: &str| json.get(k).and_then(Value::as_str).unwrap_or_default();
    if field("grantType") != "refresh_token" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Only refresh_token is emulated",
        );
    }
    let (client, refresh) = (field("clientId"), field("refreshToken"));
    let Some(at) = state
        .sessions
        .iter()
        .position(|(c, r)| c == client && r == refresh)
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid refresh token",
        );
    };
    state.sessions.remove(at);
    let number = state.issued.len() as u64 + 1;
    let scripted = (!state.scripted.is_empty()).then(|| state.scripted.remove(0));
    let (credentials, refresh_token, expires_in) = match scripted {
        Some(s) => (s.credentials, s.refresh_token, s.expires_in),
        None => (
            numbered_credentials("SIGNIN", number, now + shared.lifetime, PROVIDER_NAME),
            format!("signinRefreshToken{number:06}+EMULATED/TOKEN="),
            shared.lifetime.as_secs(),
        ),
    };
    state
        .sessions
        .push((client.to_owned(), refresh_token.clone()));
    state.issued.push(credentials.clone());
    let mut response = Response::new(Full::new(Bytes::from(
        json!({
            "accessToken": {
                "accessKeyId": credentials.access_key_id(),
                "secretAccessKey": credentials.secret_access_key(),
                "sessionToken": credentials.session_token(),
            },
            "refreshToken": refresh_token,
            "expiresIn": expires_in,
            "tokenType": "aws_sigv4",
        })
        .to_string(),
    )));
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    (response, None)
}
