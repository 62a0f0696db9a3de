//! Replays the AWS SDK for Rust's default-credential-provider-chain scenarios against
//! [`DefaultChain`] (data: `tests/fixtures/credential-chain/`, see `SOURCE.txt` there).
//!
//! A scenario is a process environment (`env.json`), a virtual filesystem (`fs/`, with
//! `HOME=/home`), the HTTP traffic the SDK exchanged (`http-traffic.json`) and the SDK's result
//! (`test-case.json`). A replay:
//! - copies `fs/` into a temporary directory and rewrites the environment's paths into it;
//! - starts a scripted HTTP server on `127.0.0.1:0` that answers requests in the recorded order
//!   with the recorded status, headers and body, and records what it receives;
//! - points the chain's IMDS and container sources at that server;
//! - asks the chain once (and a second time, which must be served from its cache), with a
//!   [`ManualClock`] set to the recorded time, and compares the result with `test-case.json` and the
//!   requests received with the recording (order, method, path and key headers).
//!
//! # Rewrites (the only differences from the recordings)
//! - `HOME`, `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, `AWS_WEB_IDENTITY_TOKEN_FILE` (and the two
//!   file-location variables, unused by these scenarios), and `web_identity_token_file` in the
//!   config file: `/x` becomes `<tempdir>/x`.
//! - STS: each recorded `https://` authority (`sts.<region>.amazonaws.com:443`) is reached over
//!   plain HTTP at the server (`TransportOptions::testing_plaintext_override`), with the URI and
//!   `Host` unchanged, so the endpoint the chain resolved is checked through the `Host` header.
//!   STS requests are compared by host, `Action`, whether they are signed (and for `sts`), and the
//!   signing access key where the recording is self-consistent (signatures differ: other time,
//!   other signed headers such as the SDK's user agent).
//! - IMDS `http://169.254.169.254` becomes the server, through `Imds::builder().endpoint(..)`.
//! - ECS `http://169.254.170.2` (the base of `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`) becomes the
//!   server, through `Container::builder().relative_uri_base(..)`.
//! - `AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials` becomes
//!   `http://127.0.0.1:<port>/v1/credentials` (loopback is an allowed `http://` target, like
//!   `169.254.170.23`).
//! - Recorded `content-length` / `connection` / `transfer-encoding` response headers are not
//!   replayed (the recorded lengths do not match the recorded bodies; hyper frames the body).
//! - IMDS's extended credentials API (`/latest/meta-data/iam/security-credentials-extended/`,
//!   newer than the recordings) answers 404 and is left out of the comparison: the source then
//!   uses the recorded legacy path, as it does on an instance without the extended API.
//! - IMDS and container backoff is 1 ms (the recordings' retries are not timed) and their
//!   timeouts 10 s (no scenario is about a timeout).
//!
//! # How the SDK's results map to ours
//! - `Ok`: access key id, secret, session token and expiry (epoch seconds) must be equal; no
//!   expiry recorded means none expected. `account_id` is compared too (the
//!   environment's `AWS_ACCOUNT_ID`, a container's `AccountId`, an assumed role's ARN).
//! - `ErrorContains: "... provider was not enabled"` (the SDK's "no source gave credentials"):
//!   our [`CredentialsError::NoneFound`].
//! - any other `ErrorContains`: the text must appear in our error's `Display` (where our wording
//!   differs, the test says which part is compared).
//!
//! # Coverage
//! [`SCENARIOS`] lists all 29 recorded scenarios and how each is covered; every one has a test of
//! the same name, and `every_scenario_is_accounted_for` checks the list against the fixture folder.
//! None of the recorded scenarios uses `credential_process` (that source is covered by
//! `profile_provider_vectors.rs`).
//!
//! # SSO
//! - The portal's recorded `https://portal.sso…` authority is reached like STS's (plain HTTP at the
//!   server, URI and `Host` unchanged: the `Host` header is compared, so the FIPS / dual-stack
//!   endpoint the source resolved is checked); the token cache of `fs/` is read from the
//!   temporary `HOME`; the bearer header `x-amz-sso_bearer_token` is compared.
//! - The order of query parameters is not compared (the recordings have `account_id` and
//!   `role_name` in both orders); their names and values are.
//! - `sso_server_error` has one recorded exchange (a 503): that replay makes a single attempt.
//!   A 5xx from the portal is retried (tests/sso.rs checks it against the emulator).

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sigv4_credentials::{
    Container, Credentials, CredentialsError, DefaultChain, Env, Imds, ManualClock, Profile,
    ProvideCredentials, SharedTimeSource,
};
use tempfile::TempDir;
use tokio::net::TcpListener;

// ===== the coverage list =====

/// How a recorded scenario is covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coverage {
    /// Replayed as recorded; the SDK's result is expected.
    Replayed,
    /// Replayed as recorded, but where the SDK's error text is its own wording, ours must contain
    /// this text instead (each use says why).
    ReplayedWithError(&'static str),
}

use Coverage::{Replayed, ReplayedWithError};

/// Scenarios whose recording holds one attempt of a call our source would retry: replayed with a
/// single attempt.
const SINGLE_ATTEMPT: &[&str] = &["sso_server_error"];

