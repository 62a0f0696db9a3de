//! The IMDS source: endpoint resolution against the SDKs' shared vectors, then the protocol
//! against the loopback IMDS emulator (tokens, retries, faults, static stability).

mod common;
use common::Captured;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{Method, StatusCode};
use serde::Deserialize;
use sigv4_credentials::imds::{resolve_endpoint, EndpointMode};
use sigv4_credentials::{
    CredentialsError, Env, Imds, ManualClock, ProvideCredentials, SharedTimeSource,
};
use sigv4_testkit::imds::{closed_port_endpoint, Fault, FaultRule, ImdsEmulator, Target};

// ===== endpoint resolution vectors (tests/fixtures/imds) =====

#[derive(Deserialize)]
struct EndpointVectors {
    tests: Vec<EndpointCase>,
}

#[derive(Deserialize)]
struct EndpointCase {
    docs: String,
    env: HashMap<String, String>,
    fs: HashMap<String, String>,
    endpoint_override: Option<String>,
    mode_override: Option<String>,
    result: VectorResult,
}

#[derive(Deserialize)]
enum VectorResult {
    Ok(String),
    Err(String),
}

fn endpoint_vectors() -> Vec<EndpointCase> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/imds/imds-endpoint-tests.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture readable");
    serde_json::from_str::<EndpointVectors>(&text)
        .expect("fixture parses")
        .tests
}

/// Runs vector `index`, checking that its `docs` is `expected_docs` (so a reordered file cannot
/// silently test the wrong case).
fn run_endpoint_case(index: usize, expected_docs: &str) {
    let cases = endpoint_vectors();
    assert_eq!(cases.len(), 14, "the fixture should hold 14 cases");
    let case = &cases[index];
    assert_eq!(
        case.docs, expected_docs,
        "case {index} moved in the fixture"
    );

    // Files of the case go into a fresh directory; variables naming them point there. HOME is the
    // same directory so that nothing from the real home directory is read.
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, content) in &case.fs {
        std::fs::write(dir.path().join(name), content).expect("write fixture file");
    }
    let mut env: Vec<(String, String)> = case
        .env
        .iter()
        .map(|(k, v)| {
            let value = if case.fs.contains_key(v) {
                dir.path().join(v).display().to_string()
            } else {
                v.clone()
            };
            (k.clone(), value)
        })
        .collect();
    env.push(("HOME".into(), dir.path().display().to_string()));
    let env = Env::from_pairs(env);

    let mode = case.mode_override.as_deref().map(|m| {
        m.parse::<EndpointMode>()
            .expect("vector mode override is valid")
    });
    let got = resolve_endpoint(&env, case.endpoint_override.as_deref(), mode);
    match (&case.result, got) {
        (VectorResult::Ok(expected), Ok(base)) => {
            let base = base.to_string();
            let token_url = format!("{}/latest/api/token", base.trim_end_matches('/'));
            assert_eq!(&token_url, expected, "case `{}`", case.docs);
        }
        (VectorResult::Err(expected), Err(err)) => {
            assert!(
                !err.is_not_configured(),
                "case `{}`: a bad setting must fail, not be skipped: {err}",
                case.docs
            );
            let text = err.to_string();
            assert!(
                text.contains(expected.as_str()),
                "case `{}`: error `{text}` should contain `{expected}`",
                case.docs
            );
        }
        (VectorResult::Ok(expected), Err(err)) => {
            panic!("case `{}`: expected {expected}, got error {err}", case.docs)
        }
        (VectorResult::Err(expected), Ok(uri)) => {
            panic!(
                "case `{}`: expected an error containing `{expected}`, got {uri}",
                case.docs
            )
        }
    }
}

macro_rules! endpoint_vector_tests {
    ($($name:ident: $index:literal, $docs:literal;)*) => {
        $(
            #[test]
            fn $name() {
                run_endpoint_case($index, $docs);
            }
        )*
    };
}

