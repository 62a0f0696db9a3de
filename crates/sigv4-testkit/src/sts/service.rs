//! Answering one request: read it, record it, apply the faults, authenticate, check, issue.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::{poll_fn, Ready};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, CONTENT_TYPE, USER_AGENT};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use sigv4_core::verify::{SignedRequest, Verified};
use sigv4_core::{Credentials, SharedTimeSource, X_AMZ_SECURITY_TOKEN};
use tower_service::Service;
use tower_sigv4::verify::{KeyStore, KeyStoreFuture, Rejection, Verify, VerifyBody};

use super::faults::Fault;
use super::protocol::{
    check_session_name, check_version, malformed_xml, parse_duration, parse_role_arn, role_id,
    xml_response, Params, StsError, Success, WebIdentity,
};
use super::records::{Action, Caller, ExpirationFormat, IssuedCredentials, RequestRecord, Role};
use super::{EXPIRED_CREDENTIALS_AGE, MAX_BODY_SIZE, PROVIDER_NAME};
use crate::fault::FaultSwitch;
use crate::issue::numbered_credentials;
use crate::log::RequestLog;
use crate::rfc3339::{self, Precision};
use crate::server::CloseConnection;

/// Everything the server and the handles share.
pub(super) struct Shared {
    pub(super) clock: SharedTimeSource,
    /// The regions a signature may be scoped to; `None` = any.
    pub(super) regions: Option<Vec<String>>,
    pub(super) expiration_format: ExpirationFormat,
    pub(super) only_registered_roles: bool,
    pub(super) verify: Verify<Pass>,
    pub(super) keys: Arc<Keys>,
    pub(super) faults: FaultSwitch<Fault>,
    pub(super) log: RequestLog<RequestRecord>,
    pub(super) state: Mutex<State>,
}

pub(super) struct State {
    pub(super) web_identity_tokens: Vec<String>,
    pub(super) roles: HashMap<String, Role>,
    pub(super) assume_role_calls: u64,
    pub(super) web_identity_calls: u64,
    /// Every request ever received (not reset by a clear), for request ids.
    received: u64,
}

impl State {
    pub(super) fn new(web_identity_tokens: Vec<String>, roles: HashMap<String, Role>) -> Self {
        Self {
            web_identity_tokens,
            roles,
            assume_role_calls: 0,
            web_identity_calls: 0,
            received: 0,
        }
    }
}

/// The keys `AssumeRole` may be signed with: the registered callers' and every set issued.
#[derive(Default)]
pub(super) struct Keys {
    table: Mutex<KeyTable>,
}

#[derive(Default)]
pub(super) struct KeyTable {
    pub(super) callers: HashMap<String, Credentials>,
    pub(super) issued: Vec<IssuedCredentials>,
}

impl Keys {
    pub(super) fn lock(&self) -> MutexGuard<'_, KeyTable> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl KeyTable {
    pub(super) fn issued(&self, access_key_id: &str) -> Option<&IssuedCredentials> {
        self.issued
            .iter()
            .find(|i| i.credentials.access_key_id() == access_key_id)
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = self.lock();
        f.debug_struct("Keys")
            .field("callers", &table.callers.keys().collect::<Vec<_>>())
            .field("issued", &table.issued.len())
            .finish()
    }
}

impl KeyStore for Keys {
    fn lookup<'a>(
        &'a self,
        access_key_id: &'a str,
        _session_token: Option<&'a str>,
    ) -> KeyStoreFuture<'a> {
        let table = self.lock();
        let found = table
            .callers
            .get(access_key_id)
            .or_else(|| table.issued(access_key_id).map(|i| &i.credentials))
            .cloned();
        Box::pin(std::future::ready(Ok(found)))
    }
}

/// The service behind the signature check: hands the [`Verified`] identity back in the
/// response's extensions.
#[derive(Debug, Clone)]
pub(super) struct Pass;

impl Service<Request<VerifyBody>> for Pass {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Full<Bytes>>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<VerifyBody>) -> Self::Future {
        let mut response = Response::new(Full::default());
        if let Some(verified) = request.extensions().get::<Verified>() {
            response.extensions_mut().insert(verified.clone());
        }
        std::future::ready(Ok(response))
    }
}

/// What an accepted request asks for, once checked.
struct Grant {
    action: Action,
    caller: Caller,
    role_arn: String,
    session_name: String,
    external_id: Option<String>,
    duration: Duration,
    /// For web identity: what the answer says about the token.
    web_identity: Option<WebIdentity>,
}

