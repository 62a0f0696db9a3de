//! End to end: the real `Imds` source behind the real `CredentialsCache` (or the `DefaultChain`),
//! against the loopback IMDS emulator, across refreshes, outages, hangs and token renewals.
//!
//! One `ManualClock` drives the emulator (issue dates, rotation, token expiry), the `Imds` source
//! (token lifetime) and the cache (expiry and refresh windows). Waits (the cache's load timeout,
//! the source's retry backoff, socket timeouts) use tokio's clock in *real* time: tokio's paused
//! clock auto-advances whenever the runtime idles on socket I/O, which can fire timeouts early
//! against a real server. So expiry is moved with the `ManualClock`, backoffs are tiny, and the
//! only wall-clock measurement (the hang test) is an upper bound, never a sleep. (The one paused
//! test only needs a hang to be cut by its timeout.)
//!
//! The emulator's timeline with its defaults (6-hour credentials, a new generation every 5 h 45 min):
//!
//! | generation | access key id | issued | expires |
//! | --- | --- | --- | --- |
//! | 1 | `ASIAEMU0000000000001` | `START` | `START + 6 h` |
//! | 2 | `ASIAEMU0000000000002` | `START + 5 h 45 min` | `START + 11 h 45 min` |

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::StatusCode;
use sigv4_credentials::{
    Credentials, CredentialsCache, CredentialsError, DefaultChain, Env, Imds, ManualClock,
    ProvideCredentials, SharedTimeSource, TimeSource,
};
use sigv4_testkit::imds::{Fault, FaultRule, ImdsEmulator, Target};

mod common;
use common::call_concurrently;

const START: u64 = 1_800_000_000;
const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

const GEN1: &str = "ASIAEMU0000000000001";
const GEN2: &str = "ASIAEMU0000000000002";

/// Generation 1 expires 6 hours after the emulator starts.
fn gen1_expiry() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(START + 6 * 3600)
}

/// Generation 2 is issued at 5 h 45 min and lives 6 hours.
fn gen2_expiry() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(START + 5 * 3600 + 45 * 60 + 6 * 3600)
}

/// A home directory that does not exist, so no real profile file is ever read.
const NO_HOME: &str = "/nonexistent-home-for-imds-refresh-tests";

struct Instance {
    clock: ManualClock,
    imds: ImdsEmulator,
}

impl Instance {
    /// An "EC2 instance" whose IMDS runs on loopback, on a manual clock at `START`, serving
    /// 6-hour credentials.
    async fn boot() -> Self {
        Self::boot_with_lifetime(6 * HOUR).await
    }

    async fn boot_with_lifetime(lifetime: Duration) -> Self {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
        let imds = ImdsEmulator::builder()
            .time_source(shared(&clock))
            .role_name("web-server")
            .credential_lifetime(lifetime)
            .start()
            .await;
        Self { clock, imds }
    }

    fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Moves the manual clock to `at` (which must not be in the past).
    fn set_clock(&self, at: SystemTime) {
        assert!(at >= self.now(), "the clock only moves forward");
        self.clock.set(at);
    }

    /// The real IMDS source pointed at the emulator, on the shared clock, with 1 ms backoffs
    /// (4 attempts per request, the default).
    fn source(&self) -> Imds {
        self.source_builder().build()
    }

    /// [`Self::source`] for tests that send many requests to IMDS at once (no cache in front).
    /// On this test VM a burst of loopback connects now and then loses a SYN, which costs the
    /// kernel's 1 s retransmit, exactly the default connect timeout; these tests count tokens,
    /// not time, so the connect timeout is generous.
    fn source_for_bursts(&self) -> Imds {
        self.source_builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
    }

    fn source_builder(&self) -> sigv4_credentials::imds::ImdsBuilder {
        Imds::builder()
            .env(Env::from_pairs([("HOME", NO_HOME)]))
            .endpoint(self.imds.endpoint())
            .time_source(shared(&self.clock))
            .initial_backoff(Duration::from_millis(1))
    }

    /// The real cache in front of the real IMDS source, on the shared clock. The refresh jitter
    /// is left at its default (up to a fifth of the advisory window): the times the tests move
    /// to hold for any draw.
    fn cache(&self, load_timeout: Duration) -> CredentialsCache {
        self.cache_over(self.source(), load_timeout)
    }

    fn cache_over(&self, source: Imds, load_timeout: Duration) -> CredentialsCache {
        CredentialsCache::builder()
            .time_source(shared(&self.clock))
            .load_timeout(load_timeout)
            .build(source)
    }
}

