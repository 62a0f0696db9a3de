//! The SSO (portal + OIDC) and sign-in emulators, driven over loopback by a plain hyper client:
//! tokens expiring on the injected clock, refresh-token rotation, DPoP checks, faults.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64ct::{Base64UrlUnpadded, Encoding};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use sigv4_core::{ManualClock, TimeSource};
use sigv4_testkit::signin::SigninEmulator;
use sigv4_testkit::sso::{Fault, FaultRule, SsoEmulator, Target};
use tokio::net::TcpStream;

const START: u64 = 1_700_000_000;

async fn send(endpoint: &str, request: Request<Full<Bytes>>) -> (StatusCode, Value) {
    let addr = endpoint.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn role_credentials(endpoint: &str, token: &str) -> Request<Full<Bytes>> {
    Request::get(format!(
        "{endpoint}/federation/credentials?account_id=123456789012&role_name=Dev"
    ))
    .header("host", endpoint.trim_start_matches("http://"))
    .header("x-amz-sso_bearer_token", token)
    .body(Full::default())
    .unwrap()
}

fn create_token(endpoint: &str, refresh: &str) -> Request<Full<Bytes>> {
    let body = json!({"clientId": "c", "clientSecret": "s", "grantType": "refresh_token", "refreshToken": refresh});
    Request::post(format!("{endpoint}/token"))
        .header("host", endpoint.trim_start_matches("http://"))
        .header("content-type", "application/json")
        .body(Full::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn sso_tokens_expire_on_the_clock_and_refresh_tokens_rotate() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
    let sso = SsoEmulator::builder()
        .time_source(Arc::new(clock.clone()))
        .client("c", "s")
        .start()
        .await;
    let url = sso.endpoint();
    let first = sso.issue_token();

    let (status, body) = send(&url, role_credentials(&url, &first.access_token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["roleCredentials"]["accessKeyId"],
        "ASIASSO0000000000001"
    );
    // 2023-11-14T23:13:20Z in milliseconds: one hour after START.
    assert_eq!(body["roleCredentials"]["expiration"], 1_700_003_600_000u64);

    clock.set(clock.now() + Duration::from_secs(3601));
    let (status, _) = send(&url, role_credentials(&url, &first.access_token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an expired token");

    let (status, body) = send(&url, create_token(&url, &first.refresh_token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expiresIn"], 3600);
    let access = body["accessToken"].as_str().unwrap().to_owned();
    assert_ne!(body["refreshToken"], first.refresh_token.as_str());
    let (status, _) = send(&url, role_credentials(&url, &access)).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = send(&url, create_token(&url, &first.refresh_token)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a used refresh token");
    assert_eq!(body["error"], "invalid_grant");

    sso.set_fault(
        FaultRule::new(Fault::Status(StatusCode::SERVICE_UNAVAILABLE))
            .on(Target::GetRoleCredentials)
            .once(),
    );
    let (status, _) = send(&url, role_credentials(&url, &access)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _) = send(&url, role_credentials(&url, &access)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sso.create_token_calls(), 2);
    assert_eq!(sso.role_credentials_calls(), 5);
    let shown = format!("{sso:?} {:?}", sso.requests());
    assert!(!shown.contains("EMULATED"), "{shown}");
}

fn dpop(key: &SigningKey, url: &str, iat: u64, jti: &str) -> String {
    let point = key.verifying_key().to_encoded_point(false);
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": {
        "kty": "EC", "crv": "P-256",
        "x": Base64UrlUnpadded::encode_string(point.x().unwrap()),
        "y": Base64UrlUnpadded::encode_string(point.y().unwrap()),
    }});
    let claims = json!({"jti": jti, "htm": "POST", "htu": url, "iat": iat});
    let input = format!(
        "{}.{}",
        Base64UrlUnpadded::encode_string(header.to_string().as_bytes()),
        Base64UrlUnpadded::encode_string(claims.to_string().as_bytes())
    );
    let signature: Signature = key.sign(input.as_bytes());
    format!(
        "{input}.{}",
        Base64UrlUnpadded::encode_string(&signature.to_bytes())
    )
}

fn refresh(endpoint: &str, token: &str, proof: Option<String>) -> Request<Full<Bytes>> {
    let body = json!({"clientId": "cli", "refreshToken": token, "grantType": "refresh_token"});
    let mut request = Request::post(format!("{endpoint}/v1/token"))
        .header("host", endpoint.trim_start_matches("http://"))
        .header("content-type", "application/json");
    if let Some(proof) = proof {
        request = request.header("dpop", proof);
    }
    request.body(Full::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn signin_checks_dpop_proofs_and_rotates_refresh_tokens() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(START));
    let signin = SigninEmulator::builder()
        .time_source(Arc::new(clock.clone()))
        .session("cli", "rt-1")
        .start()
        .await;
    let url = signin.endpoint();
    let htu = format!("{url}/v1/token");
    let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let other = SigningKey::from_slice(&[9u8; 32]).unwrap();

    let (status, body) = send(&url, refresh(&url, "rt-1", None)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof"))
    );
    // Signed by one key, with another key in the header: the signature does not verify.
    let forged = {
        let good = dpop(&key, &htu, START, "j0");
        let bad = dpop(&other, &htu, START, "j0");
        let g: Vec<&str> = good.split('.').collect();
        let b: Vec<&str> = bad.split('.').collect();
        format!("{}.{}.{}", g[0], g[1], b[2])
    };
    let (status, _) = send(&url, refresh(&url, "rt-1", Some(forged))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let stale = dpop(&key, &htu, START - 600, "j1");
    let (status, _) = send(&url, refresh(&url, "rt-1", Some(stale))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "iat 10 minutes old");

    let (status, body) = send(
        &url,
        refresh(&url, "rt-1", Some(dpop(&key, &htu, START, "j2"))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["accessToken"]["accessKeyId"],
        "ASIASIGNIN0000000000001"
    );
    assert_eq!(body["expiresIn"], 900);
    let rotated = body["refreshToken"].as_str().unwrap().to_owned();
    assert!(signin.refresh_token_valid(&rotated));

    let (status, body) = send(
        &url,
        refresh(&url, "rt-1", Some(dpop(&key, &htu, START, "j3"))),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _) = send(
        &url,
        refresh(&url, &rotated, Some(dpop(&key, &htu, START, "j2"))),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a replayed jti");
    let valid: Vec<bool> = signin.requests().iter().map(|r| r.dpop_valid).collect();
    assert_eq!(valid, [false, false, false, true, true, false]);
}
