//! Helpers shared by the SSO and `aws login` tests.
#![allow(dead_code)]

use std::io;
use std::sync::{Arc, Mutex};

use sigv4_credentials::{Credentials, CredentialsError, ProvideCredentials};
use tokio::task::JoinSet;

/// A `MakeWriter` into a shared buffer: what a global tracing subscriber wrote.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Installs a global subscriber (TRACE) writing here; once per test binary.
    pub fn install() -> Captured {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_max_level(tracing::Level::TRACE)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only test that sets it");
        captured
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Asks `provider` `n` times at once, each on its own task.
pub async fn call_concurrently<P>(
    provider: &P,
    n: usize,
) -> Vec<Result<Credentials, CredentialsError>>
where
    P: ProvideCredentials + Clone + 'static,
{
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let provider = provider.clone();
        tasks.spawn(async move { provider.provide_credentials().await });
    }
    let mut results = Vec::with_capacity(n);
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.expect("a caller task panicked"));
    }
    results
}
