//! Answering one request: read it, record it, apply the faults, check, issue.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::{json, Value};
use sigv4_core::{Credentials, SharedTimeSource};

use super::faults::Fault;
use super::records::{IssuedToken, Operation, RequestRecord};
use super::{BEARER_HEADER, MAX_BODY_SIZE, PROVIDER_NAME};
use crate::fault::FaultSwitch;
use crate::issue::numbered_credentials;
use crate::log::RequestLog;
use crate::server::CloseConnection;

pub(super) struct Shared {
    pub(super) clock: SharedTimeSource,
    pub(super) token_lifetime: Duration,
    pub(super) role_lifetime: Duration,
    pub(super) faults: FaultSwitch<Fault>,
    pub(super) log: RequestLog<RequestRecord>,
    pub(super) state: Mutex<State>,
}

#[derive(Default)]
pub(super) struct State {
    /// clientId → clientSecret.
    pub(super) clients: HashMap<String, String>,
    /// access token → expiry.
    pub(super) access_tokens: HashMap<String, SystemTime>,
    /// The refresh tokens not used yet.
    pub(super) refresh_tokens: Vec<String>,
    pub(super) tokens_issued: u64,
    pub(super) role_credentials: Vec<Credentials>,
    pub(super) create_token_calls: u64,
    pub(super) role_credentials_calls: u64,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new access token (expiring `token_lifetime` from now) and refresh token.
    pub(super) fn issue_token(&self, state: &mut State) -> IssuedToken {
        state.tokens_issued += 1;
        let n = state.tokens_issued;
        let token = IssuedToken {
            access_token: format!("aoaSsoAccessToken{n:06}+EMULATED/TOKEN="),
            refresh_token: format!("aorSsoRefreshToken{n:06}+EMULATED/TOKEN="),
            expires_at: self.clock.now() + self.token_lifetime,
        };
        state
            .access_tokens
            .insert(token.access_token.clone(), token.expires_at);
        state.refresh_tokens.push(token.refresh_token.clone());
        token
    }
}

struct Failure {
    status: StatusCode,
    code: String,
    message: String,
    /// OIDC's errors are OAuth-shaped (`error`, `error_description`).
    oauth: bool,
}

impl Failure {
    fn new(status: StatusCode, code: &str, message: &str, oauth: bool) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
            oauth,
        }
    }

    fn response(&self) -> Response<Full<Bytes>> {
        let body = if self.oauth {
            let error = match self.code.as_str() {
                "InvalidGrantException" => "invalid_grant",
                "InvalidClientException" => "invalid_client",
                "UnsupportedGrantTypeException" => "unsupported_grant_type",
                "InvalidRequestException" => "invalid_request",
                _ => "server_error",
            };
            json!({"error": error, "error_description": self.message})
        } else {
            json!({"message": self.message})
        };
        let mut response = json_response(self.status, &body);
        if let Ok(v) = http::HeaderValue::from_str(&self.code) {
            response.headers_mut().insert("x-amzn-errortype", v);
        }
        response
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn operation(method: &Method, path: &str) -> Option<Operation> {
    match (method, path) {
        (&Method::GET, "/federation/credentials") => Some(Operation::GetRoleCredentials),
        (&Method::POST, "/token") => Some(Operation::CreateToken),
        _ => None,
    }
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

pub(super) async fn handle(
    shared: std::sync::Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, CloseConnection> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_BODY_SIZE)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let op = operation(&parts.method, parts.uri.path());
    let planned = shared.faults.plan(|_, target| target.matches(op));
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let bearer = parts
        .headers
        .get(BEARER_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let index = shared.log.push(RequestRecord {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        operation: op,
        account_id: query_param(parts.uri.query(), "account_id"),
        role_name: query_param(parts.uri.query(), "role_name"),
        bearer_present: bearer.is_some(),
        client_id: json
            .get("clientId")
            .and_then(Value::as_str)
            .map(str::to_owned),
        at: shared.clock.now(),
        faults: planned.applied.clone(),
        status: None,
        error_code: None,
    });
    {
        let mut state = shared.lock();
        match op {
            Some(Operation::CreateToken) => state.create_token_calls += 1,
            Some(Operation::GetRoleCredentials) => state.role_credentials_calls += 1,
            None => {}
        }
    }
    let fault = shared.faults.carry_out(&planned).await?;
    let oauth = op == Some(Operation::CreateToken);
    let outcome = match fault {
        Some(Fault::Status(status)) => {
            let code = if status.is_server_error() {
                "InternalServerException".to_owned()
            } else {
                status
                    .canonical_reason()
                    .unwrap_or("Error")
                    .replace(' ', "")
            };
            Err(Failure::new(status, &code, "emulated failure", oauth))
        }
        Some(Fault::Error { status, code }) => {
            Err(Failure::new(status, &code, "emulated failure", oauth))
        }
        Some(Fault::Throttling) => Err(Failure::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            "Rate exceeded",
            oauth,
        )),
        other => {
            let malformed = other == Some(Fault::MalformedJson);
            match op {
                Some(Operation::GetRoleCredentials) => {
                    shared.role_credentials(bearer.as_deref(), parts.uri.query(), malformed)
                }
                Some(Operation::CreateToken) => shared.create_token(&json, malformed),
                None => Err(Failure::new(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFoundException",
                    "no such operation",
                    false,
                )),
            }
        }
    };
    let (response, code) = match outcome {
        Ok(response) => (response, None),
        Err(failure) => (failure.response(), Some(failure.code)),
    };
    tracing::debug!(path = parts.uri.path(), status = %response.status(), error = code.as_deref().unwrap_or(""), "sso emulator");
    let status = response.status();
    shared.log.update(index, |r| {
        r.status = Some(status);
        r.error_code = code;
    });
    Ok(response)
}

fn malformed() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(
        b"{\"roleCredentials\":{\"accessKe",
    )));
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

