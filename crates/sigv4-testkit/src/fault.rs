//! Fault rules, shared by the emulators.
//!
//! Each emulator has its own `Fault` enum (what can go wrong there) and `Target` enum (which of
//! its requests a fault applies to); a [`FaultRule`] pairs one fault with a target and a count.
//! The emulators name it for their own faults, e.g. [`imds::FaultRule`](crate::imds::FaultRule)
//! and [`sts::FaultRule`](crate::sts::FaultRule), so a test writes
//! `FaultRule::new(Fault::Hang).on(Target::Token).times(2)` whichever emulator it drives.
//!
//! The rules of an emulator are checked in the order they were set: every matching delay is
//! applied (delays add up), then the first other matching fault decides the answer. A rule
//! limited with [`FaultRule::times`] is used up by the requests it matched, then disappears.

use std::fmt;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use crate::server::CloseConnection;

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// What an emulator's `Fault` enum tells the shared fault machinery. Implemented by
/// [`imds::Fault`](crate::imds::Fault) and [`sts::Fault`](crate::sts::Fault); sealed.
pub trait FaultKind: sealed::Sealed + Clone + fmt::Debug + PartialEq + Eq + Send + 'static {
    /// The emulator's kinds of request a rule can be narrowed to.
    type Target: Copy + fmt::Debug + PartialEq + Eq + Hash + Send + 'static;

    /// The requests this fault applies to when set on its own.
    fn default_target(&self) -> Self::Target;

    /// For a delay: how long to wait before answering (delays of several rules add up).
    fn delay(&self) -> Option<Duration>;

    /// True for the fault that holds the request until the faults are cleared.
    fn holds(&self) -> bool;

    /// True for the fault that closes the connection without an answer.
    fn closes(&self) -> bool;
}

/// A fault with the requests it applies to and how many times.
///
/// A plain fault converts into a rule with its default target that lasts until the faults are
/// cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule<F: FaultKind> {
    fault: F,
    target: F::Target,
    remaining: Option<u32>,
}

impl<F: FaultKind> FaultRule<F> {
    /// A rule for `fault` on its default target, until cleared.
    pub fn new(fault: F) -> Self {
        let target = fault.default_target();
        Self {
            fault,
            target,
            remaining: None,
        }
    }

    /// Applies the fault to these requests instead of its default target.
    pub fn on(mut self, target: F::Target) -> Self {
        self.target = target;
        self
    }

    /// Applies the fault to the next `n` matching requests only (then the rule is gone). `0` makes
    /// a rule that never applies.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Applies the fault to the next matching request only; same as `times(1)`.
    pub fn once(self) -> Self {
        self.times(1)
    }

    /// The fault.
    pub fn fault(&self) -> &F {
        &self.fault
    }

    /// The requests it applies to.
    pub fn target(&self) -> F::Target {
        self.target
    }

    /// How many more matching requests it applies to; `None` = until cleared.
    pub fn remaining(&self) -> Option<u32> {
        self.remaining
    }
}

impl<F: FaultKind> From<F> for FaultRule<F> {
    fn from(fault: F) -> Self {
        FaultRule::new(fault)
    }
}

/// Implements [`FaultKind`] for an emulator's `Fault` enum, which has the `Delay(Duration)`,
/// `Hang` and `CloseConnection` variants and an inherent `default_target`.
macro_rules! impl_fault_kind {
    ($fault:ty, $target:ty) => {
        impl $crate::fault::sealed::Sealed for $fault {}

        impl $crate::fault::FaultKind for $fault {
            type Target = $target;

            fn default_target(&self) -> $target {
                <$fault>::default_target(self)
            }

            fn delay(&self) -> Option<std::time::Duration> {
                match self {
                    Self::Delay(d) => Some(*d),
                    _ => None,
                }
            }

            fn holds(&self) -> bool {
                matches!(self, Self::Hang)
            }

            fn closes(&self) -> bool {
                matches!(self, Self::CloseConnection)
            }
        }
    };
}
pub(crate) use impl_fault_kind;

/// The faults decided for one request.
pub(crate) struct Planned<F> {
    /// The sum of the matching delays.
    pub(crate) delay: Duration,
    /// The first matching fault that is not a delay.
    pub(crate) terminal: Option<F>,
    /// Every fault applied, in order (delays first), for the request log.
    pub(crate) applied: Vec<F>,
    epoch: u64,
}

/// An emulator's active rules, and the signal that releases held requests.
pub(crate) struct FaultSwitch<F: FaultKind> {
    rules: Mutex<Rules<F>>,
    cleared: Notify,
}

struct Rules<F: FaultKind> {
    active: Vec<FaultRule<F>>,
    /// Bumped by every clear, so a held request knows it was released.
    epoch: u64,
}

impl<F: FaultKind> Default for FaultSwitch<F> {
    fn default() -> Self {
        Self {
            rules: Mutex::new(Rules {
                active: Vec::new(),
                epoch: 0,
            }),
            cleared: Notify::new(),
        }
    }
}

impl<F: FaultKind> fmt::Debug for FaultSwitch<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.lock().active.iter()).finish()
    }
}

impl<F: FaultKind> FaultSwitch<F> {
    fn lock(&self) -> MutexGuard<'_, Rules<F>> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a rule after the others (a rule for 0 requests is dropped).
    pub(crate) fn set(&self, rule: FaultRule<F>) {
        if rule.remaining != Some(0) {
            self.lock().active.push(rule);
        }
    }

    /// Removes every rule and releases held requests.
    pub(crate) fn clear(&self) {
        {
            let mut rules = self.lock();
            rules.active.clear();
            rules.epoch = rules.epoch.wrapping_add(1);
        }
        self.cleared.notify_waiters();
    }

    /// The rules still active, with their remaining counts.
    pub(crate) fn active(&self) -> Vec<FaultRule<F>> {
        self.lock().active.clone()
    }

    /// Picks the faults for a request: `applies` says whether a rule's target and fault fit it.
    /// Counts the request against every rule it used.
    pub(crate) fn plan(&self, applies: impl Fn(&F, F::Target) -> bool) -> Planned<F> {
        let mut rules = self.lock();
        let mut planned = Planned {
            delay: Duration::ZERO,
            terminal: None,
            applied: Vec::new(),
            epoch: rules.epoch,
        };
        for rule in rules.active.iter_mut() {
            if !applies(&rule.fault, rule.target) {
                continue;
            }
            if let Some(n) = rule.remaining.as_mut() {
                *n = n.saturating_sub(1);
            }
            planned.applied.push(rule.fault.clone());
            if let Some(delay) = rule.fault.delay() {
                planned.delay = planned.delay.saturating_add(delay);
            } else {
                planned.terminal = Some(rule.fault.clone());
                break;
            }
        }
        rules.active.retain(|rule| rule.remaining != Some(0));
        planned
    }

    /// Carries out the waiting part of a plan: the delay (with `tokio::time`), the hold (until the
    /// next clear; the request is then answered normally) and the closed connection. Returns the
    /// fault left for the answer, if any.
    pub(crate) async fn carry_out(
        &self,
        planned: &Planned<F>,
    ) -> Result<Option<F>, CloseConnection> {
        if !planned.delay.is_zero() {
            tokio::time::sleep(planned.delay).await;
        }
        match &planned.terminal {
            Some(fault) if fault.holds() => {
                loop {
                    let cleared = self.cleared.notified();
                    if self.lock().epoch != planned.epoch {
                        break;
                    }
                    cleared.await;
                }
                Ok(None)
            }
            Some(fault) if fault.closes() => Err(CloseConnection),
            other => Ok(other.clone()),
        }
    }
}
