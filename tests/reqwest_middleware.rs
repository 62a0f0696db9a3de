//! A reqwest-middleware client signing with `SigV4Middleware`, credentials from the default chain.
//!
//! The application builds `DefaultChain` and a `reqwest_middleware` client whose last (innermost)
//! middleware is `SigV4Middleware`, then calls an API-Gateway-like endpoint on loopback (the
//! testkit's verifying `Endpoint`). The chain is given a fixed environment holding only
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT`, so it finds the IMDS emulator as the instance's metadata
//! service: the real environment and `~/.aws` files are never read.
//!
//! Run with `cargo test --test reqwest_middleware --features reqwest-middleware`.
#![cfg(feature = "reqwest-middleware")]

mod common;

use reqwest::StatusCode;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use sigv4::credentials::{DefaultChain, Env, Imds, SharedTimeSource};
use sigv4::reqwest::SigV4Middleware;
use sigv4::{SigV4Error, SigV4Layer, SkipSigning};
use sigv4_testkit::endpoint::Endpoint;
use sigv4_testkit::imds::{closed_port_endpoint, ImdsEmulator};

/// The IMDS emulator, the endpoint trusting what it issues, and the clock they share.
struct World {
    time: SharedTimeSource,
    imds: ImdsEmulator,
    api: Endpoint,
}

impl World {
    async fn start() -> Self {
        let (_, time) = common::clock_at_t0();
        let (imds, api) = common::start_imds_and_endpoint(ImdsEmulator::builder(), &time).await;
        World { time, imds, api }
    }

    /// The application's client: the default chain finds the emulator; signing goes last.
    async fn client(&self) -> ClientWithMiddleware {
        let credentials = common::chain_finding(&self.imds, self.time.clone()).await;
        client_with(self.signing(credentials))
    }

    /// `SigV4Middleware` made from a layer, to share the endpoint's clock.
    fn signing(&self, credentials: DefaultChain) -> SigV4Middleware {
        let layer = SigV4Layer::builder(
            credentials,
            self.api.region().to_owned(),
            self.api.service().to_owned(),
        )
        .time_source(self.time.clone())
        .build();
        SigV4Middleware::from(layer)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api.url())
    }
}

fn client_with(signing: SigV4Middleware) -> ClientWithMiddleware {
    // Retry and tracing middlewares would come first (outermost); signing is always the last one,
    // so every attempt is signed anew and nothing changes a header after it is signed.
    ClientBuilder::new(reqwest::Client::new())
        .with(signing)
        .build()
}

async fn read(response: reqwest::Response) -> (StatusCode, Option<String>, serde_json::Value) {
    let status = response.status();
    let code = response
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().expect("ASCII").to_owned());
    let body = response.bytes().await.expect("a body");
    (status, code, serde_json::from_slice(&body).expect("JSON"))
}

#[tokio::test]
async fn get_and_json_post_are_signed_with_the_instance_role_and_accepted() {
    let world = World::start().await;
    let client = world.client().await;

    let response = client
        .get(world.url("/prod/items?limit=10&order=desc"))
        .send()
        .await
        .expect("a response");
    let (status, code, echo) = read(response).await;
    assert_eq!(status, StatusCode::OK, "{code:?} {echo}");
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/prod/items");
    assert_eq!(echo["body_bytes"], 0);
    // The first key the emulator's instance role hands out.
    assert_eq!(echo["access_key_id"], "ASIAEMU0000000000001");

    let item = serde_json::json!({"name": "widget", "tags": ["blue", "small"], "price": 12.5});
    let body = serde_json::to_vec(&item).expect("JSON");
    let response = client
        .post(world.url("/prod/items"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("a response");
    let (status, code, echo) = read(response).await;
    assert_eq!(status, StatusCode::OK, "{code:?} {echo}");
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body_bytes"], body.len());
    assert_eq!(echo["access_key_id"], "ASIAEMU0000000000001");

    assert_eq!((world.api.accepted(), world.api.rejected()), (2, 0));
    // The chain's cache asked IMDS once for both requests.
    assert_eq!(world.imds.credential_fetches(), 1);
}

#[tokio::test]
async fn a_request_marked_skip_signing_goes_out_unsigned_and_is_refused() {
    let world = World::start().await;
    let client = world.client().await;

    let response = client
        .get(world.url("/prod/items"))
        .with_extension(SkipSigning)
        .send()
        .await
        .expect("a response");
    let (status, code, echo) = read(response).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code.as_deref(), Some("MissingAuthenticationToken"));
    assert_eq!(
        echo,
        serde_json::json!({"message": "Missing Authentication Token"})
    );
    // Nothing was signed, so the credentials were never needed.
    assert_eq!(world.imds.credential_fetches(), 0);
}

#[tokio::test]
async fn without_credentials_the_request_fails_before_it_is_sent() {
    let world = World::start().await;
    // No instance metadata service listening: IMDS points at a closed loopback port, one attempt.
    let closed = closed_port_endpoint().expect("a closed loopback port");
    let env = Env::from_pairs([("AWS_EC2_METADATA_SERVICE_ENDPOINT", closed.clone())]);
    let imds = Imds::builder()
        .env(env.clone())
        .endpoint(closed)
        .max_attempts(1)
        .time_source(world.time.clone())
        .build();
    let credentials = DefaultChain::builder()
        .env(env)
        .imds(imds)
        .time_source(world.time.clone())
        .build()
        .await;
    let client = client_with(world.signing(credentials));

    let error = client
        .post(world.url("/prod/items"))
        .body("{}")
        .send()
        .await
        .expect_err("no credentials to sign with");
    // A middleware error holding the SigV4Error: no credentials, with a message saying so.
    let reqwest_middleware::Error::Middleware(error) = error else {
        panic!("expected a middleware error, got {error:?}");
    };
    let cause = error
        .downcast_ref::<SigV4Error>()
        .expect("a SigV4Error inside");
    assert!(cause.is_credentials(), "{cause}");
    assert!(
        cause
            .to_string()
            .starts_with("could not get AWS credentials"),
        "{cause}"
    );
    assert_eq!((world.api.accepted(), world.api.rejected()), (0, 0));
}