/// Every scenario in `tests/fixtures/credential-chain/`, with a test of the same name each.
const SCENARIOS: &[(&str, Coverage)] = &[
    ("e2e_fips_and_dual_stack_sso", Replayed),
    ("ecs_assume_role", Replayed),
    ("ecs_credentials", Replayed),
    ("ecs_credentials_invalid_profile", Replayed),
    ("eks_pod_identity_credentials", Replayed),
    ("eks_pod_identity_no_token_file", Replayed),
    ("environment_variables", Replayed),
    ("environment_variables_blank", Replayed),
    ("imds_assume_role", Replayed),
    ("imds_config_with_no_creds", Replayed),
    ("imds_default_chain_error", Replayed),
    ("imds_default_chain_retries", Replayed),
    ("imds_default_chain_success", Replayed),
    ("imds_disabled", Replayed),
    // The SDK: "the credential provider was not enabled" (IMDS has no role). Ours names the
    // profile's credential_source and why it gave nothing; the chain stops there, as the SDK's.
    ("imds_no_iam_role", ReplayedWithError("credential_source = Ec2InstanceMetadata, which gave no credentials: imds: not configured: no IAM role is attached")),
    // The SDK: "request forbidden: IMDS is disabled".
    ("imds_token_fail", ReplayedWithError("was forbidden (HTTP 403): IMDS is disabled")),
    ("prefer_environment", Replayed),
    ("profile_name", Replayed),
    // The SDK: "provider was not enabled" (the Environment source had nothing) and, as here, no
    // fall-through to the web identity variables.
    (
        "profile_overrides_web_identity",
        ReplayedWithError("credential_source = Environment, which gave no credentials"),
    ),
    ("profile_static_keys", Replayed),
    ("profile_static_keys_case_insensitive", Replayed),
    ("sso_assume_role", Replayed),
    // The SDK: "failed to read `/home/.aws/sso/cache/dace….json`: No such file or directory
    // (os error 2)"; ours has the same words after the temporary directory's path.
    (
        "sso_no_token_file",
        ReplayedWithError("/home/.aws/sso/cache/dace00cba5f8355ec9d274ceb2bcebdfbeed0e12.json`: No such file or directory (os error 2)"),
    ),
    // The SDK: "an error occurred while loading credentials" (its generic wrapper); ours names
    // the call and the status.
    (
        "sso_server_error",
        ReplayedWithError("SSO GetRoleCredentials for role MySsoRole in account 123456789 at https://portal.sso.us-east-2.amazonaws.com was refused (HTTP 503)"),
    ),
    ("web_identity_source_profile_no_env", Replayed),
    ("web_identity_token_env", Replayed),
    // The SDK adds the modeled error's type name ("InvalidIdentityTokenException: ..."); ours
    // quotes STS's code and message as they came.
    (
        "web_identity_token_invalid_jwt",
        ReplayedWithError("InvalidIdentityToken: No OpenIDConnect provider found in your account"),
    ),
    ("web_identity_token_profile", Replayed),
    ("web_identity_token_source_profile", Replayed),
];

fn coverage(name: &str) -> Coverage {
    SCENARIOS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
        .unwrap_or_else(|| panic!("scenario `{name}` is not in SCENARIOS"))
}

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/credential-chain")
}

// ===== fixture reading =====

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Credentials reduced to what the recordings state (secrets are fake: fine to print).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Keys {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    /// Epoch seconds.
    expiry: Option<u64>,
    account_id: Option<String>,
}

impl Keys {
    fn of(creds: &Credentials) -> Self {
        Keys {
            access_key_id: creds.access_key_id().to_owned(),
            secret_access_key: creds.secret_access_key().to_owned(),
            session_token: creds.session_token().map(str::to_owned),
            expiry: creds
                .expiry()
                .map(|t| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())),
            account_id: creds.account_id().map(str::to_owned),
        }
    }
}

/// The SDK's result from `test-case.json`.
#[derive(Debug, Clone)]
enum Expected {
    Ok(Keys),
    ErrorContains(String),
}

