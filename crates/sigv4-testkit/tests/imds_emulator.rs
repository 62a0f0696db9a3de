//! The IMDS emulator, driven over loopback by a plain hyper HTTP/1.1 client.
//!
//! Expected values (dates, formats, status codes) are written out by hand from the EC2 IMDS
//! documentation and `date -u`, not computed by the emulator's own code.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sigv4_credentials::ManualClock;
use sigv4_testkit::imds::{
    closed_port, closed_port_endpoint, Fault, FaultRule, ImdsEmulator, Target,
};
use tokio::net::TcpStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const TOKEN: &str = "/latest/api/token";
const LIST: &str = "/latest/meta-data/iam/security-credentials/";
const ROLE: &str = "test-role";
const ROLE_PATH: &str = "/latest/meta-data/iam/security-credentials/test-role";
const TTL: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";

/// 2023-11-14T22:13:20Z
const START: u64 = 1_700_000_000;

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// One request on a fresh connection.
async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Answer, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("user-agent", "imds-emulator-test");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = sender
        .send_request(request.body(Empty::<Bytes>::new())?)
        .await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec())?,
    })
}

async fn put_token(addr: SocketAddr, ttl: &str) -> Answer {
    call(addr, Method::PUT, TOKEN, &[(TTL, ttl)])
        .await
        .expect("token request")
}

async fn token(addr: SocketAddr) -> String {
    let answer = put_token(addr, "21600").await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    answer.body
}

async fn get(addr: SocketAddr, path: &str, token: &str) -> Answer {
    call(addr, Method::GET, path, &[(TOKEN_HEADER, token)])
        .await
        .expect("metadata request")
}

fn clock() -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::from_secs(START))
}

async fn emulator(clock: &ManualClock) -> ImdsEmulator {
    ImdsEmulator::builder()
        .time_source(Arc::new(clock.clone()))
        .role_name(ROLE)
        .start()
        .await
}

fn secs(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

// ===== the normal flow =====

#[tokio::test]
async fn token_then_role_then_credentials() {
    let clock = clock();
    let imds = emulator(&clock).await;
    let addr = imds.addr();
    assert_eq!(imds.endpoint(), format!("http://{addr}"));
    assert_eq!(addr.ip().to_string(), "127.0.0.1");

    let answer = put_token(addr, "21600").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers.get(TTL).unwrap(), "21600");
    let token = answer.body;
    assert!(token.len() >= 32, "{token}");

    let list = get(addr, LIST, &token).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body, ROLE);

    let creds = get(addr, ROLE_PATH, &token).await;
    assert_eq!(creds.status, StatusCode::OK);
    let json = creds.json();
    assert_eq!(json["Code"], "Success");
    assert_eq!(json["Type"], "AWS-HMAC");
    assert_eq!(json["AccessKeyId"], "ASIAEMU0000000000001");
    assert_eq!(json["LastUpdated"], "2023-11-14T22:13:20Z");
    assert_eq!(json["Expiration"], "2023-11-15T04:13:20Z");

    // The accessors agree with what went over the wire.
    let issued = imds.lookup("ASIAEMU0000000000001").expect("issued");
    assert_eq!(json["SecretAccessKey"], issued.secret_access_key());
    assert_eq!(json["Token"], issued.session_token().unwrap());
    assert_eq!(issued.expiry(), Some(secs(START + 6 * 3600)));
    assert_eq!(issued.provider_name(), "imds-emulator");
    assert!(imds.lookup("ASIAEMU0000000000002").is_none());
    assert!(imds.lookup("AKIDEXAMPLE").is_none());

    assert_eq!(imds.token_fetches(), 1);
    assert_eq!(imds.credential_fetches(), 1);
    let log = imds.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].method, Method::PUT);
    assert!(log[0].is_token_request());
    assert_eq!(log[0].token_ttl.as_deref(), Some("21600"));
    assert!(!log[0].token_present);
    assert_eq!(log[0].status, Some(StatusCode::OK));
    assert_eq!(log[1].path, LIST);
    assert!(log[1].token_present);
    assert_eq!(log[2].path, ROLE_PATH);
    assert!(log[2].is_credentials_request());
    assert_eq!(log[2].user_agent.as_deref(), Some("imds-emulator-test"));
    assert_eq!(log[2].at, secs(START));
    assert!(log.iter().all(|r| r.faults.is_empty()));

    imds.clear_requests();
    assert!(imds.requests().is_empty());
    assert_eq!(imds.credential_fetches(), 0);
}

