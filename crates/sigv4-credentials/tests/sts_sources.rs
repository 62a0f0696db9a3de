//! The STS sources end to end against the loopback STS emulator (`sigv4_testkit::sts`), which
//! checks every `AssumeRole` signature with our verifier: EKS IRSA (web identity from the
//! environment) behind the default chain, the token file re-read at each refresh, a three-hop
//! role chain from profiles, the programmatic `AssumeRole`, and no secret in any log line.
//!
//! Time: the emulator and the sources share one `ManualClock`; waits run on tokio's clock.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sigv4_credentials::sts::StsEndpoint;
use sigv4_credentials::{
    AssumeRole, Credentials, CredentialsCache, DefaultChain, Env, ManualClock, Profile,
    ProvideCredentials, RoleRequest, SharedTimeSource, TimeSource,
};
use sigv4_testkit::sts::{Caller, Fault, FaultRule, StsEmulator, Target};
use tempfile::TempDir;
mod common;
use common::{call_concurrently, Captured};

const START: u64 = 1_800_000_000;
const ROLE: &str = "arn:aws:iam::123456789012:role/checkout";

fn clock() -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::from_secs(START))
}

fn shared(clock: &ManualClock) -> SharedTimeSource {
    Arc::new(clock.clone())
}

/// A pod: a projected token file in a temp dir, the IRSA variables, STS on loopback.
struct Pod {
    dir: TempDir,
    clock: ManualClock,
    sts: StsEmulator,
}