endpoint_vector_tests! {
    vector_00_default_endpoint: 0, "all fields unset, default endpoint";
    vector_01_env_endpoint: 1, "environment variable endpoint override";
    vector_02_profile_endpoint: 2, "profile endpoint override";
    vector_03_env_over_profile: 3, "environment overrides profile";
    vector_04_invalid_env_mode: 4, "invalid endpoint mode override";
    vector_05_ipv4_mode: 5, "ipv4 endpoint";
    vector_06_ipv6_mode: 6, "ipv6 endpoint";
    vector_07_mode_case_insensitive: 7, "case insensitive endpoint";
    vector_08_profile_ipv6_mode: 8, "ipv6 endpoint from config";
    vector_09_invalid_profile_mode: 9, "invalid config endpoint mode";
    vector_10_explicit_endpoint: 10, "explicit endpoint override";
    vector_11_explicit_mode: 11, "explicit mode override";
    vector_12_invalid_uri: 12, "invalid uri";
    vector_13_env_endpoint_over_explicit_mode: 13, "environment variable overrides endpoint mode override";
}

// ===== protocol against the emulator =====

const START: u64 = 1_800_000_000;

fn clock() -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::from_secs(START))
}

async fn emulator(clock: &ManualClock) -> ImdsEmulator {
    ImdsEmulator::builder()
        .time_source(Arc::new(clock.clone()))
        .role_name("web-server")
        .start()
        .await
}

/// An IMDS source pointed at `endpoint`, sharing `clock`, with tiny backoffs.
fn imds_for(endpoint: &str, clock: &ManualClock) -> Imds {
    let ts: SharedTimeSource = Arc::new(clock.clone());
    Imds::builder()
        .env(Env::from_pairs([("HOME", "/nonexistent-home-for-tests")]))
        .endpoint(endpoint)
        .time_source(ts)
        .initial_backoff(Duration::from_millis(1))
        .build()
}

fn assert_same(got: &sigv4_credentials::Credentials, want: &sigv4_credentials::Credentials) {
    assert_eq!(got.access_key_id(), want.access_key_id());
    assert_eq!(got.secret_access_key(), want.secret_access_key());
    assert_eq!(got.session_token(), want.session_token());
    assert_eq!(got.expiry(), want.expiry());
}

#[tokio::test]
async fn loads_the_instance_role_credentials() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let imds = imds_for(&emu.endpoint(), &clock);

    let creds = imds.provide_credentials().await.expect("credentials");
    assert_same(&creds, &emu.current_credentials());
    assert_eq!(creds.access_key_id(), "ASIAEMU0000000000001");
    assert_eq!(creds.provider_name(), "imds");
    assert_eq!(
        creds.expiry(),
        Some(UNIX_EPOCH + Duration::from_secs(START + 6 * 3600))
    );

    let requests = emu.requests();
    let summary: Vec<(Method, &str)> = requests
        .iter()
        .map(|r| (r.method.clone(), r.path.as_str()))
        .collect();
    // The extended API is asked first; this emulator only has the legacy one (404), so the
    // source falls back to it.
    assert_eq!(
        summary,
        vec![
            (Method::PUT, "/latest/api/token"),
            (
                Method::GET,
                "/latest/meta-data/iam/security-credentials-extended/"
            ),
            (Method::GET, "/latest/meta-data/iam/security-credentials/"),
            (
                Method::GET,
                "/latest/meta-data/iam/security-credentials/web-server"
            ),
        ]
    );
    assert_eq!(requests[0].token_ttl.as_deref(), Some("21600"));
    assert!(!requests[0].forwarded_for);
    assert!(requests[1..].iter().all(|r| r.token_present));
    assert_eq!(requests[1].status, Some(StatusCode::NOT_FOUND));
    assert!(requests[2..]
        .iter()
        .all(|r| r.status == Some(StatusCode::OK)));
}

#[tokio::test]
async fn endpoint_from_the_environment_variable() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let imds = Imds::builder()
        .env(Env::from_pairs([
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", emu.endpoint().as_str()),
            ("HOME", "/nonexistent-home-for-tests"),
        ]))
        .time_source(Arc::new(clock.clone()))
        .build();
    let creds = imds.provide_credentials().await.expect("credentials");
    assert_same(&creds, &emu.current_credentials());
}

