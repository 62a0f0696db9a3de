//! [`CredentialsCache`]: a lock-free, single-flight, refresh-ahead cache in front of any source,
//! following the AWS SDKs' 2026 credential-refresh rules.
//!
//! # How it behaves
//!
//! When credentials are stored, their *lifetime* is their expiry `E` less the time they were
//! obtained (the injected [`TimeSource`](crate::TimeSource)'s now when the load finished). The
//! lifetime picks the *advisory window* `A`, as the SDKs do:
//!
//! | lifetime | advisory window `A` |
//! | --- | --- |
//! | under 20 min | 5 min |
//! | 20 min up to (not including) 90 min | 15 min |
//! | 90 min or more | 60 min |
//!
//! The *mandatory window* `M` is 1 min (never more than `A`). A random *jitter* `J`, drawn anew
//! for each set of credentials between zero and a fifth of `A` (5 min: up to 1 min; 15 min: up to
//! 3 min; 60 min: up to 12 min), moves the start of the background refresh later inside the
//! advisory window, so that a fleet which got its credentials at the same moment does not refresh
//! in step. A refresh never starts before `E - A`.
//!
//! | when (`now` by the injected clock) | what a caller gets | refresh |
//! | --- | --- | --- |
//! | `now < E - A + J` | the cached value (one atomic load + one time check, no allocation) | none |
//! | up to `E - M` (advisory) | the cached value, immediately | one in the background (`tokio::spawn`) unless one is running or a retry is not due yet |
//! | up to `E` (mandatory) | waits for the refresh (at most `load_timeout`); if it fails, the old, still valid value | joined, or started unless a retry is not due yet (then the cached value at once) |
//! | `now >= E`, or nothing cached | waits for the refresh (at most `load_timeout`) | joined or started; no retry delay |
//!
//! Defaults: the advisory window by lifetime as above, jitter up to a fifth of it, mandatory
//! window 1 min, `load_timeout` 5 s, retry delay 5–10 min. Each can be changed on the
//! [builder](CredentialsCacheBuilder). Credentials without an expiry are never refreshed on a
//! timer (only after [`invalidate`](ProvideCredentials::invalidate), see below).
//!
//! **Single flight.** At most one call to the inner source is in flight at any time; every caller
//! that needs to wait joins it. Each fetch is itself bounded by `load_timeout`, so a hanging source
//! cannot block later refreshes.
//!
//! **Failures.** A failed refresh is logged (`warn`) and, while the cached credentials are valid,
//! they are still served, also in the mandatory window (a caller there waits for the failing
//! refresh, then gets them). The next refresh ahead of expiry waits a uniform random 5–10 min
//! ([`CredentialsCacheBuilder::retry_backoff`]); meanwhile callers get the cached value without
//! waiting. When nothing valid is cached (the first load, or after expiry) there is no delay:
//! every call starts or joins one fetch, so the first call after the source is back recovers;
//! single flight keeps the source at one fetch at a time, and a source's own retries pace each
//! fetch. Expired credentials are never handed out: [`CredentialsError::Expired`] names the
//! refresh failure instead. When a source hands out credentials already inside their advisory
//! window (lifetime under 5 min), background fetches are spaced by 1 s.
//!
//! **Errors that cannot recover.** A [`CredentialsError::NonRecoverable`] (`AccessDenied`,
//! `InvalidIdentityToken`, an expired SSO session...) is not put on the 5–10 min retry timer and
//! is not hidden behind the cached credentials once they are in the mandatory window: callers
//! waiting for that refresh get the error, and for the next 1–5 s (uniform random) every caller
//! that needs a refresh (mandatory window, expired, nothing cached) gets it at once, without a
//! wait and without contacting the source; after that, the next such caller tries again (so a
//! fix, such as a renewed login, is picked up within seconds). In the advisory window callers
//! keep getting the valid cached credentials, and the background refresh is tried again once
//! those seconds are over (as the Go SDK does; the source is asked at most once per 1–5 s).
//!
//! **Invalidation.** [`ProvideCredentials::invalidate`] marks the cached credentials stale: the
//! next call refreshes as in the mandatory window (callers wait for one shared fetch; if it fails
//! they get the old credentials while valid, and the retry delay applies). Guards against storms
//! of invalidations (each of many requests refused at once calls it):
//!
//! - an invalidation names the refused credentials, and it is ignored unless they are the cached
//!   ones (compared with [`Credentials::ptr_eq`]): a refusal of a request signed before a refresh
//!   never drops the new credentials;
//! - invalidating credentials already marked stale does nothing;
//! - at most one invalidation per 10 s is acted on (a source that keeps handing out refused
//!   credentials costs one fetch per 10 s, not one per request);
//! - an invalidation does not cancel a retry delay after a failed refresh.
//!
//! The cache forwards an invalidation it acts on to its inner source (naming the credentials that
//! source gave), so caches further in are invalidated too.
//!
//! **Where this differs from the SDKs.** Expired credentials are never served (the SDKs serve
//! them after a failed refresh for static stability; a request signed with them fails anyway,
//! and here the error says why). A non-recoverable error found by a background refresh in the
//! advisory window is logged, not returned (the Go SDK returns it to the caller that started the
//! refresh although valid credentials are cached). An invalidation compares the refused
//! credentials by identity, not by access key id (a source may hand out the same key again), and
//! is acted on at most once per 10 s (the SDKs have no such limit).
//!
//! **Two clocks.** Expiry comparisons use the injected [`TimeSource`](crate::TimeSource) (default
//! [`SystemClock`]); waits (the load timeout), the retry delay, the 1–5 s of a non-recoverable
//! error and the 10 s between invalidations use `tokio::time`, so tests drive them with
//! `#[tokio::test(start_paused = true)]` and `tokio::time::advance`. A test that moves across a
//! refresh window advances the [`ManualClock`](crate::ManualClock); a test that retries after a
//! failure ahead of expiry also advances tokio time past the retry delay.
//!
//! **Runtime.** Background refreshes and timeouts need a tokio runtime with time enabled
//! (`enable_time` / `enable_all`, as for any tokio timer). When the cache is used outside any tokio
//! runtime, the caller that would have started a refresh runs it inline instead, without a timeout,
//! rather than panicking (and callers joining it wait without a timeout too).
//!
//! **Many threads.** A warm call clones an `Arc`; were every thread to clone the same one, their
//! cores would fight over its reference count. So the cache keeps one equal copy of the
//! credentials per core (up to 16, in separate allocations, each zeroized when dropped) and each
//! thread clones its own: the warm path costs the same on one thread as on several. Credentials
//! from different threads are therefore equal but not always [`Credentials::ptr_eq`] (an
//! invalidation naming any of the copies matches).
//!
//! Logs (`tracing`, target `sigv4_credentials::cache`) name the provider, the access key id and the
//! expiry, never the secret or the session token.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use tokio::sync::watch;

