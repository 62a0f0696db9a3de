//! [`CredentialsCache`]: a lock-free, single-flight, refresh-ahead cache in front of any source.
//!
//! # How it behaves
//!
//! Let `E` be the expiry of the cached credentials and `now` the time of the injected
//! [`TimeSource`](crate::TimeSource):
//!
//! | when | what a caller gets | refresh |
//! | --- | --- | --- |
//! | `now < E - refresh_window + jitter` | the cached value (one atomic load + one time check, no allocation) | none |
//! | up to `E - blocking_window` | the cached value, immediately | one background refresh (`tokio::spawn`) unless one is running or a retry is not due yet |
//! | up to `E` | waits for the refresh (at most `load_timeout`); on failure the old, still valid value | joined, or started unless a retry is not due yet |
//! | `now >= E`, or nothing cached | waits for the refresh (at most `load_timeout`) | always joined or started (no retry delay) |
//!
//! Defaults: `refresh_window` 5 min, `jitter` a random 0..=1 min drawn per credentials (so a fleet
//! does not refresh in step), `blocking_window` 1 min, `load_timeout` 5 s.
//! Credentials without an expiry are loaded once and never refreshed.
//!
//! **Single flight.** At most one call to the inner source is in flight at any time; every caller
//! that needs to wait joins it. Each fetch is itself bounded by `load_timeout`, so a hanging source
//! cannot block later refreshes.
//!
//! **Failures.** A failed refresh is logged (`warn`) and the old credentials are served while they
//! are valid. The next refresh *ahead of expiry* is not tried before a retry delay has passed: 1 s
//! after the first failure, doubling up to 30 s (configurable with
//! [`CredentialsCacheBuilder::retry_backoff`]); after a success the delay is back to its minimum
//! (and when a source hands out credentials that are already inside the refresh window, fetches
//! ahead of expiry are spaced by that minimum). Once nothing
//! valid is left to serve, there is no delay: the first call after the source is back recovers
//! (concurrent callers still share one fetch). Expired credentials are never handed out:
//! [`CredentialsError::Expired`] names the refresh failure instead.
//!
//! **Two clocks.** Expiry comparisons use the injected [`TimeSource`](crate::TimeSource) (default
//! [`SystemClock`]); waits (the load timeout) and the retry delay use `tokio::time`, so tests drive
//! them with `#[tokio::test(start_paused = true)]` and `tokio::time::advance`. A test that moves
//! across a refresh window advances the [`ManualClock`](crate::ManualClock); a test that retries
//! after a failure ahead of expiry also advances tokio time past the retry delay.
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
//! from different threads are therefore equal but not always [`Credentials::ptr_eq`].
//!
//! Logs (`tracing`, target `sigv4_credentials::cache`) name the provider, the access key id and the
//! expiry, never the secret or the session token.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use tokio::sync::watch;

use crate::{
    Credentials, CredentialsError, ProvideCredentials, ProvideCredentialsFuture, SharedTimeSource,
    SystemClock,
};

const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_REFRESH_WINDOW: Duration = Duration::from_secs(5 * 60);
const DEFAULT_REFRESH_JITTER: Duration = Duration::from_secs(60);
const DEFAULT_BLOCKING_WINDOW: Duration = Duration::from_secs(60);
const DEFAULT_MIN_BACKOFF: Duration = Duration::from_secs(1);
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
const DEFAULT_NAME: &str = "credentials cache";

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
    refresh_window: Duration,
    refresh_jitter: Duration,
    blocking_window: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
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
    /// `None`: no expiry, never refreshed.
    times: Option<Times>,
}