#[tokio::test]
async fn one_token_serves_many_fetches_and_the_profile_name_is_remembered() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let imds = imds_for(&emu.endpoint(), &clock);
    for _ in 0..3 {
        imds.provide_credentials().await.expect("credentials");
        clock.advance(Duration::from_secs(600));
    }
    assert_eq!(emu.token_fetches(), 1);
    assert_eq!(emu.credential_fetches(), 3);
    // The instance profile's name and the API that answered are remembered (as the Go, Java and
    // JS SDKs do): one listing, one probe of the extended API.
    let count = |path: &str| emu.requests().iter().filter(|r| r.path == path).count();
    assert_eq!(count("/latest/meta-data/iam/security-credentials/"), 1);
    assert_eq!(
        count("/latest/meta-data/iam/security-credentials-extended/"),
        1
    );
}

#[tokio::test]
async fn the_token_is_renewed_two_minutes_before_its_ttl() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let imds = imds_for(&emu.endpoint(), &clock);
    imds.provide_credentials().await.expect("first");
    // 6 h - 121 s: still before the refresh point.
    clock.advance(Duration::from_secs(21_600 - 121));
    imds.provide_credentials().await.expect("second");
    assert_eq!(emu.token_fetches(), 1);
    // 6 h - 119 s: inside the last two minutes, a new token is fetched (no 401 on the way).
    clock.advance(Duration::from_secs(2));
    let creds = imds.provide_credentials().await.expect("third");
    assert_eq!(emu.token_fetches(), 2);
    assert!(emu
        .requests()
        .iter()
        .all(|r| r.status != Some(StatusCode::UNAUTHORIZED)));
    assert_same(&creds, &emu.current_credentials());
}

#[tokio::test]
async fn a_rejected_token_costs_one_new_token_not_a_storm() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let imds = imds_for(&emu.endpoint(), &clock);
    imds.provide_credentials().await.expect("warm up");
    assert_eq!(emu.token_fetches(), 1);

    emu.invalidate_tokens();
    let fetches = (0..5).map(|_| {
        let imds = imds.clone();
        tokio::spawn(async move { imds.provide_credentials().await })
    });
    for task in fetches.collect::<Vec<_>>() {
        let creds = task.await.expect("task").expect("credentials after 401");
        assert_eq!(creds.access_key_id(), "ASIAEMU0000000000001");
    }
    assert_eq!(emu.token_fetches(), 2, "exactly one new token");
    assert!(emu
        .requests()
        .iter()
        .any(|r| r.status == Some(StatusCode::UNAUTHORIZED)));
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let imds = imds_for(&emu.endpoint(), &clock);
    emu.set_fault(
        FaultRule::new(Fault::Status(StatusCode::SERVICE_UNAVAILABLE))
            .on(Target::Token)
            .times(3),
    );
    emu.set_fault(
        FaultRule::new(Fault::Status(StatusCode::INTERNAL_SERVER_ERROR))
            .on(Target::Credentials)
            .times(2),
    );
    let creds = imds.provide_credentials().await.expect("recovers");
    assert_same(&creds, &emu.current_credentials());
    assert_eq!(emu.token_fetches(), 4, "3 failures + 1 success");
    assert_eq!(emu.credential_fetches(), 3, "2 failures + 1 success");
}

#[tokio::test]
async fn retries_stop_after_max_attempts() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let imds = imds_for(&emu.endpoint(), &clock);
    emu.set_fault(
        FaultRule::new(Fault::Status(StatusCode::INTERNAL_SERVER_ERROR)).on(Target::Credentials),
    );
    let err = imds.provide_credentials().await.unwrap_err();
    assert!(!err.is_not_configured(), "{err}");
    assert!(err.to_string().contains("500"), "{err}");
    assert_eq!(emu.credential_fetches(), 4);

    emu.clear_requests();
    let two = Imds::builder()
        .env(Env::from_pairs([("HOME", "/nonexistent-home-for-tests")]))
        .endpoint(emu.endpoint())
        .time_source(Arc::new(clock.clone()))
        .max_attempts(2)
        .initial_backoff(Duration::from_millis(1))
        .build();
    two.provide_credentials().await.unwrap_err();
    assert_eq!(emu.credential_fetches(), 2);
}