fn shared(clock: &ManualClock) -> SharedTimeSource {
    Arc::new(clock.clone())
}

/// `n` callers at once, each on its own task; their results in no particular order.
#[track_caller]
fn assert_generation(
    got: &Result<Credentials, CredentialsError>,
    akid: &str,
    expiry: SystemTime,
    now: SystemTime,
) {
    match got {
        Ok(creds) => {
            assert_eq!(creds.access_key_id(), akid);
            assert_eq!(creds.expiry(), Some(expiry), "{akid}");
            assert!(!creds.is_expired_at(now), "{akid} handed out expired");
            assert_eq!(creds.provider_name(), "imds");
        }
        Err(e) => panic!("expected {akid}, got error: {e}"),
    }
}

// ===== 1. many callers across an expiry boundary: one fetch =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_callers_in_the_last_minute_cause_one_imds_fetch() {
    let instance = Instance::boot().await;
    // Generous: this test is about counting fetches, not about timing.
    let cache = instance.cache(Duration::from_secs(30));

    // The service starts and loads generation 1.
    let first = cache.provide_credentials().await;
    assert_generation(&first, GEN1, gen1_expiry(), instance.now());
    assert_eq!(instance.imds.credential_fetches(), 1);

    // Nobody called during the advisory window; now generation 1 has 30 s left (the mandatory
    // window) and 10,000 requests arrive at once. IMDS already serves generation 2.
    instance.set_clock(gen1_expiry() - Duration::from_secs(30));
    let results = call_concurrently(&cache, 10_000).await;

    assert_eq!(results.len(), 10_000);
    for got in &results {
        assert_generation(got, GEN2, gen2_expiry(), instance.now());
    }
    assert_eq!(
        instance.imds.credential_fetches(),
        2,
        "10,000 callers share exactly one credentials fetch"
    );
    // The 6-hour session token, fetched at START, is in its last two minutes too: renewed once.
    assert_eq!(
        instance.imds.token_fetches(),
        2,
        "one new token for the one fetch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_callers_after_expiry_through_the_default_chain_cause_one_imds_fetch() {
    let instance = Instance::boot().await;
    // The default chain finds IMDS through the variable, as it would on a host with a custom
    // metadata endpoint; every other source is not configured in this environment.
    let endpoint = instance.imds.endpoint();
    let chain = DefaultChain::builder()
        .env(Env::from_pairs([
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint.as_str()),
            ("HOME", NO_HOME),
        ]))
        .time_source(shared(&instance.clock))
        .load_timeout(Duration::from_secs(30))
        .build()
        .await;

    let first = chain.provide_credentials().await;
    assert_generation(&first, GEN1, gen1_expiry(), instance.now());
    assert_eq!(instance.imds.credential_fetches(), 1);

    // The process was idle (say, suspended) past the expiry of generation 1.
    instance.set_clock(gen1_expiry() + Duration::from_secs(1));
    let results = call_concurrently(&chain, 10_000).await;

    for got in &results {
        assert_generation(got, GEN2, gen2_expiry(), instance.now());
    }
    assert_eq!(
        instance.imds.credential_fetches(),
        2,
        "10,000 callers share exactly one credentials fetch"
    );
}

// ===== 2. IMDS down during the refresh window: the old, valid credentials =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imds_down_through_the_refresh_window_still_serves_valid_credentials() {
    let instance = Instance::boot().await;
    let cache = instance.cache(Duration::from_secs(5));
    assert_generation(
        &cache.provide_credentials().await,
        GEN1,
        gen1_expiry(),
        instance.now(),
    );

    // IMDS starts failing every credentials request until further notice.
    instance.imds.set_fault(
        FaultRule::new(Fault::Status(StatusCode::INTERNAL_SERVER_ERROR)).on(Target::Credentials),
    );
    let fetches_before = instance.imds.credential_fetches();

    // Inside the advisory window (6-hour credentials: 60 min, plus up to 12 min of jitter; here
    // 3 min left): callers get generation 1 at once while the cache tries to refresh in the
    // background.
    instance.set_clock(gen1_expiry() - 3 * MIN);
    for got in call_concurrently(&cache, 1_000).await {
        assert_generation(&got, GEN1, gen1_expiry(), instance.now());
    }

    // Inside the last minute (the mandatory window): the background refresh failed moments ago,
    // so the next try waits 5–10 min; callers get the old credentials, valid for 30 more
    // seconds (a caller that arrives while that refresh still runs waits for it, then gets them
    // too).
    instance.set_clock(gen1_expiry() - Duration::from_secs(30));
    assert_generation(
        &cache.provide_credentials().await,
        GEN1,
        gen1_expiry(),
        instance.now(),
    );
    for got in call_concurrently(&cache, 1_000).await {
        assert_generation(&got, GEN1, gen1_expiry(), instance.now());
    }

    // One second before expiry: still served.
    instance.set_clock(gen1_expiry() - Duration::from_secs(1));
    for got in call_concurrently(&cache, 1_000).await {
        assert_generation(&got, GEN1, gen1_expiry(), instance.now());
    }

    // The refreshes really went to IMDS and really failed (4 attempts each); they were not
    // skipped. (The first call in the last minute either joined the background refresh or started
    // its own after it; either way one complete failed fetch had happened when it returned.)
    let attempts = instance.imds.credential_fetches() - fetches_before;
    assert!(attempts >= 4, "only {attempts} credential requests");
    assert!(instance
        .imds
        .requests()
        .iter()
        .filter(|r| r.is_credentials_request())
        .skip(1)
        .all(|r| r.status == Some(StatusCode::INTERNAL_SERVER_ERROR)));
}

