//! `aws login` credentials against the testkit's sign-in emulator on an injected clock: one
//! DPoP-signed refresh for 10,000 concurrent callers with the rotated refresh token written back,
//! a crash between write and rename, an ended session, and no credential, refresh token or DPoP
//! key in any output.
#![cfg(feature = "login")]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Value};
use sigv4_credentials::login::{cache_file_name, Login};
use sigv4_credentials::{
    CredentialsCache, CredentialsError, Env, ManualClock, ProvideCredentials, SharedTimeSource,
    TimeSource,
};
use sigv4_testkit::signin::SigninEmulator;

mod common;
use common::{call_concurrently, Captured};

const START: u64 = 1_800_000_000;
const SESSION: &str = "arn:aws:sts::012345678910:assumed-role/Admin/admin";
const CLIENT: &str = "arn:aws:signin:::devtools/same-device";
const REFRESH: &str = "first-refresh-token-DO-NOT-LOG";
// The throwaway test key of the SDKs' login-provider-test-cases.json.
const KEY: &str = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIPt/u8InPLpQeQLJTvVX+sNDzni8vMDMt3Liu+nMBigfoAoGCCqGSM49\nAwEHoUQDQgAEILkGG7rNOnxiIJlMgimY1UPP8eDMFP0DAY6WGjngP4bvTAiUCQ/I\nffut2379uP+OBCm2ovGpBOJRgrl1RspUOQ==\n-----END EC PRIVATE KEY-----\n";

struct Laptop {
    clock: ManualClock,
    signin: SigninEmulator,
    dir: tempfile::TempDir,
}

impl Laptop {
    /// After `aws login`: 15-minute credentials in the cache, valid for 15 more minutes.
    async fn after_login() -> Self {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
        let signin = SigninEmulator::builder()
            .time_source(Arc::new(clock.clone()))
            .session(CLIENT, REFRESH)
            .start()
            .await;
        let dir = tempfile::tempdir().unwrap();
        let file = json!({
            "accessToken": {
                "accessKeyId": "ASIAFIRST",
                "secretAccessKey": "first-secret-DO-NOT-LOG",
                "sessionToken": "first-session-token-DO-NOT-LOG",
                "accountId": "012345678910",
                "expiresAt": sigv4_core::time::format_rfc3339(clock.now() + Duration::from_secs(900)),
            },
            "clientId": CLIENT,
            "refreshToken": REFRESH,
            "idToken": "id-token",
            "dpopKey": KEY,
        });
        let laptop = Laptop { clock, signin, dir };
        std::fs::write(laptop.path(), serde_json::to_vec_pretty(&file).unwrap()).unwrap();
        laptop
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join(cache_file_name(SESSION))
    }