#[tokio::test]
async fn no_role_is_not_configured_and_not_retried() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let imds = imds_for(&emu.endpoint(), &clock);
    emu.set_fault(Fault::NoRole);
    let err = imds.provide_credentials().await.unwrap_err();
    assert!(err.is_not_configured(), "{err}");
    assert!(err.to_string().contains("no IAM role"), "{err}");
    let lists = emu
        .requests()
        .iter()
        .filter(|r| r.path == "/latest/meta-data/iam/security-credentials/")
        .count();
    assert_eq!(lists, 1);
}

#[tokio::test]
async fn token_forbidden_means_imds_disabled_and_is_not_retried() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let imds = imds_for(&emu.endpoint(), &clock);
    emu.set_fault(Fault::Forbidden);
    let err = imds.provide_credentials().await.unwrap_err();
    assert!(matches!(err, CredentialsError::Failed { .. }), "{err}");
    assert!(err.to_string().contains("IMDS is disabled"), "{err}");
    assert_eq!(emu.token_fetches(), 1);
    assert_eq!(emu.requests().len(), 1);
}

#[tokio::test]
async fn client_errors_on_metadata_are_not_retried() {
    for status in [
        StatusCode::NOT_FOUND,
        StatusCode::FORBIDDEN,
        StatusCode::BAD_REQUEST,
    ] {
        let clock = clock();
        let emu = emulator(&clock).await;
        let imds = imds_for(&emu.endpoint(), &clock);
        emu.set_fault(FaultRule::new(Fault::Status(status)).on(Target::Credentials));
        let err = imds.provide_credentials().await.unwrap_err();
        assert!(!err.is_not_configured(), "{status}: {err}");
        assert!(err.to_string().contains(status.as_str()), "{err}");
        // 404 on a listed profile name means the instance profile may have changed: the source
        // lists again once (the SDKs' rule), then gives up. Other statuses end it at once.
        let expected = if status == StatusCode::NOT_FOUND {
            2
        } else {
            1
        };
        assert_eq!(
            emu.credential_fetches(),
            expected,
            "{status} must not be retried"
        );
    }
}

