//! The AWS SDK for Rust's `aws login` cases (`tests/fixtures/profile/login-provider-test-cases.json`,
//! see `SOURCE.txt` there), one test each, through the [`Profile`] source (a `login_session`
//! profile) against the testkit's sign-in emulator.
//!
//! A case gives the config file, the login cache files, the token calls the SDK makes
//! (`mockApiCalls`: the request's `clientId`, `refreshToken` and `grantType`, and the answer or an
//! error status) and the outcomes (credentials, an error, the cache file afterwards). The
//! emulator knows the session of each mocked call and answers it as the case says (a mocked
//! error status: the session is unknown to it, so it refuses the refresh with `400
//! invalid_grant`); it also checks every request's DPoP proof. "Now" is 2025-11-19T00:00:00Z,
//! the time the refreshed case's `expiresAt` (now + `expiresIn` 900 s) implies.
#![cfg(feature = "login")]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;
use sigv4_credentials::{Credentials, Env, ManualClock, Profile, ProvideCredentials};
use sigv4_testkit::signin::{ScriptedAnswer, SigninEmulator};

/// 2025-11-19T00:00:00Z.
const NOW: u64 = 1_763_510_400;

fn cases() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/profile/login-provider-test-cases.json");
    serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("JSON")
}

async fn run(index: usize, docs: &str) {
    let case = &cases()[index];
    assert_eq!(
        case["documentation"], docs,
        "case {index} is the expected one"
    );
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW));
    let signin = SigninEmulator::builder()
        .time_source(Arc::new(clock.clone()))
        .start()
        .await;
    let calls = case["mockApiCalls"].as_array().cloned().unwrap_or_default();
    for call in &calls {
        let input = &call["request"]["tokenInput"];
        let Some(output) = call["response"].get("tokenOutput") else {
            // A mocked error status: the session stays unknown, the refresh is refused.
            assert_eq!(
                call["responseCode"], 400,
                "case {index}: only 400 is mocked"
            );
            continue;
        };
        signin.add_session(
            input["clientId"].as_str().unwrap(),
            input["refreshToken"].as_str().unwrap(),
        );
        let token = &output["accessToken"];
        signin.answer_next_with(ScriptedAnswer {
            credentials: Credentials::builder(
                token["accessKeyId"].as_str().unwrap(),
                token["secretAccessKey"].as_str().unwrap(),
            )
            .session_token(token["sessionToken"].as_str().unwrap())
            .build(),
            refresh_token: output["refreshToken"].as_str().unwrap().to_owned(),
            expires_in: output["expiresIn"].as_u64().unwrap(),
        });
    }

    let home = tempfile::tempdir().unwrap();
    let cache_dir = home.path().join("login-cache");
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    std::fs::create_dir_all(&cache_dir).unwrap();
    std::fs::write(
        home.path().join(".aws/config"),
        case["configContents"].as_str().unwrap(),
    )
    .unwrap();
    for (name, contents) in case["cacheContents"].as_object().unwrap() {
        std::fs::write(
            cache_dir.join(name),
            serde_json::to_vec_pretty(contents).unwrap(),
        )
        .unwrap();
    }
    let env = Env::from_pairs([
        ("HOME", home.path().display().to_string()),
        ("AWS_PROFILE", "signin".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_LOGIN_CACHE_DIRECTORY", cache_dir.display().to_string()),
        ("AWS_ENDPOINT_URL_SIGNIN", signin.endpoint()),
    ]);
    let outcome = Profile::builder()
        .env(env)
        .time_source(Arc::new(clock.clone()))
        .build()
        .provide_credentials()
        .await;

    for expected in case["outcomes"].as_array().unwrap() {
        match expected["result"].as_str().unwrap() {
            "credentials" => {
                let creds = outcome.as_ref().unwrap_or_else(|e| {
                    panic!("case {index} ({docs}): expected credentials, got {e}")
                });
                assert_eq!(
                    creds.access_key_id(),
                    expected["accessKeyId"],
                    "case {index}"
                );
                assert_eq!(
                    creds.secret_access_key(),
                    expected["secretAccessKey"],
                    "case {index}"
                );
                assert_eq!(
                    creds.session_token(),
                    expected["sessionToken"].as_str(),
                    "case {index}"
                );
                assert_eq!(
                    creds.account_id(),
                    expected["accountId"].as_str(),
                    "case {index}"
                );
                let expiry =
                    sigv4_core::time::parse_rfc3339(expected["expiresAt"].as_str().unwrap())
                        .unwrap();
                assert_eq!(creds.expiry(), Some(expiry), "case {index}");
                assert_eq!(
                    creds.provider_name(),
                    "aws login session arn:aws:sts::012345678910:assumed-role/Admin/admin (profile signin)",
                    "case {index}"
                );
            }
            "error" => {
                let err = outcome
                    .as_ref()
                    .err()
                    .unwrap_or_else(|| panic!("case {index} ({docs}): expected an error"));
                assert!(
                    err.to_string().contains("aws login --profile signin"),
                    "case {index} ({docs}): the error says how to sign in again: {err}"
                );
                assert!(err.is_non_recoverable(), "case {index}: {err}");
            }
            "cacheContents" => {
                for (name, want) in expected.as_object().unwrap() {
                    if name == "result" {
                        continue;
                    }
                    let got: Value =
                        serde_json::from_slice(&std::fs::read(cache_dir.join(name)).unwrap())
                            .unwrap();
                    assert_eq!(&got, want, "case {index}: the cache file {name} afterwards");
                }
            }
            other => panic!("case {index}: unknown outcome {other}"),
        }
    }
    // The token calls the SDK makes, and no other.
    let requests = signin.requests();
    assert_eq!(requests.len(), calls.len(), "case {index}: token calls");
    for (request, call) in requests.iter().zip(&calls) {
        let input = &call["request"]["tokenInput"];
        assert!(request.dpop_valid, "case {index}: a valid DPoP proof");
        assert_eq!(request.client_id.as_deref(), input["clientId"].as_str());
        assert_eq!(request.grant_type.as_deref(), input["grantType"].as_str());
    }
}

macro_rules! cases {
    ($($name:ident: $index:expr, $docs:expr;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                run($index, $docs).await;
            }
        )*
    };
}

cases! {
    valid_credentials_are_returned_immediately: 0, "Success - Valid credentials are returned immediately";
    no_cache_file: 1, "Failure - No cache file";
    missing_access_token: 2, "Failure - Missing accessToken";
    missing_refresh_token: 3, "Failure - Missing refreshToken";
    missing_client_id: 4, "Failure - Missing clientId in cache";
    missing_dpop_key: 5, "Failure - Missing dpopKey";
    expired_token_triggers_successful_refresh: 6, "Success - Expired token triggers successful refresh";
    expired_token_triggers_failed_refresh: 7, "Failure - Expired token triggers failed refresh";
}

#[test]
fn there_are_eight_cases() {
    assert_eq!(cases().len(), 8);
}