impl Expected {
    fn parse(case: &Value) -> Self {
        let result = &case["result"];
        if let Some(ok) = result.get("Ok") {
            let text = |key: &str| ok.get(key).and_then(Value::as_str).map(str::to_owned);
            return Expected::Ok(Keys {
                access_key_id: text("access_key_id").expect("Ok result has access_key_id"),
                secret_access_key: text("secret_access_key")
                    .expect("Ok result has secret_access_key"),
                session_token: text("session_token"),
                expiry: ok.get("expiry").and_then(Value::as_u64),
                account_id: text("account_id"),
            });
        }
        let error = result
            .get("ErrorContains")
            .or_else(|| result.get("Err"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("unknown result shape: {result}"));
        Expected::ErrorContains(error.to_owned())
    }

    fn expiry(&self) -> Option<u64> {
        match self {
            Expected::Ok(keys) => keys.expiry,
            Expected::ErrorContains(_) => None,
        }
    }
}

/// One recorded request and the answer to give.
#[derive(Debug, Clone)]
struct Exchange {
    /// `host:port` of the recorded URI (port from the scheme when absent), and its host.
    authority: String,
    host: String,
    method: String,
    /// Path and query of the recorded URI.
    path: String,
    /// Recorded request headers, names lower-cased.
    headers: Vec<(String, String)>,
    /// The recorded request body (STS form bodies).
    request_body: String,
    status: u16,
    response_headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn header_list(value: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, values) in value.as_object().into_iter().flatten() {
        for v in values.as_array().into_iter().flatten() {
            let v = v.as_str().expect("header values are strings");
            out.push((name.to_ascii_lowercase(), v.to_owned()));
        }
    }
    out
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The exchanges of `http-traffic.json`, in the order of their requests (one connection each).
fn parse_script(traffic: &Value) -> Vec<Exchange> {
    let mut out: Vec<Exchange> = Vec::new();
    let mut by_connection: HashMap<u64, usize> = HashMap::new();
    let events = traffic["events"].as_array().expect("events is an array");
    for event in events {
        let connection = event["connection_id"]
            .as_u64()
            .expect("connection_id is a number");
        let action = &event["action"];
        if let Some(request) = action.get("Request") {
            let request = &request["request"];
            let uri: Uri = request["uri"]
                .as_str()
                .expect("request uri")
                .parse()
                .expect("recorded uri parses");
            by_connection.insert(connection, out.len());
            let https = uri.scheme_str() == Some("https");
            let host = uri.host().expect("recorded uri has a host").to_owned();
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            out.push(Exchange {
                authority: format!("{host}:{port}"),
                host,
                method: request["method"].as_str().expect("method").to_owned(),
                path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
                headers: header_list(&request["headers"]),
                request_body: String::new(),
                status: 0,
                response_headers: Vec::new(),
                body: Vec::new(),
            });
            continue;
        }
        let Some(&index) = by_connection.get(&connection) else {
            panic!("event before its request: {event}");
        };
        if let Some(response) = action.get("Response") {
            let ok = response["response"]
                .get("Ok")
                .unwrap_or_else(|| panic!("only Ok responses are supported: {event}"));
            let status = ok["status"].as_u64().expect("status");
            out[index].status = u16::try_from(status).expect("status fits u16");
            out[index].response_headers = header_list(&ok["headers"]);
        } else if let Some(data) = action.get("Data") {
            let text = data["data"]["Utf8"]
                .as_str()
                .unwrap_or_else(|| panic!("only Utf8 bodies are supported: {event}"));
            if data["direction"] == "Response" {
                out[index].body.extend_from_slice(text.as_bytes());
            } else {
                out[index].request_body.push_str(text);
            }
        }
    }
    for exchange in &out {
        assert_ne!(exchange.status, 0, "a recorded request has no response");
    }
    out
}

/// "Now" for a replay: the last `date` the recording's responses carry, unless that is not before
/// the expected expiry (the ECS recordings serve a 2009 expiry in 2021), then an hour before the
/// expiry; an arbitrary fixed time when neither is known.
fn start_time(script: &[Exchange], expected: &Expected) -> SystemTime {
    let recorded = script
        .iter()
        .rev()
        .find_map(|e| find_header(&e.response_headers, "date"))
        .and_then(|date| sigv4_core::time::parse_http_date(date).ok());
    let expiry = expected
        .expiry()
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs));
    match (recorded, expiry) {
        (Some(at), Some(expiry)) if at < expiry => at,
        (Some(at), None) => at,
        (_, Some(expiry)) => expiry - Duration::from_secs(3600),
        (None, None) => UNIX_EPOCH + Duration::from_secs(1_632_000_000),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir in tempdir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("fixture dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

// ===== the scripted server =====

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: HeaderMap,
    /// The request body as text (STS form bodies; empty for IMDS and containers).
    body: String,
}

#[derive(Debug)]
struct ServerState {
    script: Vec<Exchange>,
    received: Vec<Received>,
}

/// Answers the n-th request with the n-th recorded response when it has the recorded method and
/// path, else with a 404; records every request (the test compares them with the recording).
struct Server {
    url: String,
    state: Arc<Mutex<ServerState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Hop-by-hop or framing headers from the recording that are not replayed.
const NOT_REPLAYED: [&str; 3] = ["content-length", "connection", "transfer-encoding"];

impl Server {
    async fn start(script: Vec<Exchange>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let state = Arc::new(Mutex::new(ServerState {
            script,
            received: Vec::new(),
        }));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let state = Arc::clone(&state);
                        async move {
                            use http_body_util::BodyExt;
                            let (parts, body) = request.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let request = Request::from_parts(parts, body);
                            Ok::<_, Infallible>(answer(&state, &request))
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Server { url, state, task }
    }

    fn received(&self) -> Vec<Received> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .received
            .clone()
    }
}

fn answer(state: &Mutex<ServerState>, request: &Request<Bytes>) -> Response<Full<Bytes>> {
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    let index = state.received.len();
    // The recordings predate IMDS's extended credentials API, which our source asks first: an
    // IMDS without it answers 404, and the source falls back to the recorded legacy path.
    let extended = request
        .uri()
        .path()
        .starts_with("/latest/meta-data/iam/security-credentials-extended");
    let scripted_next = state.script.get(index).map(|e| e.path.as_str());
    if extended && scripted_next != Some(request.uri().path()) {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    state.received.push(Received {
        method: request.method().to_string(),
        path: request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned(),
        headers: request.headers().clone(),
        body: String::from_utf8_lossy(request.body()).into_owned(),
    });
    let received = &state.received[index];
    let next = state.script.get(index).filter(|e| {
        e.method == received.method && normalized(&e.path) == normalized(&received.path)
    });
    let Some(exchange) = next else {
        // Not the recorded next request: the test fails on the traffic check; a 404 keeps the
        // chain from being fed an answer meant for another request.
        let mut response = Response::new(Full::new(Bytes::from_static(
            b"unexpected request: not the next one in the recording",
        )));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    let mut response = Response::new(Full::new(Bytes::from(exchange.body.clone())));
    *response.status_mut() = StatusCode::from_u16(exchange.status).expect("recorded status");
    for (name, value) in &exchange.response_headers {
        if NOT_REPLAYED.contains(&name.as_str()) {
            continue;
        }
        response.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).expect("recorded header name"),
            HeaderValue::from_str(value).expect("recorded header value"),
        );
    }
    response
}

// ===== a replay =====

type Outcome = Result<Credentials, CredentialsError>;

/// Recorded request headers that must be sent the same way (when the recording has them).
const KEY_HEADERS: [&str; 4] = [
    "x-aws-ec2-metadata-token",
    "x-aws-ec2-metadata-token-ttl-seconds",
    "authorization",
    "x-amz-sso_bearer_token",
];

/// A path with its query parameters sorted: the order of query parameters is not significant.
fn normalized(path: &str) -> String {
    match path.split_once('?') {
        None => path.to_owned(),
        Some((path, query)) => {
            let mut pairs: Vec<&str> = query.split('&').collect();
            pairs.sort_unstable();
            format!("{path}?{}", pairs.join("&"))
        }
    }
}

/// Variables holding a path into the virtual filesystem.
const PATH_VARIABLES: [&str; 5] = [
    "HOME",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
];

struct Replay {
    name: &'static str,
    fs: TempDir,
    env: HashMap<String, String>,
    expected: Expected,
    script: Vec<Exchange>,
    server: Server,
    clock: ManualClock,
}

impl Replay {
    async fn load(name: &'static str) -> Self {
        Self::load_from(fixtures_root(), name).await
    }

    async fn load_from(root: PathBuf, name: &'static str) -> Self {
        let dir = root.join(name);
        assert!(dir.is_dir(), "scenario folder {} is missing", dir.display());
        let fs = tempfile::tempdir().expect("tempdir");
        if dir.join("fs").is_dir() {
            copy_dir(&dir.join("fs"), fs.path());
        }
        rewrite_profile_paths(fs.path());
        let script = parse_script(&read_json(&dir.join("http-traffic.json")));
        let expected = Expected::parse(&read_json(&dir.join("test-case.json")));
        let clock = ManualClock::new(start_time(&script, &expected));
        let server = Server::start(script.clone()).await;

        let mut env = HashMap::new();
        let recorded_env = read_json(&dir.join("env.json"));
        for (key, value) in recorded_env.as_object().expect("env.json is an object") {
            let value = value.as_str().expect("env values are strings");
            let value = if PATH_VARIABLES.contains(&key.as_str()) && value.starts_with('/') {
                // A path in the virtual filesystem: the same path under the tempdir.
                let path = fs.path().join(value.trim_start_matches('/'));
                path.to_str().expect("tempdir path is UTF-8").to_owned()
            } else if key == "AWS_CONTAINER_CREDENTIALS_FULL_URI" {
                rewrite_full_uri(value, &server.url)
            } else {
                value.to_owned()
            };
            env.insert(key.clone(), value);
        }
        Replay {
            name,
            fs,
            env,
            expected,
            script,
            server,
            clock,
        }
    }

    /// Deletes a file of the virtual filesystem (for the variants that leave the profile out).
    fn remove_file(&self, relative: &str) {
        std::fs::remove_file(self.fs.path().join(relative))
            .unwrap_or_else(|e| panic!("scenario {}: cannot remove {relative}: {e}", self.name));
    }

    /// Builds the chain over this scenario and asks it for credentials; on success asks again,
    /// which must come from the chain's cache (no new request, same key).
    async fn run(&self) -> Outcome {
        let env = Env::from_pairs(self.env.clone());
        let time_source: SharedTimeSource = Arc::new(self.clock.clone());
        // Generous timeouts: the server is local and answers at once, but the machine may be busy;
        // none of these scenarios is about a timeout.
        let patience = Duration::from_secs(10);
        // IMDS: http://169.254.169.254 rewritten to the scripted server.
        let imds = Imds::builder()
            .env(env.clone())
            .endpoint(self.server.url.clone())
            .connect_timeout(patience)
            .read_timeout(patience)
            .initial_backoff(Duration::from_millis(1))
            .time_source(Arc::clone(&time_source))
            .build();
        // ECS: the relative URI's base http://169.254.170.2 rewritten to the scripted server.
        let container = Container::builder()
            .env(env.clone())
            .relative_uri_base(self.server.url.clone())
            .connect_timeout(patience)
            .read_timeout(patience)
            .initial_backoff(Duration::from_millis(1))
            .build();
        let transport = self.transport(patience);
        let chain = DefaultChain::builder()
            .env(env)
            .transport(transport)
            .time_source(time_source)
            .load_timeout(patience * 3)
            .imds(imds)
            .container(container)
            .build()
            .await;
        let outcome = chain.provide_credentials().await;
        if let Ok(first) = &outcome {
            let requests = self.server.received().len();
            let again = chain.provide_credentials().await;
            let same = again
                .as_ref()
                .is_ok_and(|c| c.access_key_id() == first.access_key_id());
            assert!(
                same && self.server.received().len() == requests,
                "scenario {}: a second call should be served from the chain's cache without new requests; got {}",
                self.name,
                describe(&again)
            );
        }
        outcome
    }

    /// The STS transport of a replay: every recorded https:// authority
    /// (sts.<region>.amazonaws.com:443, ...) is sent to the scripted server over plain HTTP, URI
    /// and Host unchanged; 1 ms backoff; one attempt for the scenarios recorded with one.
    fn transport(&self, patience: Duration) -> sigv4_credentials::TransportOptions {
        let server_addr: std::net::SocketAddr = self
            .server
            .url
            .trim_start_matches("http://")
            .parse()
            .expect("server address");
        let mut transport = sigv4_credentials::TransportOptions::new(patience, patience)
            .initial_backoff(Duration::from_millis(1));
        if SINGLE_ATTEMPT.contains(&self.name) {
            transport = transport.max_attempts(1);
        }
        for exchange in &self.script {
            transport =
                transport.testing_plaintext_override(exchange.authority.clone(), server_addr);
        }
        transport
    }

    /// Like [`Replay::run`], with the `Profile` source alone (the profile-provider scenarios).
    async fn run_profile(&self) -> Outcome {
        let env = Env::from_pairs(self.env.clone());
        let transport = self.transport(Duration::from_secs(10));
        Profile::builder()
            .env(env)
            .transport(transport)
            .time_source(Arc::new(self.clock.clone()))
            .build()
            .provide_credentials()
            .await
    }

    /// The requests received are the recorded ones: same count and order, method, path, and
    /// key headers where the recording has them.
    fn assert_recorded_traffic(&self, outcome: &Outcome) {
        let received = self.server.received();
        let show = |r: &[Received]| {
            r.iter()
                .map(|r| format!("{} {}", r.method, normalized(&r.path)))
                .collect::<Vec<_>>()
        };
        let recorded: Vec<String> = self
            .script
            .iter()
            .map(|e| format!("{} {}", e.method, normalized(&e.path)))
            .collect();
        assert_eq!(
            show(&received),
            recorded,
            "scenario {}: requests received (left) differ from the recording (right); the chain answered {}",
            self.name,
            describe(outcome)
        );
        for (i, (got, want)) in received.iter().zip(&self.script).enumerate() {
            if want.method == "POST"
                && !want.path.starts_with("/latest/")
                && !want.path.starts_with("/v")
            {
                self.assert_sts_request(i, got, want);
                continue;
            }
            // A named host (STS, the SSO portal, an endpoint override) is reached through the
            // plaintext override: the Host header says which endpoint the source resolved.
            if want.host.parse::<std::net::IpAddr>().is_err() {
                let host = got.headers.get("host").and_then(|v| v.to_str().ok());
                assert_eq!(
                    host,
                    Some(want.host.as_str()),
                    "scenario {}: request {i}: Host (the endpoint)",
                    self.name
                );
            }
            for name in KEY_HEADERS {
                let Some(expected) = find_header(&want.headers, name) else {
                    continue;
                };
                let actual = got.headers.get(name).and_then(|v| v.to_str().ok());
                assert_eq!(
                    actual,
                    Some(expected),
                    "scenario {}: request {i} ({} {}): header `{name}`",
                    self.name,
                    want.method,
                    want.path
                );
            }
        }
    }

    /// An STS call: sent to the recorded host, the recorded action, signed exactly when the
    /// recording is, with the recorded access key, for the `sts` service.
    fn assert_sts_request(&self, i: usize, got: &Received, want: &Exchange) {
        let name = self.name;
        let host = got.headers.get("host").and_then(|v| v.to_str().ok());
        assert_eq!(
            host,
            Some(want.host.as_str()),
            "scenario {name}: request {i}: Host (the STS endpoint)"
        );
        let action = |body: &str| {
            body.split('&')
                .find_map(|kv| kv.strip_prefix("Action="))
                .map(str::to_owned)
        };
        assert_eq!(
            action(&got.body),
            action(&want.request_body),
            "scenario {name}: request {i}: STS action"
        );
        let credential = |auth: &str| {
            auth.split("Credential=")
                .nth(1)
                .and_then(|c| c.split(',').next())
                .map(|c| {
                    let parts: Vec<&str> = c.split('/').collect();
                    (parts[0].to_owned(), parts[parts.len() - 2..].join("/"))
                })
        };
        let got_auth = got
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let want_auth = find_header(&want.headers, "authorization");
        let (got_cred, want_cred) = (
            got_auth.and_then(credential),
            want_auth.and_then(credential),
        );
        assert_eq!(
            got_cred.as_ref().map(|c| &c.1),
            want_cred.as_ref().map(|c| &c.1),
            "scenario {name}: request {i}: signed (and for the sts service) exactly when recorded"
        );
        // The recorded signer's access key, where the recording is consistent: some recordings
        // were stitched together and sign with a key no earlier answer gave.
        if let Some((key, _)) = &want_cred {
            let issued_earlier = self.script[..i]
                .iter()
                .any(|e| String::from_utf8_lossy(&e.body).contains(key.as_str()));
            if issued_earlier {
                assert_eq!(
                    got_cred.as_ref().map(|c| &c.0),
                    Some(key),
                    "scenario {name}: request {i}: signed with the previous hop's access key"
                );
            }
        }
        assert_eq!(
            got.headers.contains_key("x-amz-security-token"),
            find_header(&want.headers, "x-amz-security-token").is_some(),
            "scenario {name}: request {i}: session token sent"
        );
    }

    /// The result is the SDK's (see the module docs for the mapping).
    fn assert_expected(&self, outcome: &Outcome) {
        match (&self.expected, outcome) {
            (Expected::Ok(want), Ok(creds)) => assert_eq!(
                &Keys::of(creds),
                want,
                "scenario {}: credentials (left: got, right: expected)",
                self.name
            ),
            (Expected::ErrorContains(want), Err(CredentialsError::NoneFound { .. }))
                if want.contains("provider was not enabled") => {}
            (Expected::ErrorContains(want), Err(err))
                if !want.contains("provider was not enabled") =>
            {
                assert!(
                    err.to_string().contains(want.as_str()),
                    "scenario {}: expected an error containing `{want}`, got {}",
                    self.name,
                    describe(outcome)
                )
            }
            (want, _) => panic!(
                "scenario {}: expected {}, got {}",
                self.name,
                show_expected(want),
                describe(outcome)
            ),
        }
    }

    /// The attempt line a `NoneFound` error has for `source`.
    fn attempt<'a>(&self, outcome: &'a Outcome, source: &str) -> &'a str {
        match outcome {
            Err(CredentialsError::NoneFound { attempts }) => attempts
                .iter()
                .find(|(name, _)| name == source)
                .map(|(_, why)| why.as_str())
                .unwrap_or_else(|| {
                    panic!(
                        "scenario {}: no `{source}` attempt in {attempts:?}",
                        self.name
                    )
                }),
            other => panic!(
                "scenario {}: expected NoneFound, got {}",
                self.name,
                describe(other)
            ),
        }
    }
}

/// `web_identity_token_file = /x` in the virtual filesystem's config file becomes `<tempdir>/x`.
fn rewrite_profile_paths(root: &Path) {
    let config = root.join("home/.aws/config");
    let Ok(text) = std::fs::read_to_string(&config) else {
        return;
    };
    let base = root
        .to_str()
        .expect("tempdir path is UTF-8")
        .trim_end_matches('/');
    let rewritten: Vec<String> = text
        .lines()
        .map(|line| match line.split_once('=') {
            Some((key, value))
                if key.trim() == "web_identity_token_file" && value.trim().starts_with('/') =>
            {
                format!("{key}= {base}{}", value.trim())
            }
            _ => line.to_owned(),
        })
        .collect();
    std::fs::write(&config, rewritten.join("\n") + "\n").expect("rewrite config");
}

/// `http://169.254.170.x/<path>` → `<server>/<path>`: only the two container-agent addresses
/// the recordings use are rewritten (anything else would point the test off the machine).
fn rewrite_full_uri(value: &str, server: &str) -> String {
    let uri: Uri = value.parse().expect("recorded full URI parses");
    assert!(
        matches!(uri.host(), Some("169.254.170.2" | "169.254.170.23")),
        "unexpected full URI host in {value}"
    );
    format!(
        "{server}{}",
        uri.path_and_query().map_or("/", |p| p.as_str())
    )
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Ok(creds) => format!("Ok({:?}) from `{}`", Keys::of(creds), creds.provider_name()),
        Err(err) => {
            let kind = match err {
                CredentialsError::NotConfigured { .. } => "NotConfigured",
                CredentialsError::Failed { .. } => "Failed",
                CredentialsError::Timeout { .. } => "Timeout",
                CredentialsError::Expired { .. } => "Expired",
                CredentialsError::NoneFound { .. } => "NoneFound",
                _ => "other error",
            };
            format!("{kind}: {err}")
        }
    }
}

