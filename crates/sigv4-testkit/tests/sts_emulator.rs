//! The STS emulator, driven over loopback by a plain hyper HTTP/1.1 client, with requests signed
//! by our own `sigv4_core::Signer`.
//!
//! Expected documents, dates and codes are written out by hand from STS's recorded answers (the
//! smithy-rs `http-traffic.json` vectors), the STS API reference and `date -u`, not computed by
//! the emulator's own code.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sigv4_core::{
    Credentials, ManualClock, Payload, Signer, SigningParams, SigningSettings, TimeSource,
};
use sigv4_testkit::sts::{
    Action, Caller, ExpirationFormat, Fault, FaultRule, Role, StsEmulator, Target,
};
use tokio::net::TcpStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// 2023-11-14T22:13:20Z
const START: u64 = 1_700_000_000;
const ROLE: &str = "arn:aws:iam::123456789012:role/integration-test";
const ROLE_B: &str = "arn:aws:iam::210987654321:role/path/to/deploy";
const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDpkZWZhdWx0In0.c2lnbmF0dXJl";
const CALLER_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    /// The text of the first `<tag>…</tag>`.
    fn field(&self, tag: &str) -> Option<&str> {
        let open = format!("<{tag}>");
        let start = self.body.find(&open)? + open.len();
        let end = self.body[start..].find(&format!("</{tag}>"))?;
        Some(&self.body[start..start + end])
    }

    fn code(&self) -> Option<&str> {
        self.field("Code")
    }

    fn credentials(&self) -> Credentials {
        let field = |tag| {
            self.field(tag)
                .unwrap_or_else(|| panic!("no {tag} in {}", self.body))
                .to_owned()
        };
        Credentials::builder(field("AccessKeyId"), field("SecretAccessKey"))
            .session_token(field("SessionToken"))
            .build()
    }
}

fn clock() -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::from_secs(START))
}

fn caller() -> Credentials {
    Credentials::new("AKIDCALLER0000000001", CALLER_SECRET)
}

fn secs(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn assume_role(role: &str, session: &str) -> String {
    form(&[
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", role),
        ("RoleSessionName", session),
    ])
}

fn web_identity(role: &str, session: &str, token: &str) -> String {
    form(&[
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", role),
        ("RoleSessionName", session),
        ("WebIdentityToken", token),
    ])
}

async fn emulator(clock: &ManualClock) -> StsEmulator {
    StsEmulator::builder()
        .time_source(Arc::new(clock.clone()))
        .caller(caller())
        .web_identity_token(TOKEN)
        .start()
        .await
}

/// A form POST to `/`, as the SDKs send it.
fn request(sts: &StsEmulator, body: &str) -> Request<Full<Bytes>> {
    Request::post("/")
        .header("host", sts.addr().to_string())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", "sts-emulator-test")
        .body(Full::from(body.to_owned()))
        .expect("request")
}

fn sign(
    request: &mut Request<Full<Bytes>>,
    body: &str,
    creds: &Credentials,
    region: &str,
    at: SystemTime,
) {
    let params = SigningParams::new(creds, region, "sts", at);
    Signer::new()
        .sign_request(request, Payload::Bytes(body.as_bytes()), &params)
        .expect("sign");
}

/// Sends on a fresh connection.
async fn send(sts: &StsEmulator, request: Request<Full<Bytes>>) -> Result<Answer, BoxError> {
    let stream = TcpStream::connect(sts.addr()).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec())?,
    })
}

/// A signed form POST.
async fn signed(sts: &StsEmulator, body: &str, creds: &Credentials, clock: &ManualClock) -> Answer {
    let mut req = request(sts, body);
    sign(&mut req, body, creds, "us-east-1", clock.now());
    send(sts, req).await.expect("signed request")
}

async fn unsigned(sts: &StsEmulator, body: &str) -> Answer {
    send(sts, request(sts, body))
        .await
        .expect("unsigned request")
}

fn assert_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.code(), Some(code), "{answer:?}");
    assert!(
        answer
            .body
            .starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>"),
        "{}",
        answer.body
    );
}

// ===== AssumeRole =====

