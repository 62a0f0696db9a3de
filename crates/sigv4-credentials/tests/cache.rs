//! Behaviour of `CredentialsCache`: single flight, refresh ahead of expiry by the 2026 SDK rules
//! (advisory window by lifetime, 1 min mandatory window, 5–10 min retry delay, non-recoverable
//! errors), invalidation, failures, timeouts.
//!
//! Two clocks: expiry is judged by the `ManualClock` the cache is given; waits (the load timeout,
//! the retry delay, the fake source's own delays) run on tokio's paused clock.

mod common;
use common::Captured;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sigv4_credentials::{
    Credentials, CredentialsCache, CredentialsError, ManualClock, ProvideCredentials,
};
use tokio::sync::Notify;

const HOUR: Duration = Duration::from_secs(3600);
const MIN: Duration = Duration::from_secs(60);

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn secret(n: usize) -> String {
    format!("wJalrXUtnFEMI/SECRET-{n}-DO-NOT-LOG")
}

fn token(n: usize) -> String {
    format!("SESSIONTOKEN-{n}-DO-NOT-LOG")
}

#[derive(Debug, Clone)]
enum Behaviour {
    /// Credentials valid for this long from the clock's "now" (`None`: no expiry).
    Succeed(Option<Duration>),
    /// `Failed` with a recognisable message.
    Fail,
    /// `NotConfigured`.
    NotConfigured,
    /// `NonRecoverable` (as STS answering `AccessDenied`).
    NonRecoverable,
    /// Never answers.
    Hang,
    /// Waits for the notify, then succeeds with one hour.
    Gated(Arc<Notify>),
}

/// A scripted source: counts fetches, numbers its credentials `AKID<n>` by fetch.
#[derive(Debug)]
struct Fake {
    clock: ManualClock,
    fetches: AtomicUsize,
    behaviour: Mutex<Behaviour>,
    /// Paused-tokio-time delay before answering.
    delay: Option<Duration>,
    /// `yield_now` this many times before answering (for multi-threaded runs).
    yields: usize,
}

impl Fake {
    fn new(clock: &ManualClock, behaviour: Behaviour) -> Arc<Self> {
        Self::scripted(clock, behaviour, None, 0)
    }

    fn with_delay(clock: &ManualClock, behaviour: Behaviour, delay: Duration) -> Arc<Self> {
        Self::scripted(clock, behaviour, Some(delay), 0)
    }

    fn with_yields(clock: &ManualClock, behaviour: Behaviour, yields: usize) -> Arc<Self> {
        Self::scripted(clock, behaviour, None, yields)
    }

    fn scripted(
        clock: &ManualClock,
        behaviour: Behaviour,
        delay: Option<Duration>,
        yields: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            clock: clock.clone(),
            fetches: AtomicUsize::new(0),
            behaviour: Mutex::new(behaviour),
            delay,
            yields,
        })
    }

    fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn credentials(&self, n: usize, lifetime: Option<Duration>) -> Credentials {
        let mut b = Credentials::builder(format!("AKID{n}"), secret(n))
            .session_token(token(n))
            .provider_name("fake");
        if let Some(lifetime) = lifetime {
            b = b.expiry(self.clock.now_plus(lifetime));
        }
        b.build()
    }
}

trait NowPlus {
    fn now_plus(&self, d: Duration) -> SystemTime;
}

impl NowPlus for ManualClock {
    fn now_plus(&self, d: Duration) -> SystemTime {
        sigv4_credentials::TimeSource::now(self) + d
    }
}

impl ProvideCredentials for Fake {
    fn provide_credentials(&self) -> sigv4_credentials::ProvideCredentialsFuture<'_> {
        let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        let behaviour = self.behaviour.lock().unwrap().clone();
        sigv4_credentials::ProvideCredentialsFuture::new(async move {
            for _ in 0..self.yields {
                tokio::task::yield_now().await;
            }
            if let Some(delay) = self.delay {
                tokio::time::sleep(delay).await;
            }
            match behaviour {
                Behaviour::Succeed(lifetime) => Ok(self.credentials(n, lifetime)),
                Behaviour::Fail => Err(CredentialsError::failed(
                    "fake",
                    "scripted failure: the fake source is down",
                )),
                Behaviour::NotConfigured => Err(CredentialsError::not_configured(
                    "fake",
                    "scripted: nothing here",
                )),
                Behaviour::NonRecoverable => Err(CredentialsError::non_recoverable(
                    "fake",
                    "scripted: AccessDenied, the role's trust policy does not allow this principal",
                )),
                Behaviour::Hang => std::future::pending().await,
                Behaviour::Gated(notify) => {
                    notify.notified().await;
                    Ok(self.credentials(n, Some(HOUR)))
                }
            }
        })
    }
}