fn show_expected(expected: &Expected) -> String {
    match expected {
        Expected::Ok(keys) => format!("Ok({keys:?})"),
        Expected::ErrorContains(text) if text.contains("provider was not enabled") => {
            format!("NoneFound (SDK: `{text}`)")
        }
        Expected::ErrorContains(text) => format!("an error containing `{text}`"),
    }
}

/// A replay that matched its recording, for further checks.
struct Checked {
    replay: Replay,
    outcome: Outcome,
}

/// Replays a scenario listed as [`Coverage::Replayed`] and checks traffic and result.
async fn replay(name: &'static str) -> Checked {
    let replay = Replay::load(name).await;
    let outcome = replay.run().await;
    replay.assert_recorded_traffic(&outcome);
    match coverage(name) {
        Replayed => replay.assert_expected(&outcome),
        ReplayedWithError(text) => {
            let ok = matches!(&outcome, Err(e) if e.to_string().contains(text));
            assert!(
                ok,
                "scenario {name}: the SDK expects {}; ours must be an error containing `{text}`, got {}",
                show_expected(&replay.expected),
                describe(&outcome)
            );
        }
    }
    Checked { replay, outcome }
}

// ===== the list itself =====

#[test]
fn every_scenario_is_accounted_for() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures_root())
        .expect("fixtures folder")
        .map(|e| e.expect("entry"))
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let listed: Vec<String> = SCENARIOS.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(
        listed, on_disk,
        "SCENARIOS (left, sorted) must list every scenario folder (right)"
    );
    assert_eq!(listed.len(), 29);
}