    fn file(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.path()).unwrap()).unwrap()
    }

    fn builder(&self) -> sigv4_credentials::login::LoginBuilder {
        Login::builder(SESSION)
            .profile_name("signin")
            .env(Env::from_pairs([
                (
                    "AWS_LOGIN_CACHE_DIRECTORY",
                    self.dir.path().display().to_string(),
                ),
                ("AWS_ENDPOINT_URL_SIGNIN", self.signin.endpoint()),
            ]))
            .time_source(self.time())
            .transport(
                sigv4_credentials::TransportOptions::new(
                    Duration::from_secs(10),
                    Duration::from_secs(10),
                )
                .initial_backoff(Duration::from_millis(1)),
            )
    }

    fn time(&self) -> SharedTimeSource {
        Arc::new(self.clock.clone())
    }

    fn advance(&self, by: Duration) {
        self.clock.set(self.clock.now() + by);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_callers_cause_one_refresh_and_the_rotated_token_is_written_back() {
    let laptop = Laptop::after_login().await;
    let cache = CredentialsCache::builder()
        .time_source(laptop.time())
        .load_timeout(Duration::from_secs(30))
        .build(laptop.builder().build());
    assert_eq!(
        cache.provide_credentials().await.unwrap().access_key_id(),
        "ASIAFIRST"
    );
    laptop.advance(Duration::from_secs(900 - 30));
    for got in call_concurrently(&cache, 10_000).await {
        let creds = got.expect("every caller gets credentials");
        assert_eq!(creds.access_key_id(), "ASIASIGNIN0000000000001");
        assert_eq!(creds.account_id(), Some("012345678910"));
    }
    assert_eq!(laptop.signin.refresh_calls(), 1);
    assert!(laptop.signin.requests()[0].dpop_valid);
    let file = laptop.file();
    let rotated = file["refreshToken"].as_str().unwrap();
    assert_ne!(rotated, REFRESH);
    assert!(laptop.signin.refresh_token_valid(rotated));
    assert!(!laptop.signin.refresh_token_valid(REFRESH));
    assert_eq!(
        file["accessToken"]["accessKeyId"],
        "ASIASIGNIN0000000000001"
    );
    assert_eq!(file["accessToken"]["accountId"], "012345678910");
    assert_eq!(file["dpopKey"], KEY, "the key is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_write_and_rename_leaves_the_old_file_whole() {
    let laptop = Laptop::after_login().await;
    let before = std::fs::read(laptop.path()).unwrap();
    let crashes = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&crashes);
    let login = laptop
        .builder()
        .testing_before_rename(move |_: &Path| {
            seen.fetch_add(1, Ordering::SeqCst);
            Err(io::Error::other("simulated crash before the rename"))
        })
        .build();
    laptop.advance(Duration::from_secs(900 - 60));
    let creds = login.load().await.unwrap();
    assert_eq!(creds.access_key_id(), "ASIASIGNIN0000000000001");
    assert_eq!(crashes.load(Ordering::SeqCst), 1);
    assert_eq!(std::fs::read(laptop.path()).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_session_says_to_run_aws_login_and_the_cache_surfaces_it_at_once() {
    let laptop = Laptop::after_login().await;
    laptop.signin.revoke_sessions();
    laptop.advance(Duration::from_secs(901));
    let cache = CredentialsCache::builder()
        .time_source(laptop.time())
        .build(laptop.builder().build());
    let err = cache.provide_credentials().await.unwrap_err();
    assert!(err.is_non_recoverable(), "{err}");
    assert!(
        err.to_string().contains("aws login --profile signin"),
        "{err}"
    );
    assert!(err.to_string().contains("invalid_grant"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_refresh_token_or_dpop_key_in_any_output() {
    let captured = Captured::install();

    let laptop = Laptop::after_login().await;
    let login = laptop.builder().build();
    let mut shown = vec![format!("{login:?}"), format!("{:?}", laptop.signin)];
    shown.push(format!("{:?}", login.load().await.unwrap()));
    laptop
        .signin
        .set_fault(sigv4_testkit::signin::Fault::Status(
            http::StatusCode::INTERNAL_SERVER_ERROR,
        ));
    laptop.advance(Duration::from_secs(900 - 60));
    login.load().await.unwrap(); // a failed refresh, warned about
    laptop.signin.clear_faults();
    shown.push(format!("{:?}", login.load().await.unwrap())); // refreshed
    shown.push(format!("{:?}", laptop.signin.issued()));
    laptop.signin.revoke_sessions();
    laptop.advance(Duration::from_secs(3600));
    let err: CredentialsError = login.load().await.unwrap_err();
    shown.push(format!("{err} {err:?}"));
    shown.push(captured.text());
    let text = shown.join("\n");
    assert!(text.contains("login"), "{text}");
    for secret in [
        "DO-NOT-LOG",
        "MHcCAQEE",
        "EMULATED",
        "signinSecretKey",
        "signinRefreshToken",
    ] {
        assert!(!text.contains(secret), "`{secret}` shown: {text}");
    }
}