fn cache(clock: &ManualClock, fake: &Arc<Fake>) -> CredentialsCache {
    CredentialsCache::builder()
        .time_source(Arc::new(clock.clone()))
        .refresh_jitter(Duration::ZERO)
        .build(Arc::clone(fake))
}

/// A clock at [`t0`], a [`Fake`] with `behaviour` on it, and a [`cache`] in front of it.
fn setup(behaviour: Behaviour) -> (ManualClock, Arc<Fake>, CredentialsCache) {
    let clock = ManualClock::new(t0());
    let fake = Fake::new(&clock, behaviour);
    let cache = cache(&clock, &fake);
    (clock, fake, cache)
}

struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

/// Polls a future once: `Some` if it was already resolved.
fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let waker = Waker::from(Arc::new(NoopWake));
    let mut cx = Context::from_waker(&waker);
    match pin!(future).poll(&mut cx) {
        Poll::Ready(value) => Some(value),
        Poll::Pending => None,
    }
}

/// Lets spawned tasks (a background refresh) run to their next wait.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// `n` callers at once, each on its own task.
fn spawn_callers(
    cache: &CredentialsCache,
    n: usize,
) -> Vec<tokio::task::JoinHandle<Result<Credentials, CredentialsError>>> {
    (0..n)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.provide_credentials().await })
        })
        .collect()
}

/// A clock at [`t0`], a source answering after 200 ms of tokio time with one-hour credentials,
/// and a [`cache`] in front of it.
fn setup_slow_source() -> (ManualClock, Arc<Fake>, CredentialsCache) {
    let clock = ManualClock::new(t0());
    let fake = Fake::with_delay(
        &clock,
        Behaviour::Succeed(Some(HOUR)),
        Duration::from_millis(200),
    );
    let cache = cache(&clock, &fake);
    (clock, fake, cache)
}

fn akid(result: Result<Credentials, CredentialsError>) -> String {
    match result {
        Ok(c) => c.access_key_id().to_owned(),
        Err(e) => panic!("expected credentials, got error: {e}"),
    }
}

