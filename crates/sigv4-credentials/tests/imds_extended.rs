//! IMDS's extended credentials API (`/security-credentials-extended/`, with `AccountId`) against
//! the 13 cross-SDK cases that aws-sdk-go-v2 keeps (tests/fixtures/imds-extended/, see SOURCE.txt),
//! one test per case. A scripted loopback IMDS answers the token request and then exactly the
//! case's expected GETs, in order; anything else is a failure. Each outcome is one call to the
//! source (no cache in front), so the second call shows what the source remembered.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sigv4_credentials::{Env, Imds, ManualClock, ProvideCredentials};
use tokio::net::TcpListener;

fn case(index: usize, summary: &str) -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/imds-extended/imds-extended-cases.json"
    );
    let all: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(all.len(), 13);
    assert_eq!(
        all[index]["summary"].as_str(),
        Some(summary),
        "case {index} moved"
    );
    all[index].clone()
}

#[derive(Default)]
struct Script {
    expected: VecDeque<(String, u16, Option<String>)>,
    unexpected: Vec<String>,
    /// The TTL header the token answer carries (default 21600).
    token_ttl: Option<String>,
}

async fn serve(script: Arc<Mutex<Script>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let script = Arc::clone(&script);
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let script = Arc::clone(&script);
                    async move { Ok::<_, Infallible>(answer(&script, &request)) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

fn answer(script: &Mutex<Script>, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let respond = |status: u16, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        response
    };
    if request.method() == Method::PUT && request.uri().path() == "/latest/api/token" {
        let mut response = respond(200, "token".into());
        let ttl = script.lock().unwrap().token_ttl.clone();
        response.headers_mut().insert(
            "x-aws-ec2-metadata-token-ttl-seconds",
            ttl.as_deref().unwrap_or("21600").parse().unwrap(),
        );
        return response;
    }
    let mut script = script.lock().unwrap();
    let path = request.uri().path().to_owned();
    match script.expected.front() {
        Some((want, status, body)) if *want == path => {
            let (status, body) = (*status, body.clone().unwrap_or_default());
            script.expected.pop_front();
            respond(status, body)
        }
        _ => {
            script
                .unexpected
                .push(format!("{} {path}", request.method()));
            respond(500, "unexpected".into())
        }
    }
}

async fn run(index: usize, summary: &str) {
    let case = case(index, summary);
    let script = Arc::new(Mutex::new(Script::default()));
    for e in case["expectations"].as_array().unwrap() {
        let mut path = e["get"].as_str().unwrap().to_owned();
        // The listing requests carry a trailing `/` (the Go harness adds it the same way).
        if path.ends_with("security-credentials") || path.ends_with("security-credentials-extended")
        {
            path.push('/');
        }
        let status = e["response"]["status"].as_u64().unwrap() as u16;
        let body = match &e["response"]["body"] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        script
            .lock()
            .unwrap()
            .expected
            .push_back((path, status, body));
    }
    let url = serve(Arc::clone(&script)).await;
    let mut env: Vec<(String, String)> =
        vec![("HOME".into(), "/nonexistent-home-for-tests".into())];
    if let Some(vars) = case["config"]["envVars"].as_object() {
        for (k, v) in vars {
            env.push((k.clone(), v.as_str().unwrap().to_owned()));
        }
    }
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_740_787_200)); // 2025-03-01
    let mut builder = Imds::builder()
        .env(Env::from_pairs(env))
        .endpoint(url)
        .initial_backoff(Duration::from_millis(1))
        .time_source(Arc::new(clock));
    if let Some(name) = case["config"]["ec2InstanceProfileName"].as_str() {
        builder = builder.instance_profile_name(name);
    }
    let imds = builder.build();
    for (i, outcome) in case["outcomes"].as_array().unwrap().iter().enumerate() {
        let got = imds.provide_credentials().await;
        match outcome["result"].as_str().unwrap() {
            "credentials" => {
                let creds = got.unwrap_or_else(|e| panic!("{summary}: outcome {i}: {e}"));
                assert_eq!(creds.access_key_id(), "ASIAIOSFODNN7EXAMPLE", "{summary}");
                assert_eq!(
                    creds.account_id(),
                    outcome["accountId"].as_str(),
                    "{summary}: outcome {i}: account id"
                );
            }
            "invalid profile" | "no credentials" => {
                assert!(
                    got.is_err(),
                    "{summary}: outcome {i}: expected an error, got {got:?}"
                );
            }
            other => panic!("unknown outcome {other}"),
        }
    }
    let script = script.lock().unwrap();
    assert!(
        script.unexpected.is_empty(),
        "{summary}: unexpected requests {:?}",
        script.unexpected
    );
    assert!(
        script.expected.is_empty(),
        "{summary}: expected requests not made: {:?}",
        script.expected.iter().map(|e| &e.0).collect::<Vec<_>>()
    );
}