#[tokio::test]
async fn nothing_listening_is_not_configured_at_once() {
    let endpoint = closed_port_endpoint().expect("closed port");
    let clock = clock();
    // A one-hour connect timeout: only a refused connection can end this quickly.
    let imds = Imds::builder()
        .env(Env::from_pairs([("HOME", "/nonexistent-home-for-tests")]))
        .endpoint(endpoint.as_str())
        .connect_timeout(Duration::from_secs(3600))
        .time_source(Arc::new(clock))
        .build();
    let result = tokio::time::timeout(Duration::from_secs(30), imds.provide_credentials())
        .await
        .expect("a refused connection is reported without waiting for the connect timeout");
    let err = result.unwrap_err();
    assert!(err.is_not_configured(), "{err}");
    assert!(
        err.to_string().contains(&format!("no IMDS at {endpoint}")),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_token_request_times_out_and_names_the_hop_limit() {
    let clock = clock();
    let emu = emulator(&clock).await;
    emu.set_fault(FaultRule::new(Fault::Hang).on(Target::Token));
    let imds = Imds::builder()
        .env(Env::from_pairs([("HOME", "/nonexistent-home-for-tests")]))
        .endpoint(emu.endpoint())
        .read_timeout(Duration::from_secs(1))
        .time_source(Arc::new(clock.clone()))
        .build();
    let started = tokio::time::Instant::now();
    let err = imds.provide_credentials().await.unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, CredentialsError::Failed { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("HttpPutResponseHopLimit"), "{text}");
    assert!(text.contains("set it to 2"), "{text}");
    assert!(waited >= Duration::from_secs(1), "waited {waited:?}");
    assert!(waited < Duration::from_secs(2), "not retried: {waited:?}");
}

#[tokio::test]
async fn malformed_json_fails_without_retry() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let imds = imds_for(&emu.endpoint(), &clock);
    emu.set_fault(Fault::MalformedJson);
    let err = imds.provide_credentials().await.unwrap_err();
    assert!(matches!(err, CredentialsError::Failed { .. }), "{err}");
    assert!(
        err.to_string().contains("malformed credentials JSON"),
        "{err}"
    );
    assert_eq!(emu.credential_fetches(), 1);
}

#[tokio::test]
async fn a_code_other_than_success_fails() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let imds = imds_for(&emu.endpoint(), &clock);
    emu.set_fault(Fault::CodeNotSuccess);
    let err = imds.provide_credentials().await.unwrap_err();
    assert!(matches!(err, CredentialsError::Failed { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(sigv4_testkit::imds::NOT_SUCCESS_CODE),
        "{err}"
    );
}

#[tokio::test]
async fn expired_credentials_are_extended_with_a_warning() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let clock = clock();
    let emu = emulator(&clock).await;
    let imds = imds_for(&emu.endpoint(), &clock);
    emu.set_fault(Fault::ExpiredCredentials);
    let now: SystemTime = UNIX_EPOCH + Duration::from_secs(START);
    let creds = imds.provide_credentials().await.expect("served anyway");
    let expiry = creds.expiry().expect("has an expiry");
    assert!(
        expiry >= now + Duration::from_secs(300) && expiry <= now + Duration::from_secs(600),
        "extended by 5 to 10 minutes: {:?}",
        expiry.duration_since(now)
    );
    let want = emu.current_credentials();
    assert_eq!(creds.access_key_id(), want.access_key_id());
    assert_eq!(creds.secret_access_key(), want.secret_access_key());

    let text = logs.text();
    assert!(text.contains("WARN"), "{text}");
    assert!(text.contains("static stability"), "{text}");
    assert!(
        !text.contains(want.secret_access_key()),
        "secret in logs: {text}"
    );
    assert!(
        !text.contains(want.session_token().expect("token")),
        "session token in logs: {text}"
    );
}

#[tokio::test]
async fn the_disabled_variable_turns_the_source_off() {
    let clock = clock();
    let emu = emulator(&clock).await;
    for value in ["true", "TRUE"] {
        let imds = Imds::builder()
            .env(Env::from_pairs([("AWS_EC2_METADATA_DISABLED", value)]))
            .endpoint(emu.endpoint())
            .build();
        let err = imds.provide_credentials().await.unwrap_err();
        assert!(err.is_not_configured(), "{err}");
        assert!(
            err.to_string().contains("AWS_EC2_METADATA_DISABLED"),
            "{err}"
        );
    }
    assert!(emu.requests().is_empty());

    let imds = Imds::builder()
        .env(Env::from_pairs([("AWS_EC2_METADATA_DISABLED", "false")]))
        .endpoint(emu.endpoint())
        .time_source(Arc::new(clock.clone()))
        .build();
    imds.provide_credentials().await.expect("not disabled");
}

#[tokio::test]
async fn an_https_endpoint_is_tried_over_tls() {
    // With the `tls` feature an https:// endpoint is a real option (no "not supported"): nothing
    // listens on port 9, so this is the usual fast "not configured".
    let imds = Imds::builder()
        .env(Env::from_pairs([("HOME", "/nonexistent-home-for-tests")]))
        .endpoint("https://127.0.0.1:9")
        .build();
    let err = imds.provide_credentials().await.unwrap_err();
    assert!(err.is_not_configured(), "{err}");
    assert!(err.to_string().contains("https://127.0.0.1:9"), "{err}");
    assert!(!err.to_string().contains("not supported"), "{err}");
}

#[tokio::test]
async fn secrets_stay_out_of_debug_output() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let imds = imds_for(&emu.endpoint(), &clock);
    let creds = imds.provide_credentials().await.expect("credentials");
    let shown = format!("{imds:?} {creds:?}");
    assert!(!shown.contains(creds.secret_access_key()), "{shown}");
    assert!(
        !shown.contains(creds.session_token().expect("token")),
        "{shown}"
    );
}
