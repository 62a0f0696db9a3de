//! IAM Identity Center credentials against the testkit's SSO emulator (portal + OIDC) on an
//! injected clock: the refresh of a token in its refresh window by 10,000 concurrent callers, the
//! atomic write-back (a crash between write and rename; two "processes" refreshing the same
//! file), retries, the "run aws sso login" errors, SSO as the base of an assume-role chain, and
//! no token or secret in any output.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::StatusCode;
use serde_json::Value;
use sigv4_credentials::sso::{cache_file_name, Sso, SsoSettings};
use sigv4_credentials::{
    Credentials, CredentialsCache, Env, ManualClock, Profile, ProvideCredentials, SharedTimeSource,
    TimeSource,
};
use sigv4_testkit::sso::{Fault, FaultRule, IssuedToken, SsoEmulator, Target};
use sigv4_testkit::sts::StsEmulator;

mod common;
use common::{call_concurrently, Captured};

const START: u64 = 1_800_000_000;
const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const CLIENT_ID: &str = "emulated-client-id";
const CLIENT_SECRET: &str = "CLIENT-SECRET-DO-NOT-LOG";
const SESSION: &str = "corp";
const START_URL: &str = "https://corp.awsapps.com/start";

struct Laptop {
    clock: ManualClock,
    sso: SsoEmulator,
    home: tempfile::TempDir,
}

impl Laptop {
    /// A laptop after `aws sso login`: a token cache file for session `corp` holding a token
    /// the emulator issued (1-hour tokens and role credentials).
    async fn after_login() -> Self {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
        let sso = SsoEmulator::builder()
            .time_source(shared(&clock))
            .client(CLIENT_ID, CLIENT_SECRET)
            .start()
            .await;
        let home = tempfile::tempdir().expect("tempdir");
        let laptop = Laptop { clock, sso, home };
        let token = laptop.sso.issue_token();
        laptop.write_cache(&token, Some(SESSION));
        laptop
    }

    fn cache_dir(&self) -> PathBuf {
        self.home.path().join(".aws/sso/cache")
    }

    fn cache_path(&self) -> PathBuf {
        self.cache_dir().join(cache_file_name(SESSION))
    }

    fn write_cache(&self, token: &IssuedToken, session: Option<&str>) {
        std::fs::create_dir_all(self.cache_dir()).unwrap();
        let file = serde_json::json!({
            "startUrl": START_URL,
            "region": "us-east-1",
            "accessToken": token.access_token,
            "expiresAt": sigv4_core::time::format_rfc3339(token.expires_at),
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "registrationExpiresAt": "2099-01-01T00:00:00Z",
            "refreshToken": token.refresh_token,
        });
        let name = cache_file_name(session.unwrap_or(START_URL));
        std::fs::write(
            self.cache_dir().join(name),
            serde_json::to_vec_pretty(&file).unwrap(),
        )
        .unwrap();
    }

    fn cache_json(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.cache_path()).unwrap()).unwrap()
    }

    fn env(&self, extra: &[(&str, String)]) -> Env {
        let mut pairs = vec![
            ("HOME".to_owned(), self.home.path().display().to_string()),
            ("AWS_ENDPOINT_URL_SSO".to_owned(), self.sso.endpoint()),
            ("AWS_ENDPOINT_URL_SSO_OIDC".to_owned(), self.sso.endpoint()),
        ];
        pairs.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        Env::from_pairs(pairs)
    }

    fn settings(session: Option<&str>) -> SsoSettings {
        SsoSettings {
            start_url: START_URL.to_owned(),
            region: "us-east-1".to_owned(),
            account_id: "111122223333".to_owned(),
            role_name: "Developer".to_owned(),
            session_name: session.map(str::to_owned),
        }
    }

    fn source_builder(&self) -> sigv4_credentials::sso::SsoBuilder {
        Sso::builder(Self::settings(Some(SESSION)))
            .profile_name("dev")
            .env(self.env(&[]))
            .time_source(shared(&self.clock))
            .transport(
                sigv4_credentials::TransportOptions::new(
                    Duration::from_secs(10),
                    Duration::from_secs(10),
                )
                .initial_backoff(Duration::from_millis(1)),
            )
    }

    fn cache_over(&self, source: Sso) -> CredentialsCache {
        CredentialsCache::builder()
            .time_source(shared(&self.clock))
            .load_timeout(Duration::from_secs(30))
            .build(source)
    }

    fn advance(&self, by: Duration) {
        self.clock.set(self.clock.now() + by);
    }
}

