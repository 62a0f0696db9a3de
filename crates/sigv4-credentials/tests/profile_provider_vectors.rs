//! The `Profile` provider against smithy-rs's end-to-end profile-provider scenarios
//! (tests/fixtures/profile/profile-provider/, see SOURCE.txt). Each scenario has `env.json` (with
//! `HOME` pointing into its `fs/`) and `test-case.json` (the SDK's expected result). The scenarios
//! that call STS are replayed with their recorded traffic in `chain_scenarios.rs`; SSO ones are
//! expected to fail with our "not supported yet". Error texts are ours, checked per scenario
//! against what the SDK's error says happened.
#![cfg(unix)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;
use sigv4_credentials::{CredentialsError, Env, ManualClock, Profile, ProvideCredentials};

fn scenario_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/profile/profile-provider")
        .join(name)
}

fn read_json(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs a scenario with its environment (`HOME=/home` mapped to the scenario's `fs/home`) and a
/// clock before the recorded credentials' expiry (2022-05-02T18:36:00Z).
async fn run(
    name: &str,
) -> (
    Value,
    Result<sigv4_credentials::Credentials, CredentialsError>,
) {
    let dir = scenario_dir(name);
    let env_json = read_json(dir.join("env.json"));
    let mut pairs = Vec::new();
    for (key, value) in env_json.as_object().expect("env object") {
        let value = value.as_str().expect("string").to_owned();
        let value = match value.strip_prefix('/') {
            Some(rest) if key == "HOME" => dir.join("fs").join(rest).to_str().unwrap().to_owned(),
            _ => value,
        };
        pairs.push((key.clone(), value));
    }
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_651_516_000),
    ));
    let provider = Profile::builder()
        .env(Env::from_pairs(pairs))
        .time_source(clock)
        .build();
    let expected = read_json(dir.join("test-case.json"));
    (expected, provider.provide_credentials().await)
}

async fn expect_ok(name: &str) {
    let (expected, result) = run(name).await;
    let ok = &expected["result"]["Ok"];
    assert!(ok.is_object(), "{name}: scenario does not expect success");
    let creds = result.unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        Some(creds.access_key_id()),
        ok["access_key_id"].as_str(),
        "{name}"
    );
    assert_eq!(
        Some(creds.secret_access_key()),
        ok["secret_access_key"].as_str(),
        "{name}"
    );
    assert_eq!(
        creds.session_token(),
        ok["session_token"].as_str(),
        "{name}"
    );
    let expiry = ok["expiry"]
        .as_u64()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s));
    assert_eq!(creds.expiry(), expiry, "{name}");
}

/// The SDK expects an error here; ours must be of `kind` and contain `ours`.
async fn expect_err(name: &str, not_configured: bool, ours: &[&str]) {
    let (expected, result) = run(name).await;
    assert!(
        expected["result"]["ErrorContains"].is_string() || expected["result"]["Ok"].is_object(),
        "{name}: unexpected test-case shape"
    );
    let err = match result {
        Ok(creds) => panic!("{name}: expected an error, got {creds:?}"),
        Err(e) => e,
    };
    assert_eq!(err.is_not_configured(), not_configured, "{name}: {err:?}");
    let text = err.to_string();
    for part in ours {
        assert!(
            text.contains(part),
            "{name}: {text:?} does not contain {part:?}"
        );
    }
}

#[tokio::test]
async fn credential_process() {
    expect_ok("credential_process").await;
}

#[tokio::test]
async fn credential_process_account_id_fallback() {
    expect_ok("credential_process_account_id_fallback").await;
}

#[tokio::test]
async fn credential_process_failure() {
    // SDK: "external process exited with code exit status: 1"
    expect_err(
        "credential_process_failure",
        false,
        &["exited with exit status: 1"],
    )
    .await;
}

#[tokio::test]
async fn credential_process_invalid() {
    // SDK: "could not parse response: invalid JSON in response"
    expect_err("credential_process_invalid", false, &["not valid JSON"]).await;
}

#[tokio::test]
async fn empty_config() {
    // SDK: "the credential provider was not enabled"
    expect_err("empty_config", true, &["no profile files found"]).await;
}

#[tokio::test]
async fn invalid_config() {
    // SDK: "could not parse profile file"
    expect_err(
        "invalid_config",
        false,
        &[
            "could not parse profile file",
            "line 2",
            "Property did not have a name",
        ],
    )
    .await;
}

#[tokio::test]
async fn invalid_sso_credentials_config() {
    // SDK: "selected profile will resolve an access token instead of credentials"
    expect_err(
        "invalid_sso_credentials_config",
        false,
        &[
            "`default`",
            "`sso_session`",
            "selected profile will resolve an access token instead of credentials",
        ],
    )
    .await;
}
