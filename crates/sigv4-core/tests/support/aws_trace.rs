//! Captures the canonical requests `aws-sigv4` reports through `tracing` (its
//! `canonical_request` field; sensitive header values are redacted there), so a test can show
//! what aws-sigv4 signed. Shared by `tests/departures.rs` and `tests/differential.rs`; included
//! with `#[path = "support/aws_trace.rs"] mod aws_trace;`.

use std::sync::{Arc, Mutex};

/// Runs `f` with a subscriber that keeps every `canonical_request` field logged meanwhile on
/// this thread; returns `f`'s result and those texts, in order.
pub fn capture_canonical_requests<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = tracing::subscriber::with_default(Capture(seen.clone()), f);
    let texts = seen
        .lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default();
    (out, texts)
}

// A minimal `tracing` subscriber that keeps aws-sigv4's `canonical_request` field.
struct Capture(Arc<Mutex<Vec<String>>>);

struct Visitor<'a>(&'a Mutex<Vec<String>>);

impl tracing::field::Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "canonical_request" {
            if let Ok(mut v) = self.0.lock() {
                v.push(format!("{value:?}"));
            }
        }
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        event.record(&mut Visitor(&self.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