macro_rules! cases {
    ($($name:ident: $index:expr, $summary:expr;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                run($index, $summary).await;
            }
        )*
    };
}

cases! {
    disabled_gives_no_credentials: 0, "Test IMDS credentials provider with env vars { AWS_EC2_METADATA_DISABLED=true } returns no credentials";
    extended_with_account_id: 1, "Test IMDS credentials provider returns valid credentials with account ID";
    named_profile_with_account_id: 2, "Test IMDS credentials provider with a given profile name returns valid credentials with account ID";
    unstable_profile_with_account_id: 3, "Test IMDS credentials provider when profile is unstable returns valid credentials with account ID";
    named_profile_invalid: 4, "Test IMDS credentials provider with a given profile name when profile is invalid throws an error";
    extended_without_account_id: 5, "Test IMDS credentials provider when account ID is unavailable returns valid credentials";
    named_profile_without_account_id: 6, "Test IMDS credentials provider with a given profile name when account ID is unavailable returns valid credentials";
    unstable_profile_without_account_id: 7, "Test IMDS credentials provider when account ID is unavailable when profile is unstable returns valid credentials";
    named_profile_without_account_id_invalid: 8, "Test IMDS credentials provider with a given profile name when account ID is unavailable when profile is invalid throws an error";
    legacy_api: 9, "Test IMDS credentials provider against legacy API returns valid credentials";
    named_profile_legacy_api: 10, "Test IMDS credentials provider with a given profile name against legacy API returns valid credentials";
    unstable_profile_legacy_api: 11, "Test IMDS credentials provider against legacy API when profile is unstable returns valid credentials";
    named_profile_legacy_api_invalid: 12, "Test IMDS credentials provider with a given profile name against legacy API when profile is invalid throws an error";
}

// ===== found by fuzzing (issue 12): data from the network never panics the source =====

#[tokio::test]
async fn a_huge_token_ttl_is_not_believed() {
    // A metadata endpoint answered the token request with a TTL of about 1.2e19 seconds; adding
    // that to "now" overflowed and panicked the source. It must be refused as data, and the token
    // used as if it had the TTL asked for.
    let script = Arc::new(Mutex::new(Script {
        token_ttl: Some("12000000000000000000".into()),
        ..Script::default()
    }));
    {
        let mut s = script.lock().unwrap();
        s.expected.push_back((
            "/latest/meta-data/iam/security-credentials-extended/".into(),
            200,
            Some("web".into()),
        ));
        s.expected.push_back((
            "/latest/meta-data/iam/security-credentials-extended/web".into(),
            200,
            Some(r#"{"Code":"Success","AccessKeyId":"ASIAHUGETTL","SecretAccessKey":"s","Token":"t","Expiration":"2030-01-01T00:00:00Z"}"#.into()),
        ));
    }
    let url = serve(Arc::clone(&script)).await;
    let imds = Imds::builder()
        .env(Env::from_pairs([("HOME", "/nonexistent-home-for-tests")]))
        .endpoint(url)
        .time_source(Arc::new(ManualClock::new(
            UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        )))
        .build();
    let creds = imds
        .provide_credentials()
        .await
        .expect("credentials, not a panic");
    assert_eq!(creds.access_key_id(), "ASIAHUGETTL");
}