// ===== 3. expired and IMDS still down: a typed error; recovery on the first call after =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_with_imds_down_is_a_typed_error_then_the_first_call_after_recovery_succeeds() {
    let instance = Instance::boot().await;
    let cache = instance.cache(Duration::from_secs(5));
    assert_generation(
        &cache.provide_credentials().await,
        GEN1,
        gen1_expiry(),
        instance.now(),
    );
    instance.imds.set_fault(
        FaultRule::new(Fault::Status(StatusCode::INTERNAL_SERVER_ERROR)).on(Target::Credentials),
    );

    // Generation 1 has expired and IMDS is still failing.
    instance.set_clock(gen1_expiry() + Duration::from_secs(1));
    match cache.provide_credentials().await {
        Err(CredentialsError::Expired { provider, message }) => {
            assert_eq!(provider, "imds");
            assert!(message.contains(GEN1), "names the expired key: {message}");
            assert!(message.contains("500"), "names the failure: {message}");
        }
        other => panic!("expected CredentialsError::Expired, got {other:?}"),
    }
    // Never the expired credentials, whoever asks.
    for got in call_concurrently(&cache, 1_000).await {
        assert!(
            matches!(got, Err(CredentialsError::Expired { .. })),
            "expected Expired, got {got:?}"
        );
    }

    // IMDS recovers. No time passes: the very first call after gets fresh credentials, with one
    // credentials fetch.
    instance.imds.clear_faults();
    let before = instance.imds.credential_fetches();
    let recovered = cache.provide_credentials().await;
    assert_generation(&recovered, GEN2, gen2_expiry(), instance.now());
    assert_eq!(instance.imds.credential_fetches(), before + 1);

    // And it is cached again.
    for got in call_concurrently(&cache, 1_000).await {
        assert_generation(&got, GEN2, gen2_expiry(), instance.now());
    }
    assert_eq!(instance.imds.credential_fetches(), before + 1);
}

// ===== 4. a hanging IMDS costs a caller at most the load timeout =====

/// Runs one call, returning its result and how long it took (tokio's clock, running in real
/// time here). An outer limit turns "never returns" into a failure instead of a stuck test.
async fn timed_call(cache: &CredentialsCache) -> (Result<Credentials, CredentialsError>, Duration) {
    let started = tokio::time::Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(20), cache.provide_credentials())
        .await
        .expect("the call returned (the load timeout must bound it)");
    (result, started.elapsed())
}