// ===== environment =====

#[tokio::test]
async fn environment_variables() {
    let Checked { replay, outcome } = replay("environment_variables").await;
    assert_eq!(
        outcome
            .map(|c| c.provider_name().to_owned())
            .ok()
            .as_deref(),
        Some("environment"),
        "scenario {}",
        replay.name
    );
}

#[tokio::test]
async fn environment_variables_blank() {
    let Checked { replay, outcome } = replay("environment_variables_blank").await;
    assert_eq!(
        outcome
            .map(|c| c.provider_name().to_owned())
            .ok()
            .as_deref(),
        Some("profile:some_profile"),
        "scenario {}: blank variables must fall through to AWS_PROFILE",
        replay.name
    );
}

#[tokio::test]
async fn prefer_environment() {
    // The default profile would need assume role; the environment must win before it is read.
    let Checked { replay, outcome } = replay("prefer_environment").await;
    assert_eq!(
        outcome
            .map(|c| c.provider_name().to_owned())
            .ok()
            .as_deref(),
        Some("environment"),
        "scenario {}",
        replay.name
    );
}

// ===== profile =====

#[tokio::test]
async fn profile_name() {
    replay("profile_name").await;
}

#[tokio::test]
async fn profile_static_keys() {
    replay("profile_static_keys").await;
}