#[tokio::test]
async fn default_role_name_and_system_clock() {
    let imds = ImdsEmulator::start().await;
    let token = token(imds.addr()).await;
    let list = get(imds.addr(), LIST, &token).await;
    assert_eq!(list.body, "sigv4-testkit-role");
    let path = format!("{LIST}sigv4-testkit-role");
    let json = get(imds.addr(), &path, &token).await.json();
    let expiry = imds.current_credentials().expiry().unwrap();
    let left = expiry.duration_since(SystemTime::now()).unwrap();
    assert!(left > Duration::from_secs(5 * 3600) && left <= Duration::from_secs(6 * 3600));
    let expiration = json["Expiration"].as_str().unwrap();
    assert!(
        expiration.ends_with('Z') && expiration.len() == 20,
        "{expiration}"
    );
}

#[tokio::test]
async fn extra_metadata_paths_are_served() {
    let imds = ImdsEmulator::builder()
        .metadata("/latest/meta-data/placement/region", "eu-west-1")
        .start()
        .await;
    let token = token(imds.addr()).await;
    let answer = get(imds.addr(), "/latest/meta-data/placement/region", &token).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "eu-west-1")
    );
    let answer = call(
        imds.addr(),
        Method::GET,
        "/latest/meta-data/placement/region",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

// ===== strictness =====

#[tokio::test]
async fn metadata_without_token_is_401() {
    let imds = emulator(&clock()).await;
    for path in [LIST, ROLE_PATH, "/latest/meta-data/", "/nope"] {
        let answer = call(imds.addr(), Method::GET, path, &[]).await.unwrap();
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(imds.credential_fetches(), 1, "counted on arrival");
}

#[tokio::test]
async fn unknown_or_invalid_token_is_401() {
    let imds = emulator(&clock()).await;
    let _real = token(imds.addr()).await;
    for bad in [
        "",
        "not-a-token",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let answer = get(imds.addr(), ROLE_PATH, bad).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{bad:?}");
    }
}

#[tokio::test]
async fn token_ttl_must_be_present_and_in_range() {
    let imds = emulator(&clock()).await;
    let missing = call(imds.addr(), Method::PUT, TOKEN, &[]).await.unwrap();
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    for bad in [
        "0",
        "21601",
        "-5",
        "+5",
        "abc",
        "",
        "1.5",
        "100000000000000000000",
    ] {
        let answer = put_token(imds.addr(), bad).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "ttl {bad:?}");
    }
    for good in ["1", "60", "21600"] {
        let answer = put_token(imds.addr(), good).await;
        assert_eq!(answer.status, StatusCode::OK, "ttl {good:?}");
        assert_eq!(answer.headers.get(TTL).unwrap(), good);
    }
    assert_eq!(imds.token_fetches(), 12);
}

#[tokio::test]
async fn token_request_with_x_forwarded_for_is_403() {
    let imds = emulator(&clock()).await;
    let answer = call(
        imds.addr(),
        Method::PUT,
        TOKEN,
        &[(TTL, "21600"), ("x-forwarded-for", "10.0.0.1")],
    )
    .await
    .unwrap();
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(imds.requests()[0].forwarded_for);
}

#[tokio::test]
async fn wrong_methods_are_405() {
    let imds = emulator(&clock()).await;
    let answer = call(imds.addr(), Method::GET, TOKEN, &[(TTL, "21600")])
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.headers.get("allow").unwrap(), "PUT");
    assert_eq!(imds.token_fetches(), 0, "only PUTs are token fetches");

    let token = token(imds.addr()).await;
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let answer = call(
            imds.addr(),
            method.clone(),
            ROLE_PATH,
            &[(TOKEN_HEADER, &token)],
        )
        .await
        .unwrap();
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    assert_eq!(
        imds.credential_fetches(),
        0,
        "only GETs are credential fetches"
    );
}

