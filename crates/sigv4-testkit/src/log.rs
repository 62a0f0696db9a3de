//! The request log every emulator keeps, for assertions, and the wait for requests to arrive.

use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

/// An emulator's log of requests, oldest first.
pub(crate) struct RequestLog<R> {
    records: Mutex<Vec<R>>,
    arrived: Notify,
}

impl<R> Default for RequestLog<R> {
    fn default() -> Self {
        Self {
            records: Mutex::new(Vec::new()),
            arrived: Notify::new(),
        }
    }
}

impl<R: Clone> RequestLog<R> {
    fn lock(&self) -> MutexGuard<'_, Vec<R>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a record, wakes [`wait_for`](Self::wait_for), and returns the record's place.
    pub(crate) fn push(&self, record: R) -> usize {
        let index = {
            let mut records = self.lock();
            records.push(record);
            records.len() - 1
        };
        self.arrived.notify_waiters();
        index
    }

    /// Changes the record at `index` (once answered); nothing if the log was cleared since.
    pub(crate) fn update(&self, index: usize, change: impl FnOnce(&mut R)) {
        if let Some(record) = self.lock().get_mut(index) {
            change(record);
        }
    }

    /// Every record, oldest first.
    pub(crate) fn all(&self) -> Vec<R> {
        self.lock().clone()
    }

    /// How many records there are.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Forgets every record.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// Waits until the log holds at least `n` records.
    pub(crate) async fn wait_for(&self, n: usize) {
        loop {
            let arrived = self.arrived.notified();
            if self.len() >= n {
                return;
            }
            arrived.await;
        }
    }
}