// Real time, not `start_paused`: with paused time, tokio moves its clock to the next timer as soon
// as the runtime is idle, also while a real socket waits for the emulator. A measured elapsed time
// would then be the timer's deadline by construction (it proves nothing), and any idle moment in
// a healthy loopback exchange can fire a timeout early. Here the source's own socket timeouts are
// a minute, so only the cache's 200 ms limit can end the wait; the elapsed time is checked as an
// upper bound (limit + a margin for a loaded machine), never slept for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_imds_costs_a_caller_at_most_the_load_timeout() {
    const LOAD_TIMEOUT: Duration = Duration::from_millis(200);
    const MARGIN: Duration = Duration::from_millis(1_500);

    let instance = Instance::boot().await;
    let patient_source = || {
        instance
            .source_builder()
            .connect_timeout(Duration::from_secs(60))
            .read_timeout(Duration::from_secs(60))
            .build()
    };
    let cache = instance.cache_over(patient_source(), LOAD_TIMEOUT);
    let (result, _) = timed_call(&cache).await;
    assert_generation(&result, GEN1, gen1_expiry(), instance.now());

    // In the last minute, IMDS hangs on the credentials: the caller waits at most the load
    // timeout, then gets the old credentials, still valid.
    instance.set_clock(gen1_expiry() - Duration::from_secs(30));
    instance
        .imds
        .set_fault(FaultRule::new(Fault::Hang).on(Target::Credentials));
    let (result, took) = timed_call(&cache).await;
    assert_generation(&result, GEN1, gen1_expiry(), instance.now());
    assert!(took < LOAD_TIMEOUT + MARGIN, "waited {took:?}");
    assert!(
        instance
            .imds
            .requests()
            .iter()
            .any(|r| r.is_credentials_request() && r.status.is_none()),
        "a credentials request was held by the hang"
    );

    // Expired and IMDS still hangs: a Timeout error (the cache reports a timed-out refresh as
    // such, not as Expired), again within the load timeout, never the expired credentials.
    instance.set_clock(gen1_expiry() + Duration::from_secs(1));
    let (result, took) = timed_call(&cache).await;
    match result {
        Err(CredentialsError::Timeout { after, .. }) => assert_eq!(after, LOAD_TIMEOUT),
        other => panic!("expected a Timeout, got {other:?}"),
    }
    assert!(took < LOAD_TIMEOUT + MARGIN, "waited {took:?}");

    // A service starting while IMDS hangs from the first request: a Timeout error, in time.
    let cold = instance.cache_over(patient_source(), LOAD_TIMEOUT);
    instance.imds.set_fault(Fault::Hang);
    let (result, took) = timed_call(&cold).await;
    match result {
        Err(CredentialsError::Timeout { after, .. }) => assert_eq!(after, LOAD_TIMEOUT),
        other => panic!("expected a Timeout, got {other:?}"),
    }
    assert!(took >= LOAD_TIMEOUT, "gave up early: {took:?}");
    assert!(took < LOAD_TIMEOUT + MARGIN, "waited {took:?}");
}

// Paused time here (the hang is cut by the load timeout, which paused time reaches at once); the
// recovery fetch is a healthy loopback exchange under a 5 s limit.
#[tokio::test(start_paused = true)]
async fn after_a_hang_the_first_call_once_imds_answers_recovers() {
    let instance = Instance::boot().await;
    let patient_source = instance
        .source_builder()
        .connect_timeout(Duration::from_secs(60))
        .read_timeout(Duration::from_secs(60))
        .build();
    let cache = instance.cache_over(patient_source, Duration::from_secs(5));
    instance.imds.set_fault(Fault::Hang);
    let first = cache.provide_credentials().await;
    assert!(
        matches!(first, Err(CredentialsError::Timeout { .. })),
        "{first:?}"
    );

    // IMDS answers again. The very next call should recover (the cache documents: "the first
    // call after the source is back recovers"; "a hanging source cannot block later refreshes").
    instance.imds.clear_faults();
    let second = cache.provide_credentials().await;
    assert_generation(&second, GEN1, gen1_expiry(), instance.now());
}