#[tokio::test]
async fn profile_static_keys_case_insensitive() {
    replay("profile_static_keys_case_insensitive").await;
}

#[tokio::test]
async fn profile_overrides_web_identity() {
    // The profile's credential_source = Environment finds nothing: the chain stops at the profile
    // and never reaches the web identity variables (no STS call).
    replay("profile_overrides_web_identity").await;
}

// ===== containers =====

#[tokio::test]
async fn ecs_credentials() {
    replay("ecs_credentials").await;
}

#[tokio::test]
async fn ecs_credentials_invalid_profile() {
    replay("ecs_credentials_invalid_profile").await;
}

#[tokio::test]
async fn eks_pod_identity_credentials() {
    let Checked { replay, .. } = replay("eks_pod_identity_credentials").await;
    // The recording does not show the Authorization header; the token file in fs/ says what it
    // must be.
    let token = std::fs::read_to_string(fixtures_root().join(replay.name).join("fs/token.jwt"))
        .expect("token fixture");
    let received = replay.server.received();
    assert_eq!(
        received[0]
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some(token.trim()),
        "scenario {}: Authorization from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        replay.name
    );
}

#[tokio::test]
async fn eks_pod_identity_no_token_file() {
    let Checked { replay, outcome } = replay("eks_pod_identity_no_token_file").await;
    assert!(
        matches!(&outcome, Err(CredentialsError::Failed { provider, .. }) if provider == "container"),
        "scenario {}: a missing token file is a container failure, got {}",
        replay.name,
        describe(&outcome)
    );
}