impl Entry {
    /// A clone for the calling thread, from that thread's copy.
    fn hand_out(&self) -> Credentials {
        self.copies[thread_slot() & (self.copies.len() - 1)].clone()
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
    expiry: SystemTime,
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
}

#[derive(Default)]
struct State {
    /// The refresh in flight, if any: its result is published here.
    in_flight: Option<Flight>,
    /// Numbers refreshes, so a late one never clears a newer one's `in_flight`.
    next_flight: u64,
    /// No refresh ahead of expiry before this (tokio time).
    next_attempt: Option<tokio::time::Instant>,
    /// The retry delay after the next failure.
    backoff: Duration,
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
    Wait {
        rx: watch::Receiver<Option<Outcome>>,
        /// Set when there is no runtime to spawn on: the caller drives the refresh itself.
        run_inline: Option<RefreshFuture>,
        /// The cached value at decision time, served if the refresh fails while it is valid.
        fallback: Option<Arc<Entry>>,
    },
}

impl CredentialsCache {
    /// A cache with the default settings (see [`CredentialsCache::builder`]).
    pub fn new(inner: impl ProvideCredentials + 'static) -> Self {
        Self::builder().build(inner)
    }

    /// Starts a builder: load timeout 5 s, refresh window 5 min, jitter up to 1 min, blocking
    /// window 1 min, retry delay 1 s doubling to 30 s, the system clock.
    pub fn builder() -> CredentialsCacheBuilder {
        CredentialsCacheBuilder::default()
    }