use crate::{
    Credentials, CredentialsError, ProvideCredentials, ProvideCredentialsFuture, SharedTimeSource,
    SystemClock,
};

const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_BLOCKING_WINDOW: Duration = Duration::from_secs(60);
const DEFAULT_RETRY_MIN: Duration = Duration::from_secs(5 * 60);
const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(10 * 60);
/// The spacing of background fetches when a source hands out credentials already due.
const DUE_SPACING: Duration = Duration::from_secs(1);
/// How long a non-recoverable error is answered without asking the source again.
const NON_RECOVERABLE_MIN: Duration = Duration::from_secs(1);
const NON_RECOVERABLE_MAX: Duration = Duration::from_secs(5);
/// At most one invalidation is acted on per this long.
const INVALIDATION_SPACING: Duration = Duration::from_secs(10);
/// The default jitter is up to `advisory window / JITTER_DIVISOR`.
const JITTER_DIVISOR: u32 = 5;
const DEFAULT_NAME: &str = "credentials cache";

const MIN: Duration = Duration::from_secs(60);

/// The advisory window the SDKs use for credentials that live `lifetime` from when they were
/// obtained: 5 min under 20 min, 15 min from 20 min up to 90 min, 60 min from 90 min on.
pub fn advisory_window(lifetime: Duration) -> Duration {
    if lifetime < 20 * MIN {
        5 * MIN
    } else if lifetime < 90 * MIN {
        15 * MIN
    } else {
        60 * MIN
    }
}

/// A cache in front of any [`ProvideCredentials`] source: lock-free reads, one refresh in flight,
/// refreshed in the background ahead of expiry, never hands out expired credentials.
///
/// Cheap to clone (an `Arc` inside); clones share the cached value. See the
/// [module documentation](self) for the exact timing rules.
///
/// ```
/// # async fn demo() -> Result<(), sigv4_credentials::CredentialsError> {
/// use std::time::Duration;
/// use sigv4_credentials::{Credentials, CredentialsCache, ProvideCredentials};
///
/// let source = Credentials::new("AKIDEXAMPLE", "secret");
/// let cache = CredentialsCache::builder()
///     .load_timeout(Duration::from_secs(2))
///     .build(source);
/// let creds = cache.provide_credentials().await?;
/// assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct CredentialsCache {
    shared: Arc<Shared>,
}

struct Shared {
    inner: Box<dyn ProvideCredentials>,
    name: Cow<'static, str>,
    time_source: SharedTimeSource,
    load_timeout: Duration,
    /// `None`: by lifetime ([`advisory_window`]).
    refresh_window: Option<Duration>,
    /// `None`: up to a fifth of the advisory window.
    refresh_jitter: Option<Duration>,
    blocking_window: Duration,
    retry_min: Duration,
    retry_max: Duration,
    timeout_context: Option<TimeoutContext>,
    /// How many copies of the credentials an entry keeps (see `Entry::copies`).
    shards: usize,
    /// The cached value; read lock-free.
    current: ArcSwapOption<Entry>,
    /// Refresh bookkeeping; only taken on the slow path.
    state: Mutex<State>,
}

/// The cached credentials with their refresh times, computed once when stored.
struct Entry {
    /// As the source gave them.
    credentials: Credentials,
    /// Equal copies in separate allocations (the first is `credentials` itself), so that threads
    /// handing out clones do not all bump one shared reference count (a contended cache line
    /// would make every call slower as threads are added). A power of two in length.
    copies: Box<[Credentials]>,
    /// `None`: no expiry and not invalidated, never refreshed.
    times: Option<Times>,
    /// Marked stale by [`ProvideCredentials::invalidate`].
    invalidated: bool,
}

