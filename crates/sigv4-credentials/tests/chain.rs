//! Behaviour of `DefaultChain`: order, NotConfigured moves on, the first failure stops, NoneFound
//! lists each source, the chain is cached.

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sigv4_credentials::{
    Credentials, CredentialsError, DefaultChain, Env, ManualClock, ProvideCredentials,
    ProvideCredentialsFuture,
};

const SECRET: &str = "wJalrXUtnFEMI/CHAIN-SECRET-DO-NOT-LOG";
const TOKEN: &str = "CHAIN-TOKEN-DO-NOT-LOG";

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

#[derive(Debug, Clone, Copy)]
enum Answer {
    /// Credentials named after the source, valid for an hour from t0.
    Creds,
    NotConfigured,
    Failed,
    Timeout,
    NoneFound,
    Hang,
}

#[derive(Debug)]
struct Source {
    name: &'static str,
    answer: Answer,
    calls: AtomicUsize,
}

impl Source {
    fn new(name: &'static str, answer: Answer) -> Arc<Self> {
        Arc::new(Self {
            name,
            answer,
            calls: AtomicUsize::new(0),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl ProvideCredentials for Source {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let name = self.name;
        ProvideCredentialsFuture::new(async move {
            match self.answer {
                Answer::Creds => Ok(Credentials::builder(format!("AKID-{name}"), SECRET)
                    .session_token(TOKEN)
                    .expiry(t0() + Duration::from_secs(3600))
                    .provider_name(name)
                    .build()),
                Answer::NotConfigured => Err(CredentialsError::not_configured(
                    name,
                    format!("why-{name}"),
                )),
                Answer::Failed => Err(CredentialsError::failed_with(
                    name,
                    format!("{name} is broken"),
                    std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
                )),
                Answer::Timeout => Err(CredentialsError::Timeout {
                    provider: Cow::Borrowed(name),
                    after: Duration::from_secs(1),
                    hint: "check the endpoint".into(),
                }),
                Answer::NoneFound => Err(CredentialsError::NoneFound {
                    attempts: vec![("inner".into(), "nothing inside".into())],
                }),
                Answer::Hang => std::future::pending().await,
            }
        })
    }
}

fn named(sources: &[&Arc<Source>]) -> Vec<(Cow<'static, str>, Arc<dyn ProvideCredentials>)> {
    sources
        .iter()
        .map(|s| {
            (
                Cow::Borrowed(s.name),
                Arc::clone(s) as Arc<dyn ProvideCredentials>,
            )
        })
        .collect()
}

async fn chain(sources: &[&Arc<Source>]) -> DefaultChain {
    DefaultChain::builder()
        .providers(named(sources))
        .time_source(Arc::new(ManualClock::new(t0())))
        .build()
        .await
}

#[tokio::test(start_paused = true)]
async fn first_source_with_credentials_wins_in_order() {
    let a = Source::new("a", Answer::NotConfigured);
    let b = Source::new("b", Answer::Creds);
    let c = Source::new("c", Answer::Creds);
    let chain = chain(&[&a, &b, &c]).await;
    let creds = chain.provide_credentials().await.unwrap();
    assert_eq!(creds.access_key_id(), "AKID-b");
    assert_eq!(creds.provider_name(), "b");
    assert_eq!((a.calls(), b.calls(), c.calls()), (1, 1, 0));
    assert_eq!(chain.source_names().collect::<Vec<_>>(), ["a", "b", "c"]);
}

#[tokio::test(start_paused = true)]
async fn the_chain_is_cached() {
    let a = Source::new("a", Answer::NotConfigured);
    let b = Source::new("b", Answer::Creds);
    let chain = chain(&[&a, &b]).await;
    for _ in 0..10 {
        assert_eq!(
            chain.provide_credentials().await.unwrap().access_key_id(),
            "AKID-b"
        );
    }
    let clone = chain.clone();
    clone.provide_credentials().await.unwrap();
    assert_eq!((a.calls(), b.calls()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_failing_source_stops_the_chain_and_is_named() {
    let a = Source::new("a", Answer::NotConfigured);
    let b = Source::new("b", Answer::Failed);
    let c = Source::new("c", Answer::Creds);
    let chain = chain(&[&a, &b, &c]).await;
    match chain.provide_credentials().await {
        Err(err @ CredentialsError::Failed { .. }) => {
            let text = err.to_string();
            assert!(text.starts_with("b: "), "{text}");
            assert!(text.contains("b is broken"), "{text}");
            let source = std::error::Error::source(&err).expect("the cause is kept");
            assert_eq!(source.to_string(), "refused");
            if let CredentialsError::Failed { provider, .. } = err {
                assert_eq!(provider, "b");
            }
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(
        c.calls(),
        0,
        "the chain must not fall through a broken source"
    );
}

#[tokio::test(start_paused = true)]
async fn a_timing_out_source_stops_the_chain() {
    let a = Source::new("a", Answer::Timeout);
    let b = Source::new("b", Answer::Creds);
    let chain = chain(&[&a, &b]).await;
    match chain.provide_credentials().await {
        Err(CredentialsError::Timeout {
            provider, after, ..
        }) => {
            assert_eq!(provider, "a");
            assert_eq!(after, Duration::from_secs(1));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert_eq!(b.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn source_renamed_in_the_chain_keeps_its_own_name_in_the_message() {
    let inner = Source::new("imds", Answer::Failed);
    let chain = DefaultChain::from_providers(vec![(
        Cow::Borrowed("instance profile"),
        inner as Arc<dyn ProvideCredentials>,
    )]);
    let err = chain.provide_credentials().await.unwrap_err();
    assert_eq!(err.to_string(), "instance profile: imds: imds is broken");
}

#[tokio::test(start_paused = true)]
async fn none_found_lists_each_source_and_why() {
    let a = Source::new("a", Answer::NotConfigured);
    let b = Source::new("b", Answer::NoneFound);
    let c = Source::new("c", Answer::NotConfigured);
    let chain = chain(&[&a, &b, &c]).await;
    match chain.provide_credentials().await {
        Err(err @ CredentialsError::NoneFound { .. }) => {
            let text = err.to_string();
            assert!(text.contains("a: why-a"), "{text}");
            assert!(text.contains("c: why-c"), "{text}");
            assert!(text.contains("nothing inside"), "{text}");
            let CredentialsError::NoneFound { attempts } = err else {
                unreachable!()
            };
            let names: Vec<&str> = attempts.iter().map(|(n, _)| n.as_ref()).collect();
            assert_eq!(names, ["a", "b", "c"]);
            assert_eq!(attempts[0].1, "why-a");
            assert_eq!(attempts[2].1, "why-c");
        }
        other => panic!("expected NoneFound, got {other:?}"),
    }
    // Not cached: the next call walks the chain again.
    chain.provide_credentials().await.unwrap_err();
    assert_eq!((a.calls(), b.calls(), c.calls()), (2, 2, 2));
}

#[tokio::test(start_paused = true)]
async fn empty_chain_is_none_found() {
    let chain = DefaultChain::from_providers(Vec::new());
    assert!(matches!(
        chain.provide_credentials().await,
        Err(CredentialsError::NoneFound { attempts }) if attempts.is_empty()
    ));
}

#[tokio::test(start_paused = true)]
async fn a_hanging_source_is_bounded_by_the_load_timeout() {
    let a = Source::new("a", Answer::NotConfigured);
    let b = Source::new("b", Answer::Hang);
    let chain = DefaultChain::builder()
        .providers(named(&[&a, &b]))
        .time_source(Arc::new(ManualClock::new(t0())))
        .load_timeout(Duration::from_secs(3))
        .build()
        .await;
    let start = tokio::time::Instant::now();
    match chain.provide_credentials().await {
        Err(CredentialsError::Timeout {
            provider,
            after,
            hint,
        }) => {
            assert_eq!(provider, "default chain");
            assert_eq!(after, Duration::from_secs(3));
            assert!(
                hint.contains("waiting on the `b` source (a: not configured)"),
                "{hint}"
            );
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn default_sources_start_with_the_environment() {
    let env = Env::from_pairs([
        ("AWS_ACCESS_KEY_ID", "AKIDENV"),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", TOKEN),
    ]);
    let chain = DefaultChain::builder()
        .env(env)
        .time_source(Arc::new(ManualClock::new(t0())))
        .build()
        .await;
    assert_eq!(
        chain.source_names().collect::<Vec<_>>(),
        [
            "environment",
            "profile",
            "web identity",
            "container",
            "imds"
        ]
    );
    let creds = chain.provide_credentials().await.unwrap();
    assert_eq!(creds.access_key_id(), "AKIDENV");
    assert_eq!(creds.provider_name(), "environment");
    let text = format!("{chain:?} {chain:#?}");
    assert!(text.contains("AKIDENV"), "{text}");
    assert!(!text.contains("DO-NOT-LOG"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn half_configured_environment_stops_the_default_chain() {
    let env = Env::from_pairs([("AWS_ACCESS_KEY_ID", "AKIDENV")]);
    let chain = DefaultChain::builder().env(env).build().await;
    match chain.provide_credentials().await {
        Err(err @ CredentialsError::Failed { .. }) => {
            assert!(err.to_string().starts_with("environment: "), "{err}");
            assert!(err.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{err}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn debug_never_shows_the_secret() {
    let a = Source::new("a", Answer::Creds);
    let chain = chain(&[&a]).await;
    chain.provide_credentials().await.unwrap();
    let builder = DefaultChain::builder().env(Env::from_pairs([
        ("AWS_ACCESS_KEY_ID", "AKIDENV"),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
    ]));
    let text = format!("{chain:?} {chain:#?} {builder:?}");
    assert!(text.contains("AKID-a"), "{text}");
    assert!(!text.contains("DO-NOT-LOG"), "{text}");
}

#[tokio::test]
async fn real_sources_with_nothing_configured_list_every_source() {
    // No HOME (no profile files), no container variables, IMDS switched off: nothing is reached.
    let env = Env::from_pairs([("AWS_EC2_METADATA_DISABLED", "true")]);
    let chain = DefaultChain::builder().env(env).build().await;
    match chain.provide_credentials().await {
        Err(CredentialsError::NoneFound { attempts }) => {
            let names: Vec<&str> = attempts.iter().map(|(n, _)| n.as_ref()).collect();
            assert_eq!(
                names,
                [
                    "environment",
                    "profile",
                    "web identity",
                    "container",
                    "imds"
                ]
            );
            assert!(attempts[0].1.contains("AWS_ACCESS_KEY_ID"), "{attempts:?}");
            assert!(
                attempts[4].1.contains("AWS_EC2_METADATA_DISABLED"),
                "{attempts:?}"
            );
        }
        other => panic!("expected NoneFound, got {other:?}"),
    }
}

#[tokio::test]
async fn falls_through_to_imds_and_caches_it() {
    let emulator = sigv4_testkit::imds::ImdsEmulator::start().await;
    let env = Env::from_pairs([(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        emulator.endpoint().as_str(),
    )]);
    let chain = DefaultChain::builder().env(env).build().await;
    let expected = emulator.handle().current_credentials();
    for _ in 0..5 {
        let creds = chain.provide_credentials().await.unwrap();
        assert_eq!(creds.access_key_id(), expected.access_key_id());
        assert_eq!(creds.secret_access_key(), expected.secret_access_key());
        assert_eq!(creds.provider_name(), "imds");
    }
    assert_eq!(
        emulator.handle().credential_fetches(),
        1,
        "cached after the first call"
    );
}
