//! Answering one request: classify it, record it, apply the faults, check the token, serve.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, ALLOW, CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use sigv4_core::SharedTimeSource;

use super::credentials::{credentials_json, not_success_json, Generation, MALFORMED_JSON};
use super::faults::Fault;
use super::records::RequestRecord;
use super::{
    EXPIRED_CREDENTIALS_AGE, SECURITY_CREDENTIALS_PATH, TOKEN_HEADER, TOKEN_PATH, TOKEN_TTL_HEADER,
};
use crate::fault::{FaultSwitch, Planned};
use crate::log::RequestLog;
use crate::server::CloseConnection;

/// Everything the server and the handles share.
pub(super) struct Shared {
    pub(super) clock: SharedTimeSource,
    pub(super) role_name: String,
    pub(super) lifetime: Duration,
    pub(super) rotate_every: Duration,
    pub(super) metadata: HashMap<String, String>,
    pub(super) faults: FaultSwitch<Fault>,
    pub(super) log: RequestLog<RequestRecord>,
    pub(super) state: Mutex<State>,
}

pub(super) struct State {
    pub(super) allow_imdsv1: bool,
    /// Session token -> when it expires.
    pub(super) tokens: HashMap<String, SystemTime>,
    /// The generation served now.
    pub(super) current: Generation,
    /// The generations before it, oldest first.
    pub(super) previous: Vec<Generation>,
    pub(super) next_rotation_at: Option<SystemTime>,
    pub(super) token_fetches: u64,
    pub(super) credential_fetches: u64,
}

impl State {
    pub(super) fn generation_number(&self) -> u64 {
        self.previous.len() as u64 + 1
    }

    /// Every generation issued, oldest first.
    pub(super) fn all(&self) -> impl Iterator<Item = &Generation> {
        self.previous.iter().chain(std::iter::once(&self.current))
    }
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a request asks for, from its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Endpoint {
    Token,
    RoleList,
    Credentials(String),
    Other(String),
}

pub(super) fn classify(path: &str) -> Endpoint {
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

pub(super) async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, CloseConnection> {
    let (parts, _body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let endpoint = classify(&path);
    let (index, planned) = shared.plan(&parts.method, &path, &endpoint, &parts.headers);

    let fault = shared.faults.carry_out(&planned).await?;
    let response = shared.respond(&parts.method, &endpoint, &parts.headers, fault.as_ref());
    let status = response.status();
    shared
        .log
        .update(index, |record| record.status = Some(status));
    tracing::debug!(method = %parts.method, path = %path, status = %response.status(), "imds emulator");
    Ok(response)
}

impl Shared {
    /// Counts the request, picks the faults that apply, and records it; returns its place in the
    /// log and the faults.
    fn plan(
        &self,
        method: &Method,
        path: &str,
        endpoint: &Endpoint,
        headers: &HeaderMap,
    ) -> (usize, Planned<Fault>) {
        let now = self.clock.now();
        let planned = self.faults.plan(|fault, target| {
            target.matches(endpoint) && fault.applies_to(endpoint, &self.role_name)
        });
        let mut state = self.lock();
        if *method == Method::PUT && *endpoint == Endpoint::Token {
            state.token_fetches += 1;
        }
        if *method == Method::GET
            && matches!(endpoint, Endpoint::Credentials(role) if !role.is_empty())
        {
            state.credential_fetches += 1;
        }
        let header_text = |name: &str| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        drop(state);
        let index = self.log.push(RequestRecord {
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
            faults: planned.applied.clone(),
            status: None,
        });
        (index, planned)
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
            return method_not_allowed("GET");
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
}

pub(super) fn text(body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// `405`, with the method that is allowed.
pub(super) fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = status_text(StatusCode::METHOD_NOT_ALLOWED);
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

pub(super) fn status_text(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = text(status.canonical_reason().unwrap_or("Error").to_owned());
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(classify("/"), Endpoint::Other("/".into()))
    }
}