impl Entry {
    /// A clone for the calling thread, from that thread's copy.
    fn hand_out(&self) -> Credentials {
        self.copies[thread_slot() & (self.copies.len() - 1)].clone()
    }

    /// Whether `credentials` are (a clone of) one of this entry's copies.
    fn holds(&self, credentials: &Credentials) -> bool {
        self.copies.iter().any(|c| c.ptr_eq(credentials))
    }

    /// The same credentials, due for a refresh that callers wait for.
    fn invalidated(&self) -> Entry {
        Entry {
            credentials: self.credentials.clone(),
            copies: self.copies.clone(),
            times: Some(Times {
                refresh_at: UNIX_EPOCH,
                wait_at: UNIX_EPOCH,
                expiry: self.credentials.expiry(),
            }),
            invalidated: true,
        }
    }

    /// Still valid, and outside the mandatory window.
    fn before_mandatory(&self, now: SystemTime) -> bool {
        match &self.times {
            None => true,
            Some(t) => now < t.wait_at && !self.credentials.is_expired_at(now),
        }
    }
}

/// A small number fixed per thread (threads are numbered in the order they first ask).
fn thread_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    SLOT.try_with(|slot| *slot).unwrap_or(0)
}

#[derive(Clone, Copy)]
struct Times {
    /// From here on, a background refresh starts.
    refresh_at: SystemTime,
    /// From here on, callers wait for the refresh.
    wait_at: SystemTime,
    /// `None` for credentials without an expiry that were invalidated.
    expiry: Option<SystemTime>,
}

type Outcome = Result<Credentials, Arc<CredentialsError>>;

/// A refresh in flight.
struct Flight {
    id: u64,
    rx: watch::Receiver<Option<Outcome>>,
    /// When its own load timeout ends (tokio time); `None` without a runtime (no timeout).
    deadline: Option<tokio::time::Instant>,
}

impl State {
    /// Forgets a refresh that can no longer help a new caller: its task was dropped without
    /// running (a runtime shutting down), or its load timeout has passed, so whoever joined it
    /// has been answered with a timeout already and it is about to give up itself. A caller
    /// after that starts a fresh refresh instead of joining a dead one.
    fn drop_stale_flight(&mut self) {
        let stale = match &self.in_flight {
            Some(flight) => {
                flight.rx.has_changed().is_err()
                    || flight
                        .deadline
                        .is_some_and(|d| tokio::time::Instant::now() >= d)
            }
            None => false,
        };
        if stale {
            self.in_flight = None;
        }
    }

    /// Clears `in_flight` if it is still the refresh numbered `id`.
    fn finish_flight(&mut self, id: u64) {
        if self.in_flight.as_ref().is_some_and(|f| f.id == id) {
            self.in_flight = None;
        }
    }

    /// The last non-recoverable error, while it is still answered without asking the source.
    fn non_recoverable(&self) -> Option<&Arc<CredentialsError>> {
        match &self.non_recoverable {
            Some((error, until)) if tokio::time::Instant::now() < *until => Some(error),
            _ => None,
        }
    }
}

#[derive(Default)]
struct State {
    /// The refresh in flight, if any: its result is published here.
    in_flight: Option<Flight>,
    /// Numbers refreshes, so a late one never clears a newer one's `in_flight`.
    next_flight: u64,
    /// No refresh ahead of expiry before this (tokio time).
    next_attempt: Option<tokio::time::Instant>,
    /// The last refresh failed with this non-recoverable error; answered until the instant.
    non_recoverable: Option<(Arc<CredentialsError>, tokio::time::Instant)>,
    /// When an invalidation was last acted on (tokio time).
    last_invalidation: Option<tokio::time::Instant>,
}

enum Phase {
    /// Nothing to do.
    Fresh,
    /// Refresh in the background; serve the cached value.
    Advisory,
    /// Wait for the refresh; the cached value is still valid.
    Mandatory,
    /// Nothing valid cached.
    Empty,
}

type RefreshFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What a caller on the slow path does.
enum Decision {
    Serve(Credentials),
    Fail(CredentialsError),
    Wait {
        rx: watch::Receiver<Option<Outcome>>,
        /// Set when there is no runtime to spawn on: the caller drives the refresh itself.
        run_inline: Option<RefreshFuture>,
        /// The cached value at decision time, served if the refresh fails while it is valid.
        fallback: Option<Arc<Entry>>,
    },
}

/// A uniform random duration in `min..=max` (millisecond steps).
fn uniform(min: Duration, max: Duration) -> Duration {
    let lo = u64::try_from(min.as_millis()).unwrap_or(u64::MAX);
    let hi = u64::try_from(max.as_millis()).unwrap_or(u64::MAX).max(lo);
    Duration::from_millis(fastrand::u64(lo..=hi))
}

impl CredentialsCache {
    /// A cache with the default settings (see [`CredentialsCache::builder`]).
    pub fn new(inner: impl ProvideCredentials + 'static) -> Self {
        Self::builder().build(inner)
    }