// ===== 5. token expiry and 401: one new token, not a storm =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_past_its_ttl_is_renewed_once_for_many_concurrent_fetches() {
    let instance = Instance::boot().await;
    let imds = instance.source_for_bursts();
    assert_generation(
        &imds.provide_credentials().await,
        GEN1,
        gen1_expiry(),
        instance.now(),
    );
    assert_eq!(instance.imds.token_fetches(), 1);

    // The 6-hour token is within its last two minutes (and generation 1 within its last minute).
    // 100 fetches go to IMDS at once, each needing a token.
    instance.set_clock(UNIX_EPOCH + Duration::from_secs(START + 6 * 3600 - 60));
    for got in call_concurrently(&imds, 100).await {
        assert_generation(&got, GEN2, gen2_expiry(), instance.now());
    }
    assert_eq!(
        instance.imds.token_fetches(),
        2,
        "exactly one new token for 100 fetches"
    );
    assert!(
        instance
            .imds
            .requests()
            .iter()
            .all(|r| r.status != Some(StatusCode::UNAUTHORIZED)),
        "renewed ahead of its end, so IMDS never refused it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_is_replaced_once_for_many_concurrent_fetches() {
    let instance = Instance::boot().await;
    let imds = instance.source_for_bursts();
    imds.provide_credentials().await.expect("warm up");
    assert_eq!(instance.imds.token_fetches(), 1);

    // IMDS forgets every token (as after a restart): each of 100 concurrent fetches is refused
    // with 401 once, and they share one new token.
    instance.imds.invalidate_tokens();
    for got in call_concurrently(&imds, 100).await {
        assert_generation(&got, GEN1, gen1_expiry(), instance.now());
    }
    assert_eq!(
        instance.imds.token_fetches(),
        2,
        "exactly one new token for 100 fetches"
    );
    assert!(instance
        .imds
        .requests()
        .iter()
        .any(|r| r.status == Some(StatusCode::UNAUTHORIZED)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_the_cache_a_rejected_token_costs_one_token_and_one_fetch() {
    // 1-hour credentials (a new generation every 45 min), so that their refresh comes long
    // before the 6-hour session token would be renewed anyway.
    let instance = Instance::boot_with_lifetime(HOUR).await;
    let expiry_1 = UNIX_EPOCH + Duration::from_secs(START + 3600);
    let expiry_2 = UNIX_EPOCH + Duration::from_secs(START + 45 * 60 + 3600);
    let cache = instance.cache(Duration::from_secs(30));
    assert_generation(
        &cache.provide_credentials().await,
        GEN1,
        expiry_1,
        instance.now(),
    );

    // IMDS forgot its tokens (say, it restarted); later, generation 1 enters its last minute and
    // 10,000 callers arrive: one refresh, refused once, gets one new token and then generation 2.
    instance.imds.invalidate_tokens();
    instance.set_clock(expiry_1 - Duration::from_secs(30));
    for got in call_concurrently(&cache, 10_000).await {
        assert_generation(&got, GEN2, expiry_2, instance.now());
    }
    assert_eq!(instance.imds.token_fetches(), 2, "one new token");
    let refused = instance
        .imds
        .requests()
        .iter()
        .filter(|r| r.status == Some(StatusCode::UNAUTHORIZED))
        .count();
    assert_eq!(refused, 1, "one refresh, refused once");
    // The source remembers the instance profile's name, so the refresh goes straight to the
    // credentials path: that request is the one refused with 401, and is repeated with the new
    // token.
    assert_eq!(
        instance.imds.credential_fetches(),
        3,
        "the initial load, the refused request and its repeat"
    );
}

// ===== 6. the advisory window follows the lifetime at each load =====

/// Waits (a bounded number of scheduler turns, no timer) until the cache has no refresh in
/// flight: its `Debug` output says `refreshing: false`.
async fn refresh_settled(cache: &CredentialsCache) {
    for _ in 0..100_000 {
        if format!("{cache:?}").contains("refreshing: false") {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the background refresh did not finish: {cache:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hour_imds_credentials_refresh_60_then_15_minutes_before_expiry() {
    let instance = Instance::boot().await;
    let cache = CredentialsCache::builder()
        .time_source(shared(&instance.clock))
        .load_timeout(Duration::from_secs(30))
        .refresh_jitter(Duration::ZERO) // the exact start of each advisory window
        .build(instance.source());
    let got = cache.provide_credentials().await;
    assert_generation(&got, GEN1, gen1_expiry(), instance.now());

    // A 6-hour lifetime: a 60-minute advisory window, not a second earlier.
    instance.set_clock(gen1_expiry() - 60 * MIN - Duration::from_secs(1));
    assert_generation(
        &cache.provide_credentials().await,
        GEN1,
        gen1_expiry(),
        instance.now(),
    );
    assert_eq!(instance.imds.credential_fetches(), 1);
    instance.set_clock(gen1_expiry() - 60 * MIN);
    assert_generation(
        &cache.provide_credentials().await,
        GEN1,
        gen1_expiry(),
        instance.now(),
    );
    refresh_settled(&cache).await;
    assert_eq!(
        instance.imds.credential_fetches(),
        2,
        "refreshed in the background"
    );

    // IMDS still hands out generation 1 (it rotates 15 min before expiry). Obtained now, it has
    // 60 min to live: a 15-minute window. So nothing happens at 16 min left...
    instance.set_clock(gen1_expiry() - 16 * MIN);
    assert_generation(
        &cache.provide_credentials().await,
        GEN1,
        gen1_expiry(),
        instance.now(),
    );
    assert_eq!(instance.imds.credential_fetches(), 2);
    // ...and at 15 min left the next refresh gets generation 2, just issued.
    instance.set_clock(gen1_expiry() - 15 * MIN);
    cache
        .provide_credentials()
        .await
        .expect("generation 1, valid");
    refresh_settled(&cache).await;
    assert_eq!(instance.imds.credential_fetches(), 3);
    assert_generation(
        &cache.provide_credentials().await,
        GEN2,
        gen2_expiry(),
        instance.now(),
    );
}