fn shared(clock: &ManualClock) -> SharedTimeSource {
    Arc::new(clock.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_callers_refresh_a_token_in_its_window_once_and_the_file_holds_the_new_tokens()
{
    let laptop = Laptop::after_login().await;
    let old = laptop.cache_json();
    let cache = laptop.cache_over(laptop.source_builder().build());

    let first = cache.provide_credentials().await.unwrap();
    assert_eq!(first.access_key_id(), "ASIASSO0000000000001");
    assert_eq!(first.account_id(), Some("111122223333"));
    assert_eq!(
        first.provider_name(),
        "sso role Developer in account 111122223333 (profile dev)"
    );
    assert_eq!(
        laptop.sso.create_token_calls(),
        0,
        "a fresh token is used as is"
    );

    // 30 s before both the role credentials and the token expire: every caller needs new
    // credentials, and the token is inside its 5-minute refresh window.
    laptop.advance(HOUR - Duration::from_secs(30));
    let results = call_concurrently(&cache, 10_000).await;
    for got in &results {
        let creds = got.as_ref().expect("every caller gets credentials");
        assert_eq!(creds.access_key_id(), "ASIASSO0000000000002");
    }
    assert_eq!(laptop.sso.create_token_calls(), 1, "one token refresh");
    assert_eq!(
        laptop.sso.role_credentials_calls(),
        2,
        "one credentials call per refresh"
    );

    let new = laptop.cache_json();
    assert_ne!(new["accessToken"], old["accessToken"]);
    assert_ne!(new["refreshToken"], old["refreshToken"]);
    assert!(laptop
        .sso
        .refresh_token_valid(new["refreshToken"].as_str().unwrap()));
    assert!(!laptop
        .sso
        .refresh_token_valid(old["refreshToken"].as_str().unwrap()));
    assert_eq!(
        new["expiresAt"],
        sigv4_core::time::format_rfc3339(laptop.clock.now() + HOUR).as_str()
    );
    // The rest of the file is kept as the CLI wrote it.
    for key in [
        "startUrl",
        "region",
        "clientId",
        "clientSecret",
        "registrationExpiresAt",
    ] {
        assert_eq!(new[key], old[key], "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_write_and_rename_leaves_the_old_file_whole() {
    let laptop = Laptop::after_login().await;
    let before = std::fs::read(laptop.cache_path()).unwrap();
    let crashed = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&crashed);
    let source = laptop
        .source_builder()
        .testing_before_rename(move |temp: &Path| {
            // The new contents are fully written at this point.
            let written: Value = serde_json::from_slice(&std::fs::read(temp)?)?;
            assert!(written["accessToken"].is_string());
            seen.fetch_add(1, Ordering::SeqCst);
            Err(io::Error::other("simulated crash before the rename"))
        })
        .build();
    laptop.advance(HOUR - 2 * MIN);
    // The refreshed token is still used for this call.
    let creds = source.provide_credentials().await.unwrap();
    assert_eq!(creds.access_key_id(), "ASIASSO0000000000001");
    assert_eq!(
        crashed.load(Ordering::SeqCst),
        1,
        "the write reached the rename"
    );
    assert_eq!(laptop.sso.create_token_calls(), 1);
    let after = std::fs::read(laptop.cache_path()).unwrap();
    assert_eq!(after, before, "the old file is whole and unchanged");
    let leftovers: Vec<_> = std::fs::read_dir(laptop.cache_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refreshing_the_same_cache_never_leave_it_unreadable() {
    let laptop = Laptop::after_login().await;
    // Two sources with their own locks: two processes sharing one cache file.
    let a = laptop.source_builder().build();
    let b = laptop.source_builder().build();
    let path = laptop.cache_path();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU32::new(0));
    let reader = {
        let (stop, reads, path) = (Arc::clone(&stop), Arc::clone(&reads), path.clone());
        tokio::task::spawn_blocking(move || {
            while !stop.load(Ordering::SeqCst) {
                let bytes = std::fs::read(&path).expect("the cache file is always there");
                let value: Value =
                    serde_json::from_slice(&bytes).expect("the cache file is always whole JSON");
                assert!(value["accessToken"].is_string());
                assert!(value["refreshToken"].is_string());
                reads.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    for round in 0..20 {
        // Into the token's refresh window (2 minutes left), not past its expiry.
        let token_expiry =
            sigv4_core::time::parse_rfc3339(laptop.cache_json()["expiresAt"].as_str().unwrap())
                .unwrap();
        laptop.clock.set(token_expiry - 2 * MIN);
        let (ra, rb) = tokio::join!(a.provide_credentials(), b.provide_credentials());
        ra.unwrap_or_else(|e| panic!("round {round}: process A: {e}"));
        rb.unwrap_or_else(|e| panic!("round {round}: process B: {e}"));
    }
    stop.store(true, Ordering::SeqCst);
    reader.await.unwrap();
    assert!(reads.load(Ordering::SeqCst) > 0);
    // The file holds the refresh token the service accepts now.
    let file = laptop.cache_json();
    assert!(laptop
        .sso
        .refresh_token_valid(file["refreshToken"].as_str().unwrap()));
    assert!(laptop.sso.create_token_calls() >= 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_from_the_portal_is_retried() {
    let laptop = Laptop::after_login().await;
    laptop.sso.set_fault(
        FaultRule::new(Fault::Status(StatusCode::SERVICE_UNAVAILABLE))
            .on(Target::GetRoleCredentials)
            .once(),
    );
    let creds = laptop.source_builder().build().load().await.unwrap();
    assert_eq!(creds.access_key_id(), "ASIASSO0000000000001");
    assert_eq!(laptop.sso.role_credentials_calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_refresh_keeps_using_the_valid_token() {
    let laptop = Laptop::after_login().await;
    laptop.sso.set_fault(
        FaultRule::new(Fault::Status(StatusCode::INTERNAL_SERVER_ERROR)).on(Target::CreateToken),
    );
    let old = laptop.cache_json();
    laptop.advance(HOUR - 2 * MIN);
    let creds = laptop.source_builder().build().load().await.unwrap();
    assert_eq!(creds.access_key_id(), "ASIASSO0000000000001");
    assert_eq!(laptop.sso.create_token_calls(), 3, "3 attempts");
    assert_eq!(laptop.cache_json(), old, "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_that_cannot_be_refreshed_says_to_log_in_and_is_not_retried() {
    let laptop = Laptop::after_login().await;
    laptop.sso.revoke_tokens();
    laptop.advance(HOUR + MIN);
    let cache = laptop.cache_over(laptop.source_builder().build());
    let err = cache.provide_credentials().await.unwrap_err();
    assert!(err.is_non_recoverable(), "{err}");
    assert!(
        err.to_string().contains("aws sso login --profile dev"),
        "{err}"
    );
    assert_eq!(laptop.sso.create_token_calls(), 1);
    assert_eq!(laptop.sso.role_credentials_calls(), 0);

    // The legacy form (no sso_session) never refreshes: an expired token is the same error.
    let token = laptop.sso.issue_token();
    laptop.write_cache(&token, None);
    laptop.advance(HOUR + MIN);
    let legacy = Sso::builder(Laptop::settings(None))
        .profile_name("old")
        .env(laptop.env(&[]))
        .time_source(shared(&laptop.clock))
        .build();
    let err = legacy.load().await.unwrap_err();
    assert!(err.is_non_recoverable(), "{err}");
    assert!(
        err.to_string().contains("aws sso login --profile old"),
        "{err}"
    );
    assert_eq!(
        laptop.sso.create_token_calls(),
        1,
        "no refresh in the legacy form"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_says_to_log_in() {
    let laptop = Laptop::after_login().await;
    laptop.sso.revoke_tokens();
    let err = laptop.source_builder().build().load().await.unwrap_err();
    assert!(err.is_non_recoverable(), "{err}");
    let text = err.to_string();
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(text.contains("UnauthorizedException"), "{text}");
    assert!(text.contains("aws sso login --profile dev"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sso_is_the_base_of_an_assume_role_chain() {
    let laptop = Laptop::after_login().await;
    // The emulator's role credentials are numbered and derived from the number only: the STS
    // emulator accepts the first set as a caller.
    let sso_creds = Credentials::builder(
        "ASIASSO0000000000001",
        "ssoSecretKey/0000000000001/xxxxxxxxxxxxx",
    )
    .session_token("IQoJssoSessionToken0000000000001//EMULATED+TOKEN=")
    .build();
    let sts = StsEmulator::builder()
        .time_source(shared(&laptop.clock))
        .caller(sso_creds)
        .start()
        .await;
    std::fs::create_dir_all(laptop.home.path().join(".aws")).unwrap();
    std::fs::write(
        laptop.home.path().join(".aws/config"),
        format!(
            "[profile dev]\nsso_session = {SESSION}\nsso_account_id = 111122223333\nsso_role_name = Developer\n\
             [profile app]\nrole_arn = arn:aws:iam::444455556666:role/app\nsource_profile = dev\nregion = us-east-1\n\
             [sso-session {SESSION}]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n"
        ),
    )
    .unwrap();
    let env = laptop.env(&[
        ("AWS_PROFILE", "app".to_owned()),
        ("AWS_ENDPOINT_URL_STS", sts.endpoint()),
    ]);
    let creds = Profile::builder()
        .env(env)
        .time_source(shared(&laptop.clock))
        .build()
        .provide_credentials()
        .await
        .unwrap();
    assert_eq!(creds.access_key_id(), "ASIASTS0000000000001");
    assert_eq!(
        creds.provider_name(),
        "assume role arn:aws:iam::444455556666:role/app, from sso role Developer in account 111122223333 (profile dev)"
    );
    let issued = sts.last_issued().unwrap();
    assert_eq!(issued.caller.access_key_id(), Some("ASIASSO0000000000001"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_secret_in_any_debug_error_or_log() {
    let captured = Captured::install();

    let laptop = Laptop::after_login().await;
    let source = laptop.source_builder().build();
    let mut shown = vec![
        format!("{source:?}"),
        format!("{:?}", laptop.sso),
        format!("{:?}", laptop.sso.issue_token()),
        format!("{:?}", laptop.source_builder()),
    ];
    // A good load, a failed refresh (warned about), a refresh, then rejected tokens.
    let creds = source.load().await.unwrap();
    shown.push(format!("{creds:?}"));
    laptop.sso.set_fault(
        FaultRule::new(Fault::Status(StatusCode::INTERNAL_SERVER_ERROR))
            .on(Target::CreateToken)
            .times(3),
    );
    laptop.advance(HOUR - 2 * MIN);
    source.load().await.unwrap();
    source.load().await.unwrap();
    laptop.sso.revoke_tokens();
    let err = source.load().await.unwrap_err();
    shown.push(format!("{err} {err:?}"));
    laptop.advance(5 * MIN);
    let err = source.load().await.unwrap_err();
    shown.push(format!("{err} {err:?}"));
    std::fs::write(
        laptop.cache_path(),
        b"{\"accessToken\": \"BROKEN-DO-NOT-LOG\"",
    )
    .unwrap();
    let err = source.load().await.unwrap_err();
    shown.push(format!("{err} {err:?}"));

    shown.push(captured.text());
    let text = shown.join("\n");
    assert!(
        text.contains("sso"),
        "something was logged or shown: {text}"
    );
    for secret in [
        "EMULATED/TOKEN",
        "EMULATED+TOKEN",
        "ssoSecretKey",
        CLIENT_SECRET,
        "DO-NOT-LOG",
        "aoaSso",
        "aorSso",
    ] {
        assert!(!text.contains(secret), "`{secret}` shown: {text}");
    }
}

#[test]
fn cache_file_names_are_the_sdks() {
    // The names in the SDKs' recorded scenarios.
    assert_eq!(
        cache_file_name("https://ssotest.awsapps.com/start"),
        "dace00cba5f8355ec9d274ceb2bcebdfbeed0e12.json"
    );
    assert_eq!(
        cache_file_name("dev"),
        "34c6fceca75e456f25e7e99531e2425c6c1de443.json"
    );
    let _ = SystemTime::now();
}