    /// Starts a builder: load timeout 5 s, advisory window by lifetime (5, 15 or 60 min) with a
    /// jitter of up to a fifth of it, mandatory window 1 min, retry delay 5–10 min after a failed
    /// refresh, the system clock.
    pub fn builder() -> CredentialsCacheBuilder {
        CredentialsCacheBuilder::default()
    }

    fn slow_path(&self) -> ProvideCredentialsFuture<'_> {
        match self.decide() {
            Decision::Serve(credentials) => ProvideCredentialsFuture::ready(Ok(credentials)),
            Decision::Fail(error) => ProvideCredentialsFuture::ready(Err(error)),
            Decision::Wait {
                rx,
                run_inline,
                fallback,
            } => ProvideCredentialsFuture::new(self.wait(rx, run_inline, fallback)),
        }
    }

    /// Decides under the state lock, so that the view of `current` and `in_flight` is consistent
    /// (a refresh stores its result and clears `in_flight` under the same lock).
    fn decide(&self) -> Decision {
        let shared = &self.shared;
        let mut state = shared.lock_state();
        state.drop_stale_flight();
        let entry = shared.current.load_full();
        let now = shared.time_source.now();
        let phase = match &entry {
            None => Phase::Empty,
            Some(entry) => match &entry.times {
                None => Phase::Fresh,
                Some(t) if now < t.refresh_at => Phase::Fresh,
                Some(t) if now < t.wait_at => Phase::Advisory,
                Some(t) if t.expiry.is_none_or(|e| now < e) => Phase::Mandatory,
                Some(_) => Phase::Empty,
            },
        };
        match (phase, entry) {
            (Phase::Fresh, Some(entry)) => Decision::Serve(entry.hand_out()),
            (Phase::Advisory, Some(entry)) => {
                if state.in_flight.is_none()
                    && retry_due(&state)
                    && state.non_recoverable().is_none()
                {
                    tracing::debug!(
                        provider = entry.credentials.provider_name(),
                        access_key_id = entry.credentials.access_key_id(),
                        expiry = %fmt_expiry(entry.credentials.expiry()),
                        "credentials in their advisory window; refreshing in the background"
                    );
                    let (rx, run_inline) = self.start(&mut state);
                    if let Some(run_inline) = run_inline {
                        // No runtime to refresh in the background: this caller refreshes inline.
                        return Decision::Wait {
                            rx,
                            run_inline: Some(run_inline),
                            fallback: Some(entry),
                        };
                    }
                }
                Decision::Serve(entry.hand_out())
            }
            (Phase::Mandatory, Some(entry)) => {
                if let Some(flight) = &state.in_flight {
                    let rx = flight.rx.clone();
                    return Decision::Wait {
                        rx,
                        run_inline: None,
                        fallback: Some(entry),
                    };
                }
                if !retry_due(&state) {
                    // A refresh failed a short while ago: do not hammer the source, serve what
                    // is valid.
                    return Decision::Serve(entry.hand_out());
                }
                if let Some(error) = state.non_recoverable() {
                    return Decision::Fail(clone_error(error));
                }
                tracing::debug!(
                    provider = entry.credentials.provider_name(),
                    access_key_id = entry.credentials.access_key_id(),
                    expiry = %fmt_expiry(entry.credentials.expiry()),
                    invalidated = entry.invalidated,
                    "credentials in their mandatory window or invalidated; refreshing"
                );
                let (rx, run_inline) = self.start(&mut state);
                Decision::Wait {
                    rx,
                    run_inline,
                    fallback: Some(entry),
                }
            }
            (_, entry) => {
                let fallback = entry.filter(|e| e.times.is_some());
                if let Some(flight) = &state.in_flight {
                    let rx = flight.rx.clone();
                    return Decision::Wait {
                        rx,
                        run_inline: None,
                        fallback,
                    };
                }
                if let Some(error) = state.non_recoverable() {
                    return Decision::Fail(clone_error(error));
                }
                match &fallback {
                    Some(entry) => tracing::debug!(
                        provider = entry.credentials.provider_name(),
                        access_key_id = entry.credentials.access_key_id(),
                        expiry = %fmt_expiry(entry.credentials.expiry()),
                        "credentials expired; refreshing"
                    ),
                    None => tracing::debug!(provider = %shared.name, "loading credentials"),
                }
                let (rx, run_inline) = self.start(&mut state);
                Decision::Wait {
                    rx,
                    run_inline,
                    fallback,
                }
            }
        }
    }

    /// Starts a refresh (the caller holds the state lock and has checked that none is in flight).
    /// Returns the receiver of its outcome, and the refresh itself when there is no runtime to
    /// spawn it on.
    fn start(
        &self,
        state: &mut State,
    ) -> (watch::Receiver<Option<Outcome>>, Option<RefreshFuture>) {
        let (tx, rx) = watch::channel(None);
        let id = state.next_flight;
        state.next_flight = state.next_flight.wrapping_add(1);
        let handle = tokio::runtime::Handle::try_current();
        state.in_flight = Some(Flight {
            id,
            rx: rx.clone(),
            deadline: handle
                .is_ok()
                .then(|| tokio::time::Instant::now() + self.shared.load_timeout),
        });
        match handle {
            Ok(handle) => {
                drop(handle.spawn(refresh(Arc::clone(&self.shared), tx, id, true)));
                (rx, None)
            }
            Err(_) => (
                rx,
                Some(Box::pin(refresh(Arc::clone(&self.shared), tx, id, false))),
            ),
        }
    }

    async fn wait(
        &self,
        mut rx: watch::Receiver<Option<Outcome>>,
        run_inline: Option<RefreshFuture>,
        fallback: Option<Arc<Entry>>,
    ) -> Result<Credentials, CredentialsError> {
        let shared = &self.shared;
        let outcome = match run_inline {
            Some(run) => {
                run.await;
                received(&mut rx).await
            }
            // Joined a refresh that another caller runs inline, outside any runtime: no timer.
            None if tokio::runtime::Handle::try_current().is_err() => received(&mut rx).await,
            None => match tokio::time::timeout(shared.load_timeout, received(&mut rx)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(Arc::new(shared.timeout_error(fallback.as_deref()))),
            },
        };
        let error = match outcome {
            Ok(credentials) => return Ok(credentials),
            Err(error) => error,
        };
        let Some(entry) = fallback else {
            return Err(clone_error(&error));
        };
        let credentials = &entry.credentials;
        let now = shared.time_source.now();
        if error.is_non_recoverable() && !entry.before_mandatory(now) {
            // Not hidden behind the cached credentials once they are due.
            return Err(clone_error(&error));
        }
        if !credentials.is_expired_at(now) {
            tracing::debug!(
                provider = credentials.provider_name(),
                access_key_id = credentials.access_key_id(),
                expiry = %fmt_expiry(credentials.expiry()),
                "refresh failed; serving the cached credentials while they are valid"
            );
            return Ok(entry.hand_out());
        }
        if matches!(
            *error,
            CredentialsError::Timeout { .. } | CredentialsError::NonRecoverable { .. }
        ) {
            return Err(clone_error(&error));
        }
        Err(CredentialsError::Expired {
            provider: Cow::Owned(credentials.provider_name().to_owned()),
            message: format!(
                "the cached credentials (access key id {}) expired at {} and the last refresh failed: {error}",
                credentials.access_key_id(),
                fmt_expiry(credentials.expiry()),
            ),
        })
    }
}