impl Pod {
    async fn start(token: &str) -> Self {
        let clock = clock();
        let sts = StsEmulator::builder()
            .time_source(shared(&clock))
            .web_identity_token(token)
            .start()
            .await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), format!("{token}\n")).unwrap();
        Pod { dir, clock, sts }
    }

    fn token_file(&self) -> String {
        self.dir.path().join("token").display().to_string()
    }

    /// The kubelet writes a new token and STS accepts only it from now on.
    fn rotate_token(&self, token: &str) {
        std::fs::write(self.dir.path().join("token"), token).unwrap();
        self.sts.set_web_identity_token(token);
    }

    fn env(&self) -> Env {
        Env::from_pairs([
            ("AWS_WEB_IDENTITY_TOKEN_FILE", self.token_file()),
            ("AWS_ROLE_ARN", ROLE.to_owned()),
            ("AWS_ROLE_SESSION_NAME", "checkout-pod".to_owned()),
            ("AWS_REGION", "eu-west-1".to_owned()),
            ("AWS_ENDPOINT_URL_STS", self.sts.endpoint()),
            (
                "HOME",
                self.dir.path().join("no-home").display().to_string(),
            ),
        ])
    }

    async fn chain(&self) -> DefaultChain {
        DefaultChain::builder()
            .env(self.env())
            .time_source(shared(&self.clock))
            .build()
            .await
    }

    fn now(&self) -> SystemTime {
        self.clock.now()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irsa_from_the_environment_behind_the_default_chain() {
    let pod = Pod::start(
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c2hvcDpjaGVja291dCJ9.c2ln",
    )
    .await;
    let chain = pod.chain().await;
    let creds = chain.provide_credentials().await.unwrap();
    let issued = pod.sts.last_issued().unwrap();
    assert_eq!(creds.access_key_id(), issued.access_key_id());
    assert_eq!(creds.account_id(), Some("123456789012"));
    assert_eq!(creds.provider_name(), format!("web identity {ROLE}"));
    assert_eq!(issued.role_session_name, "checkout-pod");
    assert!(matches!(issued.caller, Caller::WebIdentity { .. }));
    // Unsigned, as AWS requires for this action.
    let request = &pod.sts.requests()[0];
    assert_eq!(request.access_key_id, None);
    assert_eq!(pod.sts.web_identity_calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_callers_across_an_expiry_make_one_sts_call() {
    let pod = Pod::start("token-1").await;
    let chain = pod.chain().await;
    let first = chain.provide_credentials().await.unwrap();
    let expiry = first.expiry().unwrap();
    assert_eq!(expiry, pod.now() + Duration::from_secs(3600));
    // Into the last 30 seconds: every caller must wait for the refresh, and they share it.
    pod.clock.set(expiry - Duration::from_secs(30));
    let results = call_concurrently(&chain, 10_000).await;
    assert_eq!(
        pod.sts.web_identity_calls(),
        2,
        "the first load and exactly one refresh"
    );
    let second = pod.sts.last_issued().unwrap();
    for got in &results {
        let got = got.as_ref().unwrap();
        assert_eq!(got.access_key_id(), second.access_key_id());
        assert!(!got.is_expired_at(pod.now()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sts_failing_through_the_refresh_window_never_fails_a_caller() {
    // One-hour credentials: the background refresh starts 15 minutes before expiry (the 2026
    // rule; plus up to 3 minutes of jitter). STS answers 503 from then on.
    let pod = Pod::start("token-1").await;
    let chain = pod.chain().await;
    let first = chain.provide_credentials().await.unwrap();
    let expiry = first.expiry().unwrap();
    pod.sts
        .set_fault(Fault::Status(http::StatusCode::SERVICE_UNAVAILABLE));

    // 11 minutes before expiry: inside the advisory window, a caller gets the valid credentials
    // at once and one refresh starts in the background (3 attempts, all 503).
    pod.clock.set(expiry - Duration::from_secs(11 * 60));
    let got = chain.provide_credentials().await.unwrap();
    assert_eq!(got.access_key_id(), first.access_key_id());
    tokio::time::timeout(Duration::from_secs(30), pod.sts.wait_for_requests(1 + 3))
        .await
        .expect("the background refresh tries STS three times");
    let after_failure = pod.sts.requests().len();

    // Through the rest of the window, into the last minute: every caller is served the still
    // valid credentials, and STS is not asked again (the next try waits 5 to 10 minutes).
    for left in [600, 300, 120, 50, 10] {
        pod.clock.set(expiry - Duration::from_secs(left));
        for got in call_concurrently(&chain, 100).await {
            let got = got.unwrap_or_else(|e| panic!("{left} s before expiry: {e}"));
            assert_eq!(
                got.access_key_id(),
                first.access_key_id(),
                "{left} s before expiry"
            );
            assert!(!got.is_expired_at(pod.now()));
        }
    }
    assert_eq!(
        pod.sts.requests().len(),
        after_failure,
        "no retry within 5 minutes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_file_is_read_again_at_each_refresh() {
    let pod = Pod::start("token-1").await;
    let chain = pod.chain().await;
    let first = chain.provide_credentials().await.unwrap();
    // The kubelet rotates the projected token; the old one is refused from now on.
    pod.rotate_token("token-2");
    pod.clock
        .set(first.expiry().unwrap() - Duration::from_secs(30));
    let second = chain.provide_credentials().await.unwrap();
    assert_ne!(second.access_key_id(), first.access_key_id());
    let records = pod.sts.requests();
    assert_eq!(records.len(), 2);
    assert!(
        records
            .iter()
            .all(|r| r.status.is_some_and(|s| s.is_success())),
        "{records:?}"
    );
}

#[tokio::test]
async fn an_invalid_identity_token_is_not_retried_and_says_what_sts_said() {
    let pod = Pod::start("accepted-token").await;
    pod.rotate_token("token-sts-does-not-know");
    pod.sts.set_web_identity_token("another-token");
    let chain = pod.chain().await;
    let err = chain.provide_credentials().await.unwrap_err();
    assert!(err.is_non_recoverable(), "{err:?}");
    assert!(err.to_string().contains("InvalidIdentityToken"), "{err}");
    assert_eq!(pod.sts.web_identity_calls(), 1, "not retried");
}

#[tokio::test(start_paused = true)]
async fn idp_communication_errors_are_retried() {
    let pod = Pod::start("token-1").await;
    pod.sts.set_fault(
        FaultRule::new(Fault::IdpCommunicationError)
            .on(Target::AssumeRoleWithWebIdentity)
            .times(2),
    );
    let chain = pod.chain().await;
    let creds = chain.provide_credentials().await.unwrap();
    assert_eq!(pod.sts.web_identity_calls(), 3);
    assert_eq!(
        creds.access_key_id(),
        pod.sts.last_issued().unwrap().access_key_id()
    );
}

#[tokio::test]
async fn a_missing_role_with_a_token_file_is_a_clear_error() {
    let pod = Pod::start("token-1").await;
    let env = Env::from_pairs([
        ("AWS_WEB_IDENTITY_TOKEN_FILE", pod.token_file()),
        ("AWS_REGION", "eu-west-1".to_owned()),
        ("HOME", "/nonexistent".to_owned()),
    ]);
    let chain = DefaultChain::builder().env(env).build().await;
    let err = chain.provide_credentials().await.unwrap_err();
    assert!(err.to_string().contains("AWS_ROLE_ARN"), "{err}");
    assert_eq!(pod.sts.web_identity_calls(), 0);
}

// ===== role chains from profiles =====

/// Three hops: base keys → ops → deploy → app, with STS on loopback.
fn three_hop_home(dir: &Path, sts: &str) -> Env {
    let aws = dir.join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("config"),
        "[profile app]\nrole_arn = arn:aws:iam::111111111111:role/app\nsource_profile = deploy\nregion = eu-west-1\n\
         [profile deploy]\nrole_arn = arn:aws:iam::222222222222:role/deploy\nsource_profile = ops\n\
         [profile ops]\nrole_arn = arn:aws:iam::333333333333:role/ops\nsource_profile = me\nexternal_id = ext-42\n",
    )
    .unwrap();
    std::fs::write(
        aws.join("credentials"),
        "[me]\naws_access_key_id = AKIDBASEUSER\naws_secret_access_key = base-user-secret\n",
    )
    .unwrap();
    Env::from_pairs([
        ("HOME", dir.display().to_string()),
        ("AWS_PROFILE", "app".to_owned()),
        ("AWS_ENDPOINT_URL_STS", sts.to_owned()),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_hop_chain_makes_three_calls_in_order_each_signed_by_the_previous_hop() {
    let clock = clock();
    let sts = StsEmulator::builder()
        .time_source(shared(&clock))
        .region("eu-west-1")
        .caller(Credentials::new("AKIDBASEUSER", "base-user-secret"))
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let chain = DefaultChain::builder()
        .env(three_hop_home(dir.path(), &sts.endpoint()))
        .time_source(shared(&clock))
        .build()
        .await;

    for refresh in 0..2 {
        let creds = chain.provide_credentials().await.unwrap();
        let issued = sts.issued();
        assert_eq!(
            issued.len(),
            3 * (refresh + 1),
            "three AssumeRole calls per refresh"
        );
        let hops = &issued[3 * refresh..];
        let roles: Vec<&str> = hops.iter().map(|h| h.role_arn.as_str()).collect();
        assert_eq!(
            roles,
            [
                "arn:aws:iam::333333333333:role/ops",
                "arn:aws:iam::222222222222:role/deploy",
                "arn:aws:iam::111111111111:role/app"
            ]
        );
        // Each hop signed with the previous hop's credentials (the first with the base keys).
        assert!(matches!(&hops[0].caller, Caller::AccessKey(k) if k == "AKIDBASEUSER"));
        for pair in hops.windows(2) {
            assert!(
                matches!(&pair[1].caller, Caller::AccessKey(k) if k == pair[0].access_key_id()),
                "{:?} was not signed by {}",
                pair[1].caller,
                pair[0].access_key_id()
            );
        }
        assert_eq!(hops[0].external_id.as_deref(), Some("ext-42"));
        assert_eq!(creds.access_key_id(), hops[2].access_key_id());
        assert_eq!(creds.account_id(), Some("111111111111"));
        assert_eq!(
            creds.provider_name(),
            "assume role arn:aws:iam::111111111111:role/app, from assume role \
             arn:aws:iam::222222222222:role/deploy, from assume role \
             arn:aws:iam::333333333333:role/ops, from profile:me"
        );
        // Next: the chain's credentials enter their last minute.
        clock.set(creds.expiry().unwrap() - Duration::from_secs(30));
    }
}

#[tokio::test]
async fn credential_source_environment_signs_the_hop_with_the_environment_keys() {
    let clock = clock();
    let sts = StsEmulator::builder()
        .time_source(shared(&clock))
        .caller(
            Credentials::builder("AKIDENVKEY", "env-secret")
                .session_token("env-token")
                .build(),
        )
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
    std::fs::write(
        dir.path().join(".aws/config"),
        "[default]\nrole_arn = arn:aws:iam::444444444444:role/batch\ncredential_source = Environment\nregion = us-east-1\n",
    )
    .unwrap();
    let profile = Profile::builder()
        .env(Env::from_pairs([
            ("HOME", dir.path().display().to_string()),
            ("AWS_ACCESS_KEY_ID", "AKIDENVKEY".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "env-secret".to_owned()),
            ("AWS_SESSION_TOKEN", "env-token".to_owned()),
            ("AWS_ENDPOINT_URL_STS", sts.endpoint()),
        ]))
        .time_source(shared(&clock))
        .build();
    let creds = profile.provide_credentials().await.unwrap();
    assert_eq!(creds.account_id(), Some("444444444444"));
    let record = &sts.requests()[0];
    assert_eq!(record.access_key_id.as_deref(), Some("AKIDENVKEY"));
    assert!(record.session_token_present);
}

#[tokio::test]
async fn mfa_serial_is_a_clear_error_without_any_call() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
    std::fs::write(
        dir.path().join(".aws/config"),
        "[default]\nrole_arn = arn:aws:iam::444444444444:role/admin\nsource_profile = me\nmfa_serial = arn:aws:iam::444444444444:mfa/me\nregion = us-east-1\n\
         [profile me]\naws_access_key_id = AKIDME\naws_secret_access_key = me-secret\n",
    )
    .unwrap();
    let profile = Profile::builder()
        .env(Env::from_pairs([(
            "HOME",
            dir.path().display().to_string(),
        )]))
        .build();
    let err = profile.provide_credentials().await.unwrap_err();
    assert!(err.to_string().contains("mfa_serial"), "{err}");
    assert!(err.to_string().contains("cannot prompt"), "{err}");
}

#[tokio::test]
async fn a_role_chain_without_a_region_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
    std::fs::write(
        dir.path().join(".aws/config"),
        "[default]\nrole_arn = arn:aws:iam::444444444444:role/x\nsource_profile = me\n\
         [profile me]\naws_access_key_id = AKIDME\naws_secret_access_key = me-secret\n",
    )
    .unwrap();
    let profile = Profile::builder()
        .env(Env::from_pairs([(
            "HOME",
            dir.path().display().to_string(),
        )]))
        .build();
    let err = profile.provide_credentials().await.unwrap_err();
    assert!(err.to_string().contains("region"), "{err}");
    assert!(err.to_string().contains("AWS_REGION"), "{err}");
}

// ===== AssumeRole in code =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_role_in_code_behind_a_cache() {
    let clock = clock();
    let base = Credentials::new("AKIDSERVICE", "service-secret");
    let sts = StsEmulator::builder()
        .time_source(shared(&clock))
        .region("eu-central-1")
        .caller(base.clone())
        .start()
        .await;
    let mut request = RoleRequest::new("arn:aws:iam::210987654321:role/partner-reader");
    request.session_name = Some("orders-sync".into());
    request.duration = Some(Duration::from_secs(900));
    let source = AssumeRole::builder()
        .endpoint(StsEndpoint {
            uri: sts.endpoint().parse().unwrap(),
            region: "eu-central-1".into(),
            source: "test".into(),
        })
        .time_source(shared(&clock))
        .build(request, base);
    let cache = CredentialsCache::builder()
        .time_source(shared(&clock))
        .build(source);
    let creds = cache.provide_credentials().await.unwrap();
    assert_eq!(creds.account_id(), Some("210987654321"));
    assert_eq!(creds.expiry(), Some(clock.now() + Duration::from_secs(900)));
    let again = cache.provide_credentials().await.unwrap();
    assert!(again.ptr_eq(&creds));
    assert_eq!(sts.assume_role_calls(), 1);
    assert_eq!(sts.issued()[0].role_session_name, "orders-sync");
}

#[tokio::test]
async fn access_denied_is_non_recoverable() {
    let clock = clock();
    let base = Credentials::new("AKIDSERVICE", "service-secret");
    let sts = StsEmulator::builder()
        .time_source(shared(&clock))
        .caller(base.clone())
        .role(
            sigv4_testkit::sts::Role::new("arn:aws:iam::210987654321:role/partner")
                .external_id("right"),
        )
        .start()
        .await;
    let mut request = RoleRequest::new("arn:aws:iam::210987654321:role/partner");
    request.external_id = Some("wrong".into());
    let source = AssumeRole::builder()
        .endpoint(StsEndpoint {
            uri: sts.endpoint().parse().unwrap(),
            region: "us-east-1".into(),
            source: "test".into(),
        })
        .time_source(shared(&clock))
        .build(request, base);
    let err = source.provide_credentials().await.unwrap_err();
    assert!(err.is_non_recoverable(), "{err:?}");
    assert!(err.to_string().contains("AccessDenied"), "{err}");
    assert_eq!(sts.assume_role_calls(), 1, "not retried");
}

// ===== no secret in any log line =====

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn no_secret_token_or_web_identity_token_in_logs_errors_or_debug() {
    const WEB_TOKEN: &str = "web-identity-token-SECRET-PART";
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let pod = Pod::start(WEB_TOKEN).await;
    // Faults first (so that error paths log), then success.
    pod.sts.set_fault(
        FaultRule::new(Fault::Status(http::StatusCode::SERVICE_UNAVAILABLE))
            .on(Target::Any)
            .times(1),
    );
    let chain = pod.chain().await;
    let creds = chain.provide_credentials().await.unwrap();
    let issued = pod.sts.last_issued().unwrap();
    let secret = issued.credentials.secret_access_key().to_owned();
    let token = issued.credentials.session_token().unwrap().to_owned();

    // An error path too: a refused token.
    pod.sts.set_web_identity_token("another");
    let failing = sigv4_credentials::WebIdentity::builder()
        .env(pod.env())
        .time_source(shared(&pod.clock))
        .build_from_env()
        .unwrap();
    let err = failing.provide_credentials().await.unwrap_err();

    let logs = captured.text();
    let shown = format!("{logs}\n{creds:?}\n{err}\n{err:?}\n{chain:?}\n{failing:?}");
    for needle in [WEB_TOKEN, secret.as_str(), token.as_str()] {
        assert!(!shown.contains(needle), "a secret leaked: {needle}");
    }
    assert!(
        logs.contains("retrying"),
        "the retried 503 is logged: {logs}"
    );
}