#[tokio::test]
async fn assume_role_signed_by_our_signer() {
    let clock = clock();
    let sts = emulator(&clock).await;
    assert!(sts.endpoint().starts_with("http://127.0.0.1:"));

    let answer = signed(
        &sts,
        &assume_role(ROLE, "assume-role-provider-session"),
        &caller(),
        &clock,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.headers["content-type"], "text/xml");
    assert_eq!(
        answer.headers["x-amzn-requestid"],
        "00000000-0000-4000-8000-000000000001"
    );
    let issued = sts.last_issued().expect("issued");
    let creds = &issued.credentials;
    let role_id = issued.assumed_role_id.split(':').next().unwrap().to_owned();
    assert!(
        role_id.starts_with("AROA") && role_id.len() == 21,
        "{role_id}"
    );
    // The recorded STS answer (smithy-rs `retry_on_error`), with the emulator's values.
    let expected = format!(
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <AssumeRoleResult>\n    <AssumedRoleUser>\n      <AssumedRoleId>{role_id}:assume-role-provider-session</AssumedRoleId>\n      <Arn>arn:aws:sts::123456789012:assumed-role/integration-test/assume-role-provider-session</Arn>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>ASIASTS0000000000001</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>2023-11-14T23:13:20Z</Expiration>\n    </Credentials>\n  </AssumeRoleResult>\n  <ResponseMetadata>\n    <RequestId>00000000-0000-4000-8000-000000000001</RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n",
        creds.secret_access_key(),
        creds.session_token().unwrap()
    );
    assert_eq!(answer.body, expected);

    assert_eq!(issued.number, 1);
    assert_eq!(issued.action, Action::AssumeRole);
    assert_eq!(
        issued.caller,
        Caller::AccessKey("AKIDCALLER0000000001".into())
    );
    assert_eq!(issued.role_arn, ROLE);
    assert_eq!(issued.account_id(), "123456789012");
    assert_eq!(issued.issued_at, secs(START));
    assert_eq!(issued.expiry(), secs(START + 3600));
    assert_eq!(creds.provider_name(), "sts-emulator");
    assert_eq!(
        sts.lookup("ASIASTS0000000000001").unwrap().access_key_id(),
        "ASIASTS0000000000001"
    );
    assert!(sts.lookup("AKIDCALLER0000000001").is_none());

    assert_eq!((sts.assume_role_calls(), sts.web_identity_calls()), (1, 0));
    let log = sts.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].method, Method::POST);
    assert_eq!(log[0].known_action(), Some(Action::AssumeRole));
    assert_eq!(log[0].role_arn.as_deref(), Some(ROLE));
    assert_eq!(
        log[0].role_session_name.as_deref(),
        Some("assume-role-provider-session")
    );
    assert_eq!(
        log[0].access_key_id.as_deref(),
        Some("AKIDCALLER0000000001")
    );
    assert!(!log[0].session_token_present);
    assert_eq!(log[0].user_agent.as_deref(), Some("sts-emulator-test"));
    assert_eq!(log[0].status, Some(StatusCode::OK));
    assert_eq!(log[0].error_code, None);
    assert_eq!(log[0].issued.as_deref(), Some("ASIASTS0000000000001"));
    assert_eq!(log[0].at, secs(START));

    sts.clear_requests();
    assert!(sts.requests().is_empty());
    assert_eq!(sts.assume_role_calls(), 0);
    assert_eq!(sts.issued().len(), 1);
}