/// Waits for the outcome of a refresh; a refresh that ended without one (its task was cancelled,
/// e.g. at runtime shutdown) counts as a failure.
async fn received(rx: &mut watch::Receiver<Option<Outcome>>) -> Outcome {
    match rx.wait_for(Option::is_some).await {
        Ok(value) => match &*value {
            Some(outcome) => outcome.clone(),
            None => Err(Arc::new(abandoned())),
        },
        Err(_) => Err(Arc::new(abandoned())),
    }
}

fn abandoned() -> CredentialsError {
    CredentialsError::failed(
        DEFAULT_NAME,
        "the credentials refresh was cancelled before it finished (runtime shutting down?)",
    )
}

/// One fetch from the inner source; stores the result and publishes it to the waiters.
async fn refresh(
    shared: Arc<Shared>,
    tx: watch::Sender<Option<Outcome>>,
    id: u64,
    with_timeout: bool,
) {
    let mut guard = FlightGuard {
        shared: &shared,
        id,
        finished: false,
    };
    let fetched = if with_timeout {
        let mut fetch = pin!(shared.inner.provide_credentials());
        match tokio::time::timeout(shared.load_timeout, &mut fetch).await {
            Ok(result) => result,
            // Built while the fetch is still alive, so the timeout context can say where it hung.
            Err(_) => Err(shared.timeout_error(None)),
        }
    } else {
        shared.inner.provide_credentials().await
    };
    let now = shared.time_source.now();
    let fetched = fetched.and_then(|credentials| {
        if credentials.is_expired_at(now) {
            Err(CredentialsError::failed(
                Cow::Owned(credentials.provider_name().to_owned()),
                format!(
                    "the source returned credentials (access key id {}) that had already expired at {}; check the clock of this machine and of the source",
                    credentials.access_key_id(),
                    fmt_expiry(credentials.expiry())
                ),
            ))
        } else {
            Ok(credentials)
        }
    });
    let outcome = {
        let mut state = shared.lock_state();
        let tokio_now = tokio::time::Instant::now();
        let outcome = match fetched {
            Ok(credentials) => {
                let entry = shared.entry(credentials.clone(), now);
                if let Some(t) = &entry.times {
                    tracing::debug!(
                        provider = credentials.provider_name(),
                        access_key_id = credentials.access_key_id(),
                        expiry = %fmt_expiry(credentials.expiry()),
                        refresh_from = %fmt_expiry(Some(t.refresh_at)),
                        "credentials loaded"
                    );
                } else {
                    tracing::debug!(
                        provider = credentials.provider_name(),
                        access_key_id = credentials.access_key_id(),
                        "credentials loaded (no expiry)"
                    );
                }
                // Credentials that are already due for a refresh (short-lived) would otherwise
                // trigger a fetch per call: space those fetches.
                let due = matches!(&entry.times, Some(t) if t.refresh_at <= now);
                shared.current.store(Some(Arc::new(entry)));
                state.next_attempt = due.then(|| tokio_now + DUE_SPACING);
                state.non_recoverable = None;
                Ok(credentials)
            }
            Err(error) if error.is_non_recoverable() => {
                let error = Arc::new(error);
                let answered_for = uniform(NON_RECOVERABLE_MIN, NON_RECOVERABLE_MAX);
                state.non_recoverable = Some((Arc::clone(&error), tokio_now + answered_for));
                state.next_attempt = None;
                tracing::warn!(
                    provider = %shared.name,
                    error = %error,
                    "refreshing credentials failed, and retrying cannot help: the error is returned to callers once the cached credentials (if any) are due"
                );
                Err(error)
            }
            Err(error) => {
                state.non_recoverable = None;
                let holding_valid = shared
                    .current
                    .load_full()
                    .is_some_and(|e| !e.credentials.is_expired_at(now));
                if holding_valid {
                    let delay = uniform(shared.retry_min, shared.retry_max);
                    state.next_attempt = Some(tokio_now + delay);
                    tracing::warn!(
                        provider = %shared.name,
                        error = %error,
                        retry_in = ?delay,
                        "refreshing credentials failed; serving the cached credentials while they are valid"
                    );
                } else {
                    state.next_attempt = None;
                    if error.is_not_configured()
                        || matches!(error, CredentialsError::NoneFound { .. })
                    {
                        tracing::debug!(provider = %shared.name, error = %error, "no credentials");
                    } else {
                        tracing::warn!(
                            provider = %shared.name,
                            error = %error,
                            "refreshing credentials failed; nothing valid is cached, the next call tries again"
                        );
                    }
                }
                Err(Arc::new(error))
            }
        };
        state.finish_flight(id);
        guard.finished = true;
        outcome
    };
    tx.send_replace(Some(outcome));
}