#[tokio::test(start_paused = true)]
async fn warm_calls_are_ready_and_do_not_fetch_again() {
    let (clock, fake, cache) = setup(Behaviour::Succeed(Some(HOUR)));
    assert_eq!(akid(cache.provide_credentials().await), "AKID1");
    for _ in 0..100 {
        let ready = poll_once(cache.provide_credentials()).expect("a warm call must be ready");
        assert_eq!(akid(ready), "AKID1");
    }
    // One-hour credentials: the advisory window is 15 min.
    clock.advance(HOUR - 15 * MIN - Duration::from_secs(1));
    assert_eq!(
        akid(poll_once(cache.provide_credentials()).unwrap()),
        "AKID1"
    );
    settle().await;
    assert_eq!(fake.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_concurrent_calls_across_expiry_fetch_once() {
    let (clock, fake, cache) = setup_slow_source();
    assert_eq!(akid(cache.provide_credentials().await), "AKID1");
    assert_eq!(fake.fetches(), 1);

    clock.advance(HOUR + Duration::from_secs(1)); // AKID1 has expired
    for task in spawn_callers(&cache, 10_000) {
        assert_eq!(akid(task.await.unwrap()), "AKID2");
    }
    assert_eq!(
        fake.fetches(),
        2,
        "one initial fetch plus exactly one refresh"
    );
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_concurrent_first_calls_fetch_once() {
    let (_, fake, cache) = setup_slow_source();
    for task in spawn_callers(&cache, 10_000) {
        assert_eq!(akid(task.await.unwrap()), "AKID1");
    }
    assert_eq!(fake.fetches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_calls_on_two_threads_fetch_once() {
    let clock = ManualClock::new(t0());
    let fake = Fake::with_yields(&clock, Behaviour::Succeed(Some(HOUR)), 50);
    let cache = cache(&clock, &fake);
    assert_eq!(akid(cache.provide_credentials().await), "AKID1");

    // Inside the mandatory window: every caller waits for the one refresh.
    clock.advance(HOUR - Duration::from_secs(30));
    for task in spawn_callers(&cache, 10_000) {
        let got = akid(task.await.unwrap());
        assert!(got == "AKID2", "got {got}");
    }
    assert_eq!(fake.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn failing_source_keeps_serving_valid_credentials_then_expires_then_recovers() {
    let (clock, fake, cache) = setup(Behaviour::Succeed(Some(HOUR)));
    assert_eq!(akid(cache.provide_credentials().await), "AKID1");
    fake.set(Behaviour::Fail);

    // Walk through the last 5 min of the advisory window and the mandatory window (last minute)
    // in 10 s steps, both clocks together, several calls per step.
    clock.advance(HOUR - 5 * MIN);
    let mut steps = 0;
    while steps < 30 {
        for _ in 0..5 {
            assert_eq!(akid(cache.provide_credentials().await), "AKID1");
        }
        settle().await;
        clock.advance(Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(10)).await;
        steps += 1;
    }
    // Now exactly at expiry.
    let fetches_in_window = fake.fetches() - 1;
    assert!(
        (1..=30).contains(&fetches_in_window),
        "retries are spaced, not one per call: {fetches_in_window} fetches for 150 calls"
    );

    // Expired, source still down: a typed error naming the failure, never the old credentials.
    match cache.provide_credentials().await {
        Err(CredentialsError::Expired { provider, message }) => {
            assert_eq!(provider, "fake");
            assert!(message.contains("scripted failure"), "{message}");
            assert!(message.contains("AKID1"), "{message}");
        }
        other => panic!("expected Expired, got {other:?}"),
    }
    let before = fake.fetches();
    assert!(matches!(
        cache.provide_credentials().await,
        Err(CredentialsError::Expired { .. })
    ));
    assert_eq!(
        fake.fetches(),
        before + 1,
        "with nothing valid, each call tries"
    );

    // The source is back: the very next call recovers, no time needs to pass.
    fake.set(Behaviour::Succeed(Some(HOUR)));
    let got = cache.provide_credentials().await.unwrap();
    assert!(got.access_key_id().starts_with("AKID"));
    assert_ne!(got.access_key_id(), "AKID1");
    assert!(!got.is_expired_at(sigv4_credentials::TimeSource::now(&clock)));
}

#[tokio::test(start_paused = true)]
async fn a_failing_source_through_the_advisory_window_never_fails_a_caller_and_waits_5_to_10_min() {
    // 12-hour credentials: a 60-minute advisory window, so the retry delay (5–10 min) fits in it
    // several times.
    let (clock, fake, cache) = setup(Behaviour::Succeed(Some(12 * HOUR)));
    cache.provide_credentials().await.unwrap();
    fake.set(Behaviour::Fail);
    clock.advance(11 * HOUR); // the first moment of the advisory window (no jitter here)

    // Every 10 s (both clocks) until the mandatory window, 20 calls each: all get AKID1 at once.
    let mut fetch_times = Vec::new();
    let start = tokio::time::Instant::now();
    for _ in 0..(59 * 6) {
        for _ in 0..20 {
            let ready = poll_once(cache.provide_credentials()).expect("callers never wait here");
            assert_eq!(akid(ready), "AKID1");
        }
        let before = fake.fetches();
        settle().await;
        if fake.fetches() > before {
            fetch_times.push(start.elapsed());
        }
        clock.advance(Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(10)).await;
    }
    assert!(fetch_times.len() >= 6, "{fetch_times:?}");
    assert_eq!(fetch_times[0], Duration::ZERO, "the first try at once");
    for pair in fetch_times.windows(2) {
        let gap = pair[1] - pair[0];
        // Steps of 10 s: a delay drawn in 5..=10 min is noticed by the first step after it.
        assert!(
            gap >= 5 * MIN && gap <= 10 * MIN + Duration::from_secs(10),
            "retries {gap:?} apart: {fetch_times:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn in_the_mandatory_window_a_recent_failure_serves_the_cached_value_at_once() {
    let (clock, fake, cache) = setup(Behaviour::Succeed(Some(HOUR)));
    cache.provide_credentials().await.unwrap();
    fake.set(Behaviour::Fail);
    clock.advance(HOUR - 2 * MIN); // advisory: a background refresh fails
    assert_eq!(akid(cache.provide_credentials().await), "AKID1");
    settle().await;
    assert_eq!(fake.fetches(), 2);

    // 30 s left, the retry delay (at least 5 min) not over: no wait, no fetch, AKID1.
    clock.advance(90 * Duration::from_secs(1));
    tokio::time::advance(Duration::from_secs(90)).await;
    for _ in 0..100 {
        let ready = poll_once(cache.provide_credentials()).expect("no wait during the delay");
        assert_eq!(akid(ready), "AKID1");
    }
    assert_eq!(fake.fetches(), 2);
}

/// Loads credentials living `lifetime` (no jitter) and checks that the background refresh starts
/// exactly `window` before expiry, not a millisecond earlier, and that callers wait only in the
/// last minute.
async fn assert_advisory_window(lifetime: Duration, window: Duration) {
    let (clock, fake, cache) = setup(Behaviour::Succeed(Some(lifetime)));
    cache.provide_credentials().await.unwrap();
    let gate = Arc::new(Notify::new());
    fake.set(Behaviour::Gated(Arc::clone(&gate)));

    clock.advance(lifetime - window - Duration::from_millis(1));
    for _ in 0..10 {
        assert_eq!(
            akid(poll_once(cache.provide_credentials()).unwrap()),
            "AKID1"
        );
    }
    settle().await;
    assert_eq!(
        fake.fetches(),
        1,
        "{lifetime:?}: no refresh before {window:?} left"
    );

    clock.advance(Duration::from_millis(1)); // exactly `window` left
    let ready = poll_once(cache.provide_credentials()).expect("advisory: callers do not wait");
    assert_eq!(akid(ready), "AKID1");
    settle().await;
    assert_eq!(
        fake.fetches(),
        2,
        "{lifetime:?}: a refresh at {window:?} left"
    );
    gate.notify_one();
    settle().await;
    assert_eq!(
        akid(poll_once(cache.provide_credentials()).unwrap()),
        "AKID2"
    );
}

#[tokio::test(start_paused = true)]
async fn fifteen_minute_credentials_refresh_5_min_before_expiry() {
    assert_advisory_window(15 * MIN, 5 * MIN).await;
}

#[tokio::test(start_paused = true)]
async fn one_hour_credentials_refresh_15_min_before_expiry() {
    assert_advisory_window(HOUR, 15 * MIN).await;
}

#[tokio::test(start_paused = true)]
async fn twelve_hour_credentials_refresh_60_min_before_expiry() {
    assert_advisory_window(12 * HOUR, 60 * MIN).await;
}

#[tokio::test(start_paused = true)]
async fn the_window_follows_the_lifetime_at_each_load() {
    // 12-hour credentials, then (at their refresh) credentials with 50 min left: the second set
    // gets the 15-minute window of a 50-minute lifetime, not the 60-minute one of the first.
    let clock = ManualClock::new(t0());
    let fake = Fake::new(&clock, Behaviour::Succeed(Some(12 * HOUR)));
    let cache = cache(&clock, &fake);
    cache.provide_credentials().await.unwrap();
    fake.set(Behaviour::Succeed(Some(50 * MIN)));
    clock.advance(11 * HOUR);
    cache.provide_credentials().await.unwrap();
    settle().await;
    assert_eq!(akid(cache.provide_credentials().await), "AKID2");
    fake.set(Behaviour::Succeed(Some(HOUR)));
    clock.advance(35 * MIN - Duration::from_millis(1)); // 15 min + 1 ms left
    cache.provide_credentials().await.unwrap();
    settle().await;
    assert_eq!(fake.fetches(), 2);
    clock.advance(Duration::from_millis(1));
    cache.provide_credentials().await.unwrap();
    settle().await;
    assert_eq!(fake.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn callers_wait_only_in_the_last_minute() {
    let (clock, fake, cache) = setup(Behaviour::Succeed(Some(HOUR)));
    cache.provide_credentials().await.unwrap();
    let gate = Arc::new(Notify::new());
    fake.set(Behaviour::Gated(Arc::clone(&gate)));
    // A background refresh hangs at the gate from 15 min before expiry; callers keep AKID1.
    clock.advance(HOUR - 15 * MIN);
    assert!(poll_once(cache.provide_credentials()).is_some());
    clock.advance(14 * MIN - Duration::from_millis(1));
    assert!(
        poll_once(cache.provide_credentials()).is_some(),
        "61 s left: no wait"
    );
    clock.advance(Duration::from_millis(1));
    assert!(
        poll_once(cache.provide_credentials()).is_none(),
        "60 s left: the caller waits for the refresh"
    );
    gate.notify_one();
    assert_eq!(akid(cache.provide_credentials().await), "AKID2");
    assert_eq!(fake.fetches(), 2);
}

// ===== non-recoverable errors =====

fn assert_non_recoverable(result: Result<Credentials, CredentialsError>) {
    match result {
        Err(e @ CredentialsError::NonRecoverable { .. }) => {
            assert!(e.to_string().contains("AccessDenied"), "{e}");
        }
        other => panic!("expected NonRecoverable, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_non_recoverable_error_on_the_first_load_is_returned_at_once_then_retried_after_seconds()
{
    let (_, fake, cache) = setup(Behaviour::NonRecoverable);
    assert_non_recoverable(cache.provide_credentials().await);
    assert_eq!(fake.fetches(), 1);
    // For the next second at least: the same error, at once, without asking the source.
    for _ in 0..100 {
        assert_non_recoverable(poll_once(cache.provide_credentials()).expect("no wait"));
    }
    assert_eq!(fake.fetches(), 1);
    // Not put on a 5–10 min timer: once the error's few seconds are over, the next call asks.
    tokio::time::advance(Duration::from_secs(5)).await;
    fake.set(Behaviour::Succeed(Some(HOUR)));
    assert_eq!(akid(cache.provide_credentials().await), "AKID2");
}

#[tokio::test(start_paused = true)]
async fn a_non_recoverable_error_surfaces_at_once_in_the_mandatory_window() {
    let (clock, fake, cache) = setup(Behaviour::Succeed(Some(HOUR)));
    cache.provide_credentials().await.unwrap();
    fake.set(Behaviour::NonRecoverable);

    // Advisory window: the background refresh fails for good, but the cached credentials are
    // valid and outside the mandatory window: callers keep getting them.
    clock.advance(HOUR - 10 * MIN);
    assert_eq!(akid(cache.provide_credentials().await), "AKID1");
    settle().await;
    assert_eq!(fake.fetches(), 2);
    assert_eq!(akid(cache.provide_credentials().await), "AKID1");

    // Mandatory window, within the error's few seconds: the error at once, not AKID1, no wait,
    // no fetch.
    clock.advance(9 * MIN + Duration::from_secs(30));
    assert_non_recoverable(poll_once(cache.provide_credentials()).expect("no wait"));
    assert_eq!(fake.fetches(), 2);

    // Later (still 30 s of validity): the next caller tries again and gets the error, not the
    // cached credentials; it is not delayed by a retry timer.
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_non_recoverable(cache.provide_credentials().await);
    assert_eq!(fake.fetches(), 3);

    // Callers joining a refresh that ends with it get it too.
    tokio::time::advance(Duration::from_secs(5)).await;
    for caller in spawn_callers(&cache, 100) {
        assert_non_recoverable(caller.await.unwrap());
    }
    assert_eq!(fake.fetches(), 4);
}

// ===== invalidation =====

#[tokio::test(start_paused = true)]
async fn invalidate_makes_ten_thousand_concurrent_callers_cause_exactly_one_load() {
    let (_, fake, cache) = setup_slow_source();
    let refused = cache.provide_credentials().await.unwrap();
    assert_eq!(fake.fetches(), 1);

    cache.invalidate(&refused);
    for task in spawn_callers(&cache, 10_000) {
        assert_eq!(akid(task.await.unwrap()), "AKID2");
    }
    assert_eq!(
        fake.fetches(),
        2,
        "one initial load plus exactly one refresh"
    );
    // Fresh again: warm calls.
    assert_eq!(
        akid(poll_once(cache.provide_credentials()).unwrap()),
        "AKID2"
    );
}

#[tokio::test(start_paused = true)]
async fn a_late_refusal_of_replaced_credentials_keeps_the_new_ones() {
    let (_, fake, cache) = setup(Behaviour::Succeed(Some(HOUR)));
    let first = cache.provide_credentials().await.unwrap();
    cache.invalidate(&first);
    let second = cache.provide_credentials().await.unwrap();
    assert_eq!(second.access_key_id(), "AKID2");
    tokio::time::advance(Duration::from_secs(60)).await; // past the 10 s between invalidations

    // A request signed with AKID1 before the refresh is refused now: AKID2 stays.
    for _ in 0..1000 {
        cache.invalidate(&first);
    }
    assert_eq!(
        akid(poll_once(cache.provide_credentials()).unwrap()),
        "AKID2"
    );
    assert_eq!(fake.fetches(), 2);

    // A refusal of AKID2 itself is acted on.
    cache.invalidate(&second);
    assert_eq!(akid(cache.provide_credentials().await), "AKID3");
    assert_eq!(fake.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_storm_of_invalidations_costs_one_refresh_per_10_s() {
    let (_, fake, cache) = setup(Behaviour::Succeed(Some(HOUR)));
    cache.provide_credentials().await.unwrap();
    // Each refused request invalidates the credentials it was signed with, which are the ones the
    // source keeps handing out: one refresh, then none for 10 s.
    for _ in 0..100 {
        let used = cache.provide_credentials().await.unwrap();
        cache.invalidate(&used);
        tokio::time::advance(Duration::from_millis(50)).await;
    }
    assert_eq!(fake.fetches(), 2, "5 s of refusals: one refresh");
    tokio::time::advance(Duration::from_secs(5)).await;
    let used = cache.provide_credentials().await.unwrap();
    cache.invalidate(&used);
    cache.provide_credentials().await.unwrap();
    assert_eq!(fake.fetches(), 3, "10 s later: the next one");
}

#[tokio::test(start_paused = true)]
async fn a_refresh_after_invalidate_that_fails_serves_the_old_credentials_and_waits() {
    let (_, fake, cache) = setup(Behaviour::Succeed(Some(HOUR)));
    let used = cache.provide_credentials().await.unwrap();
    fake.set(Behaviour::Fail);
    cache.invalidate(&used);
    assert_eq!(akid(cache.provide_credentials().await), "AKID1");
    assert_eq!(fake.fetches(), 2);
    // The retry delay applies: no fetch per call.
    for _ in 0..100 {
        assert_eq!(akid(cache.provide_credentials().await), "AKID1");
    }
    assert_eq!(fake.fetches(), 2);
    tokio::time::advance(10 * MIN).await;
    fake.set(Behaviour::Succeed(Some(HOUR)));
    assert_eq!(akid(cache.provide_credentials().await), "AKID3");
}

#[tokio::test(start_paused = true)]
async fn invalidate_refreshes_credentials_without_an_expiry_too() {
    let (_, fake, cache) = setup(Behaviour::Succeed(None));
    let used = cache.provide_credentials().await.unwrap();
    assert_eq!(used.access_key_id(), "AKID1");
    cache.invalidate(&used);
    assert_eq!(akid(cache.provide_credentials().await), "AKID2");
    assert_eq!(
        akid(poll_once(cache.provide_credentials()).unwrap()),
        "AKID2"
    );
    assert_eq!(fake.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn invalidate_before_anything_is_cached_does_nothing() {
    let (_, fake, cache) = setup(Behaviour::Succeed(Some(HOUR)));
    cache.invalidate(&sigv4_credentials::Credentials::new("AKIDOTHER", "other"));
    assert_eq!(akid(cache.provide_credentials().await), "AKID1");
    assert_eq!(fake.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn invalidate_reaches_a_cache_inside_the_default_chain() {
    // The chain's own cache in front, a source's cache behind it: both refresh.
    let clock = ManualClock::new(t0());
    let fake = Fake::new(&clock, Behaviour::Succeed(Some(HOUR)));
    let inner = cache(&clock, &fake);
    let chain = sigv4_credentials::DefaultChain::builder()
        .providers(vec![("fake".into(), Arc::new(inner.clone()) as _)])
        .time_source(Arc::new(clock.clone()))
        .build()
        .await;
    let used = chain.provide_credentials().await.unwrap();
    assert_eq!(used.access_key_id(), "AKID1");
    chain.invalidate(&used);
    assert_eq!(akid(chain.provide_credentials().await), "AKID2");
    assert_eq!(fake.fetches(), 2);
    assert_eq!(akid(inner.provide_credentials().await), "AKID2");
}

#[tokio::test(start_paused = true)]
async fn the_default_chain_stops_on_a_non_recoverable_error_and_keeps_its_kind() {
    let clock = ManualClock::new(t0());
    let broken = Fake::new(&clock, Behaviour::NonRecoverable);
    let after = Fake::new(&clock, Behaviour::Succeed(Some(HOUR)));
    let chain = sigv4_credentials::DefaultChain::builder()
        .providers(vec![
            ("assume role".into(), Arc::clone(&broken) as _),
            ("next".into(), Arc::clone(&after) as _),
        ])
        .time_source(Arc::new(clock.clone()))
        .build()
        .await;
    match chain.provide_credentials().await {
        Err(CredentialsError::NonRecoverable {
            provider, message, ..
        }) => {
            assert_eq!(provider, "assume role");
            assert!(message.contains("AccessDenied"), "{message}");
        }
        other => panic!("expected NonRecoverable, got {other:?}"),
    }
    assert_eq!(after.fetches(), 0, "the chain stopped");
}

#[tokio::test(start_paused = true)]
async fn hanging_source_costs_a_caller_at_most_the_load_timeout() {
    let clock = ManualClock::new(t0());
    let fake = Fake::new(&clock, Behaviour::Hang);
    let cache = CredentialsCache::builder()
        .time_source(Arc::new(clock.clone()))
        .load_timeout(Duration::from_secs(2))
        .name("fake chain")
        .build(Arc::clone(&fake));

    let start = tokio::time::Instant::now();
    match cache.provide_credentials().await {
        Err(CredentialsError::Timeout {
            provider,
            after,
            hint,
        }) => {
            assert_eq!(provider, "fake chain");
            assert_eq!(after, Duration::from_secs(2));
            assert!(hint.contains("load_timeout"), "{hint}");
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert_eq!(start.elapsed(), Duration::from_secs(2));

    // The hung fetch was abandoned: the next call starts a new one (and also gives up in time).
    settle().await;
    let start = tokio::time::Instant::now();
    assert!(matches!(
        cache.provide_credentials().await,
        Err(CredentialsError::Timeout { .. })
    ));
    assert!(start.elapsed() <= Duration::from_secs(2));
    assert_eq!(fake.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn hanging_refresh_in_blocking_window_serves_old_credentials_after_the_timeout() {
    let (clock, fake, cache) = setup(Behaviour::Succeed(Some(HOUR)));
    cache.provide_credentials().await.unwrap();
    fake.set(Behaviour::Hang);
    clock.advance(HOUR - 30 * Duration::from_secs(1));
    let start = tokio::time::Instant::now();
    assert_eq!(akid(cache.provide_credentials().await), "AKID1");
    assert!(start.elapsed() <= Duration::from_secs(5));

    // Expired while the source hangs: Timeout, not the expired credentials.
    clock.advance(MIN);
    tokio::time::advance(Duration::from_secs(60)).await;
    let start = tokio::time::Instant::now();
    match cache.provide_credentials().await {
        Err(CredentialsError::Timeout { hint, .. }) => assert!(hint.contains("expired"), "{hint}"),
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(start.elapsed() <= Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn background_refresh_starts_inside_the_window_without_making_callers_wait() {
    let (clock, fake, cache) = setup(Behaviour::Succeed(Some(HOUR)));
    cache.provide_credentials().await.unwrap();

    let gate = Arc::new(Notify::new());
    fake.set(Behaviour::Gated(Arc::clone(&gate)));
    // One-hour credentials: a 15-minute advisory window.
    clock.advance(HOUR - 15 * MIN - Duration::from_secs(1));
    assert_eq!(
        akid(poll_once(cache.provide_credentials()).unwrap()),
        "AKID1"
    );
    settle().await;
    assert_eq!(fake.fetches(), 1, "not yet inside the window");

    clock.advance(Duration::from_secs(2)); // 14 min 59 s left
    for _ in 0..100 {
        let ready = poll_once(cache.provide_credentials()).expect("callers never wait here");
        assert_eq!(akid(ready), "AKID1");
    }
    settle().await;
    assert_eq!(fake.fetches(), 2, "one background refresh, in flight");
    assert_eq!(
        akid(poll_once(cache.provide_credentials()).unwrap()),
        "AKID1"
    );

    gate.notify_one();
    settle().await;
    assert_eq!(
        akid(poll_once(cache.provide_credentials()).unwrap()),
        "AKID2"
    );
    assert_eq!(fake.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn jitter_moves_the_refresh_later_inside_the_advisory_window_by_at_most_a_fifth() {
    // Default jitter: one-hour credentials refresh somewhere between 15 and 12 min before expiry,
    // never before.
    let mut starts = Vec::new();
    for _ in 0..40 {
        let clock = ManualClock::new(t0());
        let fake = Fake::new(&clock, Behaviour::Succeed(Some(HOUR)));
        let cache = CredentialsCache::builder()
            .time_source(Arc::new(clock.clone()))
            .build(Arc::clone(&fake)); // default jitter
        cache.provide_credentials().await.unwrap();
        clock.advance(HOUR - 15 * MIN - Duration::from_secs(1));
        let mut left = 15 * MIN + Duration::from_secs(1);
        while fake.fetches() == 1 {
            assert!(
                left > 12 * MIN - Duration::from_secs(1),
                "no refresh by 12 min left"
            );
            cache.provide_credentials().await.unwrap();
            settle().await;
            if fake.fetches() == 1 {
                clock.advance(Duration::from_secs(1));
                left -= Duration::from_secs(1);
            }
        }
        assert!(
            left <= 15 * MIN,
            "refreshed before the advisory window: {left:?} left"
        );
        starts.push(left);
    }
    starts.sort();
    starts.dedup();
    assert!(
        starts.len() > 5,
        "the start is drawn anew each time: {starts:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn credentials_without_expiry_are_not_refreshed() {
    let (clock, fake, cache) = setup(Behaviour::Succeed(None));
    assert_eq!(akid(cache.provide_credentials().await), "AKID1");
    for _ in 0..10 {
        clock.advance(365 * 24 * HOUR);
        tokio::time::advance(HOUR).await;
        assert_eq!(
            akid(poll_once(cache.provide_credentials()).unwrap()),
            "AKID1"
        );
        settle().await;
    }
    assert_eq!(fake.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn errors_before_the_first_load_pass_through_and_are_not_cached() {
    let (_, fake, cache) = setup(Behaviour::NotConfigured);
    let err = cache.provide_credentials().await.unwrap_err();
    assert!(err.is_not_configured(), "{err:?}");
    fake.set(Behaviour::Fail);
    assert!(matches!(
        cache.provide_credentials().await,
        Err(CredentialsError::Failed { .. })
    ));
    fake.set(Behaviour::Succeed(Some(HOUR)));
    assert_eq!(akid(cache.provide_credentials().await), "AKID3");
}

#[derive(Debug)]
struct AlreadyExpired(ManualClock);

impl ProvideCredentials for AlreadyExpired {
    fn provide_credentials(&self) -> sigv4_credentials::ProvideCredentialsFuture<'_> {
        let now = sigv4_credentials::TimeSource::now(&self.0);
        sigv4_credentials::ProvideCredentialsFuture::ready(Ok(Credentials::builder(
            "AKIDOLD", "secret",
        )
        .expiry(now - Duration::from_secs(1))
        .provider_name("stale")
        .build()))
    }
}

#[tokio::test(start_paused = true)]
async fn credentials_that_arrive_expired_are_never_handed_out() {
    let clock = ManualClock::new(t0());
    let cache = CredentialsCache::builder()
        .time_source(Arc::new(clock.clone()))
        .build(AlreadyExpired(clock.clone()));
    match cache.provide_credentials().await {
        Err(CredentialsError::Failed { message, .. }) => {
            assert!(message.contains("already expired"), "{message}")
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

/// Runs a future to completion on this thread, without any tokio runtime.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(value) => return value,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[test]
fn without_a_runtime_refreshes_run_inline_instead_of_panicking() {
    let (clock, fake, cache) = setup(Behaviour::Succeed(Some(HOUR)));
    assert_eq!(akid(block_on(cache.provide_credentials())), "AKID1");
    assert_eq!(akid(block_on(cache.provide_credentials())), "AKID1");
    clock.advance(HOUR - 4 * MIN); // advisory window: refreshed inline by this caller
    assert_eq!(akid(block_on(cache.provide_credentials())), "AKID2");
    clock.advance(2 * HOUR); // expired
    assert_eq!(akid(block_on(cache.provide_credentials())), "AKID3");
    assert_eq!(fake.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn debug_output_never_shows_the_secret() {
    let (_, _, cache) = setup(Behaviour::Succeed(Some(HOUR)));
    cache.provide_credentials().await.unwrap();
    let text = format!("{cache:?} {cache:#?}");
    assert!(text.contains("AKID1"), "{text}");
    assert!(!text.contains(&secret(1)), "{text}");
    assert!(!text.contains(&token(1)), "{text}");
    assert!(!text.contains("DO-NOT-LOG"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn logs_never_show_the_secret() {
    // Global, not `set_default`: a thread-local subscriber can miss events when tests on other
    // threads register the same callsites concurrently. Other tests' events land here too; their
    // secrets are all marked `DO-NOT-LOG` as well.
    let captured = Captured::install();

    let (clock, fake, cache) = setup(Behaviour::Succeed(Some(HOUR)));
    cache.provide_credentials().await.unwrap(); // load
    clock.advance(HOUR - 4 * MIN);
    cache.provide_credentials().await.unwrap(); // background refresh
    settle().await;
    fake.set(Behaviour::Fail);
    clock.advance(HOUR - 4 * MIN + Duration::from_secs(1));
    tokio::time::advance(Duration::from_secs(5)).await;
    cache.provide_credentials().await.unwrap(); // failed background refresh
    settle().await;
    clock.advance(5 * MIN);
    cache.provide_credentials().await.unwrap_err(); // expired
    fake.set(Behaviour::Succeed(Some(HOUR)));
    cache.provide_credentials().await.unwrap(); // recovered

    let text = captured.text();
    assert!(text.contains("AKID1") && text.contains("AKID2"), "{text}");
    assert!(text.contains("refreshing credentials failed"), "{text}");
    assert!(text.contains("WARN"), "{text}");
    for n in 1..=10 {
        assert!(!text.contains(&secret(n)), "{text}");
        assert!(!text.contains(&token(n)), "{text}");
    }
    assert!(!text.contains("DO-NOT-LOG"), "{text}");
}

#[test]
fn a_refresh_lost_with_its_runtime_does_not_block_the_next_one() {
    let (clock, fake, cache) = setup(Behaviour::Succeed(Some(HOUR)));
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    };
    let first = runtime();
    first.block_on(async { cache.provide_credentials().await.unwrap() });
    clock.advance(HOUR - 4 * MIN);
    // Spawns a background refresh on `first`, which is dropped before the task ever runs.
    let got = first.block_on(async { poll_once(cache.provide_credentials()) });
    assert_eq!(akid(got.unwrap()), "AKID1");
    drop(first);
    assert_eq!(fake.fetches(), 1);

    let second = runtime();
    second.block_on(async {
        assert_eq!(akid(cache.provide_credentials().await), "AKID1");
        settle().await;
        assert_eq!(fake.fetches(), 2, "a new refresh started");
        assert_eq!(akid(cache.provide_credentials().await), "AKID2");
    });
}

#[test]
fn every_thread_gets_the_same_credentials() {
    let (_, fake, cache) = setup(Behaviour::Succeed(Some(HOUR)));
    let first = block_on(cache.provide_credentials()).unwrap();
    let others: Vec<Credentials> = (0..20)
        .map(|_| {
            let cache = cache.clone();
            std::thread::spawn(move || block_on(cache.provide_credentials()).unwrap())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    for c in &others {
        assert_eq!(c.access_key_id(), "AKID1");
        assert_eq!(c.secret_access_key(), secret(1));
        assert_eq!(c.session_token(), Some(token(1).as_str()));
        assert_eq!(c.expiry(), first.expiry());
        assert_eq!(c.provider_name(), "fake");
    }
    assert_eq!(fake.fetches(), 1);
}