    fn slow_path(&self) -> ProvideCredentialsFuture<'_> {
        match self.decide() {
            Decision::Serve(credentials) => ProvideCredentialsFuture::ready(Ok(credentials)),
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
                Some(t) if now < t.expiry => Phase::Mandatory,
                Some(_) => Phase::Empty,
            },
        };
        match (phase, entry) {
            (Phase::Fresh, Some(entry)) => Decision::Serve(entry.hand_out()),
            (Phase::Advisory, Some(entry)) => {
                if state.in_flight.is_none() && retry_due(&state) {
                    tracing::debug!(
                        provider = entry.credentials.provider_name(),
                        access_key_id = entry.credentials.access_key_id(),
                        expiry = %fmt_expiry(entry.credentials.expiry()),
                        "credentials expire soon; refreshing in the background"
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
                    // A refresh failed moments ago: do not hammer the source, serve what is valid.
                    return Decision::Serve(entry.hand_out());
                }
                tracing::debug!(
                    provider = entry.credentials.provider_name(),
                    access_key_id = entry.credentials.access_key_id(),
                    expiry = %fmt_expiry(entry.credentials.expiry()),
                    "credentials expire within the blocking window; refreshing"
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
        if !credentials.is_expired_at(now) {
            tracing::debug!(
                provider = credentials.provider_name(),
                access_key_id = credentials.access_key_id(),
                expiry = %fmt_expiry(credentials.expiry()),
                "refresh failed; serving the cached credentials while they are valid"
            );
            return Ok(entry.hand_out());
        }
        if matches!(*error, CredentialsError::Timeout { .. }) {
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
                tracing::debug!(
                    provider = credentials.provider_name(),
                    access_key_id = credentials.access_key_id(),
                    expiry = %fmt_expiry(credentials.expiry()),
                    "credentials loaded"
                );
                let entry = shared.entry(credentials.clone());
                // Credentials that are already due for a refresh (short-lived) would otherwise
                // trigger a fetch per call: space those fetches by the minimum retry delay.
                let due = matches!(&entry.times, Some(t) if t.refresh_at <= now);
                shared.current.store(Some(Arc::new(entry)));
                state.backoff = shared.min_backoff;
                state.next_attempt = due.then(|| tokio_now + shared.min_backoff);
                Ok(credentials)
            }
            Err(error) => {
                let delay = state.backoff.max(shared.min_backoff);
                state.backoff = (delay * 2).min(shared.max_backoff);
                state.next_attempt = Some(tokio_now + delay);
                if error.is_not_configured() || matches!(error, CredentialsError::NoneFound { .. })
                {
                    tracing::debug!(provider = %shared.name, error = %error, "no credentials");
                } else {
                    tracing::warn!(
                        provider = %shared.name,
                        error = %error,
                        retry_in = ?delay,
                        "refreshing credentials failed"
                    );
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

    fn entry(&self, credentials: Credentials) -> Entry {
        let times = credentials.expiry().map(|expiry| {
            let wait_at = earlier(expiry, self.blocking_window);
            let jitter = if self.refresh_jitter.is_zero() {
                Duration::ZERO
            } else {
                let max = u64::try_from(self.refresh_jitter.as_millis()).unwrap_or(u64::MAX);
                Duration::from_millis(fastrand::u64(0..=max))
            };
            let refresh_at = earlier(expiry, self.refresh_window)
                .checked_add(jitter)
                .unwrap_or(wait_at)
                .min(wait_at);
            Times {
                refresh_at,
                wait_at,
                expiry,
            }
        });
        let copies = std::iter::once(credentials.clone())
            .chain((1..self.shards).map(|_| credentials.with_expiry(credentials.expiry())))
            .collect();
        Entry {
            credentials,
            copies,
            times,
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
        Some(t) => humantime::format_rfc3339_seconds(t).to_string(),
        None => "never".to_owned(),
    }
}

/// A copy of an error for each waiter of a shared refresh (`CredentialsError` is not `Clone`:
/// a `Failed` cause is kept behind the shared original).
fn clone_error(error: &Arc<CredentialsError>) -> CredentialsError {
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
            cause: cause.as_ref().map(|_| {
                Box::new(SharedCause(Arc::clone(error))) as Box<dyn std::error::Error + Send + Sync>
            }),
        },
        CredentialsError::NonRecoverable {
            provider,
            message,
            cause,
        } => CredentialsError::NonRecoverable {
            provider: provider.clone(),
            message: message.clone(),
            cause: cause.as_ref().map(|_| {
                Box::new(SharedCause(Arc::clone(error))) as Box<dyn std::error::Error + Send + Sync>
            }),
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
            .field("refreshing", &refreshing)
            .field("load_timeout", &shared.load_timeout)
            .field("refresh_window", &shared.refresh_window)
            .field("refresh_jitter", &shared.refresh_jitter)
            .field("blocking_window", &shared.blocking_window)
            .finish_non_exhaustive()
    }
}

/// Builds a [`CredentialsCache`]; start with [`CredentialsCache::builder`].
#[derive(Debug, Clone)]
pub struct CredentialsCacheBuilder {
    name: Cow<'static, str>,
    time_source: Option<SharedTimeSource>,
    load_timeout: Duration,
    refresh_window: Duration,
    refresh_jitter: Duration,
    blocking_window: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
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
            refresh_window: DEFAULT_REFRESH_WINDOW,
            refresh_jitter: DEFAULT_REFRESH_JITTER,
            blocking_window: DEFAULT_BLOCKING_WINDOW,
            min_backoff: DEFAULT_MIN_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
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

    /// How long before expiry a background refresh starts (default 5 min), less a random
    /// [jitter](Self::refresh_jitter).
    pub fn refresh_window(mut self, window: Duration) -> Self {
        self.refresh_window = window;
        self
    }

    /// The largest random delay subtracted from the refresh window, drawn anew for each set of
    /// credentials (default 1 min; `Duration::ZERO` for none).
    pub fn refresh_jitter(mut self, jitter: Duration) -> Self {
        self.refresh_jitter = jitter;
        self
    }

    /// How long before expiry callers start waiting for the refresh instead of getting the cached
    /// value right away (default 1 min).
    pub fn blocking_window(mut self, window: Duration) -> Self {
        self.blocking_window = window;
        self
    }

    /// The delay before retrying a failed refresh while the cached credentials are still valid:
    /// `min` after the first failure, doubling up to `max` (defaults 1 s and 30 s).
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min);
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
                min_backoff: self.min_backoff,
                max_backoff: self.max_backoff,
                timeout_context: self.timeout_context,
                shards: std::thread::available_parallelism()
                    .map_or(1, |n| n.get())
                    .clamp(1, 16)
                    .next_power_of_two(),
                current: ArcSwapOption::empty(),
                state: Mutex::new(State {
                    backoff: self.min_backoff,
                    ..State::default()
                }),
            }),
        }
    }
}