#[tokio::test]
async fn duration_external_id_and_get_with_query() {
    let clock = clock();
    let sts = emulator(&clock).await;
    sts.add_role(Role::new(ROLE_B).external_id("ci-4f2a"));

    let with = |extra: &[(&str, &str)]| {
        let mut pairs = vec![
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", ROLE_B),
            ("RoleSessionName", "s1"),
        ];
        pairs.extend_from_slice(extra);
        form(&pairs)
    };
    let denied = signed(&sts, &with(&[]), &caller(), &clock).await;
    assert_error(&denied, StatusCode::FORBIDDEN, "AccessDenied");
    let denied = signed(&sts, &with(&[("ExternalId", "wrong")]), &caller(), &clock).await;
    assert_error(&denied, StatusCode::FORBIDDEN, "AccessDenied");
    let ok = signed(
        &sts,
        &with(&[("ExternalId", "ci-4f2a"), ("DurationSeconds", "900")]),
        &caller(),
        &clock,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{ok:?}");
    assert_eq!(ok.field("Expiration"), Some("2023-11-14T22:28:20Z"));
    assert_eq!(
        ok.field("Arn"),
        Some("arn:aws:sts::210987654321:assumed-role/deploy/s1")
    );
    assert_eq!(
        sts.last_issued().unwrap().external_id.as_deref(),
        Some("ci-4f2a")
    );

    // Parameters in the query string of a signed GET.
    let query = assume_role(ROLE, "from-get");
    let mut get = Request::builder()
        .method(Method::GET)
        .uri(format!("/?{query}"))
        .header("host", sts.addr().to_string())
        .body(Full::default())
        .unwrap();
    sign(&mut get, "", &caller(), "us-east-1", clock.now());
    let answer = send(&sts, get).await.unwrap();
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(sts.last_issued().unwrap().role_session_name, "from-get");
}

#[tokio::test]
async fn parameter_validation() {
    let clock = clock();
    let sts = emulator(&clock).await;
    let duration = |d: &str| {
        form(&[
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", ROLE),
            ("RoleSessionName", "s"),
            ("DurationSeconds", d),
        ])
    };
    // The session name "s" is too short.
    let answer = signed(&sts, &duration("3600"), &caller(), &clock).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "ValidationError");
    for (d, ok) in [
        ("899", false),
        ("900", true),
        ("43200", true),
        ("43201", false),
        ("1h", false),
    ] {
        let body = duration(d).replace("RoleSessionName=s&", "RoleSessionName=ss&");
        let answer = signed(&sts, &body, &caller(), &clock).await;
        if ok {
            assert_eq!(answer.status, StatusCode::OK, "{d}: {answer:?}");
        } else {
            assert_error(&answer, StatusCode::BAD_REQUEST, "ValidationError");
        }
    }
    let answer = signed(
        &sts,
        &assume_role("arn:aws:iam::123456789012:user/bob", "ss"),
        &caller(),
        &clock,
    )
    .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "ValidationError");
    let answer = signed(
        &sts,
        &form(&[
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleSessionName", "ss"),
        ]),
        &caller(),
        &clock,
    )
    .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "ValidationError");
    assert!(
        answer.field("Message").unwrap().contains("'roleArn'"),
        "{answer:?}"
    );

    let answer = unsigned(&sts, "Version=2011-06-15").await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "MissingAction");
    let answer = unsigned(&sts, "Action=GetFederationToken&Version=2011-06-15").await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "InvalidAction");
    let answer = unsigned(
        &sts,
        &web_identity(ROLE, "ss", TOKEN).replace("&Version=2011-06-15", ""),
    )
    .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "MissingParameter");
}

