//! The credentials and requests (and aws-sigv4's side) the benches (`benches/sign.rs`, `benches/profile.rs`) and the
//! allocation counts (`tests/support/alloc_count.rs`) measure, in one place so every number is
//! about the same request. Included with `#[path = "..."] mod fixtures;`.
#![allow(dead_code)] // Each including target uses a part of this module.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{
    sign as aws_sign, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation as AwsLocation, SigningParams as AwsParams, SigningSettings as AwsSettings,
    UriPathNormalizationMode,
};
use aws_smithy_runtime_api::client::identity::Identity;
use http::Request;
use sigv4_core::SigningSettings;

/// A temporary-credentials access key id.
pub const AKID: &str = "ASIAEXAMPLEEXAMPLE12";
/// AWS's documentation secret.
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// An API Gateway host.
pub const API_HOST: &str = "abcdef1234.execute-api.us-east-1.amazonaws.com";

/// A session token of about 900 characters, like the ones STS hands out.
pub fn session_token() -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = fastrand::Rng::with_seed(900);
    let mut token = String::from("IQoJb3JpZ2luX2VjE");
    while token.len() < 900 {
        token.push(alphabet[rng.usize(..alphabet.len())] as char);
    }
    token.push_str("==");
    token
}

/// The signing time: 2023-11-14T22:13:20Z.
pub fn time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// An API Gateway GET with a query and the headers a client sends.
pub fn api_gateway_get<B: Default>() -> Request<B> {
    Request::get(format!("https://{API_HOST}/prod/items?limit=10&next=abc"))
        .header("host", API_HOST)
        .header("user-agent", "my-app/1.0 sigv4-tower/0.1")
        .header("accept", "application/json")
        .body(B::default())
        .expect("valid request")
}

/// An S3 GET (the object a presigned URL is made for).
pub fn s3_get<B: Default>() -> Request<B> {
    Request::get("https://my-bucket.s3.us-east-1.amazonaws.com/photos/2024/06/holiday%20pic.jpg")
        .body(B::default())
        .expect("valid request")
}

/// The same credentials as aws-sigv4 takes them.
pub fn aws_identity() -> Identity {
    Identity::from(aws_credential_types::Credentials::new(
        AKID,
        SECRET,
        Some(session_token()),
        None,
        "bench",
    ))
}

/// aws-sigv4's parameters for `service` with `settings` (built once, as a client keeps them).
pub fn aws_params<'a>(
    identity: &'a Identity,
    service: &'a str,
    settings: AwsSettings,
) -> AwsParams<'a> {
    aws_sigv4::sign::v4::SigningParams::builder()
        .identity(identity)
        .region("us-east-1")
        .name(service)
        .time(time())
        .settings(settings)
        .build()
        .expect("complete params")
        .into()
}

/// Signs `req` with aws-sigv4 the way a layer would (a `SignableRequest` from the parts, then
/// the instructions applied); returns the signature.
pub fn aws_sign_request<B: AsRef<[u8]>>(
    req: &mut Request<B>,
    params: &AwsParams<'_>,
    unsigned: bool,
) -> String {
    let (instructions, signature) = {
        let headers = req.headers().iter().map(|(n, v)| {
            (
                n.as_str(),
                std::str::from_utf8(v.as_bytes()).expect("UTF-8 header"),
            )
        });
        let body = if unsigned {
            SignableBody::UnsignedPayload
        } else {
            SignableBody::Bytes(req.body().as_ref())
        };
        let signable =
            SignableRequest::new(req.method().as_str(), req.uri().to_string(), headers, body)
                .expect("signable");
        aws_sign(signable, params).expect("signs").into_parts()
    };
    instructions.apply_to_request_http1x(req);
    signature
}

/// S3 presigning for 15 minutes, ours and aws-sigv4's.
pub fn s3_presign_settings() -> (SigningSettings, AwsSettings) {
    let mut ours = SigningSettings::s3();
    ours.location = sigv4_core::SignatureLocation::Query {
        expires_in: Duration::from_secs(900),
    };
    let mut aws = AwsSettings::default();
    aws.percent_encoding_mode = PercentEncodingMode::Single;
    aws.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    aws.signature_location = AwsLocation::QueryParams;
    aws.expires_in = Some(Duration::from_secs(900));
    (ours, aws)
}