fn is_form(headers: &HeaderMap) -> bool {
    headers.get(CONTENT_TYPE).is_none_or(|value| {
        value
            .to_str()
            .map(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            })
            .unwrap_or(false)
    })
}

pub(super) async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, CloseConnection> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_BODY_SIZE)
        .collect()
        .await
        .map(|collected| collected.to_bytes());
    let params = match &body {
        Ok(bytes) if parts.method == Method::POST && is_form(&parts.headers) => {
            Params::parse(parts.uri.query(), Some(bytes))
        }
        _ => Params::parse(parts.uri.query(), None),
    };
    let action = params.get("Action").and_then(Action::parse);
    let planned = shared.faults.plan(|_, target| target.matches(action));
    let (index, request_id) = shared.record(&parts, &params, planned.applied.clone());

    let fault = shared.faults.carry_out(&planned).await?;
    let outcome = match body {
        Ok(bytes) => {
            shared
                .respond(parts, bytes, &params, fault.as_ref(), &request_id)
                .await
        }
        Err(_) => Err(StsError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("Request body too large or unreadable (limit {MAX_BODY_SIZE} bytes)"),
        )),
    };
    let (response, error_code, issued) = match outcome {
        Ok((response, issued)) => (response, None, issued),
        Err(error) => (
            error.to_response(&request_id),
            Some(error.code.into_owned()),
            None,
        ),
    };
    tracing::debug!(
        action = params.get("Action").unwrap_or(""),
        status = %response.status(),
        error = error_code.as_deref().unwrap_or(""),
        "sts emulator"
    );
    let status = response.status();
    shared.log.update(index, |record| {
        record.status = Some(status);
        record.error_code = error_code;
        record.issued = issued;
    });
    Ok(response)
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Logs and counts the request; returns its place in the log and its request id.
    fn record(&self, parts: &Parts, params: &Params, faults: Vec<Fault>) -> (usize, String) {
        let now = self.clock.now();
        let claimed = SignedRequest::parse(&parts.uri, &parts.headers).ok();
        let token_in_query = parts
            .uri
            .query()
            .is_some_and(|q| q.contains("X-Amz-Security-Token="));
        let mut state = self.lock();
        state.received += 1;
        let request_id = format!("00000000-0000-4000-8000-{:012}", state.received);
        match params.get("Action").and_then(Action::parse) {
            Some(Action::AssumeRole) => state.assume_role_calls += 1,
            Some(Action::AssumeRoleWithWebIdentity) => state.web_identity_calls += 1,
            None => {}
        }
        let text = |name: &str| params.get(name).map(str::to_owned);
        drop(state);
        let index = self.log.push(RequestRecord {
            method: parts.method.clone(),
            action: text("Action"),
            role_arn: text("RoleArn"),
            role_session_name: text("RoleSessionName"),
            duration_seconds: text("DurationSeconds"),
            access_key_id: claimed.map(|c| c.access_key_id().to_owned()),
            session_token_present: parts.headers.contains_key(&X_AMZ_SECURITY_TOKEN)
                || token_in_query,
            user_agent: parts
                .headers
                .get(USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            at: now,
            request_id: request_id.clone(),
            faults,
            status: None,
            error_code: None,
            issued: None,
        });
        (index, request_id)
    }

    /// The answer, and the access key id issued on success.
    async fn respond(
        &self,
        parts: Parts,
        body: Bytes,
        params: &Params,
        fault: Option<&Fault>,
        request_id: &str,
    ) -> Result<(Response<Full<Bytes>>, Option<String>), StsError> {
        match fault {
            Some(Fault::Status(status)) => return Err(StsError::for_status(*status)),
            Some(Fault::Error { status, code }) => {
                return Err(StsError::new(
                    *status,
                    code.clone(),
                    format!("{code} (emulated)."),
                ))
            }
            Some(Fault::Throttling) => {
                return Err(StsError::new(
                    StatusCode::BAD_REQUEST,
                    "Throttling",
                    "Rate exceeded",
                ))
            }
            Some(Fault::IdpCommunicationError) => {
                return Err(StsError::new(
                    StatusCode::BAD_REQUEST,
                    "IDPCommunicationError",
                    "The identity provider could not be reached (emulated); try again.",
                ))
            }
            _ => {}
        }
        let Some(name) = params.get("Action") else {
            return Err(StsError::new(
                StatusCode::BAD_REQUEST,
                "MissingAction",
                "The request is missing an action or a required parameter.",
            ));
        };
        let Some(action) = Action::parse(name) else {
            return Err(StsError::new(
                StatusCode::BAD_REQUEST,
                "InvalidAction",
                format!(
                    "Could not find operation {name} for version {}",
                    params.get("Version").unwrap_or("NO_VERSION_SPECIFIED")
                ),
            ));
        };
        check_version(params, name)?;
        let grant = match action {
            Action::AssumeRole => self.assume_role(parts, body, params).await?,
            Action::AssumeRoleWithWebIdentity => self.assume_role_with_web_identity(params)?,
        };
        if fault == Some(&Fault::MalformedXml) {
            let body = malformed_xml(action);
            return Ok((xml_response(StatusCode::OK, body, request_id), None));
        }
        let expired = fault == Some(&Fault::ExpiredCredentials);
        let web_identity = grant.web_identity.clone();
        let issued = self.issue(grant, expired);
        let precision = match self.expiration_format {
            ExpirationFormat::WholeSeconds => Precision::Seconds,
            ExpirationFormat::Microseconds => Precision::Micros,
        };
        let expiration = rfc3339::format_with(issued.expiry(), precision);
        let creds = &issued.credentials;
        let xml = Success {
            action,
            assumed_role_id: &issued.assumed_role_id,
            assumed_role_arn: &issued.assumed_role_arn,
            access_key_id: creds.access_key_id(),
            secret_access_key: creds.secret_access_key(),
            session_token: creds.session_token().unwrap_or_default(),
            expiration: &expiration,
            web_identity: web_identity.as_ref(),
            request_id,
        }
        .to_xml();
        Ok((
            xml_response(StatusCode::OK, xml, request_id),
            Some(creds.access_key_id().to_owned()),
        ))
    }

    /// Checks the signature with the caller's key, as STS does.
    async fn authenticate(&self, parts: Parts, body: Bytes) -> Result<Verified, StsError> {
        let request = Request::from_parts(parts, Full::new(body));
        let mut verify = self.verify.clone();
        let answered = match poll_fn(|cx| {
            Service::<Request<Full<Bytes>>>::poll_ready(&mut verify, cx)
        })
        .await
        {
            Ok(()) => verify.call(request).await,
            Err(never) => match never {},
        };
        let response = match answered {
            Ok(response) => response,
            Err(never) => match never {},
        };
        if let Some(rejection) = response.extensions().get::<Rejection>() {
            return Err(from_rejection(rejection));
        }
        let Some(verified) = response.extensions().get::<Verified>().cloned() else {
            return Err(StsError::for_status(StatusCode::INTERNAL_SERVER_ERROR));
        };
        if let Some(regions) = &self.regions {
            if !regions.iter().any(|r| r == verified.region()) {
                return Err(StsError::new(
                    StatusCode::FORBIDDEN,
                    "SignatureDoesNotMatch",
                    format!(
                        "Credential should be scoped to a valid region (this emulator accepts {}).",
                        regions.join(", ")
                    ),
                ));
            }
        }
        Ok(verified)
    }

    async fn assume_role(
        &self,
        parts: Parts,
        body: Bytes,
        params: &Params,
    ) -> Result<Grant, StsError> {
        let verified = self.authenticate(parts, body).await?;
        let caller = verified.access_key_id().to_owned();
        let (chained, caller_name) = match self.keys.lock().issued(&caller) {
            Some(issued) => (true, issued.assumed_role_arn.clone()),
            None => (false, format!("caller {caller}")),
        };
        let role_arn = params
            .get("RoleArn")
            .ok_or_else(|| StsError::missing("RoleArn"))?;
        parse_role_arn(role_arn)?;
        let session_name = check_session_name(params.get("RoleSessionName"))?;
        let role = self.role(role_arn, Action::AssumeRole, &caller_name)?;
        let duration = parse_duration(
            params.get("DurationSeconds"),
            role.as_ref().and_then(|r| r.max_session_duration),
            chained,
        )?;
        let external_id = params.get("ExternalId");
        if let Some(want) = role.as_ref().and_then(|r| r.external_id.as_deref()) {
            if external_id != Some(want) {
                return Err(not_authorized(&caller_name, Action::AssumeRole, role_arn));
            }
        }
        Ok(Grant {
            action: Action::AssumeRole,
            caller: Caller::AccessKey(caller),
            role_arn: role_arn.to_owned(),
            session_name: session_name.to_owned(),
            external_id: external_id.map(str::to_owned),
            duration,
            web_identity: None,
        })
    }

    fn assume_role_with_web_identity(&self, params: &Params) -> Result<Grant, StsError> {
        let role_arn = params
            .get("RoleArn")
            .ok_or_else(|| StsError::missing("RoleArn"))?;
        parse_role_arn(role_arn)?;
        let session_name = check_session_name(params.get("RoleSessionName"))?;
        let token = params
            .get("WebIdentityToken")
            .ok_or_else(|| StsError::missing("WebIdentityToken"))?;
        if !(4..=20_000).contains(&token.len()) {
            return Err(StsError::validation(
                "1 validation error detected: Value at 'webIdentityToken' failed to satisfy \
                 constraint: Member must have length between 4 and 20000",
            ));
        }
        let accepted = self.lock().web_identity_tokens.iter().any(|t| t == token);
        if !accepted {
            return Err(StsError::new(
                StatusCode::BAD_REQUEST,
                "InvalidIdentityToken",
                "The web identity token is not one this emulator accepts.",
            ));
        }
        let arn = parse_role_arn(role_arn)?;
        let identity = WebIdentity::from_token(token, &arn);
        let role = self.role(
            role_arn,
            Action::AssumeRoleWithWebIdentity,
            &identity.subject,
        )?;
        let duration = parse_duration(
            params.get("DurationSeconds"),
            role.as_ref().and_then(|r| r.max_session_duration),
            false,
        )?;
        Ok(Grant {
            action: Action::AssumeRoleWithWebIdentity,
            caller: Caller::WebIdentity {
                subject: identity.subject.clone(),
            },
            role_arn: role_arn.to_owned(),
            session_name: session_name.to_owned(),
            external_id: None,
            duration,
            web_identity: Some(identity),
        })
    }

    /// The registered role, or `None` for an unregistered one the emulator accepts anyway.
    fn role(&self, arn: &str, action: Action, caller: &str) -> Result<Option<Role>, StsError> {
        let role = self.lock().roles.get(arn).cloned();
        if role.is_none() && self.only_registered_roles {
            return Err(not_authorized(caller, action, arn));
        }
        Ok(role)
    }

    fn issue(&self, grant: Grant, expired: bool) -> IssuedCredentials {
        let now = self.clock.now();
        let expiry = if expired {
            now.checked_sub(EXPIRED_CREDENTIALS_AGE).unwrap_or(now)
        } else {
            now.checked_add(grant.duration).unwrap_or(now)
        };
        let expiry = match self.expiration_format {
            ExpirationFormat::WholeSeconds => rfc3339::whole_seconds(expiry),
            ExpirationFormat::Microseconds => rfc3339::whole_micros(expiry),
        };
        let (partition, account, role_name) = match parse_role_arn(&grant.role_arn) {
            Ok(arn) => (arn.partition, arn.account, arn.name),
            Err(_) => ("aws", "000000000000", "unknown"),
        };
        let assumed_role_arn = format!(
            "arn:{partition}:sts::{account}:assumed-role/{role_name}/{}",
            grant.session_name
        );
        let assumed_role_id = format!("{}:{}", role_id(&grant.role_arn), grant.session_name);
        let mut keys = self.keys.lock();
        let number = keys.issued.len() as u64 + 1;
        let credentials = numbered_credentials("STS", number, expiry, PROVIDER_NAME);
        let issued = IssuedCredentials {
            number,
            action: grant.action,
            caller: grant.caller,
            role_arn: grant.role_arn,
            role_session_name: grant.session_name,
            external_id: grant.external_id,
            assumed_role_id,
            assumed_role_arn,
            issued_at: now,
            credentials,
        };
        keys.issued.push(issued.clone());
        issued
    }
}

fn not_authorized(caller: &str, action: Action, role_arn: &str) -> StsError {
    StsError::access_denied(format!(
        "User: {caller} is not authorized to perform: sts:{action} on resource: {role_arn}"
    ))
}

/// The verifier's refusal, as STS words it.
fn from_rejection(rejection: &Rejection) -> StsError {
    match rejection.code() {
        // STS answers a stale date or a wrong scope with SignatureDoesNotMatch.
        "InvalidSignatureException" => StsError::new(
            rejection.status(),
            "SignatureDoesNotMatch",
            rejection.message(),
        ),
        "MissingAuthenticationToken" => StsError::new(
            rejection.status(),
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        ),
        code => StsError::new(rejection.status(), code, rejection.message()),
    }
}