#[tokio::test]
async fn ecs_assume_role() {
    replay("ecs_assume_role").await;
}

// ===== IMDS =====

#[tokio::test]
async fn imds_default_chain_success() {
    replay("imds_default_chain_success").await;
}

#[tokio::test]
async fn imds_default_chain_retries() {
    // 503 on each of the three requests once: each is retried.
    replay("imds_default_chain_retries").await;
}

#[tokio::test]
async fn imds_default_chain_error() {
    let Checked { replay, outcome } = replay("imds_default_chain_error").await;
    let why = replay.attempt(&outcome, "imds");
    assert!(
        why.contains("no IAM role"),
        "scenario {}: {why}",
        replay.name
    );
}

#[tokio::test]
async fn imds_disabled() {
    let Checked { replay, outcome } = replay("imds_disabled").await;
    let why = replay.attempt(&outcome, "imds");
    assert!(
        why.contains("AWS_EC2_METADATA_DISABLED"),
        "scenario {}: {why}",
        replay.name
    );
}

#[tokio::test]
async fn imds_config_with_no_creds() {
    replay("imds_config_with_no_creds").await;
}

#[tokio::test]
async fn imds_no_iam_role() {
    // The default profile reaches IMDS through `role_arn` + `credential_source`: IMDS has no role,
    // and the profile source says so and stops the chain.
    replay("imds_no_iam_role").await;
}

#[tokio::test]
async fn imds_no_iam_role_without_assume_role() {
    // The recorded IMDS traffic, with the assume-role profile left out so the chain reaches IMDS
    // directly: 404 on the role list = no source configured.
    let replay = Replay::load("imds_no_iam_role").await;
    replay.remove_file("home/.aws/config");
    let outcome = replay.run().await;
    replay.assert_recorded_traffic(&outcome);
    replay.assert_expected(&outcome);
}

#[tokio::test]
async fn imds_token_fail() {
    // The default profile reaches IMDS through `role_arn` + `credential_source`; the 403 stops it.
    replay("imds_token_fail").await;
}

#[tokio::test]
async fn imds_token_fail_without_assume_role() {
    // The recorded IMDS traffic, with the assume-role profile left out so the chain reaches IMDS
    // directly: a 403 on the token request is a hard error, not retried. The SDK's text is
    // "request forbidden: IMDS is disabled"; ours says "forbidden (HTTP 403): IMDS is disabled ...",
    // so the common part is compared.
    let replay = Replay::load("imds_token_fail").await;
    replay.remove_file("home/.aws/config");
    let outcome = replay.run().await;
    replay.assert_recorded_traffic(&outcome);
    let ok = matches!(&outcome, Err(e @ CredentialsError::Failed { provider, .. })
        if provider == "imds" && e.to_string().contains("IMDS is disabled"));
    assert!(
        ok,
        "scenario {} (without the profile): expected an imds failure containing `IMDS is disabled`, got {}",
        replay.name,
        describe(&outcome)
    );
}