/// Clears `in_flight` if a refresh is dropped before it finishes, so that the next caller can
/// start another one.
struct FlightGuard<'a> {
    shared: &'a Shared,
    id: u64,
    finished: bool,
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.lock_state().finish_flight(self.id);
        }
    }
}

impl Shared {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry for credentials obtained at `obtained`.
    fn entry(&self, credentials: Credentials, obtained: SystemTime) -> Entry {
        let times = credentials.expiry().map(|expiry| {
            let lifetime = expiry.duration_since(obtained).unwrap_or(Duration::ZERO);
            let window = self
                .refresh_window
                .unwrap_or_else(|| advisory_window(lifetime));
            let wait_at = earlier(expiry, self.blocking_window.min(window));
            let max_jitter = self
                .refresh_jitter
                .unwrap_or_else(|| window / JITTER_DIVISOR);
            let jitter = uniform(Duration::ZERO, max_jitter);
            let refresh_at = earlier(expiry, window)
                .checked_add(jitter)
                .unwrap_or(wait_at)
                .min(wait_at);
            Times {
                refresh_at,
                wait_at,
                expiry: Some(expiry),
            }
        });
        let copies = std::iter::once(credentials.clone())
            .chain((1..self.shards).map(|_| credentials.with_expiry(credentials.expiry())))
            .collect();
        Entry {
            credentials,
            copies,
            times,
            invalidated: false,
        }
    }

    fn timeout_error(&self, fallback: Option<&Entry>) -> CredentialsError {
        let hint = match fallback {
            Some(entry) => format!(
                "the cached credentials (access key id {}) expired at {}; check that the source is reachable, or raise the limit with CredentialsCache::builder().load_timeout(..)",
                entry.credentials.access_key_id(),
                fmt_expiry(entry.credentials.expiry())
            ),
            None => {
                let context = self
                    .timeout_context
                    .as_ref()
                    .and_then(|c| (c.0)())
                    .map(|c| c + "; ")
                    .unwrap_or_default();
                context + "check that the source is reachable (for IMDS inside a container: the instance's metadata hop limit must be at least 2), or raise the limit with CredentialsCache::builder().load_timeout(..)"
            }
        };
        CredentialsError::Timeout {
            provider: match fallback {
                Some(entry) => Cow::Owned(entry.credentials.provider_name().to_owned()),
                None => self.name.clone(),
            },
            after: self.load_timeout,
            hint,
        }
    }

    /// Marks the cached credentials stale (see the module docs for the guards). Returns the
    /// credentials the inner source gave, to forward the invalidation with, when it acted.
    fn invalidate(&self, refused: &Credentials) -> Option<Credentials> {
        let mut state = self.lock_state();
        let entry = self.current.load_full()?;
        let credentials = &entry.credentials;
        if !entry.holds(refused) {
            tracing::debug!(
                provider = credentials.provider_name(),
                refused = refused.access_key_id(),
                cached = credentials.access_key_id(),
                "invalidation ignored: the refused credentials were replaced already"
            );
            return None;
        }
        if entry.invalidated {
            return None;
        }
        let now = tokio::time::Instant::now();
        if let Some(last) = state.last_invalidation {
            if now < last + INVALIDATION_SPACING {
                tracing::debug!(
                    provider = credentials.provider_name(),
                    access_key_id = credentials.access_key_id(),
                    "invalidation ignored: one was acted on less than 10 s ago"
                );
                return None;
            }
        }
        state.last_invalidation = Some(now);
        tracing::info!(
            provider = credentials.provider_name(),
            access_key_id = credentials.access_key_id(),
            expiry = %fmt_expiry(credentials.expiry()),
            "credentials refused by a service; the next call refreshes them"
        );
        self.current.store(Some(Arc::new(entry.invalidated())));
        Some(credentials.clone())
    }
}