#[tokio::test]
async fn only_registered_roles() {
    let clock = clock();
    let sts = StsEmulator::builder()
        .time_source(Arc::new(clock.clone()))
        .caller(caller())
        .only_registered_roles(true)
        .role(Role::new(ROLE))
        .start()
        .await;
    let answer = signed(&sts, &assume_role(ROLE_B, "ss"), &caller(), &clock).await;
    assert_error(&answer, StatusCode::FORBIDDEN, "AccessDenied");
    let answer = signed(&sts, &assume_role(ROLE, "ss"), &caller(), &clock).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

// ===== authentication =====

#[tokio::test]
async fn tampered_signature_is_refused() {
    let clock = clock();
    let sts = emulator(&clock).await;
    let body = assume_role(ROLE, "session");

    // The body changed after signing.
    let mut req = request(&sts, &body.replace("session", "sessioN"));
    sign(&mut req, &body, &caller(), "us-east-1", clock.now());
    let answer = send(&sts, req).await.unwrap();
    assert_error(&answer, StatusCode::FORBIDDEN, "SignatureDoesNotMatch");
    assert!(answer.body.contains("<Type>Sender</Type>"));
    assert!(answer.field("RequestId").is_some());

    // One hex digit of the signature changed.
    let mut req = request(&sts, &body);
    sign(&mut req, &body, &caller(), "us-east-1", clock.now());
    let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
    let last = auth.chars().last().unwrap();
    let flipped = format!(
        "{}{}",
        &auth[..auth.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    req.headers_mut()
        .insert("authorization", flipped.parse().unwrap());
    let answer = send(&sts, req).await.unwrap();
    assert_error(&answer, StatusCode::FORBIDDEN, "SignatureDoesNotMatch");

    // Signed with the wrong secret.
    let wrong = Credentials::new("AKIDCALLER0000000001", "not-the-secret");
    let answer = signed(&sts, &body, &wrong, &clock).await;
    assert_error(&answer, StatusCode::FORBIDDEN, "SignatureDoesNotMatch");

    let log = sts.requests();
    assert_eq!(log.len(), 3);
    assert!(log
        .iter()
        .all(|r| r.error_code.as_deref() == Some("SignatureDoesNotMatch")));
    assert!(sts.issued().is_empty());
}

#[tokio::test]
async fn body_hash_header_is_checked_against_the_body() {
    let clock = clock();
    let sts = emulator(&clock).await;
    let body = assume_role(ROLE, "session");
    let mut settings = SigningSettings::default();
    settings.content_sha256_header = sigv4_core::ContentSha256Header::Always;

    let signed_with_header = |sent: &str| {
        let mut req = request(&sts, sent);
        let creds = caller();
        let params =
            SigningParams::new(&creds, "us-east-1", "sts", clock.now()).with_settings(&settings);
        Signer::new()
            .sign_request(&mut req, Payload::Bytes(body.as_bytes()), &params)
            .unwrap();
        req
    };
    let answer = send(&sts, signed_with_header(&body)).await.unwrap();
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    // The header and signature match each other, but not the body sent.
    let answer = send(
        &sts,
        signed_with_header(&body.replace("session", "sessioN")),
    )
    .await
    .unwrap();
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
    assert_eq!(answer.code(), Some("XAmzContentSHA256Mismatch"));
}

#[tokio::test]
async fn unknown_key_unsigned_and_wrong_scope() {
    let clock = clock();
    let sts = StsEmulator::builder()
        .time_source(Arc::new(clock.clone()))
        .caller(caller())
        .region("eu-west-1")
        .start()
        .await;
    let body = assume_role(ROLE, "session");

    let stranger = Credentials::new("AKIDSTRANGER00000001", CALLER_SECRET);
    let answer = signed(&sts, &body, &stranger, &clock).await;
    assert_error(&answer, StatusCode::FORBIDDEN, "InvalidClientTokenId");

    let answer = unsigned(&sts, &body).await;
    assert_error(&answer, StatusCode::FORBIDDEN, "MissingAuthenticationToken");
    assert_eq!(
        answer.field("Message"),
        Some("Request is missing Authentication Token")
    );

    for (region, ok) in [
        ("us-east-1", true),
        ("eu-west-1", true),
        ("ap-south-1", false),
    ] {
        let mut req = request(&sts, &body);
        sign(&mut req, &body, &caller(), region, clock.now());
        let answer = send(&sts, req).await.unwrap();
        if ok {
            assert_eq!(answer.status, StatusCode::OK, "{region}: {answer:?}");
        } else {
            assert_error(&answer, StatusCode::FORBIDDEN, "SignatureDoesNotMatch");
        }
    }

    // Another service's scope.
    let mut req = request(&sts, &body);
    let creds = caller();
    let params = SigningParams::new(&creds, "us-east-1", "iam", clock.now());
    Signer::new()
        .sign_request(&mut req, Payload::Bytes(body.as_bytes()), &params)
        .unwrap();
    assert_error(
        &send(&sts, req).await.unwrap(),
        StatusCode::FORBIDDEN,
        "SignatureDoesNotMatch",
    );

    // Signed 10 minutes ago.
    let mut req = request(&sts, &body);
    sign(
        &mut req,
        &body,
        &caller(),
        "us-east-1",
        clock.now() - Duration::from_secs(600),
    );
    assert_error(
        &send(&sts, req).await.unwrap(),
        StatusCode::FORBIDDEN,
        "SignatureDoesNotMatch",
    );

    // A revoked caller.
    assert!(sts.revoke_caller("AKIDCALLER0000000001"));
    let answer = signed(&sts, &body, &caller(), &clock).await;
    assert_error(&answer, StatusCode::FORBIDDEN, "InvalidClientTokenId");
}

#[tokio::test]
async fn any_region() {
    let clock = clock();
    let sts = StsEmulator::builder()
        .time_source(Arc::new(clock.clone()))
        .caller(caller())
        .any_region()
        .start()
        .await;
    let body = assume_role(ROLE, "session");
    let mut req = request(&sts, &body);
    sign(&mut req, &body, &caller(), "ap-south-1", clock.now());
    assert_eq!(send(&sts, req).await.unwrap().status, StatusCode::OK);
}

#[tokio::test]
async fn chain_of_hops_signed_with_issued_credentials() {
    let clock = clock();
    let sts = emulator(&clock).await;

    // Hop 1: the caller's long-term key.
    let hop1 = signed(&sts, &assume_role(ROLE, "hop-1"), &caller(), &clock).await;
    assert_eq!(hop1.status, StatusCode::OK, "{hop1:?}");
    let first = hop1.credentials();

    // Hop 2: signed with hop 1's credentials and session token.
    let hop2 = signed(&sts, &assume_role(ROLE_B, "hop-2"), &first, &clock).await;
    assert_eq!(hop2.status, StatusCode::OK, "{hop2:?}");
    let second = hop2.credentials();
    // Hop 3: signed with hop 2's.
    let hop3 = signed(&sts, &assume_role(ROLE, "hop-3"), &second, &clock).await;
    assert_eq!(hop3.status, StatusCode::OK, "{hop3:?}");

    let issued = sts.issued();
    let callers: Vec<_> = issued
        .iter()
        .map(|i| i.caller.access_key_id().unwrap())
        .collect();
    assert_eq!(
        callers,
        [
            "AKIDCALLER0000000001",
            "ASIASTS0000000000001",
            "ASIASTS0000000000002"
        ]
    );
    let log = sts.requests();
    assert!(log[1].session_token_present && log[2].session_token_present);

    // Issued credentials without their session token: not accepted.
    let no_token = Credentials::new(first.access_key_id(), first.secret_access_key());
    let answer = signed(&sts, &assume_role(ROLE, "hop-x"), &no_token, &clock).await;
    assert_error(&answer, StatusCode::FORBIDDEN, "InvalidClientTokenId");

    // A chained hop may not ask for more than an hour.
    let long = form(&[
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", ROLE),
        ("RoleSessionName", "hop-long"),
        ("DurationSeconds", "3601"),
    ]);
    let answer = signed(&sts, &long, &first, &clock).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "ValidationError");
    let answer = signed(&sts, &long, &caller(), &clock).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

#[tokio::test]
async fn issued_credentials_expire_on_the_manual_clock() {
    let clock = clock();
    let sts = emulator(&clock).await;
    let answer = signed(&sts, &assume_role(ROLE, "short"), &caller(), &clock).await;
    let first = answer.credentials();

    clock.advance(Duration::from_secs(3599));
    let answer = signed(&sts, &assume_role(ROLE, "still-valid"), &first, &clock).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    // Expiration is counted from the request's time.
    assert_eq!(answer.field("Expiration"), Some("2023-11-15T00:13:19Z"));

    clock.advance(Duration::from_secs(1));
    let answer = signed(&sts, &assume_role(ROLE, "too-late"), &first, &clock).await;
    assert_error(&answer, StatusCode::FORBIDDEN, "ExpiredToken");
    // The caller's long-term key never expires.
    let answer = signed(&sts, &assume_role(ROLE, "fresh"), &caller(), &clock).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn issued_credentials_expired_on_the_server_side() {
    let clock = clock();
    let sts = emulator(&clock).await;
    let first = signed(&sts, &assume_role(ROLE, "s1"), &caller(), &clock)
        .await
        .credentials();
    assert!(sts.expire_issued("ASIASTS0000000000001"));
    assert!(!sts.expire_issued("ASIASTS0000000000009"));
    assert_eq!(sts.issued()[0].expiry(), secs(START));
    let answer = signed(&sts, &assume_role(ROLE, "s2"), &first, &clock).await;
    assert_error(&answer, StatusCode::FORBIDDEN, "ExpiredToken");
}

#[tokio::test]
async fn expiration_with_microseconds() {
    let clock = ManualClock::new(secs(START) + Duration::from_nanos(123_456_789));
    let sts = StsEmulator::builder()
        .time_source(Arc::new(clock.clone()))
        .caller(caller())
        .expiration_format(ExpirationFormat::Microseconds)
        .start()
        .await;
    let answer = signed(&sts, &assume_role(ROLE, "micro"), &caller(), &clock).await;
    assert_eq!(
        answer.field("Expiration"),
        Some("2023-11-14T23:13:20.123456Z")
    );
    assert_eq!(
        sts.last_issued().unwrap().expiry(),
        secs(START + 3600) + Duration::from_micros(123_456)
    );
}

// ===== web identity =====

#[tokio::test]
async fn web_identity_is_accepted_unsigned() {
    let clock = clock();
    let sts = emulator(&clock).await;
    let answer = unsigned(&sts, &web_identity(ROLE, "test-session", TOKEN)).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let issued = sts.last_issued().unwrap();
    let creds = &issued.credentials;
    let role_id = issued.assumed_role_id.split(':').next().unwrap().to_owned();
    // The recorded STS answer (smithy-rs `web_identity_token_env`), with the emulator's values;
    // the subject is the token's `sub` claim, the token has no `aud` or `iss`.
    let expected = format!(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <AssumeRoleWithWebIdentityResult>\n    <Audience>sts.amazonaws.com</Audience>\n    <AssumedRoleUser>\n      <AssumedRoleId>{role_id}:test-session</AssumedRoleId>\n      <Arn>arn:aws:sts::123456789012:assumed-role/integration-test/test-session</Arn>\n    </AssumedRoleUser>\n    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/SIGV4TESTKIT</Provider>\n    <Credentials>\n      <AccessKeyId>ASIASTS0000000000001</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>2023-11-14T23:13:20Z</Expiration>\n    </Credentials>\n    <SubjectFromWebIdentityToken>system:serviceaccount:default:default</SubjectFromWebIdentityToken>\n  </AssumeRoleWithWebIdentityResult>\n  <ResponseMetadata>\n    <RequestId>00000000-0000-4000-8000-000000000001</RequestId>\n  </ResponseMetadata>\n</AssumeRoleWithWebIdentityResponse>\n",
        creds.secret_access_key(),
        creds.session_token().unwrap()
    );
    assert_eq!(answer.body, expected);
    assert_eq!(issued.action, Action::AssumeRoleWithWebIdentity);
    assert_eq!(
        issued.caller,
        Caller::WebIdentity {
            subject: "system:serviceaccount:default:default".into()
        }
    );
    assert_eq!((sts.assume_role_calls(), sts.web_identity_calls()), (0, 1));
    assert_eq!(sts.requests()[0].access_key_id, None);

    // The credentials it issued can sign the next hop.
    let answer = signed(
        &sts,
        &assume_role(ROLE_B, "next"),
        &answer.credentials(),
        &clock,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

#[tokio::test]
async fn unknown_web_identity_token_is_refused() {
    let clock = clock();
    let sts = emulator(&clock).await;
    let answer = unsigned(&sts, &web_identity(ROLE, "s1", "not-the-token")).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "InvalidIdentityToken");
    let missing = form(&[
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", ROLE),
        ("RoleSessionName", "s1"),
    ]);
    let answer = unsigned(&sts, &missing).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "ValidationError");
    assert!(sts.issued().is_empty());
}

#[tokio::test]
async fn web_identity_token_rotation() {
    let clock = clock();
    let sts = emulator(&clock).await;
    let rotated = format!("{TOKEN}-rotated");
    sts.set_web_identity_token(rotated.clone());
    let answer = unsigned(&sts, &web_identity(ROLE, "s1", TOKEN)).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "InvalidIdentityToken");
    let answer = unsigned(&sts, &web_identity(ROLE, "s1", &rotated)).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    sts.allow_web_identity_token(TOKEN);
    let answer = unsigned(&sts, &web_identity(ROLE, "s1", TOKEN)).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    sts.revoke_web_identity_tokens();
    let answer = unsigned(&sts, &web_identity(ROLE, "s1", &rotated)).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "InvalidIdentityToken");
}

// ===== faults =====

#[tokio::test]
async fn status_faults_answer_with_sts_error_bodies() {
    let clock = clock();
    let sts = emulator(&clock).await;
    sts.set_fault(FaultRule::new(Fault::Status(StatusCode::SERVICE_UNAVAILABLE)).once());
    sts.set_fault(FaultRule::new(Fault::Status(StatusCode::INTERNAL_SERVER_ERROR)).once());
    let body = web_identity(ROLE, "s1", TOKEN);
    let answer = unsigned(&sts, &body).await;
    assert_error(
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
    );
    assert!(answer.body.contains("<Type>Receiver</Type>"));
    let answer = unsigned(&sts, &body).await;
    assert_error(
        &answer,
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalFailure",
    );
    assert_eq!(unsigned(&sts, &body).await.status, StatusCode::OK);
    assert!(sts.active_faults().is_empty());

    sts.set_fault(Fault::Error {
        status: StatusCode::FORBIDDEN,
        code: "RegionDisabledException".into(),
    });
    let answer = unsigned(&sts, &body).await;
    assert_error(&answer, StatusCode::FORBIDDEN, "RegionDisabledException");
    sts.clear_faults();
    assert_eq!(unsigned(&sts, &body).await.status, StatusCode::OK);
}

#[tokio::test]
async fn throttling_narrowed_to_an_action_and_a_count() {
    let clock = clock();
    let sts = emulator(&clock).await;
    sts.set_fault(
        FaultRule::new(Fault::Throttling)
            .on(Target::AssumeRole)
            .times(2),
    );
    let web = web_identity(ROLE, "s1", TOKEN);
    let role = assume_role(ROLE, "s2");
    assert_eq!(unsigned(&sts, &web).await.status, StatusCode::OK);
    let answer = signed(&sts, &role, &caller(), &clock).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "Throttling");
    assert_eq!(answer.field("Message"), Some("Rate exceeded"));
    assert_eq!(sts.active_faults()[0].remaining(), Some(1));
    assert_error(
        &signed(&sts, &role, &caller(), &clock).await,
        StatusCode::BAD_REQUEST,
        "Throttling",
    );
    assert_eq!(
        signed(&sts, &role, &caller(), &clock).await.status,
        StatusCode::OK
    );
    let faults: Vec<_> = sts.requests().iter().map(|r| r.faults.clone()).collect();
    assert_eq!(
        faults,
        [
            vec![],
            vec![Fault::Throttling],
            vec![Fault::Throttling],
            vec![]
        ]
    );
}

#[tokio::test]
async fn idp_communication_error_applies_to_web_identity_by_default() {
    let clock = clock();
    let sts = emulator(&clock).await;
    sts.set_fault(FaultRule::new(Fault::IdpCommunicationError).once());
    assert_eq!(
        signed(&sts, &assume_role(ROLE, "s1"), &caller(), &clock)
            .await
            .status,
        StatusCode::OK
    );
    let answer = unsigned(&sts, &web_identity(ROLE, "s1", TOKEN)).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "IDPCommunicationError");
    assert_eq!(
        unsigned(&sts, &web_identity(ROLE, "s1", TOKEN))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn malformed_xml_and_expired_credentials() {
    let clock = clock();
    let sts = emulator(&clock).await;
    let body = web_identity(ROLE, "s1", TOKEN);

    sts.set_fault(FaultRule::new(Fault::MalformedXml).once());
    let answer = unsigned(&sts, &body).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer
        .body
        .starts_with("<AssumeRoleWithWebIdentityResponse"));
    assert!(!answer.body.contains("</AssumeRoleWithWebIdentityResponse>"));
    assert!(sts.issued().is_empty());

    sts.set_fault(FaultRule::new(Fault::ExpiredCredentials).once());
    let answer = unsigned(&sts, &body).await;
    assert_eq!(answer.field("Expiration"), Some("2023-11-14T21:13:20Z"));
    let stale = answer.credentials();
    let answer = signed(&sts, &assume_role(ROLE, "s2"), &stale, &clock).await;
    assert_error(&answer, StatusCode::FORBIDDEN, "ExpiredToken");
}

#[tokio::test(start_paused = true)]
async fn delay_runs_on_paused_time() {
    let clock = clock();
    let sts = emulator(&clock).await;
    sts.set_fault(Fault::Delay(Duration::from_secs(30)));
    let started = tokio::time::Instant::now();
    let answer = unsigned(&sts, &web_identity(ROLE, "s1", TOKEN)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_secs(30));
    assert_eq!(
        sts.requests()[0].faults,
        [Fault::Delay(Duration::from_secs(30))]
    );
}

#[tokio::test]
async fn hang_until_cleared_and_closed_connection() {
    let clock = clock();
    let sts = emulator(&clock).await;
    sts.set_fault(FaultRule::new(Fault::Hang).on(Target::AssumeRoleWithWebIdentity));
    let held = tokio::spawn({
        let req = request(&sts, &web_identity(ROLE, "s1", TOKEN));
        let sts_addr = sts.addr();
        async move {
            let stream = TcpStream::connect(sts_addr).await?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            let response = sender.send_request(req).await?;
            Ok::<_, BoxError>(response.status())
        }
    });
    sts.wait_for_requests(1).await;
    assert_eq!(sts.requests()[0].status, None);
    assert!(!held.is_finished());
    sts.clear_faults();
    assert_eq!(held.await.unwrap().unwrap(), StatusCode::OK);

    sts.set_fault(FaultRule::new(Fault::CloseConnection).once());
    let closed = send(&sts, request(&sts, &web_identity(ROLE, "s1", TOKEN))).await;
    assert!(closed.is_err(), "{closed:?}");
    assert_eq!(sts.requests()[1].status, None);
}

#[tokio::test]
async fn dropping_the_emulator_closes_held_requests() {
    let clock = clock();
    let sts = emulator(&clock).await;
    let handle = sts.handle();
    sts.set_fault(Fault::Hang);
    let req = request(&sts, &web_identity(ROLE, "s1", TOKEN));
    let addr = sts.addr();
    let held = tokio::spawn(async move {
        let stream = TcpStream::connect(addr).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        sender.send_request(req).await?;
        Ok::<_, BoxError>(())
    });
    handle.wait_for_requests(1).await;
    drop(sts);
    assert!(held.await.unwrap().is_err());
    assert_eq!(handle.requests().len(), 1);
}

// ===== secrets =====

#[tokio::test]
async fn no_secret_in_debug() {
    let clock = clock();
    let builder = StsEmulator::builder()
        .time_source(Arc::new(clock.clone()))
        .caller(caller())
        .web_identity_token(TOKEN);
    let builder_debug = format!("{builder:?}");
    let sts = builder.start().await;
    let answer = unsigned(&sts, &web_identity(ROLE, "s1", TOKEN)).await;
    let issued = answer.credentials();
    signed(&sts, &assume_role(ROLE, "s2"), &issued, &clock).await;
    sts.set_fault(Fault::Throttling);

    let text = format!(
        "{builder_debug} {sts:?} {:?} {:?} {:?} {:?}",
        sts.handle(),
        sts.issued(),
        sts.requests(),
        sts.active_faults()
    );
    assert!(text.contains("ASIASTS0000000000001"), "{text}");
    for secret in [
        CALLER_SECRET,
        TOKEN,
        issued.secret_access_key(),
        issued.session_token().unwrap(),
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

// ===== with the verifying endpoint =====

#[tokio::test]
async fn endpoint_accepts_credentials_the_emulator_issued() {
    let sts = StsEmulator::builder()
        .web_identity_token(TOKEN)
        .start()
        .await;
    let api = sigv4_testkit::endpoint::Endpoint::builder()
        .sts(&sts)
        .start()
        .await;
    let answer = unsigned(&sts, &web_identity(ROLE, "s1", TOKEN)).await;
    let creds = answer.credentials();
    let mut req = Request::get(format!("{}/prod/items", api.url()))
        .body(Full::<Bytes>::default())
        .unwrap();
    let params = SigningParams::new(&creds, api.region(), api.service(), SystemTime::now());
    Signer::new()
        .sign_request(&mut req, Payload::Bytes(b""), &params)
        .unwrap();
    let stream = TcpStream::connect(api.addr()).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        api.accepted_requests()[0].access_key_id,
        "ASIASTS0000000000001"
    );
}
