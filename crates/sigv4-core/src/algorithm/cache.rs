//! The small bounded key cache both algorithms use: lookups are lock-free (one atomic load); a
//! miss derives the key and publishes a new list with it first, the oldest entry dropped.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

/// Up to `capacity` derived keys, most recent first (0: nothing is kept).
pub(crate) struct BoundedCache<T> {
    entries: ArcSwap<Vec<Arc<T>>>,
    capacity: usize,
}

impl<T> BoundedCache<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: ArcSwap::from_pointee(Vec::new()),
            capacity,
        }
    }

    /// The entry for which `matches` holds, or the one `derive` makes (then kept).
    #[inline]
    pub(crate) fn get(&self, matches: impl Fn(&T) -> bool, derive: impl FnOnce() -> T) -> Arc<T> {
        {
            let entries = self.entries.load();
            if let Some(hit) = entries.iter().find(|k| matches(k)) {
                return Arc::clone(hit);
            }
        }
        let fresh = Arc::new(derive());
        if self.capacity > 0 {
            self.entries.rcu(|old| {
                let mut list = Vec::with_capacity(self.capacity);
                list.push(Arc::clone(&fresh));
                list.extend(
                    old.iter()
                        .filter(|k| !matches(k))
                        .take(self.capacity - 1)
                        .cloned(),
                );
                list
            });
        }
        fresh
    }

    /// Runs `f` on the entry for which `matches` holds (or the one `derive` makes, then kept)
    /// without taking a reference count on it: the hot path of signing.
    #[inline]
    pub(crate) fn with<R>(
        &self,
        matches: impl Fn(&T) -> bool,
        derive: impl FnOnce() -> T,
        f: impl FnOnce(&T) -> R,
    ) -> R {
        {
            let entries = self.entries.load();
            if let Some(hit) = entries.iter().find(|k| matches(k)) {
                return f(hit);
            }
        }
        f(&self.get(matches, derive))
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.load().len()
    }
}

impl<T> fmt::Debug for BoundedCache<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}