#[tokio::test]
async fn imds_assume_role() {
    replay("imds_assume_role").await;
}

// ===== SSO =====

#[tokio::test]
async fn e2e_fips_and_dual_stack_sso() {
    // AWS_USE_FIPS_ENDPOINT + AWS_USE_DUALSTACK_ENDPOINT: https://portal.sso-fips.us-east-2.api.aws
    // (the sso_region, not AWS_REGION).
    let Checked { outcome, .. } = replay("e2e_fips_and_dual_stack_sso").await;
    assert_eq!(
        outcome.unwrap().provider_name(),
        "sso role MySsoRole in account 123456789 (profile sso-test)"
    );
}

#[tokio::test]
async fn sso_assume_role() {
    replay("sso_assume_role").await;
}

#[tokio::test]
async fn sso_no_token_file() {
    // No token file: retrying cannot help, so the error is NonRecoverable and says what to run.
    let Checked { replay, outcome } = replay("sso_no_token_file").await;
    let err = outcome.unwrap_err();
    assert!(err.is_non_recoverable(), "scenario {}: {err}", replay.name);
    assert!(
        err.to_string().contains("aws sso login --profile sso-test"),
        "scenario {}: {err}",
        replay.name
    );
}

#[tokio::test]
async fn sso_server_error() {
    let Checked { replay, outcome } = replay("sso_server_error").await;
    let err = outcome.unwrap_err();
    assert!(
        !err.is_non_recoverable(),
        "scenario {}: a 503 may pass: {err}",
        replay.name
    );
}

// ===== web identity =====

#[tokio::test]
async fn web_identity_source_profile_no_env() {
    replay("web_identity_source_profile_no_env").await;
}

#[tokio::test]
async fn web_identity_token_invalid_jwt() {
    replay("web_identity_token_invalid_jwt").await;
}

#[tokio::test]
async fn web_identity_token_profile() {
    replay("web_identity_token_profile").await;
}

#[tokio::test]
async fn web_identity_token_source_profile() {
    replay("web_identity_token_source_profile").await;
}

#[tokio::test]
async fn web_identity_token_env() {
    // IRSA from the environment: one AssumeRoleWithWebIdentity to the regional endpoint of
    // AWS_REGION (eu-west-1), unsigned.
    let Checked { outcome, .. } = replay("web_identity_token_env").await;
    let creds = outcome.unwrap();
    assert_eq!(creds.account_id(), Some("123456789012"));
}

// ===== the profile-provider scenarios that call STS (tests/fixtures/profile/profile-provider) =====

/// Replays a profile-provider scenario through the `Profile` source alone and checks the traffic
/// (the STS endpoint through `Host`) and the SDK's result, account id included.
async fn replay_profile(name: &'static str) {
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/profile/profile-provider");
    let replay = Replay::load_from(root, name).await;
    let outcome = replay.run_profile().await;
    replay.assert_recorded_traffic(&outcome);
    replay.assert_expected(&outcome);
    let want = read_json(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/profile/profile-provider")
            .join(name)
            .join("test-case.json"),
    );
    let account = want["result"]["Ok"]["account_id"].as_str();
    assert_eq!(
        outcome.as_ref().ok().and_then(|c| c.account_id()),
        account,
        "scenario {name}: account id (from the assumed role's ARN)"
    );
}

#[tokio::test]
async fn e2e_assume_role() {
    // Static keys in [base], then AssumeRole at the regional endpoint of the profile's region.
    replay_profile("e2e_assume_role").await;
}

#[tokio::test]
async fn e2e_fips_and_dual_stack_sts() {
    // use_fips_endpoint + use_dualstack_endpoint: https://sts-fips.us-east-1.api.aws/.
    replay_profile("e2e_fips_and_dual_stack_sts").await;
}

#[tokio::test]
async fn region_override() {
    // AWS_REGION=us-east-2 wins over the profile's region: https://sts.us-east-2.amazonaws.com/.
    replay_profile("region_override").await;
}

#[tokio::test]
async fn retry_on_error() {
    // A 503, then success: the STS call is retried.
    replay_profile("retry_on_error").await;
}

#[tokio::test]
async fn assume_role_override_global_env_url() {
    replay_profile("assume_role_override_global_env_url").await;
}

#[tokio::test]
async fn assume_role_override_global_profile_url() {
    replay_profile("assume_role_override_global_profile_url").await;
}

#[tokio::test]
async fn assume_role_override_service_env_url() {
    replay_profile("assume_role_override_service_env_url").await;
}

#[tokio::test]
async fn assume_role_override_service_profile_url() {
    replay_profile("assume_role_override_service_profile_url").await;
}

#[tokio::test]
async fn sso_credentials() {
    // sso_session form: the token file is the SHA-1 of the session name `dev`.
    replay_profile("sso_credentials").await;
}

#[tokio::test]
async fn sso_override_global_env_url() {
    // AWS_ENDPOINT_URL applies to the SSO portal too.
    replay_profile("sso_override_global_env_url").await;
}

#[tokio::test]
async fn sso_token() {
    // No sso_account_id / sso_role_name: a token profile, not credentials; no request.
    replay_profile("sso_token").await;
}

#[tokio::test]
async fn invalid_sso_credentials_config() {
    replay_profile("invalid_sso_credentials_config").await;
}