#[tokio::test]
async fn unknown_role_and_other_paths_are_404() {
    let imds = emulator(&clock()).await;
    let token = token(imds.addr()).await;
    for path in [
        "/latest/meta-data/iam/security-credentials/other-role",
        "/latest/meta-data/iam/security-credentials/test-role/",
        "/latest/meta-data/",
        "/",
        "/latest/api/token/extra",
    ] {
        let answer = get(imds.addr(), path, &token).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn odd_requests_do_not_break_the_server() {
    let imds = emulator(&clock()).await;
    let token = token(imds.addr()).await;
    // A token header that is not UTF-8, a query string, a very long path.
    let stream = TcpStream::connect(imds.addr()).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::get(ROLE_PATH)
        .header("host", "x")
        .header(
            TOKEN_HEADER,
            http::HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        )
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let with_query = get(imds.addr(), &format!("{LIST}?x=1"), &token).await;
    assert_eq!(with_query.status, StatusCode::OK);
    let long = format!("/{}", "a".repeat(4000));
    assert_eq!(
        get(imds.addr(), &long, &token).await.status,
        StatusCode::NOT_FOUND
    );

    // Still serving.
    assert_eq!(
        get(imds.addr(), ROLE_PATH, &token).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn imdsv1_can_be_allowed() {
    let imds = ImdsEmulator::builder()
        .role_name(ROLE)
        .allow_imdsv1(true)
        .start()
        .await;
    let answer = call(imds.addr(), Method::GET, ROLE_PATH, &[])
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["Code"], "Success");
    // A bad token is still refused.
    assert_eq!(
        get(imds.addr(), ROLE_PATH, "bogus").await.status,
        StatusCode::UNAUTHORIZED
    );

    imds.set_allow_imdsv1(false);
    let answer = call(imds.addr(), Method::GET, ROLE_PATH, &[])
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    imds.set_allow_imdsv1(true);
    let answer = call(imds.addr(), Method::GET, LIST, &[]).await.unwrap();
    assert_eq!(answer.body, ROLE);
}

// ===== time: token expiry and rotation =====

#[tokio::test]
async fn tokens_expire_after_their_ttl_on_the_injected_clock() {
    let clock = clock();
    let imds = emulator(&clock).await;
    let short = put_token(imds.addr(), "60").await.body;
    let long = token(imds.addr()).await;

    clock.advance(Duration::from_secs(59));
    assert_eq!(get(imds.addr(), LIST, &short).await.status, StatusCode::OK);
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        get(imds.addr(), LIST, &short).await.status,
        StatusCode::UNAUTHORIZED
    );

    clock.advance(Duration::from_secs(21_600 - 61));
    assert_eq!(get(imds.addr(), LIST, &long).await.status, StatusCode::OK);
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        get(imds.addr(), LIST, &long).await.status,
        StatusCode::UNAUTHORIZED
    );

    let fresh = token(imds.addr()).await;
    assert_eq!(get(imds.addr(), LIST, &fresh).await.status, StatusCode::OK);
    imds.invalidate_tokens();
    assert_eq!(
        get(imds.addr(), LIST, &fresh).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn credentials_rotate_on_schedule() {
    let clock = clock();
    let imds = emulator(&clock).await;
    let token = token(imds.addr()).await;
    assert_eq!(imds.generation(), 1);

    // Default: rotate every 6 h - 15 min = 5 h 45 min.
    clock.advance(Duration::from_secs(5 * 3600 + 44 * 60));
    let json = get(imds.addr(), ROLE_PATH, &token).await.json();
    assert_eq!(json["AccessKeyId"], "ASIAEMU0000000000001");

    clock.advance(Duration::from_secs(60));
    let json = get(imds.addr(), ROLE_PATH, &token).await.json();
    assert_eq!(json["AccessKeyId"], "ASIAEMU0000000000002");
    assert_eq!(json["LastUpdated"], "2023-11-15T03:58:20Z");
    assert_eq!(json["Expiration"], "2023-11-15T09:58:20Z");
    assert_eq!(imds.generation(), 2);

    let issued = imds.issued_credentials();
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[0].access_key_id(), "ASIAEMU0000000000001");
    assert_eq!(issued[1].access_key_id(), "ASIAEMU0000000000002");
    assert_ne!(issued[0].secret_access_key(), issued[1].secret_access_key());
    assert_ne!(issued[0].session_token(), issued[1].session_token());
    assert_eq!(issued[1].expiry(), Some(secs(START + 20_700 + 21_600)));
    assert_eq!(json["SecretAccessKey"], issued[1].secret_access_key());
    assert_eq!(
        imds.current_credentials().access_key_id(),
        "ASIAEMU0000000000002"
    );
    // The old generation is still known, with its expiry, for a verifying server.
    let old = imds.lookup("ASIAEMU0000000000001").unwrap();
    assert_eq!(old.expiry(), Some(secs(START + 21_600)));
}

#[tokio::test]
async fn rotation_is_configurable_and_jumps_are_one_generation() {
    let clock = clock();
    let imds = ImdsEmulator::builder()
        .time_source(Arc::new(clock.clone()))
        .role_name(ROLE)
        .credential_lifetime(Duration::from_secs(3600))
        .rotate_every(Duration::from_secs(600))
        .start()
        .await;
    assert_eq!(
        imds.current_credentials().expiry(),
        Some(secs(START + 3600))
    );
    // 35 minutes: three periods passed; one new generation, dated at the 30-minute mark.
    clock.advance(Duration::from_secs(35 * 60));
    let current = imds.current_credentials();
    assert_eq!(current.access_key_id(), "ASIAEMU0000000000002");
    assert_eq!(current.expiry(), Some(secs(START + 1800 + 3600)));
    assert_eq!(imds.issued_credentials().len(), 2);

    clock.advance(Duration::from_secs(5 * 60));
    assert_eq!(imds.generation(), 3);
    let token = token(imds.addr()).await;
    let json = get(imds.addr(), ROLE_PATH, &token).await.json();
    assert_eq!(json["AccessKeyId"], "ASIAEMU0000000000003");
    // 2023-11-14T22:13:20Z + 40 min = 22:53:20, + 1 h.
    assert_eq!(json["LastUpdated"], "2023-11-14T22:53:20Z");
    assert_eq!(json["Expiration"], "2023-11-14T23:53:20Z");
}

#[tokio::test]
async fn rotation_can_be_forced_or_switched_off() {
    let clock = clock();
    let imds = ImdsEmulator::builder()
        .time_source(Arc::new(clock.clone()))
        .role_name(ROLE)
        .rotate_every(Duration::ZERO)
        .start()
        .await;
    clock.advance(Duration::from_secs(100 * 3600));
    assert_eq!(imds.generation(), 1, "automatic rotation is off");
    assert!(imds.current_credentials().is_expired_at(clock_now(&clock)));

    let forced = imds.rotate_now();
    assert_eq!(forced.access_key_id(), "ASIAEMU0000000000002");
    assert_eq!(forced.expiry(), Some(secs(START + 100 * 3600 + 6 * 3600)));
    let token = token(imds.addr()).await;
    let json = get(imds.addr(), ROLE_PATH, &token).await.json();
    assert_eq!(json["AccessKeyId"], "ASIAEMU0000000000002");
}

#[tokio::test]
async fn rotate_now_restarts_the_schedule() {
    let clock = clock();
    let imds = emulator(&clock).await;
    clock.advance(Duration::from_secs(3600));
    assert_eq!(imds.rotate_now().access_key_id(), "ASIAEMU0000000000002");
    // Next rotation 5 h 45 min after the forced one, not after the start.
    clock.advance(Duration::from_secs(5 * 3600));
    assert_eq!(imds.generation(), 2);
    clock.advance(Duration::from_secs(45 * 60));
    assert_eq!(imds.generation(), 3);
}

fn clock_now(clock: &ManualClock) -> SystemTime {
    use sigv4_credentials::TimeSource;
    clock.now()
}

// ===== faults =====

#[tokio::test]
async fn server_errors_until_cleared() {
    let imds = emulator(&clock()).await;
    let token = token(imds.addr()).await;
    imds.set_fault(Fault::Status(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(
        put_token(imds.addr(), "21600").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        get(imds.addr(), ROLE_PATH, &token).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        get(imds.addr(), ROLE_PATH, &token).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(imds.active_faults().len(), 1);
    let log = imds.requests();
    assert_eq!(
        log.last().unwrap().faults,
        vec![Fault::Status(StatusCode::INTERNAL_SERVER_ERROR)]
    );
    imds.clear_faults();
    assert!(imds.active_faults().is_empty());
    assert_eq!(
        get(imds.addr(), ROLE_PATH, &token).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn scoped_fault_for_the_next_n_requests() {
    let imds = emulator(&clock()).await;
    imds.set_fault(
        FaultRule::new(Fault::Status(StatusCode::SERVICE_UNAVAILABLE))
            .on(Target::Token)
            .times(2),
    );
    assert_eq!(imds.active_faults()[0].remaining(), Some(2));
    assert_eq!(
        put_token(imds.addr(), "21600").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(imds.active_faults()[0].remaining(), Some(1));
    assert_eq!(
        put_token(imds.addr(), "21600").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(imds.active_faults().is_empty());
    let token = token(imds.addr()).await;
    // Not on other paths.
    imds.set_fault(
        FaultRule::new(Fault::Status(StatusCode::SERVICE_UNAVAILABLE))
            .on(Target::Token)
            .once(),
    );
    assert_eq!(
        get(imds.addr(), ROLE_PATH, &token).await.status,
        StatusCode::OK
    );
    assert_eq!(
        imds.active_faults().len(),
        1,
        "not consumed by a credentials request"
    );
    // A zero-count rule never applies.
    imds.clear_faults();
    imds.set_fault(FaultRule::new(Fault::Hang).times(0));
    assert!(imds.active_faults().is_empty());
}

#[tokio::test]
async fn faults_on_credentials_only() {
    let imds = emulator(&clock()).await;
    imds.set_fault(
        FaultRule::new(Fault::Status(StatusCode::INTERNAL_SERVER_ERROR)).on(Target::Credentials),
    );
    let token = token(imds.addr()).await;
    assert_eq!(get(imds.addr(), LIST, &token).await.status, StatusCode::OK);
    assert_eq!(
        get(imds.addr(), ROLE_PATH, &token).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    imds.clear_faults();
    imds.set_fault(
        FaultRule::new(Fault::Status(StatusCode::INTERNAL_SERVER_ERROR)).on(Target::RoleList),
    );
    assert_eq!(
        get(imds.addr(), LIST, &token).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        get(imds.addr(), ROLE_PATH, &token).await.status,
        StatusCode::OK
    );
    imds.clear_faults();
    imds.set_fault(FaultRule::new(Fault::Status(StatusCode::BAD_GATEWAY)).on(Target::Metadata));
    assert_eq!(put_token(imds.addr(), "60").await.status, StatusCode::OK);
    assert_eq!(
        get(imds.addr(), LIST, &token).await.status,
        StatusCode::BAD_GATEWAY
    );
}

#[tokio::test(start_paused = true)]
async fn hang_holds_the_request_until_cleared() {
    let imds = emulator(&clock()).await;
    let token = token(imds.addr()).await;
    imds.clear_requests();
    imds.set_fault(FaultRule::new(Fault::Hang).on(Target::Credentials).once());

    let addr = imds.addr();
    let token2 = token.clone();
    let mut pending = tokio::spawn(async move { get(addr, ROLE_PATH, &token2).await });
    imds.wait_for_requests(1).await;
    assert_eq!(imds.requests()[0].status, None);
    assert_eq!(imds.requests()[0].faults, vec![Fault::Hang]);

    // An hour of (paused, auto-advanced) time passes without an answer.
    let waited = tokio::time::timeout(Duration::from_secs(3600), &mut pending).await;
    assert!(waited.is_err(), "a hung request must not be answered");

    // The rule was for one request only: others are answered meanwhile.
    assert_eq!(get(addr, ROLE_PATH, &token).await.status, StatusCode::OK);

    imds.clear_faults();
    let answer = pending.await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["Code"], "Success");
    assert_eq!(imds.requests()[0].status, Some(StatusCode::OK));
}

#[tokio::test]
async fn dropping_the_emulator_closes_hung_connections() {
    let imds = emulator(&clock()).await;
    imds.set_fault(Fault::Hang);
    let addr = imds.addr();
    let handle = imds.handle();
    let pending = tokio::spawn(async move { call(addr, Method::PUT, TOKEN, &[(TTL, "60")]).await });
    imds.wait_for_requests(1).await;
    drop(imds);
    let result = pending.await.unwrap();
    assert!(
        result.is_err(),
        "the connection is closed without an answer: {result:?}"
    );
    // The handle outlives the emulator.
    assert_eq!(handle.token_fetches(), 1);
    assert_eq!(handle.requests()[0].status, None);
    // Nothing listens any more.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn slow_answers_use_tokio_time() {
    let imds = emulator(&clock()).await;
    let token = token(imds.addr()).await;
    imds.set_fault(FaultRule::new(Fault::Delay(Duration::from_secs(10))).on(Target::Credentials));
    let started = tokio::time::Instant::now();
    let answer = get(imds.addr(), ROLE_PATH, &token).await;
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["Code"], "Success");

    // A delay combines with a following fault.
    imds.set_fault(Fault::Status(StatusCode::SERVICE_UNAVAILABLE));
    let started = tokio::time::Instant::now();
    let answer = get(imds.addr(), ROLE_PATH, &token).await;
    assert!(started.elapsed() >= Duration::from_secs(10));
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        imds.requests().last().unwrap().faults,
        vec![
            Fault::Delay(Duration::from_secs(10)),
            Fault::Status(StatusCode::SERVICE_UNAVAILABLE)
        ]
    );

    // Not on the token path.
    let started = tokio::time::Instant::now();
    put_token(imds.addr(), "60").await;
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn malformed_json() {
    let imds = emulator(&clock()).await;
    let token = token(imds.addr()).await;
    imds.set_fault(Fault::MalformedJson);
    // The listing and the token are untouched.
    assert_eq!(get(imds.addr(), LIST, &token).await.body, ROLE);
    let answer = get(imds.addr(), ROLE_PATH, &token).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        serde_json::from_str::<Value>(&answer.body).is_err(),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("\"Code\""));
}

#[tokio::test]
async fn no_role() {
    let imds = emulator(&clock()).await;
    let token = token(imds.addr()).await;
    imds.set_fault(Fault::NoRole);
    assert_eq!(put_token(imds.addr(), "60").await.status, StatusCode::OK);
    assert_eq!(
        get(imds.addr(), LIST, &token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(imds.addr(), ROLE_PATH, &token).await.status,
        StatusCode::NOT_FOUND
    );

    // The same with a builder setting: an instance without a role.
    let roleless = ImdsEmulator::builder().role_name("").start().await;
    let token = self::token(roleless.addr()).await;
    assert_eq!(
        get(roleless.addr(), LIST, &token).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn imds_disabled_is_403_on_the_token() {
    let imds = emulator(&clock()).await;
    imds.set_fault(Fault::Forbidden);
    let answer = put_token(imds.addr(), "21600").await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.headers.get(TTL).is_none());
}

#[tokio::test]
async fn code_not_success() {
    let imds = emulator(&clock()).await;
    let token = token(imds.addr()).await;
    imds.set_fault(Fault::CodeNotSuccess);
    let answer = get(imds.addr(), ROLE_PATH, &token).await;
    assert_eq!(answer.status, StatusCode::OK);
    let json = answer.json();
    assert_eq!(json["Code"], "AssumeRoleUnauthorizedAccess");
    assert!(json.get("AccessKeyId").is_none());
    assert!(json["Message"].is_string());
}

#[tokio::test]
async fn expired_credentials() {
    let clock = clock();
    let imds = emulator(&clock).await;
    let token = token(imds.addr()).await;
    imds.set_fault(Fault::ExpiredCredentials);
    let json = get(imds.addr(), ROLE_PATH, &token).await.json();
    assert_eq!(json["Code"], "Success");
    assert_eq!(json["AccessKeyId"], "ASIAEMU0000000000001");
    // One hour before 2023-11-14T22:13:20Z.
    assert_eq!(json["Expiration"], "2023-11-14T21:13:20Z");
    assert_eq!(json["LastUpdated"], "2023-11-14T15:13:20Z");
}

#[tokio::test]
async fn close_connection_without_answer() {
    let imds = emulator(&clock()).await;
    imds.set_fault(FaultRule::new(Fault::CloseConnection).once());
    let result = call(imds.addr(), Method::PUT, TOKEN, &[(TTL, "60")]).await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(imds.requests()[0].status, None);
    assert_eq!(put_token(imds.addr(), "60").await.status, StatusCode::OK);
}

#[tokio::test]
async fn closed_port_refuses_connections() {
    let addr = closed_port().unwrap();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    let endpoint = closed_port_endpoint().unwrap();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
}

#[tokio::test]
async fn handle_is_cloneable_and_shared() {
    let imds = emulator(&clock()).await;
    let handle = imds.handle();
    let task = tokio::spawn(async move {
        handle.set_fault(Fault::Status(StatusCode::INTERNAL_SERVER_ERROR));
        handle.role_name().to_owned()
    });
    assert_eq!(task.await.unwrap(), ROLE);
    assert_eq!(
        put_token(imds.addr(), "60").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let debug = format!("{imds:?}");
    assert!(
        !debug.contains(imds.current_credentials().secret_access_key()),
        "{debug}"
    );
}