/// Whether a refresh ahead of expiry may start (the retry delay after the last attempt is over).
fn retry_due(state: &State) -> bool {
    match state.next_attempt {
        None => true,
        Some(at) => tokio::time::Instant::now() >= at,
    }
}

fn earlier(t: SystemTime, by: Duration) -> SystemTime {
    t.checked_sub(by).unwrap_or(t)
}

fn fmt_expiry(expiry: Option<SystemTime>) -> String {
    match expiry {
        Some(t) => sigv4_core::time::format_rfc3339(t),
        None => "never".to_owned(),
    }
}

/// A copy of an error for each waiter of a shared refresh (`CredentialsError` is not `Clone`:
/// a `Failed` cause is kept behind the shared original).
fn clone_error(error: &Arc<CredentialsError>) -> CredentialsError {
    // A cause, when there is one, is the original's, reached through the shared error.
    let shared_cause = |cause: &Option<crate::BoxError>| {
        cause
            .as_ref()
            .map(|_| Box::new(SharedCause(Arc::clone(error))) as crate::BoxError)
    };
    match &**error {
        CredentialsError::NotConfigured { provider, reason } => CredentialsError::NotConfigured {
            provider: provider.clone(),
            reason: reason.clone(),
        },
        CredentialsError::Failed {
            provider,
            message,
            cause,
        } => CredentialsError::Failed {
            provider: provider.clone(),
            message: message.clone(),
            cause: shared_cause(cause),
        },
        CredentialsError::NonRecoverable {
            provider,
            message,
            cause,
        } => CredentialsError::NonRecoverable {
            provider: provider.clone(),
            message: message.clone(),
            cause: shared_cause(cause),
        },
        CredentialsError::Timeout {
            provider,
            after,
            hint,
        } => CredentialsError::Timeout {
            provider: provider.clone(),
            after: *after,
            hint: hint.clone(),
        },
        CredentialsError::Expired { provider, message } => CredentialsError::Expired {
            provider: provider.clone(),
            message: message.clone(),
        },
        CredentialsError::NoneFound { attempts } => CredentialsError::NoneFound {
            attempts: attempts.clone(),
        },
    }
}

/// The cause of a shared `Failed` error, seen through the `Arc`.
struct SharedCause(Arc<CredentialsError>);

impl SharedCause {
    fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match &*self.0 {
            CredentialsError::Failed {
                cause: Some(cause), ..
            }
            | CredentialsError::NonRecoverable {
                cause: Some(cause), ..
            } => Some(cause.as_ref()),
            _ => None,
        }
    }
}

impl fmt::Debug for SharedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cause() {
            Some(cause) => fmt::Debug::fmt(cause, f),
            None => f.write_str("SharedCause"),
        }
    }
}

impl fmt::Display for SharedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cause() {
            Some(cause) => fmt::Display::fmt(cause, f),
            None => Ok(()),
        }
    }
}

impl std::error::Error for SharedCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause().and_then(|cause| cause.source())
    }
}

impl ProvideCredentials for CredentialsCache {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        // Fast path: one atomic load (no reference count touched) and one time check.
        if let Some(entry) = &*self.shared.current.load() {
            match &entry.times {
                None => return ProvideCredentialsFuture::ready(Ok(entry.hand_out())),
                Some(times) if self.shared.time_source.now() < times.refresh_at => {
                    return ProvideCredentialsFuture::ready(Ok(entry.hand_out()));
                }
                Some(_) => {}
            }
        }
        self.slow_path()
    }

    /// Marks the cached credentials stale so that the next call refreshes them (one shared
    /// fetch, callers wait for it): only if `refused` are the cached ones, at most once per 10 s;
    /// forwarded to the inner source (naming the credentials it gave).
    fn invalidate(&self, refused: &Credentials) {
        if let Some(given) = self.shared.invalidate(refused) {
            self.shared.inner.invalidate(&given);
        }
    }
}

impl fmt::Debug for CredentialsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.shared;
        let current = shared.current.load();
        let refreshing = shared.lock_state().in_flight.is_some();
        // The inner source is left out: not every source's `Debug` is known to be free of secrets.
        f.debug_struct("CredentialsCache")
            .field("name", &shared.name)
            // `Credentials`' Debug redacts the secret and the token.
            .field("current", &current.as_ref().map(|e| &e.credentials))
            .field(
                "invalidated",
                &current.as_ref().is_some_and(|e| e.invalidated),
            )
            .field("refreshing", &refreshing)
            .field("load_timeout", &shared.load_timeout)
            .field("refresh_window", &shared.refresh_window)
            .field("refresh_jitter", &shared.refresh_jitter)
            .field("blocking_window", &shared.blocking_window)
            .field("retry_backoff", &(shared.retry_min..=shared.retry_max))
            .finish_non_exhaustive()
    }
}

/// Builds a [`CredentialsCache`]; start with [`CredentialsCache::builder`].
#[derive(Debug, Clone)]
pub struct CredentialsCacheBuilder {
    name: Cow<'static, str>,
    time_source: Option<SharedTimeSource>,
    load_timeout: Duration,
    refresh_window: Option<Duration>,
    refresh_jitter: Option<Duration>,
    blocking_window: Duration,
    retry_min: Duration,
    retry_max: Duration,
    timeout_context: Option<TimeoutContext>,
}

