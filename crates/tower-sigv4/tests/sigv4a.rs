//! SigV4a through the layers: `SigV4Layer` with a region set signs `AWS4-ECDSA-P256-SHA256`,
//! and `VerifyLayer` accepts it with the secret from its key store (the public key derived from
//! it) and refuses it once a signed byte changes.
#![cfg(feature = "sigv4a")]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use sigv4_core::verify::Verified;
use sigv4_core::Credentials;
use sigv4_credentials::ManualClock;
use tower::{service_fn, Layer, ServiceExt};
use tower_sigv4::verify::{StaticKeyStore, VerifyLayer};
use tower_sigv4::SigV4Layer;

fn creds() -> Credentials {
    Credentials::builder("AKIDSIGV4A", "sigv4a-layer-secret")
        .session_token("sigv4a-token")
        .build()
}

/// Signs `request` with a SigV4a layer and returns what the inner service received.
async fn sign(request: Request<Full<Bytes>>, clock: &ManualClock) -> Request<Bytes> {
    let captured: Arc<Mutex<Option<Request<Bytes>>>> = Arc::default();
    let sink = captured.clone();
    let inner = service_fn(move |request: Request<_>| {
        let sink = sink.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body: Bytes = BodyExt::collect(body).await.unwrap().to_bytes();
            *sink.lock().unwrap() = Some(Request::from_parts(parts, body));
            Ok::<_, Infallible>(Response::new(()))
        }
    });
    let layer = SigV4Layer::builder(creds(), "us-east-1", "execute-api")
        .region_set("*")
        .time_source(Arc::new(clock.clone()))
        .build();
    assert_eq!(layer.region_set(), Some("*"));
    layer.layer(inner).oneshot(request).await.unwrap();
    let signed = captured
        .lock()
        .unwrap()
        .take()
        .expect("the inner service was called");
    signed
}

/// Sends a request through `VerifyLayer`; the identity the handler saw, or the status.
async fn verify(request: Request<Bytes>, clock: &ManualClock) -> Result<Verified, StatusCode> {
    let layer =
        VerifyLayer::new(StaticKeyStore::new().with(creds())).time_source(Arc::new(clock.clone()));
    let handler = service_fn(|request: Request<_>| async move {
        let verified = request.extensions().get::<Verified>().cloned();
        let mut response = Response::new(Full::<Bytes>::default());
        response.extensions_mut().insert(verified);
        Ok::<_, Infallible>(response)
    });
    let (parts, body) = request.into_parts();
    let request = Request::from_parts(parts, Full::new(body));
    let response = layer.layer(handler).oneshot(request).await.unwrap();
    match response.extensions().get::<Option<Verified>>() {
        Some(Some(verified)) => Ok(verified.clone()),
        _ => Err(response.status()),
    }
}

#[tokio::test]
async fn the_layer_signs_sigv4a_and_verify_layer_accepts_it() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let request = Request::post("https://global.example.com/items?x=1")
        .header("content-type", "application/json")
        .body(Full::from(r#"{"a":1}"#))
        .unwrap();
    let signed = sign(request, &clock).await;
    let auth = signed.headers()["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with(
            "AWS4-ECDSA-P256-SHA256 Credential=AKIDSIGV4A/20231114/execute-api/aws4_request, "
        ),
        "{auth}"
    );
    assert_eq!(signed.headers()["x-amz-region-set"], "*");

    let verified = verify(signed.clone(), &clock).await.expect("accepted");
    assert_eq!(verified.access_key_id(), "AKIDSIGV4A");
    assert_eq!(verified.region(), "*");

    // One changed byte of the body: refused.
    let (parts, body) = signed.into_parts();
    let mut changed = body.to_vec();
    changed[2] ^= 1;
    let refused = verify(Request::from_parts(parts, Bytes::from(changed)), &clock).await;
    assert_eq!(refused.unwrap_err(), StatusCode::FORBIDDEN);
}