impl Shared {
    fn role_credentials(
        &self,
        bearer: Option<&str>,
        query: Option<&str>,
        malformed_answer: bool,
    ) -> Result<Response<Full<Bytes>>, Failure> {
        let unauthorized = || {
            Failure::new(
                StatusCode::UNAUTHORIZED,
                "UnauthorizedException",
                "Session token not found or invalid",
                false,
            )
        };
        let token = bearer.ok_or_else(unauthorized)?;
        let (account, role) = match (
            query_param(query, "account_id"),
            query_param(query, "role_name"),
        ) {
            (Some(a), Some(r)) => (a, r),
            _ => {
                return Err(Failure::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestException",
                    "account_id and role_name are required",
                    false,
                ))
            }
        };
        let now = self.clock.now();
        let mut state = self.lock();
        match state.access_tokens.get(token) {
            Some(expires) if *expires > now => {}
            _ => return Err(unauthorized()),
        }
        if malformed_answer {
            return Ok(malformed());
        }
        let number = state.role_credentials.len() as u64 + 1;
        let creds = numbered_credentials("SSO", number, now + self.role_lifetime, PROVIDER_NAME)
            .to_builder()
            .account_id(account)
            .build();
        let _ = role;
        state.role_credentials.push(creds.clone());
        let expiration = creds
            .expiry()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64);
        Ok(json_response(
            StatusCode::OK,
            &json!({"roleCredentials": {
                "accessKeyId": creds.access_key_id(),
                "secretAccessKey": creds.secret_access_key(),
                "sessionToken": creds.session_token(),
                "expiration": expiration,
            }}),
        ))
    }

    fn create_token(
        &self,
        json: &Value,
        malformed_answer: bool,
    ) -> Result<Response<Full<Bytes>>, Failure> {
        let field = |k: &str| json.get(k).and_then(Value::as_str).unwrap_or_default();
        let mut state = self.lock();
        let secret_ok = state
            .clients
            .get(field("clientId"))
            .is_some_and(|s| s == field("clientSecret"));
        if !secret_ok {
            return Err(Failure::new(
                StatusCode::UNAUTHORIZED,
                "InvalidClientException",
                "Invalid client",
                true,
            ));
        }
        if field("grantType") != "refresh_token" {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "UnsupportedGrantTypeException",
                "Only the refresh_token grant is emulated",
                true,
            ));
        }
        let refresh = field("refreshToken");
        let Some(at) = state.refresh_tokens.iter().position(|t| t == refresh) else {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "InvalidGrantException",
                "Invalid grant provided",
                true,
            ));
        };
        if malformed_answer {
            return Ok(malformed());
        }
        // Rotation: the refresh token used is no longer valid.
        state.refresh_tokens.remove(at);
        let token = self.issue_token(&mut state);
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "accessToken": token.access_token,
                "tokenType": "Bearer",
                "expiresIn": self.token_lifetime.as_secs(),
                "refreshToken": token.refresh_token,
            }),
        ))
    }
}