/// Says what a load was doing when it timed out (the chain: which source it was waiting on).
#[derive(Clone)]
pub(crate) struct TimeoutContext(pub(crate) Arc<dyn Fn() -> Option<String> + Send + Sync>);

impl fmt::Debug for TimeoutContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TimeoutContext")
    }
}

impl Default for CredentialsCacheBuilder {
    fn default() -> Self {
        Self {
            name: Cow::Borrowed(DEFAULT_NAME),
            time_source: None,
            load_timeout: DEFAULT_LOAD_TIMEOUT,
            refresh_window: None,
            refresh_jitter: None,
            blocking_window: DEFAULT_BLOCKING_WINDOW,
            retry_min: DEFAULT_RETRY_MIN,
            retry_max: DEFAULT_RETRY_MAX,
            timeout_context: None,
        }
    }
}

impl CredentialsCacheBuilder {
    /// The clock for expiry comparisons (default: the system clock). Waits use `tokio::time`.
    pub fn time_source(mut self, time_source: SharedTimeSource) -> Self {
        self.time_source = Some(time_source);
        self
    }

    /// How long a caller waits for a load before [`CredentialsError::Timeout`] (default 5 s).
    /// Each fetch from the inner source is bounded by it too.
    pub fn load_timeout(mut self, timeout: Duration) -> Self {
        self.load_timeout = timeout;
        self
    }

    /// A fixed advisory window: how long before expiry a background refresh starts (plus the
    /// [jitter](Self::refresh_jitter)), whatever the credentials' lifetime. Default: chosen by
    /// lifetime, as the SDKs do ([`advisory_window`]: 5, 15 or 60 min).
    pub fn refresh_window(mut self, window: Duration) -> Self {
        self.refresh_window = Some(window);
        self
    }

    /// The largest random delay added to the start of the advisory window, drawn anew for each
    /// set of credentials (`Duration::ZERO` for none). Default: a fifth of the advisory window
    /// (1, 3 or 12 min). The refresh never starts later than the mandatory window.
    pub fn refresh_jitter(mut self, jitter: Duration) -> Self {
        self.refresh_jitter = Some(jitter);
        self
    }

    /// The mandatory window: how long before expiry callers start waiting for the refresh
    /// instead of getting the cached value right away (default 1 min; never more than the
    /// advisory window).
    pub fn blocking_window(mut self, window: Duration) -> Self {
        self.blocking_window = window;
        self
    }

    /// After a failed refresh while valid credentials are cached, the next refresh waits a
    /// uniform random delay between `min` and `max` (default 5 and 10 min); meanwhile callers get
    /// the cached credentials. (With nothing valid cached there is no delay.)
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.retry_min = min;
        self.retry_max = max.max(min);
        self
    }

    /// The name used in errors when no credentials were ever loaded (default
    /// `"credentials cache"`).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    pub(crate) fn timeout_context(mut self, context: TimeoutContext) -> Self {
        self.timeout_context = Some(context);
        self
    }

    /// Builds the cache around `inner`. Nothing is loaded until the first call.
    pub fn build(self, inner: impl ProvideCredentials + 'static) -> CredentialsCache {
        CredentialsCache {
            shared: Arc::new(Shared {
                inner: Box::new(inner),
                name: self.name,
                time_source: self.time_source.unwrap_or_else(|| Arc::new(SystemClock)),
                load_timeout: self.load_timeout,
                refresh_window: self.refresh_window,
                refresh_jitter: self.refresh_jitter,
                blocking_window: self.blocking_window,
                retry_min: self.retry_min,
                retry_max: self.retry_max,
                timeout_context: self.timeout_context,
                shards: std::thread::available_parallelism()
                    .map_or(1, |n| n.get())
                    .clamp(1, 16)
                    .next_power_of_two(),
                current: ArcSwapOption::empty(),
                state: Mutex::new(State::default()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advisory_window_follows_the_lifetime_bands() {
        let min = |m: u64| Duration::from_secs(m * 60);
        assert_eq!(advisory_window(Duration::ZERO), min(5));
        assert_eq!(advisory_window(min(15)), min(5));
        assert_eq!(advisory_window(min(20) - Duration::from_secs(1)), min(5));
        assert_eq!(advisory_window(min(20)), min(15));
        assert_eq!(advisory_window(min(60)), min(15));
        assert_eq!(advisory_window(min(90) - Duration::from_secs(1)), min(15));
        assert_eq!(advisory_window(min(90)), min(60));
        assert_eq!(advisory_window(min(12 * 60)), min(60));
    }

    #[test]
    fn uniform_stays_in_its_bounds() {
        for _ in 0..1000 {
            let d = uniform(DEFAULT_RETRY_MIN, DEFAULT_RETRY_MAX);
            assert!(
                (DEFAULT_RETRY_MIN..=DEFAULT_RETRY_MAX).contains(&d),
                "{d:?}"
            );
        }
        assert_eq!(uniform(Duration::ZERO, Duration::ZERO), Duration::ZERO);
    }
}
